/**
 * Sealing a batch: the writer's half of the chain. Queued records become one block (see
 * `block.ts`) whose records each name the hash of the record before them, and their leaf hashes.
 *
 * Records are written in the version-2 layout (`record.ts`), link last: each record's JSON goes
 * straight into a reused buffer, then one call of the batch hasher (`hashChained`) fills in each
 * link and hashes the chain in order (in wasm, the records' first blocks four at a time; where
 * SHA-256 runs in hardware, one `node:crypto` call per record, which is faster there). The
 * version-1 path (each record encoded, linked and hashed with `node:crypto` in turn) is kept for
 * tests that need logs as earlier versions wrote them.
 *
 * @example
 * ```ts
 * const leaves = new Uint8Array(32 * batch.length);
 * const block = sealBlock(batch, Date.now(), lastHash, leaves); // leaves[32i..] = record i's hash
 * ```
 */
import { batchHasher, CHAIN_TAIL } from './batch-hash.js';
import { BLOCK_HEADER, BLOCK_VERSION, encodeBlock } from './block.js';
import { HASH_LEN, LEAF_PREFIX, sha256, toHex } from './hash.js';
import { encodeRecord, LINK_TAIL, RECORD_VERSION, type AuditRecordInput, type RecordVersion } from './record.js';

/** A queued record: its sequence number and what the caller appended. */
export interface QueuedRecord {
  readonly seq: number;
  readonly input: AuditRecordInput;
}

if (LINK_TAIL !== CHAIN_TAIL) throw new Error('internal error: the record layout and the chained hasher disagree on the link');

const PLACEHOLDER = '0'.repeat(64);

/**
 * The layout {@link sealBlock} writes. @internal Tests set 1 to build logs as earlier versions
 * wrote them (then a log of version-1 records followed by version-2 ones); nothing else should.
 */
export const sealing: { version: RecordVersion } = { version: RECORD_VERSION };

/** Canonical JSON of one record; keeps the sequence gap-free whatever the input holds. */
function encodeOne(seq: number, input: AuditRecordInput, now: number, version: RecordVersion): string {
  try {
    return encodeRecord(seq, PLACEHOLDER, input, now, version);
  } catch (e) {
    // Inputs were checked when they were queued; this is the last line of defence.
    return encodeRecord(seq, PLACEHOLDER, { eventType: 'system_anomaly', agentId: '', source: 'audit', action: 'encode', resource: '', outcome: 'failure', details: { error: String(e) } }, now, version);
  }
}

function timestampOf(input: AuditRecordInput, now: number): number {
  return input.timestamp !== undefined && Number.isFinite(input.timestamp) ? Math.trunc(input.timestamp) : now;
}

/**
 * Blocks are built in buffers of this module's, reused: a block is returned as a view of one,
 * and {@link releaseBlock} gives the buffer back once the block's bytes have gone to LevelDB.
 * Before, each block was built in one scratch buffer and copied out into a fresh buffer of its
 * own (~320 KiB per 512 records: new memory to fault in, and garbage to collect).
 */
/** The size of a new block buffer (grown for larger batches). */
const BLOCK_BUFFER = 1 << 20;
/** Buffers kept for reuse: the batches encoded ahead of a write, and then some. */
const POOL = 8;
const free: Buffer[] = [];
/** The memory of the blocks handed out and not given back (only those are taken back, once). */
const out = new WeakSet<ArrayBufferLike>();

/**
 * Give back the buffer of a block {@link sealBlock} returned, once nothing reads the block any
 * more (the chain calls it after `AuditStore.write`, which copies the bytes into LevelDB's
 * batch before it returns). Blocks not made here are ignored; so is a buffer grown for a batch
 * of huge records, which must not be kept for the life of the process.
 */
export function releaseBlock(block: Uint8Array): void {
  if (!out.delete(block.buffer)) return;
  if (block.buffer.byteLength <= 8 * BLOCK_BUFFER && free.length < POOL) free.push(Buffer.from(block.buffer, 0, block.buffer.byteLength));
}

let inputAt = new Uint32Array(1024);
let inputLength = new Uint32Array(1024);

/**
 * Encode `batch` (sequence numbers consecutive) into a block chained to `prev`, the hash of the
 * record before the first (the log id for record 0). Writes record i's leaf hash to
 * `leaves[32i, 32i + 32)` and returns the block: a view of a buffer of its own, to be given
 * back with {@link releaseBlock} once its bytes are stored (or never: then it is collected).
 */
export function sealBlock(batch: readonly QueuedRecord[], now: number, prev: Uint8Array, leaves: Uint8Array): Uint8Array {
  if (sealing.version === 1) return sealV1(batch, now, prev, leaves);
  const n = batch.length;
  if (inputAt.length < n) {
    inputAt = new Uint32Array(n);
    inputLength = new Uint32Array(n);
  }
  let buf = free.pop() ?? Buffer.allocUnsafeSlow(BLOCK_BUFFER);
  let minTs = Infinity;
  let maxTs = -Infinity;
  let at = BLOCK_HEADER;
  for (let i = 0; i < n; i++) {
    const { seq, input } = batch[i]!;
    const json = encodeOne(seq, input, now, 2);
    const ts = timestampOf(input, now);
    if (ts < minTs) minTs = ts;
    if (ts > maxTs) maxTs = ts;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const need = at + HASH_LEN + 5 + 3 * json.length;
    if (need > buf.length) {
      const bigger = Buffer.allocUnsafeSlow(Math.max(2 * buf.length, need));
      buf.copy(bigger, 0, 0, at);
      buf = bigger;
    }
    const start = at + HASH_LEN + 4;
    buf[start] = LEAF_PREFIX;
    const len = 1 + buf.write(json, start + 1);
    buf.writeUInt32BE(len, at + HASH_LEN);
    inputAt[i] = start;
    inputLength[i] = len;
    at = start + len;
  }
  batchHasher().hashChained(buf, inputAt, inputLength, n, prev, leaves);
  buf[0] = BLOCK_VERSION;
  buf.writeUInt32BE(n, 1);
  buf.writeDoubleBE(n ? minTs : 0, 5);
  buf.writeDoubleBE(n ? maxTs : 0, 13);
  // The stored hash of each entry sits just before its length and leaf input (copied byte by
  // byte: a view per record to copy 32 bytes would cost more than the copy).
  for (let i = 0; i < n; i++) {
    const to = inputAt[i]! - 4 - HASH_LEN;
    for (let k = 0; k < HASH_LEN; k++) buf[to + k] = leaves[32 * i + k]!;
  }
  out.add(buf.buffer);
  return buf.subarray(0, at);
}

/** Version 1: each record encoded with the previous hash in its first block, then hashed, in turn. */
function sealV1(batch: readonly QueuedRecord[], now: number, prev: Uint8Array, leaves: Uint8Array): Uint8Array {
  let prevHex = toHex(prev);
  const times = batch.map(({ input }) => timestampOf(input, now));
  const jsons = batch.map(({ seq, input }) => encodeOne(seq, input, now, 1));
  return encodeBlock(jsons, times, (leafInput, i) => {
    // After `0x00{"v":1,"seq":<seq>,"prevHash":"`.
    (leafInput as Buffer).write(prevHex, 1 + 13 + String(batch[i]!.seq).length + 13, 'latin1');
    const h = sha256(leafInput);
    leaves.set(h, 32 * i);
    prevHex = toHex(h);
    return h;
  });
}
