/**
 * Instantiating a transpiled component and calling `run`, independent of the thread it runs
 * in. The worker entry uses it; so can an in-thread instance.
 */
import { ExitTrap, LimitTrap, type HostContext, type InstanceEvent } from '../../capabilities/context.js';
import { Gate, type GateAuth, type GatePolicy } from '../../gate/gate.js';
import { AuthState, authStateReason } from '../../sandbox/agent-identity.js';
import { QuotaLedger, type QuotaPolicy } from '../../limits/quota.js';
import { ErrorCodes, type ErrorCode, type SerializedError } from '../../errors.js';
import { loadWasmtimeAddon, type NativeEngine, type NativeInstance } from '../wasmtime/addon.js';
import { nativeHost, ResourceTable } from '../wasmtime/dispatch.js';
import { WORKER_ENGINE_OPTIONS } from '../wasmtime/prepare.js';
import type { AuditEvent } from '../../gate/types.js';
import type { RpcClient } from './rpc.js';
import type { ExportCall } from './protocol.js';
import { lowerCamel } from '../../wit-exports/types.js';
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { buildHostImports, type HostImports } from './host.js';
import type { HostCaps } from '../../capabilities/context.js';
import { formatBytes } from '../../util/units.js';

/** The exports of our world as jco exposes them. */
interface AgentExports {
  run(task: string): string;
  readonly [name: string]: unknown;
}

/** Options for {@link createCoreInstance}. */
export interface CoreInstanceOptions {
  readonly agentId: string;
  readonly jsUrl: string;
  readonly modules: Record<string, WebAssembly.Module>;
  readonly policy: GatePolicy;
  readonly caps: HostCaps;
  readonly env: readonly (readonly [string, string])[];
  readonly toolNames: readonly string[];
  readonly rpc: RpcClient | undefined;
  /** Where policy updates arrive while the instance runs (absent: the policy never changes). */
  readonly policyUpdates?: { readonly shared: SharedArrayBuffer; readonly port: MessagePort } | undefined;
  /** Receives batches of events. */
  readonly deliver: (events: InstanceEvent[]) => void;
  /**
   * The audit acknowledgement cell shared with the host (see {@link AuditAck}); absent when
   * nothing records the events durably (then no call waits).
   */
  readonly audit?: { readonly shared: SharedArrayBuffer; readonly wait: boolean } | undefined;
  /** Fuel per run and for instantiation (absent: unlimited; fuel is still counted). */
  readonly fuel?: bigint | undefined;
  /** The agent's quotas and their ledger (shared with the host, kept across instances). */
  readonly quota?: { readonly policy: QuotaPolicy; readonly shared: SharedArrayBuffer } | undefined;
  /** The agent identity's authentication cell (see `sandbox/agent-identity.ts`). */
  readonly auth?: { readonly shared: SharedArrayBuffer; readonly fingerprint: string } | undefined;
  /** Run on the wasmtime addon instead of jco's output (then `jsUrl`/`modules` are unused). */
  readonly native?: NativeSettings | undefined;
}

/** The wasmtime engine's part of an instance's settings. */
export interface NativeSettings {
  /** The component's bytes (on a SharedArrayBuffer, so posting them to a worker copies nothing). */
  readonly bytes: Uint8Array;
  /** SHA-256 of the bytes (hex): a worker finds the compiled component by it without hashing. */
  readonly hash: string;
  /** The compiled-component cache directory (private to the user). */
  readonly cacheDir: string;
  /** Cap on the instance's linear memories, bytes. */
  readonly memoryBytes: number;
  /** Cap on the elements of any one table. */
  readonly tableElements: number;
  /** Wall-clock limit of a run (an epoch deadline: native code cannot be stopped from outside). */
  readonly timeoutMs: number;
  /**
   * The interrupt cell (one Int32): the host sets it before it terminates the worker
   * (cancellation, close), and the guest stops with CANCELLED at the next epoch tick instead of
   * running on to its deadline inside a call `terminate()` cannot interrupt. Set by `WorkerInstance`.
   */
  readonly interrupt?: SharedArrayBuffer | undefined;
}

/**
 * Layout of the audit acknowledgement cell: `[0]` how many of this instance's audit events
 * the host has recorded durably, `[1]` non-zero once the audit log has failed.
 */
export const AuditAck = Object.freeze({ ACKED: 0, FAILED: 1, BYTES: 8 });

/** One live instance. */
export interface CoreInstance {
  /**
   * Run one task; `fuelUsed` is what this run consumed. `timeoutMs`: what is left of the run's
   * time budget (wasmtime arms its epoch deadline with it; on jco the host terminates the worker).
   */
  run(task: string, timeoutMs?: number): ({ ok: true; output: string } | { ok: false; error: SerializedError; fatal: boolean }) & { fuelUsed: number };
  /**
   * Call another exported function; `value` is its whole result in jco's form (a `result` as
   * `{ tag, val }`, its `err` included: that is the caller's to report).
   */
  call(call: ExportCall, timeoutMs?: number): ({ ok: true; value: unknown } | { ok: false; error: SerializedError; fatal: boolean }) & { fuelUsed: number };
  /** Fuel the start functions consumed during instantiation. */
  readonly fuelUsedAtStart: number;
  close(): void;
}

/** Thrown by {@link createCoreInstance} when a start function used up the fuel. */
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

/** `WebAssembly.Global` (the TypeScript lib this project uses leaves it out). */
const WasmGlobal = (WebAssembly as unknown as { Global: new (d: { value: 'i64'; mutable: boolean }, v: bigint) => { value: bigint } }).Global;

/** The largest i64: no fuel limit. */
const NO_LIMIT = (1n << 63n) - 1n;

/** Module and field of the fuel global every instrumented core module imports. */
export const FUEL_IMPORT = Object.freeze({ module: 'agentos:limits', name: 'fuel' });

const BATCH = 256;

/**
 * Map anything thrown out of the guest to a serialized sandbox error. `fuel` tells whether the
 * budget ran out (the instrumented code traps with `unreachable` when it does).
 */
export function classifyThrow(e: unknown, fuel?: { exhausted: boolean; budget: bigint; used?: number }): { error: SerializedError; fatal: boolean } {
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

/**
 * The gate's refresh hook: one atomic load per decision; when the host has published a new
 * policy, read the newest one off the port synchronously (the guest may be mid-run).
 */
function policyRefresher(u: CoreInstanceOptions['policyUpdates']): (() => GatePolicy | undefined) | undefined {
  if (!u) return undefined;
  const cell = new Int32Array(u.shared);
  let seen = Atomics.load(cell, 0);
  return () => {
    const now = Atomics.load(cell, 0);
    if (now === seen) return undefined;
    seen = now;
    let latest: GatePolicy | undefined;
    for (let m = receiveMessageOnPort(u.port); m; m = receiveMessageOnPort(u.port)) latest = m.message as GatePolicy;
    return latest;
  };
}

/** The host side of an instance, the same on both engines: gate, capabilities, event batching. */
function hostSide(o: CoreInstanceOptions): { gate: Gate; host: HostImports; flush: () => void; summarize: () => void } {
  let buffer: InstanceEvent[] = [];
  const counts = new Map<string, number>();
  const flush = () => {
    if (buffer.length === 0) return;
    const b = buffer;
    buffer = [];
    o.deliver(b);
  };
  const ack = o.audit ? new Int32Array(o.audit.shared) : undefined;
  const waitDurable = o.audit?.wait ?? false;
  let sent = 0;
  const sink = (event: AuditEvent, decision: boolean): boolean => {
    if (ack && Atomics.load(ack, AuditAck.FAILED) !== 0) return false;
    buffer.push({ kind: 'audit', event });
    sent++;
    if (decision && ack && waitDurable) {
      // Durable audit: the call proceeds only once the host has written its record. The host
      // acknowledges by count; a failed log wakes us with FAILED set.
      flush();
      for (;;) {
        const acked = Atomics.load(ack, AuditAck.ACKED);
        if (acked >= sent) return true;
        if (Atomics.load(ack, AuditAck.FAILED) !== 0) return false;
        Atomics.wait(ack, AuditAck.ACKED, acked);
      }
    }
    if (buffer.length >= BATCH) flush();
    return true;
  };
  const ledger = o.quota ? new QuotaLedger(o.quota.shared, o.quota.policy) : undefined;
  // Nothing is in flight in a new instance: an earlier one may have died mid-request.
  if (ledger) ledger.gauge('net:conn', -Infinity);
  const authCell = o.auth ? new Int32Array(o.auth.shared) : undefined;
  const auth: GateAuth | undefined =
    authCell && o.auth
      ? { authenticated: () => Atomics.load(authCell, 0) === AuthState.OK, why: () => authStateReason(Atomics.load(authCell, 0), o.auth!.fingerprint) }
      : undefined;
  const gate = new Gate(o.policy, o.agentId, sink, policyRefresher(o.policyUpdates), ledger, auth);
  const ctx: HostContext = {
    agentId: o.agentId,
    gate,
    caps: o.caps,
    env: o.env,
    rpc: o.rpc,
    emit(event) {
      buffer.push(event);
      if (buffer.length >= BATCH) flush();
    },
    flush,
    count(api, n = 1) {
      counts.set(api, (counts.get(api) ?? 0) + n);
    },
  };
  const host: HostImports = buildHostImports(ctx, o.toolNames);
  const summarize = () => {
    for (const [api, count] of counts) {
      gate.record({ type: 'usage_summary', capability: 'compute', resource: api.startsWith('wasi:random') ? 'random' : 'clock', action: 'use', target: api, outcome: 'allowed', reason: 'ambient capability', api, count });
    }
    counts.clear();
  };
  return { gate, host, flush, summarize };
}

/** Instantiate the component with a fresh host context. */
export async function createCoreInstance(o: CoreInstanceOptions): Promise<CoreInstance> {
  if (o.native) return createNativeInstance(o, o.native);
  const { host, flush, summarize } = hostSide(o);
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
  }
  const fuelUsedAtStart = used();
  flush();
  /** One run or call with a full fuel budget: a throw becomes its failure, and the host side settles after it. */
  const guarded = <T extends object>(body: () => T): T | { ok: false; error: SerializedError; fatal: boolean; fuelUsed: number } => {
    host.resetRun();
    fuel.value = budget;
    try {
      return body();
    } catch (e) {
      return { ok: false, ...classifyThrow(e, fuelState()), fuelUsed: Math.min(used(), Number(budget)) };
    } finally {
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

/** One wasmtime engine per worker (a worker runs one instance). */
let nativeEngine: NativeEngine | undefined;

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
function createNativeInstance(o: CoreInstanceOptions, n: NativeSettings): CoreInstance {
  const { host, flush, summarize } = hostSide(o);
  nativeEngine ??= new (loadWasmtimeAddon().Engine)(WORKER_ENGINE_OPTIONS);
  const engine = nativeEngine;
  const table = new ResourceTable();
  const limits = { memoryBytes: n.memoryBytes, tableElements: n.tableElements, timeoutMs: n.timeoutMs, ...(o.fuel !== undefined ? { fuel: o.fuel } : {}) };
  let inst: NativeInstance;
  try {
    const component = engine.compileComponent(n.bytes, n.cacheDir, n.hash);
    const interrupt = n.interrupt ? { interrupt: new Int32Array(n.interrupt) } : {};
    inst = engine.instantiateWithHost(component, limits, nativeHost(host.imports, table), { jcoResults: true, ...interrupt });
  } catch (e) {
    const c = classifyNative(e, o.fuel, n);
    if (c.error.code === 'FUEL_EXHAUSTED') throw new StartFuelExhausted(c.error);
    if (c.error.code !== 'AGENT_ERROR') throw new NativeLoadRefused(c.error);
    throw e;
  }
  flush();
  /** One run or call: a thrown addon error becomes its failure, and the host side settles after it. */
  const guarded = <T extends object>(body: () => T): T | { ok: false; error: SerializedError; fatal: boolean; fuelUsed: number } => {
    host.resetRun();
    try {
      return body();
    } catch (e) {
      const c = classifyNative(e, o.fuel, n);
      return { ok: false, error: c.error, fatal: c.fatal, fuelUsed: c.fuelUsed };
    } finally {
      host.stdio.end();
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
