/**
 * The automated checks: each judges one aspect of the sandbox from the facts of the audit
 * chain (facts.ts), its verification, the policies in force, the key store and the incidents,
 * and says `compliant | partial | non_compliant | not_assessed` with reasons and the evidence
 * it relied on (audit records by sequence number, configuration by file). A check that lacks
 * what it needs says `not_assessed` and what to give it; it never guesses.
 */
import type { VerifyReport } from '../audit/verify.js';
import type { Incident } from '../monitor/incidents.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { unsignedComponents, type AuditFacts, type FactKind } from './facts.js';
import type { CheckId, ComplianceFramework, ControlStatus } from './types.js';

/** A piece of evidence: audit records (by sequence number) or configuration (by source). */
export type Evidence =
  | { readonly kind: 'records'; readonly description: string; readonly seqs: readonly number[]; readonly count: number }
  | { readonly kind: 'configuration'; readonly description: string; readonly source: string };

export interface CheckResult {
  readonly status: ControlStatus;
  readonly reasons: readonly string[];
  readonly evidence: readonly Evidence[];
}

/** A key store file as the encryption check sees it. */
export interface KeyFileFact {
  readonly file: string;
  /** The file holds a private key, encrypted (`encryptedPrivateKey`). */
  readonly encrypted: boolean;
  /** The file holds private key material in the clear. */
  readonly plaintext: boolean;
}

/** Everything the checks judge from. */
export interface CheckContext {
  readonly framework: ComplianceFramework;
  readonly facts: AuditFacts;
  /** The chain's verification (absent: not verified, e.g. no audit directory). */
  readonly verification?: VerifyReport | undefined;
  /** Whether a witness's checkpoint was among the trusted ones. */
  readonly witnessed: boolean;
  readonly policies: readonly { readonly source: string; readonly policy: SandboxPolicy }[];
  /** The key store's files (absent: no key store given). */
  readonly keyStore?: { readonly dir: string; readonly files: readonly KeyFileFact[] } | undefined;
  /** Whether the audit log's checkpoint key is a plaintext file. */
  readonly logKeyPlaintext?: boolean | undefined;
  readonly incidents: readonly Incident[];
  /** The oldest record the log still holds (ms), and whether records were pruned. */
  readonly retained: { readonly oldest: number | undefined; readonly pruned: boolean };
  /** Retention the organisation requires (days), for frameworks that set none. */
  readonly retentionDays?: number | undefined;
  /** Containment expected within (ms) of detection. */
  readonly containWithinMs: number;
  /** Incidents expected resolved within (ms) of detection. */
  readonly resolveWithinMs: number;
  readonly now: number;
}

const result = (status: ControlStatus, reasons: string[], evidence: Evidence[] = []): CheckResult => ({ status, reasons, evidence });

function records(ctx: CheckContext, kind: FactKind, description: string): Evidence[] {
  const n = ctx.facts.counts[kind];
  return n > 0 ? [{ kind: 'records', description, seqs: [...ctx.facts.samples[kind]], count: n }] : [];
}

const days = (ms: number) => `${Math.round(ms / 86_400_000)} days`;
const hours = (ms: number) => (ms < 3_600_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);

function auditIntegrity(ctx: CheckContext): CheckResult {
  const v = ctx.verification;
  if (!v) return result('not_assessed', ['the audit chain was not verified (no audit directory)']);
  const ev: Evidence[] = [{ kind: 'configuration', description: `verification of log ${v.logId.slice(0, 16)}…: ${v.size - v.base} records from ${v.base}, root ${v.rootHash.slice(0, 16)}…, ${v.checkpoints} signed checkpoints`, source: 'agentos audit verify' }];
  if (!v.ok) return result('non_compliant', [`the audit chain does not verify: ${v.problems.map((p) => p.message).slice(0, 3).join('; ')}${v.firstBad !== undefined ? ` (first bad record ${v.firstBad})` : ''}`], ev);
  if (v.checkpoints === 0) return result('partial', ['the chain verifies, but no signed checkpoint commits to it yet'], ev);
  if (!ctx.witnessed) return result('partial', ['the chain verifies with signed checkpoints, but no witness holds one (give --witness DIR; see agentos audit checkpoint)'], ev);
  return result('compliant', [`the chain verifies: ${v.size - v.base} records, ${v.checkpoints} signed checkpoints, one held by a witness`], ev);
}

function decisionsLogged(ctx: CheckContext): CheckResult {
  const f = ctx.facts;
  const decisions = f.counts.decision_allowed + f.counts.decision_denied;
  if (f.records === 0) return result('non_compliant', ['the log holds no records for the period']);
  const ev = [...records(ctx, 'decision_allowed', 'allowed decisions'), ...records(ctx, 'decision_denied', 'denied decisions'), ...records(ctx, 'audit_refused', 'calls refused because their record could not be written (fail closed)')];
  if (decisions === 0) return result('partial', [`${f.records} records in the period but no access decision: nothing shows decisions being logged`], ev);
  const refused = f.counts.audit_refused;
  return result('compliant', [`${decisions} access decisions recorded (${f.counts.decision_denied} denials)${refused > 0 ? `; ${refused} calls refused because the log could not record them (fail closed)` : ''}`], ev);
}

const SENSITIVE = [/^\/$/, /^\/(etc|root|home|boot|usr|var|proc|sys|dev|bin|sbin|lib)(\/|$)/, /\/\.(ssh|aws|gnupg|kube|docker|config\/gcloud)(\/|$)/];
const isSensitive = (host: string) => SENSITIVE.some((r) => r.test(host));
const everyHost = (h: string) => h === '*' || h === '*.*' || h === '**';

function leastPrivilege(ctx: CheckContext): CheckResult {
  if (ctx.policies.length === 0) return result('not_assessed', ['no policy given: pass the policies in force (--policy FILE)']);
  const major: string[] = [];
  const minor: string[] = [];
  for (const { source, policy: p } of ctx.policies) {
    for (const m of p.mounts) if (m.mode === 'rw' && isSensitive(m.host)) major.push(`${source}: mounts ${m.host} read-write at ${m.guest}`);
    if (p.networkRules.allowedHosts.some(everyHost)) major.push(`${source}: networkRules.allowedHosts allows every host`);
    if (p.toolAccess.allow.includes('*')) major.push(`${source}: toolAccess.allow allows every tool`);
    if (p.fileAccess.readwrite.some((g) => g === '/**' || g === '**')) major.push(`${source}: fileAccess.readwrite covers every path`);
    if (p.capabilities.forbidden.length === 0) minor.push(`${source}: no forbidden capabilities (capabilities.forbidden is empty)`);
  }
  const ev: Evidence[] = ctx.policies.map((p) => ({ kind: 'configuration', description: 'policy in force', source: p.source }));
  ev.push(...records(ctx, 'decision_denied', 'requests the policies denied'));
  if (major.length > 0) return result('non_compliant', major, ev);
  if (minor.length > 0) return result('partial', ['access is denied by default and granted by name', ...minor], ev);
  return result('compliant', [`${ctx.policies.length} policies deny by default, grant by name, and forbid capabilities explicitly`], ev);
}

function authentication(ctx: CheckContext): CheckResult {
  const f = ctx.facts.counts;
  const ev = [...records(ctx, 'authentication_success', 'agents authenticated'), ...records(ctx, 'authentication_failure', 'authentication failures'), ...records(ctx, 'quarantine', 'agents contained')];
  if (f.authentication_success === 0) return result('non_compliant', ['no agent authenticated in the period'], ev);
  const reasons = [`${f.authentication_success} authentications of agent identities or tokens`];
  if (f.authentication_failure > 0) reasons.push(`${f.authentication_failure} failures, each refused and recorded${f.security_alert > 0 ? '; the monitor raised alerts' : ''}`);
  return result('compliant', reasons, ev);
}

function encryptionAtRest(ctx: CheckContext): CheckResult {
  const ks = ctx.keyStore;
  if (!ks) return result('not_assessed', ['no key store given (--keys DIR)']);
  const ev: Evidence[] = [{ kind: 'configuration', description: `key store: ${ks.files.length} key files`, source: ks.dir }];
  const plain = ks.files.filter((k) => k.plaintext);
  if (plain.length > 0) return result('non_compliant', plain.map((k) => `${k.file} holds a private key in the clear`), ev);
  const reasons = [`${ks.files.filter((k) => k.encrypted).length} private keys encrypted (AES-256-GCM under a scrypt-derived key)`];
  // What the sandbox does not encrypt itself is said, and leaves the control to a person.
  reasons.push('the audit log is integrity-protected, not encrypted: its volume must be encrypted (a person must show it)');
  if (ctx.logKeyPlaintext) reasons.push("the audit log's checkpoint key is a plaintext PKCS#8 file (mode 0600)");
  return result('partial', reasons, ev);
}

function changeManagement(ctx: CheckContext): CheckResult {
  const f = ctx.facts;
  const changes = f.counts.policy_updated + f.counts.policy_rejected;
  const ev = [...records(ctx, 'policy_updated', 'policy changes that took effect'), ...records(ctx, 'policy_rejected', 'policy changes rejected')];
  if (changes === 0) return result('compliant', ['no policy changed in the period (each change and rejection is recorded)'], ev);
  const without = changes - f.policyChangesWithActor;
  if (without > 0) return result('partial', [`${changes} policy changes recorded (${f.counts.policy_rejected} rejected); ${without} do not say who made them`], ev);
  return result('compliant', [`${changes} policy changes recorded with who made them (${f.counts.policy_rejected} rejected)`], ev);
}

function monitoring(ctx: CheckContext): CheckResult {
  const f = ctx.facts;
  const ev = [...records(ctx, 'security_alert', 'alerts raised'), ...records(ctx, 'quarantine', 'agents contained')];
  if (f.counts.security_alert === 0) return result('partial', ['no alert in the period: the log cannot show the monitor running (a person must confirm its settings)'], ev);
  const sev = Object.entries(f.alertsBySeverity).map(([k, n]) => `${n} ${k}`).join(', ');
  return result('compliant', [`${f.counts.security_alert} alerts raised and recorded (${sev}); ${f.quarantined.size} agents contained`], ev);
}

function incidentResponse(ctx: CheckContext): CheckResult {
  const inPeriod = ctx.incidents.filter((i) => i.detection.time >= ctx.facts.since && i.detection.time < ctx.facts.until);
  const ev = records(ctx, 'release', 'releases and resolutions, with who');
  if (inPeriod.length === 0) return result('compliant', ['no incident in the period'], ev);
  const late: string[] = [];
  for (const i of inPeriod) {
    const contained = i.containment?.time;
    if (contained !== undefined && contained - i.detection.time > ctx.containWithinMs) late.push(`${i.id}: contained ${hours(contained - i.detection.time)} after detection (expected within ${hours(ctx.containWithinMs)})`);
    const resolved = i.timeline.find((t) => t.step === 'resolved')?.time;
    const age = (resolved ?? ctx.now) - i.detection.time;
    if (age > ctx.resolveWithinMs) late.push(`${i.id}: ${resolved === undefined ? 'still open' : 'resolved'} ${hours(age)} after detection (expected within ${hours(ctx.resolveWithinMs)})`);
  }
  const resolved = inPeriod.filter((i) => i.state === 'resolved').length;
  const summary = `${inPeriod.length} incidents (${resolved} resolved, ${inPeriod.filter((i) => i.containment).length} contained)`;
  return late.length > 0 ? result('non_compliant', [summary, ...late], ev) : result('compliant', [`${summary}, each within the stated times`], ev);
}

function retention(ctx: CheckContext): CheckResult {
  const required = ctx.framework.retentionDays ?? ctx.retentionDays;
  if (required === undefined) return result('not_assessed', [`${ctx.framework.name} sets no retention period: give the organisation's (--retention-days N)`]);
  const ev = records(ctx, 'audit_pruned', 'pruning of the log');
  const { oldest, pruned } = ctx.retained;
  if (!pruned) return result('compliant', [`nothing was ever pruned: every record since ${oldest !== undefined ? new Date(oldest).toISOString() : 'the start'} is kept (required: ${required} days)`], ev);
  const kept = oldest === undefined ? 0 : ctx.now - oldest;
  if (kept >= required * 86_400_000) return result('compliant', [`records are kept ${days(kept)} back (required: ${required} days)`], ev);
  return result('non_compliant', [`pruning removed records younger than ${required} days: the oldest kept is ${days(kept)} old`], ev);
}

function componentIntegrity(ctx: CheckContext): CheckResult {
  const f = ctx.facts;
  const ev = [...records(ctx, 'signature_verified', 'signatures verified at load'), ...records(ctx, 'signature_refused', 'components refused for their signature'), ...records(ctx, 'component_spawned', 'components started')];
  if (f.spawned.size === 0) return result('not_assessed', ['no component started in the period'], ev);
  const unsigned = unsignedComponents(f);
  if (unsigned.length === 0) return result('compliant', [`all ${f.spawned.size} components started were signed and verified`], ev);
  if (unsigned.length === f.spawned.size) return result('non_compliant', [`none of the ${f.spawned.size} components started had a verified signature (set trust in the sandbox options)`], ev);
  return result('partial', [`${unsigned.length} of ${f.spawned.size} components started had no verified signature`], ev);
}

function dataAccessLogging(ctx: CheckContext): CheckResult {
  const classified = ctx.policies.flatMap((p) => p.policy.authz.dataPolicies.map((d) => d.dataId));
  const ev = records(ctx, 'data_access', 'decisions on classified data');
  if (classified.length === 0 && ctx.facts.dataIds.size === 0) return result('not_assessed', ['no dataPolicies classify data in the policies given']);
  if (ctx.facts.dataIds.size === 0) return result('partial', [`${classified.length} data policies, but no access to classified data was recorded in the period`], ev);
  return result('compliant', [`${ctx.facts.counts.data_access} decisions on ${ctx.facts.dataIds.size} classified data ids recorded, each with its agent and policy`], ev);
}

function networkRestriction(ctx: CheckContext): CheckResult {
  if (ctx.policies.length === 0) return result('not_assessed', ['no policy given: pass the policies in force (--policy FILE)']);
  const ev: Evidence[] = [...records(ctx, 'network_denied', 'connections refused'), ...records(ctx, 'network_allowed', 'connections allowed')];
  const granting = ctx.policies.filter((p) => p.policy.capabilities.allowed.includes('network_access') && !p.policy.capabilities.forbidden.includes('network_access'));
  if (granting.length === 0) return result('compliant', ['no policy grants network access'], ev);
  const open = granting.filter((p) => p.policy.networkRules.allowedHosts.some(everyHost)).map((p) => `${p.source}: every host allowed`);
  if (open.length > 0) return result('non_compliant', open, ev);
  const cleartext = granting.filter((p) => p.policy.networkRules.protocols.includes('http')).map((p) => `${p.source}: plain http allowed`);
  const reasons = [`${granting.length} policies grant network access to named hosts only`];
  return cleartext.length > 0 ? result('partial', [...reasons, ...cleartext], ev) : result('compliant', reasons, ev);
}

export const CHECKS: Readonly<Record<CheckId, (ctx: CheckContext) => CheckResult>> = {
  'audit-integrity': auditIntegrity,
  'decisions-logged': decisionsLogged,
  'least-privilege': leastPrivilege,
  authentication,
  'encryption-at-rest': encryptionAtRest,
  'change-management': changeManagement,
  monitoring,
  'incident-response': incidentResponse,
  retention,
  'component-integrity': componentIntegrity,
  'data-access-logging': dataAccessLogging,
  'network-restriction': networkRestriction,
};
