/**
 * Compliance frameworks as data (the seeds' `ComplianceFramework`), and what an assessment of
 * one says. A framework's requirements hold controls; a control is either assessed by one of
 * our automated checks over the sandbox's configuration and audit chain, or needs a person
 * (`check` absent: the report lists it as `not_assessed`, with what to do). An organisation is
 * never "compliant" by software alone: the report says which controls were assessed
 * automatically and which were not.
 */

/** The automated checks (src/compliance/checks.ts), by what they look at. */
export const CHECK_IDS = [
  /** The audit chain verifies for the period: no gaps, every record's hash, signed (and witnessed) checkpoints. */
  'audit-integrity',
  /** Every gate decision of the period is a record (decisions present, none refused for want of the log). */
  'decisions-logged',
  /** Policies deny by default: no wildcard hosts or ports, no read-write mounts of sensitive paths, forbidden capabilities set. */
  'least-privilege',
  /** Agents run under identities (mutual authentication, tokens); failures are recorded and acted on. */
  'authentication',
  /** Secrets at rest are encrypted (the key store). */
  'encryption-at-rest',
  /** Policy changes and rejected changes are recorded, with who made them. */
  'change-management',
  /** The security monitor ran and its alerts were recorded. */
  'monitoring',
  /** Incidents were contained, and resolved within the stated time. */
  'incident-response',
  /** The log keeps records at least as long as the framework requires (the prune anchor). */
  'retention',
  /** Components run only when signed and verified. */
  'component-integrity',
  /** Access to classified data (`dataPolicies`) is recorded per agent and data id. */
  'data-access-logging',
  /** Network egress is limited to named hosts, ports and protocols. */
  'network-restriction',
] as const;

export type CheckId = (typeof CHECK_IDS)[number];

export type ControlStatus = 'compliant' | 'partial' | 'non_compliant' | 'not_assessed';

export type RequirementCategory = 'security' | 'privacy' | 'governance' | 'operational';

/** One control of a requirement. */
export interface ComplianceControl {
  /** Unique within its framework, e.g. `cc6.1-logical-access`. */
  readonly id: string;
  readonly name: string;
  readonly description: string;
  /** How the sandbox implements it (a sentence). */
  readonly implementation: string;
  /** The automated check that assesses it; absent when it needs a person. */
  readonly check?: CheckId;
  /** With `check`: what the check covers of the control. Without: what a person must do or show. */
  readonly scope: string;
}

export interface EvidenceRequirement {
  readonly type: 'audit_logs' | 'configuration' | 'technical_documentation' | 'attestation';
  readonly description: string;
  /** Whether the report collects it itself. */
  readonly automated: boolean;
}

export interface MonitoringRequirement {
  readonly type: 'continuous' | 'periodic';
  readonly description: string;
  readonly frequency: 'continuous' | 'daily' | 'weekly' | 'monthly' | 'quarterly' | 'annually';
}

/** One requirement (a criterion, an Annex A control, an article, a standard, a section). */
export interface ComplianceRequirement {
  /** As the framework numbers it, e.g. `CC6.1`, `A.8.15`, `Art. 32`, `164.312(b)`, `10.2`. */
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly category: RequirementCategory;
  readonly controls: readonly ComplianceControl[];
  readonly evidence: readonly EvidenceRequirement[];
  readonly monitoring: readonly MonitoringRequirement[];
}

/** A framework as data. */
export interface ComplianceFramework {
  /** What `--framework` takes: `soc2`, `iso27001`, `gdpr`, `hipaa`, `pci-dss`. */
  readonly id: string;
  readonly name: string;
  /** The framework's own version, e.g. `2017 TSC (rev. 2022)`, `2022`, `2016/679`, `4.0`. */
  readonly version: string;
  /** The version of this data (bumped when a control or its mapping changes). */
  readonly revision: number;
  /** How long audit records must be kept (days), when the framework says; the retention check compares the log's prune anchor with it. */
  readonly retentionDays?: number;
  /** Where the retention figure comes from (a sentence naming the clause). */
  readonly retentionBasis?: string;
  /** How often it is reassessed (days): `nextAssessment` = assessed + this. */
  readonly assessmentIntervalDays: number;
  readonly requirements: readonly ComplianceRequirement[];
}
