/**
 * The types an agent instance is built from and answers with, the same on both engines.
 */
import type { InstanceEvent, HostCaps } from '../../capabilities/context.js';
import type { GatePolicy } from '../../gate/gate.js';
import type { QuotaPolicy } from '../../limits/quota.js';
import type { IndicatorData } from '../../monitor/indicators.js';
import type { SerializedError } from '../../errors.js';
import type { RpcClient } from './rpc.js';
import type { ExportCall } from './protocol.js';

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
  readonly policyUpdates?: { readonly shared: SharedArrayBuffer; readonly take: () => GatePolicy | undefined } | undefined;
  /** Receives batches of events. */
  readonly deliver: (events: InstanceEvent[]) => void;
  /**
   * The audit acknowledgement cell shared with the host (see {@link AuditAck}); absent when
   * nothing records the events durably (then no call waits).
   */
  readonly audit?: { readonly shared: SharedArrayBuffer; readonly wait: AuditWait } | undefined;
  /** Fuel per run and for instantiation (absent: unlimited; fuel is still counted). */
  readonly fuel?: bigint | undefined;
  /** The agent's quotas and their ledger (shared with the host, kept across instances). */
  readonly quota?: { readonly policy: QuotaPolicy; readonly shared: SharedArrayBuffer } | undefined;
  /** The agent identity's authentication cell (see `sandbox/agent-identity.ts`). */
  readonly auth?: { readonly shared: SharedArrayBuffer; readonly fingerprint: string } | undefined;
  /** A threat-intelligence list whose hosts and addresses every network decision denies. */
  readonly indicators?: IndicatorData | undefined;
  /** Run on the wasmtime addon instead of jco's output (then `jsUrl`/`modules` are unused). */
  readonly native?: NativeSettings | undefined;
  /**
   * The instance's interrupt cell (see `WorkerInit.interrupt`): set by the host when a run must
   * stop; sleeps and host waits end early, and the guest stops at its next check.
   */
  readonly interrupt?: Int32Array | undefined;
  /** Told when guest code of this instance starts (true) and stops (false) running on the thread. */
  readonly onGuest?: ((inGuest: boolean) => void) | undefined;
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
   * The interrupt cell (one Int32): the host sets it when a run must stop (timeout,
   * cancellation, close), and the guest stops with CANCELLED at the next epoch tick: native code
   * cannot be stopped from outside. Set by the agent thread from `WorkerInit.interrupt`.
   */
  readonly interrupt?: SharedArrayBuffer | undefined;
}

/**
 * Which gate decisions wait until their audit record (and every one before it) is durable:
 * `'effects'` only those that let something leave the sandbox (an allowed file write, network
 * connection or tool call); `'all'` every decision; `'none'` none.
 */
export type AuditWait = 'all' | 'effects' | 'none';

/** The capabilities whose allowed decisions have an effect outside the sandbox. */
export const EFFECT_CAPABILITIES: ReadonlySet<string> = new Set(['write_files', 'network_access', 'execute_tools']);

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
