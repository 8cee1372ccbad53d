/**
 * Section `monitor` (issue 16): the security monitor.
 *
 * 1. Detector throughput: a realistic mix of events (allowed reads, denials spread over many
 *    agents and resources, authentication failures) through the monitor as the sandbox feeds
 *    it (`observe`, then the detectors on the next turn), beside the floor — the same events
 *    only queued and iterated (what any in-order consumer costs). Target ≥ 500,000 events/s.
 * 2. Detection latency: from the triggering event handed to the monitor to its alert record,
 *    and to the quarantine (a critical alert), p50/p99 over many bursts. Target p99 ≤ 10 ms.
 * 3. What monitoring adds to a gated call: the C fsprobe agent's `stat` through a sandbox with
 *    the monitor on (the default) and off, agents loaded together and runs interleaved. Target
 *    ≤ 5 %.
 *
 * `node bench/monitor.mjs` runs it alone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Monitor } from '../dist/monitor/monitor.js';
import { fmtMs, fmtRatio, median, percentile, table } from './lib/stats.mjs';
import { gatedStatPerCall } from './lib/gated-stat.mjs';


/** N events: 80% allowed reads, 15% denials over 1,000 agents × 50 paths, 5% authentication failures. */
function events(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const agentId = `agent-${i % 1000}`;
    const k = i % 20;
    const base = { time: 1_700_000_000_000 + i, agentId, capability: 'read_files', resource: 'file', action: 'read', api: 'wasi:filesystem/types#open-at' };
    if (k < 16) out.push({ event: { ...base, type: 'capability_used', target: `/w/${i % 50}.txt`, outcome: 'allowed', reason: 'read allowed', matched: ['fileAccess'] }, seq: i });
    else if (k < 19) out.push({ event: { ...base, type: 'capability_denied', target: `/w/secret-${i % 50}.txt`, outcome: 'denied', reason: 'forbidden' }, seq: i });
    else out.push({ event: { ...base, type: 'authentication_failure', target: '/w/a.txt', outcome: 'denied', reason: 'revoked' }, seq: i });
  }
  return out;
}

const quiet = { record: () => {}, contain: () => {}, emit: () => {} };

function throughput(list, reps) {
  const ours = [];
  const floor = [];
  for (let r = 0; r < reps; r++) {
    // Ours: the monitor as the sandbox drives it (rules, thresholds, indicators, bounded queue).
    const m = new Monitor(quiet, { maxQueue: list.length + 1 });
    let t0 = performance.now();
    for (const e of list) m.observe(e.event, e.seq);
    m.drain();
    ours.push(list.length / ((performance.now() - t0) / 1000));
    // The floor: queue and iterate, reading the fields every detector reads.
    t0 = performance.now();
    const q = [];
    for (const e of list) q.push(e);
    let sink = 0;
    for (const e of q) sink += e.event.type.length + e.event.agentId.length;
    floor.push(list.length / ((performance.now() - t0) / 1000));
    if (sink < 0) throw new Error('unreachable');
  }
  return { ours: median(ours), floor: median(floor) };
}

/** Latency from the burst's last event handed over to the alert record (and to containment). */
async function latency(bursts) {
  const toAlert = [];
  const toContain = [];
  let t0 = 0;
  const m = new Monitor(
    {
      record: () => toAlert.push(performance.now() - t0),
      contain: () => toContain.push(performance.now() - t0),
      emit: () => {},
    },
    { containAt: 'high' },
  );
  for (let b = 0; b < bursts; b++) {
    const agentId = `a${b}`;
    for (let i = 0; i < 4; i++) m.observe({ time: Date.now(), agentId, type: 'authentication_failure', capability: 'read_files', resource: 'file', action: 'read', target: '/x', outcome: 'denied', reason: 'revoked', api: 'x' }, i);
    t0 = performance.now();
    m.observe({ time: Date.now(), agentId, type: 'authentication_failure', capability: 'read_files', resource: 'file', action: 'read', target: '/x', outcome: 'denied', reason: 'revoked', api: 'x' }, 5);
    // The detectors run on the next turn of the event loop, as in the sandbox.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  }
  return { toAlert, toContain };
}

async function gated(scratch, calls, reps) {
  const per = await gatedStatPerCall(
    scratch,
    [
      ['off', { audit: { dir: join(scratch, 'audit-off') }, monitor: false }],
      ['on', { audit: { dir: join(scratch, 'audit-on') } }],
    ],
    { calls, reps },
  );
  return { off: median(per.off), on: median(per.on) };
}

/** Run the section; returns the text to print. */
export async function monitorBench({ quick = false, progress = () => {} } = {}) {
  const n = quick ? 50_000 : 500_000;
  const scratch = await mkdtemp(join(tmpdir(), 'agentos-bench-monitor-'));
  try {
    progress(`monitor: detector throughput (${n.toLocaleString('en-US')} events), detection latency, a gated stat with monitoring on and off`);
    const list = events(n);
    throughput(list.slice(0, 20_000), 2); // warm-up
    const t = throughput(list, quick ? 3 : 7);
    const l = await latency(quick ? 100 : 1000);
    const g = await gated(scratch, 200, quick ? 5 : 30);
    const rows = [
      ['detector throughput (events/s)', `${Math.round(t.ours).toLocaleString('en-US')}/s`, `${Math.round(t.floor).toLocaleString('en-US')}/s queue + iterate only`, fmtRatio(t.ours, t.floor), `≥ 500,000/s ${t.ours >= 500_000 ? 'met' : 'MISSED'}`],
      ['detection: event → alert record p50 / p99', `${fmtMs(median(l.toAlert))} / ${fmtMs(percentile(l.toAlert, 99))}`, '—', '', `p99 ≤ 10 ms ${percentile(l.toAlert, 99) <= 10 ? 'met' : 'MISSED'}`],
      ['detection: event → quarantine p50 / p99', `${fmtMs(median(l.toContain))} / ${fmtMs(percentile(l.toContain, 99))}`, '—', '', `p99 ≤ 10 ms ${percentile(l.toContain, 99) <= 10 ? 'met' : 'MISSED'}`],
      ['gated stat, monitoring on (per call)', fmtMs(g.on), `monitoring off ${fmtMs(g.off)}`, fmtRatio(g.on, g.off), `≤ 1.05× ${g.on / g.off <= 1.05 ? 'met' : 'MISSED'}`],
    ];
    return [
      '## monitor: detectors, detection latency, cost on a gated call (issue 16)',
      table(['what', 'ours', 'baseline', 'ratio', 'target'], rows, ['l', 'r', 'l', 'r', 'l']),
      `throughput: median of runs over ${n.toLocaleString('en-US')} events (80% allowed reads, 15% denials over 1,000 agents × 50 paths, 5% authentication failures), every rule on; latency: the fifth authentication failure of a burst handed to the monitor → its alert recorded / its agent contained (containAt high), ${l.toAlert.length} bursts; gated stat: (run of 200 stats − run of one clock) / 200, agents loaded together, runs interleaved`,
    ].join('\n');
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write((await monitorBench({ quick: process.env.BENCH_QUICK === '1', progress: (m) => process.stderr.write(`  … ${m}\n`) })) + '\n');
}
