import { describe, expect, it } from 'vitest';
import { BatchQueue } from './queue.js';

describe('BatchQueue', () => {
  it('gives items back in order, in batches of at most max, across compactions', () => {
    const q = new BatchQueue<number>();
    let pushed = 0;
    let taken = 0;
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < (round % 7) * 300; i++) q.push(pushed++);
      const batch = q.take(512);
      expect(batch.length).toBe(Math.min(512, pushed - taken));
      batch.forEach((x, i) => expect(x).toBe(taken + i));
      taken += batch.length;
      expect(q.length).toBe(pushed - taken);
    }
    while (q.length > 0) taken += q.take(1000).length;
    expect(taken).toBe(pushed);
    expect(q.take(10)).toEqual([]);
  });

  it('clear drops everything', () => {
    const q = new BatchQueue<string>();
    q.push('a');
    q.push('b');
    q.clear();
    expect(q.length).toBe(0);
    q.push('c');
    expect(q.take(5)).toEqual(['c']);
  });
});
