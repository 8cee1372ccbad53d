/**
 * Many agents on one thread: every failure of one agent ends only that agent. The sandboxes
 * here have one agent thread (`threads: 1`), so every agent is deliberately packed beside the
 * others; a neighbour that "continues" keeps its very instance (one `agent_spawn` record, no
 * restart), not merely a working replacement.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createSandbox, type Agent, type AuditEvent, type LoadOptions, type Sandbox, type SandboxOptions } from '../../dist/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { sandboxPerTest, tempDir, TEST_ENGINE } from '../helpers/sandbox.js';

const sandbox = sandboxPerTest({ threads: 1 });
/** One thread with a small V8 heap, which a guest that hoards host objects exhausts in a second. */
const smallHeap = sandboxPerTest({ threads: 1, threadHeapMb: 48 });

const spawns = (audit: AuditEvent[], agent: Agent) => audit.filter((e) => e.type === 'agent_spawn' && e.agentId === agent.id).length;
const restarts = (audit: AuditEvent[]) => audit.filter((e) => e.target === 'THREAD_LOST');

/** Two echo agents beside the one under test, each run once (so each has its instance). */
async function neighbours(s: Sandbox): Promise<Agent[]> {
  const out = [await s.load(fixturePath('echo')), await s.load(fixturePath('hostile'))];
  expect((await out[0]!.run('one')).output).toBe('one');
  expect((await out[1]!.run('C10')).output).toBe('sum 285');
  return out;
}

/** The neighbours still answer, from the instances they had. */
async function expectUntouched(audit: AuditEvent[], [echo, calc]: Agent[]): Promise<void> {
  expect((await echo!.run('two')).output).toBe('two');
  expect((await calc!.run('C3')).output).toBe('sum 5');
  expect(spawns(audit, echo!)).toBe(1);
  expect(spawns(audit, calc!)).toBe(1);
  expect(restarts(audit)).toEqual([]);
}

describe('thread options', () => {
  it('refuses out-of-range thread options with USAGE, naming the option', () => {
    for (const [options, name] of [
      [{ threads: 0 }, 'threads'],
      [{ threads: 65 }, 'threads'],
      [{ prewarmWorkers: 1.5 }, 'prewarmWorkers'],
      [{ threadHeapMb: 8 }, 'threadHeapMb'],
      [{ threadHeapMb: 20_000 }, 'threadHeapMb'],
      [{ isolation: 'process' }, 'isolation'],
    ] as const) {
      expect(() => createSandbox(options as SandboxOptions)).toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringContaining(name) }));
    }
  });
});

describe('agents packed onto one thread', () => {
  const cases: { name: string; task: string; policy?: LoadOptions['policy']; timeout?: string; code: string }[] = [
    { name: 'a runaway loop without a fuel limit, stopped by its time limit', task: 'L', timeout: '300ms', code: 'TIMEOUT' },
    { name: 'a runaway loop under a fuel limit', task: 'L', policy: { version: 1, resourceLimits: { maxFuel: 5_000_000 } }, code: 'FUEL_EXHAUSTED' },
    { name: 'a trap (the call stack runs out)', task: 'R', code: 'AGENT_ERROR' },
    { name: 'a host quota (2^40 random bytes)', task: 'Z', code: 'QUOTA_EXCEEDED' },
    { name: 'a guest polling a timer forever, stopped by its time limit', task: 'P', timeout: '300ms', code: 'TIMEOUT' },
  ];
  for (const c of cases) {
    it(`${c.name} ends only that agent`, async () => {
      const { sandbox: s, audit } = sandbox();
      const others = await neighbours(s);
      const agent = await s.load(fixturePath('hostile'), c.policy ? { policy: c.policy } : {});
      const t = performance.now();
      await expect(agent.run(c.task, c.timeout ? { timeout: c.timeout } : {})).rejects.toMatchObject({ code: c.code });
      expect(performance.now() - t).toBeLessThan(5_000);
      await expectUntouched(audit, others);
      // The agent itself gets a fresh instance on the same thread.
      expect((await agent.run('C10')).output).toBe('sum 285');
    });
  }

  it('memory and table bombs are refused inside the guest; nothing else notices', async () => {
    const { sandbox: s, audit } = sandbox();
    const others = await neighbours(s);
    const agent = await s.load(fixturePath('hostile'), { policy: { version: 1, resourceLimits: { maxMemory: '16MiB' } } });
    expect((await agent.run('G')).output).toBe('pages 256');
    expect((await agent.run('T')).output).toMatch(/^table [0-9]+$/);
    await expectUntouched(audit, others);
  });

  it('cancelling a spinning guest stops it at once; its neighbours keep their instances', async () => {
    const { sandbox: s, audit } = sandbox();
    const others = await neighbours(s);
    const agent = await s.load(fixturePath('hostile'));
    const stop = new AbortController();
    const t = performance.now();
    const running = agent.run('L', { signal: stop.signal, timeout: '20s' });
    setTimeout(() => stop.abort(), 100);
    await expect(running).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(performance.now() - t).toBeLessThan(2_000);
    await expectUntouched(audit, others);
  });

  it("a neighbour's run waits for the thread but its time limit counts from when it starts", async () => {
    const { sandbox: s } = sandbox();
    const slow = await s.load(fixturePath('hostile'));
    const quick = await s.load(fixturePath('echo'));
    // The slow run keeps the thread for longer than the quick run's time limit; the quick one,
    // queued behind it, still completes.
    const t = performance.now();
    const long = slow.run('C600000000', { timeout: '20s' }).then(() => performance.now() - t);
    const queued = quick.run('after', { timeout: '150ms' }).then((r) => ({ output: r.output, at: performance.now() - t }));
    const [longMs, q] = await Promise.all([long, queued]);
    expect(longMs).toBeGreaterThan(300);
    expect(q.output).toBe('after');
    expect(q.at).toBeGreaterThanOrEqual(longMs - 5);
  });

  it("a load waits for the thread too: its time limit counts from when the thread takes it up, not from the request", async () => {
    const { sandbox: s } = sandbox();
    const slow = await s.load(fixturePath('hostile'));
    // Loaded once before, so that the thread has the echo component and its next instance is quick.
    await (await s.load(fixturePath('echo'))).close();
    const t = performance.now();
    const long = slow.run('C600000000', { timeout: '20s' }).then(() => performance.now() - t);
    const loaded = s.load(fixturePath('echo'), { policy: { version: 1, resourceLimits: { maxExecutionTime: '150ms' } } }).then((a) => ({ agent: a, at: performance.now() - t }));
    const [longMs, l] = await Promise.all([long, loaded]);
    expect(longMs).toBeGreaterThan(300);
    expect(l.at).toBeGreaterThanOrEqual(longMs - 5);
    expect((await l.agent.run('loaded')).output).toBe('loaded');
  });

  it('a thread that dies takes only the agent that was running: the others are restarted, keep their quotas, and the loss is recorded', async () => {
    const ws = tempDir('packing-ws-');
    writeFileSync(join(ws.dir, 'a.txt'), 'a');
    const { sandbox: s, audit } = sandbox();
    const policy = { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/w', host: ws.dir, mode: 'ro' }], rateLimits: { read_files: { calls: 3, per: '1h' } } };
    const reader = await s.load(fixturePath('fsprobe'), { policy });
    const spinner = await s.load(fixturePath('hostile'));
    expect((await reader.run('read /w/a.txt\nread /w/a.txt')).output).toBe('ok a\nok a');
    // V8 ends a thread at its next JavaScript: inside a jco guest's wasm at once, inside a
    // wasmtime guest's native code only when it next calls the host (P polls a timer).
    const running = spinner.run(TEST_ENGINE === 'wasmtime' ? 'P' : 'L', { timeout: '20s' });
    await new Promise((r) => setTimeout(r, 100));
    // What V8 does to a thread whose heap is exhausted: the worker ends, a guest inside it.
    const pool = (s as unknown as { pool: { shared: { worker: { terminate(): Promise<number> } }[] } }).pool;
    expect(pool.shared).toHaveLength(1);
    void pool.shared[0]!.worker.terminate();
    await expect(running).rejects.toMatchObject({ code: 'INTERNAL' });
    // The reader was idle on that thread: restarted at once, recorded, its rate limit carried over.
    await vi.waitFor(() => expect(spawns(audit, reader)).toBe(2));
    expect((await reader.run('read /w/a.txt\nread /w/a.txt')).output).toBe('ok a\nerr EDQUOT');
    const lost = restarts(audit);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ type: 'agent_error', agentId: reader.id, action: 'restart' });
    // The agent that was running gets a fresh instance on a new thread.
    expect((await spinner.run('C3')).output).toBe('sum 5');
    ws.cleanup();
  });

  it("a guest that hoards host objects: on jco it exhausts its thread's V8 heap and fails with MEMORY_LIMIT, its neighbour restarted with its quota and the loss recorded; on wasmtime the store's handle limit stops it first", async () => {
    const ws = tempDir('packing-heap-');
    writeFileSync(join(ws.dir, 'a.txt'), 'a');
    const { sandbox: s, audit } = smallHeap();
    const policy = { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/w', host: ws.dir, mode: 'ro' }], rateLimits: { read_files: { calls: 3, per: '1h' } } };
    const reader = await s.load(fixturePath('fsprobe'), { policy });
    const hoarder = await s.load(fixturePath('hostile'));
    expect((await reader.run('read /w/a.txt\nread /w/a.txt')).output).toBe('ok a\nok a');
    // Every pollable it never drops is a host object on the thread: the real heap runs out.
    if (TEST_ENGINE === 'wasmtime') {
      await expect(hoarder.run('H', { timeout: '60s' })).rejects.toMatchObject({ code: 'AGENT_ERROR', message: expect.stringContaining('handle limit') });
      expect((await reader.run('read /w/a.txt')).output).toBe('ok a');
      expect(spawns(audit, reader)).toBe(1);
      expect(restarts(audit)).toEqual([]);
      ws.cleanup();
      return;
    }
    await expect(hoarder.run('H', { timeout: '60s' })).rejects.toMatchObject({ code: 'MEMORY_LIMIT', details: { limit: 'worker heap' } });
    await vi.waitFor(() => expect(spawns(audit, reader)).toBe(2), { timeout: 10_000 });
    expect((await reader.run('read /w/a.txt\nread /w/a.txt')).output).toBe('ok a\nerr EDQUOT');
    const lost = restarts(audit);
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({ type: 'agent_error', agentId: reader.id, action: 'restart' });
    expect((await hoarder.run('C3')).output).toBe('sum 5');
    ws.cleanup();
  }, 90_000);
});
