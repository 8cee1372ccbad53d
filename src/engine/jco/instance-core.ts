/**
 * Instantiating a transpiled component and calling `run`, independent of the thread it runs
 * in. The worker entry uses it; so can an in-thread instance.
 */
import type { SerializedError } from '../../errors.js';
import type { ExportCall } from './protocol.js';
import { lowerCamel } from '../../wit-exports/types.js';
import { createNativeInstance } from '../wasmtime/instance.js';
import { classifyThrow, StartFuelExhausted } from './classify.js';
import { hostSide } from './host-side.js';
import { createFuelSlicer } from '../../limits/refuel.js';
import type { CoreInstance, CoreInstanceOptions } from './core-types.js';

export { AuditAck, type CoreInstance, type CoreInstanceOptions, type NativeSettings } from './core-types.js';
export { classifyThrow, NativeLoadRefused, StartFuelExhausted } from './classify.js';

/** The exports of our world as jco exposes them. */
interface AgentExports {
  run(task: string): string;
  readonly [name: string]: unknown;
}

/** The largest i64: no fuel limit. */
const NO_LIMIT = (1n << 63n) - 1n;

/** Instantiate the component with a fresh host context. */
export async function createCoreInstance(o: CoreInstanceOptions): Promise<CoreInstance> {
  if (o.native) return createNativeInstance(o, o.native);
  const { host, flush, summarize, refusals, enter, leave, setCheckpoint } = hostSide(o);
  const mod = (await import(o.jsUrl)) as {
    instantiate: (
      get: (name: string) => WebAssembly.Module,
      imports: unknown,
      inst: (m: WebAssembly.Module, i: WebAssembly.Imports) => WebAssembly.Instance,
    ) => Promise<AgentExports> | AgentExports;
  };
  // One fuel counter for every core module of the instance: they import it. It is handed out
  // in slices; between two, the guest stops if its run is out of time or the host interrupted
  // it (a trap in its own frames: its thread and the other instances on it go on).
  const budget = o.fuel ?? NO_LIMIT;
  const interrupt = o.interrupt;
  let deadline = Infinity;
  const slicer = createFuelSlicer({ budget, check: () => (interrupt === undefined || Atomics.load(interrupt, 0) === 0) && performance.now() < deadline });
  // A guest that spends its time in host calls rarely needs a new slice: its host calls end
  // the slice once it should stop, so that its next charge stops it.
  setCheckpoint(() => {
    if ((interrupt !== undefined && Atomics.load(interrupt, 0) !== 0) || performance.now() >= deadline) slicer.preempt();
  });
  const used = (): number => slicer.used();
  const fuelState = () => ({ exhausted: slicer.exhausted(), budget, used: used(), stopped: slicer.stopped() ? (interrupt && Atomics.load(interrupt, 0) !== 0 ? ('interrupted' as const) : ('timeout' as const)) : undefined });
  let exports: AgentExports;
  // Start functions are guest code too (the thread blames the slot if it dies in one).
  enter();
  try {
    exports = await mod.instantiate(
      (name) => {
        const m = o.modules[name];
        if (!m) throw new Error(`core module ${name} missing`);
        return m;
      },
      host.imports,
      (m, i) => new WebAssembly.Instance(m, { ...i, ...slicer.imports }),
    );
  } catch (e) {
    // A start function that ran out of fuel is a limit, not a broken component.
    if (fuelState().exhausted) throw new StartFuelExhausted(classifyThrow(e, fuelState()).error);
    throw e;
  } finally {
    leave();
    refusals(slicer.refusals(), 'load');
  }
  const fuelUsedAtStart = used();
  flush();
  /** One run or call with a full fuel budget: a throw becomes its failure, and the host side settles after it. */
  const guarded = <T extends object>(body: () => T, timeoutMs: number | undefined): T | { ok: false; error: SerializedError; fatal: boolean; fuelUsed: number } => {
    host.resetRun();
    enter();
    slicer.reset();
    deadline = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    try {
      return body();
    } catch (e) {
      return { ok: false, ...classifyThrow(e, fuelState()), fuelUsed: Math.min(used(), Number(budget)) };
    } finally {
      leave();
      host.stdio.end();
      refusals(slicer.refusals(), 'run');
      summarize();
      flush();
    }
  };
  return {
    fuelUsedAtStart,
    run: (task, timeoutMs) =>
      guarded(() => {
        const output = exports.run(task);
        if (typeof output !== 'string') throw new Error('run returned a non-string');
        return { ok: true, output, fuelUsed: used() };
      }, timeoutMs),
    call: (call, timeoutMs) =>
      guarded(() => {
        const fn = exportedFunction(exports, call);
        if (!fn) return { ok: false, error: { code: 'USAGE', message: `the component exports no function ${call.interface ? `${call.interface}#` : ''}${call.name}` }, fatal: false, fuelUsed: 0 };
        try {
          const value: unknown = fn(...call.args);
          return { ok: true, value: call.returnsResult ? { tag: 'ok', val: value } : value, fuelUsed: used() };
        } catch (e) {
          // jco throws a returned `err` as an error carrying it; anything else is a trap.
          if (call.returnsResult && e instanceof Error && e.constructor.name === 'ComponentError' && Object.hasOwn(e, 'payload')) {
            return { ok: true, value: { tag: 'err', val: (e as { payload?: unknown }).payload }, fuelUsed: used() };
          }
          throw e;
        }
      }, timeoutMs),
    close() {
      host.close();
      flush();
    },
  };
}

/** The jco binding of an exported function, or undefined when the component has none by that name. */
function exportedFunction(exports: AgentExports, call: ExportCall): ((...args: unknown[]) => unknown) | undefined {
  const holder: unknown = call.interface === null ? exports : Object.hasOwn(exports, call.interface) ? exports[call.interface] : undefined;
  if (typeof holder !== 'object' || holder === null) return undefined;
  const key = lowerCamel(call.name);
  const fn: unknown = Object.hasOwn(holder, key) ? (holder as Record<string, unknown>)[key] : undefined;
  return typeof fn === 'function' ? (fn as (...args: unknown[]) => unknown) : undefined;
}

