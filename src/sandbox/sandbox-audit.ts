/**
 * The part of a sandbox that records: its audit chain (through the audit bridge), the events
 * hosts and agents record on it, and how a failed log stops agents. `Sandbox` extends it.
 */
import { EventEmitter } from 'node:events';
import type { AuditChain } from '../audit/chain.js';
import { SandboxError } from '../errors.js';
import type { AuditEvent } from '../gate/types.js';
import type { AuditBridge } from './audit-bridge.js';
import type { SandboxEvents } from './options.js';

/** A sandbox's audit side: its chain, and recording on it. */
export class SandboxAudit extends EventEmitter<SandboxEvents> {
  constructor(
    /** @internal */
    readonly auditBridge: AuditBridge,
  ) {
    super();
  }

  /**
   * The sandbox's audit chain (opened on first use), for queries, proofs and checkpoints;
   * undefined when the sandbox was created with `audit: false`. Rejects with
   * `AUDIT_UNAVAILABLE` when it cannot be opened.
   *
   * @example
   * ```ts
   * const chain = await sandbox.auditLog();
   * const cp = await chain?.checkpoint();
   * ```
   */
  auditLog(): Promise<AuditChain | undefined> {
    return this.auditBridge.open();
  }

  /**
   * Record an event a host decided on the sandbox's behalf (for example an MCP server's
   * capability approvals) in the audit chain, and emit it as an `audit` event. Resolves once the
   * record is durable under `durability: 'sync'` (the default), once queued under `'async'`;
   * rejects with `AUDIT_UNAVAILABLE` when it cannot be recorded, so that the host can refuse
   * what it could not record. With `audit: false` the event is only emitted.
   *
   * @param correlationId - groups the record with others (the chain's `provenance.correlationId`).
   * @example
   * ```ts
   * await sandbox.recordEvent({ type: 'authorization_denied', agentId: agent.id, capability: 'policy', resource: 'agent',
   *   action: 'request-capability', target: 'network_access', outcome: 'denied', reason: 'not approved', api: 'my-host' });
   * ```
   */
  async recordEvent(event: Omit<AuditEvent, 'time'>, correlationId?: string): Promise<void> {
    await this.auditBridge.open();
    this.checkAudit_();
    await this.auditDurable_(event, correlationId);
  }

  /** @internal the `AUDIT_UNAVAILABLE` error to report when the audit log has failed */
  auditError_(agentOutput?: string): SandboxError | undefined {
    const f = this.auditBridge.failed;
    if (!f) return undefined;
    const details = agentOutput !== undefined ? { ...f.details, agentOutput: agentOutput.slice(0, 64 * 1024) } : f.details;
    return new SandboxError('AUDIT_UNAVAILABLE', `the audit log is unavailable, so agents may not act: ${f.message}`, details, { cause: f });
  }

  /** @internal throw `AUDIT_UNAVAILABLE` when the audit log has failed */
  checkAudit_(): void {
    const e = this.auditError_();
    if (e) throw e;
  }

  /** @internal record a host-side event; returns its sequence number in the chain, if any */
  audit_(e: Omit<AuditEvent, 'time'>, correlationId?: string): number | undefined {
    const event: AuditEvent = { time: Date.now(), ...e };
    const seq = this.auditBridge.record(event, correlationId);
    this.emit('audit', event);
    return seq;
  }

  /** @internal as audit_, for a run's opening record: written once the run settles or with its next batch (AuditBridge.recordDeferred) */
  auditDeferred_(e: Omit<AuditEvent, 'time'>, correlationId: string): void {
    const event: AuditEvent = { time: Date.now(), ...e };
    this.auditBridge.recordDeferred(event, correlationId);
    this.emit('audit', event);
  }

  /** @internal record a host-side audit event; resolves once durable under `'sync'` commits */
  auditDurable_(e: Omit<AuditEvent, 'time'>, correlationId?: string): Promise<void> {
    const event: AuditEvent = { time: Date.now(), ...e };
    const durable = this.auditBridge.recordDurable(event, correlationId);
    this.emit('audit', event);
    return durable;
  }}
