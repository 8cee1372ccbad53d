/**
 * Output-commit durability (the default) under SIGKILL: a child process runs three agents that
 * each stat a file, write a new one into a read-write mount and stat again, over and over, and
 * prints each run's output; it is killed at a random moment, many times over the same audit
 * log. After every kill: the log verifies; every file that reached the disk has its write
 * record; every output that left has every record up to it (the run's closing stat included).
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAuditReader } from '../../dist/audit/reader.js';
import { queryRecords } from '../../dist/audit/query.js';
import { verifyStore } from '../../dist/audit/verify.js';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { tempDir, TEST_CACHE_DIR } from '../helpers/sandbox.js';
import { runUntilKilled } from '../helpers/kill.js';

const CHILD = join(REPO_ROOT, 'test', 'fixtures', 'audit', 'commit-agent.mjs');

/** Run the child until it has printed `minOutputs` outputs (plus a random delay), then SIGKILL it; the ids it printed. */
async function runAndKill(auditDir: string, mount: string, minOutputs: number): Promise<string[]> {
  const out = await runUntilKilled([CHILD, auditDir, mount, fixturePath('fsprobe'), TEST_CACHE_DIR], /\nout /g, minOutputs, 30);
  return [...out.matchAll(/^out (\S+)$/gm)].map((m) => m[1]!);
}

interface Rec {
  readonly seq: number;
  readonly agentId: string;
  readonly action: string;
  readonly resource: string;
  readonly eventType: string;
}

async function records(dir: string): Promise<Rec[]> {
  const reader = await openAuditReader(dir);
  try {
    const report = await verifyStore(reader.store);
    expect(report.problems).toEqual([]);
    const out: Rec[] = [];
    for await (const r of queryRecords(reader.store, {})) out.push(r as Rec);
    return out;
  } finally {
    await reader.close();
  }
}

describe('output-commit durability under SIGKILL', () => {
  it('8 kills under load: every file written and every output returned has its records in a chain that verifies', async () => {
    const audit = tempDir('commit-audit-');
    const mount = tempDir('commit-mount-');
    writeFileSync(join(mount.dir, 'seed'), 'seed');
    mkdirSync(join(audit.dir, 'log'));
    const auditDir = join(audit.dir, 'log');
    let outputs = 0;
    for (let round = 0; round < 8; round++) {
      const printed = await runAndKill(auditDir, mount.dir, 5 + Math.floor(Math.random() * 40));
      outputs += printed.length;
      const recs = await records(auditDir);
      const writes = new Map<string, Rec>();
      for (const r of recs) if (r.eventType === 'capability_used' && r.action === 'write') writes.set(r.resource, r);
      // Every effect that left (a file on disk) was recorded first.
      for (const f of readdirSync(mount.dir).filter((n) => n.startsWith('w'))) {
        expect(writes.has(`/w/${f}`), `the write of ${f}`).toBe(true);
      }
      // Every output that left came after every record of its run, the closing stat included.
      for (const id of printed) {
        const w = writes.get(`/w/w${id}`);
        expect(w, `the write of run ${id}`).toBeDefined();
        const after = recs.find((r) => r.seq > w!.seq && r.agentId === w!.agentId && r.eventType === 'capability_used');
        expect(after, `the stat after the write of run ${id}`).toMatchObject({ action: 'read', resource: '/w/seed' });
      }
    }
    expect(outputs).toBeGreaterThan(20);
    audit.cleanup();
    mount.cleanup();
  }, 180_000);
});
