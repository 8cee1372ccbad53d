/**
 * Assess a framework (the seeds' `ComplianceManager.assessCompliance`): gather what the checks
 * judge from — the audit chain's records of the period (one pass), its verification, the
 * policies in force, the key store, the incidents — run each control's check, and roll the
 * statuses up to requirements and the framework (`calculateOverallStatus`).
 *
 * Roll-up: a requirement's status comes from its controls that were assessed (automatically):
 * any `non_compliant` → `non_compliant`; else any `partial` → `partial`; else `compliant`; none
 * assessed → `not_assessed`. The framework rolls up its requirements the same way. Controls
 * that need a person stay `not_assessed` and are counted apart (`coverage`), so a report never
 * passes off a manual control as checked.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AuditReader } from '../audit/reader.js';
import { queryRecords } from '../audit/query.js';
import { verifyStore } from '../audit/verify.js';
import { IncidentStore, type Incident } from '../monitor/incidents.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { CHECKS, type CheckContext, type CheckResult, type Evidence, type KeyFileFact } from './checks.js';
import { dayName, emptyFacts, type AuditFacts } from './facts.js';
import { scanBlock } from './scan.js';
import type { CheckId, ComplianceFramework, ControlStatus, EvidenceRequirement, RequirementCategory } from './types.js';

export interface ControlAssessment {
  readonly controlId: string;
  readonly name: string;
  /** Assessed by an automated check (else a person must). */
  readonly automated: boolean;
  readonly check?: CheckId;
  readonly scope: string;
  readonly status: ControlStatus;
  readonly reasons: readonly string[];
  readonly evidence: readonly Evidence[];
}

export interface RequirementAssessment {
  readonly requirementId: string;
  readonly requirementName: string;
  readonly category: RequirementCategory;
  readonly status: ControlStatus;
  readonly controls: readonly ControlAssessment[];
  /** The evidence the requirement asks for, and whether this report collected it. */
  readonly evidence: readonly (EvidenceRequirement & { readonly collected: boolean })[];
  /** The reasons of its controls that are not compliant. */
  readonly risks: readonly string[];
  readonly coverage: { readonly automated: number; readonly manual: number };
}

export interface ComplianceAssessment {
  readonly frameworkId: string;
  readonly frameworkName: string;
  readonly frameworkVersion: string;
  readonly frameworkRevision: number;
  readonly assessedAt: string;
  readonly lastAssessment: string;
  readonly nextAssessment: string;
  readonly period: { readonly since: string; readonly until: string };
  readonly overallStatus: ControlStatus;
  readonly requirements: readonly RequirementAssessment[];
  readonly summary: Readonly<Record<ControlStatus, number>> & { readonly controls: number; readonly automated: number; readonly manual: number };
  /** Decisions, denials and alerts per UTC day of the period, oldest first (days without any are left out). */
  readonly activity: readonly { readonly day: string; readonly decisions: number; readonly denials: number; readonly alerts: number }[];
  /** The log assessed: its id, the records of the period. */
  readonly log?: { readonly logId: string; readonly records: number; readonly firstSeq?: number; readonly lastSeq?: number };
}

/** Roll statuses up (see the module comment). */
export function calculateOverallStatus(statuses: readonly ControlStatus[]): ControlStatus {
  const assessed = statuses.filter((s) => s !== 'not_assessed');
  if (assessed.length === 0) return 'not_assessed';
  if (assessed.includes('non_compliant')) return 'non_compliant';
  if (assessed.includes('partial')) return 'partial';
  return 'compliant';
}

/** Run the framework's checks against a context; each check runs once, however many controls name it. */
export function assessFramework(framework: ComplianceFramework, ctx: CheckContext): ComplianceAssessment {
  const results = new Map<CheckId, CheckResult>();
  const run = (id: CheckId): CheckResult => {
    let r = results.get(id);
    if (!r) {
      try {
        r = CHECKS[id](ctx);
      } catch (e) {
        // A check that fails assesses nothing: never a pass.
        r = { status: 'not_assessed', reasons: [`the check failed: ${(e as Error).message}`], evidence: [] };
      }
      results.set(id, r);
    }
    return r;
  };
  const requirements = framework.requirements.map((req): RequirementAssessment => {
    const controls = req.controls.map((c): ControlAssessment => {
      if (!c.check) return { controlId: c.id, name: c.name, automated: false, scope: c.scope, status: 'not_assessed', reasons: [`needs a person: ${c.scope}`], evidence: [] };
      const r = run(c.check);
      return { controlId: c.id, name: c.name, automated: true, check: c.check, scope: c.scope, status: r.status, reasons: r.reasons, evidence: r.evidence };
    });
    const automated = controls.filter((c) => c.automated).length;
    return {
      requirementId: req.id,
      requirementName: req.name,
      category: req.category,
      status: calculateOverallStatus(controls.map((c) => c.status)),
      controls,
      evidence: req.evidence.map((e) => ({ ...e, collected: e.automated && (e.type === 'audit_logs' ? ctx.facts.records > 0 : e.type === 'configuration' ? ctx.policies.length > 0 : false) })),
      risks: controls.filter((c) => c.status === 'non_compliant' || c.status === 'partial').flatMap((c) => c.reasons.map((r) => `${c.name}: ${r}`)),
      coverage: { automated, manual: controls.length - automated },
    };
  });
  const all = requirements.flatMap((r) => r.controls);
  const count = (s: ControlStatus) => all.filter((c) => c.status === s).length;
  const assessedAt = new Date(ctx.now).toISOString();
  return {
    frameworkId: framework.id,
    frameworkName: framework.name,
    frameworkVersion: framework.version,
    frameworkRevision: framework.revision,
    assessedAt,
    lastAssessment: assessedAt,
    nextAssessment: new Date(ctx.now + framework.assessmentIntervalDays * 86_400_000).toISOString(),
    period: { since: new Date(ctx.facts.since).toISOString(), until: new Date(ctx.facts.until).toISOString() },
    overallStatus: calculateOverallStatus(requirements.map((r) => r.status)),
    requirements,
    summary: {
      compliant: count('compliant'),
      partial: count('partial'),
      non_compliant: count('non_compliant'),
      not_assessed: count('not_assessed'),
      controls: all.length,
      automated: all.filter((c) => c.automated).length,
      manual: all.filter((c) => !c.automated).length,
    },
    activity: [...ctx.facts.perDay].sort(([a], [b]) => a - b).map(([n, d]) => ({ day: dayName(n), ...d })),
    ...(ctx.verification
      ? { log: { logId: ctx.verification.logId, records: ctx.facts.records, ...(ctx.facts.firstSeq !== undefined ? { firstSeq: ctx.facts.firstSeq, lastSeq: ctx.facts.lastSeq! } : {}) } }
      : {}),
  };
}

/** What {@link gatherFrom} reads. */
export interface GatherOptions {
  /** The audit directory. */
  readonly audit: string;
  /** Start of the period (ms since the epoch). */
  readonly since: number;
  /** End of the period (default now). */
  readonly until?: number;
  readonly policies?: readonly { readonly source: string; readonly policy: SandboxPolicy }[];
  /** The key store directory. */
  readonly keys?: string;
  /** A witness directory holding checkpoints of this log. */
  readonly witness?: string;
  /** The incident directory (default `incidents/` in the audit directory). */
  readonly incidents?: string;
  readonly retentionDays?: number;
  /** Default 1 minute. */
  readonly containWithinMs?: number;
  /** Default 72 hours (GDPR Art. 33's notification window). */
  readonly resolveWithinMs?: number;
  readonly now?: number;
}

/** The key store's files as the encryption check sees them. */
async function keyFiles(dir: string): Promise<KeyFileFact[]> {
  const out: KeyFileFact[] = [];
  for (const name of (await readdir(dir)).filter((n) => n.endsWith('.json') && n !== 'store.json').sort()) {
    let k: Record<string, unknown>;
    try {
      k = JSON.parse(await readFile(join(dir, name), 'utf8')) as Record<string, unknown>;
    } catch {
      continue;
    }
    out.push({ file: name, encrypted: k['encryptedPrivateKey'] !== undefined, plaintext: ['privateKey', 'seed', 'secretKey', 'd'].some((f) => typeof k[f] === 'string') });
  }
  return out;
}

/** Read an open audit store (one verification, which also feeds the facts) and the configuration. */
export async function gatherFrom(reader: AuditReader, framework: ComplianceFramework, o: GatherOptions): Promise<CheckContext> {
  const now = o.now ?? Date.now();
  const until = o.until ?? now;
  // The facts come from the blocks the verification reads (one read of the log), scanned on
  // this thread while the verification's workers hash. (A second LevelDB reader on a worker
  // thread of the same process was tried and seen to die with SIGBUS.)
  const facts: AuditFacts = emptyFacts(o.since, until);
  const end = reader.head.size;
  const verification = await verifyStore(reader.store, { ...(o.witness !== undefined ? { witness: o.witness } : {}), onBlock: (s, b) => scanBlock(facts, s, b, end) });
  let oldest: number | undefined;
  for await (const r of queryRecords(reader.store, { limit: 1 })) oldest = r.timestamp;
  let logKeyPlaintext: boolean | undefined;
  try {
    logKeyPlaintext = (await readFile(join(o.audit, 'log-key.pem'), 'utf8')).includes('BEGIN PRIVATE KEY');
  } catch {
    logKeyPlaintext = undefined;
  }
  const incidents: Incident[] = new IncidentStore(o.incidents ?? join(o.audit, 'incidents')).list();
  return {
    framework,
    facts,
    verification,
    witnessed: o.witness !== undefined && verification.trustedCheckpoints > 0,
    policies: o.policies ?? [],
    ...(o.keys !== undefined ? { keyStore: { dir: o.keys, files: await keyFiles(o.keys) } } : {}),
    logKeyPlaintext,
    incidents,
    retained: { oldest, pruned: reader.base > 0 },
    ...(o.retentionDays !== undefined ? { retentionDays: o.retentionDays } : {}),
    containWithinMs: o.containWithinMs ?? 60_000,
    resolveWithinMs: o.resolveWithinMs ?? 72 * 3_600_000,
    now,
  };
}
