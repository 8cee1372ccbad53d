/**
 * The WebAssembly side of `batch-hash.ts`: the module's memory layout, the copying of inputs
 * into it in bounded chunks, and the argument checks. See {@link BatchHasher} for what each
 * method does. Where the CPU hashes SHA-256 in hardware, record digests (`hashChained`, the
 * digests `checkRecords` checks) come from `node:crypto` instead of the module's lanes (see
 * `crypto-digests.ts`); the checks stay in the module either way.
 */
import { hash } from 'node:crypto';
import type { BatchHasher, DigestSource } from './batch-hash.js';
import { chainWithCrypto, digestsWithCrypto, hardwareSha256 } from './crypto-digests.js';
import { SHA256_WASM_BASE64 } from './wasm/sha256-wasm.js';

/**
 * Bytes at the end of a chained message (see {@link BatchHasher.hashChained}) taken by its hex
 * link and the two bytes after it (64 hex digits, then `"}` in an audit record).
 */
export const CHAIN_TAIL = 66;

interface Exports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  hash_many(data: number, offsets: number, lengths: number, n: number, out: number): void;
  hash_nodes(pairs: number, n: number, out: number): void;
  hash_chained(data: number, offsets: number, lengths: number, n: number, prev: number, out: number, mid: number): void;
  check_records(data: number, offsets: number, lengths: number, n: number, digests: number, stored: number, prev: number, firstSeq: number, range: number): number;
}

/** Messages per call into wasm (sizes the offsets, lengths and digest areas). */
const MAX_BATCH = 4096;
/**
 * Message bytes per call into wasm: bounds the data area, and so the module's memory, and keeps
 * the copied data in cache until it is hashed.
 */
const CHUNK_BYTES = 1 << 18;
/**
 * Longer messages go to node:crypto. It costs ~1.5 µs a call plus, with SHA-NI, ~0.05 µs a
 * 64-byte block; the wasm code ~0.11 µs a block per lane. They cross at about 2 KiB.
 */
const LARGE_MESSAGE = 2048;
/** The C code loads up to 64 bytes past a message's end (and masks them off). */
const SLACK = 64;
const PAGE = 65536;

function checkIndex(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

/**
 * Checks that n messages lie within data, each at least `min` bytes long and, when `ordered`,
 * each after the one before without sharing bytes with it.
 */
function checkMessages(data: Uint8Array, offsets: ArrayLike<number>, lengths: ArrayLike<number>, n: number, min: number, ordered: boolean): void {
  if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
  checkIndex(n, 'n');
  if (n > offsets.length || n > lengths.length) throw new RangeError(`n = ${n} but there are ${offsets.length} offsets and ${lengths.length} lengths`);
  let end = 0;
  for (let i = 0; i < n; i++) {
    const off = offsets[i]!;
    const len = lengths[i]!;
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < min || off + len > data.length) {
      throw new RangeError(`message ${i} (offset ${off}, length ${len}) is not within data (${data.length} bytes)${min > 0 ? ` or is shorter than ${min} bytes` : ''}`);
    }
    if (ordered && off < end) throw new RangeError(`message ${i} (offset ${off}) overlaps the one before`);
    end = off + len;
  }
}

function checkOut(out: Uint8Array, outOffset: number, n: number): void {
  if (!(out instanceof Uint8Array)) throw new TypeError('out must be a Uint8Array');
  checkIndex(outOffset, 'outOffset');
  if (outOffset + 32 * n > out.length) throw new RangeError(`out has ${out.length} bytes; ${n} digests at ${outOffset} need ${outOffset + 32 * n}`);
}

/** Whether two views share bytes (then inputs are copied before any output is written). */
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** The multi-buffer SHA-256 wasm module behind {@link BatchHasher}. */
export class WasmBatchHasher implements BatchHasher {
  digests: DigestSource = hardwareSha256() ? 'crypto' : 'wasm';
  private readonly wasm: Exports;
  private mem: Uint8Array;
  private mem32: Uint32Array;
  // The caller-managed areas above __heap_base; data comes last because it varies in size.
  private readonly offsetsPtr: number;
  private readonly lengthsPtr: number;
  private readonly outPtr: number;
  private readonly midPtr: number;
  private readonly storedPtr: number;
  private readonly prevPtr: number;
  private readonly rangePtr: number;
  private readonly dataPtr: number;

  constructor() {
    const bytes = Buffer.from(SHA256_WASM_BASE64, 'base64');
    this.wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
    const base = (this.wasm.heap_base() + 15) & ~15;
    this.offsetsPtr = base;
    this.lengthsPtr = this.offsetsPtr + 4 * MAX_BATCH;
    this.outPtr = this.lengthsPtr + 4 * MAX_BATCH;
    this.midPtr = this.outPtr + 32 * MAX_BATCH;
    this.storedPtr = this.midPtr + 32 * MAX_BATCH;
    this.prevPtr = this.storedPtr + 4 * MAX_BATCH;
    this.rangePtr = this.prevPtr + 32;
    this.dataPtr = this.rangePtr + 32;
    this.mem = new Uint8Array(0);
    this.mem32 = new Uint32Array(0);
    this.reserve(0);
  }

  /** Makes room for `dataBytes` (plus slack) in the data area and refreshes the views. */
  private reserve(dataBytes: number): void {
    const memory = this.wasm.memory;
    const need = this.dataPtr + dataBytes + SLACK;
    if (need > memory.buffer.byteLength) memory.grow(Math.ceil((need - memory.buffer.byteLength) / PAGE));
    // A grow detaches the old buffer, so views are re-made whenever it changed.
    if (this.mem.buffer !== memory.buffer) {
      this.mem = new Uint8Array(memory.buffer);
      this.mem32 = new Uint32Array(memory.buffer);
    }
  }

  hashMany(
    data: Uint8Array,
    offsets: Uint32Array | readonly number[],
    lengths: Uint32Array | readonly number[],
    n: number,
    out: Uint8Array,
    outOffset = 0,
  ): void {
    checkMessages(data, offsets, lengths, n, 0, false);
    checkOut(out, outOffset, n);
    if (overlaps(data, out)) data = data.slice();
    if (offsets instanceof Uint32Array && overlaps(offsets, out)) offsets = offsets.slice();
    if (lengths instanceof Uint32Array && overlaps(lengths, out)) lengths = lengths.slice();
    let i = 0;
    while (i < n) {
      if (lengths[i]! > LARGE_MESSAGE) {
        const off = offsets[i]!;
        out.set(hash('sha256', data.subarray(off, off + lengths[i]!), 'buffer'), outOffset + 32 * i);
        i++;
        continue;
      }
      const { count } = this.stage(data, offsets, lengths, i, n, LARGE_MESSAGE);
      this.wasm.hash_many(this.dataPtr, this.offsetsPtr, this.lengthsPtr, count, this.outPtr);
      out.set(this.mem.subarray(this.outPtr, this.outPtr + 32 * count), outOffset + 32 * i);
      i += count;
    }
  }

  hashChained(
    data: Uint8Array,
    offsets: Uint32Array | readonly number[],
    lengths: Uint32Array | readonly number[],
    n: number,
    prev: Uint8Array,
    out: Uint8Array,
    outOffset = 0,
  ): void {
    checkMessages(data, offsets, lengths, n, CHAIN_TAIL, true);
    if (!(prev instanceof Uint8Array) || prev.length !== 32) throw new RangeError('prev must be 32 bytes');
    checkOut(out, outOffset, n);
    if (overlaps(data, out)) throw new RangeError('out must not share bytes with data');
    if (this.digests === 'crypto') {
      // A copy: prev may be a view of bytes the first link overwrites.
      chainWithCrypto(data, offsets, lengths, n, prev.slice(), out, outOffset, CHAIN_TAIL);
      return;
    }
    let i = 0;
    while (i < n) {
      // Message i names the digest of message i − 1, which the previous chunk wrote to out.
      this.mem.set(i === 0 ? prev : out.subarray(outOffset + 32 * (i - 1), outOffset + 32 * i), this.prevPtr);
      const { count, lo } = this.stage(data, offsets, lengths, i, n, Infinity);
      this.wasm.hash_chained(this.dataPtr, this.offsetsPtr, this.lengthsPtr, count, this.prevPtr, this.outPtr, this.midPtr);
      const { mem, mem32 } = this;
      // The links were written into the copy; put them into data as well.
      if (lo >= 0) {
        const last = i + count - 1;
        data.set(mem.subarray(this.dataPtr, this.dataPtr + offsets[last]! + lengths[last]! - lo), lo);
      } else {
        for (let k = 0; k < count; k++) {
          const from = this.dataPtr + mem32[(this.offsetsPtr >>> 2) + k]! + lengths[i + k]! - CHAIN_TAIL;
          data.set(mem.subarray(from, from + 64), offsets[i + k]! + lengths[i + k]! - CHAIN_TAIL);
        }
      }
      out.set(mem.subarray(this.outPtr, this.outPtr + 32 * count), outOffset + 32 * i);
      i += count;
    }
  }

  checkRecords(
    data: Uint8Array,
    offsets: ArrayLike<number>,
    lengths: ArrayLike<number>,
    n: number,
    storedAt: ArrayLike<number> | undefined,
    prev: Uint8Array | undefined,
    firstSeq: number,
    out: Uint8Array,
    times?: Float64Array,
  ): number {
    checkMessages(data, offsets, lengths, n, 0, false);
    if (storedAt) {
      if (storedAt.length < n) throw new RangeError(`n = ${n} but there are ${storedAt.length} stored hash offsets`);
      for (let i = 0; i < n; i++) {
        const at = storedAt[i]!;
        if (!Number.isSafeInteger(at) || at < 0 || at + 32 > data.length) throw new RangeError(`stored hash ${i} (offset ${at}) is not within data`);
      }
    }
    if (prev !== undefined && (!(prev instanceof Uint8Array) || prev.length !== 32)) throw new RangeError('prev must be 32 bytes');
    checkIndex(firstSeq, 'firstSeq');
    checkOut(out, 0, n);
    if (times !== undefined && !(times instanceof Float64Array && times.length >= 3)) throw new RangeError('times must be a Float64Array of 3');
    if (overlaps(data, out)) data = data.slice();
    let min = Infinity;
    let max = -Infinity;
    let odd = 0;
    const report = (checked: number): number => {
      if (times) [times[0], times[1], times[2]] = [min, max, odd];
      return checked;
    };
    for (let i = 0; i < n; i += MAX_BATCH) {
      const count = Math.min(MAX_BATCH, n - i);
      let lo = Infinity;
      let hi = 0;
      for (let k = i; k < i + count; k++) {
        lo = Math.min(lo, offsets[k]!, storedAt ? storedAt[k]! : Infinity);
        hi = Math.max(hi, offsets[k]! + lengths[k]!, storedAt ? storedAt[k]! + 32 : 0);
      }
      this.reserve(hi - lo);
      const { mem, mem32 } = this;
      mem.set(data.subarray(lo, hi), this.dataPtr);
      const o32 = this.offsetsPtr >>> 2;
      const l32 = this.lengthsPtr >>> 2;
      const s32 = this.storedPtr >>> 2;
      for (let k = 0; k < count; k++) {
        mem32[o32 + k] = offsets[i + k]! - lo;
        mem32[l32 + k] = lengths[i + k]!;
        if (storedAt) mem32[s32 + k] = storedAt[i + k]! - lo;
      }
      // Record i names the digest of record i − 1: the previous group's last one.
      const link = i === 0 ? prev : out.subarray(32 * (i - 1), 32 * i);
      if (link) mem.set(link, this.prevPtr);
      if (this.digests === 'crypto') digestsWithCrypto(data, offsets, lengths, i, count, mem, this.outPtr);
      else this.wasm.hash_many(this.dataPtr, this.offsetsPtr, this.lengthsPtr, count, this.outPtr);
      const bad = this.wasm.check_records(this.dataPtr, this.offsetsPtr, this.lengthsPtr, count, this.outPtr, storedAt ? this.storedPtr : 0, link ? this.prevPtr : 0, firstSeq + i, this.rangePtr);
      out.set(mem.subarray(this.outPtr, this.outPtr + 32 * count), 32 * i);
      const range = new Float64Array(mem.buffer, this.rangePtr, 3);
      min = Math.min(min, range[0]!);
      max = Math.max(max, range[1]!);
      odd += range[2]!;
      if (bad < count) return report(i + bad);
    }
    return report(n);
  }

  /**
   * Copies messages i.. into the data area while they fit (at most MAX_BATCH of them and
   * CHUNK_BYTES in all, each at most `large` bytes; always at least one) and fills the offsets
   * and lengths areas. Copies either the span of data that covers them all (one copy, the usual
   * case of records laid end to end; `lo` is where it starts) or, if that span is mostly gaps,
   * each message on its own (`lo` is -1).
   */
  private stage(data: Uint8Array, offsets: ArrayLike<number>, lengths: ArrayLike<number>, i: number, n: number, large: number): { count: number; lo: number } {
    let j = i;
    let sum = 0;
    let lo = data.length;
    let hi = 0;
    while (j < n && j - i < MAX_BATCH) {
      const off = offsets[j]!;
      const len = lengths[j]!;
      if (j > i && (len > large || sum + len > CHUNK_BYTES)) break;
      sum += len;
      if (off < lo) lo = off;
      if (off + len > hi) hi = off + len;
      j++;
    }
    const count = j - i;
    const whole = hi - lo <= Math.max(CHUNK_BYTES, sum) && hi - lo <= 2 * sum + 4096;
    this.reserve(whole ? hi - lo : sum);
    const { mem, mem32 } = this;
    const o32 = this.offsetsPtr >>> 2;
    const l32 = this.lengthsPtr >>> 2;
    if (whole) {
      mem.set(data.subarray(lo, hi), this.dataPtr);
      for (let k = 0; k < count; k++) {
        mem32[o32 + k] = offsets[i + k]! - lo;
        mem32[l32 + k] = lengths[i + k]!;
      }
      return { count, lo };
    }
    let pos = 0;
    for (let k = 0; k < count; k++) {
      const off = offsets[i + k]!;
      const len = lengths[i + k]!;
      mem.set(data.subarray(off, off + len), this.dataPtr + pos);
      mem32[o32 + k] = pos;
      mem32[l32 + k] = len;
      pos += len;
    }
    return { count, lo: -1 };
  }

  hashNodes(pairs: Uint8Array, n: number, out: Uint8Array, outOffset = 0): void {
    if (!(pairs instanceof Uint8Array)) throw new TypeError('pairs must be a Uint8Array');
    checkIndex(n, 'n');
    if (64 * n > pairs.length) throw new RangeError(`${n} pairs need ${64 * n} bytes, pairs has ${pairs.length}`);
    checkOut(out, outOffset, n);
    if (overlaps(pairs, out)) pairs = pairs.slice(0, 64 * n);
    for (let i = 0; i < n; i += MAX_BATCH) {
      const count = Math.min(MAX_BATCH, n - i);
      this.reserve(64 * count);
      this.mem.set(pairs.subarray(64 * i, 64 * (i + count)), this.dataPtr);
      this.wasm.hash_nodes(this.dataPtr, count, this.outPtr);
      out.set(this.mem.subarray(this.outPtr, this.outPtr + 32 * count), outOffset + 32 * i);
    }
  }
}
