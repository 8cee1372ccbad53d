/**
 * Batched SHA-256 for many small messages (audit leaves and Merkle inner nodes).
 *
 * `crypto.hash` spends ~1.5 µs per call on call overhead, whatever the input size; for the
 * 65-byte inner nodes of the Merkle tree that is nearly all of the cost. This module hashes whole
 * batches in one call into a WebAssembly SIMD128 module (src/audit/wasm/sha256.c) that runs
 * four messages at once, one per vector lane.
 *
 * Besides independent messages it hashes chains of them (`hashChained`, how the audit writer
 * seals a batch of version-2 records) and runs the audit verifier's per-record checks next to
 * the digests (`checkRecords`). Where the CPU hashes SHA-256 in hardware, those record digests
 * come from `node:crypto`, one call per record, which is faster there than four lanes of wasm
 * (see `crypto-digests.ts`); the checks run in the module either way.
 *
 * The module is instantiated synchronously on first use and cached for the thread. Inputs are
 * copied into its memory in chunks, so batches of any size work with a bounded memory (about
 * 0.6 MiB, or the largest group of records `checkRecords` was given). In `hashMany` a message
 * too long to gain from batching (over 2 KiB) goes to `node:crypto` instead.
 *
 * @example
 * ```ts
 * const h = batchHasher();
 * const data = new TextEncoder().encode('\x00first\x00second');
 * const out = new Uint8Array(64);
 * h.hashMany(data, [0, 6], [6, 7], 2, out); // leaf hashes of "first" and "second"
 * ```
 */
import { WasmBatchHasher } from './wasm-hasher.js';

export { CHAIN_TAIL } from './wasm-hasher.js';

/** What computes the record digests of {@link BatchHasher.hashChained} and {@link BatchHasher.checkRecords}. */
export type DigestSource = 'wasm' | 'crypto';

/** Hashes batches of messages; see {@link batchHasher}. */
export interface BatchHasher {
  /**
   * Where record digests come from: `'crypto'` (one `node:crypto` call per record) where the
   * CPU hashes SHA-256 in hardware, else `'wasm'` (the module's four lanes); measured once per
   * thread (see `crypto-digests.ts`). Both give the same digests; tests set it to run both.
   */
  digests: DigestSource;
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
  /**
   * SHA-256 of n chained messages, in place: message i is `data[offsets[i], offsets[i] +
   * lengths[i])`, at least {@link CHAIN_TAIL} bytes long, and its 64 bytes from `CHAIN_TAIL`
   * before its end are overwritten with the lower-case hex of the digest of message i − 1 (of
   * `prev` for message 0) before it is hashed. Writes 32·n bytes into `out`, digest i at
   * `outOffset + 32·i`. This is how version-2 audit records name the record before them (see
   * `record.ts`): all of a record but its last two or three 64-byte blocks is hashed four
   * records at a time, and only those last blocks one record after another.
   *
   * @param prev - the 32-byte digest that message 0 names.
   * @param outOffset - where the first digest goes in `out`; default 0.
   * @throws RangeError if `n` exceeds either array, a message lies outside `data`, is shorter
   *   than {@link CHAIN_TAIL} or overlaps the one before, `prev` is not 32 bytes, or `out` has
   *   no room or shares bytes with `data`; nothing is written then.
   */
  hashChained(
    data: Uint8Array,
    offsets: Uint32Array | readonly number[],
    lengths: Uint32Array | readonly number[],
    n: number,
    prev: Uint8Array,
    out: Uint8Array,
    outOffset?: number,
  ): void;
  /**
   * The per-record checks of audit verification, next to the hashing: hashes n leaf inputs
   * (`0x00 || record JSON`, message i at `data[offsets[i], offsets[i] + lengths[i])`) into `out`
   * as {@link hashMany} does, and checks that record i is of a known layout with sequence number
   * `firstSeq + i` (see `record.ts`), matches its stored hash at `data[storedAt[i], +32)` (when
   * `storedAt` is given) and names the digest of record i − 1 (of `prev` for record 0, when
   * given). Returns the index of the first record that fails, or n; the digests of the records
   * up to that one are in `out`. Each group of up to 4096 records is copied into the module as
   * one span, so the records should lie close together (a block, a chunk of an export).
   *
   * @param times - if given, receives the smallest and the largest timestamp of the records
   *   before the first that fails, and how many of them hold a timestamp that is not a plain
   *   integer (left out of the range; read those another way).
   * @throws RangeError on arguments {@link hashMany} would refuse, a stored hash outside `data`,
   *   a `prev` that is not 32 bytes, or `times` shorter than 3.
   */
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
  ): number;
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
