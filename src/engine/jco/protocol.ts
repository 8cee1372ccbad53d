/**
 * Messages between the host thread and an agent's worker.
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
  /** Compiled core modules by file name (shared, not recompiled, across workers). */
  readonly modules: Record<string, WebAssembly.Module>;
  readonly policy: GatePolicy;
  readonly caps: HostCaps;
  readonly env: [string, string][];
  readonly toolNames: string[];
  readonly rpcShared: SharedArrayBuffer;
  /** Bumped by the host each time it posts a new policy on `policyPort`. */
  readonly policyShared?: SharedArrayBuffer;
  /** Fuel per run and for instantiation (the instrumented modules' `agentos:limits/fuel` global); absent: unlimited. */
  readonly fuel?: bigint;
  /** The agent's quotas and the ledger shared with the host (see src/limits/quota.ts). */
  readonly quota?: { readonly policy: import('../../limits/quota.js').QuotaPolicy; readonly shared: SharedArrayBuffer };
  /** The agent identity's authentication cell and its fingerprint. */
  readonly auth?: { readonly shared: SharedArrayBuffer; readonly fingerprint: string };
  /** The audit acknowledgement cell (`AuditAck` in instance-core.ts) and whether decisions wait for it. */
  readonly audit?: { readonly shared: SharedArrayBuffer; readonly wait: boolean };
  /** Run on the wasmtime engine (see `NativeSettings` in instance-core.ts). */
  readonly native?: import('./instance-core.js').NativeSettings;
}

/** Host → worker. `init` comes once, first; its `rpcPort` is transferred. */
export type ToWorker =
  | { readonly type: 'init'; readonly init: WorkerInit & { readonly rpcPort: MessagePort; readonly policyPort: MessagePort } }
  | { readonly type: 'run'; readonly id: number; readonly task: string; readonly timeoutMs: number }
  | { readonly type: 'call'; readonly id: number; readonly call: ExportCall; readonly timeoutMs: number };

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

/** Worker → host. */
export type FromWorker =
  | { readonly type: 'loaded' }
  | { readonly type: 'ready'; readonly fuelUsed: number }
  | { readonly type: 'init-error'; readonly error: SerializedError }
  | { readonly type: 'events'; readonly batch: EncodedEvents }
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly output: string; readonly fuelUsed: number }
  | { readonly type: 'result'; readonly id: number; readonly ok: true; readonly value: unknown; readonly fuelUsed: number }
  | { readonly type: 'result'; readonly id: number; readonly ok: false; readonly error: SerializedError; readonly fatal: boolean; readonly fuelUsed: number };
