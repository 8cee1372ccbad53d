/**
 * Fuel, memory and host-side limits against adversarial agents. Every case must end with the
 * right code while a second agent in the same sandbox completes normally, and the audit chain
 * must say which limit was hit.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { queryAuditLog } from '../../dist/index.js';
import type { Agent, Sandbox } from '../../dist/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { sandboxPerTest, tempDir } from '../helpers/sandbox.js';

const sandbox = sandboxPerTest();

/** A well-behaved agent beside the hostile one: it must keep working. */
async function bystander(s: Sandbox): Promise<Agent> {
  return s.load(fixturePath('echo'));
}

async function limitRecords(dir: string, agentId: string) {
  const out = [];
  for await (const r of queryAuditLog(dir, { agentId, eventType: 'limit_exceeded' })) out.push(r);
  return out;
}

const FUEL = { version: 1, resourceLimits: { maxFuel: 5_000_000 } };

describe('fuel', () => {
  it('an infinite loop in run ends with FUEL_EXHAUSTED; the instance is replaced; a neighbour is unaffected', async () => {
    const { sandbox: s, auditDir } = sandbox();
    const other = await bystander(s);
    const agent = await s.load(fixturePath('hostile'), { policy: FUEL });
    const [bad, good] = await Promise.allSettled([agent.run('L'), other.run('still here')]);
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'FUEL_EXHAUSTED', details: { limit: 'maxFuel', allowed: 5_000_000 } } });
    expect(good).toMatchObject({ status: 'fulfilled', value: { output: 'still here' } });
    // A fresh instance runs the next task.
    expect((await agent.run('C10')).output).toBe('sum 285');
    await s.close();
    const recs = await limitRecords(auditDir, agent.id);
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ resource: 'FUEL_EXHAUSTED', outcome: 'blocked', details: { limit: { limit: 'maxFuel', allowed: 5_000_000 } } });
    // Both engines run the same instrumented charges: a region is charged before it runs, so
    // the charge that crossed zero overshoots, by the same amount on each.
    const requested = (recs[0]!.details!['limit'] as { requested: number }).requested;
    expect(requested).toBeGreaterThan(5_000_000);
  });

  it('an infinite loop in the start function is stopped at load with FUEL_EXHAUSTED', async () => {
    const { sandbox: s } = sandbox();
    await expect(s.load(fixturePath('start-loop'), { policy: FUEL })).rejects.toMatchObject({ code: 'FUEL_EXHAUSTED', message: expect.stringMatching(/start function/) });
    expect((await (await bystander(s)).run('x')).output).toBe('x');
  });

  it('an infinite loop in cabi_realloc (while the task is passed in) ends with FUEL_EXHAUSTED', async () => {
    const { sandbox: s } = sandbox();
    const agent = await s.load(fixturePath('realloc-loop'), { policy: FUEL });
    await expect(agent.run('task')).rejects.toMatchObject({ code: 'FUEL_EXHAUSTED' });
  });

  it('a guest polling a zero-length timer forever runs out of fuel, or of time without a fuel limit', async () => {
    const { sandbox: s } = sandbox();
    const metered = await s.load(fixturePath('hostile'), { policy: { version: 1, resourceLimits: { maxFuel: 200_000 } } });
    await expect(metered.run('P')).rejects.toMatchObject({ code: 'FUEL_EXHAUSTED' });
    const timed = await s.load(fixturePath('hostile'), { policy: { version: 1, resourceLimits: { maxExecutionTime: '300ms' } } });
    await expect(timed.run('P')).rejects.toMatchObject({ code: 'TIMEOUT' });
  });

  it('is deterministic: the same program and task use the same fuel on every run and in every instance', async () => {
    const { sandbox: s } = sandbox();
    const a = await s.load(fixturePath('hostile'), { policy: FUEL });
    const b = await s.load(fixturePath('hostile'), { policy: { version: 1 } });
    const runs = [await a.run('C1000'), await a.run('C1000'), await b.run('C1000')];
    expect(new Set(runs.map((r) => r.fuelUsed)).size).toBe(1);
    expect(runs[0]!.fuelUsed).toBeGreaterThan(1000);
    const more = await a.run('C2000');
    expect(more.fuelUsed).toBeGreaterThan(runs[0]!.fuelUsed);
    // Linear in the loop count: the extra 1000 iterations cost what the first 1000 did, give or take the fixed part.
    expect(more.fuelUsed - runs[0]!.fuelUsed).toBeLessThan(runs[0]!.fuelUsed);
    expect(runs[0]!.fuelRemaining).toBe(5_000_000 - runs[0]!.fuelUsed);
    expect(runs[2]!.fuelRemaining).toBeUndefined();
  });
});

describe('memory and tables', () => {
  it('memory.grow past maxMemory fails in the guest like an ordinary out-of-memory, and is recorded', async () => {
    const { sandbox: s, auditDir } = sandbox();
    const agent = await s.load(fixturePath('hostile'), { agentId: 'grow-1', policy: { version: 1, resourceLimits: { maxMemory: '16MiB' } } });
    expect((await agent.run('G')).output).toBe('pages 256');
    expect((await agent.run('G')).output).toBe('pages 256');
    await s.close();
    const recs = await limitRecords(auditDir, 'grow-1');
    expect(recs).toHaveLength(2); // one per run
    for (const r of recs) expect(r).toMatchObject({ action: 'grow', resource: 'MEMORY_LIMIT', details: { api: 'memory.grow', count: 1, limit: { limit: 'maxMemory', allowed: 16 * 1024 ** 2, refusals: 1 } } });
  });

  it('a module whose initial memory exceeds the cap is refused at load with MEMORY_LIMIT', async () => {
    const { sandbox: s, auditDir } = sandbox();
    await expect(s.load(fixturePath('bigmem'), { agentId: 'bigmem-1' })).rejects.toMatchObject({ code: 'MEMORY_LIMIT', message: expect.stringMatching(/maxMemory/) });
    await expect(s.load(fixturePath('hostile'), { policy: { version: 1, resourceLimits: { maxMemory: '64KiB' } } })).rejects.toMatchObject({ code: 'MEMORY_LIMIT' });
    expect((await (await bystander(s)).run('ok')).output).toBe('ok');
    await s.close();
    const recs = await limitRecords(auditDir, 'bigmem-1');
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ action: 'load', resource: 'MEMORY_LIMIT', details: { limit: { limit: 'maxMemory', allowed: 1024 ** 3, requested: 65536 * 65536 } } });
  });

  it('table.grow stops at the table cap, and is recorded', async () => {
    const { sandbox: s, auditDir } = sandbox();
    const agent = await s.load(fixturePath('hostile'), { agentId: 'tgrow-1' });
    const out = (await agent.run('T')).output;
    expect(out).toMatch(/^table [0-9]+$/);
    expect(Number(out.split(' ')[1])).toBeLessThanOrEqual(1_000_000);
    await s.close();
    const recs = await limitRecords(auditDir, 'tgrow-1');
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ action: 'grow', resource: 'MEMORY_LIMIT', details: { api: 'table.grow', count: 1, limit: { limit: 'tableElements', allowed: 1_000_000, refusals: 1 } } });
  });

  it('deep recursion exhausts the call stack: AGENT_ERROR, and the instance is replaced', async () => {
    const { sandbox: s } = sandbox();
    const agent = await s.load(fixturePath('hostile'));
    await expect(agent.run('R')).rejects.toMatchObject({ code: 'AGENT_ERROR', message: expect.stringMatching(/stack/) });
    expect((await agent.run('C3')).output).toBe('sum 5');
  });
});

describe('host-side caps', () => {
  it('get-random-bytes(2^40) ends the run with QUOTA_EXCEEDED without allocating it', async () => {
    const { sandbox: s } = sandbox();
    const agent = await s.load(fixturePath('hostile'));
    await expect(agent.run('Z')).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
  });

  it('ten megabytes to stdout end the run with QUOTA_EXCEEDED', async () => {
    const { sandbox: s } = sandbox();
    const other = await bystander(s);
    const agent = await s.load(fixturePath('fsprobe'));
    await expect(agent.run('printn 10485760')).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    expect((await other.run('fine')).output).toBe('fine');
  });
});

describe('quotas and rates', () => {
  it('a rate limit refuses the calls over it (EDQUOT), records limit_exceeded, and survives a new instance', async () => {
    const ws = tempDir('quota-ws-');
    writeFileSync(join(ws.dir, 'a.txt'), 'a');
    const { sandbox: s, auditDir } = sandbox();
    const policy = { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/w', host: ws.dir, mode: 'ro' }], rateLimits: { read_files: { calls: 3, per: '1h' } } };
    const agent = await s.load(fixturePath('fsprobe'), { policy });
    expect((await agent.run('read /w/a.txt\nread /w/a.txt')).output).toBe('ok a\nok a');
    // exit ends this instance; the next one starts with the count where it was.
    await expect(agent.run('read /w/a.txt\nexit 1')).rejects.toMatchObject({ code: 'AGENT_ERROR' });
    expect((await agent.run('read /w/a.txt')).output).toBe('err EDQUOT');
    const other = await s.load(fixturePath('fsprobe'), { policy });
    expect((await other.run('read /w/a.txt')).output).toBe('ok a'); // its own count
    await s.close();
    const recs = await limitRecords(auditDir, agent.id);
    expect(recs.length).toBeGreaterThan(0);
    expect(recs[0]).toMatchObject({ resource: '/w/a.txt', details: { limit: { limit: 'rateLimits.read_files', allowed: 3, used: 3, requested: 1 } } });
    ws.cleanup();
  });

  it('tool usageLimits: past the hourly count the tool is refused with QUOTA_EXCEEDED', async () => {
    const { sandbox: s } = sandbox();
    let ran = 0;
    s.registerTool('probe', () => ++ran);
    const agent = await s.load(fixturePath('fsprobe'), { policy: { version: 1, toolAccess: { allow: ['probe'], usageLimits: { probe: 2 } } } });
    const out = (await agent.run('tool probe {}\ntool probe {}\ntool probe {}')).output.split('\n');
    expect(out.slice(0, 2)).toEqual(['ok 1', 'ok 2']);
    expect(out[2]).toMatch(/^err denied QUOTA_EXCEEDED: toolAccess\.usageLimits\.probe allows 2/);
    expect(ran).toBe(2);
  });

  it('disk quota and file count of a writable mount refuse the write that would go over, and nothing is written', async () => {
    const ws = tempDir('quota-rw-');
    writeFileSync(join(ws.dir, 'existing.txt'), 'x'.repeat(300));
    const { sandbox: s, auditDir } = sandbox();
    const policy = { version: 1, capabilities: { allowed: ['read_files', 'write_files'] }, mounts: [{ guest: '/s', host: ws.dir, mode: 'rw' }], resourceLimits: { diskQuota: 1000, maxFiles: 3 } };
    const agent = await s.load(fixturePath('fsprobe'), { policy });
    const big = 'y'.repeat(600);
    const out = (await agent.run(`write /s/one.txt ${big}\nwrite /s/two.txt ${big}\nunlink /s/one.txt\nwrite /s/two.txt ${big}\nmkdir /s/d1\nmkdir /s/d2\nmkdir /s/d3`)).output.split('\n');
    // 300 + 600 fits; a second 600 does not (the file is created, its bytes are refused);
    // after the unlink it fits; then existing + two + d1 = 3 entries: d2 is one too many.
    expect(out).toEqual(['ok 600', 'err EDQUOT', 'ok', 'ok 600', 'ok', 'err EDQUOT', 'err EDQUOT']);
    expect(readFileSync(join(ws.dir, 'two.txt'), 'utf8')).toBe(big);
    await s.close();
    const recs = await limitRecords(auditDir, agent.id);
    expect(recs.map((r) => (r.details?.['limit'] as { limit: string }).limit)).toEqual(['resourceLimits.diskQuota', 'resourceLimits.maxFiles', 'resourceLimits.maxFiles']);
    ws.cleanup();
  });
});

describe('cancellation (options.signal)', () => {
  it('aborting a running agent ends the run at once with CANCELLED, recorded; the next run gets a fresh instance', async () => {
    const { sandbox: s, auditDir } = sandbox();
    const agent = await s.load(fixturePath('hostile'));
    const stop = new AbortController();
    const t = Date.now();
    const running = agent.run('L', { signal: stop.signal, timeout: '20s' });
    setTimeout(() => stop.abort('the user closed the chat'), 200);
    await expect(running).rejects.toMatchObject({ code: 'CANCELLED', message: expect.stringContaining('the user closed the chat') });
    expect(Date.now() - t).toBeLessThan(5_000);
    expect((await agent.run('C10')).output).toBe('sum 285');
    // Already aborted: refused before anything runs.
    await expect(agent.run('C10', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'CANCELLED' });
    await s.close();
    const recs = [];
    for await (const r of queryAuditLog(auditDir, { agentId: agent.id, eventType: 'agent_error' })) recs.push(r);
    expect(recs.map((r) => r.resource)).toEqual(['CANCELLED', 'CANCELLED']);
  });

  // On wasmtime the guest runs inside a native call that terminating its worker cannot
  // interrupt: the host sets the instance's interrupt cell first, and the guest stops at the next
  // epoch tick instead of spinning on to its deadline (20 s here).
  it('cancelling a spinning guest frees its worker at once: close() right after takes well under a second', async () => {
    const { sandbox: s } = sandbox();
    const agent = await s.load(fixturePath('loop'));
    const stop = new AbortController();
    const running = agent.run('spin', { signal: stop.signal, timeout: '20s' });
    setTimeout(() => stop.abort('stop'), 200);
    await expect(running).rejects.toMatchObject({ code: 'CANCELLED' });
    const t = performance.now();
    await agent.close();
    expect(performance.now() - t).toBeLessThan(1_000);
  });

  it('closing an agent while its guest spins ends the run and frees the worker at once', async () => {
    const { sandbox: s } = sandbox();
    const agent = await s.load(fixturePath('loop'));
    const running = agent.run('spin', { timeout: '20s' });
    running.catch(() => {});
    await new Promise((r) => setTimeout(r, 200));
    const t = performance.now();
    await agent.close();
    expect(performance.now() - t).toBeLessThan(1_000);
    await expect(running).rejects.toThrow(/closed/);
  });
});
