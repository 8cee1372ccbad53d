/**
 * Everything one agent instance's capability implementations share: its gate, its limits,
 * its channel to the host thread. One context per instance; nothing here is global, so
 * several agents in one process never share WASI state.
 */
import type { Gate } from '../gate/gate.js';
import { DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS } from '../limits/defaults.js';
import type { AuditEvent } from '../gate/types.js';
import type { RpcClient } from '../engine/jco/rpc.js';

/** Host-side caps (bytes) that bound what a guest can make the host hold. */
export interface HostCaps {
  /** stdout + stderr bytes kept per run (default 1 MiB). */
  readonly maxOutputBytes: number;
  /** Bytes one `get-random-bytes` call may ask for (default 1 MiB). */
  readonly maxRandomBytes: number;
  /** Largest file the guest may create or grow (default: unlimited within the mount). */
  readonly maxFileSize: number;
  /** Largest HTTP response body buffered for the guest (default 10 MiB). */
  readonly maxResponseBytes: number;
  /** Log records kept per run (default 10,000). */
  readonly maxLogRecords: number;
  /** The linear-memory cap, bytes (`resourceLimits.maxMemory`; default 1 GiB): named when a grow is refused. */
  readonly maxMemory: number;
  /** The table cap, elements (default 1,000,000): named when a `table.grow` is refused. */
  readonly maxTableElements: number;
}

/** Defaults for {@link HostCaps}. */
export const DEFAULT_CAPS: HostCaps = Object.freeze({
  maxOutputBytes: 1024 * 1024,
  maxRandomBytes: 1024 * 1024,
  maxFileSize: Number.MAX_SAFE_INTEGER,
  maxResponseBytes: 10 * 1024 * 1024,
  maxLogRecords: 10_000,
  maxMemory: DEFAULT_MAX_MEMORY,
  maxTableElements: DEFAULT_MAX_TABLE_ELEMENTS,
});

/** A log line from the agent: its `log` interface, or a line of stdout/stderr. */
export interface LogEvent {
  readonly time: number;
  readonly agentId: string;
  readonly stream: 'log' | 'stdout' | 'stderr';
  readonly level: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
}

/** What flows from an instance to the host: audit events and log events. */
export type InstanceEvent = { readonly kind: 'audit'; readonly event: AuditEvent } | { readonly kind: 'log'; readonly event: LogEvent };

/**
 * Thrown (as an Error, so it traps the instance) when a guest exceeds a host cap that cannot be
 * reported through the interface's own error type. The engine turns it into a `SandboxError`.
 */
export class LimitTrap extends Error {
  constructor(
    readonly code: 'QUOTA_EXCEEDED' | 'MEMORY_LIMIT',
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'LimitTrap';
  }
}

/** Thrown when the guest calls `wasi:cli/exit`. */
export class ExitTrap extends Error {
  constructor(readonly status: number) {
    super(`agent called exit(${status})`);
    this.name = 'ExitTrap';
  }
}

/** The per-instance context. */
export interface HostContext {
  readonly agentId: string;
  readonly gate: Gate;
  readonly caps: HostCaps;
  /** Environment the policy exposes, already filtered and resolved by the host. */
  readonly env: readonly (readonly [string, string])[];
  /** Synchronous channel to the host thread (HTTP, tools); absent when nothing needs it. */
  readonly rpc: RpcClient | undefined;
  /** Emit an event towards the host. */
  emit(event: InstanceEvent): void;
  /** Flush buffered events to the host (called before blocking and at the end of a run). */
  flush(): void;
  /** Count an ambient operation (clock read, random bytes) for the per-run summary. */
  count(api: string, n?: number): void;
}
