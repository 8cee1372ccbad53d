/**
 * Time windows: validity ranges, hours of day and days of week, in UTC.
 */
import type { TimeWindow } from './types.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function hourOk(w: TimeWindow, t: number): boolean {
  if (!w.hours) return true;
  const h = (t % DAY) / HOUR;
  const { start, end } = w.hours;
  return start <= end ? h >= start && h < end : h >= start || h < end;
}

function dayOk(w: TimeWindow, t: number): boolean {
  return !w.days || w.days.length === 0 || w.days.includes(new Date(t).getUTCDay());
}

/** Whether `nowMs` falls inside the window. */
export function inWindow(w: TimeWindow, nowMs: number): boolean {
  if (w.from !== undefined && nowMs < w.from) return false;
  if (w.to !== undefined && nowMs >= w.to) return false;
  return hourOk(w, nowMs) && dayOk(w, nowMs);
}

/** The next time after `nowMs` at which the window's answer can change (undefined: never). */
export function nextEdge(w: TimeWindow, nowMs: number): number | undefined {
  const edges: number[] = [];
  if (w.from !== undefined && w.from > nowMs) edges.push(w.from);
  if (w.to !== undefined && w.to > nowMs) edges.push(w.to);
  const dayStart = nowMs - (nowMs % DAY);
  if (w.hours) {
    for (const h of [w.hours.start, w.hours.end]) {
      let t = dayStart + h * HOUR;
      if (t <= nowMs) t += DAY;
      edges.push(t);
    }
  }
  if (w.days && w.days.length > 0) edges.push(dayStart + DAY);
  return edges.length > 0 ? Math.min(...edges) : undefined;
}
