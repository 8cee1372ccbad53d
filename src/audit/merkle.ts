/**
 * The Merkle tree of RFC 6962 / RFC 9162 over the audit records: the incremental "frontier"
 * the writer keeps, proof generation over any node source, and proof verification.
 *
 * Sizes and indices are plain numbers (exact up to 2^53 records).
 *
 * @example
 * ```ts
 * const f = new Frontier();
 * for (const r of records) f.push(leafHash(r));
 * const proof = await inclusionPath(source, 3, f.size);
 * verifyInclusion(3, f.size, leafHash(records[3]), proof, f.root()); // true
 * ```
 */
import { batchHasher } from './batch-hash.js';
import { EMPTY_ROOT, equalBytes, nodeHash } from './hash.js';

/** Called for every inner node completed by {@link Frontier.push}: `level` ≥ 1, `index` at that level. */
export type NodeSink = (level: number, index: number, hash: Uint8Array) => void;

/**
 * The right edge of the tree: the roots of the perfect subtrees that cover leaves `[0, size)`,
 * largest first (one per set bit of `size`). Enough to append leaves and compute the root.
 */
export class Frontier {
  constructor(
    private readonly hashes: Uint8Array[] = [],
    private count = 0,
  ) {
    if (hashes.length !== popcount(count)) throw new RangeError(`a frontier of size ${count} has ${popcount(count)} hashes, not ${hashes.length}`);
  }

  /** Number of leaves. */
  get size(): number {
    return this.count;
  }

  /** The subtree roots, largest first (copies of the references). */
  get nodes(): readonly Uint8Array[] {
    return [...this.hashes];
  }

  /** Append a leaf hash; `onNode` sees every inner node it completes. */
  push(leaf: Uint8Array, onNode?: NodeSink): void {
    let h = leaf;
    let m = this.count;
    let level = 0;
    while (m % 2 === 1) {
      h = nodeHash(this.hashes.pop()!, h);
      m = (m - 1) / 2;
      level++;
      onNode?.(level, m, h);
    }
    this.hashes.push(h);
    this.count++;
  }

  /**
   * Append `n` leaf hashes (32 bytes each, back to back in `leaves`) at once: the same result as
   * `n` calls of {@link push}, but the inner nodes are hashed level by level in batches, four
   * at a time in SIMD lanes (see `batch-hash.ts`). `onNode` sees every completed inner node of
   * the levels that are multiples of `levelStep` (default 1: all); the others cost nothing.
   */
  pushBatch(leaves: Uint8Array, n: number, onNode?: NodeSink, levelStep = 1): void {
    if (n === 0) return;
    if (leaves.length < 32 * n) throw new RangeError(`${n} leaves need ${32 * n} bytes`);
    // The frontier by level (bit L of the size set ⇔ a root at level L).
    const byLevel: (Uint8Array | undefined)[] = [];
    let size = this.count;
    for (let level = 0, i = this.hashes.length - 1; size > 0; level++, size = Math.floor(size / 2)) {
      if (size % 2 === 1) byLevel[level] = this.hashes[i--];
    }
    const hasher = batchHasher();
    let row = leaves.subarray(0, 32 * n);
    let rowLen = n;
    let rowStart = this.count;
    for (let level = 0; rowLen > 0; level++) {
      const carry = rowStart % 2 === 1 ? byLevel[level] : undefined;
      if (carry) byLevel[level] = undefined;
      const first = carry ? 1 : 0;
      const pairs = Math.floor((rowLen - first) / 2) + first;
      const leftover = (rowLen - first) % 2 === 1;
      const buf = new Uint8Array(64 * pairs);
      let at = 0;
      if (carry) {
        buf.set(carry, 0);
        buf.set(row.subarray(0, 32), 32);
        at = 64;
      }
      buf.set(row.subarray(32 * first, 32 * (first + 2 * (pairs - first))), at);
      if (leftover) byLevel[level] = row.slice(32 * (rowLen - 1), 32 * rowLen);
      const parents = new Uint8Array(32 * pairs);
      hasher.hashNodes(buf, pairs, parents);
      const parentStart = Math.floor(rowStart / 2);
      if (onNode && (level + 1) % levelStep === 0) for (let k = 0; k < pairs; k++) onNode(level + 1, parentStart + k, parents.subarray(32 * k, 32 * k + 32));
      row = parents;
      rowLen = pairs;
      rowStart = parentStart;
    }
    this.count += n;
    this.hashes.length = 0;
    for (let level = byLevel.length - 1; level >= 0; level--) if (byLevel[level]) this.hashes.push(byLevel[level]!);
    if (this.hashes.length !== popcount(this.count)) throw new Error('internal error: frontier out of step with its size');
  }

  /** The tree head: MTH of all leaves (the empty-string hash for an empty tree). */
  root(): Uint8Array {
    return foldRoot(this.hashes);
  }

  /** An independent copy. */
  clone(): Frontier {
    return new Frontier([...this.hashes], this.count);
  }
}

/** Fold subtree roots (largest first) into the tree head. */
export function foldRoot(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return EMPTY_ROOT;
  let r = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) r = nodeHash(hashes[i]!, r);
  return r;
}

/** Number of set bits of a non-negative integer below 2^53. */
export function popcount(n: number): number {
  let c = 0;
  while (n > 0) {
    if (n % 2 === 1) c++;
    n = Math.floor(n / 2);
  }
  return c;
}

/** The perfect subtrees `[start, start + 2^level)` that make up the frontier of `size`, largest first. */
export function frontierRanges(size: number): { level: number; index: number; start: number }[] {
  const out: { level: number; index: number; start: number }[] = [];
  let start = 0;
  for (let level = 52; level >= 0; level--) {
    const width = 2 ** level;
    if (size - start >= width) {
      out.push({ level, index: start / width, start });
      start += width;
    }
  }
  return out;
}

/** Largest power of two strictly below `n` (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * Where proof generation reads hashes from. `perfect(level, index)` is the root of the perfect
 * subtree of leaves `[index·2^level, (index+1)·2^level)`; level 0 is a leaf hash.
 */
export interface NodeSource {
  perfect(level: number, index: number): Promise<Uint8Array>;
}

/** MTH of leaves `[lo, hi)` (hi > lo) from perfect subtrees. */
export async function rangeHash(src: NodeSource, lo: number, hi: number): Promise<Uint8Array> {
  const n = hi - lo;
  const level = Math.log2(n);
  if (Number.isInteger(level) && lo % n === 0) return src.perfect(level, lo / n);
  const k = split(n);
  const [l, r] = await Promise.all([rangeHash(src, lo, lo + k), rangeHash(src, lo + k, hi)]);
  return nodeHash(l, r);
}

/** RFC 6962 PATH(m, D[0:size]): the audit path of leaf `m`. */
export async function inclusionPath(src: NodeSource, m: number, size: number): Promise<Uint8Array[]> {
  if (!(Number.isSafeInteger(m) && Number.isSafeInteger(size) && m >= 0 && m < size)) throw new RangeError(`leaf ${m} is not in a tree of size ${size}`);
  const out: Uint8Array[] = [];
  const path = async (idx: number, lo: number, hi: number): Promise<void> => {
    if (hi - lo === 1) return;
    const k = split(hi - lo);
    if (idx < lo + k) {
      await path(idx, lo, lo + k);
      out.push(await rangeHash(src, lo + k, hi));
    } else {
      await path(idx, lo + k, hi);
      out.push(await rangeHash(src, lo, lo + k));
    }
  };
  await path(m, 0, size);
  return out;
}

/** RFC 6962 PROOF(m, D[0:n]): the consistency proof between tree sizes `m` and `n`. */
export async function consistencyPath(src: NodeSource, m: number, n: number): Promise<Uint8Array[]> {
  if (!(Number.isSafeInteger(m) && Number.isSafeInteger(n) && m >= 0 && m <= n)) throw new RangeError(`no consistency proof from size ${m} to size ${n}`);
  const out: Uint8Array[] = [];
  if (m === 0 || m === n) return out;
  const sub = async (mm: number, lo: number, hi: number, complete: boolean): Promise<void> => {
    const size = hi - lo;
    if (mm === size) {
      if (!complete) out.push(await rangeHash(src, lo, hi));
      return;
    }
    const k = split(size);
    if (mm <= k) {
      await sub(mm, lo, lo + k, complete);
      out.push(await rangeHash(src, lo + k, hi));
    } else {
      await sub(mm - k, lo + k, hi, false);
      out.push(await rangeHash(src, lo, lo + k));
    }
  };
  await sub(m, 0, n, true);
  return out;
}

/** RFC 9162 §2.1.3.2: whether `path` proves `leaf` is leaf `index` of the tree of `size` with head `root`. */
export function verifyInclusion(index: number, size: number, leaf: Uint8Array, path: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) return false;
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(r, root);
}

/** RFC 9162 §2.1.4.2: whether `proof` shows the tree of `size2` (head `root2`) extends the tree of `size1` (head `root1`). */
export function verifyConsistency(size1: number, size2: number, root1: Uint8Array, root2: Uint8Array, proof: readonly Uint8Array[]): boolean {
  if (!(Number.isSafeInteger(size1) && Number.isSafeInteger(size2) && size1 >= 0 && size1 <= size2)) return false;
  if (size1 === size2) return proof.length === 0 && equalBytes(root1, root2);
  if (size1 === 0) return proof.length === 0;
  const path = Number.isInteger(Math.log2(size1)) ? [root1, ...proof] : [...proof];
  if (path.length === 0) return false;
  let fn = BigInt(size1 - 1);
  let sn = BigInt(size2 - 1);
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(fr, root1) && equalBytes(sr, root2);
}
