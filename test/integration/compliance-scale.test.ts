/**
 * A compliance report over a log of 1,000,000 records: every record of the period is counted
 * (one pass, bounded memory), the statuses follow from the counts, and every evidence record's
 * inclusion proof leads to the report's signed checkpoint.
 */
import { verify } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditChain } from '../../dist/audit/chain.js';
import { checkpointMessage, publicKeyObject, verifyCheckpoint } from '../../dist/audit/checkpoint.js';
import { fromHex } from '../../dist/audit/hash.js';
import { checkInclusionProof } from '../../dist/audit/proofs.js';
import { openAuditReader } from '../../dist/audit/reader.js';
import { frameworkById } from '../../dist/compliance/frameworks/index.js';
import { generateReport, reportMessage } from '../../dist/compliance/report.js';
import { tempDir } from '../helpers/sandbox.js';

const N = 1_000_000;
const DAY = 86_400_000;
const tmp = tempDir('agentos-compliance-scale-');
afterAll(() => tmp.cleanup());

/** Reads of 32 agents over 20 days, one in ten denied; a load and a login per 10,000. */
function record(i: number, now: number) {
  const agentId = `agent-${i % 32}`;
  const timestamp = now - 20 * DAY + Math.floor((i / N) * 20 * DAY);
  if (i % 10_000 === 0) return { eventType: 'agent_spawn' as const, agentId, source: 'sandbox', action: 'instantiate', resource: 'component-1', outcome: 'success' as const, timestamp, details: { capability: 'compute', kind: 'agent', api: 'sandbox.load', reason: 'instance started' } };
  if (i % 10_000 === 1) return { eventType: 'authentication_success' as const, agentId, source: 'identity', action: 'authenticate', resource: agentId, outcome: 'success' as const, timestamp, details: { capability: 'identity', kind: 'agent', api: 'sandbox.load', reason: 'identity issued' } };
  const denied = i % 10 === 0;
  return {
    eventType: denied ? ('capability_denied' as const) : ('capability_used' as const),
    agentId,
    source: 'gate',
    action: 'read',
    resource: `/workspace/src/file-${i % 5000}.ts`,
    outcome: denied ? ('blocked' as const) : ('success' as const),
    timestamp,
    details: { capability: 'read_files', kind: 'file', api: 'wasi:filesystem/types#open-at', reason: denied ? 'forbidden' : 'allowed', matched: ['capabilities.allowed:read_files'] },
  };
}

describe('a compliance report over 1,000,000 records', () => {
  it('counts every record of the period, and proves its evidence against a signed checkpoint', async () => {
    const dir = `${tmp.dir}/audit`;
    const chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
    const now = Date.now();
    let last = 0;
    for (let i = 0; i < N; i++) {
      last = chain.enqueue(record(i, now));
      if (i % 4096 === 4095) await new Promise((r) => setImmediate(r));
    }
    await chain.whenDurable(last);
    await chain.close();

    const report = await generateReport(frameworkById('soc2')!, { audit: dir, since: now - 30 * DAY });
    const a = report.assessment;
    expect(a.log).toMatchObject({ records: N, firstSeq: 0, lastSeq: N - 1 });
    const controls = new Map(a.requirements.flatMap((r) => r.controls).filter((c) => c.check).map((c) => [c.check, c]));
    // 2 × 100 loads and logins; of the rest one in ten (those at multiples of 10) denied.
    const decisions = N - 200;
    const denied = N / 10 - 100;
    expect(controls.get('decisions-logged')?.reasons[0]).toBe(`${decisions} access decisions recorded (${denied} denials)`);
    expect(controls.get('audit-integrity')?.reasons[0]).toMatch(/chain verifies, but no witness|no witness holds one/);
    expect(a.activity.reduce((n, d) => n + d.decisions, 0)).toBe(decisions);
    expect(a.activity.length).toBeGreaterThanOrEqual(20);

    // The report's signature, its checkpoint, and each proof against the stored leaves.
    const key = fromHex(report.log.publicKey);
    const { signature, ...body } = report;
    expect(verify(null, reportMessage(body), publicKeyObject(key), Buffer.from(signature, 'base64'))).toBe(true);
    const cp = report.checkpoint!;
    expect(verifyCheckpoint(cp, key)).toEqual({ ok: true });
    expect(checkpointMessage(cp).toString()).toContain(`size ${N}`);
    expect(report.proofs.length).toBeGreaterThan(3);
    const reader = await openAuditReader(dir);
    try {
      for (const p of report.proofs) {
        expect(Buffer.from(await reader.source.leaf(p.seq)).toString('hex')).toBe(p.leafHash);
        expect(checkInclusionProof({ logId: cp.logId, seq: p.seq, size: cp.size, leafHash: p.leafHash, rootHash: cp.rootHash, path: p.path })).toBe(true);
      }
    } finally {
      await reader.close();
    }
  }, 300_000);
});
