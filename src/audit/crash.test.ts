/**
 * Durability under SIGKILL: a child process appends under load (64 concurrent appenders) and
 * prints each acknowledgement; it is killed at a random moment, many times over the same log.
 * After every kill the log must verify and hold every acknowledged record, in place.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tmp } from '../../test/helpers/audit.js';
import { REPO_ROOT } from '../../test/helpers/fixtures.js';
import { runUntilKilled } from '../../test/helpers/kill.js';
import { AuditChain } from './chain.js';
import { openAuditReader } from './reader.js';
import { queryRecords } from './query.js';
import { verifyStore } from './verify.js';

const WRITER = join(REPO_ROOT, 'test', 'fixtures', 'audit', 'writer.mjs');

/** Run the writer until it has acknowledged at least `minAcks` records, plus a random extra delay, then SIGKILL it. */
async function runAndKill(dir: string, durability: 'sync' | 'async', minAcks: number): Promise<{ start: number; acks: Map<number, string> }> {
  const out = await runUntilKilled([WRITER, dir, 'load', durability], /\nack /g, minAcks, 40);
  const acks = new Map<number, string>();
  let start = -1;
  for (const line of out.split('\n')) {
    const m = /^ack ([0-9]+) (\S+)$/.exec(line);
    if (m) acks.set(Number(m[1]), m[2]!);
    const s = /^start ([0-9]+)$/.exec(line);
    if (s) start = Number(s[1]);
  }
  return { start, acks };
}

async function checkLog(dir: string, acks: Map<number, string>): Promise<number> {
  const reader = await openAuditReader(dir);
  try {
    const report = await verifyStore(reader.store);
    expect(report.problems).toEqual([]);
    const stored = new Map<number, string>();
    for await (const r of queryRecords(reader.store, {})) stored.set(r.seq, r.resource);
    for (const [seq, id] of acks) expect(stored.get(seq), `acknowledged record ${seq}`).toBe(id);
    return report.size;
  } finally {
    await reader.close();
  }
}

describe('audit durability under SIGKILL', () => {
  for (const durability of ['sync', 'async'] as const) {
    it(`${durability}: 15 kills under load; after each restart the chain verifies and holds every acknowledged record`, async () => {
      const dir = tmp(`crash-${durability}-`);
      const everAcked = new Map<number, string>();
      let size = 0;
      for (let round = 0; round < 15; round++) {
        const { start, acks } = await runAndKill(dir, durability, 50 + Math.floor(Math.random() * 400));
        // The restarted writer found everything the previous one had acknowledged (and maybe more).
        expect(start).toBeGreaterThanOrEqual(size);
        expect(acks.size).toBeGreaterThan(0);
        for (const [seq, id] of acks) everAcked.set(seq, id);
        size = await checkLog(dir, everAcked);
        expect(size).toBeGreaterThanOrEqual(Math.max(...acks.keys()) + 1);
      }
      // And the chain opens for writing and continues.
      const chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
      expect(chain.size).toBe(size);
      await chain.append({ eventType: 'agent_spawn', agentId: 'after', source: 'test', action: 'x', resource: 'y', outcome: 'success' });
      await chain.close();
      expect(await checkLog(dir, everAcked)).toBe(size + 1);
    }, 120_000);
  }
});
