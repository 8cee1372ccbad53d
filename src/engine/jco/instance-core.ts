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
import type { CoreInstance, CoreInstanceOptions } from './core-types.js';

export { AuditAck, type CoreInstance, type CoreInstanceOptions, type NativeSettings } from './core-types.js';
export { classifyThrow, NativeLoadRefused, StartFuelExhausted } from './classify.js';

/** The exports of our world as jco exposes them. */
interface AgentExports {
  run(task: string): string;
  readonly [name: string]: unknown;
}

/** `WebAssembly.Global` (the TypeScript lib this project uses leaves it out). */
const WasmGlobal = (WebAssembly as unknown as { Global: new (d: { value: 'i64'; mutable: boolean }, v: bigint) => { value: bigint } }).Global;

/** The largest i64: no fuel limit. */
const NO_LIMIT = (1n << 63n) - 1n;

/** Module and field of the fuel global every instrumented core module imports. */
export const FUEL_IMPORT = Object.freeze({ module: 'agentos:limits', name: 'fuel' });

/** Instantiate the component with a fresh host context. */
export async function createCoreInstance(o: CoreInstanceOptions): Promise<CoreInstance> {
  if (o.native) return createNativeInstance(o, o.native);
  const { host, flush, summarize, enter, leave } = hostSide(o);
  const mod = (await import(o.jsUrl)) as {
    instantiate: (
      get: (name: string) => WebAssembly.Module,
      imports: unknown,
      inst: (m: WebAssembly.Module, i: WebAssembly.Imports) => WebAssembly.Instance,
    ) => Promise<AgentExports> | AgentExports;
  };
  // One fuel counter for every core module of the instance: they import it.
  const budget = o.fuel ?? NO_LIMIT;
  const fuel = new WasmGlobal({ value: 'i64', mutable: true }, budget);
  const used = (): number => Number(budget - fuel.value);
  const fuelState = () => ({ exhausted: fuel.value < 0n, budget, used: used() });
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
      (m, i) => new WebAssembly.Instance(m, { ...i, [FUEL_IMPORT.module]: { [FUEL_IMPORT.name]: fuel } }),
    );
  } catch (e) {
    // A start function that ran out of fuel is a limit, not a broken component.
    if (fuelState().exhausted) throw new StartFuelExhausted(classifyThrow(e, fuelState()).error);
    throw e;
  } finally {
    leave();
  }
  const fuelUsedAtStart = used();
  flush();
  /** One run or call with a full fuel budget: a throw becomes its failure, and the host side settles after it. */
  const guarded = <T extends object>(body: () => T): T | { ok: false; error: SerializedError; fatal: boolean; fuelUsed: number } => {
    host.resetRun();
    enter();
    fuel.value = budget;
    try {
      return body();
    } catch (e) {
      return { ok: false, ...classifyThrow(e, fuelState()), fuelUsed: Math.min(used(), Number(budget)) };
    } finally {
      leave();
      host.stdio.end();
      summarize();
      flush();
    }
  };
  return {
    fuelUsedAtStart,
    run: (task) =>
      guarded(() => {
        const output = exports.run(task);
        if (typeof output !== 'string') throw new Error('run returned a non-string');
        return { ok: true, output, fuelUsed: used() };
      }),
    call: (call) =>
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
      }),
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

