/**
 * AuditStore.blocks: the forward scan reads ranges of sequence numbers in parallel through one
 * snapshot; it must give exactly what one plain iterator gives, from any starting record, and
 * skip gaps in the sequence numbers instead of stepping through them.
 */
import { describe, expect, it } from 'vitest';
import { blocks as rawBlocks, buildLog, key, rawDb, tmp } from '../../test/helpers/audit.js';
import { AuditChain } from './chain.js';
import { openAuditReader } from './reader.js';
import type { AuditRecordInput } from './record.js';
import { verifyStore } from './verify.js';

/** ~1 KiB records, so that 12,000 of them span several of the scan's ranges (4 MiB each). */
const big = (i: number): AuditRecordInput => ({ eventType: 'capability_used', agentId: `agent-${i % 7}`, source: 'gate', action: 'read', resource: `/workspace/${'d'.repeat(700)}/${i}`, outcome: 'success' });

async function scan(dir: string, options: { from?: number; reverse?: boolean } = {}): Promise<number[]> {
  const r = await openAuditReader(dir);
  try {
    const out: number[] = [];
    for await (const { firstSeq, block } of r.store.blocks(options)) {
      expect(block.length).toBeGreaterThan(0);
      out.push(firstSeq);
    }
    return out;
  } finally {
    await r.close();
  }
}

describe('AuditStore.blocks', () => {
  it('gives every block once, in order, from any record, forward (several ranges) and backward', async () => {
    const dir = tmp('scan-');
    const chain = await AuditChain.open(dir, { checkpointIntervalMs: 0, maxBatch: 300 });
    for (let i = 0; i < 12_000; i++) chain.enqueue(big(i));
    await chain.close();
    let all: number[] = [];
    await rawDb(dir, async (db) => {
      all = (await rawBlocks(db)).map(([first]) => first);
    });
    expect(all.length).toBeGreaterThan(30);
    expect(await scan(dir)).toEqual(all);
    for (const from of [0, 1, 299, 300, 5_000, 11_999, 12_000, 50_000]) {
      const start = [...all].reverse().find((f) => f <= from) ?? 0;
      expect(await scan(dir, { from }), `from ${from}`).toEqual(all.filter((f) => f >= start));
    }
    expect(await scan(dir, { reverse: true })).toEqual([...all].reverse());
    expect(await scan(dir, { reverse: true, from: 5_000 })).toEqual([...all].reverse().filter((f) => f <= 5_000));
  });

  it('skips a gap of a trillion sequence numbers at once (a moved block): verification reports it', async () => {
    const dir = tmp('gap-');
    await buildLog(dir, 0, 100);
    await rawDb(dir, async (db) => {
      const [first, bytes] = (await rawBlocks(db)).at(-1)!;
      await db.del(key('b', first));
      await db.put(key('b', 1e12), bytes);
    });
    const r = await openAuditReader(dir);
    try {
      const report = await verifyStore(r.store);
      expect(report.problems[0]).toMatchObject({ code: 'RECORD_MISSING' });
      const seen: number[] = [];
      for await (const { firstSeq } of r.store.blocks()) seen.push(firstSeq);
      expect(seen.at(-1)).toBe(1e12);
    } finally {
      await r.close();
    }
  });
});
