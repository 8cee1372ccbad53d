/**
 * Golden cases for the `agentos` CLI: --json shape and every exit status.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';
import { needs } from '../helpers/requirements.js';
import { skipUnless } from '../helpers/skip.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-cli-');
afterAll(() => tmp.cleanup());

function agentos(args: string[], input?: string) {
  // In a temp working directory: each run's audit log goes to its .agentos/audit, not the repository's.
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, cwd: tmp.dir, timeout: 60_000, env: { ...process.env, XDG_CACHE_HOME: join(TEST_CACHE_DIR, 'xdg') } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: string[]) {
  const r = agentos([...args, '--json']);
  const lines = r.stdout.trim().split('\n');
  expect(lines, r.stdout + r.stderr).toHaveLength(1);
  return { status: r.status, body: JSON.parse(lines[0]!) as Record<string, any> };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('agentos run --engine', () => {
  it('2: an unknown engine is a usage error', () => {
    const { status, body } = json(['run', fixturePath('echo'), '--engine', 'v8']);
    expect(status).toBe(2);
    expect(body.error).toMatchObject({ code: 'USAGE', message: expect.stringMatching(/jco or wasmtime/) });
  });

  it('wasmtime: the same answers and exit statuses as jco', (ctx) => {
    skipUnless(ctx, needs.wasmtimeAddon());
    const w = (args: string[]) => json([...args, '--engine', 'wasmtime']);
    expect(w(['run', fixturePath('echo'), '--task', 'hi'])).toMatchObject({ status: 0, body: { ok: true, output: 'hi' } });
    expect(w(['run', fixturePath('fail')])).toMatchObject({ status: 1, body: { error: { code: 'AGENT_ERROR' } } });
    expect(w(['run', fixturePath('loop'), '--timeout', '300ms'])).toMatchObject({ status: 3, body: { error: { code: 'TIMEOUT' } } });
    expect(w(['run', fixturePath('hostile'), '--task', 'L', '--fuel', '100000'])).toMatchObject({ status: 3, body: { error: { code: 'FUEL_EXHAUSTED' } } });
    expect(w(['run', fixturePath('bigmem'), '--memory', '64MiB'])).toMatchObject({ status: 3, body: { error: { code: 'MEMORY_LIMIT' } } });
    const p = join(tmp.dir, 'forbid-w.yaml');
    writeFileSync(p, 'version: 1\ncapabilities: { forbidden: [read_files] }\n');
    expect(w(['run', fixturePath('fsprobe'), '--policy', p])).toMatchObject({ status: 4, body: { error: { code: 'CAPABILITY_DENIED' } } });
  });
});

describe('agentos run --json and exit statuses', () => {
  it('0: ok', () => {
    const { status, body } = json(['run', fixturePath('echo'), '--task', 'hi']);
    expect(status).toBe(0);
    expect(body).toEqual({ ok: true, output: 'hi', agentId: expect.stringMatching(UUID), fuelUsed: expect.any(Number), durationMs: expect.any(Number) });
  });

  it('1: the agent returned an error or trapped', () => {
    for (const f of ['fail', 'trap']) {
      const { status, body } = json(['run', fixturePath(f)]);
      expect(status).toBe(1);
      expect(body).toEqual({ ok: false, error: { code: 'AGENT_ERROR', message: expect.any(String) }, agentId: expect.stringMatching(UUID) });
    }
  });

  it('2: bad input — usage, invalid policy, invalid component', () => {
    const badPolicy = join(tmp.dir, 'bad.yaml');
    writeFileSync(badPolicy, 'version: 1\nnetworkRules: { allowedHosts: [a.com], allowedPorts: ["443"] }\n');
    const notWasm = join(tmp.dir, 'x.wasm');
    writeFileSync(notWasm, 'not wasm at all');
    const cases: [string[], string][] = [
      [['run'], 'USAGE'],
      [['run', fixturePath('echo'), '--bogus'], 'USAGE'],
      [['run', fixturePath('echo'), '--timeout', 'soon'], 'POLICY_INVALID'],
      [['run', fixturePath('echo'), '--policy', badPolicy], 'POLICY_INVALID'],
      [['run', fixturePath('echo'), '--policy', join(tmp.dir, 'missing.yaml')], 'POLICY_INVALID'],
      [['run', notWasm], 'COMPONENT_INVALID'],
      [['run', fixturePath('echo'), '--mount', 'nonsense'], 'USAGE'],
    ];
    for (const [args, code] of cases) {
      const { status, body } = json(args);
      expect(status, args.join(' ')).toBe(2);
      expect(body.ok).toBe(false);
      expect(body.error.code, args.join(' ')).toBe(code);
      expect(body.agentId).toMatch(UUID);
    }
    const r = agentos(['run', fixturePath('echo'), '--policy', badPolicy]);
    expect(r.stderr).toMatch(/allowedPorts\[0\]/);
  });

  it('3: a limit was hit', () => {
    const { status, body } = json(['run', fixturePath('loop'), '--timeout', '300ms']);
    expect(status).toBe(3);
    expect(body.error.code).toBe('TIMEOUT');
    const fuel = json(['run', fixturePath('hostile'), '--task', 'L', '--fuel', '100000']);
    expect(fuel.status).toBe(3);
    expect(fuel.body.error.code).toBe('FUEL_EXHAUSTED');
    const mem = json(['run', fixturePath('bigmem'), '--memory', '64MiB']);
    expect(mem.status).toBe(3);
    expect(mem.body.error.code).toBe('MEMORY_LIMIT');
  });

  it('reports the fuel a run used, the same on every run', () => {
    const a = json(['run', fixturePath('hostile'), '--task', 'C500']);
    const b = json(['run', fixturePath('hostile'), '--task', 'C500', '--fuel', '1000000000']);
    expect(a.body).toMatchObject({ ok: true, output: 'sum 41541750' });
    expect(a.body['fuelUsed']).toBeGreaterThan(500);
    expect(b.body['fuelUsed']).toBe(a.body['fuelUsed']);
  });

  it('4: refused by policy before the agent ran', () => {
    const p = join(tmp.dir, 'forbid.yaml');
    writeFileSync(p, 'version: 1\ncapabilities: { forbidden: [read_files] }\n');
    const { status, body } = json(['run', fixturePath('fsprobe'), '--policy', p]);
    expect(status).toBe(4);
    expect(body.error.code).toBe('CAPABILITY_DENIED');
    expect(body.error.message).toMatch(/wasi:filesystem/);
  });

  it('--mount grants a directory read-only by default and :rw for writes; --task-file reads the task', () => {
    const dir = join(tmp.dir, 'm');
    mkdirSync(dir);
    writeFileSync(join(dir, 'f.txt'), 'content');
    const task = join(tmp.dir, 'task.txt');
    writeFileSync(task, 'read /data/f.txt\nwrite /data/g.txt x');
    expect(json(['run', fixturePath('fsprobe'), '--mount', `/data=${dir}`, '--task-file', task]).body.output).toBe('ok content\nerr EACCES');
    expect(json(['run', fixturePath('fsprobe'), '--mount', `/data=${dir}:rw`, '--task-file', task]).body.output).toBe('ok content\nok 1');
  });

  it('prints plain output and agent logs without --json, escaping control characters', () => {
    const r = agentos(['run', fixturePath('log'), '--task', 'x\u001b[31mred']);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('logged\n');
    expect(r.stderr).toContain('[log:info] x\\u001b[31mred');
  });
});

describe('agentos inspect / policy check / help', () => {
  it('inspect lists imports and what the policy does with them', () => {
    const { status, body } = json(['inspect', fixturePath('fsprobe')]);
    expect(status).toBe(0);
    expect(body.exports).toEqual([['run', 'function']]);
    const fsTypes = body.imports.find((i: { name: string }) => i.name.startsWith('wasi:filesystem/types'));
    expect(fsTypes.verdict).toBe('denied');
    const human = agentos(['inspect', fixturePath('fsprobe')]);
    expect(human.stdout).toMatch(/wasi:filesystem\/preopens\S*\s+denied/);
  });

  it('policy check validates files and names the field', () => {
    const good = join(tmp.dir, 'good.yaml');
    writeFileSync(good, 'version: 1\ncapabilities: { allowed: [read_files] }\n');
    const bad = join(tmp.dir, 'bad2.json');
    writeFileSync(bad, '{"version": 1, "env": {"allow": "false"}}');
    expect(agentos(['policy', 'check', good]).status).toBe(0);
    const r = agentos(['policy', 'check', good, bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/env\.allow/);
  });

  it('build turns a WAT agent into a component that runs, and refuses unknown sources', () => {
    const out = join(tmp.dir, 'hello.wasm');
    const b = agentos(['build', join(REPO_ROOT, 'examples', 'hello', 'hello.wat'), '-o', out]);
    expect(b.status, b.stderr).toBe(0);
    expect(json(['run', out, '--task', 'Ada']).body).toMatchObject({ ok: true, output: 'Hello, Ada!' });
    const bad = json(['build', join(tmp.dir, 'agent.py'), '-o', out]);
    expect(bad.status).toBe(2);
    expect(bad.body.error.code).toBe('USAGE');
    const wat = join(tmp.dir, 'broken.wat');
    writeFileSync(wat, '(module (func $oops (unknown-instruction)))');
    const broken = json(['build', wat, '-o', out]);
    expect(broken.status).toBe(2);
    expect(broken.body.error.code).toBe('COMPONENT_INVALID');
  });

  it('--help works for every command', () => {
    for (const args of [['--help'], ['run', '--help'], ['inspect', '--help'], ['build', '--help'], ['policy', '--help']]) {
      const r = agentos(args);
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: agentos/);
    }
    expect(agentos(['frobnicate']).status).toBe(2);
  });
});
