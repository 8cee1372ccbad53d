/**
 * The data the gate works with: what is asked, what was decided, what is recorded.
 */

import type { DecisionAction } from '../authz/types.js';
import type { QuotaExceeded } from '../limits/quota.js';

/** Kinds of resource the gate decides on (the policy issue maps these to RBAC resources). */
export type ResourceKind = 'file' | 'network' | 'env' | 'tool' | 'socket' | 'system' | 'random' | 'clock' | 'log' | 'stdio' | 'kv' | 'message' | 'topic';

/** One access request, built by a capability implementation from canonical values only. */
export interface AccessRequest {
  /** The seed capability name this request needs (`read_files`, `write_files`, `network_access`, …). */
  readonly capability: string;
  readonly resource: ResourceKind;
  /** `read`, `write`, `create`, `delete`, `connect`, `invoke`, `list`, … */
  readonly action: string;
  /** The canonical resource: a guest path, `https://host:port`, a variable name, a tool name. */
  readonly target: string;
  /** The WIT function that asked, e.g. `wasi:filesystem/types#open-at`. */
  readonly api: string;
  /** Metadata recorded with the decision (a message's id and size; never contents). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * A decision is data (Cedar-style): whether, why, and which rules made it.
 * `hidden` asks the capability to report "does not exist" rather than "denied", so that a
 * forbidden path cannot be told apart from a missing one.
 */
export interface Decision {
  readonly allowed: boolean;
  readonly reason: string;
  readonly matched: readonly string[];
  readonly hidden?: boolean;
  /** Monitor requests (alert, quarantine, log) from security policies. */
  readonly actions?: readonly DecisionAction[];
  /** An advisory-mode rule would have denied this allowed request. */
  readonly wouldDeny?: { readonly policyId: string; readonly ruleId: string; readonly reason: string };
  /** The call was refused because its audit record could not be written. */
  readonly auditUnavailable?: boolean;
  /** The call was refused by a quota or rate limit (the policy allowed it). */
  readonly quota?: QuotaExceeded;
  /** The call was refused because the caller's identity no longer authenticates. */
  readonly unauthenticated?: boolean;
}

/** Outcome recorded for an access. */
export type Outcome = 'allowed' | 'denied';

/**
 * An audit event: one per gated operation (ambient operations such as clock reads are
 * summarized per run, see `summary` events).
 */
export interface AuditEvent {
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly agentId: string;
  readonly type:
    | 'capability_used'
    | 'capability_denied'
    | 'usage_summary'
    | 'agent_spawn'
    | 'agent_terminate'
    | 'limit_exceeded'
    | 'agent_error'
    | 'policy_updated'
    | 'policy_rejected'
    | 'authentication_success'
    | 'authentication_failure'
    | 'authorization_granted'
    | 'authorization_denied'
    | 'security_alert';
  readonly capability: string;
  readonly resource: ResourceKind | 'agent';
  readonly action: string;
  readonly target: string;
  readonly outcome: Outcome;
  readonly reason: string;
  readonly api: string;
  readonly matched?: readonly string[];
  readonly count?: number;
  readonly actions?: readonly DecisionAction[];
  readonly wouldDeny?: { readonly policyId: string; readonly ruleId: string; readonly reason: string };
  /** Structured context (for a limit: which limit, what was asked, what is allowed). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** How long the gate took to decide (µs): the decision's own cost, for metrics; never recorded. */
  readonly elapsedUs?: number;
  /** The record's severity when the event's source knows it (a monitor alert); else derived. */
  readonly severity?: 'low' | 'medium' | 'high' | 'critical';
}

/**
 * Receives audit events as they happen. `decision` is true for the event of a gate decision
 * (the call waits for it to be recorded). Returning exactly `false` means the event could not be
 * recorded (the audit log is unavailable): the gate then refuses the call (fail closed).
 */
export type AuditSink = (event: AuditEvent, decision: boolean) => unknown;
