import { ClassicLevel } from 'classic-level';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { event, tmp } from '../../test/helpers/audit.js';
import { AuditChain } from './chain.js';
import { liveTables, ManifestError } from './leveldb-manifest.js';
import { openAuditReader } from './reader.js';
import { verifyStore } from './verify.js';

const manifestOf = (db: string): Buffer => readFileSync(join(db, readFileSync(join(db, 'CURRENT'), 'utf8').trim()));
const tablesOnDisk = (db: string): number[] =>
  readdirSync(db)
    .filter((n) => /^\d+\.(ldb|sst)$/.test(n))
    .map((n) => Number.parseInt(n, 10))
    .sort((a, b) => a - b);

/** A closed LevelDB with several flushed and compacted tables (small write buffer). */
async function tablesDb(): Promise<string> {
  const dir = tmp('manifest-');
  const db = new ClassicLevel<string, string>(dir, { writeBufferSize: 64 * 1024 });
  await db.open();
  for (let round = 0; round < 40; round++) {
    const batch = db.batch();
    for (let k = 0; k < 200; k++) batch.put(`k${(round * 37 + k) % 3000}`, 'v'.repeat(100 + round));
    await batch.write();
  }
  await db.compactRange('k', 'k~');
  await db.close();
  return dir;
}

describe('liveTables', () => {
  it('lists exactly the tables a closed store keeps, all below the next file number', async () => {
    const dir = await tablesDb();
    const { tables, nextFile } = liveTables(manifestOf(dir));
    expect([...tables].sort((a, b) => a - b)).toEqual(tablesOnDisk(dir));
    expect(tables.size).toBeGreaterThan(0);
    for (const t of tables) expect(t).toBeLessThan(nextFile);
  });

  it('reads a copy torn anywhere as the edits before the tear, or refuses it with ManifestError', async () => {
    const bytes = manifestOf(await tablesDb());
    for (let cut = 0; cut <= bytes.length; cut += Math.max(1, Math.floor(bytes.length / 300))) {
      try {
        const { tables, nextFile } = liveTables(bytes.subarray(0, cut));
        for (const t of tables) expect(t).toBeLessThan(nextFile);
      } catch (e) {
        expect(e).toBeInstanceOf(ManifestError);
      }
    }
  });

  it('refuses unknown fields and records out of place', () => {
    const record = (type: number, data: number[]) => Buffer.from([0, 0, 0, 0, data.length, 0, type, ...data]);
    expect(() => liveTables(record(1, [42, 1]))).toThrow(/unknown version-edit field 42/);
    expect(() => liveTables(record(3, [3, 1]))).toThrow(/out of place/);
    expect(() => liveTables(record(1, [7, 0, 9]))).toThrow(/ends inside a number/);
    // A table at or above the next file number cannot come from LevelDB.
    expect(() => liveTables(record(1, [3, 5, 7, 0, 6, 1, 0, 0]))).toThrow(/not below the next file number/);
    expect(liveTables(Buffer.alloc(0)).tables.size).toBe(0);
  });
});

describe('openAuditReader snapshots', () => {
  it('never links a table the MANIFEST does not list, so the snapshot cannot write through it into the live store', async () => {
    // A store open for writing, with records in its write-ahead log: the snapshot's LevelDB
    // replays that log into a new table numbered from the MANIFEST's next file number.
    const chain = await AuditChain.open(tmp(), { checkpointIntervalMs: 0 });
    for (let i = 0; i < 50; i++) await chain.append(event(i));
    const db = join(chain.dir, 'db');
    const { nextFile } = liveTables(manifestOf(db));
    // Files the live store is still writing (not yet in its MANIFEST) carry those numbers.
    const sentinel = Buffer.from('a table the live store is still writing');
    const pending = [0, 1, 2, 3].map((k) => join(db, `${String(nextFile + k).padStart(6, '0')}.ldb`));
    for (const p of pending) writeFileSync(p, sentinel);
    for (let round = 0; round < 3; round++) {
      const reader = await openAuditReader(chain.dir);
      expect(reader.head.size).toBe(50);
      expect((await verifyStore(reader.store)).ok).toBe(true);
      await reader.close();
    }
    for (const p of pending) expect(readFileSync(p)).toEqual(sentinel);
    await chain.close();
  });
});
