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

/** One `limit_exceeded` event per kind with refusals (none when there were none). */
export function growRefusalEvents(r: RefusalCounts, caps: GrowCaps, phase: 'run' | 'load'): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  if (r.memory > 0) {
    const requested = typeof r.memoryRequested === 'number' ? r.memoryRequested : undefined;
    events.push({
      type: 'limit_exceeded',
      capability: 'compute',
      resource: 'agent',
      action: 'grow',
      target: 'MEMORY_LIMIT',
      outcome: 'denied',
      reason: `memory.grow was refused ${times(r.memory)} during this ${phase}${requested !== undefined ? ` (the last asked for ${formatBytes(requested)} in all)` : ''}: the agent may use ${formatBytes(caps.maxMemory)} of linear memory; raise resourceLimits.maxMemory or --memory`,
      api: 'memory.grow',
      count: r.memory,
      details: { limit: 'maxMemory', allowed: caps.maxMemory, ...(requested !== undefined ? { requested } : {}), refusals: r.memory },
    });
  }
  if (r.table > 0) {
    const requested = typeof r.tableRequested === 'number' ? r.tableRequested : undefined;
    events.push({
      type: 'limit_exceeded',
      capability: 'compute',
      resource: 'agent',
      action: 'grow',
      target: 'MEMORY_LIMIT',
      outcome: 'denied',
      reason: `table.grow was refused ${times(r.table)} during this ${phase}${requested !== undefined ? ` (the last asked for ${requested} elements)` : ''}: a table may hold ${caps.maxTableElements} elements`,
      api: 'table.grow',
      count: r.table,
      details: { limit: 'tableElements', allowed: caps.maxTableElements, ...(requested !== undefined ? { requested } : {}), refusals: r.table },
    });
  }
  return events;
}
