/**
 * run(task, { provenance }): every audit record of the run carries who asked for it, and the
 * run opens with an authorization_granted record, so a quiet run is still on the record.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { queryAuditLog, type AuditRecord } from '../../dist/index.js';
import { checkProvenance } from '../../src/sandbox/provenance.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox } from '../helpers/sandbox.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function records(dir: string, runId: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const r of queryAuditLog(dir, { correlationId: runId })) out.push(r);
  return out;
}

describe('run provenance', () => {
  it('checks and bounds what is given', () => {
    expect(checkProvenance(undefined)).toBeUndefined();
    expect(checkProvenance({ via: 'mcp', client: 'x'.repeat(300) })).toEqual({ via: 'mcp', client: 'x'.repeat(256) });
    expect(() => checkProvenance({ n: 1 })).toThrow(/provenance.n must be a string/);
    expect(() => checkProvenance(['a'])).toThrow(/object of strings/);
    expect(() => checkProvenance({ 'bad key': 'v' })).toThrow(/field name/);
    expect(() => checkProvenance(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])))).toThrow(/at most 16/);
  });

  it('is recorded on every record of the run, and only that run', async () => {
    const { sandbox, auditDir } = recordingSandbox({ prewarmWorkers: 0 });
    closers.push(() => sandbox.close());
    const agent = await sandbox.load(fixturePath('echo'));
    const provenance = { via: 'test', session: 's-1', tool: 'echo' };
    const tagged = await agent.run('hi', { provenance });
    const plain = await agent.run('again');
    const failed = await sandbox.load(fixturePath('fail'));
    const err = await failed.run('x', { provenance }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AGENT_ERROR' });
    await sandbox.close();

    const mine = await records(auditDir, tagged.runId);
    expect(mine[0]?.eventType).toBe('authorization_granted');
    for (const r of mine) expect(r.details?.['provenance']).toEqual(provenance);
    // The untagged run's records (here only the close, stamped with the last run's id) have none.
    for (const r of await records(auditDir, plain.runId)) expect(r.details?.['provenance']).toBeUndefined();
    const failedRuns: AuditRecord[] = [];
    for await (const r of queryAuditLog(auditDir, { eventType: 'agent_error' })) failedRuns.push(r);
    expect(failedRuns.at(-1)?.details?.['provenance']).toEqual(provenance);
    // The opening record is written once the run settles (with the run's next batch at the
    // latest), in its place: before the run's other records.
    const failedRun = await records(auditDir, failedRuns.at(-1)!.provenance!.correlationId!);
    expect(failedRun.map((r) => r.eventType).slice(0, 2)).toEqual(['authorization_granted', 'agent_error']);
  });
});
