import { describe, expect, it } from 'vitest';
import { Bursts } from './bursts.js';
import type { MonitorEvent } from './types.js';

const ev = (seq: number): MonitorEvent => ({ seq, event: { time: 0, agentId: 'a', type: 'capability_denied', capability: 'read_files', resource: 'file', action: 'read', target: '/x', outcome: 'denied', reason: '', api: '' } });

describe('Bursts', () => {
  it('fires at the Nth event within the window, with those N events, then starts over', () => {
    const b = new Bursts({ count: 3, windowMs: 100 }, 10);
    expect(b.add('k', 0, ev(1))).toBeUndefined();
    expect(b.add('k', 50, ev(2))).toBeUndefined();
    expect(b.add('k', 100, ev(3))?.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(b.add('k', 101, ev(4))).toBeUndefined();
  });

  it('does not fire when the N events span more than the window, and slides', () => {
    const b = new Bursts({ count: 3, windowMs: 100 }, 10);
    b.add('k', 0, ev(1));
    b.add('k', 60, ev(2));
    expect(b.add('k', 120, ev(3))).toBeUndefined();
    expect(b.add('k', 150, ev(4))?.map((e) => e.seq)).toEqual([2, 3, 4]);
  });

  it('counts keys apart and forgets the least recently seen beyond maxKeys', () => {
    const b = new Bursts({ count: 2, windowMs: 100 }, 2);
    b.add('a', 0, ev(1));
    b.add('b', 0, ev(2));
    b.add('c', 0, ev(3));
    expect(b.size).toBe(2);
    expect(b.add('a', 1, ev(4))).toBeUndefined();
    expect(b.add('c', 1, ev(5))?.map((e) => e.seq)).toEqual([3, 5]);
  });
});
