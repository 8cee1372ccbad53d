/**
 * Anomaly detection per agent type against a learned baseline. Each finished run of an agent
 * is summarized — fuel, duration, gate decisions, calls per capability, the denial ratio, the
 * hosts it reached, the directories it touched — and compared with the runs of its type so far:
 *
 * - a figure far above its usual range (robust z-score over the last runs: (x − median) /
 *   (1.4826 × MAD), with a floor so that a constant baseline does not make every change an
 *   outlier) → `unusual_resource_usage` (fuel, duration, decisions) or
 *   `suspicious_network_activity` (network calls);
 * - a host never reached by this type before → `suspicious_network_activity`;
 * - a capability never used, a directory never touched, or a denial ratio far above usual →
 *   `abnormal_task_patterns`;
 * - two or more of these kinds in one run → `potential_compromise` (critical: contained).
 *
 * Only agents whose type is declared (the policy's `agent.type`, or a signed component's
 * claims) are judged: a baseline needs a stable notion of "the same kind of agent". Nothing is
 * judged before a type has `warmupRuns` runs (default 20). Baselines are kept in a JSON file
 * and survive restarts.
 */
import { isInboundRefusal } from './rules.js';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { AuditEvent } from '../gate/types.js';
import type { AlertDraft, AlertType, MonitorEvent, Severity } from './types.js';

/** What the sandbox reports when a run ends. */
export interface RunSummary {
  /** The agent's declared type; undefined: none (the run is counted, not judged). */
  readonly agentType: string | undefined;
  readonly ok: boolean;
  readonly fuelUsed: number;
  readonly durationMs: number;
}

/** Options of anomaly detection (`monitor.anomaly`). */
export interface AnomalyOptions {
  /** Runs of a type before anything is judged. Default 20. */
  readonly warmupRuns?: number;
  /** Robust z-score above which a figure is an outlier. Default 6. */
  readonly threshold?: number;
  /** Where baselines are kept; default `monitor-baselines.json` beside the incidents. */
  readonly file?: string;
}

const WINDOW = 200;
const MAX_SET = 2000;
const EVIDENCE = 16;

interface Current {
  decisions: number;
  denials: number;
  calls: Map<string, number>;
  hosts: Set<string>;
  dirs: Set<string>;
  evidence: MonitorEvent[];
}

/** The learned profile of one agent type. */
interface Baseline {
  runs: number;
  readonly figures: Map<string, number[]>;
  readonly caps: Set<string>;
  readonly hosts: Set<string>;
  readonly dirs: Set<string>;
}

interface Stored {
  readonly version: 1;
  readonly types: Record<string, { runs: number; figures: Record<string, number[]>; caps: string[]; hosts: string[]; dirs: string[] }>;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The robust z-score of `x` against `xs` (0 when it is not above the median). */
export function robustScore(x: number, xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const med = median(xs);
  if (x <= med) return 0;
  const mad = median(xs.map((v) => Math.abs(v - med)));
  const scale = Math.max(1.4826 * mad, 0.1 * Math.abs(med), 1);
  return (x - med) / scale;
}

/** The host of a canonical origin (`https://api.example.com:443` → `api.example.com:443`); cheaper than parsing a URL per event. */
function hostOf(target: string): string {
  const i = target.indexOf('://');
  return i < 0 ? target : target.slice(i + 3);
}

/**
 * The directory a guest path is under, at most two segments deep: `/workspace/src/a.ts` →
 * `/workspace/src`, `/w/a.txt` → `/w`, `/a.txt` → `/a.txt`.
 */
export function dirOf(path: string): string {
  const first = path.indexOf('/', 1);
  if (first < 0) return path;
  const second = path.indexOf('/', first + 1);
  return second < 0 ? path.slice(0, first) : path.slice(0, second);
}

const isDecision = (e: AuditEvent) => (e.type === 'capability_used' || e.type === 'capability_denied' || e.type === 'limit_exceeded' || e.type === 'authentication_failure') && !isInboundRefusal(e);

export class AnomalyDetector {
  private readonly current = new Map<string, Current>();
  private readonly baselines = new Map<string, Baseline>();
  private readonly warmup: number;
  private readonly threshold: number;
  private dirty = 0;

  constructor(
    private readonly file: string | undefined,
    o: AnomalyOptions = {},
  ) {
    this.warmup = o.warmupRuns ?? 20;
    this.threshold = o.threshold ?? 6;
    if (!Number.isInteger(this.warmup) || this.warmup < 1) throw new RangeError('monitor.anomaly.warmupRuns must be a whole number ≥ 1');
    if (!(this.threshold > 0)) throw new RangeError('monitor.anomaly.threshold must be > 0');
    this.load();
  }

  private load(): void {
    if (!this.file) return;
    let s: Stored;
    try {
      s = JSON.parse(readFileSync(this.file, 'utf8')) as Stored;
    } catch {
      return; // none yet (or unreadable: start over rather than fail the sandbox)
    }
    if (s?.version !== 1 || typeof s.types !== 'object' || s.types === null) return;
    for (const [type, b] of Object.entries(s.types)) {
      const figures = new Map<string, number[]>();
      for (const [k, v] of Object.entries(b.figures ?? {})) if (Array.isArray(v)) figures.set(k, v.filter((x) => typeof x === 'number').slice(-WINDOW));
      this.baselines.set(type, { runs: Number(b.runs) || 0, figures, caps: new Set(b.caps ?? []), hosts: new Set(b.hosts ?? []), dirs: new Set(b.dirs ?? []) });
    }
  }

  /** Write the baselines (atomically). */
  save(): void {
    if (!this.file || this.dirty === 0) return;
    const types: Stored['types'] = {};
    for (const [type, b] of this.baselines) types[type] = { runs: b.runs, figures: Object.fromEntries(b.figures), caps: [...b.caps], hosts: [...b.hosts], dirs: [...b.dirs] };
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ version: 1, types } satisfies Stored), { mode: 0o600 });
    renameSync(tmp, this.file);
    this.dirty = 0;
  }

  /** Count one event into its agent's current run. */
  observe(m: MonitorEvent): void {
    const e = m.event;
    if (!isDecision(e)) return;
    let c = this.current.get(e.agentId);
    if (!c) this.current.set(e.agentId, (c = { decisions: 0, denials: 0, calls: new Map(), hosts: new Set(), dirs: new Set(), evidence: [] }));
    c.decisions++;
    if (e.outcome === 'denied') c.denials++;
    c.calls.set(e.capability, (c.calls.get(e.capability) ?? 0) + 1);
    if (e.resource === 'network' && c.hosts.size < MAX_SET) c.hosts.add(hostOf(e.target));
    if (e.resource === 'file' && c.dirs.size < MAX_SET) c.dirs.add(dirOf(e.target));
    if (c.evidence.length < EVIDENCE) c.evidence.push(m);
  }

  /** Judge the agent's finished run against its type's baseline, then learn from it. */
  runEnded(agentId: string, run: RunSummary, raise: (a: AlertDraft) => void): void {
    const c = this.current.get(agentId) ?? { decisions: 0, denials: 0, calls: new Map<string, number>(), hosts: new Set<string>(), dirs: new Set<string>(), evidence: [] };
    this.current.delete(agentId);
    const type = run.agentType;
    if (type === undefined) return;
    let b = this.baselines.get(type);
    if (!b) this.baselines.set(type, (b = { runs: 0, figures: new Map(), caps: new Set(), hosts: new Set(), dirs: new Set() }));
    const figures: Record<string, number> = { fuel: run.fuelUsed, durationMs: run.durationMs, decisions: c.decisions, denialRatio: c.decisions ? c.denials / c.decisions : 0 };
    for (const [cap, n] of c.calls) figures[`calls:${cap}`] = n;
    const found = new Map<AlertType, string[]>();
    const note = (t: AlertType, why: string) => found.set(t, [...(found.get(t) ?? []), why]);
    if (b.runs >= this.warmup) {
      for (const [name, x] of Object.entries(figures)) {
        const z = robustScore(name === 'denialRatio' ? x * 100 : x, (b.figures.get(name) ?? [0]).map((v) => (name === 'denialRatio' ? v * 100 : v)));
        if (z < this.threshold) continue;
        const why = `${name} ${round(x)} against a usual ${round(median(b.figures.get(name) ?? [0]))} (robust z ${round(z)})`;
        if (name === 'denialRatio') note('abnormal_task_patterns', why);
        else if (name === 'calls:network_access') note('suspicious_network_activity', why);
        else note('unusual_resource_usage', why);
      }
      for (const cap of c.calls.keys()) if (!b.caps.has(cap)) note('abnormal_task_patterns', `first use of ${cap} by a ${type} agent`);
      for (const h of c.hosts) if (!b.hosts.has(h)) note('suspicious_network_activity', `first connection of a ${type} agent to ${h}`);
      for (const d of c.dirs) if (!b.dirs.has(d)) note('abnormal_task_patterns', `first access of a ${type} agent under ${d}`);
    }
    const severity: Record<string, Severity> = { unusual_resource_usage: 'medium', suspicious_network_activity: 'high', abnormal_task_patterns: 'medium' };
    for (const [kind, why] of found) {
      raise({ type: kind, severity: severity[kind] ?? 'medium', agentId, detector: 'anomaly', message: why.join('; '), evidence: c.evidence, details: { agentType: type, baselineRuns: b.runs, findings: why } });
    }
    if (found.size >= 2) {
      raise({ type: 'potential_compromise', severity: 'critical', agentId, detector: 'anomaly', message: `${found.size} kinds of anomaly in one run: ${[...found.keys()].join(', ')}`, evidence: c.evidence, details: { agentType: type, kinds: [...found.keys()] } });
    }
    // Learn: a run that raised nothing, or any run during warm-up (anomalous runs stay anomalous).
    if (found.size === 0) {
      b.runs++;
      for (const [name, x] of Object.entries(figures)) push(b.figures, name, x);
      // Capabilities a run did not use count as zero calls for it.
      for (const name of b.figures.keys()) if (name.startsWith('calls:') && !(name in figures)) push(b.figures, name, 0);
      for (const cap of c.calls.keys()) b.caps.add(cap);
      for (const h of c.hosts) if (b.hosts.size < MAX_SET) b.hosts.add(h);
      for (const d of c.dirs) if (b.dirs.size < MAX_SET) b.dirs.add(d);
      if (++this.dirty >= 10) this.save();
    }
  }

  /** Runs learned for a type (0 when unknown). */
  runsOf(agentType: string): number {
    return this.baselines.get(agentType)?.runs ?? 0;
  }

  forget(agentId: string): void {
    this.current.delete(agentId);
  }
}

function push(figures: Map<string, number[]>, name: string, x: number): void {
  let xs = figures.get(name);
  if (!xs) figures.set(name, (xs = []));
  xs.push(x);
  if (xs.length > WINDOW) xs.shift();
}

const round = (x: number) => Math.round(x * 100) / 100;
