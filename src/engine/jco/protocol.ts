/**
 * Messages between the host thread and an agent thread (a worker that hosts many instances,
 * each addressed by its slot number).
 */
import type { HostCaps } from '../../capabilities/context.js';
import type { EncodedEvents } from './event-codec.js';
import type { SerializedError } from '../../errors.js';
import type { GatePolicy } from '../../gate/gate.js';
import type { MessagePort } from 'node:worker_threads';

/** Everything a worker needs to build one instance. */
export interface WorkerInit {
  readonly agentId: string;
  /** file: URL of the transpiled ES module. */
  readonly jsUrl: string;
  /**
   * Compiled core modules by file name (shared, not recompiled, across threads); absent when
   * the thread already has them from an earlier instance of the same component.
   */
  readonly modules?: Record<string, WebAssembly.Module> | undefined;
  /** Names the set of modules (a component under one metering) for the thread's cache. */
  readonly modulesKey: string;
  readonly policy: GatePolicy;
  readonly caps: HostCaps;
  readonly env: [string, string][];
  readonly toolNames: string[];
  /** Bumped by the host each time it posts a new policy for this slot on the thread's policy port. */
  readonly policyShared?: SharedArrayBuffer;
  /** Fuel per run and for instantiation (the instrumented modules' `agentos:limits/fuel` global); absent: unlimited. */
  readonly fuel?: bigint;
  /** The agent's quotas and the ledger shared with the host (see src/limits/quota.ts). */
  readonly quota?: { readonly policy: import('../../limits/quota.js').QuotaPolicy; readonly shared: SharedArrayBuffer };
  /** The agent identity's authentication cell and its fingerprint. */
  readonly auth?: { readonly shared: SharedArrayBuffer; readonly fingerprint: string };
  /** The sandbox's threat-intelligence list (hosts and addresses denied on every network decision). */
  readonly indicators?: import('../../monitor/indicators.js').IndicatorData;
  /** The audit acknowledgement cell (`AuditAck` in core-types.ts) and which decisions wait for it. */
  readonly audit?: { readonly shared: SharedArrayBuffer; readonly wait: import('./core-types.js').AuditWait };
  /** Run on the wasmtime engine (see `NativeSettings` in instance-core.ts). */
  readonly native?: import('./instance-core.js').NativeSettings;
  /**
   * The instance's interrupt cell (one Int32): the host sets it when a run must stop (timeout,
   * cancellation, close); the guest stops at its next check instead of its thread dying.
   */
  readonly interrupt: SharedArrayBuffer;
}

/**
 * Host → agent thread, on the thread's command port. `init` comes first for a slot (its ports
 * are transferred); `close` ends a slot. Run and call ids are unique per thread.
 */
export type ToWorker =
  | { readonly type: 'init'; readonly slot: number; readonly init: WorkerInit }
  | { readonly type: 'run'; readonly slot: number; readonly id: number; readonly task: string; readonly timeoutMs: number }
  | { readonly type: 'call'; readonly slot: number; readonly id: number; readonly call: ExportCall; readonly timeoutMs: number }
  | { readonly type: 'close'; readonly slot: number };

/** The first message a new agent thread receives (on `parentPort`, where its commands come too). */
export interface ThreadStart {
  readonly type: 'start';
  /** Where the thread posts results and events. */
  readonly results: MessagePort;
  /** Host calls of every instance on the thread (`rpc.ts`), and the counter that wakes their waits. */
  readonly rpc: MessagePort;
  readonly rpcShared: SharedArrayBuffer;
  /** New policies, `{ slot, policy }`, read synchronously when the slot's policy cell moves. */
  readonly policies: MessagePort;
  /** The doorbells, see `Bell` in host-thread.ts. */
  readonly bell: SharedArrayBuffer;
}

/**
 * A call of an exported function other than `run`: its place, its positional arguments in jco's
 * form (./src/wit-exports/values.ts) and whether it returns a `result` (jco throws its `err`).
 */
export interface ExportCall {
  readonly interface: string | null;
  readonly name: string;
  readonly args: readonly unknown[];
  readonly returnsResult: boolean;
}

/** Agent thread → host, on the thread's result port (`loaded` on `parentPort`). */
export type FromWorker =
  | { readonly type: 'loaded' }
  | { readonly type: 'ready'; readonly slot: number; readonly fuelUsed: number }
  | { readonly type: 'init-error'; readonly slot: number; readonly error: SerializedError }
  | { readonly type: 'events'; readonly slot: number; readonly batch: EncodedEvents }
  | { readonly type: 'closed'; readonly slot: number }
  | { readonly type: 'result'; readonly slot: number; readonly id: number; readonly ok: true; readonly output: string; readonly fuelUsed: number }
  | { readonly type: 'result'; readonly slot: number; readonly id: number; readonly ok: true; readonly value: unknown; readonly fuelUsed: number }
  | { readonly type: 'result'; readonly slot: number; readonly id: number; readonly ok: false; readonly error: SerializedError; readonly fatal: boolean; readonly fuelUsed: number };
