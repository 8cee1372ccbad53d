/**
 * Time windows (validity ranges, hours of day, days of week), evaluated in UTC.
 *
 * A window holds at instant `t` when all of its parts hold:
 * - `from ≤ t < to` (either bound optional);
 * - the UTC hour of day (fractional: 09:30 is 9.5) is in `[hours.start, hours.end)`; when
 *   `start > end` the range wraps midnight (`{ start: 22, end: 6 }` is the night);
 * - the UTC day of week of `t` is in `days` (0 = Sunday). Days and hours are checked on the
 *   same instant: with `days: [1]` and hours 22–06, Tuesday 01:00 is outside (it is Tuesday).
 *
 * An absent or empty `days` and an absent `hours` do not restrict.
 *
 * @example
 * ```ts
 * const office = { hours: { start: 9, end: 17 }, days: [1, 2, 3, 4, 5] };
 * inWindow(office, Date.UTC(2026, 10, 23, 10)); // true (a Monday, 10:00 UTC)
 * nextEdge(office, Date.UTC(2026, 10, 23, 10)); // Date.UTC(2026, 10, 23, 17)
 * ```
 */
import type { TimeWindow } from './types.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Periodic parts repeat weekly; one week and a day of edges is enough to find a change. */
const HORIZON = 8 * DAY;

const dayStart = (t: number): number => t - (((t % DAY) + DAY) % DAY);

function hourOk(w: TimeWindow, t: number): boolean {
  if (!w.hours) return true;
  const h = (t - dayStart(t)) / HOUR;
  const { start, end } = w.hours;
  return start <= end ? h >= start && h < end : h >= start || h < end;
}

function dayOk(w: TimeWindow, t: number): boolean {
  return !w.days || w.days.length === 0 || w.days.includes(new Date(t).getUTCDay());
}

/**
 * Whether `nowMs` (epoch ms) falls inside the window.
 *
 * @example
 * ```ts
 * inWindow({ from: Date.UTC(2026, 0, 1) }, Date.UTC(2025, 11, 31)); // false
 * ```
 */
export function inWindow(w: TimeWindow, nowMs: number): boolean {
  if (w.from !== undefined && nowMs < w.from) return false;
  if (w.to !== undefined && nowMs >= w.to) return false;
  return hourOk(w, nowMs) && dayOk(w, nowMs);
}

/** The first instant after `t` where an hour bound or (with `days`) a UTC midnight falls. */
function nextPeriodicEdge(w: TimeWindow, t: number): number | undefined {
  const restrictsDays = w.days !== undefined && w.days.length > 0 && new Set(w.days).size < 7;
  if (!w.hours && !restrictsDays) return undefined;
  const d = dayStart(t);
  let best = restrictsDays ? d + DAY : Infinity;
  if (w.hours) {
    for (const h of [w.hours.start, w.hours.end]) {
      let e = d + Math.round(h * HOUR);
      if (e <= t) e += DAY;
      if (e < best) best = e;
    }
  }
  return best;
}

/**
 * The first instant after `nowMs` at which {@link inWindow} gives a different answer than it
 * gives at `nowMs`, or `undefined` if it never changes. Used as a decision's `expiresAt`.
 *
 * @example
 * ```ts
 * nextEdge({ to: 2000 }, 1000); // 2000
 * nextEdge({ to: 2000 }, 3000); // undefined (closed for good)
 * nextEdge({ hours: { start: 0, end: 24 } }, 0); // undefined (always open)
 * ```
 */
export function nextEdge(w: TimeWindow, nowMs: number): number | undefined {
  if (w.to !== undefined && nowMs >= w.to) return undefined;
  const now = inWindow(w, nowMs);
  let t = nowMs;
  if (w.from !== undefined && nowMs < w.from) {
    // Closed until `from`; it opens then, or at the first periodic edge after it.
    if (inWindow(w, w.from)) return w.from;
    t = w.from;
  }
  const limit = t + HORIZON;
  for (;;) {
    const next = nextPeriodicEdge(w, t);
    // No periodic change within a week means none ever (the periodic parts repeat weekly).
    const e = next !== undefined && next <= limit ? next : undefined;
    if (w.to !== undefined && (e === undefined || w.to <= e)) return now ? w.to : undefined;
    if (e === undefined) return undefined;
    if (inWindow(w, e) !== now) return e;
    t = e;
  }
}
