#!/usr/bin/env node
/**
 * agent-os-sandbox benchmark: our engine beside plain jco + preview2-shim, measured in the
 * same run. `npm run bench` (= `npm run build && node bench/run.mjs`). See bench/README.md
 * for what every row measures.
 *
 * Environment: BENCH_QUICK=1 cuts every sample count (a smoke run, not for reporting);
 * BENCH_ONLY=<section>[,<section>…] runs only those sections (names in SECTIONS below), e.g.
 * `BENCH_ONLY=languages npm run bench`.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BENCH, CACHE, REPO, jsAgent, watAgent } from './lib/agents.mjs';
import * as jco from './lib/jco.mjs';
import * as ours from './lib/ours.mjs';
import { fmtMs, fmtNs, fmtRatio, median, percentile, sample, sampleSync, table } from './lib/stats.mjs';
import { hostCallBench } from './hostcall.mjs';
import { authzBench } from './authz.mjs';
import { auditBench } from './audit.mjs';
import { fuelBench } from './fuel.mjs';
import { identityBench } from './identity.mjs';
import { enginesBench } from './engines.mjs';
import { languagesBench } from './languages.mjs';
import { egressBench } from './egress.mjs';
import { nativeBench } from './native.mjs';

const QUICK = process.env.BENCH_QUICK === '1';

/**
 * The sections, in the order they run: `agents` = sections 1–2 (echo and the JS agent, with the
 * bare-worker reference line), `hostcall` = 3, `audit` = 5, `fuel` = 6, `identity` = 7,
 * `engines` = 8, `languages` = 9, `authz` = 4 (last).
 */
const SECTIONS = ['agents', 'hostcall', 'audit', 'fuel', 'identity', 'engines', 'languages', 'density', 'monitor', 'compliance', 'native', 'egress', 'adapters', 'comms', 'authz'];
const ONLY = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .map((x) => x.trim())
  .filter(Boolean);
const unknown = ONLY.filter((x) => !SECTIONS.includes(x));
if (unknown.length > 0) {
  process.stderr.write(`BENCH_ONLY: unknown section${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; the sections are ${SECTIONS.join(', ')}\n`);
  process.exit(2);
}
const want = (section) => ONLY.length === 0 || ONLY.includes(section);
const q = (n, min = 1) => (QUICK ? Math.max(min, Math.ceil(n / 10)) : n);

/** Sample counts per agent (each figure is the median of its samples). */
const COUNTS = {
  echo: { cold: q(5, 2), inst: q(300, 20), worker: q(20, 3), call: q(5000, 200), callWorker: q(1000, 100) },
  js: { cold: q(3, 1), inst: q(12, 2), worker: q(6, 2), call: q(40, 5), callWorker: q(40, 5) },
};

const started = performance.now();
const log = (line) => process.stdout.write(`${line}\n`);
const progress = (line) => process.stderr.write(`  … ${line}\n`);

log('agent-os-sandbox benchmark');
log(`command: ${ONLY.length > 0 ? `BENCH_ONLY=${ONLY.join(',')} ` : ''}npm run bench   (npm run build && node bench/run.mjs)${ONLY.length > 0 ? ` · sections: ${ONLY.join(', ')}` : ''}`);
log(`node ${process.version} · ${process.platform}-${process.arch} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · ${(totalmem() / 2 ** 30).toFixed(1)} GiB`);
log(`jco ${jco.jcoVersion()} · load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}${QUICK ? ' · BENCH_QUICK=1 (smoke run: sample counts cut 10×)' : ''}`);
if (want('agents') || want('hostcall')) log('figures are medians over samples; "jco" is the same component through plain jco + ambient preview2-shim, in this thread');
log('');

const ENGINE_CACHE = join(CACHE, 'engine');
const JCO_CACHE = join(CACHE, 'jco');
const SCRATCH = join(CACHE, 'tmp');
await mkdir(SCRATCH, { recursive: true });

// ---- components --------------------------------------------------------------------------

const echoPath = await watAgent('echo');
const hostcallPath = await watAgent('hostcall');
// Sections 1–2 only: building it takes ~25 s the first time.
const js = want('agents') ? await jsAgent(progress) : undefined;
if (js?.built) progress(`built the JS agent in ${js.seconds.toFixed(1)} s`);
const JS_POLICY = join(REPO, 'examples', 'code-review', 'policy.yaml');
const JS_WORKSPACE = join(REPO, 'examples', 'code-review', 'workspace');

const AGENTS = js
  ? [
      { key: 'echo', title: 'echo (WAT, no imports)', path: echoPath, policy: undefined, task: 'hello, agent', counts: COUNTS.echo, targets: true },
      { key: 'js', title: 'code-review (JavaScript, StarlingMonkey)', path: js.path, policy: JS_POLICY, task: 'review the workspace', counts: COUNTS.js, targets: false },
    ]
  : [];

// The baseline's ambient preview2-shim state: the JS agent reads /workspace.
const p2fs = await import('@bytecodealliance/preview2-shim/filesystem');
p2fs._setPreopens({ '/workspace': JS_WORKSPACE });

// ---- helpers -----------------------------------------------------------------------------

/** One cold sample in a fresh child process. */
function coldSample(kind, agent) {
  const scratch = join(SCRATCH, `cold-${kind}-${randomUUID()}`);
  const args = { kind, wasm: agent.path, scratch, policy: agent.policy, task: agent.task, preopens: { '/workspace': JS_WORKSPACE } };
  const r = spawnSync(process.execPath, [join(BENCH, 'cold-sample.mjs'), JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  spawnSync('rm', ['-rf', scratch]);
  if (r.status !== 0) throw new Error(`cold sample (${kind}, ${agent.key}) failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** Time `create()` n times (after `warmup` untimed); `dispose` runs outside the clock. */
async function timedThenDispose(n, create, dispose, warmup) {
  const out = [];
  for (let i = 0; i < warmup + n; i++) {
    const t0 = performance.now();
    const x = await create();
    const dt = performance.now() - t0;
    await dispose(x);
    if (i >= warmup) out.push(dt);
  }
  return out;
}

/** A table row from two sample sets (ms). */
function row(label, oursMs, baseMs, target) {
  const n = oursMs.length;
  const cell = (xs, p, min) => (xs && xs.length >= min ? fmtMs(percentile(xs, p)) : '—');
  const mo = median(oursMs);
  const mb = baseMs ? median(baseMs) : NaN;
  let verdict = '';
  if (target) verdict = `≤ ${fmtMs(target)} ${mo <= target ? 'ok' : 'MISSED'}`;
  return [label, String(n), fmtMs(mo), cell(oursMs, 90, 10), cell(oursMs, 99, 100), baseMs ? fmtMs(mb) : '—', cell(baseMs, 90, 10), cell(baseMs, 99, 100), baseMs ? fmtRatio(mo, mb) : '—', verdict];
}

const HEADER = ['metric', 'n', 'ours', 'p90', 'p99', 'jco', 'p90', 'p99', 'ours/jco', 'target'];
const ALIGN = ['l'];

// ---- per agent ---------------------------------------------------------------------------

for (const agent of AGENTS) {
  const c = agent.counts;
  progress(`${agent.title}: cold loads (${c.cold} child processes each)`);
  const cold = { ours: [], jco: [] };
  for (let i = 0; i < c.cold; i++) {
    cold.ours.push(coldSample('ours', agent));
    cold.jco.push(coldSample('jco', agent));
  }

  progress(`${agent.title}: warm instantiate and run`);
  const source = await ours.readComponent(agent.path);
  const prepared = await ours.prepareComponent(source, ENGINE_CACHE);
  const init = await ours.instanceInit(agent.policy);
  const bytes = source.bytes;
  const tDefault = await jco.transpileCachedJco(bytes, source.hash, 'default', JCO_CACHE);
  const tInst = await jco.transpileCachedJco(bytes, source.hash, 'instantiate', JCO_CACHE);
  const instMod = await import(tInst.jsUrl);
  const instCores = await jco.compileCores(tInst);
  const imports = await jco.ambientImports(tInst.dir);

  // Warm instantiate, in-thread: ours vs jco --instantiation async with precompiled cores.
  const instOurs = await timedThenDispose(c.inst, () => ours.coreInstance(prepared, init), (inst) => inst.close(), Math.min(20, c.inst));
  const instJco = await sample(c.inst, () => jco.instantiateWith(instMod, instCores, imports), { warmup: Math.min(20, c.inst) });

  // Warm instantiate including a fresh worker (what Sandbox.load / a restart pays).
  // Cold: a worker booted on demand. Pre-warmed: Sandbox's default, a never-used worker that
  // already loaded the host code (the pool is refilled and settled between samples).
  const workerStart = await timedThenDispose(c.worker, () => ours.workerInstance(prepared, init), (w) => w.close(), 1);
  const pool = new ours.WorkerPool(1);
  pool.fill();
  const prewarmed = [];
  for (let i = 0; i < c.worker + 1; i++) {
    await pool.ready();
    const t0 = performance.now();
    const w = await ours.workerInstance(prepared, init, { count: 0 }, pool);
    const dt = performance.now() - t0;
    if (i > 0) prewarmed.push(dt);
    await w.close();
  }
  await pool.close();

  // Per-call run latency on warm instances.
  const inst = await ours.coreInstance(prepared, init);
  const expected = ours.runCore(inst, agent.task);
  const callOurs = sampleSync(c.call, () => ours.runCore(inst, agent.task), { warmup: Math.min(500, c.call) });
  const w = await ours.workerInstance(prepared, init);
  if ((await w.run(agent.task, 60_000)) !== expected) throw new Error(`${agent.key}: worker output differs from in-thread output`);
  const callWorker = await sample(c.callWorker, () => w.run(agent.task, 60_000), { warmup: Math.min(100, c.callWorker) });
  await w.close();
  inst.close();
  const modDefault = await jco.importDefault(tDefault.jsUrl);
  const jcoOut = jco.runJco(modDefault, agent.task);
  if (agent.key === 'echo' && jcoOut !== expected) throw new Error('echo: jco output differs');
  const callJco = sampleSync(c.call, () => jco.runJco(modDefault, agent.task), { warmup: Math.min(500, c.call) });

  const coldTotal = (xs) => xs.map((s) => s.total);
  const rows = [
    row('cold load: transpile + compile + instantiate', coldTotal(cold.ours), coldTotal(cold.jco)),
    row('  of which transpile (incl. loading jco)', cold.ours.map((s) => s.transpile), cold.jco.map((s) => s.transpile)),
    row('  of which compile + instantiate', cold.ours.map((s) => s.load), cold.jco.map((s) => s.load)),
    row('warm instantiate, in-thread (compiled modules)', instOurs, instJco, agent.targets ? 1 : undefined),
    row('warm instantiate incl. fresh pre-warmed worker (vs jco in-thread)', prewarmed, instJco, agent.targets ? 50 : undefined),
    row('warm instantiate incl. worker booted on demand (vs jco in-thread)', workerStart, instJco),
    row('run() on a warm instance, in-thread', callOurs, callJco),
    row('run() through the worker (vs jco in-thread)', callWorker, callJco),
  ];
  log(`## ${agent.title} — ${(bytes.length / 1024).toFixed(bytes.length > 1 << 20 ? 0 : 1)} KiB component`);
  log(table(HEADER, rows, ALIGN));
  log('');
}

// ---- reference: a bare worker ------------------------------------------------------------

if (want('agents')) {
  const bareWorker = await sample(
    q(20, 3),
    () =>
      new Promise((resolve, reject) => {
        const wk = new Worker('require("node:worker_threads").parentPort.postMessage(1)', { eval: true });
        wk.once('message', () => wk.terminate().then(resolve));
        wk.once('error', reject);
      }),
    { warmup: 1 },
  );
  log(`reference: an empty node:worker_threads Worker takes ${fmtMs(median(bareWorker))} (median of ${bareWorker.length}) from spawn to its first message on this machine`);
  log('');
}

// ---- host calls --------------------------------------------------------------------------

if (want('hostcall')) {
  progress('host calls: gated vs ambient preview2-shim');
  const dataDir = await mkdtemp(join(tmpdir(), 'agentos-bench-data-'));
  await writeFile(join(dataDir, 'probe.txt'), 'probe\n');
  try {
    const hc = await hostCallBench({ wasm: hostcallPath, dataDir, engineCache: ENGINE_CACHE, jcoCache: JCO_CACHE, quick: QUICK });
    log(`## one host call, gated (ours) vs ungated (jco + ambient preview2-shim) — ns per call, ${hc.reps} repetitions`);
    log(
      table(
        ['call', 'N', 'ours', 'p90', 'jco', 'p90', 'ours − jco', 'p90', 'ours/jco', 'target', 'audit/call'],
        hc.rows.map((r) => [r.label, String(r.n), fmtNs(r.ours.median), fmtNs(r.ours.p90), fmtNs(r.jco.median), fmtNs(r.jco.p90), fmtNs(r.diff), fmtNs(r.diffP90), fmtRatio(r.ours.median, r.jco.median), r.target, r.auditPerCall]),
        ['l'],
      ),
    );
    log('per repetition: (time of run("<mode>N") − median time of 5 × run("<mode>0")) / N; medians (and p90) over repetitions;');
    log('"ours − jco" is the median of per-repetition differences (each pair ran back to back); "audit/call" = audit events delivered per call');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

// ---- audit chain (bench/audit.mjs) --------------------------------------------------------

if (want('audit')) {
  progress('audit chain: durable append, latency, verification, cost on a real agent');
  log('');
  log(await auditBench({ quick: QUICK, progress }));
}

// ---- fuel metering (bench/fuel.mjs) ---------------------------------------------------------

if (want('fuel')) {
  progress('fuel metering: compute suite, StarlingMonkey instrumentation, a JS loop, ours vs binaryen');
  log('');
  log(await fuelBench({ quick: QUICK, progress }));
}

// ---- identity: signatures, tokens, certificates (bench/identity.mjs) ---------------------------

if (want('identity')) {
  progress('identity: Ed25519 node:crypto vs @noble, component signature, token validation, certificate validation');
  log('');
  log(await identityBench({ quick: QUICK, progress }));
}

// ---- engines: jco vs wasmtime (bench/engines.mjs) ----------------------------------------------

if (want('engines')) {
  progress('engines: jco vs wasmtime — loads, instantiate, per-call, host calls, fuel and epoch overhead on the compute suite');
  log('');
  log(await enginesBench({ quick: QUICK, progress }));
}

// ---- languages: the echo agent in WAT, C, JavaScript and Python (bench/languages.mjs) ----------

if (want('languages')) {
  progress('languages: the echo agent in WAT, C, JavaScript (StarlingMonkey, QuickJS) and Python — size, cold load, warm instantiate, per-run latency, fuel, on both engines');
  log('');
  log(await languagesBench({ quick: QUICK, progress }));
}

// ---- native agents: spawn-to-exit under our bubblewrap path (bench/native.mjs) ----------------

if (want('native')) {
  progress('native: spawn-to-exit of /bin/true and python3 under our bubblewrap path, bare bwrap and a plain spawn');
  log('');
  log(await nativeBench({ quick: QUICK, progress }));
}

// ---- egress proxy of native agents (bench/egress.mjs) ------------------------------------------

// ---- density: agents per process, new instances, per-run cost (bench/density.mjs) -------------

if (want('density')) {
  progress('density: RSS per idle agent (shared threads vs one thread per agent), new instances, back-to-back runs');
  log('');
  const { densityBench } = await import('./density.mjs');
  log((await densityBench({ quick: QUICK, progress })).text);
}

// ---- monitor: detectors, detection latency, cost on a gated call (bench/monitor.mjs) ----------

if (want('monitor')) {
  log('');
  const { monitorBench } = await import('./monitor.mjs');
  log(await monitorBench({ quick: QUICK, progress }));
}

// ---- compliance: report generation and verification over large logs (bench/compliance.mjs) ------

if (want('compliance')) {
  progress('compliance: report and verification over logs of 100k and 1M records, beside audit verify');
  log('');
  const { complianceBench } = await import('./compliance.mjs');
  log(await complianceBench({ quick: QUICK, progress }));
}

if (want('egress')) {
  progress('egress: our per-agent proxy vs direct loopback requests — added latency per request, 10 MiB throughput');
  log('');
  log(await egressBench({ quick: QUICK, progress }));
}

// ---- host adapters: one tool call through AI SDK, LangChain, MCP (bench/adapters.mjs) -----------

if (want('adapters')) {
  progress('adapters: one tool call on the echo agent — direct agent.run vs the AI SDK and LangChain tools and MCP (in-memory, stdio, Streamable HTTP)');
  log('');
  // Imported here: it loads the AI SDK, LangChain and the MCP SDK, which no other section needs.
  const { adaptersBench } = await import('./adapters.mjs');
  log(await adaptersBench({ quick: QUICK, progress }));
}

// ---- comms: agent messaging and the key-value store (bench/comms.mjs) --------------------------

if (want('comms')) {
  progress('comms: seal+open vs bare crypto, agent→agent round trips (in process, over NATS), kv vs classic-level');
  log('');
  const { commsBench } = await import('./comms.mjs');
  log(await commsBench({ quick: QUICK, progress }));
}

// ---- authorization decisions (bench/authz.mjs) ------------------------------------------------

if (want('authz')) {
  progress('authorization decisions: ours vs @cedar-policy/cedar-wasm vs casbin');
  log('');
  log(await authzBench({ quick: QUICK, progress }));
}

await rm(SCRATCH, { recursive: true, force: true });
log('');
log(`load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')} · total ${((performance.now() - started) / 1000).toFixed(0)} s`);
process.exit(0);
