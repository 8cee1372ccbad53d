import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { EMPTY_ROOT, leafHash, nodeHash, toHex } from './hash.js';
import { consistencyPath, foldRoot, Frontier, frontierRanges, inclusionPath, verifyConsistency, verifyInclusion, type NodeSource } from './merkle.js';

/** MTH straight from RFC 6962 §2.1, as the reference. */
function mth(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leafHash(leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** A node source over an in-memory list of leaves. */
function memSource(leaves: Uint8Array[]): NodeSource {
  return {
    perfect: async (level, index) => mth(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level)),
  };
}

const data = (n: number) => Array.from({ length: n }, (_, i) => new TextEncoder().encode(`record ${i}`));

// The leaves and roots of the Certificate Transparency reference tests for RFC 6962.
const CT_LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

describe('Merkle tree (RFC 6962)', () => {
  it('matches the Certificate Transparency reference roots', () => {
    const f = new Frontier();
    expect(toHex(f.root())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    CT_LEAVES.forEach((leaf, i) => {
      f.push(leafHash(leaf));
      expect(toHex(f.root()), `size ${i + 1}`).toBe(CT_ROOTS[i]);
    });
  });

  it('the frontier gives the same root as the recursive definition for every size to 70, and reports every inner node', () => {
    const leaves = data(70);
    const f = new Frontier();
    const nodes = new Map<string, Uint8Array>();
    expect(f.root()).toEqual(EMPTY_ROOT);
    for (let n = 1; n <= 70; n++) {
      f.push(leafHash(leaves[n - 1]!), (level, index, h) => nodes.set(`${level}:${index}`, h));
      expect(toHex(f.root())).toBe(toHex(mth(leaves.slice(0, n))));
    }
    for (const [k, h] of nodes) {
      const [level, index] = k.split(':').map(Number) as [number, number];
      expect(toHex(h)).toBe(toHex(mth(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level))));
    }
    expect(nodes.size).toBe(70 - 3); // n − popcount(n) inner nodes complete
    expect(frontierRanges(70).map((r) => r.level)).toEqual([6, 2, 1]);
    expect(toHex(foldRoot(f.nodes))).toBe(toHex(f.root()));
  });

  it('inclusion proofs verify for every leaf of every tree up to 33 leaves, and fail when anything changes', async () => {
    const leaves = data(33);
    const src = memSource(leaves);
    for (let n = 1; n <= 33; n++) {
      const root = mth(leaves.slice(0, n));
      for (let m = 0; m < n; m++) {
        const path = await inclusionPath(src, m, n);
        const leaf = leafHash(leaves[m]!);
        expect(verifyInclusion(m, n, leaf, path, root), `${m} in ${n}`).toBe(true);
        expect(verifyInclusion(m, n, leafHash(new TextEncoder().encode('forged')), path, root)).toBe(false);
        if (n > 1) {
          expect(verifyInclusion((m + 1) % n, n, leaf, path, root)).toBe(false);
          const bad = path.map((p, i) => (i === 0 ? nodeHash(p, p) : p));
          expect(verifyInclusion(m, n, leaf, bad, root)).toBe(false);
          expect(verifyInclusion(m, n, leaf, path.slice(1), root)).toBe(false);
        }
      }
    }
    await expect(inclusionPath(src, 5, 5)).rejects.toThrow(RangeError);
  });

  it('consistency proofs verify for every pair of sizes up to 33, and fail for a different history', async () => {
    const leaves = data(33);
    const src = memSource(leaves);
    const edited = leaves.map((l, i) => (i === 2 ? new TextEncoder().encode('edited') : l));
    const other = memSource(edited);
    for (let n = 1; n <= 33; n++) {
      for (let m = 1; m <= n; m++) {
        const path = await consistencyPath(src, m, n);
        const r1 = mth(leaves.slice(0, m));
        const r2 = mth(leaves.slice(0, n));
        expect(verifyConsistency(m, n, r1, r2, path), `${m} → ${n}`).toBe(true);
        if (m < n) {
          expect(verifyConsistency(m, n, r2, r1, path)).toBe(false);
          if (m > 2) {
            // A log that rewrote record 2 cannot prove it extends the old tree.
            const forged = await consistencyPath(other, m, n);
            expect(verifyConsistency(m, n, r1, mth(edited.slice(0, n)), forged)).toBe(false);
          }
        }
      }
    }
  });

  it('a leaf can never pose as an inner node: the children of a node, presented as one leaf, do not verify', async () => {
    // Tree of 4 leaves: root = H(1 || n01 || n23). An attacker claims a "record" whose bytes are
    // n01 || n23 is leaf 0 of a tree of size 1 with the same root (no domain separation would make
    // H(n01 || n23) equal the root).
    const leaves = data(4);
    const n01 = mth(leaves.slice(0, 2));
    const n23 = mth(leaves.slice(2, 4));
    const root = mth(leaves);
    const forgedRecord = new Uint8Array([...n01, ...n23]);
    expect(verifyInclusion(0, 1, leafHash(forgedRecord), [], root)).toBe(false);
    // …nor as leaf 0 of a tree of size 2 with sibling n23.
    expect(verifyInclusion(0, 2, leafHash(n01), [n23], root)).toBe(false);
    // The inner node itself is accepted only as what it is: a node, not a leaf hash of anything.
    expect(verifyInclusion(0, 2, n01, [n23], root)).toBe(true);
  });

  it('pushBatch gives the same roots and inner nodes as pushing one leaf at a time, from any starting size', () => {
    const leaves = data(300).map(leafHash);
    for (const start of [0, 1, 2, 3, 5, 8, 31, 64, 100]) {
      for (const n of [1, 2, 3, 4, 7, 16, 33, 100, 200]) {
        if (start + n > leaves.length) continue;
        const one = new Frontier();
        const batch = new Frontier();
        for (let i = 0; i < start; i++) {
          one.push(leaves[i]!);
          batch.push(leaves[i]!);
        }
        const a = new Map<string, string>();
        const b = new Map<string, string>();
        for (let i = start; i < start + n; i++) one.push(leaves[i]!, (l, x, h) => a.set(`${l}:${x}`, toHex(h)));
        const packed = new Uint8Array(32 * n);
        for (let i = 0; i < n; i++) packed.set(leaves[start + i]!, 32 * i);
        batch.pushBatch(packed, n, (l, x, h) => b.set(`${l}:${x}`, toHex(h)));
        expect(batch.size).toBe(one.size);
        expect(toHex(batch.root()), `start ${start}, n ${n}`).toBe(toHex(one.root()));
        expect(batch.nodes.map(toHex)).toEqual(one.nodes.map(toHex));
        expect(Object.fromEntries(b)).toEqual(Object.fromEntries(a));
      }
    }
  });

  it('rejects a frontier whose length does not fit its size', () => {
    expect(() => new Frontier([EMPTY_ROOT], 3)).toThrow(RangeError);
  });
});
