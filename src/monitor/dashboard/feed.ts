/**
 * What the dashboard shows, read from an audit directory as it grows (the directory a running
 * sandbox writes, or one left behind): the newest records, agents and their state, alerts,
 * denials and alerts per minute, a risk score per agent, the chain's verification status and
 * its latest checkpoint. Reads go through a snapshot of the store (`openAuditReader`), so a
 * sandbox writing it is never disturbed.
 */
import { openAuditReader } from '../../audit/reader.js';
import { queryRecords } from '../../audit/query.js';
import { verifyStore } from '../../audit/verify.js';
import type { AuditRecord } from '../../audit/record.js';
import type { Checkpoint } from '../../audit/checkpoint.js';

/** One record as the page shows it. */
export interface FeedRecord {
  readonly seq: number;
  readonly time: number;
  readonly type: string;
  readonly severity: string;
  readonly agentId: string;
  readonly action: string;
  readonly resource: string;
  readonly outcome: string;
  readonly reason: string;
  readonly capability: string;
}

/** An agent as the page shows it. */
export interface FeedAgent {
  readonly id: string;
  state: 'running' | 'closed' | 'quarantined';
  type: string;
  lastSeen: number;
  decisions: number;
  denials: number[];
  alerts: { readonly severity: string; readonly time: number }[];
}

const KEEP_RECORDS = 500;
const KEEP_ALERTS = 200;
const MINUTE = 60_000;
const SERIES_MINUTES = 60;
const SEVERITY_POINTS: Record<string, number> = { low: 5, medium: 10, high: 25, critical: 50 };

/**
 * The seeds' risk assessment, made explicit: 2 points per denial in the last hour (at most 40),
 * plus 5/10/25/50 per low/medium/high/critical alert in the last day; 100 when quarantined;
 * capped at 100.
 */
export function riskScore(a: FeedAgent, now = Date.now()): number {
  if (a.state === 'quarantined') return 100;
  const denials = Math.min(40, 2 * a.denials.filter((t) => now - t < 60 * MINUTE).length);
  const alerts = a.alerts.filter((x) => now - x.time < 24 * 60 * MINUTE).reduce((n, x) => n + (SEVERITY_POINTS[x.severity] ?? 0), 0);
  return Math.min(100, denials + alerts);
}

function toFeed(r: AuditRecord): FeedRecord {
  const d = (r.details ?? {}) as Record<string, unknown>;
  return {
    seq: r.seq,
    time: r.timestamp,
    type: r.eventType,
    severity: r.severity,
    agentId: r.agentId,
    action: r.action,
    resource: r.resource,
    outcome: r.outcome,
    reason: typeof d['reason'] === 'string' ? d['reason'] : '',
    capability: typeof d['capability'] === 'string' ? d['capability'] : '',
  };
}

export class DashboardFeed {
  private next = 0;
  readonly records: FeedRecord[] = [];
  readonly alerts: FeedRecord[] = [];
  readonly agents = new Map<string, FeedAgent>();
  private readonly series = new Map<number, { denials: number; alerts: number }>();
  verification: { ok: boolean; size: number; checkedAt: number; firstBad?: number; problem?: string } | undefined;
  checkpoint: Checkpoint | undefined;
  private verifiedSize = -1;
  private verifiedAt = 0;
  private readonly listeners = new Set<(r: FeedRecord[]) => void>();
  error: string | undefined;

  constructor(readonly dir: string) {}

  /** Told of every batch of new records. */
  subscribe(fn: (r: FeedRecord[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private agent(id: string): FeedAgent {
    let a = this.agents.get(id);
    if (!a) this.agents.set(id, (a = { id, state: 'running', type: '', lastSeen: 0, decisions: 0, denials: [], alerts: [] }));
    return a;
  }

  private bucket(time: number): { denials: number; alerts: number } {
    const m = Math.floor(time / MINUTE);
    let b = this.series.get(m);
    if (!b) {
      this.series.set(m, (b = { denials: 0, alerts: 0 }));
      for (const k of this.series.keys()) if (k < m - SERIES_MINUTES) this.series.delete(k);
    }
    return b;
  }

  private take(r: AuditRecord): FeedRecord {
    const f = toFeed(r);
    const d = (r.details ?? {}) as Record<string, unknown>;
    if (f.agentId !== '*') {
      const a = this.agent(f.agentId);
      a.lastSeen = f.time;
      if (f.type === 'agent_spawn' && a.state !== 'quarantined') a.state = 'running';
      if (f.type === 'agent_terminate' && a.state !== 'quarantined') a.state = 'closed';
      if (f.type === 'authentication_success' && typeof d['agentType'] === 'string') a.type = d['agentType'];
      const decision = f.type === 'capability_used' || f.type === 'capability_denied' || f.type === 'authentication_failure' || f.type === 'limit_exceeded';
      if (decision) a.decisions++;
      if (decision && f.outcome !== 'success') {
        a.denials.push(f.time);
        if (a.denials.length > 1000) a.denials.shift();
        this.bucket(f.time).denials++;
      }
      if (f.type === 'security_alert' && f.action === 'quarantine') a.state = 'quarantined';
      if (f.type === 'authorization_granted' && f.action === 'release') a.state = 'closed';
    }
    if (f.type === 'security_alert' && f.action !== 'quarantine' && typeof d['alertId'] === 'string') {
      this.alerts.push(f);
      if (this.alerts.length > KEEP_ALERTS) this.alerts.shift();
      this.bucket(f.time).alerts++;
      if (f.agentId !== '*') this.agent(f.agentId).alerts.push({ severity: f.severity, time: f.time });
    }
    return f;
  }

  /** Read what was added since the last poll; returns the new records. */
  async poll(): Promise<FeedRecord[]> {
    let reader;
    try {
      reader = await openAuditReader(this.dir);
    } catch (e) {
      this.error = (e as Error).message;
      return [];
    }
    this.error = undefined;
    const fresh: FeedRecord[] = [];
    try {
      if (reader.head.size > this.next) {
        // The first read shows the newest records, not the whole history.
        const from = this.next === 0 ? Math.max(reader.base, reader.head.size - 5000) : this.next;
        for await (const r of queryRecords(reader.store, { from })) fresh.push(this.take(r));
        this.next = reader.head.size;
      }
      for await (const c of reader.store.checkpoints({ reverse: true, limit: 1 })) this.checkpoint = JSON.parse(c.json) as Checkpoint;
      // Verification reads the whole log: at most every 5 s, and only when it grew.
      if (reader.head.size !== this.verifiedSize && Date.now() - this.verifiedAt >= 5000) {
        this.verifiedAt = Date.now();
        const v = await verifyStore(reader.store);
        this.verifiedSize = reader.head.size;
        const first = v.problems[0];
        this.verification = { ok: v.ok, size: v.size, checkedAt: Date.now(), ...(v.firstBad !== undefined ? { firstBad: v.firstBad } : {}), ...(first ? { problem: `${first.code}: ${first.message}` } : {}) };
      }
    } finally {
      await reader.close();
    }
    for (const f of fresh) {
      this.records.push(f);
      if (this.records.length > KEEP_RECORDS) this.records.shift();
    }
    if (fresh.length > 0) for (const l of this.listeners) l(fresh);
    return fresh;
  }

  /** Denials and alerts per minute, oldest first, for the last hour. */
  timeline(now = Date.now()): { minute: number; denials: number; alerts: number }[] {
    const end = Math.floor(now / MINUTE);
    const out = [];
    for (let m = end - SERIES_MINUTES + 1; m <= end; m++) out.push({ minute: m * MINUTE, ...(this.series.get(m) ?? { denials: 0, alerts: 0 }) });
    return out;
  }
}
