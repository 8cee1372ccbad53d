/**
 * What a throw out of a guest means: a limit, a trap, an `err` the agent returned, or a broken
 * component, as a serialized sandbox error and whether the instance is finished.
 */
import { ExitTrap, LimitTrap } from '../../capabilities/context.js';
import type { SerializedError } from '../../errors.js';

/** Thrown by `createCoreInstance` when a start function used up the fuel. */
export class StartFuelExhausted extends Error {
  constructor(readonly error: SerializedError) {
    super(error.message);
    this.name = 'StartFuelExhausted';
  }
}

/** Thrown when the wasmtime engine refuses a component at load (its code kept: MEMORY_LIMIT, COMPONENT_INVALID, …). */
export class NativeLoadRefused extends Error {
  constructor(readonly error: SerializedError) {
    super(error.message);
    this.name = 'NativeLoadRefused';
  }
}

/**
 * Map anything thrown out of the guest to a serialized sandbox error. `fuel` tells whether the
 * budget ran out (the instrumented code traps with `unreachable` when it does).
 */
export function classifyThrow(e: unknown, fuel?: { exhausted: boolean; budget: bigint; used?: number; stopped?: 'timeout' | 'interrupted' | undefined }): { error: SerializedError; fatal: boolean } {
  // Stopped between two fuel slices: its time ran out, or the host stopped it (the host, which
  // set the interrupt, reports its own reason: a timeout, a cancellation, a close).
  if (fuel?.stopped && e instanceof WebAssembly.RuntimeError) {
    return fuel.stopped === 'timeout'
      ? { error: { code: 'TIMEOUT', message: 'agent run exceeded its time limit; raise resourceLimits.maxExecutionTime or --timeout', details: { limit: 'maxExecutionTime' } }, fatal: true }
      : { error: { code: 'CANCELLED', message: 'agent run was stopped by the host' }, fatal: true };
  }
  if (e instanceof StartFuelExhausted) return { error: { ...e.error, message: `${e.error.message} (in its start function)` }, fatal: true };
  if (e instanceof NativeLoadRefused) return { error: e.error, fatal: true };
  if (fuel?.exhausted && e instanceof WebAssembly.RuntimeError) {
    return {
      // `requested`: what the run had consumed when the charge that crossed zero was made.
      error: { code: 'FUEL_EXHAUSTED', message: `agent used up its fuel (${fuel.budget} units); raise resourceLimits.maxFuel or --fuel`, details: { limit: 'maxFuel', allowed: Number(fuel.budget), ...(fuel.used !== undefined ? { requested: fuel.used } : {}) } },
      fatal: true,
    };
  }
  if (e instanceof LimitTrap) return { error: { code: e.code, message: e.message, details: e.details }, fatal: true };
  if (e instanceof ExitTrap) {
    return { error: { code: 'AGENT_ERROR', message: `agent exited with status ${e.status} instead of returning from run`, details: { status: e.status } }, fatal: true };
  }
  const payload = (e as { payload?: unknown } | null)?.payload;
  if (e instanceof Error && Object.hasOwn(e, 'payload') && typeof payload === 'string') {
    return { error: { code: 'AGENT_ERROR', message: payload.slice(0, 64 * 1024) }, fatal: false };
  }
  if (e instanceof WebAssembly.RuntimeError) {
    const msg = (e as Error).message;
    if (/memory/i.test(msg) && /out of|grow|allocat/i.test(msg)) {
      return { error: { code: 'MEMORY_LIMIT', message: `agent ran out of memory: ${msg}` }, fatal: true };
    }
    return { error: { code: 'AGENT_ERROR', message: `agent trapped: ${msg}` }, fatal: true };
  }
  if (e instanceof RangeError && /call stack/i.test(e.message)) {
    return { error: { code: 'AGENT_ERROR', message: 'agent trapped: call stack exhausted' }, fatal: true };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { error: { code: 'AGENT_ERROR', message: `agent failed: ${message}` }, fatal: true };
}
