/**
 * Between a sandbox and its monitor: feeds it the recorded events, records its alerts in the
 * audit chain, and carries out containment — the agent is quarantined (every further call
 * refused, instance stopped, identity and token revoked) and new loads under its agent id or
 * component hash are refused until an operator releases it.
 */
import { DeniedError, UsageError } from '../errors.js';
import type { AuditEvent } from '../gate/types.js';
import { Monitor, MONITOR_API, type MonitorStats } from '../monitor/monitor.js';
import type { Thresholds } from '../monitor/rules.js';
import type { Alert, MonitorOptions } from '../monitor/types.js';
import type { Agent } from './agent.js';

/** A quarantined agent (see {@link Sandbox.quarantined}). */
export interface QuarantineEntry {
  readonly agentId: string;
  /** Its component's SHA-256, when the agent was loaded here: loads of it are refused too. */
  readonly componentHash?: string | undefined;
  /** The alert that contained it. */
  readonly alert: Alert;
  /** Milliseconds since the epoch. */
  readonly since: number;
}

/** What the glue needs of its sandbox. */
export interface MonitoringHost {
  audit(e: Omit<AuditEvent, 'time'>): void;
  alert(a: Alert): void;
  quarantined(q: QuarantineEntry): void;
  agent(id: string): Agent | undefined;
}

export class SandboxMonitoring {
  private readonly monitor: Monitor | undefined;
  private readonly byAgent = new Map<string, QuarantineEntry>();
  private readonly byComponent = new Map<string, QuarantineEntry>();

  constructor(
    private readonly host: MonitoringHost,
    options: MonitorOptions | false | undefined,
  ) {
    if (options !== undefined && options !== false && (typeof options !== 'object' || options === null)) throw new UsageError('monitor must be an object of monitor settings or false');
    this.monitor =
      options === false
        ? undefined
        : new Monitor({ record: (a) => this.record(a), contain: (a) => this.contain(a), emit: (a) => host.alert(a) }, options ?? {});
  }

  /** The audit bridge's observer: every recorded event, with its sequence number. */
  readonly observe = (e: AuditEvent, seq: number | undefined): void => {
    this.monitor?.observe(e, seq);
  };

  /** Set an agent's alert thresholds (from its capability policies). */
  setThresholds(agentId: string, t: Thresholds): void {
    this.monitor?.setThresholds(agentId, t);
  }

  forget(agentId: string): void {
    this.monitor?.forget(agentId);
  }

  get stats(): MonitorStats | undefined {
    return this.monitor?.stats;
  }

  /** Run the detectors on what is queued now (tests, benchmarks, shutdown). */
  settle(): void {
    this.monitor?.drain();
  }

  private record(a: Alert): void {
    this.host.audit({
      type: 'security_alert',
      agentId: a.agentId,
      capability: 'monitor',
      resource: 'agent',
      action: a.type,
      target: a.resource ?? a.agentId,
      outcome: 'denied',
      reason: a.message,
      api: MONITOR_API,
      severity: a.severity,
      details: { alertId: a.id, detector: a.detector, evidence: a.evidence, contained: a.contained, ...(a.details ? { alert: a.details } : {}) },
    });
  }

  private contain(a: Alert): void {
    const agent = this.host.agent(a.agentId);
    const entry: QuarantineEntry = { agentId: a.agentId, ...(agent ? { componentHash: agent.componentHash } : {}), alert: a, since: Date.now() };
    this.byAgent.set(a.agentId, entry);
    if (entry.componentHash) this.byComponent.set(entry.componentHash, entry);
    agent?.quarantine_(`alert ${a.id} (${a.type}, ${a.severity}): ${a.message}`, { alertId: a.id, alertType: a.type });
    this.host.audit({
      type: 'security_alert',
      agentId: a.agentId,
      capability: 'monitor',
      resource: 'agent',
      action: 'quarantine',
      target: a.agentId,
      outcome: 'denied',
      reason: `quarantined for alert ${a.id} (${a.type}): every further call is refused, its instance stopped, its identity and token revoked, and loads of its agent id${entry.componentHash ? ' and component' : ''} refused until released`,
      api: MONITOR_API,
      severity: 'critical',
      details: { alertId: a.id, ...(entry.componentHash ? { componentHash: entry.componentHash } : {}) },
    });
    this.host.quarantined(entry);
  }

  /** Refuse a load under a quarantined agent id or of a quarantined component. */
  checkLoad(agentId: string, componentHash: string): void {
    const q = this.byAgent.get(agentId) ?? this.byComponent.get(componentHash);
    if (!q) return;
    const what = this.byAgent.has(agentId) ? `agent id ${agentId}` : `component ${componentHash.slice(0, 16)}…`;
    throw new DeniedError(`${what} is quarantined (alert ${q.alert.id}, ${q.alert.type}: ${q.alert.message}); release it with sandbox.release() or \`agentos incident release\` first`, {
      reason: 'quarantined',
      alertId: q.alert.id,
      agentId: q.agentId,
      ...(q.componentHash ? { componentHash: q.componentHash } : {}),
    });
  }

  list(): QuarantineEntry[] {
    return [...this.byAgent.values()];
  }

  /**
   * Lift the quarantine of an agent id or component hash (and whatever was quarantined with
   * it). The agent object that was contained stays closed to runs: load it again. Audited with
   * who released it and why. Returns what was released.
   */
  release(target: string, o: { reason: string; by: string }): QuarantineEntry[] {
    if (typeof o?.reason !== 'string' || o.reason.trim() === '') throw new UsageError('release needs a reason: say why the agent may run again');
    if (typeof o.by !== 'string' || o.by.trim() === '') throw new UsageError('release needs `by`: who releases it');
    const hit = [...this.byAgent.values()].filter((q) => q.agentId === target || q.componentHash === target);
    for (const q of hit) {
      this.byAgent.delete(q.agentId);
      if (q.componentHash && this.byComponent.get(q.componentHash) === q) this.byComponent.delete(q.componentHash);
      this.monitor?.released(q.agentId);
      this.host.audit({
        type: 'authorization_granted',
        agentId: q.agentId,
        capability: 'monitor',
        resource: 'agent',
        action: 'release',
        target: q.agentId,
        outcome: 'allowed',
        reason: `released by ${o.by}: ${o.reason}`,
        api: MONITOR_API,
        details: { alertId: q.alert.id, by: o.by, releaseReason: o.reason, ...(q.componentHash ? { componentHash: q.componentHash } : {}) },
      });
    }
    return hit;
  }

  close(): void {
    this.monitor?.close();
  }
}
