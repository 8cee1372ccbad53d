/**
 * Record layouts (record.ts): a log written before version 2 (version-1 records) and continued
 * by today's writer verifies; tampering is found in either part and across the boundary; and in
 * a version-2 log every single altered byte of a block is found.
 */
import { createWriteStream, writeFileSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { blocks, buildLog, editRecord, event, key, rawDb, rehash, replaceText, tmp } from '../../test/helpers/audit.js';
import { AuditChain } from './chain.js';
import { blockLayout } from './block.js';
import { exportLog, verifyExport } from './export.js';
import { openAuditReader } from './reader.js';
import { sealing } from './seal.js';
import type { AuditStore } from './store.js';
import { verifyStore, type VerifyOptions, type VerifyReport } from './verify.js';

async function verifyDir(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const r = await openAuditReader(dir);
  try {
    return await verifyStore(r.store, options);
  } finally {
    await r.close();
  }
}

const codes = (r: VerifyReport) => r.problems.map((p) => p.code);

/** Versions of the records of a store, in order. */
async function versions(dir: string): Promise<number[]> {
  const out: number[] = [];
  await rawDb(dir, async (db) => {
    for (const [, b] of await blocks(db)) {
      const l = blockLayout(b);
      for (let i = 0; i < l.count; i++) out.push(b[l.inputAt[i]! + 6]! - 0x30); // 0x00 {"v":N
    }
  });
  return out;
}

/** A log of 150 version-1 records (as written before version 2) continued with 150 version-2 ones. */
async function mixedLog(): Promise<string> {
  const dir = tmp('mixed-');
  sealing.version = 1;
  try {
    await buildLog(dir, 0, 150);
  } finally {
    sealing.version = 2;
  }
  await buildLog(dir, 150, 300);
  return dir;
}

afterEach(() => {
  sealing.version = 2;
});

describe('a log of version-1 records followed by version-2 ones', () => {
  it('verifies (store and export), with every checkpoint, and the records read back', async () => {
    const dir = await mixedLog();
    const v = await versions(dir);
    expect(v.slice(0, 150).every((x) => x === 1)).toBe(true);
    expect(v.slice(150).every((x) => x === 2)).toBe(true);
    const r = await verifyDir(dir, { deep: true });
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, size: 300, checkpoints: 4 });
    const reader = await openAuditReader(dir);
    try {
      const [a, b] = [await reader.source.record(149), await reader.source.record(150)];
      expect(a).toMatchObject({ v: 1, seq: 149, resource: '/workspace/file-149.ts' });
      expect(b).toMatchObject({ v: 2, seq: 150, resource: '/workspace/file-150.ts', prevHash: a!.hash });
      const file = join(tmp('export-'), 'mixed.jsonl');
      const out = createWriteStream(file);
      await exportLog(reader, out);
      out.end();
      await once(out, 'finish');
      expect((await verifyExport(file)).problems).toEqual([]);
      const lines = readFileSync(file, 'utf8').split('\n');
      lines[152] = lines[152]!.replace('file-151', 'file-15x');
      writeFileSync(file, lines.join('\n'));
      expect((await verifyExport(file)).firstBad).toBe(151);
    } finally {
      await reader.close();
    }
  });

  it('an export written by the version-1 encoder (before version 2 existed) still verifies, and an edit in it is found', async () => {
    const fixture = fileURLToPath(new URL('./testdata/v1-export.jsonl', import.meta.url));
    const r = await verifyExport(fixture);
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ ok: true, size: 100, checkpoints: 3 });
    const lines = readFileSync(fixture, 'utf8').split('\n');
    lines[43] = lines[43]!.replace('"agent-0"', '"agent-9"').replace('"agent-1"', '"agent-9"').replace('"agent-2"', '"agent-9"');
    const bad = join(tmp('v1-'), 'edited.jsonl');
    writeFileSync(bad, lines.join('\n'));
    expect((await verifyExport(bad)).firstBad).toBe(42);
  });

  it('finds an edit in the version-1 part, in the version-2 part and at the boundary', async () => {
    for (const seq of [100, 149, 150, 200]) {
      const dir = await mixedLog();
      await rawDb(dir, (db) => editRecord(db, seq, (input, hash) => [replaceText(input, `file-${seq}`, 'file-xxx'), hash]));
      const r = await verifyDir(dir);
      expect(codes(r)[0], `record ${seq}`).toBe('RECORD_EDITED');
      expect(r.firstBad).toBe(seq);
    }
  });

  it('finds a re-hashed record by the next one\'s link, on either side of the boundary and across it', async () => {
    // (Record 149 is the last before the checkpoint at 150, which catches it first.)
    for (const seq of [120, 148, 150, 250]) {
      const dir = await mixedLog();
      await rawDb(dir, (db) =>
        editRecord(db, seq, (input) => {
          const edited = replaceText(input, `file-${seq}`, 'file-xxx');
          return [edited, rehash(edited)];
        }),
      );
      const r = await verifyDir(dir);
      expect(codes(r)[0], `record ${seq}`).toBe('CHAIN_BROKEN');
      expect(r.firstBad).toBe(seq);
    }
    // The first version-2 record's link to the last version-1 record, changed and re-hashed.
    const dir = await mixedLog();
    await rawDb(dir, (db) =>
      editRecord(db, 150, (input) => {
        const edited = Buffer.from(input.toString('utf8').replace(/"prevHash":"[0-9a-f]{64}"\}$/, `"prevHash":"${'0'.repeat(64)}"}`));
        return [edited, rehash(edited)];
      }),
    );
    const r = await verifyDir(dir);
    expect(r.problems[0]).toMatchObject({ code: 'CHAIN_BROKEN', seq: 149 });
  });

  it('a version-2 record rewritten as version 1 (or back) breaks its hash; records swapped across the boundary are misplaced', async () => {
    const dir = await mixedLog();
    await rawDb(dir, (db) =>
      editRecord(db, 160, (input, hash) => {
        const s = input.toString('utf8');
        const m = /,"prevHash":"([0-9a-f]{64})"\}$/.exec(s)!;
        const v1 = s.slice(0, m.index).replace('{"v":2,"seq":160,', `{"v":1,"seq":160,"prevHash":"${m[1]}",`) + '}';
        return [Buffer.from(v1), hash];
      }),
    );
    let r = await verifyDir(dir);
    expect(codes(r)[0]).toBe('RECORD_EDITED');
    expect(r.firstBad).toBe(160);
    const other = await mixedLog();
    await rawDb(other, async (db) => {
      let a: [Uint8Array, Uint8Array] | undefined;
      let b: [Uint8Array, Uint8Array] | undefined;
      await editRecord(db, 149, (input, hash) => ((a = [input, hash]), [input, hash]));
      await editRecord(db, 150, (input, hash) => ((b = [input, hash]), [input, hash]));
      await editRecord(db, 149, () => b!);
      await editRecord(db, 150, () => a!);
    });
    r = await verifyDir(other);
    expect(codes(r)[0]).toBe('RECORD_MISPLACED');
    expect(r.firstBad).toBe(149);
  });
});

describe('timestamps in any form JSON gives them', () => {
  it('a block whose records hold negative, huge (1e+21) or ordinary timestamps verifies, and its time span is checked', async () => {
    const dir = tmp('times-');
    const chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
    await Promise.all([-5, 1e21, 1_700_000_000_000].map((timestamp, i) => chain.append(event(i, { timestamp }))));
    await chain.close();
    expect((await verifyDir(dir)).problems).toEqual([]);
    await rawDb(dir, async (db) => {
      const [first, bytes] = (await blocks(db))[0]!;
      new DataView(bytes.buffer, bytes.byteOffset).setFloat64(13, 1_800_000_000_000); // not the 1e21 record's
      await db.put(key('b', first), bytes);
    });
    expect(codes(await verifyDir(dir))).toEqual(['MALFORMED']);
  });
});

/** What verifyStore reads of a store, held in memory so that thousands of variants verify fast. */
interface Snapshot {
  meta: Record<string, unknown>;
  head: Uint8Array;
  blocks: [number, Uint8Array][];
  nodes: { level: number; index: number; hash: Uint8Array }[];
  checkpoints: { size: number; json: string }[];
}

async function snapshot(dir: string): Promise<Snapshot> {
  const r = await openAuditReader(dir);
  try {
    const s: Snapshot = { meta: (await r.store.getMeta())!, head: (await r.store.getHead())!, blocks: [], nodes: [], checkpoints: [] };
    for await (const { firstSeq, block } of r.store.blocks()) s.blocks.push([firstSeq, new Uint8Array(block)]);
    for await (const n of r.store.nodes()) s.nodes.push(n);
    for await (const c of r.store.checkpoints()) s.checkpoints.push(c);
    return s;
  } finally {
    await r.close();
  }
}

function memoryStore(s: Snapshot): AuditStore {
  const store = {
    getMeta: async () => s.meta,
    getAnchor: async () => undefined,
    getHead: async () => s.head,
    async *checkpoints() {
      yield* s.checkpoints;
    },
    async *blocks() {
      for (const [firstSeq, block] of s.blocks) yield { firstSeq, block: new Uint8Array(block) };
    },
    async *nodes() {
      yield* s.nodes;
    },
  };
  return store as unknown as AuditStore;
}

describe('a version-2 log: every altered byte is found', () => {
  it('changing any byte of any block (headers, stored hashes, lengths, records, links) fails verification', async () => {
    const dir = tmp('bytes-');
    await buildLog(dir, 0, 12, { maxBatch: 4, checkpointEvery: 8 });
    const s = await snapshot(dir);
    expect(s.blocks.length).toBeGreaterThanOrEqual(3);
    expect((await verifyStore(memoryStore(s), { hashWorkers: 0 })).ok).toBe(true);
    let tried = 0;
    for (let b = 0; b < s.blocks.length; b++) {
      const original = s.blocks[b]![1];
      for (let at = 0; at < original.length; at++) {
        // The lowest bit of every byte; every bit at once in the first block.
        for (const bit of b === 0 ? [0x01, 0xff] : [0x01]) {
          const edited = new Uint8Array(original);
          edited[at] = edited[at]! ^ bit;
          const blocksNow = s.blocks.map(([f, x], i): [number, Uint8Array] => [f, i === b ? edited : x]);
          const r = await verifyStore(memoryStore({ ...s, blocks: blocksNow }), { hashWorkers: 0 });
          if (r.ok) expect.fail(`block ${b}, byte ${at} ^ ${bit}: not detected`);
          tried++;
        }
      }
    }
    expect(tried).toBeGreaterThan(5_000);
  }, 120_000);
});
