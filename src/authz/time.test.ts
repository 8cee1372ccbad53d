import { describe, expect, it } from 'vitest';
import { inWindow, nextEdge } from './time.js';
import type { TimeWindow } from './types.js';

const H = 3_600_000;
const D = 24 * H;
// 2026-11-23 is a Monday.
const MON = Date.UTC(2026, 10, 23);
const at = (dayOffset: number, hour: number): number => MON + dayOffset * D + hour * H;

/** The first instant after `now` where inWindow changes, by brute force in 1-minute steps. */
function bruteEdge(w: TimeWindow, now: number, horizon = 10 * D): number | undefined {
  const v = inWindow(w, now);
  const step = 60_000;
  let t = Math.floor(now / step) * step + step;
  for (; t <= now + horizon; t += step) if (inWindow(w, t) !== v) return t;
  return undefined;
}

describe('inWindow', () => {
  it('validity range [from, to)', () => {
    const w = { from: 1000, to: 2000 };
    expect(inWindow(w, 999)).toBe(false);
    expect(inWindow(w, 1000)).toBe(true);
    expect(inWindow(w, 1999)).toBe(true);
    expect(inWindow(w, 2000)).toBe(false);
    expect(inWindow({}, 0)).toBe(true);
  });

  it('hours [start, end), fractional, and wrapping midnight', () => {
    const office = { hours: { start: 9, end: 17.5 } };
    expect(inWindow(office, at(0, 8.99))).toBe(false);
    expect(inWindow(office, at(0, 9))).toBe(true);
    expect(inWindow(office, at(0, 17.49))).toBe(true);
    expect(inWindow(office, at(0, 17.5))).toBe(false);
    const night = { hours: { start: 22, end: 6 } };
    expect(inWindow(night, at(0, 23))).toBe(true);
    expect(inWindow(night, at(0, 2))).toBe(true);
    expect(inWindow(night, at(0, 6))).toBe(false);
    expect(inWindow(night, at(0, 12))).toBe(false);
    expect(inWindow({ hours: { start: 0, end: 24 } }, at(0, 23.99))).toBe(true);
  });

  it('days of week (0 = Sunday), checked on the same UTC instant as the hours', () => {
    const weekdays = { days: [1, 2, 3, 4, 5] };
    expect(inWindow(weekdays, at(0, 12))).toBe(true); // Monday
    expect(inWindow(weekdays, at(5, 12))).toBe(false); // Saturday
    expect(inWindow(weekdays, at(6, 12))).toBe(false); // Sunday
    const mondayNights = { days: [1], hours: { start: 22, end: 6 } };
    expect(inWindow(mondayNights, at(0, 23))).toBe(true);
    expect(inWindow(mondayNights, at(1, 1))).toBe(false); // it is Tuesday by then
    expect(inWindow({ days: [] }, at(0, 0))).toBe(true); // empty: no restriction
  });

  it('works before 1970 (negative epoch)', () => {
    expect(inWindow({ hours: { start: 9, end: 17 } }, Date.UTC(1969, 6, 20, 10))).toBe(true);
    expect(inWindow({ days: [0] }, Date.UTC(1969, 6, 20, 10))).toBe(true); // a Sunday
  });
});

describe('nextEdge', () => {
  it('validity bounds', () => {
    expect(nextEdge({ from: 1000, to: 2000 }, 500)).toBe(1000);
    expect(nextEdge({ from: 1000, to: 2000 }, 1500)).toBe(2000);
    expect(nextEdge({ from: 1000, to: 2000 }, 2500)).toBeUndefined();
    expect(nextEdge({ to: 2000 }, 0)).toBe(2000);
    expect(nextEdge({ from: 1000 }, 1500)).toBeUndefined();
    expect(nextEdge({}, 0)).toBeUndefined();
  });

  it('hours', () => {
    const office = { hours: { start: 9, end: 17 } };
    expect(nextEdge(office, at(0, 10))).toBe(at(0, 17));
    expect(nextEdge(office, at(0, 17))).toBe(at(1, 9));
    expect(nextEdge(office, at(0, 3))).toBe(at(0, 9));
    expect(nextEdge({ hours: { start: 0, end: 24 } }, at(0, 5))).toBeUndefined();
  });

  it('skips edges where the answer does not change', () => {
    // Weekdays 9–17 on Friday evening: closed until Monday 9:00.
    const w = { days: [1, 2, 3, 4, 5], hours: { start: 9, end: 17 } };
    expect(nextEdge(w, at(4, 18))).toBe(at(7, 9));
    // Weekends, all day, on Wednesday: opens Saturday 00:00 (not at the next midnight).
    expect(nextEdge({ days: [0, 6] }, at(2, 12))).toBe(at(5, 0));
    expect(nextEdge({ days: [0, 1, 2, 3, 4, 5, 6] }, at(2, 12))).toBeUndefined();
  });

  it('a window that opens later than its hours allow opens at the first hour edge after from', () => {
    const w = { from: at(2, 20), hours: { start: 9, end: 17 } };
    expect(nextEdge(w, at(0, 10))).toBe(at(3, 9));
    const w2 = { from: at(2, 10), hours: { start: 9, end: 17 } };
    expect(nextEdge(w2, at(0, 10))).toBe(at(2, 10));
  });

  it('to ends an open window; a closed one before to stays closed', () => {
    expect(nextEdge({ to: at(0, 15), hours: { start: 9, end: 17 } }, at(0, 10))).toBe(at(0, 15));
    expect(nextEdge({ to: at(0, 8), hours: { start: 9, end: 17 } }, at(0, 7))).toBeUndefined();
    expect(nextEdge({ to: at(30, 0), days: [1] }, at(0, 10))).toBe(at(1, 0));
  });

  it('matches a brute-force search on a table of windows and times', () => {
    const windows: TimeWindow[] = [
      { hours: { start: 9, end: 17 } },
      { hours: { start: 22, end: 6 } },
      { hours: { start: 8.25, end: 8.75 }, days: [3] },
      { days: [1, 3, 5] },
      { days: [6], hours: { start: 23, end: 1 } },
      { from: at(1, 13), to: at(4, 2), hours: { start: 12, end: 14 } },
      { from: at(3, 0), days: [2] },
      { to: at(2, 11.5), days: [0, 1, 2, 3, 4, 5, 6], hours: { start: 11, end: 12 } },
    ];
    for (const w of windows) {
      for (let k = 0; k < 40; k++) {
        const now = MON + Math.floor(k * 0.37 * D) + (k % 7) * 60_000;
        expect(nextEdge(w, now), `${JSON.stringify(w)} at ${new Date(now).toISOString()}`).toBe(bruteEdge(w, now));
      }
    }
  });
});
