/**
 * Prometheus metrics of one sandbox (prom-client, its own registry): gate decisions by
 * capability and outcome with the gate's decision time, denials, alerts by type and severity,
 * quarantined agents, runs and their durations, limits hit, fuel, the audit log's
 * acknowledgement latency, and queue depths. Counting happens where the monitor reads the event
 * stream (off the gate's path); `sandbox.metrics()` renders the text format.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditEvent } from '../gate/types.js';
import type { Alert } from './types.js';

/** Seconds: 1 µs to 10 ms for decisions; 1 ms to 60 s for runs and acknowledgements. */
const DECISION_BUCKETS = [1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2];
const RUN_BUCKETS = [1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1, 5, 10, 60];
const ACK_BUCKETS = [1e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1];

/** Gauges read at scrape time. */
export interface MetricGauges {
  quarantined(): number;
  monitorQueue(): number;
  auditQueue(): number;
  channelQueue(): number;
  agents(): number;
}

export class SandboxMetrics {
  readonly registry = new Registry();
  private readonly decisions: Counter<'capability' | 'outcome'>;
  private readonly decisionTime: Histogram<'capability'>;
  private readonly denials: Counter<'capability'>;
  private readonly alerts: Counter<'type' | 'severity'>;
  private readonly runs: Counter<'outcome'>;
  private readonly runTime: Histogram<'outcome'>;
  private readonly limits: Counter<'limit'>;
  private readonly fuel: Counter;
  private readonly ack: Histogram;

  constructor(gauges: MetricGauges) {
    const registers = [this.registry];
    this.decisions = new Counter({ name: 'agentos_decisions_total', help: 'Gate decisions by capability and outcome', labelNames: ['capability', 'outcome'], registers });
    this.decisionTime = new Histogram({ name: 'agentos_decision_duration_seconds', help: "The gate's time to decide one request", labelNames: ['capability'], buckets: DECISION_BUCKETS, registers });
    this.denials = new Counter({ name: 'agentos_denials_total', help: 'Denied requests by capability', labelNames: ['capability'], registers });
    this.alerts = new Counter({ name: 'agentos_alerts_total', help: 'Monitor alerts by type and severity', labelNames: ['type', 'severity'], registers });
    this.runs = new Counter({ name: 'agentos_runs_total', help: 'Finished runs and calls by outcome', labelNames: ['outcome'], registers });
    this.runTime = new Histogram({ name: 'agentos_run_duration_seconds', help: 'Duration of runs and calls', labelNames: ['outcome'], buckets: RUN_BUCKETS, registers });
    this.limits = new Counter({ name: 'agentos_limits_hit_total', help: 'Limits that ended a call or a run, by limit', labelNames: ['limit'], registers });
    this.fuel = new Counter({ name: 'agentos_fuel_used_total', help: 'Fuel used by finished runs', registers });
    this.ack = new Histogram({ name: 'agentos_audit_ack_seconds', help: 'From a batch of audit records queued to all of them durable', buckets: ACK_BUCKETS, registers });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    gauge('agentos_quarantined_agents', 'Agents quarantined now', gauges.quarantined);
    gauge('agentos_agents', 'Agents loaded now', gauges.agents);
    gauge('agentos_monitor_queue_depth', 'Events waiting for the detectors', gauges.monitorQueue);
    gauge('agentos_audit_queue_depth', 'Audit records queued, not yet durable', gauges.auditQueue);
    gauge('agentos_alert_channel_queue_depth', 'Alerts waiting for delivery', gauges.channelQueue);
  }

  /** One event of the stream. */
  event(e: AuditEvent): void {
    switch (e.type) {
      case 'capability_used':
      case 'capability_denied':
      case 'authentication_failure':
        this.decisions.inc({ capability: e.capability, outcome: e.outcome });
        if (e.outcome === 'denied') this.denials.inc({ capability: e.capability });
        if (e.elapsedUs !== undefined) this.decisionTime.observe({ capability: e.capability }, e.elapsedUs / 1e6);
        break;
      case 'limit_exceeded': {
        this.decisions.inc({ capability: e.capability, outcome: e.outcome });
        const limit = typeof e.details?.['limit'] === 'string' ? e.details['limit'] : e.target;
        this.limits.inc({ limit });
        if (e.elapsedUs !== undefined) this.decisionTime.observe({ capability: e.capability }, e.elapsedUs / 1e6);
        break;
      }
    }
  }

  alert(a: Pick<Alert, 'type' | 'severity'> | { readonly type: string; readonly severity: string }): void {
    this.alerts.inc({ type: a.type, severity: a.severity });
  }

  run(ok: boolean, durationMs: number, fuelUsed: number): void {
    const outcome = ok ? 'ok' : 'error';
    this.runs.inc({ outcome });
    this.runTime.observe({ outcome }, durationMs / 1000);
    if (fuelUsed > 0) this.fuel.inc(fuelUsed);
  }

  acknowledged(seconds: number): void {
    this.ack.observe(seconds);
  }

  /** The Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
