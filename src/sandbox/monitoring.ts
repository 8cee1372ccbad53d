/**
 * Between a sandbox and its monitor: feeds it the recorded events, records its alerts in the
 * audit chain, keeps the incidents, and carries out containment — the agent is quarantined
 * (every further call refused, instance stopped, identity and token revoked), a forensic
 * snapshot is written, and new loads under its agent id or component hash are refused until an
 * operator releases it (here, or with `agentos incident release` from another process).
 */
import { DeniedError, UsageError } from '../errors.js';
import type { AuditEvent } from '../gate/types.js';
import type { LogEvent } from '../capabilities/context.js';
import type { AuditChain } from '../audit/chain.js';
import { Monitor, MONITOR_API, type MonitorStats } from '../monitor/monitor.js';
import type { Thresholds } from '../monitor/rules.js';
import { atLeast, type Alert, type MonitorOptions } from '../monitor/types.js';
import { IncidentStore, type Incident } from '../monitor/incidents.js';
import { writeForensics, type ForensicContext } from '../monitor/forensics.js';
import { AlertChannels, type ChannelStats } from '../monitor/channels.js';
import { AnomalyDetector, type RunSummary } from '../monitor/anomaly.js';
import { dirname, join } from 'node:path';
import { SandboxMetrics } from '../monitor/metrics.js';
import type { Agent } from './agent.js';
import type { NativeAgent } from '../container/native-agent.js';

/** What a forensic snapshot records of an agent besides its logs: policy, component, usage. */
/** A loaded agent the monitor can contain: a component's, or a native one. */
type Containable = Agent | NativeAgent;

function forensicContext(agent: Containable): Omit<ForensicContext, 'logs'> {
  if ('executable' in agent) {
    return { policy: agent.policy, ...(agent.componentHash ? { component: { hash: agent.componentHash, executable: { ...agent.executable } } } : {}), usage: agent.usage_() };
  }
  return {
    policy: agent.policy,
    component: { hash: agent.componentHash, ...(agent.claims_ ? { claims: agent.claims_ } : {}) },
    usage: { ...agent.usage_(), fuelLimit: agent.meter.fuelLimited ? Number(agent.meter.fuel) : null, identity: agent.identity },
  };
}

/** Log lines kept per agent for a forensic snapshot, and the length each is cut to. */
const LOG_LINES = 100;
const LOG_LINE_CHARS = 1024;

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
  /** Record a host-side event; returns its sequence number, if recorded. */
  audit(e: Omit<AuditEvent, 'time'>): number | undefined;
  alert(a: Alert): void;
  quarantined(q: QuarantineEntry): void;
  agent(id: string): Containable | undefined;
  /** The open audit chain and its directory, for forensic snapshots; undefined when audit is off. */
  auditLog(): { readonly dir: string; readonly chain: AuditChain } | undefined;
  /** A forensic snapshot could not be written (reported, never thrown). */
  warn(message: string): void;
  /** Whether a record made now reaches the audit log (it is open, or there is none). */
  canRecord(): boolean;
  /** Agents loaded now, and audit records queued but not yet durable (for the metrics). */
  agentCount(): number;
  auditBacklog(): number;
  /** Open the audit log (so that a release can be recorded); rejects when it cannot be. */
  openAudit(): Promise<void>;
}

/** A sandbox's security monitor, as its users see it (`sandbox.monitor`). */
export interface SandboxMonitor {
  /** The incidents of the incident directory, newest first. */
  incidents(): Incident[];
  /** Agents quarantined now (and not yet released). */
  quarantined(): QuarantineEntry[];
  /**
   * Release a quarantined agent id or component hash: loads of it are allowed again (the
   * contained agent object stays refused: load the agent again). `reason` and `by` are recorded
   * in the audit chain (opened for it if need be); its incident is resolved. Resolves to what
   * was released.
   *
   * @example
   * ```ts
   * await sandbox.monitor.release(agent.id, { by: 'alice', reason: 'false positive: the test suite probes denied paths' });
   * ```
   */
  release(target: string, options: { reason: string; by: string }): Promise<QuarantineEntry[]>;
  /** The monitor's counters (events observed, processed, dropped; alerts; each channel's deliveries); undefined with `monitor: false`. */
  stats(): (MonitorStats & { readonly channels: readonly ChannelStats[] }) | undefined;
  /** Run the detectors on what is queued now and wait for forensic snapshots under way. */
  settle(): Promise<void>;
}

export class SandboxMonitoring implements SandboxMonitor {
  private readonly monitor: Monitor | undefined;
  private readonly byAgent = new Map<string, QuarantineEntry>();
  private readonly byComponent = new Map<string, QuarantineEntry>();
  /** Incidents not yet resolved, by agent id. */
  private readonly incidentOf = new Map<string, string>();
  private readonly incidentStore: IncidentStore | undefined;
  private readonly logs = new Map<string, LogEvent[]>();
  private watcher: { close(): void } | undefined;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly channels: AlertChannels;
  /** Prometheus metrics (undefined with `monitor: false`). */
  readonly metrics: SandboxMetrics | undefined;

  /** `incidentDir`: where incidents are kept (none: alerts and quarantine live in memory only). */
  constructor(
    private readonly host: MonitoringHost,
    options: MonitorOptions | false | undefined,
    incidentDir: string | undefined,
  ) {
    if (options !== undefined && options !== false && (typeof options !== 'object' || options === null)) throw new UsageError('monitor must be an object of monitor settings or false');
    this.channels = new AlertChannels(options ? options.channels : undefined);
    this.metrics =
      options === false
        ? undefined
        : new SandboxMetrics({
            quarantined: () => this.byAgent.size,
            monitorQueue: () => this.monitor?.stats.queued ?? 0,
            auditQueue: () => host.auditBacklog(),
            channelQueue: () => this.channels.stats().reduce((n, c) => n + c.queued, 0),
            agents: () => host.agentCount(),
          });
    const metrics = this.metrics;
    const a = options ? options.anomaly : undefined;
    const anomaly = options === false || a === false ? undefined : new AnomalyDetector(a?.file ?? (incidentDir ? join(dirname(incidentDir), 'monitor-baselines.json') : undefined), a ?? {});
    this.monitor =
      options === false
        ? undefined
        : new Monitor(
            {
              record: (a) => this.record(a),
              contain: (a) => this.contain(a),
              emit: (a) => {
                metrics?.alert(a);
                host.alert(a);
                this.channels.deliver(a);
              },
            },
            options ?? {},
            [],
            anomaly,
            metrics ? (m) => metrics.event(m.event) : undefined,
          );
    this.incidentStore = options !== false && incidentDir ? new IncidentStore(incidentDir) : undefined;
    // A quarantine outlives the process: what an earlier run contained stays refused.
    for (const i of this.incidentStore?.list() ?? []) {
      if (i.state === 'resolved') continue;
      this.incidentOf.set(i.agentId, i.id);
      if (i.state === 'contained') this.restore(i);
    }
    if (this.byAgent.size > 0) this.watchReleases();
  }

  /** The audit bridge's observer: every recorded event, with its sequence number. */
  readonly observe = (e: AuditEvent, seq: number | undefined): void => {
    this.monitor?.observe(e, seq);
  };

  /** An agent's log line, kept (the last few, cut short) for a forensic snapshot. */
  log(e: LogEvent): void {
    if (!this.monitor) return;
    let l = this.logs.get(e.agentId);
    if (!l) this.logs.set(e.agentId, (l = []));
    l.push(e.message.length > LOG_LINE_CHARS ? { ...e, message: `${e.message.slice(0, LOG_LINE_CHARS)}…[truncated]` } : e);
    if (l.length > LOG_LINES) l.shift();
  }

  /** A run of an agent ended (anomaly detection). */
  runEnded(agentId: string, run: RunSummary): void {
    this.metrics?.run(run.ok, run.durationMs, run.fuelUsed);
    this.monitor?.runEnded(agentId, run);
  }

  /** Set an agent's alert thresholds (from its capability policies). */
  setThresholds(agentId: string, t: Thresholds): void {
    this.monitor?.setThresholds(agentId, t);
  }

  forget(agentId: string): void {
    this.monitor?.forget(agentId);
    this.logs.delete(agentId);
  }

  stats(): (MonitorStats & { readonly channels: readonly ChannelStats[] }) | undefined {
    return this.monitor ? { ...this.monitor.stats, channels: this.channels.stats() } : undefined;
  }

  incidents(): Incident[] {
    return this.incidentStore?.list() ?? [];
  }

  async settle(): Promise<void> {
    this.monitor?.drain();
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private record(a: Alert): void {
    const seq = this.host.audit({
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
    // An incident opens at a high alert (or one that contains); later alerts of the agent join it.
    const store = this.incidentStore;
    if (!store || a.agentId === '*') return;
    const open = this.incidentOf.get(a.agentId);
    if (open && store.addAlert(open, a, seq)) return;
    if (!a.contained && !atLeast(a.severity, 'high')) return;
    const agent = this.host.agent(a.agentId);
    const i = store.open(a, agent?.componentHash, seq);
    this.incidentOf.set(a.agentId, i.id);
  }

  private contain(a: Alert): void {
    const agent = this.host.agent(a.agentId);
    const entry: QuarantineEntry = { agentId: a.agentId, ...(agent ? { componentHash: agent.componentHash } : {}), alert: a, since: Date.now() };
    this.byAgent.set(a.agentId, entry);
    if (entry.componentHash) this.byComponent.set(entry.componentHash, entry);
    agent?.quarantine_(`alert ${a.id} (${a.type}, ${a.severity}): ${a.message}`, { alertId: a.id, alertType: a.type });
    const actions = ['every further call refused', 'instance stopped', 'identity and token revoked', `loads of agent id${entry.componentHash ? ' and component' : ''} refused`];
    const seq = this.host.audit({
      type: 'security_alert',
      agentId: a.agentId,
      capability: 'monitor',
      resource: 'agent',
      action: 'quarantine',
      target: a.agentId,
      outcome: 'denied',
      reason: `quarantined for alert ${a.id} (${a.type}): ${actions.join(', ')} until released`,
      api: MONITOR_API,
      severity: 'critical',
      details: { alertId: a.id, ...(entry.componentHash ? { componentHash: entry.componentHash } : {}) },
    });
    const id = this.incidentOf.get(a.agentId);
    const store = this.incidentStore;
    if (store && id) {
      store.contained(id, actions, seq, undefined);
      const incident = store.get(id);
      if (incident) this.snapshot(store, incident, agent);
      this.watchReleases();
    }
    this.host.quarantined(entry);
  }

  /** Write the forensic snapshot in the background (the quarantine does not wait for it). */
  private snapshot(store: IncidentStore, incident: Incident, agent: Containable | undefined): void {
    const ctx = { ...(agent ? forensicContext(agent) : {}), logs: [...(this.logs.get(incident.agentId) ?? [])] };
    const p = writeForensics(store.pathOf(incident.id), incident, this.host.auditLog(), ctx).then(
      (path) => store.setForensics(incident.id, path),
      (e: unknown) => this.host.warn(`the forensic snapshot of incident ${incident.id} could not be written: ${(e as Error).message}`),
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Re-establish the quarantine of a contained incident found at start. */
  private restore(i: Incident): void {
    const alert: Alert = {
      id: i.detection.alertId,
      type: i.classification.type as Alert['type'],
      severity: i.classification.severity,
      agentId: i.agentId,
      time: i.detection.time,
      message: i.detection.message,
      detector: i.detection.detector,
      evidence: i.relatedSeqs,
      contained: true,
    };
    const entry: QuarantineEntry = { agentId: i.agentId, ...(i.componentHash ? { componentHash: i.componentHash } : {}), alert, since: i.containment?.time ?? i.detection.time };
    this.byAgent.set(i.agentId, entry);
    if (i.componentHash) this.byComponent.set(i.componentHash, entry);
  }

  /** Carry out releases asked for from outside (`agentos incident release`), while anything is quarantined. */
  private watchReleases(): void {
    if (this.watcher || !this.incidentStore) return;
    const store = this.incidentStore;
    this.watcher = store.watch(() => {
      // A release is carried out only when its record can be written.
      if (!this.host.canRecord()) return;
      for (const [agentId, id] of this.incidentOf) {
        if (!this.byAgent.has(agentId)) continue;
        const r = store.get(id)?.releaseRequest;
        if (r) this.releaseNow(agentId, { by: r.by, reason: r.reason });
      }
      if (this.byAgent.size === 0) {
        this.watcher?.close();
        this.watcher = undefined;
      }
    }, 250);
  }

  /**
   * A load refused because the threat-intelligence list names its component: the refusal is
   * recorded and alerted (there is nothing to contain: it never ran). Returns the error to throw.
   */
  blockedComponent(agentId: string, hash: string, source: string): DeniedError {
    const reason = `blocked indicator: component ${hash} is on the threat-intelligence list ${source}`;
    // Recorded as the monitor's own (which it does not read back): the alert below is its only one.
    const seq = this.host.audit({ type: 'capability_denied', agentId, capability: 'compute', resource: 'agent', action: 'load', target: hash, outcome: 'denied', reason, api: MONITOR_API, matched: [`indicator:${hash}`] });
    this.monitor?.report({
      type: 'blocked_indicator',
      severity: 'critical',
      agentId,
      resource: hash,
      detector: 'indicators',
      message: `a load of component ${hash.slice(0, 16)}… on the threat-intelligence list was refused`,
      evidence: seq === undefined ? [] : [{ seq, event: { time: Date.now(), agentId, type: 'capability_denied', capability: 'compute', resource: 'agent', action: 'load', target: hash, outcome: 'denied', reason, api: MONITOR_API } }],
      contain: false,
      details: { indicator: hash, source },
    });
    return new DeniedError(`${reason}; the component was not loaded`, { reason: 'blocked indicator', componentHash: hash });
  }

  /** Refuse a load under a quarantined agent id or of a quarantined component. */
  checkLoad(agentId: string, componentHash: string | undefined): void {
    const q = this.byAgent.get(agentId) ?? (componentHash === undefined ? undefined : this.byComponent.get(componentHash));
    if (!q) return;
    const what = this.byAgent.has(agentId) ? `agent id ${agentId}` : `component ${(componentHash ?? '').slice(0, 16)}…`;
    const incident = this.incidentOf.get(q.agentId);
    throw new DeniedError(`${what} is quarantined (alert ${q.alert.id}, ${q.alert.type}: ${q.alert.message}); release it with sandbox.release() or \`agentos incident release${incident ? ` ${incident}` : ''}\` first`, {
      reason: 'quarantined',
      alertId: q.alert.id,
      agentId: q.agentId,
      ...(q.componentHash ? { componentHash: q.componentHash } : {}),
      ...(incident ? { incident } : {}),
    });
  }

  quarantined(): QuarantineEntry[] {
    return [...this.byAgent.values()];
  }

  async release(target: string, o: { reason: string; by: string }): Promise<QuarantineEntry[]> {
    if (typeof o?.reason !== 'string' || o.reason.trim() === '') throw new UsageError('release needs a reason: say why the agent may run again');
    if (typeof o.by !== 'string' || o.by.trim() === '') throw new UsageError('release needs `by`: who releases it');
    // A release is never unrecorded: the audit log is opened for it first.
    await this.host.openAudit();
    return this.releaseNow(target, o);
  }

  /** Release now (the audit log is open, or there is none). */
  private releaseNow(target: string, o: { reason: string; by: string }): QuarantineEntry[] {
    const hit = [...this.byAgent.values()].filter((q) => q.agentId === target || q.componentHash === target);
    for (const q of hit) {
      this.byAgent.delete(q.agentId);
      if (q.componentHash && this.byComponent.get(q.componentHash) === q) this.byComponent.delete(q.componentHash);
      this.monitor?.released(q.agentId);
      const id = this.incidentOf.get(q.agentId);
      const seq = this.host.audit({
        type: 'authorization_granted',
        agentId: q.agentId,
        capability: 'monitor',
        resource: 'agent',
        action: 'release',
        target: q.agentId,
        outcome: 'allowed',
        reason: `released by ${o.by}: ${o.reason}`,
        api: MONITOR_API,
        details: { alertId: q.alert.id, by: o.by, releaseReason: o.reason, ...(q.componentHash ? { componentHash: q.componentHash } : {}), ...(id ? { incident: id } : {}) },
      });
      if (id) {
        this.incidentStore?.released(id, o.by, o.reason, seq);
        this.incidentOf.delete(q.agentId);
      }
    }
    return hit;
  }

  /** Examine what is queued, finish the snapshots under way, stop watching. */
  async close(): Promise<void> {
    this.monitor?.close();
    this.watcher?.close();
    this.watcher = undefined;
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    // Deliveries under way get a little time; a webhook that is down does not hold the close up.
    await this.channels.flush(2000);
  }
}
