/**
 * What the audit chain says about a period, gathered in one pass over its records: counts by
 * kind (decisions, denials, authentication, signatures, policy changes, alerts, quarantines,
 * data access, pruning) and, for each kind, the sequence numbers of a few records as evidence.
 * The checks (checks.ts) judge from these facts alone, so the log is read once however many
 * controls a framework has. Memory is bounded: counters, per-kind samples and the set of
 * component hashes (one per distinct component).
 */
import type { AuditRecord } from '../audit/record.js';

/** Sequence numbers kept per kind of fact, as evidence (the first ones of the period). */
export const SAMPLES_PER_FACT = 5;

/** The kinds of fact that carry evidence samples. */
export type FactKind =
  | 'decision_allowed'
  | 'decision_denied'
  | 'audit_refused'
  | 'authentication_success'
  | 'authentication_failure'
  | 'signature_verified'
  | 'signature_refused'
  | 'component_spawned'
  | 'unsigned_spawn'
  | 'policy_updated'
  | 'policy_rejected'
  | 'security_alert'
  | 'quarantine'
  | 'release'
  | 'data_access'
  | 'network_allowed'
  | 'network_denied'
  | 'limit_exceeded'
  | 'audit_pruned';

/** The facts of one period of one log. */
export interface AuditFacts {
  readonly since: number;
  readonly until: number;
  records: number;
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  firstTime: number | undefined;
  lastTime: number | undefined;
  readonly counts: Record<FactKind, number>;
  readonly samples: Record<FactKind, number[]>;
  /** Components started in the period (SHA-256 of the component or native executable). */
  readonly spawned: Set<string>;
  /** Components whose signature was verified in the period. */
  readonly verified: Set<string>;
  /** Alerts by severity. */
  readonly alertsBySeverity: Record<string, number>;
  /** Agents quarantined in the period. */
  readonly quarantined: Set<string>;
  /** Policy changes that name who made them (`details.by`, or the watched file). */
  policyChangesWithActor: number;
  /** Data ids accessed (from `data:` matches), with their decisions. */
  readonly dataIds: Map<string, { allowed: number; denied: number }>;
  /** Activity per UTC day (days since the epoch): decisions, denials, alerts (for the report's charts). */
  readonly perDay: Map<number, DayActivity>;
}

/** One UTC day of the period. */
export interface DayActivity {
  decisions: number;
  denials: number;
  alerts: number;
}

const KINDS: readonly FactKind[] = [
  'decision_allowed', 'decision_denied', 'audit_refused', 'authentication_success', 'authentication_failure', 'signature_verified', 'signature_refused',
  'component_spawned', 'unsigned_spawn', 'policy_updated', 'policy_rejected', 'security_alert', 'quarantine', 'release', 'data_access', 'network_allowed',
  'network_denied', 'limit_exceeded', 'audit_pruned',
];

export function emptyFacts(since: number, until: number): AuditFacts {
  return {
    since,
    until,
    records: 0,
    firstSeq: undefined,
    lastSeq: undefined,
    firstTime: undefined,
    lastTime: undefined,
    counts: Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<FactKind, number>,
    samples: Object.fromEntries(KINDS.map((k) => [k, []])) as unknown as Record<FactKind, number[]>,
    spawned: new Set(),
    verified: new Set(),
    alertsBySeverity: {},
    quarantined: new Set(),
    policyChangesWithActor: 0,
    dataIds: new Map(),
    perDay: new Map(),
  };
}

const DAY_MS = 86_400_000;

/** The activity of the record's UTC day. */
function dayOf(f: AuditFacts, time: number): DayActivity {
  const n = Math.floor(time / DAY_MS);
  let d = f.perDay.get(n);
  if (!d) f.perDay.set(n, (d = { decisions: 0, denials: 0, alerts: 0 }));
  return d;
}

/** A day of {@link AuditFacts.perDay} as the report names it (`YYYY-MM-DD`). */
export const dayName = (n: number): string => new Date(n * DAY_MS).toISOString().slice(0, 10);

function note(f: AuditFacts, kind: FactKind, seq: number): void {
  f.counts[kind]++;
  const s = f.samples[kind];
  if (s.length < SAMPLES_PER_FACT) s.push(seq);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Count one record of the period (its place and time). */
function counted(f: AuditFacts, seq: number, time: number): void {
  f.records++;
  f.firstSeq ??= seq;
  f.lastSeq = seq;
  f.firstTime ??= time;
  f.lastTime = time;
}

/**
 * Add one access decision that names no data policy and was not refused for want of the log:
 * what the scan's fast path (scan.ts) reads from a record without parsing it.
 */
export function addPlainDecision(f: AuditFacts, seq: number, time: number, allowed: boolean, network: boolean): void {
  counted(f, seq, time);
  const day = dayOf(f, time);
  day.decisions++;
  if (!allowed) day.denials++;
  note(f, allowed ? 'decision_allowed' : 'decision_denied', seq);
  if (network) note(f, allowed ? 'network_allowed' : 'network_denied', seq);
}

/** Add one record of the period to the facts. */
export function addRecord(f: AuditFacts, r: AuditRecord): void {
  const d = (r.details ?? {}) as Record<string, unknown>;
  const capability = str(d['capability']);
  const decision = r.eventType === 'capability_used' || r.eventType === 'capability_denied';
  if (decision) {
    const allowed = r.outcome === 'success';
    addPlainDecision(f, r.seq, r.timestamp, allowed, capability === 'network_access');
    if (!allowed && /^AUDIT_UNAVAILABLE\b/.test(str(d['reason']) ?? '')) note(f, 'audit_refused', r.seq);
    const matched = Array.isArray(d['matched']) ? (d['matched'] as unknown[]) : [];
    for (const m of matched) {
      if (typeof m !== 'string' || !m.startsWith('data:') || m === 'data:none') continue;
      const id = m.slice('data:'.length);
      let e = f.dataIds.get(id);
      if (!e) f.dataIds.set(id, (e = { allowed: 0, denied: 0 }));
      if (allowed) e.allowed++;
      else e.denied++;
      note(f, 'data_access', r.seq);
    }
    return;
  }
  counted(f, r.seq, r.timestamp);
  switch (r.eventType) {
    case 'authentication_success':
      note(f, r.action === 'verify-signature' ? 'signature_verified' : 'authentication_success', r.seq);
      if (r.action === 'verify-signature') f.verified.add(r.resource);
      break;
    case 'authentication_failure':
      note(f, r.action === 'verify-signature' ? 'signature_refused' : 'authentication_failure', r.seq);
      break;
    case 'agent_spawn':
      note(f, 'component_spawned', r.seq);
      f.spawned.add(r.resource);
      break;
    case 'policy_updated':
    case 'policy_rejected':
      note(f, r.eventType, r.seq);
      if (str(d['by']) !== undefined || (str(d['api']) ?? '').startsWith('watch:') || r.provenance !== undefined) f.policyChangesWithActor++;
      break;
    case 'security_alert':
      if (r.action === 'quarantine') {
        note(f, 'quarantine', r.seq);
        f.quarantined.add(r.agentId);
      } else {
        note(f, 'security_alert', r.seq);
        dayOf(f, r.timestamp).alerts++;
        f.alertsBySeverity[r.severity] = (f.alertsBySeverity[r.severity] ?? 0) + 1;
      }
      break;
    case 'authorization_granted':
      // An operator's release or resolution of a contained agent (the monitor's records).
      if (capability === 'monitor' && (r.action === 'release' || r.action === 'resolve')) note(f, 'release', r.seq);
      break;
    case 'limit_exceeded':
      note(f, 'limit_exceeded', r.seq);
      break;
    case 'audit_pruned':
      note(f, 'audit_pruned', r.seq);
      break;
  }
}

/** Components started in the period that no verified signature covers. */
export function unsignedComponents(f: AuditFacts): string[] {
  return [...f.spawned].filter((h) => !f.verified.has(h));
}

