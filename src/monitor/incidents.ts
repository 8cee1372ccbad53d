/**
 * Incidents (the seeds' `IncidentResponse`): what was detected, how it is classified, what was
 * done to contain it, its timeline and related events, and its state — open → contained →
 * resolved. One directory per incident under the incident directory (by default `incidents/`
 * in the audit directory), its state in `incident.json`, its forensic snapshot beside it.
 *
 * The files are the source of truth shared between processes: a sandbox writes incidents as it
 * detects and contains; `agentos incident release` (another process, which cannot open the
 * running sandbox's audit store) writes the release into the file, and the sandbox, which
 * watches the directory, lifts the quarantine and records who released it and why. Every write
 * is atomic (a temporary file renamed over the old one).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { UsageError } from '../errors.js';
import type { Alert, Severity } from './types.js';

export type IncidentState = 'open' | 'contained' | 'resolved';

/** One step of an incident's timeline. */
export interface TimelineEntry {
  readonly time: number;
  /** `detected`, `alert`, `contained`, `release-requested`, `released`, `resolved`. */
  readonly step: string;
  readonly note: string;
  /** Who did it (an operator for release and resolve; `monitor` otherwise). */
  readonly by: string;
  /** The audit record of the step, when it has one. */
  readonly seq?: number | undefined;
}

/** An incident as stored in `incident.json`. */
export interface Incident {
  readonly version: 1;
  readonly id: string;
  readonly state: IncidentState;
  readonly agentId: string;
  readonly componentHash?: string | undefined;
  /** The first alert's type and the highest severity seen. */
  readonly classification: { readonly type: string; readonly severity: Severity };
  /** The alert that opened it. */
  readonly detection: { readonly alertId: string; readonly time: number; readonly detector: string; readonly message: string };
  /** Alerts since (ids), and the audit records they name as evidence. */
  readonly alerts: readonly string[];
  readonly relatedSeqs: readonly number[];
  /** What containment did, once it did. */
  readonly containment?: { readonly time: number; readonly actions: readonly string[] } | undefined;
  /** A release asked for from outside the sandbox, not yet carried out. */
  readonly releaseRequest?: { readonly time: number; readonly by: string; readonly reason: string } | undefined;
  readonly timeline: readonly TimelineEntry[];
  /** Where its forensic snapshot is, relative to the incident's directory. */
  readonly forensics?: string | undefined;
}

const SEVERITY_RANK: Record<Severity, number> = { low: 0, medium: 1, high: 2, critical: 3 };
const ID = /^inc-[0-9a-z]+-[0-9a-f]{8}$/;

/** The incidents of one directory. */
export class IncidentStore {
  constructor(readonly dir: string) {}

  private file(id: string): string {
    if (!ID.test(id)) throw new UsageError(`not an incident id: ${JSON.stringify(id)} (ids look like inc-<time>-<8 hex digits>; see \`agentos incident list\`)`);
    return join(this.dir, id, 'incident.json');
  }

  /** The incident's directory (its forensic snapshot lives there). */
  pathOf(id: string): string {
    this.file(id);
    return join(this.dir, id);
  }

  get(id: string): Incident | undefined {
    try {
      return JSON.parse(readFileSync(this.file(id), 'utf8')) as Incident;
    } catch (e) {
      if (e instanceof UsageError) throw e;
      return undefined;
    }
  }

  /** Every incident, newest first. */
  list(): Incident[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: Incident[] = [];
    for (const n of names) {
      if (!ID.test(n)) continue;
      const i = this.get(n);
      if (i) out.push(i);
    }
    return out.sort((a, b) => b.detection.time - a.detection.time);
  }

  private write(i: Incident): Incident {
    const dir = join(this.dir, i.id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, `.incident.${process.pid}.${randomBytes(4).toString('hex')}`);
    writeFileSync(tmp, JSON.stringify(i, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, join(dir, 'incident.json'));
    return i;
  }

  /** Open an incident for an alert. */
  open(alert: Alert, componentHash: string | undefined, seq: number | undefined): Incident {
    const id = `inc-${alert.time.toString(36)}-${randomBytes(4).toString('hex')}`;
    return this.write({
      version: 1,
      id,
      state: 'open',
      agentId: alert.agentId,
      ...(componentHash ? { componentHash } : {}),
      classification: { type: alert.type, severity: alert.severity },
      detection: { alertId: alert.id, time: alert.time, detector: alert.detector, message: alert.message },
      alerts: [alert.id],
      relatedSeqs: [...alert.evidence],
      timeline: [{ time: alert.time, step: 'detected', note: `${alert.type} (${alert.severity}): ${alert.message}`, by: 'monitor', ...(seq !== undefined ? { seq } : {}) }],
    });
  }

  /** Add a later alert of the same agent to its open or contained incident. */
  addAlert(id: string, alert: Alert, seq: number | undefined): Incident | undefined {
    const i = this.get(id);
    if (!i || i.state === 'resolved') return undefined;
    const severity = SEVERITY_RANK[alert.severity] > SEVERITY_RANK[i.classification.severity] ? alert.severity : i.classification.severity;
    return this.write({
      ...i,
      classification: { ...i.classification, severity },
      alerts: [...i.alerts, alert.id],
      relatedSeqs: [...new Set([...i.relatedSeqs, ...alert.evidence])].sort((a, b) => a - b),
      timeline: [...i.timeline, { time: alert.time, step: 'alert', note: `${alert.type} (${alert.severity}): ${alert.message}`, by: 'monitor', ...(seq !== undefined ? { seq } : {}) }],
    });
  }

  /** Record containment. */
  contained(id: string, actions: readonly string[], seq: number | undefined, forensics: string | undefined): Incident | undefined {
    const i = this.get(id);
    if (!i) return undefined;
    const time = Date.now();
    return this.write({
      ...i,
      state: 'contained',
      containment: { time, actions },
      ...(forensics ? { forensics } : {}),
      timeline: [...i.timeline, { time, step: 'contained', note: actions.join('; '), by: 'monitor', ...(seq !== undefined ? { seq } : {}) }],
    });
  }

  /** Set where the forensic snapshot was written (it is written after containment). */
  setForensics(id: string, path: string): void {
    const i = this.get(id);
    if (i) this.write({ ...i, forensics: path });
  }

  /**
   * Ask for a release from outside the sandbox (`agentos incident release`): the sandbox that
   * holds the quarantine carries it out and records it.
   */
  requestRelease(id: string, by: string, reason: string): Incident {
    const i = this.get(id);
    if (!i) throw new UsageError(`no incident ${id} in ${this.dir}`);
    if (i.state !== 'contained') throw new UsageError(`incident ${id} is ${i.state}, not contained: there is nothing to release`);
    const time = Date.now();
    return this.write({ ...i, releaseRequest: { time, by, reason }, timeline: [...i.timeline, { time, step: 'release-requested', note: reason, by }] });
  }

  /** Record a release (the quarantine is lifted): the incident is resolved. */
  released(id: string, by: string, reason: string, seq: number | undefined): Incident | undefined {
    const i = this.get(id);
    if (!i) return undefined;
    const time = Date.now();
    const { releaseRequest: _done, ...rest } = i;
    return this.write({ ...rest, state: 'resolved', timeline: [...i.timeline, { time, step: 'released', note: reason, by, ...(seq !== undefined ? { seq } : {}) }] });
  }

  /** Resolve an incident that was never contained (an open one). */
  resolve(id: string, by: string, reason: string, seq: number | undefined): Incident {
    const i = this.get(id);
    if (!i) throw new UsageError(`no incident ${id} in ${this.dir}`);
    if (i.state === 'resolved') throw new UsageError(`incident ${id} is already resolved`);
    if (i.state === 'contained') throw new UsageError(`incident ${id} is contained: release it (agentos incident release) to resolve it`);
    const time = Date.now();
    return this.write({ ...i, state: 'resolved', timeline: [...i.timeline, { time, step: 'resolved', note: reason, by, ...(seq !== undefined ? { seq } : {}) }] });
  }

  /**
   * Call `onChange` when incident files change (another process asked for a release). Polls as
   * well, since directory watches miss events on some filesystems.
   */
  watch(onChange: () => void, pollMs = 1000): { close(): void } {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    let w: FSWatcher | undefined;
    try {
      w = watch(this.dir, { recursive: false }, () => onChange());
      w.unref();
    } catch {
      w = undefined;
    }
    const t = setInterval(onChange, pollMs);
    t.unref();
    return {
      close() {
        w?.close();
        clearInterval(t);
      },
    };
  }
}
