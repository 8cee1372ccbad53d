/**
 * Metering settings for a component: how its core modules are rewritten before compilation
 * (fuel charges, memory and table caps) and the fuel budget of a run.
 *
 * Limits have three outcomes, stated per limit (wasmtime's `ResourceLimiter` vocabulary):
 * - **fuel** (`resourceLimits.maxFuel`, or `maxCpuTime` at {@link FUEL_PER_MS} per ms, or
 *   `--fuel`): *trap*. The instrumented code traps when the budget is spent; the run ends with
 *   `FUEL_EXHAUSTED` and the instance is discarded.
 * - **memory** (`resourceLimits.maxMemory`, default {@link DEFAULT_MAX_MEMORY}): *refuse*.
 *   Every defined linear memory's maximum is rewritten to the cap, so `memory.grow` past it
 *   returns -1 and the guest sees an ordinary out-of-memory; a module whose initial size
 *   exceeds the cap is refused at load with `MEMORY_LIMIT`.
 * - **tables** ({@link DEFAULT_MAX_TABLE_ELEMENTS}): *refuse*, like memory.
 *
 * A refused grow is counted (`countGrowRefusals`, the `agentos:limits` `refused` global the
 * fuel slicer provides), and the host records a `limit_exceeded` per run that had one
 * (`src/limits/grow-refusals.ts`).
 *
 * @example
 * ```ts
 * const m = meterFor(policy.resourceLimits);
 * const prepared = await prepareComponent(source, cacheDir, m.transform);
 * ```
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ComponentError, LimitError } from '../errors.js';
import type { ResourceLimits } from '../policy/schema.js';
import { formatBytes } from '../util/units.js';
import { InstrumentError, instrumentModule } from './wasm/instrument.js';
import { DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS } from './defaults.js';

/** Bumped whenever the instrumentation changes what it emits (instrumented modules are cached by it). */
export const METER_VERSION = 5;

/**
 * Whether the metered modules call the host's refuel function where the fuel runs out, instead
 * of trapping there (`InstrumentOptions.refuel`): the engine must then give every instance a
 * fuel slicer's imports (`createFuelSlicer`, src/limits/refuel.ts), `agentos:limits` `fuel`
 * and `refuel`. Part of the cache key.
 */
export const PREEMPTIBLE_FUEL: boolean = true;

/**
 * A short hash of the instrumenter's own code, part of the cache key too: a changed
 * instrumenter never reuses modules rewritten by an older one, even if nobody bumped
 * {@link METER_VERSION}.
 */
export const INSTRUMENTER_HASH: string = (() => {
  const h = createHash('sha256');
  for (const name of ['instrument', 'options', 'errors', 'sections', 'segments', 'hook', 'body', 'sequences', 'scan', 'loop-exit', 'leaves', 'regions', 'reader', 'opcodes', 'branch-hints', 'stop-flag', 'writer']) {
    for (const ext of ['.js', '.ts']) {
      try {
        h.update(readFileSync(new URL(`./wasm/${name}${ext}`, import.meta.url)));
        break;
      } catch {
        // Try the other extension (sources under test, built files in the package).
      }
    }
  }
  return h.digest('hex').slice(0, 12);
})();

export { DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS } from './defaults.js';

/** `maxCpuTime` converts to fuel at this rate: measured at 9–22 M per ms for C and 10–12 M for StarlingMonkey JS (bench/fuel.mjs); good to about ±2×. */
export const FUEL_PER_MS = 10_000_000;

/** No budget: the largest i64. */
export const UNLIMITED_FUEL = (1n << 63n) - 1n;

const PAGE = 65536;

/** A core-module rewrite and the cache key that names it. */
export interface ModuleTransform {
  /** Part of the cache key of the rewritten modules (the rewrite is a function of it). */
  readonly key: string;
  /** Rewrite one core module. Throws a `SandboxError` when it cannot be loaded under the caps. */
  apply(name: string, bytes: Uint8Array): Uint8Array;
}

/** The metering of one component under one policy. */
export interface Meter {
  readonly transform: ModuleTransform;
  /** Fuel per run (and for instantiation). */
  readonly fuel: bigint;
  /** Whether `fuel` is a real limit (false: unlimited, fuel is only counted). */
  readonly fuelLimited: boolean;
  readonly maxMemory: number;
}

/** The fuel budget from the limits (and a command-line override). */
export function fuelBudget(limits: ResourceLimits): { fuel: bigint; limited: boolean } {
  if (limits.maxFuel !== undefined) return { fuel: BigInt(limits.maxFuel), limited: true };
  if (limits.maxCpuTime !== undefined) return { fuel: BigInt(Math.ceil(limits.maxCpuTime)) * BigInt(FUEL_PER_MS), limited: true };
  return { fuel: UNLIMITED_FUEL, limited: false };
}

/** The meter for a policy's resource limits. */
export function meterFor(limits: ResourceLimits): Meter {
  const maxMemory = limits.maxMemory ?? DEFAULT_MAX_MEMORY;
  const pages = Math.max(0, Math.min(65536, Math.floor(maxMemory / PAGE)));
  const { fuel, limited } = fuelBudget(limits);
  const key = `m${METER_VERSION}-${INSTRUMENTER_HASH}-p${pages}-t${DEFAULT_MAX_TABLE_ELEMENTS}${PREEMPTIBLE_FUEL ? '-r' : ''}`;
  return {
    fuel,
    fuelLimited: limited,
    maxMemory,
    transform: {
      key,
      apply(name, bytes) {
        try {
          return instrumentModule(bytes, { fuel: true, refuel: PREEMPTIBLE_FUEL, countGrowRefusals: true, maxMemoryPages: pages, maxTableElements: DEFAULT_MAX_TABLE_ELEMENTS }).bytes;
        } catch (e) {
          throw meteringError(e, name, maxMemory);
        }
      },
    },
  };
}

/** An instrumenter failure as the sandbox reports it (other errors as they are). */
function meteringError(e: unknown, name: string, maxMemory: number): unknown {
  if (!(e instanceof InstrumentError)) return e;
  if (e.code === 'MEMORY_LIMIT') {
    // The instrumenter speaks in pages; the audit record and the error in bytes.
    const table = /table/.test(e.message);
    return new LimitError('MEMORY_LIMIT', `core module ${name} needs more ${table ? 'table space' : 'memory'} than allowed: ${e.message}; raise resourceLimits.maxMemory (now ${formatBytes(maxMemory)}) or --memory`, {
      limit: table ? 'tableElements' : 'maxMemory',
      allowed: table ? DEFAULT_MAX_TABLE_ELEMENTS : maxMemory,
      ...(e.requested !== undefined ? { requested: table ? e.requested : e.requested * PAGE } : {}),
      module: name,
    });
  }
  return new ComponentError(`core module ${name} cannot be metered: ${e.message}`, { module: name, reason: e.code });
}

/**
 * The wasmtime engine's metering (`native/src/meter.rs`): the same charges as {@link meterFor}'s,
 * so fuel figures are the same on both engines, in stop-flag mode (a charge that overdraws
 * traps, and the host stops a guest through a flag its loops poll) and without caps: the
 * engine's store limiter caps memories and tables per policy, so one metered artifact serves
 * every policy. {@link STOP_FLAG_METER_KEY} names it in the artifact cache.
 *
 * @example
 * ```ts
 * const metered = addon.meterComponent(bytes, (i, core) => instrumentStopFlag(`core${i}`, core));
 * ```
 */
export function instrumentStopFlag(name: string, bytes: Uint8Array): Uint8Array {
  try {
    return instrumentModule(bytes, { fuel: true, stopFlag: true }).bytes;
  } catch (e) {
    throw meteringError(e, name, DEFAULT_MAX_MEMORY);
  }
}

/** Names {@link instrumentStopFlag}'s output: part of the wasmtime engine's artifact fingerprint. */
export const STOP_FLAG_METER_KEY = `s${METER_VERSION}-${INSTRUMENTER_HASH}`;
