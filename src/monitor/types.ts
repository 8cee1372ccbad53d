/**
 * What the monitor reads, what it raises, and how it is configured.
 */
import type { Severity } from '../audit/record.js';
import type { AuditEvent } from '../gate/types.js';

export type { Severity } from '../audit/record.js';

/** Severities in rising order (an index compares them). */
export const SEVERITY_ORDER: readonly Severity[] = ['low', 'medium', 'high', 'critical'];

/** Whether `a` is at least as severe as `b`. */
export function atLeast(a: Severity, b: Severity): boolean {
  return SEVERITY_ORDER.indexOf(a) >= SEVERITY_ORDER.indexOf(b);
}

/**
 * Alert types: the seeds' rule names (`brute_force_attack`, `suspicious_resource_access`,
 * `security_policy_violation`) and anomaly types, plus what our own detectors find.
 */
export type AlertType =
  | 'brute_force_attack'
  | 'suspicious_resource_access'
  | 'security_policy_violation'
  | 'policy_alert'
  | 'policy_quarantine'
  | 'threshold_exceeded'
  | 'unusual_resource_usage'
  | 'suspicious_network_activity'
  | 'abnormal_task_patterns'
  | 'potential_compromise'
  | 'blocked_indicator'
  | 'monitor_overflow';

/** One event as the monitor sees it: a gate or lifecycle event and its place in the audit chain. */
export interface MonitorEvent {
  readonly event: AuditEvent;
  /** Its sequence number in the audit chain; absent when the sandbox keeps no audit log. */
  readonly seq?: number | undefined;
}

/** What a detector reports; the monitor gives it an id and a time. */
export interface AlertDraft {
  readonly type: AlertType;
  readonly severity: Severity;
  readonly agentId: string;
  /** One sentence: what was seen. */
  readonly message: string;
  /** The detector that raised it (`rules.brute-force`, `policy.security`, …). */
  readonly detector: string;
  /** The events that triggered it. */
  readonly evidence: readonly MonitorEvent[];
  /** The resource it is about, when there is one (a path, an origin, a tool). */
  readonly resource?: string | undefined;
  /**
   * `true`: contain the agent whatever the severity (a security policy's `quarantine` action);
   * `false`: never (an advisory policy's, which only reports); absent: by severity and type.
   */
  readonly contain?: boolean | undefined;
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

/** An alert: a detector's finding, recorded in the audit chain as a `security_alert`. */
export interface Alert {
  /** Unique in the process (`alert-<time>-<n>`). */
  readonly id: string;
  readonly type: AlertType;
  readonly severity: Severity;
  readonly agentId: string;
  /** Milliseconds since the epoch, when it was raised. */
  readonly time: number;
  readonly message: string;
  readonly detector: string;
  /** Audit sequence numbers of the triggering records (empty without an audit log). */
  readonly evidence: readonly number[];
  readonly resource?: string | undefined;
  /** Whether the monitor contained the agent for it. */
  readonly contained: boolean;
  readonly details?: Readonly<Record<string, unknown>> | undefined;
}

/** A seed rule's trigger: at least `count` matching events within `window` milliseconds. */
export interface BurstRule {
  readonly count: number;
  readonly windowMs: number;
}

/** Options of the monitor (`createSandbox({ monitor })`). */
export interface MonitorOptions {
  /**
   * The seeds' rules; each may be tuned or switched off (`false`). Defaults: five
   * `authentication_failure` of one agent within 5 min (`brute_force_attack`, high); ten
   * denials of one agent on one resource within 1 h (`suspicious_resource_access`, medium);
   * any denial by a security policy rule, or one an advisory rule would have made
   * (`security_policy_violation`, high).
   */
  readonly rules?: {
    readonly bruteForce?: BurstRule | false;
    readonly suspiciousAccess?: BurstRule | false;
    readonly policyViolation?: boolean;
  };
  /**
   * Contain (quarantine) the agent of an alert at or above this severity; `'never'` switches
   * automatic containment off (security policies' `quarantine` actions still contain). Default
   * `'critical'`.
   */
  readonly containAt?: Severity | 'never';
  /** Alert types that are contained whatever their severity. Default `['potential_compromise']`. */
  readonly containTypes?: readonly AlertType[];
  /** Events waiting for the detectors at most; beyond it they are dropped and counted. Default 65,536. */
  readonly maxQueue?: number;
  /** Keys (agent, resource) each windowed rule tracks at most; the oldest are forgotten. Default 100,000. */
  readonly maxKeys?: number;
  /**
   * Where incidents and their forensic snapshots are kept. Default: `incidents/` in the audit
   * directory; without an audit log (`audit: false`) none are kept unless this is set.
   */
  readonly incidentDir?: string;
  /**
   * A threat-intelligence list: a YAML/JSON file, or the same as data — `hosts` (names,
   * `*.domain`), `ipRanges` (CIDR) and `components` (SHA-256). Blocked components are refused
   * at load; blocked hosts and addresses are denied on every network decision, and either
   * raises `blocked_indicator` (critical: the agent is contained).
   */
  readonly indicators?: string | { readonly hosts?: readonly string[]; readonly ipRanges?: readonly string[]; readonly components?: readonly string[] };
  /**
   * Where alerts are delivered besides the audit chain and `alert` events: a webhook (signed
   * with HMAC-SHA256, retried with backoff), a JSON Lines file, stderr; each from a minimum
   * severity up. See `ChannelOptions`.
   */
  readonly channels?: import('./channels.js').ChannelOptions;
  /**
   * Anomaly detection per agent type against baselines learned from its runs (see
   * `AnomalyOptions`: warm-up runs, threshold, the baseline file); `false` switches it off.
   * Baselines are kept in `monitor-baselines.json` beside the incident directory.
   */
  readonly anomaly?: import('./anomaly.js').AnomalyOptions | false;
}
