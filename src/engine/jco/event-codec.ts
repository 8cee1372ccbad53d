/**
 * A compact encoding for batches of instance events crossing from a worker to the host thread.
 *
 * Posting an array of event objects makes the structured clone walk every object and copy
 * every string, a few microseconds per event — more than the gate decision itself. Events
 * repeat the same strings (agent id, API, capability, often the target), so a batch interns
 * its strings once and sends typed arrays of indices, which clone as a memcpy.
 */
import type { InstanceEvent, LogEvent } from '../../capabilities/context.js';
import type { AuditEvent } from '../../gate/types.js';

/** The wire form of a batch. */
export interface EncodedEvents {
  readonly strings: string[];
  /** WIDTH ints per event: kind, ten string indices (-1: absent), count (-1: absent), extras (JSON string index or -1). */
  readonly codes: Int32Array;
  readonly times: Float64Array;
  /** The gate's decision time per event, µs (NaN: none). */
  readonly costs: Float32Array;
}

const WIDTH = 13;
const AUDIT_FIELDS = ['type', 'agentId', 'capability', 'resource', 'action', 'target', 'outcome', 'reason', 'api'] as const;
const SEP = '\u0000';

/** Encode a batch (called in the worker). */
export function encodeEvents(events: readonly InstanceEvent[]): EncodedEvents {
  const strings: string[] = [];
  const index = new Map<string, number>();
  const intern = (s: string | undefined): number => {
    if (s === undefined) return -1;
    let i = index.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      index.set(s, i);
    }
    return i;
  };
  const codes = new Int32Array(events.length * WIDTH);
  const times = new Float64Array(events.length);
  const costs = new Float32Array(events.length).fill(NaN);
  events.forEach((e, n) => {
    const o = n * WIDTH;
    times[n] = e.event.time;
    if (e.kind === 'audit') {
      const a = e.event;
      if (a.elapsedUs !== undefined) costs[n] = a.elapsedUs;
      codes[o] = 0;
      for (let f = 0; f < AUDIT_FIELDS.length; f++) codes[o + 1 + f] = intern(a[AUDIT_FIELDS[f]!] as string);
      codes[o + 10] = a.matched ? intern(a.matched.join(SEP)) : -1;
      codes[o + 11] = a.count ?? -1;
      codes[o + 12] = a.actions || a.wouldDeny || a.details ? intern(JSON.stringify({ actions: a.actions, wouldDeny: a.wouldDeny, details: a.details })) : -1;
    } else {
      const l = e.event;
      codes[o] = 1;
      codes[o + 1] = intern(l.agentId);
      codes[o + 2] = intern(l.stream);
      codes[o + 3] = intern(l.level);
      codes[o + 4] = intern(l.message);
      for (let f = 5; f < WIDTH; f++) codes[o + f] = -1;
    }
  });
  return { strings, codes, times, costs };
}

/** Decode a batch (called on the host thread). */
export function decodeEvents(batch: EncodedEvents): InstanceEvent[] {
  const { strings, codes, times, costs } = batch;
  const s = (i: number) => strings[i]!;
  const out: InstanceEvent[] = [];
  for (let n = 0; n < times.length; n++) {
    const o = n * WIDTH;
    if (codes[o] === 0) {
      const event: Record<string, unknown> = { time: times[n] };
      for (let f = 0; f < AUDIT_FIELDS.length; f++) event[AUDIT_FIELDS[f]!] = s(codes[o + 1 + f]!);
      if (codes[o + 10]! >= 0) event['matched'] = s(codes[o + 10]!).split(SEP);
      if (codes[o + 11]! >= 0) event['count'] = codes[o + 11];
      if (!Number.isNaN(costs[n]!)) event['elapsedUs'] = costs[n];
      if (codes[o + 12]! >= 0) {
        const extra = JSON.parse(s(codes[o + 12]!)) as Record<string, unknown>;
        if (extra['actions'] !== undefined) event['actions'] = extra['actions'];
        if (extra['wouldDeny'] !== undefined) event['wouldDeny'] = extra['wouldDeny'];
        if (extra['details'] !== undefined) event['details'] = extra['details'];
      }
      out.push({ kind: 'audit', event: event as unknown as AuditEvent });
    } else {
      const event: LogEvent = {
        time: times[n]!,
        agentId: s(codes[o + 1]!),
        stream: s(codes[o + 2]!) as LogEvent['stream'],
        level: s(codes[o + 3]!) as LogEvent['level'],
        message: s(codes[o + 4]!),
      };
      out.push({ kind: 'log', event });
    }
  }
  return out;
}
