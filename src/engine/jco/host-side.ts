/**
 * The host side of an instance, the same on both engines: the gate (with policy refresh, the
 * quota ledger and authentication), the capabilities, and the batching of events to the host.
 */
import { type HostContext, type InstanceEvent } from '../../capabilities/context.js';
import { currentGuest } from '../../capabilities/io.js';
import { Gate, type GateAuth, type GatePolicy } from '../../gate/gate.js';
import { AuthState, authStateReason } from '../../sandbox/agent-identity.js';
import { QuotaLedger } from '../../limits/quota.js';
import type { AuditEvent } from '../../gate/types.js';
import { buildHostImports, type HostImports } from './host.js';
import { compileIndicators } from '../../monitor/indicators.js';
import { growRefusalEvents, type RefusalCounts } from '../../limits/grow-refusals.js';
import { AuditAck, EFFECT_CAPABILITIES, type CoreInstanceOptions } from './core-types.js';

const BATCH = 256;

/**
 * The gate's refresh hook: one atomic load per decision; when the host has published a new
 * policy, read the newest one off the port synchronously (the guest may be mid-run).
 */
function policyRefresher(u: CoreInstanceOptions['policyUpdates']): (() => GatePolicy | undefined) | undefined {
  if (!u) return undefined;
  const cell = new Int32Array(u.shared);
  let seen = Atomics.load(cell, 0);
  return () => {
    const now = Atomics.load(cell, 0);
    if (now === seen) return undefined;
    seen = now;
    return u.take();
  };
}

/** The host side of an instance, the same on both engines: gate, capabilities, event batching. */
export function hostSide(o: CoreInstanceOptions): {
  gate: Gate;
  host: HostImports;
  flush: () => void;
  summarize: () => void;
  /** Record the grows the caps refused during a run or the load (`limit_exceeded`, one per kind). */
  refusals: (counts: RefusalCounts, phase: 'run' | 'load') => void;
  enter: () => void;
  leave: () => void;
  /** Set what host calls run to let a guest that loops through them be stopped (see `currentGuest`). */
  setCheckpoint: (fn: () => void) => void;
} {
  let buffer: InstanceEvent[] = [];
  let checkpoint = () => {};
  const counts = new Map<string, number>();
  const flush = () => {
    if (buffer.length === 0) return;
    const b = buffer;
    buffer = [];
    o.deliver(b);
  };
  const ack = o.audit ? new Int32Array(o.audit.shared) : undefined;
  const wait = o.audit?.wait ?? 'none';
  let sent = 0;
  const sink = (event: AuditEvent, decision: boolean): boolean => {
    checkpoint();
    if (ack && Atomics.load(ack, AuditAck.FAILED) !== 0) return false;
    buffer.push({ kind: 'audit', event });
    sent++;
    if (decision && ack && (wait === 'all' || (wait === 'effects' && event.outcome === 'allowed' && EFFECT_CAPABILITIES.has(event.capability)))) {
      // Durable audit: the call proceeds only once the host has written its record and every
      // one before it. The host acknowledges by count; a failed log wakes us with FAILED set.
      flush();
      for (;;) {
        const acked = Atomics.load(ack, AuditAck.ACKED);
        if (acked >= sent) return true;
        if (Atomics.load(ack, AuditAck.FAILED) !== 0) return false;
        // Being stopped: the call is refused rather than waited for (the host wakes us).
        if (o.interrupt && Atomics.load(o.interrupt, 0) !== 0) return false;
        Atomics.wait(ack, AuditAck.ACKED, acked);
      }
    }
    if (buffer.length >= BATCH) flush();
    return true;
  };
  const ledger = o.quota ? new QuotaLedger(o.quota.shared, o.quota.policy) : undefined;
  // Nothing is in flight in a new instance: an earlier one may have died mid-request.
  if (ledger) ledger.gauge('net:conn', -Infinity);
  const authCell = o.auth ? new Int32Array(o.auth.shared) : undefined;
  const auth: GateAuth | undefined =
    authCell && o.auth
      ? {
          authenticated: () => Atomics.load(authCell, 0) === AuthState.OK,
          why: () => authStateReason(Atomics.load(authCell, 0), o.auth!.fingerprint),
          quarantined: () => Atomics.load(authCell, 0) === AuthState.QUARANTINED,
        }
      : undefined;
  const gate = new Gate(o.policy, o.agentId, sink, policyRefresher(o.policyUpdates), ledger, auth);
  if (o.indicators) gate.setIndicators(compileIndicators(o.indicators));
  const ctx: HostContext = {
    agentId: o.agentId,
    gate,
    caps: o.caps,
    env: o.env,
    rpc: o.rpc,
    emit(event) {
      buffer.push(event);
      if (buffer.length >= BATCH) flush();
    },
    flush,
    count(api, n = 1) {
      checkpoint();
      counts.set(api, (counts.get(api) ?? 0) + n);
    },
  };
  const host: HostImports = buildHostImports(ctx, o.toolNames);
  const summarize = () => {
    for (const [api, count] of counts) {
      gate.record({ type: 'usage_summary', capability: 'compute', resource: api.startsWith('wasi:random') ? 'random' : 'clock', action: 'use', target: api, outcome: 'allowed', reason: 'ambient capability', api, count });
    }
    counts.clear();
  };
  const refusals = (r: RefusalCounts, phase: 'run' | 'load') => {
    for (const event of growRefusalEvents(r, o.caps, phase)) gate.record(event);
  };
  // Guest code of this instance is about to run (or has stopped) on this thread.
  const enter = () => {
    if (o.interrupt) currentGuest.interrupt = o.interrupt;
    currentGuest.checkpoint = () => checkpoint();
    o.onGuest?.(true);
  };
  const leave = () => o.onGuest?.(false);
  const setCheckpoint = (fn: () => void) => {
    checkpoint = fn;
  };
  return { gate, host, flush, summarize, refusals, enter, leave, setCheckpoint };
}
