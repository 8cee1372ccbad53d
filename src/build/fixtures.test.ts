// Smoke tests of the built fixtures and examples, run with plain `jco transpile` and
// preview2-shim (with NO preopens: the guest sees no file system) — independent of our
// engine, so a broken fixture is told apart from a broken runtime.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as shim from '@bytecodealliance/preview2-shim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { examplePath, fixturePath } from '../../test/helpers/fixtures.js';
import { jco } from './wat.js';

interface Agent {
  run(task: string): Promise<string>;
}

let dir: string;
let logs: Array<[string, string]> = [];

const tools = {
  available: () => ['echo', 'boom'],
  call: (name: string, input: string): string => {
    if (name === 'echo') return input;
    if (name === 'boom') throw { tag: 'failed', val: 'boom failed' };
    throw { tag: 'not-found', val: `no tool ${name}` };
  },
};

function importsObject(): Record<string, unknown> {
  const wasi: Record<string, unknown> = {};
  const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  for (const [pkg, ns] of Object.entries(shim as unknown as Record<string, Record<string, unknown>>)) {
    for (const [iface, impl] of Object.entries(ns)) wasi[`wasi:${pkg}/${kebab(iface)}`] = impl;
  }
  const log = { emit: (level: string, message: string) => void logs.push([level, message]) };
  const unused = new Proxy({}, { get: () => () => { throw new Error('not provided in this test'); } });
  // jco asks for `ns:pkg/iface` with or without `@version`.
  return new Proxy(wasi, {
    get: (target, key) => {
      const name = String(key).replace(/@[^/]*$/, '');
      if (name === 'agent-os:sandbox/log') return log;
      if (name === 'agent-os:sandbox/tools') return tools;
      // StarlingMonkey imports every interface of the world, used or not; these agents never call them.
      if (name === 'agent-os:sandbox/kv' || name === 'agent-os:sandbox/messaging') return unused;
      return target[name];
    },
  });
}

async function load(path: string): Promise<Agent> {
  const { transpile } = await jco();
  const name = `agent${Math.random().toString(36).slice(2, 8)}`;
  const { files } = await transpile(await readFile(path), { name, instantiation: 'async', noTypescript: true, quiet: true });
  const out = join(dir, name);
  for (const [file, data] of Object.entries(files)) {
    await mkdir(dirname(join(out, file)), { recursive: true });
    await writeFile(join(out, file), data);
  }
  const mod = (await import(/* @vite-ignore */ pathToFileURL(join(out, `${name}.js`)).href)) as {
    instantiate(getCore: (p: string) => Promise<WebAssembly.Module>, imports: unknown): Promise<Agent>;
  };
  return mod.instantiate(async (p) => WebAssembly.compile(await readFile(join(out, p))), importsObject());
}

async function runErr(agent: Agent, task: string): Promise<unknown> {
  try {
    await agent.run(task);
  } catch (e) {
    return (e as { payload?: unknown }).payload ?? e;
  }
  throw new Error('expected run to fail');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentos-fixtures-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('WAT fixtures', () => {
  it('echo returns its task', async () => {
    expect(await (await load(fixturePath('echo'))).run('hello')).toBe('hello');
  });

  it('fail returns err("bad task")', async () => {
    expect(await runErr(await load(fixturePath('fail')), 'x')).toBe('bad task');
  });

  it('trap traps', async () => {
    expect(String(await runErr(await load(fixturePath('trap')), 'x'))).toMatch(/unreachable/);
  });

  it('log emits the task then a debug record', async () => {
    logs = [];
    expect(await (await load(fixturePath('log'))).run('note this')).toBe('logged');
    expect(logs).toEqual([
      ['info', 'note this'],
      ['debug', 'log.wat done'],
    ]);
  });

  it('the hello example greets', async () => {
    logs = [];
    const hello = await load(examplePath('hello'));
    expect(await hello.run('Ada')).toBe('Hello, Ada!');
    expect(await hello.run('')).toBe('Hello, world!');
    expect(logs).toEqual([
      ['info', 'Hello, Ada!'],
      ['info', 'Hello, world!'],
    ]);
  });
});

describe('fsprobe (C)', () => {
  it('answers one line per command', async () => {
    logs = [];
    const probe = await load(fixturePath('fsprobe'));
    const script = [
      'clock',
      'random 4',
      'log warn careful\\tnow',
      'tools',
      'tool echo {"a":1}',
      'tool boom {}',
      'tool nope {}',
      '',
      'read /etc/passwd',
      'bogus',
    ].join('\n');
    const lines = (await probe.run(script)).split('\n');
    expect(lines).toHaveLength(9);
    expect(lines[0]).toMatch(/^ok \d+ \d+$/);
    expect(lines[1]).toMatch(/^ok [0-9a-f]{8}$/);
    expect(lines.slice(2)).toEqual([
      'ok',
      'ok boom echo',
      'ok {"a":1}',
      'err failed boom failed',
      'err not-found no tool nope',
      // no preopens: wasi-libc finds no directory for the path
      'err ENOTCAPABLE',
      'err EINVAL',
    ]);
    expect(logs).toEqual([['warn', 'careful\tnow']]);
    expect(await probe.run('')).toBe('');
  });

  it('fail returns err', async () => {
    expect(await runErr(await load(fixturePath('fsprobe')), 'clock\nfail stopped here')).toBe('stopped here');
  });

  it('the c-agent example fails cleanly without its /data mount', async () => {
    expect(String(await runErr(await load(examplePath('c-agent')), ''))).toMatch(/^wc: \/data: /);
  });
});

// The server runs in a child process: preview2-shim's HTTP client blocks this thread
// (Atomics.wait on its I/O worker) while a request is in flight, so an in-process server
// could never answer.
const SERVER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  if (req.url === '/redirect') { res.writeHead(302, { location: '/final' }); res.end(); return; }
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end(req.method + ' ' + req.url + ' ' + body); });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

describe('fetchprobe (StarlingMonkey)', () => {
  let server: ChildProcess;
  let base: string;
  beforeAll(async () => {
    server = spawn(process.execPath, ['-e', SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve, reject) => {
      server.stdout?.once('data', (d: Buffer) => resolve(d.toString().trim()));
      server.once('exit', (code) => reject(new Error(`test server exited (${code})`)));
    });
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(() => {
    server.kill();
  });

  it('fetches, follows redirects itself, and reports errors as JSON', async () => {
    const probe = await load(fixturePath('fetchprobe'));
    expect(JSON.parse(await probe.run(JSON.stringify({ url: `${base}/redirect` })))).toEqual({
      status: 200,
      body: 'GET /final ',
      redirected: true,
      url: `${base}/final`,
      hops: 1,
    });
    expect(JSON.parse(await probe.run(JSON.stringify({ url: `${base}/redirect`, redirect: 'manual' })))).toMatchObject({
      status: 302,
      redirected: false,
    });
    expect(JSON.parse(await probe.run(JSON.stringify({ url: `${base}/p`, method: 'POST', body: 'hi' })))).toMatchObject({
      status: 200,
      body: 'POST /p hi',
    });
    expect(JSON.parse(await probe.run('not json'))).toHaveProperty('error');
  });
});
