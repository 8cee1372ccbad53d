import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchHasher, CHAIN_TAIL, type DigestSource } from './batch-hash.js';
import { encodeRecord } from './record.js';
import { SHA256_WASM_BASE64 } from './wasm/sha256-wasm.js';
import { needs } from '../../test/helpers/requirements.js';
import { skipUnless } from '../../test/helpers/skip.js';

const sha = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

/** Deterministic bytes (xorshift32), so a failure reproduces. */
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A deterministic integer generator in [0, n). */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** Checks that out holds, from outOffset on, the SHA-256 of each described message. */
function expectDigests(out: Uint8Array, data: Uint8Array, offsets: ArrayLike<number>, lengths: ArrayLike<number>, n: number, outOffset = 0): void {
  for (let i = 0; i < n; i++) {
    const want = sha(data.subarray(offsets[i]!, offsets[i]! + lengths[i]!));
    const got = Buffer.from(out.subarray(outOffset + 32 * i, outOffset + 32 * i + 32));
    if (!got.equals(want)) expect.fail(`message ${i} (offset ${offsets[i]}, length ${lengths[i]}): ${got.toString('hex')} != ${want.toString('hex')}`);
  }
}

/** Lays messages of the given lengths end to end in one buffer and hashes them in one call. */
function hashLengths(lengths: number[], seed = 7): void {
  const offsets: number[] = [];
  let total = 0;
  for (const len of lengths) {
    offsets.push(total);
    total += len;
  }
  const data = bytes(total, seed);
  const out = new Uint8Array(32 * lengths.length);
  batchHasher().hashMany(data, offsets, lengths, lengths.length, out);
  expectDigests(out, data, offsets, lengths, lengths.length);
}

function nodeRef(pairs: Uint8Array, i: number): Buffer {
  return sha(Buffer.concat([Buffer.from([1]), pairs.subarray(64 * i, 64 * i + 64)]));
}

describe('batchHasher().hashMany', () => {
  it('matches node:crypto for every length from 0 to 600, in one batch and one by one', () => {
    const lengths = Array.from({ length: 601 }, (_, i) => i);
    hashLengths(lengths);
    hashLengths([...lengths].reverse(), 3);
    for (const len of lengths) hashLengths([len], len + 1);
  });

  it('matches node:crypto for longer messages, alone and mixed with short ones', () => {
    for (const len of [1000, 2047, 2048, 2049, 4096, 65537]) hashLengths([len]);
    hashLengths([65537, 3, 4096, 1000, 55, 56, 64, 2048, 2049, 0]);
  });

  it('handles batches of mixed lengths whose size is not a multiple of 4', () => {
    const next = rng(42);
    for (const n of [1, 2, 3, 5, 7, 1001]) hashLengths(Array.from({ length: n }, () => next(700)), n);
  });

  it('reads messages at random, overlapping offsets in one shared buffer', () => {
    const data = bytes(10_000, 5);
    const next = rng(9);
    const n = 2003;
    const offsets = new Uint32Array(n);
    const lengths = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      lengths[i] = next(300);
      offsets[i] = next(data.length - lengths[i]! + 1);
    }
    const out = new Uint8Array(32 * n);
    batchHasher().hashMany(data, offsets, lengths, n, out);
    expectDigests(out, data, offsets, lengths, n);
  });

  it('copies scattered messages one by one when the span between them is mostly gaps', () => {
    const data = bytes(3 << 20, 11);
    const next = rng(13);
    const n = 100;
    const lengths = Array.from({ length: n }, () => next(200));
    const offsets = lengths.map((len) => next(data.length - len + 1));
    const out = new Uint8Array(32 * n);
    batchHasher().hashMany(data, offsets, lengths, n, out);
    expectDigests(out, data, offsets, lengths, n);
  });

  it('hashes only the first n messages and writes at outOffset', () => {
    const data = bytes(500);
    const out = new Uint8Array(5 + 32 * 3 + 7).fill(0xee);
    batchHasher().hashMany(data, [0, 10, 200, 300], [10, 190, 100, 50], 3, out, 5);
    expectDigests(out, data, [0, 10, 200], [10, 190, 100], 3, 5);
    expect([...out.subarray(0, 5)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee]);
    expect([...out.subarray(5 + 96)]).toEqual(Array(7).fill(0xee));
  });

  it('handles n = 0 and subarray views with a byte offset', () => {
    const out = new Uint8Array(0);
    batchHasher().hashMany(new Uint8Array(0), [], [], 0, out);
    const backing = bytes(1000);
    const data = backing.subarray(3, 900);
    const target = new Uint8Array(200).subarray(7, 7 + 64);
    batchHasher().hashMany(data, [1, 100], [99, 797], 2, target);
    expectDigests(target, data, [1, 100], [99, 797], 2);
  });

  it('is correct when out overlaps the input', () => {
    const buf = bytes(4096, 17);
    const copy = buf.slice();
    // Message 0 is long, so it is hashed on its own first; its digest lands on message 1.
    const offsets = [1000, 0, 64, 3000];
    const lengths = [3000, 64, 900, 1000];
    batchHasher().hashMany(buf, offsets, lengths, 4, buf);
    expectDigests(buf, copy, offsets, lengths, 4);
  });

  it('splits large batches into chunks, growing the module memory (results unchanged)', () => {
    const next = rng(77);
    // More messages than one call takes (4096) and more bytes than one chunk (256 KiB).
    hashLengths(Array.from({ length: 10_000 }, () => next(400)), 21);
    hashLengths(Array.from({ length: 1500 }, () => 1500 + next(548)), 22);
    // Afterwards small batches still work.
    hashLengths([1, 2, 3]);
  });

  it('rejects bad arguments with RangeError and writes nothing', () => {
    const h = batchHasher();
    const data = bytes(100);
    const out = new Uint8Array(64).fill(0xaa);
    expect(() => h.hashMany(data, [0, 90], [10, 11], 2, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0, 101], [10, 0], 2, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [-1, 0], [1, 1], 2, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0.5, 0], [1, 1], 2, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0, 0], [1, -1], 2, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0, 0], [1, NaN], 2, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0], [1, 1], 2, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0, 0], [1], 2, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0, 0, 0], [1, 1, 1], 3, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0, 0], [1, 1], 2, out, 1)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0, 0], [1, 1], 2, out, -1)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0, 0], [1, 1], -1, out)).toThrow(RangeError);
    expect(() => h.hashMany(data, [0, 0], [1, 1], 1.5, out)).toThrow(RangeError);
    expect(out.every((b) => b === 0xaa)).toBe(true);
  });
});

describe('batchHasher().hashNodes', () => {
  it('matches SHA-256(0x01 || left || right) for n = 0..20', () => {
    const pairs = bytes(64 * 20, 3);
    for (let n = 0; n <= 20; n++) {
      const out = new Uint8Array(32 * n + 32).fill(0x55);
      batchHasher().hashNodes(pairs, n, out);
      for (let i = 0; i < n; i++) expect(Buffer.from(out.subarray(32 * i, 32 * i + 32)).equals(nodeRef(pairs, i))).toBe(true);
      expect(out.subarray(32 * n).every((b) => b === 0x55)).toBe(true);
    }
  });

  it('matches for 10,000 random pairs (several calls into wasm) and writes at outOffset', () => {
    const n = 10_000;
    const pairs = bytes(64 * n, 99);
    const out = new Uint8Array(3 + 32 * n);
    batchHasher().hashNodes(pairs, n, out, 3);
    for (let i = 0; i < n; i++) {
      if (!Buffer.from(out.subarray(3 + 32 * i, 3 + 32 * i + 32)).equals(nodeRef(pairs, i))) expect.fail(`node ${i}`);
    }
  });

  it('agrees with hashMany over the same 65-byte messages, including when out overlaps pairs', () => {
    const n = 9;
    const pairs = bytes(64 * n, 4);
    const msgs = new Uint8Array(65 * n);
    for (let i = 0; i < n; i++) {
      msgs[65 * i] = 1;
      msgs.set(pairs.subarray(64 * i, 64 * i + 64), 65 * i + 1);
    }
    const a = new Uint8Array(32 * n);
    batchHasher().hashMany(msgs, Array.from({ length: n }, (_, i) => 65 * i), Array(n).fill(65), n, a);
    batchHasher().hashNodes(pairs, n, pairs); // in place: parents over their children
    expect(Buffer.from(pairs.subarray(0, 32 * n)).equals(Buffer.from(a))).toBe(true);
  });

  it('rejects bad arguments with RangeError', () => {
    const h = batchHasher();
    expect(() => h.hashNodes(new Uint8Array(127), 2, new Uint8Array(64))).toThrow(RangeError);
    expect(() => h.hashNodes(new Uint8Array(128), 2, new Uint8Array(63))).toThrow(RangeError);
    expect(() => h.hashNodes(new Uint8Array(128), 2, new Uint8Array(64), 1)).toThrow(RangeError);
    expect(() => h.hashNodes(new Uint8Array(128), -1, new Uint8Array(64))).toThrow(RangeError);
  });
});

/** Hashes chained messages the slow way: write the previous digest's hex, then SHA-256, in turn. */
function chainReference(data: Uint8Array, offsets: readonly number[], lengths: readonly number[], prev: Uint8Array): { data: Buffer; digests: Buffer } {
  const copy = Buffer.from(data);
  const digests = Buffer.alloc(32 * offsets.length);
  let pv: Buffer = Buffer.from(prev);
  offsets.forEach((off, i) => {
    copy.write(pv.toString('hex'), off + lengths[i]! - CHAIN_TAIL, 'latin1');
    pv = sha(copy.subarray(off, off + lengths[i]!));
    pv.copy(digests, 32 * i);
  });
  return { data: copy, digests };
}

/** Messages of the given lengths with `gap` bytes before each; returns the layout. */
function layout(lengths: number[], gap: (i: number) => number, seed: number): { data: Uint8Array; offsets: number[] } {
  const offsets: number[] = [];
  let total = 0;
  lengths.forEach((len, i) => {
    total += gap(i);
    offsets.push(total);
    total += len;
  });
  return { data: bytes(total, seed), offsets };
}

describe.each(['wasm', 'crypto'] as const)('batchHasher().hashChained (%s digests)', (source) => {
  const saved = batchHasher().digests;
  beforeAll(() => void (batchHasher().digests = source));
  afterAll(() => void (batchHasher().digests = saved));

  it('matches writing each link and hashing with node:crypto, for every tail position (lengths 66..400)', () => {
    const lengths = Array.from({ length: 335 }, (_, i) => 66 + i);
    for (const gap of [() => 0, (i: number) => 36 + (i % 5)]) {
      const { data, offsets } = layout(lengths, gap, 3);
      const prev = bytes(32, 9);
      const want = chainReference(data, offsets, lengths, prev);
      const out = new Uint8Array(32 * lengths.length);
      batchHasher().hashChained(data, offsets, lengths, lengths.length, prev, out);
      expect(Buffer.from(out).equals(want.digests)).toBe(true);
      expect(Buffer.from(data).equals(want.data)).toBe(true); // the links were written in place
    }
  });

  it('chains across calls into wasm (thousands of records, long ones, scattered ones) and writes at outOffset', () => {
    const next = rng(11);
    const lengths = Array.from({ length: 5000 }, () => (next(50) === 0 ? 2000 + next(20_000) : 66 + next(900)));
    for (const gap of [() => 0, () => 5000]) {
      const { data, offsets } = layout(lengths, gap, 5);
      const prev = bytes(32, 2);
      const want = chainReference(data, offsets, lengths, prev);
      const out = new Uint8Array(32 * lengths.length + 64);
      batchHasher().hashChained(data, new Uint32Array(offsets), new Uint32Array(lengths), lengths.length, prev, out, 64);
      expect(Buffer.from(out.subarray(64)).equals(want.digests)).toBe(true);
      expect(Buffer.from(data).equals(want.data)).toBe(true);
    }
  });

  it('hashes only the first n messages and leaves the rest of data alone', () => {
    const lengths = [100, 200, 300];
    const { data, offsets } = layout(lengths, () => 0, 4);
    const before = Buffer.from(data);
    const out = new Uint8Array(64);
    batchHasher().hashChained(data, offsets, lengths, 2, new Uint8Array(32), out);
    const want = chainReference(before, offsets.slice(0, 2), lengths.slice(0, 2), new Uint8Array(32));
    expect(Buffer.from(out).equals(want.digests)).toBe(true);
    expect(Buffer.from(data.subarray(300)).equals(before.subarray(300))).toBe(true);
    batchHasher().hashChained(data, offsets, lengths, 0, new Uint8Array(32), new Uint8Array(0));
  });

  it('rejects bad arguments with RangeError and writes nothing', () => {
    const data = bytes(400, 1);
    const before = Buffer.from(data);
    const out = new Uint8Array(96);
    const h = batchHasher();
    const prev = new Uint8Array(32);
    expect(() => h.hashChained(data, [0], [65], 1, prev, out)).toThrow(RangeError); // shorter than the link
    expect(() => h.hashChained(data, [0, 50], [100, 100], 2, prev, out)).toThrow(RangeError); // overlapping
    expect(() => h.hashChained(data, [100, 0], [100, 100], 2, prev, out)).toThrow(RangeError); // out of order
    expect(() => h.hashChained(data, [350], [100], 1, prev, out)).toThrow(RangeError); // past the end
    expect(() => h.hashChained(data, [0], [100], 1, new Uint8Array(31), out)).toThrow(RangeError);
    expect(() => h.hashChained(data, [0], [100], 1, prev, new Uint8Array(31))).toThrow(RangeError);
    expect(() => h.hashChained(data, [0], [100], 1, prev, data.subarray(200, 232))).toThrow(RangeError);
    expect(Buffer.from(data).equals(before)).toBe(true);
    expect(out.every((b) => b === 0)).toBe(true);
  });
});

describe('batchHasher().checkRecords', () => {
  /** Version-2 leaf inputs (0x00 || record JSON) laid out like a block: stored hash, then input. */
  function chainedRecords(n: number, firstSeq: number, prev: Uint8Array): { data: Uint8Array; inputAt: number[]; inputLength: number[]; hashAt: number[] } {
    const inputs = Array.from({ length: n }, (_, i) =>
      Buffer.from('\0' + encodeRecord(firstSeq + i, '0'.repeat(64), { eventType: 'capability_used', agentId: `agent-${i % 3}`, source: 'gate', action: 'read', resource: `/w/${'x'.repeat(i * 7)}`, outcome: 'success', details: { i } }, 1000 + i)),
    );
    const hashAt: number[] = [];
    const inputAt: number[] = [];
    let total = 0;
    for (const b of inputs) {
      hashAt.push(total);
      inputAt.push(total + 32);
      total += 32 + b.length;
    }
    const data = new Uint8Array(total);
    inputs.forEach((b, i) => data.set(b, inputAt[i]!));
    const inputLength = inputs.map((b) => b.length);
    const leaves = new Uint8Array(32 * n);
    batchHasher().hashChained(data, inputAt, inputLength, n, prev, leaves);
    hashAt.forEach((at, i) => data.set(leaves.subarray(32 * i, 32 * i + 32), at));
    return { data, inputAt, inputLength, hashAt };
  }

  it('gives the same digests and finds the same first bad record whichever computes the digests', () => {
    const h = batchHasher();
    const saved = h.digests;
    const prev = bytes(32, 5);
    const n = 300;
    const { data, inputAt, inputLength, hashAt } = chainedRecords(n, 40, prev);
    const flip = (d: Uint8Array, at: number) => void d.set([d[at]! ^ 1], at);
    const edits: [string, (d: Uint8Array) => void][] = [
      ['intact', () => undefined],
      ['a byte of record 123', (d) => flip(d, inputAt[123]! + 60)],
      ['the stored hash of record 7', (d) => flip(d, hashAt[7]! + 3)],
      ['the link of record 250', (d) => flip(d, inputAt[250]! + inputLength[250]! - 10)],
      ['the sequence number of record 0', (d) => (d[inputAt[0]! + 15] = 0x39)],
    ];
    try {
      for (const [what, edit] of edits) {
        const results = (['wasm', 'crypto'] as DigestSource[]).map((source) => {
          h.digests = source;
          const copy = data.slice();
          edit(copy);
          const out = new Uint8Array(32 * n);
          const times = new Float64Array(3);
          const bad = h.checkRecords(copy, inputAt, inputLength, n, hashAt, prev, 40, out, times);
          return { bad, digests: Buffer.from(out.subarray(0, 32 * Math.min(n, bad + 1))).toString('hex'), times: [...times] };
        });
        expect(results[1], what).toEqual(results[0]);
        expect(results[0]!.bad, what).toBe({ intact: n, 'a byte of record 123': 123, 'the stored hash of record 7': 7, 'the link of record 250': 250, 'the sequence number of record 0': 0 }[what]);
      }
    } finally {
      h.digests = saved;
    }
  });
});

describe('the wasm module', () => {
  it('is cached: batchHasher() returns one instance', () => {
    expect(batchHasher()).toBe(batchHasher());
  });

  // batchHasher() sends messages over 2 KiB to node:crypto; this drives the C code directly so
  // its multi-block path is checked on long messages too.
  it('hashes long messages itself when called directly', () => {
    const exports = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(SHA256_WASM_BASE64, 'base64'))).exports as unknown as {
      memory: WebAssembly.Memory;
      heap_base(): number;
      hash_many(data: number, offsets: number, lengths: number, n: number, out: number): void;
    };
    const lengths = [65537, 4096, 1000, 3, 130, 8191];
    const total = lengths.reduce((a, b) => a + b, 0);
    const base = (exports.heap_base() + 15) & ~15;
    const [offsetsPtr, lengthsPtr, outPtr, dataPtr] = [base, base + 64, base + 128, base + 128 + 32 * lengths.length];
    exports.memory.grow(Math.ceil((dataPtr + total + 64) / 65536));
    const data = bytes(total, 8);
    const mem = new Uint8Array(exports.memory.buffer);
    mem.set(data, dataPtr);
    const offsets = lengths.map((_, i) => lengths.slice(0, i).reduce((a, b) => a + b, 0));
    new Uint32Array(exports.memory.buffer, offsetsPtr, lengths.length).set(offsets);
    new Uint32Array(exports.memory.buffer, lengthsPtr, lengths.length).set(lengths);
    exports.hash_many(dataPtr, offsetsPtr, lengthsPtr, lengths.length, outPtr);
    expectDigests(mem.subarray(outPtr), data, offsets, lengths, lengths.length);
  });

  it('is what scripts/build-sha256-wasm.mjs builds from sha256.c (byte for byte)', (ctx) => {
    skipUnless(ctx, needs.clang());
    const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const tmp = mkdtempSync(join(tmpdir(), 'sha256-wasm-test-'));
    try {
      const output = join(tmp, 'sha256-wasm.ts');
      const run = spawnSync(process.execPath, [join(root, 'scripts', 'build-sha256-wasm.mjs'), output], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expect(readFileSync(output, 'utf8')).toBe(readFileSync(join(root, 'src', 'audit', 'wasm', 'sha256-wasm.ts'), 'utf8'));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
