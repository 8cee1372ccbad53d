/**
 * Batched SHA-256 for many small messages (audit leaves and Merkle inner nodes).
 *
 * `crypto.hash` spends ~1.5 µs per call on call overhead, whatever the input size; for the
 * 65-byte inner nodes of the Merkle tree that is nearly all of the cost. This module hashes whole
 * batches in one call into a WebAssembly SIMD128 module (src/audit/wasm/sha256.c) that runs
 * four messages at once, one per vector lane.
 *
 * The module is instantiated synchronously on first use and cached for the thread. Inputs are
 * copied into its memory in chunks, so batches of any size work with a bounded memory
 * (under 0.5 MiB). A message too long to gain from batching (over 2 KiB) goes to
 * `node:crypto` instead.
 *
 * @example
 * ```ts
 * const h = batchHasher();
 * const data = new TextEncoder().encode('\x00first\x00second');
 * const out = new Uint8Array(64);
 * h.hashMany(data, [0, 6], [6, 7], 2, out); // leaf hashes of "first" and "second"
 * ```
 */
import { hash } from 'node:crypto';
import { SHA256_WASM_BASE64 } from './wasm/sha256-wasm.js';

/** Hashes batches of messages; see {@link batchHasher}. */
export interface BatchHasher {
  /**
   * SHA-256 of n messages: message i is `data[offsets[i], offsets[i] + lengths[i])`. Writes
   * 32·n bytes into `out`, digest i at `outOffset + 32·i`.
   *
   * @param outOffset - where the first digest goes in `out`; default 0.
   * @throws RangeError if `n` exceeds either array, a message lies outside `data`, or `out`
   *   has no room; nothing is written then.
   */
  hashMany(
    data: Uint8Array,
    offsets: Uint32Array | readonly number[],
    lengths: Uint32Array | readonly number[],
    n: number,
    out: Uint8Array,
    outOffset?: number,
  ): void;
  /**
   * Inner Merkle nodes (RFC 6962): `out[i] = SHA-256(0x01 || pairs[64i, 64i + 64))` for i < n,
   * each pair being the left and right child hashes. Digest i goes to `outOffset + 32·i`.
   *
   * @param outOffset - where the first digest goes in `out`; default 0.
   * @throws RangeError if `pairs` holds fewer than n pairs or `out` has no room.
   */
  hashNodes(pairs: Uint8Array, n: number, out: Uint8Array, outOffset?: number): void;
}

interface Exports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  hash_many(data: number, offsets: number, lengths: number, n: number, out: number): void;
  hash_nodes(pairs: number, n: number, out: number): void;
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

function checkOut(out: Uint8Array, outOffset: number, n: number): void {
  if (!(out instanceof Uint8Array)) throw new TypeError('out must be a Uint8Array');
  checkIndex(outOffset, 'outOffset');
  if (outOffset + 32 * n > out.length) throw new RangeError(`out has ${out.length} bytes; ${n} digests at ${outOffset} need ${outOffset + 32 * n}`);
}

/** Whether two views share bytes (then inputs are copied before any output is written). */
function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

class WasmBatchHasher implements BatchHasher {
  private readonly wasm: Exports;
  private mem: Uint8Array;
  private mem32: Uint32Array;
  // The caller-managed areas above __heap_base; data comes last because it varies in size.
  private readonly offsetsPtr: number;
  private readonly lengthsPtr: number;
  private readonly outPtr: number;
  private readonly dataPtr: number;

  constructor() {
    const bytes = Buffer.from(SHA256_WASM_BASE64, 'base64');
    this.wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Exports;
    const base = (this.wasm.heap_base() + 15) & ~15;
    this.offsetsPtr = base;
    this.lengthsPtr = this.offsetsPtr + 4 * MAX_BATCH;
    this.outPtr = this.lengthsPtr + 4 * MAX_BATCH;
    this.dataPtr = this.outPtr + 32 * MAX_BATCH;
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
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    checkIndex(n, 'n');
    if (n > offsets.length || n > lengths.length) throw new RangeError(`n = ${n} but there are ${offsets.length} offsets and ${lengths.length} lengths`);
    checkOut(out, outOffset, n);
    for (let i = 0; i < n; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 0 || off + len > data.length) {
        throw new RangeError(`message ${i} (offset ${off}, length ${len}) is not within data (${data.length} bytes)`);
      }
    }
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
      // Take messages while they fit; then copy either the span of data that covers them all
      // (one copy, the usual case of records laid end to end) or, if that span is mostly gaps,
      // each message on its own.
      let j = i;
      let sum = 0;
      let lo = data.length;
      let hi = 0;
      while (j < n && j - i < MAX_BATCH) {
        const off = offsets[j]!;
        const len = lengths[j]!;
        if (len > LARGE_MESSAGE || sum + len > CHUNK_BYTES) break;
        sum += len;
        if (off < lo) lo = off;
        if (off + len > hi) hi = off + len;
        j++;
      }
      const count = j - i;
      const whole = hi - lo <= CHUNK_BYTES && hi - lo <= 2 * sum + 4096;
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
      } else {
        let pos = 0;
        for (let k = 0; k < count; k++) {
          const off = offsets[i + k]!;
          const len = lengths[i + k]!;
          mem.set(data.subarray(off, off + len), this.dataPtr + pos);
          mem32[o32 + k] = pos;
          mem32[l32 + k] = len;
          pos += len;
        }
      }
      this.wasm.hash_many(this.dataPtr, this.offsetsPtr, this.lengthsPtr, count, this.outPtr);
      out.set(mem.subarray(this.outPtr, this.outPtr + 32 * count), outOffset + 32 * i);
      i = j;
    }
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

let cached: BatchHasher | undefined;

/**
 * The thread's batch hasher, backed by the multi-buffer SHA-256 wasm module. The module is
 * compiled and instantiated synchronously on the first call (a few milliseconds) and cached;
 * later calls return the same object. Not for concurrent use from re-entrant code (there is
 * none: every call runs to completion).
 *
 * @example
 * ```ts
 * const pairs = new Uint8Array(64 * 2); // two (left, right) pairs of child hashes
 * const parents = new Uint8Array(32 * 2);
 * batchHasher().hashNodes(pairs, 2, parents);
 * ```
 */
export function batchHasher(): BatchHasher {
  cached ??= new WasmBatchHasher();
  return cached;
}
