/**
 * The `limit_exceeded` records of grows the caps refused inside a guest. The memory and table
 * caps *refuse* (the guest's `memory.grow`/`table.grow` returns -1 and it goes on), so nothing
 * fails on the host: the engines count the refusals instead (jco: the instrumenter's `refused`
 * global, `wasm/hook.ts`; wasmtime: the store limiter, `native/src/state.rs`), and the host side
 * turns a run's (or a load's) counts into one record per kind.
 *
 * @example
 * ```ts
 * for (const e of growRefusalEvents({ memory: 3, table: 0 }, caps, 'run')) gate.record(e);
 * ```
 */
import type { AuditEvent } from '../gate/types.js';
import { formatBytes } from '../util/units.js';

/** Grows refused since the counter was last cleared; `*Requested` where the engine knows the size asked for. */
export interface RefusalCounts {
  readonly memory: number;
  readonly table: number;
  /** The memory's total size, bytes, that the last refused growth asked for. */
  readonly memoryRequested?: number | null | undefined;
  /** The table's size, elements, that the last refused growth asked for. */
  readonly tableRequested?: number | null | undefined;
}

/** The caps the records name as allowed. */
export interface GrowCaps {
  readonly maxMemory: number;
  readonly maxTableElements: number;
}

type RecordedEvent = Omit<AuditEvent, 'time' | 'agentId'>;

const times = (n: number): string => (n === 1 ? 'once' : `${n} times`);

/** How each kind of grow is named in its record. */
const KINDS = [
  {
    api: 'memory.grow',
    limit: 'maxMemory',
    count: (r: RefusalCounts) => r.memory,
    requested: (r: RefusalCounts) => r.memoryRequested,
    allowed: (c: GrowCaps) => c.maxMemory,
    asked: (n: number) => `${formatBytes(n)} in all`,
    cap: (c: GrowCaps) => `the agent may use ${formatBytes(c.maxMemory)} of linear memory; raise resourceLimits.maxMemory or --memory`,
  },
  {
    api: 'table.grow',
    limit: 'tableElements',
    count: (r: RefusalCounts) => r.table,
    requested: (r: RefusalCounts) => r.tableRequested,
    allowed: (c: GrowCaps) => c.maxTableElements,
    asked: (n: number) => `${n} elements`,
    cap: (c: GrowCaps) => `a table may hold ${c.maxTableElements} elements`,
  },
] as const;

/** One `limit_exceeded` event per kind with refusals (none when there were none). */
export function growRefusalEvents(r: RefusalCounts, caps: GrowCaps, phase: 'run' | 'load'): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  for (const k of KINDS) {
    const n = k.count(r);
    if (!(n > 0)) continue;
    const ask = k.requested(r);
    const requested = typeof ask === 'number' ? ask : undefined;
    events.push({
      type: 'limit_exceeded',
      capability: 'compute',
      resource: 'agent',
      action: 'grow',
      target: 'MEMORY_LIMIT',
      outcome: 'denied',
      reason: `${k.api} was refused ${times(n)} during this ${phase}${requested !== undefined ? ` (the last asked for ${k.asked(requested)})` : ''}: ${k.cap(caps)}`,
      api: k.api,
      count: n,
      details: { limit: k.limit, allowed: k.allowed(caps), ...(requested !== undefined ? { requested } : {}), refusals: n },
    });
  }
  return events;
}
