/**
 * A block: the records of one group-commit batch, stored as one LevelDB value.
 *
 * Layout (big-endian):
 * ```
 * u8 version (1) · u32 count · f64 min timestamp · f64 max timestamp
 * count × ( 32-byte leaf hash · u32 length · length bytes of leaf input )
 * ```
 * The leaf input is `0x00 || canonical record JSON`, so the leaf hash is one SHA-256 over a
 * slice of the block, with no copying. The timestamps let time-range queries skip blocks. The
 * records may be of either record layout (`record.ts`); the block layout is the same.
 */
import { HASH_LEN, LEAF_PREFIX } from './hash.js';

/** The block layout's version byte (independent of the record layouts inside). */
export const BLOCK_VERSION = 1;
/** Bytes before the first entry. */
export const BLOCK_HEADER = 1 + 4 + 8 + 8;

/** Summary of a block's header. */
export interface BlockHeader {
  readonly count: number;
  readonly minTs: number;
  readonly maxTs: number;
}

/** One entry of a block, as views into the block's bytes. */
export interface BlockEntry {
  readonly hash: Uint8Array;
  /** `0x00 || record JSON`. */
  readonly input: Uint8Array;
}

/** Builds a block from records appended in order. */
export class BlockWriter {
  private readonly parts: { hash: Uint8Array; input: Uint8Array }[] = [];
  private bytes = BLOCK_HEADER;
  private minTs = Infinity;
  private maxTs = -Infinity;

  add(hash: Uint8Array, input: Uint8Array, timestamp: number): void {
    this.parts.push({ hash, input });
    this.bytes += HASH_LEN + 4 + input.length;
    if (timestamp < this.minTs) this.minTs = timestamp;
    if (timestamp > this.maxTs) this.maxTs = timestamp;
  }

  get count(): number {
    return this.parts.length;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    const dv = new DataView(out.buffer);
    out[0] = BLOCK_VERSION;
    dv.setUint32(1, this.parts.length);
    dv.setFloat64(5, this.parts.length ? this.minTs : 0);
    dv.setFloat64(13, this.parts.length ? this.maxTs : 0);
    let at = BLOCK_HEADER;
    for (const p of this.parts) {
      out.set(p.hash, at);
      dv.setUint32(at + HASH_LEN, p.input.length);
      out.set(p.input, at + HASH_LEN + 4);
      at += HASH_LEN + 4 + p.input.length;
    }
    return out;
  }
}

/**
 * Encode a block in place from canonical record JSON strings, hashing each record as it goes.
 * `hashLeaf(view, i)` gets the leaf input (`0x00 || json`) as a view into the block and returns
 * its hash, which is written into the entry. Returns the block (exact size).
 */
export function encodeBlock(jsons: readonly string[], timestamps: readonly number[], hashLeaf: (input: Uint8Array, i: number) => Uint8Array): Uint8Array {
  const n = jsons.length;
  const lens = new Uint32Array(n);
  let total = BLOCK_HEADER;
  let minTs = Infinity;
  let maxTs = -Infinity;
  for (let i = 0; i < n; i++) {
    lens[i] = 1 + Buffer.byteLength(jsons[i]!, 'utf8');
    total += HASH_LEN + 4 + lens[i]!;
    const t = timestamps[i]!;
    if (t < minTs) minTs = t;
    if (t > maxTs) maxTs = t;
  }
  const out = Buffer.allocUnsafe(total);
  out[0] = BLOCK_VERSION;
  out.writeUInt32BE(n, 1);
  out.writeDoubleBE(n ? minTs : 0, 5);
  out.writeDoubleBE(n ? maxTs : 0, 13);
  let at = BLOCK_HEADER;
  for (let i = 0; i < n; i++) {
    const start = at + HASH_LEN + 4;
    out.writeUInt32BE(lens[i]!, at + HASH_LEN);
    out[start] = LEAF_PREFIX;
    out.write(jsons[i]!, start + 1, 'utf8');
    out.set(hashLeaf(out.subarray(start, start + lens[i]!), i), at);
    at = start + lens[i]!;
  }
  return out;
}

/** Thrown when a block's bytes do not parse. */
export class BlockFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockFormatError';
  }
}

/** Read a block's header; throws {@link BlockFormatError}. */
export function blockHeader(b: Uint8Array): BlockHeader {
  if (b.length < BLOCK_HEADER || b[0] !== BLOCK_VERSION) throw new BlockFormatError('block header is malformed');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { count: dv.getUint32(1), minTs: dv.getFloat64(5), maxTs: dv.getFloat64(13) };
}

/** Where each entry of a block is, without making an object per entry. */
export interface BlockLayout {
  readonly count: number;
  /** Offset of entry i's stored hash. */
  readonly hashAt: Uint32Array;
  /** Offset and length of entry i's leaf input (`0x00 || JSON`). */
  readonly inputAt: Uint32Array;
  readonly inputLength: Uint32Array;
}

/** The layout of a block; throws {@link BlockFormatError} exactly when {@link blockEntries} would. */
export function blockLayout(b: Uint8Array): BlockLayout {
  const { count } = blockHeader(b);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (count > b.length / (HASH_LEN + 6)) throw new BlockFormatError(`block claims ${count} entries, more than fit in ${b.length} bytes`);
  const hashAt = new Uint32Array(count);
  const inputAt = new Uint32Array(count);
  const inputLength = new Uint32Array(count);
  let at = BLOCK_HEADER;
  for (let i = 0; i < count; i++) {
    if (at + HASH_LEN + 4 > b.length) throw new BlockFormatError(`entry ${i} of ${count} runs past the end of the block`);
    const len = dv.getUint32(at + HASH_LEN);
    const start = at + HASH_LEN + 4;
    if (start + len > b.length || len < 2) throw new BlockFormatError(`entry ${i} of ${count} runs past the end of the block`);
    if (b[start] !== LEAF_PREFIX) throw new BlockFormatError(`entry ${i} is not a leaf`);
    hashAt[i] = at;
    inputAt[i] = start;
    inputLength[i] = len;
    at = start + len;
  }
  if (at !== b.length) throw new BlockFormatError(`block has ${b.length - at} bytes after its ${count} entries`);
  return { count, hashAt, inputAt, inputLength };
}

/**
 * The entries of a block, as views. Throws {@link BlockFormatError} when an entry runs past the
 * end, the block has bytes left over, or an input does not start with the leaf prefix.
 */
export function blockEntries(b: Uint8Array): BlockEntry[] {
  const l = blockLayout(b);
  const out: BlockEntry[] = [];
  for (let i = 0; i < l.count; i++) out.push({ hash: b.subarray(l.hashAt[i]!, l.hashAt[i]! + HASH_LEN), input: b.subarray(l.inputAt[i]!, l.inputAt[i]! + l.inputLength[i]!) });
  return out;
}
