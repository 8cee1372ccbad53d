/**
 * The audit chain under real agents: every gate decision of a real component lands in the
 * LevelDB chain with its reason, a durable-mode call waits for its record, and a failed log
 * refuses calls.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditChain } from '../../dist/audit/chain.js';
import { queryRecords } from '../../dist/audit/query.js';
import { openAuditReader } from '../../dist/audit/reader.js';
import type { AuditRecord } from '../../dist/audit/record.js';
import { verifyStore } from '../../dist/audit/verify.js';
import type { Sandbox } from '../../dist/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox, tempDir } from '../helpers/sandbox.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function sandboxWith(options: Parameters<typeof recordingSandbox>[0] = {}) {
  const s = recordingSandbox(options);
  cleanups.push(() => s.sandbox.close());
  return s;
}

function workspace(): string {
  const t = tempDir('audit-ws-');
  cleanups.push(t.cleanup);
  mkdirSync(join(t.dir, 'src'));
  writeFileSync(join(t.dir, 'src', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(join(t.dir, 'secret.env'), 'TOKEN=x\n');
  return t.dir;
}

async function records(dir: string): Promise<{ all: AuditRecord[]; ok: boolean }> {
  const reader = await openAuditReader(dir);
  try {
    const all: AuditRecord[] = [];
    for await (const r of queryRecords(reader.store, {})) all.push(r);
    return { all, ok: (await verifyStore(reader.store)).ok };
  } finally {
    await reader.close();
  }
}

const policy = (ws: string) => ({
  version: 1,
  capabilities: { allowed: ['read_files'] },
  mounts: [{ guest: '/workspace', host: ws, mode: 'ro' }],
  fileAccess: { readonly: ['/workspace/src/**'], forbidden: ['/workspace/*.env'] },
  toolAccess: { allow: ['probe'] },
});

describe('audit chain with real agents', () => {
  it('every gate decision of a run is in the chain, with its reason, the run id as correlation id, and the chain verifies', async () => {
    const ws = workspace();
    const { sandbox, audit, auditDir } = sandboxWith();
    sandbox.registerTool('probe', () => 'ok');
    const agent = await sandbox.load(fixturePath('fsprobe'), { policy: policy(ws) });
    const run = await agent.run('read /workspace/src/a.ts\nread /workspace/secret.env\nwrite /workspace/src/b.ts x\ntool probe {}\ntool other {}');
    expect(run.output.split('\n')).toEqual([
      expect.stringMatching(/^ok export const a/),
      'err ENOENT',
      expect.stringMatching(/^err E(ACCES|ROFS|PERM)/),
      'ok "ok"',
      expect.stringMatching(/^err denied/),
    ]);
    await sandbox.close();
    const { all, ok } = await records(auditDir);
    expect(ok).toBe(true);
    const decisions = audit.filter((e) => e.type === 'capability_used' || e.type === 'capability_denied');
    const inChain = all.filter((r) => r.eventType === 'capability_used' || r.eventType === 'capability_denied');
    expect(inChain.map((r) => [r.eventType, r.resource, r.details?.['reason']])).toEqual(decisions.map((e) => [e.type, e.target, e.reason]));
    const runRecords = inChain.filter((r) => r.provenance?.correlationId === run.runId);
    expect(runRecords.length).toBe(inChain.length);
    const denied = inChain.filter((r) => r.eventType === 'capability_denied');
    expect(denied.map((r) => r.resource)).toEqual(expect.arrayContaining(['/workspace/secret.env', '/workspace/src/b.ts', 'other']));
    for (const r of denied) expect(r).toMatchObject({ outcome: 'blocked', severity: 'medium', source: 'gate', agentId: agent.id });
    expect(all.map((r) => r.eventType)).toEqual(expect.arrayContaining(['agent_spawn', 'agent_terminate']));
  });

  it("in 'sync' durability a capability call proceeds only once its record is durable", async () => {
    const { sandbox } = sandboxWith();
    let chain: AuditChain | undefined;
    const seenAtCall: { durable: number; found: boolean }[] = [];
    sandbox.registerTool('probe', async () => {
      // The host tool runs after the gate decided `tool probe`. Its record must already be on disk.
      chain ??= await sandbox.auditLog();
      const durable = chain!.size;
      let found = false;
      for (let s = durable - 1; s >= 0 && !found; s--) {
        const r = await chain!.read(s);
        found = r?.eventType === 'capability_used' && r.resource === 'probe';
      }
      seenAtCall.push({ durable, found });
      return 'ok';
    });
    const agent = await sandbox.load(fixturePath('fsprobe'), { policy: { version: 1, toolAccess: { allow: ['probe'] } } });
    await agent.run('tool probe {}\ntool probe {}\ntool probe {}');
    expect(seenAtCall).toHaveLength(3);
    expect(seenAtCall.every((s) => s.found)).toBe(true);
  });

  it('several agents share one chain; each run is its own correlation id', async () => {
    const ws = workspace();
    const { sandbox, auditDir } = sandboxWith();
    const a = await sandbox.load(fixturePath('fsprobe'), { policy: policy(ws) });
    const b = await sandbox.load(fixturePath('fsprobe'), { policy: policy(ws) });
    const [ra, rb] = await Promise.all([a.run('read /workspace/src/a.ts'), b.run('stat /workspace/src/a.ts')]);
    const ra2 = await a.run('ls /workspace/src');
    await sandbox.close();
    const { all, ok } = await records(auditDir);
    expect(ok).toBe(true);
    const byRun = (id: string) => all.filter((r) => r.provenance?.correlationId === id && r.source === 'gate' && r.eventType !== 'usage_summary');
    expect(byRun(ra.runId).every((r) => r.agentId === a.id)).toBe(true);
    expect(byRun(rb.runId).every((r) => r.agentId === b.id)).toBe(true);
    expect(byRun(ra2.runId).length).toBeGreaterThan(0);
    expect(new Set([ra.runId, rb.runId, ra2.runId]).size).toBe(3);
  });

  it("'async' durability records the same decisions without waiting for each", async () => {
    const ws = workspace();
    const { sandbox, audit, auditDir } = sandboxWith({ audit: { dir: tempDir('audit-async-').dir, durability: 'async' } });
    void auditDir;
    const chain = await sandbox.auditLog();
    const dir = chain!.dir;
    const agent = await sandbox.load(fixturePath('fsprobe'), { policy: policy(ws) });
    await agent.run('read /workspace/src/a.ts\nls /workspace/src\nread /workspace/secret.env');
    await sandbox.close();
    const { all, ok } = await records(dir);
    expect(ok).toBe(true);
    expect(all.filter((r) => r.source === 'gate').length).toBe(audit.filter((e) => e.capability !== 'compute' || e.type === 'usage_summary').filter((e) => ['capability_used', 'capability_denied', 'usage_summary'].includes(e.type)).length);
  });

  it('when the audit log fails mid-run, calls are refused (the agent is told), the run ends with AUDIT_UNAVAILABLE, and nothing loads after', async () => {
    const ws = workspace();
    const { sandbox } = sandboxWith();
    sandbox.registerTool('probe', () => 'ran');
    const agent = await sandbox.load(fixturePath('fsprobe'), { policy: policy(ws) });
    expect((await agent.run('tool probe {}')).output).toBe('ok "ran"');
    const chain = (await sandbox.auditLog())!;
    await chain.store.db.close(); // the store goes away under the running sandbox
    const err = await agent.run('tool probe {}\nread /workspace/src/a.ts').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    await expect(sandbox.load(fixturePath('fsprobe'), { policy: policy(ws) })).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    // What the guest saw: run it again on a fresh sandbox whose log fails before the calls.
    const second = sandboxWith();
    let told = '';
    second.sandbox.registerTool('probe', () => 'ran');
    const g = await second.sandbox.load(fixturePath('fsprobe'), { policy: policy(ws) });
    const c2 = (await second.sandbox.auditLog())!;
    await c2.drain();
    await c2.store.db.close();
    await g.run('tool probe {}\nread /workspace/src/a.ts').catch((e: { code: string }) => (told = e.code));
    expect(told).toBe('AUDIT_UNAVAILABLE');
  });

  it('the guest sees a refusal naming AUDIT_UNAVAILABLE when its call cannot be recorded', async () => {
    const ws = workspace();
    const { sandbox } = sandboxWith();
    sandbox.registerTool('probe', () => 'ran');
    const agent = await sandbox.load(fixturePath('fsprobe'), { policy: policy(ws) });
    const chain = (await sandbox.auditLog())!;
    await chain.drain(); // the load's own records are written; the next write is the agent's call
    await chain.store.db.close();
    const err = (await agent.run('tool probe {}\nread /workspace/src/a.ts').catch((e: unknown) => e)) as { code: string; details: { agentOutput: string } };
    expect(err.code).toBe('AUDIT_UNAVAILABLE');
    // What the agent got back from each call: a refusal, and the tool never ran.
    expect(err.details.agentOutput.split('\n')).toEqual([expect.stringMatching(/^err denied AUDIT_UNAVAILABLE/), 'err EACCES']);
    expect((await sandbox.auditLog())!.failed?.code).toBe('AUDIT_UNAVAILABLE');
  });

  it('sandboxes of one process that name the same directory share its chain; it closes with the last', async () => {
    const a = sandboxWith();
    const agentA = await a.sandbox.load(fixturePath('echo'));
    const b = sandboxWith({ audit: { dir: a.auditDir } });
    const agentB = await b.sandbox.load(fixturePath('echo'));
    expect(await b.sandbox.auditLog()).toBe(await a.sandbox.auditLog());
    await agentA.run('a');
    await a.sandbox.close();
    await agentB.run('b'); // still open for b
    await b.sandbox.close();
    const { all, ok } = await records(a.auditDir);
    expect(ok).toBe(true);
    expect(new Set(all.filter((r) => r.eventType === 'agent_spawn').map((r) => r.agentId))).toEqual(new Set([agentA.id, agentB.id]));
  });

  it('audit: false records nothing durably but still emits events', async () => {
    const { sandbox, audit } = sandboxWith({ audit: false });
    const agent = await sandbox.load(fixturePath('echo'));
    await agent.run('x');
    expect(await sandbox.auditLog()).toBeUndefined();
    expect(audit.some((e) => e.type === 'agent_spawn')).toBe(true);
  });
});

export type { Sandbox };
