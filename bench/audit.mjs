#!/usr/bin/env node
/**
 * The audit chain: durable append throughput, enqueue latency, durable acknowledgement
 * latency and verification speed of ours (`dist/audit`), beside two baselines measured in the
 * same run on the same disk:
 *
 *   - "put+fsync per event": one LevelDB `put(key, event, { sync: true })` per event, awaited
 *     one after another (what an audit log without group commit does);
 *   - "unchained batches": the same events as JSON, written with the same group commit (one
 *     chained LevelDB batch of up to 512 events with `sync: true`, one write in flight), but no
 *     hashing, no chain, no Merkle tree, no blocks: one key per event;
 *   - ours writing version-1 records (prevHash third, each record hashed with node:crypto after
 *     the one before: the layout and sealing path before version 2), and verifying that log.
 *
 * Rates are medians over runs that alternate ours, ours-version-1 and unchained, so a machine
 * that gets busier or quieter during the run weighs on all three alike; "CPU per event" is the
 * process's CPU time (every thread: ours, LevelDB's, the GC's) over the run, which a busy
 * machine inflates less than the wall-clock rate.
 *
 * And the cost a durable audit adds to a real agent's capability calls (the C `fsprobe` agent
 * making `stat` calls through a sandbox): audit off, 'async', 'sync' and 'commit' durability.
 *
 * Run alone with `node bench/audit.mjs` (after `npm run build`); `bench/run.mjs` runs it.
 * BENCH_QUICK=1 cuts the sample counts 10× (a smoke run, not for reporting).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { hash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { AuditChain } from '../dist/audit/chain.js';
import { openAuditReader } from '../dist/audit/reader.js';
import { sealing } from '../dist/audit/seal.js';
import { verifyStore } from '../dist/audit/verify.js';
import { defaultHashWorkers } from '../dist/audit/hash-pool.js';
import { batchHasher } from '../dist/audit/batch-hash.js';
import { fmtMs, fmtRatio, median, percentile, table } from './lib/stats.mjs';
import { gatedStatPerCall } from './lib/gated-stat.mjs';


/** The i-th event: what the gate records for a file read (about 330 bytes canonical). */
function event(i) {
  return {
    eventType: i % 10 === 0 ? 'capability_denied' : 'capability_used',
    agentId: `7f1c2a9e-3b4d-4e5f-8a6b-${String(i % 16).padStart(12, '0')}`,
    source: 'gate',
    action: 'read',
    resource: `/workspace/src/module-${i % 1000}/file-${i}.ts`,
    outcome: i % 10 === 0 ? 'blocked' : 'success',
    provenance: { correlationId: `run-${Math.floor(i / 100)}` },
    details: { api: 'wasi:filesystem/types#open-at', capability: 'read_files', kind: 'file', reason: 'read allowed by fileAccess "/workspace/**/*.ts"', matched: ['capabilities.allowed:read_files', 'fileAccess:/workspace/**/*.ts'] },
  };
}

const tick = () => new Promise((r) => setImmediate(r));
const rate = (n, ms) => n / (ms / 1000);
const fmtRate = (r) => `${Math.round(r).toLocaleString('en-US')}/s`;

/** CPU time of the whole process (every thread), in microseconds, since `from`. */
const cpuSince = (from) => {
  const d = process.cpuUsage(from);
  return d.user + d.system;
};

/**
 * Ours: enqueue `n` events as fast as they come (open loop) and wait until all are durable —
 * the way the sandbox records a worker's batch of decisions (`enqueue` each, `whenDurable` the
 * last). `version` is the record layout the chain writes (1: as before version 2).
 */
async function oursThroughput(dir, n, version = 2) {
  const chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
  sealing.version = version;
  try {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let last = 0;
    for (let i = 0; i < n; i++) {
      last = chain.enqueue(event(i));
      if (i % 4096 === 4095) await tick(); // let the writer run, as a busy host would
    }
    await chain.whenDurable(last);
    const ms = performance.now() - t0;
    const cpu = cpuSince(c0) / n;
    await chain.close();
    return { rate: rate(n, ms), cpu };
  } finally {
    sealing.version = 2;
  }
}

/** Baseline: one put with fsync per event. */
async function putFsync(dir, n) {
  const db = new ClassicLevel(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const lat = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const k = new Uint8Array(9);
    k[0] = 0x72;
    new DataView(k.buffer).setBigUint64(1, BigInt(i));
    const s = performance.now();
    await db.put(k, Buffer.from(JSON.stringify(event(i))), { sync: true });
    lat.push(performance.now() - s);
  }
  const ms = performance.now() - t0;
  await db.close();
  return { rate: rate(n, ms), lat };
}

/** Baseline: the same group commit without chaining (one key per event, JSON values). */
async function unchained(dir, n) {
  const db = new ClassicLevel(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  let queue = [];
  let writing = false;
  let next = 0;
  let waiters = [];
  let durable = 0;
  const pump = () => {
    if (writing || queue.length === 0) return;
    const b = queue.length <= 512 ? queue : queue.slice(0, 512);
    queue = b === queue ? [] : queue.slice(512);
    const batch = db.batch();
    for (const [seq, ev] of b) {
      const k = new Uint8Array(9);
      k[0] = 0x72;
      new DataView(k.buffer).setBigUint64(1, BigInt(seq));
      batch.put(k, Buffer.from(JSON.stringify(ev)));
    }
    writing = true;
    batch.write({ sync: true }).then(() => {
      writing = false;
      durable = b[b.length - 1][0] + 1;
      const done = waiters.filter((w) => w.seq < durable);
      waiters = waiters.filter((w) => w.seq >= durable);
      for (const w of done) w.resolve();
      pump();
    });
  };
  const enqueue = (ev) => {
    const seq = next++;
    queue.push([seq, ev]);
    if (!writing) setImmediate(pump);
    return seq;
  };
  const whenDurable = (seq) => (seq < durable ? Promise.resolve() : new Promise((resolve) => waiters.push({ seq, resolve })));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let last = 0;
  for (let i = 0; i < n; i++) {
    last = enqueue(event(i));
    if (i % 4096 === 4095) await tick();
  }
  await whenDurable(last);
  const ms = performance.now() - t0;
  const cpu = cpuSince(c0) / n;
  // Reading it back, one key per event (the unchained layout's "verification" floor).
  const r0 = performance.now();
  let count = 0;
  const it = db.iterator();
  for (;;) {
    const e = await it.nextv(1000);
    if (e.length === 0) break;
    count += e.length;
  }
  await it.close();
  const readMs = performance.now() - r0;
  await db.close();
  return { rate: rate(n, ms), cpu, readRate: rate(count, readMs) };
}

/** Enqueue latency: each `enqueue` call timed alone, while the writer commits in between. */
async function enqueueLatency(dir, n) {
  const chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
  const events = Array.from({ length: 1024 }, (_, i) => event(i));
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ev = events[i & 1023];
    const s = process.hrtime.bigint();
    chain.enqueue(ev);
    lat[i] = Number(process.hrtime.bigint() - s) / 1e6;
    if ((i & 1023) === 1023) await tick();
  }
  await chain.drain();
  await chain.close();
  return Array.from(lat);
}

/** Durable acknowledgement latency under a steady load of `perMs` events every millisecond. */
async function ackLatency(dir, perMs, ms) {
  const chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
  const lat = [];
  const pending = [];
  const t0 = performance.now();
  let i = 0;
  while (performance.now() - t0 < ms) {
    for (let k = 0; k < perMs; k++) {
      const s = performance.now();
      pending.push(chain.append(event(i++)).then(() => lat.push(performance.now() - s)));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  const achieved = rate(i, performance.now() - t0);
  await chain.close();
  return { lat, achieved };
}

/**
 * Verification speed of two logs (the whole log, every check, the default hashing workers),
 * alternately `reps` times each, and two floors measured on the first.
 */
async function verifyBoth(dir, otherDir, reps) {
  const reader = await openAuditReader(dir);
  const other = await openAuditReader(otherDir);
  const rates = [];
  const otherRates = [];
  let size = 0;
  try {
    for (let r = 0; r < reps; r++) {
      for (const [rd, into] of [[reader, rates], [other, otherRates]]) {
        const report = await verifyStore(rd.store);
        if (!report.ok) throw new Error(`the benchmark log does not verify: ${JSON.stringify(report.problems)}`);
        size = report.size;
        into.push(rate(report.size, report.durationMs));
      }
    }
    // Floors: reading every block without checking anything; one SHA-256 per record alone.
    const r0 = performance.now();
    let bytes = 0;
    for await (const { block } of reader.store.blocks()) bytes += block.length;
    const readRate = rate(size, performance.now() - r0);
    const sample = Buffer.from('\u0000' + JSON.stringify(event(1)));
    const h0 = performance.now();
    for (let i = 0; i < size; i++) hash('sha256', sample, 'buffer');
    const hashRate = rate(size, performance.now() - h0);
    // The same, the digest returned as a string (no Buffer to allocate): how ours calls it.
    const s0 = performance.now();
    for (let i = 0; i < size; i++) hash('sha256', sample, 'binary');
    const hashTextRate = rate(size, performance.now() - s0);
    return { v: { rates, size, readRate, hashRate, hashTextRate, bytes, workers: defaultHashWorkers(), digests: batchHasher().digests }, v1v: { rates: otherRates } };
  } finally {
    await reader.close();
    await other.close();
  }
}

/** Per-call cost of a real agent's `stat` calls with the audit off, async, sync and commit (the default). */
function gatedCalls(scratch, calls, reps) {
  return gatedStatPerCall(
    scratch,
    [
      ['off', { audit: false }],
      ['async', { audit: { dir: join(scratch, 'gated-async'), durability: 'async', checkpointIntervalMs: 0 } }],
      ['sync', { audit: { dir: join(scratch, 'gated-sync'), durability: 'sync', checkpointIntervalMs: 0 } }],
      ['commit', { audit: { dir: join(scratch, 'gated-commit'), checkpointIntervalMs: 0 } }],
    ],
    { calls, reps },
  );
}

/** Run the section; returns the text to print. `gated: false` leaves out the real agent's calls. */
export async function auditBench({ quick = false, progress = () => {}, gated = true } = {}) {
  const q = (n, min = 1) => (quick ? Math.max(min, Math.ceil(n / 10)) : n);
  const N = q(200_000, 20_000);
  const RUNS = q(5, 1);
  const scratch = await mkdtemp(join(tmpdir(), 'agentos-bench-audit-'));
  const lines = [];
  try {
    progress(`audit: durable append throughput (${N.toLocaleString('en-US')} events each, ${RUNS} runs of each kind, interleaved)`);
    const ours = [];
    const v1 = [];
    const unch = [];
    // Warm-up, not counted: the first run of each would pay for compiling its code.
    await oursThroughput(join(scratch, 'warm'), 20_000);
    await oursThroughput(join(scratch, 'warm-v1'), 20_000, 1);
    await unchained(join(scratch, 'warm-unchained'), 20_000);
    for (let r = 0; r < RUNS; r++) {
      ours.push(await oursThroughput(join(scratch, `ours-${r}`), N));
      v1.push(await oursThroughput(join(scratch, `ours-v1-${r}`), N, 1));
      unch.push(await unchained(join(scratch, `unchained-${r}`), N));
    }
    progress('audit: put+fsync per event');
    const pf = await putFsync(join(scratch, 'putfsync'), q(3000, 300));
    progress('audit: enqueue and acknowledgement latency');
    const enq = await enqueueLatency(join(scratch, 'enqueue'), q(200_000, 20_000));
    const ack = await ackLatency(join(scratch, 'ack'), 20, q(3000, 500));
    progress('audit: verification (the version-2 log and the version-1 log, alternately)');
    const { v, v1v } = await verifyBoth(join(scratch, 'ours-0'), join(scratch, 'ours-v1-0'), q(7, 2));
    const g = gated ? (progress("audit: a real agent's gated calls with the audit off / async / sync"), await gatedCalls(scratch, 200, q(30, 3))) : undefined;

    const rates = (xs) => xs.map((x) => x.rate);
    const cpus = (xs) => xs.map((x) => x.cpu);
    const oursRate = median(rates(ours));
    const verifyRate = median(v.rates);
    lines.push(`## audit chain — durable append (LevelDB, fsync per batch), ${N.toLocaleString('en-US')} events of ~${Buffer.byteLength(JSON.stringify(event(1)))} B, version-2 records`);
    lines.push(
      table(
        ['metric', 'ours', 'baseline', 'ours/baseline', 'target'],
        [
          ['durable append throughput (events/s, median of runs)', fmtRate(oursRate), `${fmtRate(median(rates(unch)))} unchained batches`, fmtRatio(oursRate, median(rates(unch))), `≥ 150,000/s ${oursRate >= 150_000 ? 'ok' : 'MISSED'}`],
          ['', '', `${fmtRate(median(rates(v1)))} ours, version-1 records`, fmtRatio(oursRate, median(rates(v1))), ''],
          ['', '', `${fmtRate(pf.rate)} put+fsync per event`, fmtRatio(oursRate, pf.rate), ''],
          ['CPU per event, every thread (median of runs)', fmtMs(median(cpus(ours)) / 1000), `${fmtMs(median(cpus(unch)) / 1000)} unchained batches`, fmtRatio(median(cpus(ours)), median(cpus(unch))), ''],
          ['', '', `${fmtMs(median(cpus(v1)) / 1000)} ours, version-1 records`, fmtRatio(median(cpus(ours)), median(cpus(v1))), ''],
          ['enqueue latency p50 / p99', `${fmtMs(median(enq))} / ${fmtMs(percentile(enq, 99))}`, '—', '', `p99 ≤ 5 µs ${percentile(enq, 99) <= 0.005 ? 'ok' : 'MISSED'}`],
          [
            `durable ack latency p50 / p99 at ${fmtRate(ack.achieved)}`,
            `${fmtMs(median(ack.lat))} / ${fmtMs(percentile(ack.lat, 99))}`,
            `${fmtMs(median(pf.lat))} / ${fmtMs(percentile(pf.lat, 99))} put+fsync`,
            fmtRatio(percentile(ack.lat, 99), percentile(pf.lat, 99)),
            `p99 ≤ 10 ms ${percentile(ack.lat, 99) <= 10 ? 'ok' : 'MISSED'}`,
          ],
          ['verification (records/s, every check, median of runs)', fmtRate(verifyRate), `${fmtRate(median(unch.map((u) => u.readRate)))} reading the unchained store`, fmtRatio(verifyRate, median(unch.map((u) => u.readRate))), `≥ 1,000,000/s ${verifyRate >= 1_000_000 ? 'ok' : 'MISSED'}`],
          ['', '', `${fmtRate(median(v1v.rates))} the version-1 log, same code`, fmtRatio(verifyRate, median(v1v.rates)), ''],
          ['', '', `${fmtRate(v.readRate)} reading our blocks only`, fmtRatio(verifyRate, v.readRate), ''],
          ['', '', `${fmtRate(v.hashRate)} crypto.hash once per record only`, fmtRatio(verifyRate, v.hashRate), ''],
          ['', '', `${fmtRate(v.hashTextRate)} the same, digest as a string`, fmtRatio(verifyRate, v.hashTextRate), ''],
        ],
        ['l', 'r', 'l'],
      ),
    );
    const list = (xs) => xs.map((x) => fmtRate(x)).join(', ');
    lines.push(
      `runs: ours ${list(rates(ours))}; version-1 ${list(rates(v1))}; unchained ${list(rates(unch))}; verification ${list(v.rates)} (version-1 log: ${list(v1v.rates)}) over ${v.size.toLocaleString('en-US')} records (${(v.bytes / 2 ** 20).toFixed(1)} MiB of blocks), ${v.workers} hashing workers, record digests from ${v.digests === 'crypto' ? 'node:crypto (SHA-256 in hardware here)' : 'the wasm lanes (no hardware SHA-256 here)'}`,
    );
    if (g) {
      lines.push('');
      lines.push('## the audit\'s cost on a real agent: one gated `stat` call of the C fsprobe agent through a sandbox (µs per call)');
      const off = median(g.off);
      lines.push(
        table(
          ['audit', 'per call', 'p90', 'vs off', 'added'],
          ['off', 'async', 'sync', 'commit'].map((k) => [{ off: 'off (audit: false)', async: "durability 'async'", sync: "durability 'sync'", commit: "durability 'commit' (default; target ≤ 1.5× off)" }[k], fmtMs(median(g[k])), fmtMs(percentile(g[k], 90)), fmtRatio(median(g[k]), off), k === 'off' ? '' : fmtMs(median(g[k]) - off)]),
          ['l'],
        ),
      );
      lines.push(`per call = (run of 200 \`stat\` calls − run of one \`clock\`) / 200, median over ${g.off.length} runs each, the four agents loaded together and their runs interleaved; sync waits for each record's fsync (group commit shares it between agents); commit waits only before effects and the run's output (one fsync per run here)`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return lines.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.env.BENCH_QUICK === '1';
  const gated = !process.argv.includes('--chain-only');
  process.stdout.write(`audit chain benchmark · command: node bench/audit.mjs${gated ? '' : ' --chain-only'}\n`);
  process.stdout.write((await auditBench({ quick, gated, progress: (l) => process.stderr.write(`  … ${l}\n`) })) + '\n');
  process.exit(0);
}
