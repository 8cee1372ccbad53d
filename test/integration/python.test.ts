/**
 * A Python agent (CPython built by componentize-py, `test/fixtures/agents/pyprobe.py`) under
 * the same gate as the C and JavaScript probes: the adversarial file and network cases they
 * pass (forbidden path, `..`, symlinks out, denied host, IP spellings, userinfo), tools and
 * logs, fuel and memory limits, on both engines (vitest's jco and wasmtime projects).
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Agent } from '../../dist/index.js';
import { exampleDir, examplePath, FIXTURE_BUILD_DIR } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { describeNeeds } from '../helpers/skip.js';
import { recordingSandbox, settle, tempDir } from '../helpers/sandbox.js';
import { workspacePolicy } from '../helpers/workspace.js';

const PYPROBE = join(FIXTURE_BUILD_DIR, 'pyprobe.wasm');

describeNeeds(needs.componentizePy(), 'python agents', () => {
  const { sandbox, audit, logs } = recordingSandbox();
  const tmp = tempDir('agentos-py-');
  const ws = join(tmp.dir, 'ws');
  const scratch = join(tmp.dir, 'scratch');
  const outside = join(tmp.dir, 'outside');
  let server: Server;
  let port = 0;
  const hits: string[] = [];
  let files: Agent;

  const lines = async (agent: Agent, script: string) => (await agent.run(script)).output.split('\n');
  const loopback = () => ({
    version: 1,
    capabilities: { allowed: ['network_access'] },
    networkRules: { allowedHosts: ['127.0.0.1'], allowedPorts: [port], protocols: ['http'] },
  });
  async function withAgent<T>(policy: Record<string, unknown>, use: (agent: Agent) => Promise<T>): Promise<T> {
    const agent = await sandbox.load(PYPROBE, { policy });
    try {
      return await use(agent);
    } finally {
      await agent.close();
    }
  }

  beforeAll(async () => {
    mkdirSync(join(ws, 'src'), { recursive: true });
    mkdirSync(join(ws, '.git'), { recursive: true });
    mkdirSync(scratch, { recursive: true });
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(ws, 'src', 'a.ts'), 'const a = 1; // TODO\n');
    writeFileSync(join(ws, '.env'), 'SECRET=1');
    writeFileSync(join(ws, '.git', 'config'), 'git');
    writeFileSync(join(outside, 'secret.txt'), 'top secret');
    symlinkSync(join(outside, 'secret.txt'), join(ws, 'src', 'escape.ts'));
    symlinkSync('../.git/config', join(ws, 'src', 'gitlink.ts'));
    symlinkSync('a.ts', join(ws, 'src', 'alias.ts'));
    server = createServer((req, res) => {
      hits.push(`${req.headers.host} ${req.url}`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`hello ${req.method} ${req.url}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    sandbox.registerTool('search', async (input) => ({ found: [`result for ${(input as { q: string }).q}`] }));
    files = await sandbox.load(PYPROBE, { policy: workspacePolicy(ws, scratch) });
  });
  afterAll(async () => {
    await files?.close();
    await sandbox.close();
    await new Promise((r) => server?.close(r));
    tmp.cleanup();
  });

  it('reads a permitted file with open() and lists what the policy lets it see', async () => {
    expect(await lines(files, 'read /workspace/src/a.ts\nls /workspace/src\nls /workspace')).toEqual([
      'ok const a = 1; // TODO\\n',
      'ok a.ts alias.ts escape.ts gitlink.ts',
      'ok src',
    ]);
  });

  it('a forbidden path looks missing, like the C agent sees it', async () => {
    expect(await lines(files, 'read /workspace/.env\nstat /workspace/.env\nread /workspace/.git/config\nread /workspace/src/nope.ts')).toEqual([
      'err ENOENT',
      'err ENOENT',
      'err ENOENT',
      'err ENOENT',
    ]);
  });

  it('cannot climb out of a mount with ..', async () => {
    expect(await lines(files, 'read /workspace/../outside/secret.txt\nread /workspace/src/../../outside/secret.txt')).toEqual(['err EPERM', 'err EPERM']);
  });

  it('symlinks out of the mount or into a forbidden path look missing; a good alias reads', async () => {
    expect(await lines(files, 'read /workspace/src/escape.ts\nread /workspace/src/gitlink.ts\nread /workspace/src/alias.ts')).toEqual([
      'err ENOENT',
      'err ENOENT',
      'ok const a = 1; // TODO\\n',
    ]);
  });

  it('cannot create a symlink that points out of the mount, nor write to the read-only mount', async () => {
    expect(await lines(files, 'symlink /etc/passwd /tmp/abs\nsymlink ../workspace/src/a.ts /tmp/up\nwrite /workspace/src/new.ts x\nwrite /tmp/ok.txt fine')).toEqual([
      'err EPERM',
      'err EPERM',
      'err EACCES',
      'ok 4',
    ]);
    expect(readFileSync(join(scratch, 'ok.txt'), 'utf8')).toBe('fine');
    expect(await lines(files, 'read /etc/passwd')).toEqual(['err ENOENT']);
  });

  it('fetches an allowed URL through wasi:http; a denied host never reaches the network', async () => {
    await withAgent(loopback(), async (agent) => {
      expect(await lines(agent, `fetch http://127.0.0.1:${port}/ok`)).toEqual(['ok 200 hello GET /ok']);
      const before = hits.length;
      expect(await lines(agent, `fetch http://evil.test:${port}/\nfetch http://127.0.0.1:${port + 1}/\nfetch https://127.0.0.1:${port}/`)).toEqual([
        'err HTTP-REQUEST-DENIED',
        'err HTTP-REQUEST-DENIED',
        'err HTTP-REQUEST-DENIED',
      ]);
      expect(hits.length).toBe(before);
    });
  });

  it('treats every spelling of an IP literal as the same host, and refuses userinfo', async () => {
    await withAgent(loopback(), async (agent) => {
      for (const host of ['127.1', '2130706433', '0x7f000001', '[::ffff:127.0.0.1]']) {
        expect(await lines(agent, `fetch http://${host}:${port}/spelled`), host).toEqual(['ok 200 hello GET /spelled']);
      }
      const before = hits.length;
      expect(await lines(agent, `fetch http://127.0.0.1@evil.test:${port}/\nfetch http://allowed@127.0.0.1:${port}/`)).toEqual([
        expect.stringMatching(/^err /),
        expect.stringMatching(/^err /),
      ]);
      expect(hits.length).toBe(before);
    });
    const named = { ...loopback(), networkRules: { allowedHosts: ['allowed.example.com'], allowedPorts: [port], protocols: ['http'] } };
    await withAgent(named, async (agent) => {
      for (const host of ['127.1', '2130706433', '0x7f000001', '[::ffff:127.0.0.1]', 'localhost']) {
        expect(await lines(agent, `fetch http://${host}:${port}/`), host).toEqual(['err HTTP-REQUEST-DENIED']);
      }
    });
    await settle();
    expect(audit.some((e) => e.resource === 'network' && e.outcome === 'denied')).toBe(true);
  });

  it('calls a granted tool, is denied another, and logs through agent_os', async () => {
    await withAgent({ version: 1, toolAccess: { allow: ['search'] } }, async (agent) => {
      expect(await lines(agent, 'tools\ntool search {"q":"todo"}\ntool delete_all {}\nlog hello from python')).toEqual([
        'ok search',
        'ok {"found": ["result for todo"]}',
        expect.stringMatching(/^err denied /),
        'ok',
      ]);
    });
    await settle();
    expect(logs.some((l) => l.message === 'hello from python')).toBe(true);
  });

  it('an exception in the agent is its error (AGENT_ERROR), and the next run works', async () => {
    await withAgent({ version: 1 }, async (agent) => {
      await expect(agent.run('fail on purpose')).rejects.toMatchObject({ code: 'AGENT_ERROR', message: expect.stringContaining('on purpose') });
      expect(await lines(agent, 'spin 10')).toEqual(['ok 45']);
    });
  });

  it('is metered: a long pure-Python loop ends with FUEL_EXHAUSTED, deterministically, and the agent recovers', async () => {
    // The same task on a fresh instance uses the same fuel (a second run in one instance uses
    // less: CPython's caches are warm).
    const first = await withAgent({ version: 1 }, (agent) => agent.run('spin 1000'));
    const again = await withAgent({ version: 1 }, (agent) => agent.run('spin 1000'));
    expect(first.fuelUsed).toBeGreaterThan(0);
    expect(again.fuelUsed).toBe(first.fuelUsed);
    await withAgent({ version: 1, resourceLimits: { maxFuel: 200_000_000 } }, async (agent) => {
      await expect(agent.run('spin 100000000')).rejects.toMatchObject({ code: 'FUEL_EXHAUSTED' });
      expect(await lines(agent, 'spin 10')).toEqual(['ok 45']);
    });
  });

  it('is held to maxMemory: a large allocation fails inside Python (MemoryError), the host is fine', async () => {
    await withAgent({ version: 1, resourceLimits: { maxMemory: '96MiB' } }, async (agent) => {
      expect(await lines(agent, 'alloc 8\nalloc 200')).toEqual(['ok 8', 'err ENOMEM']);
    });
  });

  it('the python-agent example runs under its policy file: notes read, the private folder unseen, the tool called', async () => {
    sandbox.registerTool('classify', async (input) => ({ label: (input as { todos: number }).todos > 1 ? 'busy' : 'calm' }));
    const agent = await sandbox.load(examplePath('python-agent'), { policy: join(exampleDir('python-agent'), 'policy.yaml') });
    try {
      const report = JSON.parse((await agent.run('{}')).output);
      expect(report).toMatchObject({ files: 2, todos: 3, refused: [], fetched: null });
      expect(Object.keys(report.notes).sort()).toEqual(['/notes/2026/december.txt', '/notes/plans.md']);
      expect(report.labels).toEqual({ '/notes/2026/december.txt': { label: 'busy' }, '/notes/plans.md': { label: 'calm' } });
    } finally {
      await agent.close();
    }
  });
});
