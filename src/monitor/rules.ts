/**
 * Rule detectors: the seeds' `checkForSecurityAlerts` rules, the `alert` and `quarantine`
 * actions of security policies, and the alert thresholds of capability policies.
 */
import type { AuditEvent } from '../gate/types.js';
import type { CapabilityPolicy } from '../authz/types.js';
import { Bursts } from './bursts.js';
import type { AlertDraft, BurstRule, MonitorEvent, MonitorOptions, Severity } from './types.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The seeds' defaults. */
export const DEFAULT_RULES = Object.freeze({
  bruteForce: Object.freeze({ count: 5, windowMs: 5 * MINUTE }),
  suspiciousAccess: Object.freeze({ count: 10, windowMs: HOUR }),
});

/** A detector reads events in order and raises alerts; it never blocks and never throws. */
export interface Detector {
  readonly name: string;
  observe(e: MonitorEvent, raise: (a: AlertDraft) => void): void;
}

/**
 * A message refused on delivery (tampered, replayed, from an unknown sender) is recorded against
 * its recipient, who asked for nothing: no detector counts it as the recipient's behaviour, or
 * anyone able to publish on the broker could get an agent quarantined.
 */
export const isInboundRefusal = (e: AuditEvent): boolean => e.resource === 'message' && e.action === 'deliver';

const isDenial = (e: AuditEvent) => (e.type === 'capability_denied' || e.type === 'authorization_denied') && e.outcome === 'denied' && !isInboundRefusal(e);

/** The seeds' rule: repeated authentication failures of one agent (`brute_force_attack`). */
export function bruteForceDetector(rule: BurstRule, maxKeys: number): Detector {
  const bursts = new Bursts(rule, maxKeys);
  return {
    name: 'rules.brute-force',
    observe(m, raise) {
      const e = m.event;
      if (e.type !== 'authentication_failure') return;
      const burst = bursts.add(e.agentId, e.time, m);
      if (!burst) return;
      raise({
        type: 'brute_force_attack',
        severity: 'high',
        agentId: e.agentId,
        detector: this.name,
        message: `${rule.count} authentication failures within ${formatWindow(rule.windowMs)}`,
        evidence: burst,
        details: { failureCount: rule.count, timeWindowMs: rule.windowMs },
      });
    },
  };
}

/** The seeds' rule: repeated denials of one agent on one resource (`suspicious_resource_access`). */
export function suspiciousAccessDetector(rule: BurstRule, maxKeys: number): Detector {
  const bursts = new Bursts(rule, maxKeys);
  return {
    name: 'rules.suspicious-access',
    observe(m, raise) {
      const e = m.event;
      if (!isDenial(e)) return;
      const burst = bursts.add(`${e.agentId}\0${e.target}`, e.time, m);
      if (!burst) return;
      raise({
        type: 'suspicious_resource_access',
        severity: 'medium',
        agentId: e.agentId,
        resource: e.target,
        detector: this.name,
        message: `${rule.count} denied requests for ${e.target} within ${formatWindow(rule.windowMs)}`,
        evidence: burst,
        details: { denialCount: rule.count, timeWindowMs: rule.windowMs, capability: e.capability },
      });
    },
  };
}

/**
 * The seeds' rule on policy violations (`security_policy_violation`): a request a security
 * policy rule denied, or one an advisory rule would have denied.
 */
export function policyViolationDetector(): Detector {
  return {
    name: 'rules.policy-violation',
    observe(m, raise) {
      const e = m.event;
      const rule = isDenial(e) ? e.matched?.find((id) => id.startsWith('security:')) : undefined;
      if (!rule && !e.wouldDeny) return;
      raise({
        type: 'security_policy_violation',
        severity: 'high',
        agentId: e.agentId,
        resource: e.target,
        detector: this.name,
        message: rule ? `denied by ${rule}: ${e.reason}` : `advisory rule ${e.wouldDeny!.policyId}/${e.wouldDeny!.ruleId} would have denied ${e.action} ${e.target}: ${e.wouldDeny!.reason}`,
        evidence: [m],
        details: rule ? { rule, capability: e.capability } : { wouldDeny: e.wouldDeny, capability: e.capability },
      });
    },
  };
}

/**
 * Security policies' `alert` and `quarantine` actions: an alert at the rule's severity (high
 * for `alert`, critical for `quarantine` when the rule names none). A quarantine action asks for
 * containment unless its policy is advisory (which never acts, only reports).
 */
export function policyActionDetector(): Detector {
  return {
    name: 'policy.actions',
    observe(m, raise) {
      const e = m.event;
      for (const a of e.actions ?? []) {
        if (a.type === 'log') continue;
        const quarantine = a.type === 'quarantine';
        const severity: Severity = a.severity ?? (quarantine ? 'critical' : 'high');
        raise({
          type: quarantine ? 'policy_quarantine' : 'policy_alert',
          severity,
          agentId: e.agentId,
          resource: e.target,
          detector: this.name,
          message: `security policy ${a.policyId}${a.ruleId ? ` rule ${a.ruleId}` : ''} asks for ${quarantine ? 'quarantine' : 'an alert'} on ${e.action} ${e.target}`,
          evidence: [m],
          ...(quarantine ? { contain: a.advisory !== true } : a.advisory ? { contain: false } : {}),
          details: { policyId: a.policyId, ...(a.ruleId ? { ruleId: a.ruleId } : {}), ...(a.advisory ? { advisory: true } : {}), ...(a.parameters ? { parameters: a.parameters } : {}) },
        });
      }
    },
  };
}

/** A request the threat-intelligence list denied (`blocked_indicator`, critical). */
export function indicatorDetector(): Detector {
  return {
    name: 'indicators',
    observe(m, raise) {
      const e = m.event;
      if (e.outcome !== 'denied') return;
      const hit = e.matched?.find((id) => id.startsWith('indicator:'));
      if (!hit) return;
      raise({
        type: 'blocked_indicator',
        severity: 'critical',
        agentId: e.agentId,
        resource: e.target,
        detector: this.name,
        message: `${e.action} ${e.target} matches ${hit.slice('indicator:'.length)} on the threat-intelligence list`,
        evidence: [m],
        details: { indicator: hit.slice('indicator:'.length), capability: e.capability },
      });
    },
  };
}

/** The thresholds an agent's capability policies set (the seed's `monitoring.alertThresholds`). */
export interface Thresholds {
  /** `authentication_failure` events per hour. */
  readonly failedAuthentications?: number | undefined;
  /** Denials of any kind per hour. */
  readonly suspiciousOperations?: number | undefined;
  /** Resource limits hit (`limit_exceeded`) per hour. */
  readonly resourceUsage?: number | undefined;
}

const THRESHOLD_NAMES = ['failedAuthentications', 'suspiciousOperations', 'resourceUsage'] as const;

/**
 * The thresholds of every active capability policy that applies to the agent (by type or
 * instance id, within its dates); where several set one, the smallest wins.
 */
export function thresholdsOf(policies: readonly CapabilityPolicy[], agentId: string, agentType: string | undefined, now = Date.now()): Thresholds {
  const out: Record<string, number> = {};
  for (const cp of policies) {
    if (cp.status !== 'active' || !cp.monitoring) continue;
    if (cp.agentType !== undefined && cp.agentType !== agentType) continue;
    if (cp.agentInstanceId !== undefined && cp.agentInstanceId !== agentId) continue;
    if ((cp.effectiveFrom !== undefined && now < cp.effectiveFrom) || (cp.effectiveTo !== undefined && now >= cp.effectiveTo)) continue;
    for (const name of THRESHOLD_NAMES) {
      const v = Object.hasOwn(cp.monitoring, name) ? cp.monitoring[name] : undefined;
      if (v !== undefined && v >= 1) out[name] = Math.min(out[name] ?? Infinity, Math.floor(v));
    }
  }
  return out;
}

function thresholdKind(e: AuditEvent): (typeof THRESHOLD_NAMES)[number] | undefined {
  if (e.type === 'authentication_failure') return 'failedAuthentications';
  if (e.type === 'limit_exceeded') return 'resourceUsage';
  if (e.outcome === 'denied' && (e.type === 'capability_denied' || e.type === 'authorization_denied') && !isInboundRefusal(e)) return 'suspiciousOperations';
  return undefined;
}

/** Capability policies' alert thresholds, per agent, over the last hour (`threshold_exceeded`). */
export function thresholdDetector(thresholdsFor: (agentId: string) => Thresholds | undefined, maxKeys: number): Detector {
  const bursts = new Map<string, Bursts>();
  return {
    name: 'policy.thresholds',
    observe(m, raise) {
      const e = m.event;
      const kind = thresholdKind(e);
      if (!kind) return;
      const limit = thresholdsFor(e.agentId)?.[kind];
      if (limit === undefined) return;
      const key = `${kind}:${limit}`;
      let b = bursts.get(key);
      if (!b) bursts.set(key, (b = new Bursts({ count: limit, windowMs: HOUR }, maxKeys)));
      const burst = b.add(e.agentId, e.time, m);
      if (!burst) return;
      raise({
        type: 'threshold_exceeded',
        severity: 'high',
        agentId: e.agentId,
        detector: this.name,
        message: `alert threshold ${kind} (${limit} per hour) reached`,
        evidence: burst,
        details: { threshold: kind, limit, windowMs: HOUR },
      });
    },
  };
}

/** The rule detectors the options ask for. */
export function ruleDetectors(o: MonitorOptions, thresholdsFor: (agentId: string) => Thresholds | undefined): Detector[] {
  const maxKeys = o.maxKeys ?? 100_000;
  const r = o.rules ?? {};
  const out: Detector[] = [];
  if (r.bruteForce !== false) out.push(bruteForceDetector(r.bruteForce ?? DEFAULT_RULES.bruteForce, maxKeys));
  if (r.suspiciousAccess !== false) out.push(suspiciousAccessDetector(r.suspiciousAccess ?? DEFAULT_RULES.suspiciousAccess, maxKeys));
  if (r.policyViolation !== false) out.push(policyViolationDetector());
  out.push(policyActionDetector(), thresholdDetector(thresholdsFor, maxKeys), indicatorDetector());
  return out;
}

function formatWindow(ms: number): string {
  if (ms % HOUR === 0) return `${ms / HOUR} h`;
  if (ms % MINUTE === 0) return `${ms / MINUTE} min`;
  return `${ms / 1000} s`;
}
