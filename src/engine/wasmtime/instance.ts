/**
 * An agent instance on the wasmtime addon, behind the same host side (gate, capabilities) as
 * on jco: the addon calls our imports through `dispatch.ts`.
 */
import { ErrorCodes, type ErrorCode, type SerializedError } from '../../errors.js';
import { formatBytes } from '../../util/units.js';
import { loadWasmtimeAddon, type NativeComponent, type NativeEngine, type NativeInstance } from './addon.js';
import { nativeHost, ResourceTable } from './dispatch.js';
import { WORKER_ENGINE_OPTIONS } from './prepare.js';
import { classifyThrow, NativeLoadRefused, StartFuelExhausted } from '../jco/classify.js';
import { hostSide } from '../jco/host-side.js';
import type { CoreInstance, CoreInstanceOptions, NativeSettings } from '../jco/core-types.js';

/** One wasmtime engine per agent thread, shared by its instances (a component compiled once is kept for all). */
let nativeEngine: NativeEngine | undefined;

/**
 * Compiled components this thread instantiated lately, newest last: a compiled component keeps
 * its linker and pre-instantiation, so the next instance of the same agent skips both (about
 * 20 µs of a 60 µs start). A baseline-tier component is not kept: its next instance should
 * pick up the optimized code once the background compile lands.
 */
const recentComponents = new Map<string, NativeComponent>();
const RECENT_COMPONENTS = 32;

function compiledComponent(engine: NativeEngine, n: NativeSettings): NativeComponent {
  const key = `${n.hash}\0${n.cacheDir}`;
  const hit = recentComponents.get(key);
  if (hit) {
    recentComponents.delete(key);
    recentComponents.set(key, hit);
    return hit;
  }
  const component = engine.compileComponent(n.bytes, n.cacheDir, n.hash);
  if (component.tier !== 'baseline') {
    recentComponents.set(key, component);
    if (recentComponents.size > RECENT_COMPONENTS) recentComponents.delete(recentComponents.keys().next().value!);
  }
  return component;
}

/** A thrown addon error (`code`, `fuelConsumed`, `limit`, `requested`) as a sandbox error; anything else as on jco. */
function classifyNative(e: unknown, budget: bigint | undefined, n: NativeSettings): { error: SerializedError; fatal: boolean; fuelUsed: number } {
  const x = e as { code?: unknown; fuelConsumed?: unknown; message?: unknown; limit?: unknown; requested?: unknown } | null;
  const fuelUsed = typeof x?.fuelConsumed === 'number' ? x.fuelConsumed : 0;
  if (e instanceof Error && typeof x?.code === 'string' && (ErrorCodes as readonly string[]).includes(x.code)) {
    const code = x.code as ErrorCode;
    if (code === 'FUEL_EXHAUSTED') {
      return { error: { code, message: `agent used up its fuel (${budget} units); raise resourceLimits.maxFuel or --fuel`, details: { limit: 'maxFuel', allowed: Number(budget), requested: fuelUsed } }, fatal: true, fuelUsed };
    }
    if (code === 'MEMORY_LIMIT') {
      const requested = typeof x.requested === 'number' ? { requested: x.requested } : {};
      const error: SerializedError =
        x.limit === 'tableElements'
          ? { code, message: `agent needs more table space than allowed (${n.tableElements} elements per table): ${e.message}`, details: { limit: 'tableElements', allowed: n.tableElements, ...requested } }
          : { code, message: `agent needs more memory than allowed: ${e.message}; raise resourceLimits.maxMemory (now ${formatBytes(n.memoryBytes)}) or --memory`, details: { limit: 'maxMemory', allowed: n.memoryBytes, ...requested } };
      return { error, fatal: true, fuelUsed };
    }
    // A call refused for its arguments (USAGE) left the instance as it was.
    return { error: { code, message: code === 'AGENT_ERROR' ? `agent trapped: ${e.message}` : e.message }, fatal: code !== 'USAGE', fuelUsed };
  }
  return { ...classifyThrow(e), fuelUsed };
}

/** Instantiate the component on the wasmtime addon, behind the same host side as on jco. */
export function createNativeInstance(o: CoreInstanceOptions, n: NativeSettings): CoreInstance {
  const { host, flush, summarize, refusals, enter, leave } = hostSide(o);
  nativeEngine ??= new (loadWasmtimeAddon().Engine)(WORKER_ENGINE_OPTIONS);
  const engine = nativeEngine;
  const table = new ResourceTable();
  const limits = { memoryBytes: n.memoryBytes, tableElements: n.tableElements, timeoutMs: n.timeoutMs, ...(o.fuel !== undefined ? { fuel: o.fuel } : {}) };
  let inst: NativeInstance;
  enter();
  try {
    const component = compiledComponent(engine, n);
    const interrupt = n.interrupt ? { interrupt: new Int32Array(n.interrupt) } : {};
    inst = engine.instantiateWithHost(component, limits, nativeHost(host.imports, table), { jcoResults: true, ...interrupt });
  } catch (e) {
    const c = classifyNative(e, o.fuel, n);
    if (c.error.code === 'FUEL_EXHAUSTED') throw new StartFuelExhausted(c.error);
    if (c.error.code !== 'AGENT_ERROR') throw new NativeLoadRefused(c.error);
    throw e;
  } finally {
    leave();
  }
  refusals(inst.refusals, 'load');
  flush();
  /** One run or call: a thrown addon error becomes its failure, and the host side settles after it. */
  const guarded = <T extends object>(body: () => T): T | { ok: false; error: SerializedError; fatal: boolean; fuelUsed: number } => {
    host.resetRun();
    enter();
    try {
      return body();
    } catch (e) {
      const c = classifyNative(e, o.fuel, n);
      return { ok: false, error: c.error, fatal: c.fatal, fuelUsed: c.fuelUsed };
    } finally {
      leave();
      host.stdio.end();
      refusals(inst.refusals, 'run');
      summarize();
      flush();
    }
  };
  return {
    fuelUsedAtStart: 0,
    run: (task, timeoutMs) =>
      guarded(() => {
        const r = engine.run(inst, task, timeoutMs);
        if ('ok' in r) return { ok: true, output: r.ok, fuelUsed: r.fuelConsumed };
        return { ok: false, error: { code: 'AGENT_ERROR', message: r.err.slice(0, 64 * 1024) }, fatal: false, fuelUsed: r.fuelConsumed };
      }),
    call: (call, timeoutMs) =>
      guarded(() => {
        const r = engine.call(inst, call.interface, call.name, [...call.args], timeoutMs);
        return { ok: true, value: r.value, fuelUsed: r.fuelConsumed };
      }),
    close() {
      inst.dispose();
      table.clear();
      host.close();
      flush();
    },
  };
}
