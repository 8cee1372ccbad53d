/**
 * "At least N events within T" per key, in bounded memory: each key keeps a ring of its last N
 * events; the rule fires when the oldest of them is within T of the newest. A key that fired
 * starts over (one alert per burst, not one per further event). At most `maxKeys` keys are kept;
 * the least recently seen is forgotten first.
 */
import type { BurstRule, MonitorEvent } from './types.js';

interface Ring {
  readonly times: number[];
  readonly events: MonitorEvent[];
  next: number;
  size: number;
}

/** Bursts of one rule, by key. */
export class Bursts {
  private readonly keys = new Map<string, Ring>();

  constructor(
    private readonly rule: BurstRule,
    private readonly maxKeys: number,
  ) {}

  /** Count one event under `key` at `time`; returns the burst's events when it completes one. */
  add(key: string, time: number, e: MonitorEvent): MonitorEvent[] | undefined {
    const n = this.rule.count;
    let r = this.keys.get(key);
    if (r) {
      // Most recently seen last: Map keeps insertion order.
      this.keys.delete(key);
    } else {
      r = { times: new Array<number>(n), events: new Array<MonitorEvent>(n), next: 0, size: 0 };
      if (this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
    }
    this.keys.set(key, r);
    r.times[r.next] = time;
    r.events[r.next] = e;
    r.next = (r.next + 1) % n;
    if (r.size < n) r.size++;
    if (r.size < n) return undefined;
    // Full: r.next is the oldest of the last n.
    if (time - r.times[r.next]! > this.rule.windowMs) return undefined;
    const burst: MonitorEvent[] = [];
    for (let i = 0; i < n; i++) burst.push(r.events[(r.next + i) % n]!);
    this.keys.delete(key);
    return burst;
  }

  /** Keys tracked now. */
  get size(): number {
    return this.keys.size;
  }
}
