/**
 * The LevelDB layer of the audit chain. It stores bytes under fixed-width big-endian keys and
 * knows nothing of hashing; `chain.ts` decides what goes in.
 *
 * Key space:
 * - `b` + u64 BE first sequence number → a block: the records of one group-commit batch
 *   (see `block.ts`). One LevelDB value per batch keeps writes and scans at a few LevelDB
 *   operations per thousand records instead of one per record.
 * - `n` + u8 level + u64 BE index → a stored Merkle node (levels 4, 8, 12, …; lower levels are
 *   recomputed from the leaf hashes in the blocks).
 * - `c` + u64 BE tree size → a signed checkpoint (JSON).
 * - `mh` → the head: size, last hash and the Merkle frontier, written in the same atomic batch
 *   as the block it describes.
 * - `mi` → meta: format, log id, public key.
 * - `ma` → the retention anchor, once old records have been pruned.
 *
 * Durability: a batch written with `sync: true` has its write-ahead log fsynced before the write
 * resolves; with `sync: false` it reached the OS (survives a process kill, not an OS crash).
 * A batch is atomic: after a crash it is either wholly there or wholly absent.
 */
import { ClassicLevel } from 'classic-level';
import { SandboxError } from '../errors.js';

type DB = ClassicLevel<Uint8Array, Uint8Array>;

/** Options of {@link AuditStore.open}. */
export interface StoreOpenOptions {
  /** How long to keep retrying while another process holds the database lock. Default 5000 ms. */
  readonly lockWaitMs?: number;
}

/** A stored Merkle node. */
export interface StoredNode {
  readonly level: number;
  readonly index: number;
  readonly hash: Uint8Array;
}

/** A block and the sequence number of its first record. */
export interface StoredBlock {
  readonly firstSeq: number;
  readonly block: Uint8Array;
}

/** One atomic write: one or more consecutive blocks, the nodes they completed, the new head. */
export interface BatchWrite {
  readonly blocks: readonly StoredBlock[];
  readonly nodes: readonly StoredNode[];
  readonly head: Uint8Array;
}

const B = 0x62; // 'b'
const N = 0x6e; // 'n'
const C = 0x63; // 'c'
const M = 0x6d; // 'm'
const HEAD = Uint8Array.of(M, 0x68);
const META = Uint8Array.of(M, 0x69);
const ANCHOR = Uint8Array.of(M, 0x61);
const MAX = 2 ** 53;

/** `prefix` bytes followed by `n` as a u64 big-endian (exact below 2^53). @internal (the audit fuzz target writes keys with it) */
export function u64Key(prefix: readonly number[], n: number): Uint8Array {
  const k = new Uint8Array(prefix.length + 8);
  k.set(prefix);
  const dv = new DataView(k.buffer);
  dv.setUint32(prefix.length, Math.floor(n / 2 ** 32));
  dv.setUint32(prefix.length + 4, n >>> 0);
  return k;
}

const seqKey = (prefix: number, n: number): Uint8Array => u64Key([prefix], n);
const nodeKey = (level: number, index: number): Uint8Array => u64Key([N, level], index);

function readU64(b: Uint8Array, at: number): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return dv.getUint32(at) * 2 ** 32 + dv.getUint32(at + 4);
}

/** A plain copy (LevelDB hands back Buffers from a shared pool). */
function copy(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * LevelDB's memtable size (its default is 4 MiB). Every block goes to the write-ahead log and
 * the memtable; a full memtable is compressed into a level-0 table and merged into level 1 on
 * LevelDB's own thread, and blocks written meanwhile compete with that for the disk and a core.
 * 16 MiB makes those flushes and merges four times rarer; in A/B runs of 200,000 appends on a
 * shared 2-core machine (noisy) it lowered the CPU the other threads spend per record by
 * roughly 10–25%. The cost: up to twice this in memory while a flush runs, and a write-ahead
 * log of up to this size to replay on open and to copy into a reader's snapshot.
 */
const WRITE_BUFFER = 16 * 1024 * 1024;

/** Bytes of blocks a forward scan reads per range (see {@link AuditStore.blocks}). */
const RANGE_BYTES = 4 * 1024 * 1024;

function isLocked(e: unknown): boolean {
  for (let x = e as { code?: string; cause?: unknown } | undefined; x; x = x.cause as typeof x) if (x.code === 'LEVEL_LOCKED') return true;
  return false;
}

/** The LevelDB store of one audit log. */
export class AuditStore {
  private constructor(
    private readonly ldb: DB,
    /** Where it lives. */
    readonly location: string,
  ) {}

  /**
   * Open (creating if needed) the database at `location`. While another process holds it,
   * retries for `lockWaitMs`; then throws `AUDIT_UNAVAILABLE` naming the lock.
   */
  static async open(location: string, options: StoreOpenOptions = {}): Promise<AuditStore> {
    const deadline = Date.now() + (options.lockWaitMs ?? 5000);
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      const db: DB = new ClassicLevel<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view', writeBufferSize: WRITE_BUFFER });
      try {
        await db.open();
        return new AuditStore(db, location);
      } catch (e) {
        await db.close().catch(() => undefined);
        if (isLocked(e) && Date.now() < deadline) {
          await sleep(delay);
          continue;
        }
        const why = isLocked(e)
          ? 'another process has it open (stop it, or read a snapshot with the audit commands, which do that for you)'
          : ((e as { cause?: Error }).cause?.message ?? (e as Error).message);
        throw new SandboxError('AUDIT_UNAVAILABLE', `audit store ${location} cannot be opened: ${why}`, { location, locked: isLocked(e) }, { cause: e });
      }
    }
  }

  /** The underlying database. @internal (tests use it to inject failures and tamper) */
  get db(): DB {
    return this.ldb;
  }

  /** Whether the database is open. */
  get isOpen(): boolean {
    return this.ldb.status === 'open';
  }

  async getMeta(): Promise<Record<string, unknown> | undefined> {
    const v = await this.ldb.get(META);
    return v === undefined ? undefined : (JSON.parse(Buffer.from(v).toString('utf8')) as Record<string, unknown>);
  }

  async putMeta(meta: Record<string, unknown>): Promise<void> {
    await this.ldb.put(META, Buffer.from(JSON.stringify(meta)), { sync: true });
  }

  async getHead(): Promise<Uint8Array | undefined> {
    const v = await this.ldb.get(HEAD);
    return v === undefined ? undefined : copy(v);
  }

  /**
   * Write blocks, their nodes and the head atomically. The bytes are copied into LevelDB's
   * batch before this returns: the caller may reuse its buffers at once.
   */
  write(w: BatchWrite, sync: boolean): Promise<void> {
    const batch = this.ldb.batch();
    for (const b of w.blocks) batch.put(seqKey(B, b.firstSeq), b.block);
    for (const n of w.nodes) batch.put(nodeKey(n.level, n.index), n.hash);
    batch.put(HEAD, w.head);
    return batch.write({ sync });
  }

  /** The block holding record `seq` (the last block whose first sequence number is ≤ seq). */
  async blockAt(seq: number): Promise<{ firstSeq: number; block: Uint8Array } | undefined> {
    for await (const [k, v] of this.ldb.iterator({ gte: seqKey(B, 0), lte: seqKey(B, seq), reverse: true, limit: 1 })) {
      return { firstSeq: readU64(k, 1), block: copy(v) };
    }
    return undefined;
  }

  /**
   * Blocks in order, starting with the one that holds `from` (or the first); with `reverse`,
   * from the one holding `from` (or the last) down to the first.
   *
   * Forward, the blocks are read as ranges of sequence numbers, two ranges at a time on
   * LevelDB's thread pool, all through one snapshot: reading a block (decompressing it and
   * copying it out twice) costs a third of what verifying it does, and one iterator reads one
   * block at a time, so a single reader left the verifier waiting for it about half the time.
   */
  async *blocks(options: { from?: number; reverse?: boolean } = {}): AsyncGenerator<{ firstSeq: number; block: Uint8Array }> {
    if (options.reverse) {
      yield* this.scanDown(options.from ?? MAX);
      return;
    }
    const snapshot = this.ldb.snapshot();
    const reads: Promise<{ entries: [Uint8Array, Uint8Array][]; span: number }>[] = [];
    try {
      let lo = 0;
      if (options.from !== undefined && options.from > 0) {
        for await (const k of this.ldb.keys({ gte: seqKey(B, 0), lte: seqKey(B, options.from), reverse: true, limit: 1, snapshot })) lo = readU64(k, 1);
      }
      let last = -1;
      for await (const k of this.ldb.keys({ gte: seqKey(B, 0), lte: seqKey(B, MAX), reverse: true, limit: 1, snapshot })) last = readU64(k, 1);
      // Ranges of about RANGE_BYTES: the first guesses, the later ones follow the bytes per record seen.
      let span = 4096;
      const read = async (from: number, to: number) => {
        const entries: [Uint8Array, Uint8Array][] = [];
        // fillCache: false — a scan reads each block once; putting them all through LevelDB's
        // block cache would only evict what random reads (proofs, `read`) keep there.
        // highWaterMarkBytes: a whole range per call; with the default (16 KiB) each call
        // returned one block: a round trip to LevelDB's thread and back through this thread's
        // event loop (busy verifying) per block.
        const it = this.ldb.iterator({ gte: seqKey(B, from), lt: seqKey(B, to), fillCache: false, snapshot, highWaterMarkBytes: RANGE_BYTES });
        try {
          for (let got = await it.nextv(64); got.length > 0; got = await it.nextv(64)) entries.push(...got);
        } finally {
          await it.close();
        }
        return { entries, span: to - from };
      };
      const launch = () => {
        if (lo > last) return;
        const to = Math.min(MAX, lo + span);
        reads.push(read(lo, to));
        lo = to;
      };
      launch();
      launch();
      while (reads.length > 0) {
        const { entries, span: covered } = await reads.shift()!;
        let bytes = 0;
        for (const [, v] of entries) bytes += v.length;
        if (bytes > 0) span = Math.max(256, Math.min(1 << 20, Math.round((covered * RANGE_BYTES) / bytes)));
        else {
          // A gap in the sequence numbers (records missing, or a block far larger than the
          // range): continue at the next block there is, not range after empty range.
          let next = Infinity;
          for await (const k of this.ldb.keys({ gte: seqKey(B, lo), lte: seqKey(B, MAX), limit: 1, snapshot })) next = readU64(k, 1);
          lo = Math.max(lo, next);
        }
        launch();
        for (const [k, v] of entries) yield { firstSeq: readU64(k, 1), block: v };
      }
    } finally {
      await Promise.allSettled(reads);
      await snapshot.close();
    }
  }

  /** Blocks from the one holding `from` down to the first; the next ones read while the caller works. */
  private async *scanDown(from: number): AsyncGenerator<{ firstSeq: number; block: Uint8Array }> {
    const it = this.ldb.iterator({ gte: seqKey(B, 0), lte: seqKey(B, from), reverse: true, fillCache: false });
    let next: Promise<[Uint8Array, Uint8Array][]> | undefined;
    try {
      next = it.nextv(16);
      for (;;) {
        const entries = await next;
        if (entries.length === 0) return;
        next = it.nextv(16);
        for (const [k, v] of entries) yield { firstSeq: readU64(k, 1), block: v };
      }
    } finally {
      await next?.catch(() => undefined);
      await it.close();
    }
  }

  async getNode(level: number, index: number): Promise<Uint8Array | undefined> {
    const v = await this.ldb.get(nodeKey(level, index));
    return v === undefined ? undefined : copy(v);
  }

  /** Every stored node. */
  async *nodes(): AsyncGenerator<StoredNode> {
    for await (const [k, v] of this.ldb.iterator({ gte: Uint8Array.of(N), lt: Uint8Array.of(N + 1) })) {
      yield { level: k[1]!, index: readU64(k, 2), hash: copy(v) };
    }
  }

  async putCheckpoint(size: number, json: string): Promise<void> {
    await this.ldb.put(seqKey(C, size), Buffer.from(json), { sync: true });
  }

  async getCheckpoint(size: number): Promise<string | undefined> {
    const v = await this.ldb.get(seqKey(C, size));
    return v === undefined ? undefined : Buffer.from(v).toString('utf8');
  }

  /** Stored checkpoints (JSON text) by size, ascending (or descending). */
  async *checkpoints(options: { reverse?: boolean; limit?: number } = {}): AsyncGenerator<{ size: number; json: string }> {
    for await (const [k, v] of this.ldb.iterator({ gte: seqKey(C, 0), lte: seqKey(C, MAX), reverse: options.reverse ?? false, limit: options.limit ?? -1 })) {
      yield { size: readU64(k, 1), json: Buffer.from(v).toString('utf8') };
    }
  }

  async getAnchor(): Promise<string | undefined> {
    const v = await this.ldb.get(ANCHOR);
    return v === undefined ? undefined : Buffer.from(v).toString('utf8');
  }

  /**
   * Retention: store `anchor` and, in the same atomic batch, delete the blocks that start
   * before `before`, the stored nodes wholly below it and the checkpoints smaller than it.
   */
  async prune(before: number, anchorJson: string): Promise<{ blocks: number; nodes: number }> {
    const batch = this.ldb.batch();
    batch.put(ANCHOR, Buffer.from(anchorJson));
    let blocks = 0;
    for await (const k of this.ldb.keys({ gte: seqKey(B, 0), lt: seqKey(B, before) })) {
      batch.del(k);
      blocks++;
    }
    let nodes = 0;
    for await (const k of this.ldb.keys({ gte: Uint8Array.of(N), lt: Uint8Array.of(N + 1) })) {
      const level = k[1]!;
      const index = readU64(k, 2);
      if ((index + 1) * 2 ** level <= before) {
        batch.del(k);
        nodes++;
      }
    }
    for await (const k of this.ldb.keys({ gte: seqKey(C, 0), lt: seqKey(C, before) })) batch.del(k);
    await batch.write({ sync: true });
    return { blocks, nodes };
  }

  /** Ask LevelDB to compact the whole key range (reclaims space after a prune). */
  async compact(): Promise<void> {
    await this.ldb.compactRange(seqKey(B, 0), seqKey(B, MAX));
  }

  async close(): Promise<void> {
    if (this.ldb.status === 'open' || this.ldb.status === 'opening') await this.ldb.close();
  }
}
