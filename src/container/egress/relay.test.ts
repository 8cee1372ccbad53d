/**
 * The slab reader, driven the way Node drives `onread` (buffer, read into it, callback, buffer
 * again): a view handed out is never read over while something may still hold it.
 */
import { describe, expect, it } from 'vitest';
import { SlabPool, slabReader, type SlabRef } from './relay.js';

/** The reader plus a fake socket: `read(n)` fills the next buffer with a new byte value and delivers it. */
function harness(flushed?: () => boolean, pool?: SlabPool) {
  const held: { chunk: Buffer; copy: Buffer; ref: SlabRef }[] = [];
  let keep = true;
  const reader = slabReader((chunk, ref) => {
    if (keep) {
      ref.retain();
      held.push({ chunk, copy: Buffer.from(chunk), ref });
    }
    return true;
  }, flushed, pool);
  const bufferOf = reader.buffer as () => Uint8Array;
  let next = bufferOf();
  let value = 0;
  return {
    held,
    drop: (k: boolean) => (keep = !k),
    /** Read `n` bytes, or as many as the buffer takes. */
    read(n: number): Uint8Array {
      const into = next;
      n = Math.min(n, into.length);
      into.fill(++value % 256, 0, n);
      reader.callback(n, into);
      next = bufferOf();
      return into;
    },
    /** The buffer the next read goes to. */
    next: () => next,
    seal: () => reader.seal(),
    close: () => reader.close(),
    /** No held view was overwritten. */
    intact: () => held.every((h) => h.chunk.equals(h.copy)),
  };
}

const offsetIn = (u: Uint8Array): number => u.byteOffset;

describe('slabReader', () => {
  it('reads after a held chunk, never over it, and swaps slabs when one is full', () => {
    const h = harness();
    for (let i = 0; i < 40; i++) h.read(300 * 1024);
    expect(h.intact()).toBe(true);
    // 40 reads of 300 KiB are ~12 MiB: more than one 4 MiB slab was needed.
    expect(new Set(h.held.map((x) => x.chunk.buffer)).size).toBeGreaterThan(2);
  });

  it('starts with a small buffer, moves to 4 MiB slabs once a read fills it, and back after seal()', () => {
    const h = harness();
    h.drop(true);
    expect(h.next().length).toBe(16 * 1024);
    h.read(1000);
    expect(h.next().length).toBe(16 * 1024);
    h.read(1e9);
    expect(h.next().length).toBe(4 * 1024 * 1024);
    h.seal();
    h.read(10);
    expect(h.next().length).toBe(16 * 1024);
  });

  it('a released slab is read into again from its start', () => {
    const h = harness();
    h.read(1000);
    expect(offsetIn(h.next())).toBe(1000);
    h.held[0]!.ref.release();
    // Node chose the buffer for this read before the release: it goes after the first chunk.
    h.drop(true);
    h.read(10);
    expect(offsetIn(h.next())).toBe(0);
  });

  it('flushed() lets the next read start over before write callbacks ran', () => {
    let flushed = false;
    const h = harness(() => flushed);
    h.read(1000);
    expect(offsetIn(h.next())).toBe(offsetIn(h.held[0]!.chunk) + 1000);
    flushed = true;
    h.read(1000);
    expect(offsetIn(h.next())).toBe(0);
  });

  it('after seal(), flushed() no longer covers the chunks handed out before', () => {
    let flushed = false;
    const h = harness(() => flushed);
    h.read(1000);
    // The destination changes; the new one takes each chunk at once (flushed, nothing kept).
    h.seal();
    h.drop(true);
    flushed = true;
    for (let i = 0; i < 20; i++) h.read(500);
    expect(h.intact()).toBe(true);
    expect(offsetIn(h.next())).toBeGreaterThan(0);
    h.held[0]!.ref.release();
    h.read(1);
    expect(offsetIn(h.next())).toBe(0);
  });

  it('a slab the reader left goes back to the pool only once nothing queued points into it', () => {
    const pool = new SlabPool();
    const h = harness(undefined, pool);
    h.read(1e9); // fills the small buffer: slabs from here on
    h.read(1000);
    const held = h.held.at(-1)!;
    expect(held.chunk.length).toBe(1000);
    h.close();
    expect(pool.size).toBe(0);
    for (const x of h.held) x.ref.release();
    expect(pool.size).toBe(1);
    // The next connection reads into that slab instead of fresh memory.
    const next = harness(undefined, pool);
    next.drop(true);
    next.read(1e9);
    expect(next.next().buffer).toBe(held.chunk.buffer);
    expect(pool.size).toBe(0);
    pool.clear();
  });
});
