/**
 * Releasing (or resolving) an incident from outside the sandbox that holds it — the CLI and
 * the dashboard server. The step is recorded in the audit chain with who and why: by this
 * process when it can open the chain, else handed to the sandbox that holds it through the
 * incident file (it lifts the quarantine within a second and records it).
 */
import { AuditChain } from '../audit/chain.js';
import { SandboxError, UsageError } from '../errors.js';
import { recordOf } from '../sandbox/audit-bridge.js';
import { MONITOR_API } from './monitor.js';
import type { Incident, IncidentStore } from './incidents.js';

/** Record a release or resolution when this process can open the chain; undefined when another process holds it. */
async function recordStep(auditDir: string, i: Incident, action: 'release' | 'resolve', by: string, reason: string): Promise<number | undefined> {
  let chain: AuditChain;
  try {
    chain = await AuditChain.open(auditDir, { lockWaitMs: 200 });
  } catch (e) {
    if (e instanceof SandboxError && e.details['locked'] === true) return undefined;
    throw e;
  }
  try {
    const seq = chain.enqueue(
      recordOf(
        {
          time: Date.now(),
          type: 'authorization_granted',
          agentId: i.agentId,
          capability: 'monitor',
          resource: 'agent',
          action,
          target: i.agentId,
          outcome: 'allowed',
          reason: `${action === 'release' ? 'released' : 'resolved'} by ${by}: ${reason}`,
          api: MONITOR_API,
          details: { incident: i.id, alertId: i.detection.alertId, by, releaseReason: reason, ...(i.componentHash ? { componentHash: i.componentHash } : {}) },
        },
        undefined,
      ),
    );
    await chain.whenDurable(seq);
    return seq;
  } finally {
    await chain.close();
  }
}

/** The outcome of a release or resolution. */
export interface StepResult {
  readonly incident: Incident;
  /** Recorded here (with its sequence number). */
  readonly seq?: number;
  /** Handed to the sandbox holding the audit log. */
  readonly handedOver: boolean;
}

function checkWho(by: string, reason: string): void {
  if (typeof reason !== 'string' || reason.trim() === '') throw new UsageError('a reason is required (it is recorded in the audit log)');
  if (typeof by !== 'string' || by.trim() === '') throw new UsageError('who does it is required (it is recorded in the audit log)');
}

/** Release a contained incident's quarantine. */
export async function releaseIncident(store: IncidentStore, auditDir: string, id: string, by: string, reason: string): Promise<StepResult> {
  checkWho(by, reason);
  const i = store.get(id);
  if (!i) throw new UsageError(`no incident ${id} in ${store.dir}`);
  if (i.state !== 'contained') throw new UsageError(`incident ${id} is ${i.state}, not contained: there is nothing to release`);
  const seq = await recordStep(auditDir, i, 'release', by, reason);
  if (seq === undefined) return { incident: store.requestRelease(id, by, reason), handedOver: true };
  return { incident: store.released(id, by, reason, seq)!, seq, handedOver: false };
}

/** Resolve an open incident that was never contained. */
export async function resolveIncident(store: IncidentStore, auditDir: string, id: string, by: string, reason: string): Promise<StepResult> {
  checkWho(by, reason);
  const i = store.get(id);
  if (!i) throw new UsageError(`no incident ${id} in ${store.dir}`);
  if (i.state !== 'open') throw new UsageError(i.state === 'contained' ? `incident ${id} is contained: release it` : `incident ${id} is already resolved`);
  const seq = await recordStep(auditDir, i, 'resolve', by, reason);
  return { incident: store.resolve(id, by, reason, seq), ...(seq !== undefined ? { seq } : {}), handedOver: false };
}
