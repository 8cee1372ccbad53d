/**
 * The monitor: reads the sandbox's stream of gate decisions, lifecycle and limit events (the
 * events the audit chain records, with their sequence numbers), runs the detectors on them
 * and hands each alert to the sandbox, which records it, emits it and contains the agent when
 * the alert calls for it.
 *
 * It sits off the gate's hot path: `observe` only appends to a bounded queue; the detectors
 * run in order on the next turn of the event loop. When the queue is full, events are dropped
 * and counted, and one `monitor_overflow` alert says so (never silently).
 */
import { atLeast, type Alert, type AlertDraft, type AlertType, type MonitorEvent, type MonitorOptions, type Severity } from './types.js';
import { ruleDetectors, type Detector, type Thresholds } from './rules.js';
import type { AnomalyDetector, RunSummary } from './anomaly.js';

/** A run's end, in the queue between the events (so that its events are counted first). */
interface RunEnd {
  readonly agentId: string;
  readonly run: RunSummary;
}
import type { AuditEvent } from '../gate/types.js';

/** What the monitor asks of its sandbox. */
export interface MonitorHost {
  /** Record the alert (a `security_alert` audit record). */
  record(alert: Alert): void;
  /** Contain the alert's agent (`alert.contained` is set): quarantine it. */
  contain(alert: Alert): void;
  /** Tell listeners (`sandbox.on('alert')`). */
  emit(alert: Alert): void;
}

/** Counters of the monitor's own work. */
export interface MonitorStats {
  readonly observed: number;
  readonly processed: number;
  readonly dropped: number;
  readonly alerts: number;
  readonly queued: number;
}

/** Marks the events the monitor itself causes, which it does not read back. */
export const MONITOR_API = 'monitor';

export class Monitor {
  private readonly detectors: Detector[];
  private queue: (MonitorEvent | RunEnd)[] = [];
  private scheduled = false;
  private readonly maxQueue: number;
  private readonly containAt: Severity | 'never';
  private readonly containTypes: ReadonlySet<AlertType>;
  private readonly contained = new Set<string>();
  private readonly thresholds = new Map<string, Thresholds>();
  private nextId = 1;
  private overflowing = false;
  private closed = false;
  private counts = { observed: 0, processed: 0, dropped: 0, alerts: 0 };

  constructor(
    private readonly host: MonitorHost,
    options: MonitorOptions = {},
    extra: readonly Detector[] = [],
    private readonly anomaly?: AnomalyDetector,
    /** Told of every event read (the metrics). */
    private readonly onEvent?: (m: MonitorEvent) => void,
  ) {
    const maxQueue = options.maxQueue ?? 65_536;
    if (!Number.isInteger(maxQueue) || maxQueue < 1) throw new RangeError('monitor.maxQueue must be a whole number ≥ 1');
    this.maxQueue = maxQueue;
    this.containAt = options.containAt ?? 'critical';
    this.containTypes = new Set(options.containTypes ?? ['potential_compromise']);
    this.detectors = [...ruleDetectors(options, (id) => this.thresholds.get(id)), ...extra];
  }

  /** Set the alert thresholds that apply to an agent (from its capability policies). */
  setThresholds(agentId: string, t: Thresholds): void {
    if (Object.keys(t).length > 0) this.thresholds.set(agentId, t);
    else this.thresholds.delete(agentId);
  }

  /** Forget an agent that is gone (its thresholds; its containment stays on record). */
  forget(agentId: string): void {
    this.thresholds.delete(agentId);
  }

  /** One event, as it is recorded. Cheap: the detectors run later, in order. */
  observe(event: AuditEvent, seq: number | undefined): void {
    if (this.closed || event.api === MONITOR_API) return;
    this.counts.observed++;
    if (this.queue.length >= this.maxQueue) {
      this.counts.dropped++;
      this.overflowing = true;
      return;
    }
    this.queue.push(seq === undefined ? { event } : { event, seq });
    this.schedule();
  }

  /** A run of the agent ended: judged by the anomaly detection once its events are counted. */
  runEnded(agentId: string, run: RunSummary): void {
    if (this.closed || !this.anomaly || run.agentType === undefined) return;
    // Never dropped: one per run, and the counters it closes are bounded.
    this.queue.push({ agentId, run });
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** An alert the host detected itself (a load refused by the threat-intelligence list). */
  report(d: AlertDraft): void {
    if (!this.closed) this.raise(d);
  }

  /** Run the detectors on everything queued (tests and benchmarks may call it to settle). */
  drain(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (this.overflowing) this.reportOverflow();
    for (const item of batch) {
      if ('run' in item) {
        if (this.contained.has(item.agentId)) this.anomaly!.forget(item.agentId);
        else this.anomaly!.runEnded(item.agentId, item.run, (a) => this.raise(a));
        continue;
      }
      const m = item;
      this.counts.processed++;
      this.onEvent?.(m);
      // A contained agent's further calls are denied by its quarantine; they are evidence, not news.
      if (this.contained.has(m.event.agentId)) continue;
      this.anomaly?.observe(m);
      for (const d of this.detectors) {
        try {
          d.observe(m, (a) => this.raise(a));
        } catch {
          // A detector that fails must not stop the others (nor the gate, which never waits here).
        }
      }
    }
  }

  private reportOverflow(): void {
    this.overflowing = false;
    this.raise({
      type: 'monitor_overflow',
      severity: 'high',
      agentId: '*',
      detector: 'monitor',
      message: `the monitor's queue was full (${this.maxQueue} events): ${this.counts.dropped} events in all were not examined`,
      evidence: [],
      details: { dropped: this.counts.dropped, maxQueue: this.maxQueue },
    });
  }

  private raise(d: AlertDraft): void {
    this.counts.alerts++;
    const time = Date.now();
    const evidence: number[] = [];
    for (const m of d.evidence) if (m.seq !== undefined) evidence.push(m.seq);
    const wanted = d.contain ?? (this.containTypes.has(d.type) || (this.containAt !== 'never' && atLeast(d.severity, this.containAt)));
    const contain = wanted && d.agentId !== '*' && !this.contained.has(d.agentId);
    const alert: Alert = {
      id: `alert-${time.toString(36)}-${this.nextId++}`,
      type: d.type,
      severity: d.severity,
      agentId: d.agentId,
      time,
      message: d.message,
      detector: d.detector,
      evidence,
      ...(d.resource !== undefined ? { resource: d.resource } : {}),
      contained: contain,
      ...(d.details ? { details: d.details } : {}),
    };
    // The alert's record comes first; the containment it causes is recorded after it.
    this.host.record(alert);
    if (contain) {
      this.contained.add(d.agentId);
      this.host.contain(alert);
    }
    this.host.emit(alert);
  }

  /** Whether the monitor has contained this agent. */
  isContained(agentId: string): boolean {
    return this.contained.has(agentId);
  }

  /** Lift the monitor's record of a containment (the sandbox releases the agent itself). */
  released(agentId: string): void {
    this.contained.delete(agentId);
  }

  get stats(): MonitorStats {
    return { ...this.counts, queued: this.queue.length };
  }

  /** Examine what is queued, keep the baselines, then stop reading. */
  close(): void {
    if (this.queue.length > 0) this.drain();
    this.closed = true;
    try {
      this.anomaly?.save();
    } catch {
      // Baselines that cannot be written are relearned; closing does not fail for them.
    }
  }
}
