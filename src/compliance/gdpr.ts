/**
 * GDPR views of the audit chain. Decisions on classified data are the ones whose record
 * matched a data policy (`data:<dataId>` among its matched rules; see src/authz/engine.ts):
 *
 * - Art. 30, records of processing: per agent and data policy, which resources it accessed
 *   (or was refused), how, how often, first and last time, and the classification;
 * - Art. 15, a data subject's access: every decision on one data id or resource, in order,
 *   with its audit sequence number (provable with `agentos audit proof --seq N`).
 */
import { queryAuditLog } from '../audit/index.js';
import type { AuditRecord } from '../audit/record.js';
import type { SandboxPolicy } from '../policy/schema.js';

/** One line of the record of processing. */
export interface ProcessingRecord {
  readonly agentId: string;
  /** The data policy that covered the access (its `dataId` pattern). */
  readonly dataPolicy: string;
  readonly classification: string;
  /** Resources accessed under it (at most {@link MAX_RESOURCES} listed). */
  readonly resources: string[];
  /** Decisions by action and outcome, e.g. `{ "read": { "allowed": 3, "denied": 1 } }`. */
  readonly actions: Record<string, { allowed: number; denied: number }>;
  first: string;
  last: string;
}

/** One decision in a data id's history. */
export interface AccessEvent {
  readonly seq: number;
  readonly time: string;
  readonly agentId: string;
  readonly action: string;
  readonly resource: string;
  readonly outcome: string;
  readonly reason: string;
  readonly dataPolicy?: string;
}

export const MAX_RESOURCES = 100;

function dataPolicies(r: AuditRecord): string[] {
  const m = (r.details as Record<string, unknown> | undefined)?.['matched'];
  return Array.isArray(m) ? m.filter((x): x is string => typeof x === 'string' && x.startsWith('data:') && x !== 'data:none').map((x) => x.slice('data:'.length)) : [];
}

/** The classification of a data policy, from the policies given, else from the decision's reason (`… (restricted) …`). */
function classificationOf(policies: readonly SandboxPolicy[], dataId: string, reason: string): string {
  for (const p of policies) for (const d of p.authz.dataPolicies) if (d.dataId === dataId) return d.classification;
  return /\((public|internal|confidential|restricted)\)/.exec(reason)?.[1] ?? 'unknown';
}

/** GDPR Art. 30: what each agent did with classified data in the period. */
export async function recordsOfProcessing(auditDir: string, o: { since?: number; until?: number; policies?: readonly SandboxPolicy[] } = {}): Promise<ProcessingRecord[]> {
  const out = new Map<string, ProcessingRecord>();
  for await (const r of queryAuditLog(auditDir, { eventType: ['capability_used', 'capability_denied'], ...(o.since !== undefined ? { since: o.since } : {}), ...(o.until !== undefined ? { until: o.until } : {}) })) {
    for (const dp of dataPolicies(r)) {
      const key = `${r.agentId}\u0000${dp}`;
      const time = new Date(r.timestamp).toISOString();
      let e = out.get(key);
      if (!e) {
        const reason = String((r.details as Record<string, unknown> | undefined)?.['reason'] ?? '');
        e = { agentId: r.agentId, dataPolicy: dp, classification: classificationOf(o.policies ?? [], dp, reason), resources: [], actions: {}, first: time, last: time };
        out.set(key, e);
      }
      e.last = time;
      if (e.resources.length < MAX_RESOURCES && !e.resources.includes(r.resource)) e.resources.push(r.resource);
      const a = (e.actions[r.action] ??= { allowed: 0, denied: 0 });
      if (r.outcome === 'success') a.allowed++;
      else a.denied++;
    }
  }
  return [...out.values()].sort((a, b) => (a.agentId === b.agentId ? (a.dataPolicy < b.dataPolicy ? -1 : 1) : a.agentId < b.agentId ? -1 : 1));
}

/** GDPR Art. 15: every decision on `dataId` — a resource named exactly so, or a data policy with that id. */
export async function accessHistory(auditDir: string, dataId: string, o: { since?: number } = {}): Promise<AccessEvent[]> {
  const out: AccessEvent[] = [];
  for await (const r of queryAuditLog(auditDir, { eventType: ['capability_used', 'capability_denied'], ...(o.since !== undefined ? { since: o.since } : {}) })) {
    const dps = dataPolicies(r);
    if (r.resource !== dataId && !dps.includes(dataId)) continue;
    out.push({
      seq: r.seq,
      time: new Date(r.timestamp).toISOString(),
      agentId: r.agentId,
      action: r.action,
      resource: r.resource,
      outcome: r.outcome,
      reason: String((r.details as Record<string, unknown> | undefined)?.['reason'] ?? ''),
      ...(dps.length > 0 ? { dataPolicy: dps[0]! } : {}),
    });
  }
  return out;
}
