import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { SandboxError } from '../../dist/index.js';
import { TRANSPILE_CACHE_VERSION } from '../../dist/engine/jco/transpile.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox, settle, TEST_ENGINE } from '../helpers/sandbox.js';

const { sandbox, audit, logs } = recordingSandbox();
afterAll(() => sandbox.close());

describe(`${TEST_ENGINE} engine: loading`, () => {
  it('runs a WAT component from a path and from bytes', async () => {
    const a = await sandbox.load(fixturePath('echo'));
    expect((await a.run('hello')).output).toBe('hello');
    const b = await sandbox.load(readFileSync(fixturePath('echo')));
    const r = await b.run('bytes');
    expect(r.output).toBe('bytes');
    expect(r.durationMs).toBeGreaterThan(0);
    expect(a.id).not.toBe(b.id);
    await Promise.all([a.close(), b.close()]);
  });

  it('rejects bytes that are not a component with COMPONENT_INVALID', async () => {
    await expect(sandbox.load(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]))).rejects.toMatchObject({ code: 'COMPONENT_INVALID' });
    const core = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    await expect(sandbox.load(core)).rejects.toThrow(/core WebAssembly module/);
    const truncated = readFileSync(fixturePath('echo')).subarray(0, 40);
    await expect(sandbox.load(truncated)).rejects.toMatchObject({ code: 'COMPONENT_INVALID' });
    await expect(sandbox.load('/nonexistent/agent.wasm')).rejects.toMatchObject({ code: 'COMPONENT_INVALID' });
  });

  it('rejects a component over the size cap', async () => {
    const small = recordingSandbox({ maxComponentBytes: 100 });
    await expect(small.sandbox.load(fixturePath('echo'))).rejects.toThrow(/size cap/);
  });

  it('prepares once per content hash: a cache hit does not transpile (jco) or compile (wasmtime) again', async () => {
    const { tempDir } = await import('../helpers/sandbox.js');
    const { readdirSync, statSync } = await import('node:fs');
    const { dir, cleanup } = tempDir();
    // jco: one transpiled directory per hash; wasmtime: one compiled artifact per hash and engine.
    const entryDir = TEST_ENGINE === 'jco' ? `${dir}/transpiled/v${TRANSPILE_CACHE_VERSION}` : `${dir}/wasmtime`;
    const stamp = (entry: string) => statSync(TEST_ENGINE === 'jco' ? `${entryDir}/${entry}/meta.json` : `${entryDir}/${entry}`).mtimeMs;
    try {
      const { sandbox: s } = recordingSandbox({ cacheDir: dir });
      await (await s.load(fixturePath('fsprobe'))).close();
      // wasmtime compiles a new component with Winch first and with Cranelift on a background
      // thread, which then replaces the Winch artifact: wait for that before taking the listing.
      if (TEST_ENGINE === 'wasmtime') await optimizedTier(readFileSync(fixturePath('fsprobe')), entryDir);
      const entries = readdirSync(entryDir);
      expect(entries).toHaveLength(1);
      if (TEST_ENGINE === 'wasmtime') expect(entries[0]).toMatch(/^[0-9a-f]{64}-[0-9a-f]{16}\.cwasm$/);
      const mtime = stamp(entries[0]!);
      await s.close();
      const { sandbox: s2 } = recordingSandbox({ cacheDir: dir });
      await (await s2.load(fixturePath('fsprobe'))).close();
      await s2.close();
      expect(readdirSync(entryDir)).toEqual(entries);
      expect(stamp(entries[0]!)).toBe(mtime);
      if (TEST_ENGINE === 'jco') {
        // The generated module is patched to read JCO_DEBUG once, not on every call (transpile.ts):
        // a jco upgrade that changes the text shows up here rather than as a slower run().
        const js = readFileSync(`${entryDir}/${entries[0]!}/agent.mjs`, 'utf8');
        expect(js).toContain('const _debugLog = globalThis?.process?.env?.JCO_DEBUG ?');
        expect(js).not.toContain('if (!globalThis?.process?.env?.JCO_DEBUG) { return; }');
      }
    } finally {
      cleanup();
    }
  });
});

/** Until the agents' wasmtime engine has the optimized (Cranelift) tier of `bytes` (60 s at most). */
async function optimizedTier(bytes: Uint8Array, cacheDir: string): Promise<void> {
  const { loadWasmtimeAddon } = await import('../../dist/engine/wasmtime/addon.js');
  const { WORKER_ENGINE_OPTIONS } = await import('../../dist/engine/wasmtime/prepare.js');
  // The same options give the same process-wide engine, which holds the tier the agents get.
  const engine = new (loadWasmtimeAddon().Engine)(WORKER_ENGINE_OPTIONS);
  for (const until = Date.now() + 60_000; (await engine.inspectComponent(bytes, cacheDir)).tier !== 'optimized'; ) {
    if (Date.now() > until) throw new Error('the optimized tier was not compiled within 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe(`${TEST_ENGINE} engine: failures stay inside the instance`, () => {
  it('maps err(...) to AGENT_ERROR and keeps the instance', async () => {
    const a = await sandbox.load(fixturePath('fail'));
    await expect(a.run('x')).rejects.toMatchObject({ code: 'AGENT_ERROR', message: expect.stringContaining('bad task') });
    await expect(a.run('x')).rejects.toMatchObject({ code: 'AGENT_ERROR' });
    await a.close();
  });

  it('a trap ends that instance with AGENT_ERROR; the next run gets a fresh one; others keep running', async () => {
    const trap = await sandbox.load(fixturePath('trap'));
    const echo = await sandbox.load(fixturePath('echo'));
    const err = await trap.run('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect(err).toMatchObject({ code: 'AGENT_ERROR', message: expect.stringContaining('unreachable') });
    expect((await echo.run('still here')).output).toBe('still here');
    await expect(trap.run('again')).rejects.toMatchObject({ code: 'AGENT_ERROR' });
    await Promise.all([trap.close(), echo.close()]);
  });

  it('a wall-clock timeout terminates the worker with TIMEOUT while another agent completes', async () => {
    const loop = await sandbox.load(fixturePath('loop'));
    const echo = await sandbox.load(fixturePath('echo'));
    const t0 = performance.now();
    const [looped, echoed] = await Promise.allSettled([loop.run('x', { timeout: 300 }), echo.run('side by side')]);
    expect(looped.status).toBe('rejected');
    expect((looped as PromiseRejectedResult).reason).toMatchObject({ code: 'TIMEOUT' });
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(echoed).toMatchObject({ status: 'fulfilled', value: { output: 'side by side' } });
    await settle();
    expect(audit.some((e) => e.type === 'limit_exceeded' && e.target === 'TIMEOUT')).toBe(true);
    await Promise.all([loop.close(), echo.close()]);
  });

  it('a start function that never returns is stopped at load with TIMEOUT', async () => {
    await expect(sandbox.load(fixturePath('start-loop'), { policy: { version: 1, resourceLimits: { maxExecutionTime: '500ms' } } })).rejects.toMatchObject({ code: 'TIMEOUT' });
  });
});

describe('log interface and stdio', () => {
  it('emits log records as events with the agent id', async () => {
    const a = await sandbox.load(fixturePath('log'));
    expect((await a.run('first message')).output).toBe('logged');
    await settle();
    const mine = logs.filter((l) => l.agentId === a.id);
    expect(mine.map((l) => [l.level, l.message])).toEqual([
      ['info', 'first message'],
      ['debug', 'log.wat done'],
    ]);
    await a.close();
  });

  it('captures stdout and stderr as log events', async () => {
    const a = await sandbox.load(fixturePath('fsprobe'));
    const r = await a.run('print to stdout\neprint to stderr');
    expect(r.output).toMatch(/^ok \d+\nok \d+$/);
    await settle();
    const mine = logs.filter((l) => l.agentId === a.id);
    expect(mine).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ stream: 'stdout', message: 'to stdout' }),
        expect.objectContaining({ stream: 'stderr', message: 'to stderr' }),
      ]),
    );
    await a.close();
  });

  it('caps stdout: past maxOutputBytes the run ends with QUOTA_EXCEEDED', async () => {
    const a = await sandbox.load(fixturePath('fsprobe'), { policy: { version: 1, resourceLimits: { maxOutputBytes: '4KiB' } } });
    await expect(a.run('printn 100000')).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    expect((await a.run('print small')).output).toMatch(/^ok /);
    await a.close();
  });

  it('stdin is empty; clocks and random work', async () => {
    const a = await sandbox.load(fixturePath('fsprobe'));
    const out = (await a.run('stdin\nrandom 16\nclock')).output.split('\n');
    expect(out[0]).toBe('ok 0');
    expect(out[1]).toMatch(/^ok [0-9a-f]{32}$/);
    expect(out[2]).toMatch(/^ok \d+ \d+$/);
    await a.close();
  });
});

describe('several agents side by side', () => {
  it('agents with different policies share no WASI state', async () => {
    const { tempDir } = await import('../helpers/sandbox.js');
    const { writeFileSync } = await import('node:fs');
    const a = tempDir();
    const b = tempDir();
    try {
      writeFileSync(`${a.dir}/who.txt`, 'agent A');
      writeFileSync(`${b.dir}/who.txt`, 'agent B');
      const mk = (dir: string, lang: string) =>
        sandbox.load(fixturePath('fsprobe'), {
          policy: { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/data', host: dir, mode: 'ro' }], env: { set: { WHO: lang } } },
        });
      const [agentA, agentB, none] = await Promise.all([mk(a.dir, 'A'), mk(b.dir, 'B'), sandbox.load(fixturePath('fsprobe'))]);
      const script = 'read /data/who.txt\ngetenv WHO';
      const outs = await Promise.all([agentA.run(script), agentB.run(script), none.run(script), agentA.run(script), agentB.run(script)]);
      expect(outs.map((o) => o.output)).toEqual([
        'ok agent A\nok A',
        'ok agent B\nok B',
        'err ENOTCAPABLE\nerr unset',
        'ok agent A\nok A',
        'ok agent B\nok B',
      ]);
      await Promise.all([agentA.close(), agentB.close(), none.close()]);
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it('wasi:cli/exit inside run ends that instance with AGENT_ERROR', async () => {
    const x = await sandbox.load(fixturePath('fsprobe'));
    await expect(x.run('exit 3')).rejects.toMatchObject({ code: 'AGENT_ERROR', message: expect.stringContaining('exit') });
    expect((await x.run('print back')).output).toMatch(/^ok/);
    await x.close();
  });

  it('bad arguments to the API are typed errors', async () => {
    const x = await sandbox.load(fixturePath('echo'));
    await expect(x.run(42 as unknown as string)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(x.run('x', { timeout: 'soon' })).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    await x.close();
    await expect(x.run('x')).rejects.toMatchObject({ code: 'USAGE' });
    await expect(sandbox.load(fixturePath('echo'), { policy: { version: 2 } })).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    await expect(sandbox.load(fixturePath('echo'), { policy: { version: 1, mounts: [{ guest: '/w', host: '/nonexistent/dir' }] } })).rejects.toMatchObject({
      code: 'POLICY_INVALID',
    });
    expect(() => sandbox.registerTool('bad name!', () => 1)).toThrow(/tool name/);
  });
});
