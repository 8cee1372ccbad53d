/**
 * The authorization model of the seed documents, as the engine consumes it (normalized, after
 * validation): RBAC roles with conditional permissions and inheritance, ABAC access policies
 * with priorities, agent capability policies, security policies with enforcement modes, data
 * access policies, and time windows. Requests and decisions are data.
 */

/** Condition operators. `matches` takes a regular expression checked for linear-time safety at load. */
export type Operator = 'eq' | 'ne' | 'in' | 'contains' | 'matches';

/**
 * One attribute test. `field` is `subject.<attr>`, `resource.<attr>`, `context.<attr>` or
 * `action`; a bare name (`extension`, as in the seed) means `resource.<name>`.
 */
export interface Condition {
  readonly field: string;
  readonly operator: Operator;
  readonly value: unknown;
}

/** A boolean expression over conditions. */
export type BoolExpr = Condition | { readonly all: readonly BoolExpr[] } | { readonly any: readonly BoolExpr[] } | { readonly not: BoolExpr };

/** A validity window and allowed hours (UTC unless `timezone` says otherwise: only 'UTC' in this version). */
export interface TimeWindow {
  /** Epoch ms (normalized from an ISO date). */
  readonly from?: number;
  readonly to?: number;
  /** Hours of day, [start, end) in 0..24; `start > end` wraps midnight. */
  readonly hours?: { readonly start: number; readonly end: number };
  /** Days of week, 0 = Sunday. */
  readonly days?: readonly number[];
}

/** An RBAC permission. `resource`/`action` may be `*`. */
export interface Permission {
  readonly resource: string;
  readonly action: string;
  readonly effect: 'allow' | 'deny';
  readonly conditions?: readonly Condition[];
  readonly when?: TimeWindow;
}

/** Role constraints (seed: time limit, memory limit, max concurrent tasks). */
export interface RoleConstraints {
  /** ms */
  readonly timeLimit?: number;
  /** bytes */
  readonly memoryLimit?: number;
  readonly maxConcurrentTasks?: number;
}

/** An RBAC role. `parentRoles` inherit permissions (cycles are rejected at load). */
export interface RoleDefinition {
  readonly name: string;
  readonly description?: string;
  readonly parentRoles?: readonly string[];
  readonly permissions: readonly Permission[];
  readonly constraints?: RoleConstraints;
  readonly status?: 'active' | 'inactive' | 'deprecated';
  readonly when?: TimeWindow;
}

/** An ABAC access policy. */
export interface AccessPolicy {
  readonly id: string;
  readonly name?: string;
  readonly description?: string;
  readonly target: {
    readonly subject?: readonly Condition[];
    readonly resource?: readonly Condition[];
    readonly action?: readonly Condition[];
  };
  readonly condition?: BoolExpr;
  readonly effect: 'allow' | 'deny';
  /** Higher first. */
  readonly priority: number;
  readonly when?: TimeWindow;
}

/** The seed's AgentCapabilityPolicy. */
export interface CapabilityPolicy {
  readonly policyId: string;
  readonly agentType?: string;
  readonly agentInstanceId?: string;
  readonly version?: string;
  readonly allowedTools?: readonly string[];
  readonly usageLimits?: Readonly<Record<string, number>>;
  readonly networkRules?: {
    readonly allowedHosts?: readonly string[];
    readonly allowedPorts?: readonly number[];
    readonly allowedProtocols?: readonly string[];
    readonly maxConnections?: number;
    /** bytes per hour */
    readonly dataTransferLimit?: number;
  };
  /** Bytes and milliseconds. */
  readonly resourceConstraints?: { readonly maxMemory?: number; readonly maxCpuTime?: number; readonly maxFileSize?: number; readonly maxProcesses?: number; readonly maxExecutionTime?: number };
  /** Alert thresholds by name (the seed's `monitoring.alertThresholds`). */
  readonly monitoring?: Readonly<Record<string, number>>;
  /** The seed's `monitoring.logLevel`. */
  readonly logLevel?: 'info' | 'warn' | 'error' | 'critical';
  /** The seed's `monitoring.auditLevel`. */
  readonly auditLevel?: 'basic' | 'detailed' | 'comprehensive';
  /** epoch ms */
  readonly effectiveFrom?: number;
  readonly effectiveTo?: number;
  /** Only `active` grants; the seed's `inactive` / `deprecated` are accepted beside ours. */
  readonly status: 'active' | 'inactive' | 'deprecated' | 'suspended' | 'revoked' | 'expired';
}

/** A `where` test in a security rule: a literal (equality) or one operator. */
export type WhereValue =
  | string
  | number
  | boolean
  | null
  | { readonly eq?: unknown; readonly ne?: unknown; readonly in?: readonly unknown[]; readonly notIn?: readonly unknown[]; readonly contains?: unknown; readonly matches?: string };

/** A security rule. */
export interface SecurityRule {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly condition: { readonly when: { readonly eventType: string | readonly string[] }; readonly where?: Readonly<Record<string, WhereValue>> };
  readonly action: { readonly type: 'allow' | 'deny' | 'log' | 'alert' | 'quarantine'; readonly parameters?: Readonly<Record<string, unknown>> };
  readonly severity: 'low' | 'medium' | 'high' | 'critical';
  readonly category?: string;
  readonly tags?: readonly string[];
}

/** An exception to a security policy: matching requests skip its rules. */
export interface PolicyException {
  readonly ruleId?: string;
  readonly agentId?: string;
  readonly agentType?: string;
  readonly until?: number;
  readonly reason?: string;
}

/** The seed's SecurityPolicy. */
export interface SecurityPolicy {
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly version?: string;
  readonly scope: { readonly agentTypes?: readonly string[]; readonly environments?: readonly string[]; readonly dataClassifications?: readonly string[] };
  readonly rules: readonly SecurityRule[];
  readonly enforcement: { readonly mode: 'advisory' | 'enforcing' | 'blocking'; readonly exceptions: readonly PolicyException[] };
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Data classification levels, lowest to highest. */
export type Classification = 'public' | 'internal' | 'confidential' | 'restricted';

/** The seed's DataAccessPolicy, bound to data ids (exact or glob). */
export interface DataAccessPolicy {
  readonly dataId: string;
  readonly classification: Classification;
  readonly accessRules: { readonly readRoles: readonly string[]; readonly writeRoles: readonly string[]; readonly deleteRoles: readonly string[] };
  readonly retention?: { readonly retentionPeriod: number; readonly autoDelete: boolean };
  readonly audit?: { readonly logReads: boolean; readonly logWrites: boolean; readonly logDeletes: boolean };
}

/** Everything the engine evaluates. All sections optional. */
export interface AuthzModel {
  readonly roles?: readonly RoleDefinition[];
  readonly accessPolicies?: readonly AccessPolicy[];
  readonly capabilityPolicies?: readonly CapabilityPolicy[];
  readonly securityPolicies?: readonly SecurityPolicy[];
  readonly dataPolicies?: readonly DataAccessPolicy[];
}

/** Who asks. */
export interface Subject {
  readonly id: string;
  readonly type?: string;
  readonly roles: readonly string[];
  readonly mfaVerified?: boolean;
  readonly [attr: string]: unknown;
}

/** A request (DESIGN: file read → resource `file`, action `read`, attributes path, extension, size, classification; …). */
export interface AuthzRequest {
  readonly subject: Subject;
  readonly resource: { readonly type: string; readonly [attr: string]: unknown };
  readonly action: string;
  readonly context: { readonly time?: number; readonly environment?: string; readonly api?: string; readonly [attr: string]: unknown };
}

/** A monitor action requested by a decision. */
export interface DecisionAction {
  readonly type: 'log' | 'alert' | 'quarantine';
  readonly policyId: string;
  readonly ruleId?: string;
  readonly severity?: 'low' | 'medium' | 'high' | 'critical';
  readonly parameters?: Readonly<Record<string, unknown>>;
  /** The rule's policy is advisory: the action is reported, never carried out (no quarantine). */
  readonly advisory?: boolean;
}

/** The decision: data with reasons. */
export interface AuthzDecision {
  readonly allowed: boolean;
  readonly reason: string;
  /** Ids of the policies, roles and rules that made the decision. */
  readonly matched: readonly string[];
  /** Conditions that were evaluated to reach it, as readable strings. */
  readonly conditions: readonly string[];
  /** When this decision stops being valid (the earliest time window edge involved), epoch ms. */
  readonly expiresAt?: number;
  readonly auditRequired: boolean;
  readonly actions: readonly DecisionAction[];
  /** Set when an advisory-mode rule would have denied an allowed request. */
  readonly wouldDeny?: { readonly policyId: string; readonly ruleId: string; readonly reason: string };
}
