/**
 * What the supervisor checks in the audit log after each host lifetime (the host is dead or
 * closed, so the log on disk is exactly what a restart will find):
 *
 * - the chain verifies (every link, the Merkle tree, the signed checkpoints);
 * - it holds every acknowledged record: each failure acknowledged after `whenDurable(w - 1)`
 *   needs `size >= w`; each fingerprint of a durable record matches the record now at that
 *   sequence number (its `prevHash` pins everything before it); each output the host returned
 *   has its run's records (output commit);
 * - each probe's records are there (a denial recorded as a denial, a limit as `limit_exceeded`),
 *   and no hostile agent has an allowed record for what it must never get;
 * - every file a `files` agent left on disk has its write record (an effect never precedes its
 *   record), and the read-only inputs are untouched.
 *
 * The log is read incrementally: only records added since the last check are scanned, kept
 * slim, so a long soak does not hold the whole log in memory.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { agentIdOf, recordFingerprint } from './probes.mjs';

/** State carried from one lifetime's check to the next. */
export function newLogState() {
  return { checked: 0, writes: new Set(), types: {}, gaps: new Map(), alerts: 0 };
}

const slim = (r) => ({ seq: r.seq, eventType: r.eventType, agentId: r.agentId, action: r.action, resource: r.resource, outcome: r.outcome });

/**
 * Check the log after lifetime `life`. `acks` and `fps` are what that lifetime reported;
 * `agents[idx]` is the probe of agent idx. Returns `{ size, violations }` and updates `state`.
 */
export async function checkLog({ repo, auditDir, witnessDir, state, life, acks, fps, agents, env }) {
  const { openAuditReader } = await import(join(repo, 'dist', 'audit', 'reader.js'));
  const { verifyStore } = await import(join(repo, 'dist', 'audit', 'verify.js'));
  const { queryRecords } = await import(join(repo, 'dist', 'audit', 'query.js'));
  const violations = [];
  const bad = (msg) => violations.length < 50 && violations.push(msg);

  const reader = await openAuditReader(auditDir);
  let size;
  const byAgent = new Map();
  const fpAt = new Map(fps.map((f) => [f.seq, f.h]));
  const fpSeen = new Map();
  try {
    const report = await verifyStore(reader.store, { witness: witnessDir });
    size = report.size;
    if (!report.ok || report.problems.length > 0) bad(`the audit chain does not verify after lifetime ${life}: first bad record ${report.firstBad}: ${JSON.stringify(report.problems.slice(0, 3))}`);
    if (size < state.checked) bad(`the log shrank from ${state.checked} to ${size} records`);
    const owner = ownerIndex(agents);
    for await (const r of queryRecords(reader.store, { from: Math.min(state.checked, size) })) {
      if (fpAt.has(r.seq)) fpSeen.set(r.seq, recordFingerprint(r));
      state.types[r.eventType] = (state.types[r.eventType] ?? 0) + 1;
      if (r.eventType === 'security_alert') state.alerts++;
      if (r.eventType === 'capability_used' && r.action === 'write' && r.resource.startsWith('/tmp/f')) state.writes.add(r.resource);
      const idx = owner(r.agentId);
      if (idx === undefined) continue;
      const s = slim(r);
      let list = byAgent.get(r.agentId);
      if (!list) byAgent.set(r.agentId, (list = []));
      list.push(s);
      const probe = agents[idx];
      if (probe.forbidden && r.outcome === 'success' && r.eventType === 'capability_used' && probe.forbidden(r)) {
        bad(`hostile agent ${r.agentId} was allowed ${r.action} ${r.resource} (record ${r.seq})`);
      }
    }
  } finally {
    await reader.close();
  }

  // Acknowledged durable records: fingerprints, and failures acknowledged after whenDurable.
  for (const [seq, h] of fpAt) {
    if (seq >= size) bad(`record ${seq} was acknowledged durable, but the log ends at ${size} after the kill`);
    else if (fpSeen.has(seq) && fpSeen.get(seq) !== h) bad(`record ${seq} differs from the one acknowledged before the kill`);
    else if (!fpSeen.has(seq) && seq >= state.checked) bad(`record ${seq} was acknowledged durable but cannot be read`);
  }
  for (const ack of acks) {
    const probe = agents[ack.a];
    if (ack.how === 'waited' && ack.w > size) {
      bad(`agent ${ack.a} (${probe.kind}) iteration ${ack.n}: acknowledged records up to ${ack.w - 1}, but the log ends at ${size}`);
      continue;
    }
    const id = agentIdOf(ack.a, probe);
    const recs = (byAgent.get(id) ?? []).filter((r) => r.seq >= ack.w0 && r.seq < ack.w);
    const ctx = { life, idx: ack.a, n: ack.n, env };
    const missing = probe.records(recs, ctx);
    if (missing) {
      const why = ack.how === 'output' ? ' (its output was returned: output commit must have made them durable first)' : '';
      bad(`agent ${ack.a} (${probe.kind}) iteration ${ack.n}: ${missing} in records ${ack.w0}..${ack.w - 1}${why}`);
    }
    for (const gap of probe.gaps?.(recs, ctx) ?? []) state.gaps.set(gap, (state.gaps.get(gap) ?? 0) + 1);
  }

  // Effects: every file left in the scratch mount was recorded before it was written.
  for (const name of readdirSync(env.scratch)) {
    if (name.startsWith('f') && !state.writes.has(`/tmp/${name}`)) bad(`/tmp/${name} is on disk without a write record`);
    if (name.startsWith('l')) bad(`/tmp/${name}: a symlink a hostile agent planted exists`);
  }
  if (existsSync(join(env.ws, 'src', 'x.ts'))) bad('a hostile agent wrote into the read-only /workspace');
  if (existsSync(join(env.data, 'new'))) bad('a native agent wrote into its read-only /data');

  state.checked = size;
  return { size, violations };
}

/** agentId → agent index, for the ids this soak gives. */
function ownerIndex(agents) {
  const ids = new Map();
  agents.forEach((p, idx) => ids.set(agentIdOf(idx, p), idx));
  return (agentId) => ids.get(agentId);
}
