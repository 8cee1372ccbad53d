#!/usr/bin/env node
/**
 * Engines: the jco engine (default: components transpiled by jco, core modules metered by our
 * instrumenter, run by V8) beside the wasmtime engine (the native addon in native/: wasmtime's
 * own fuel and epoch interruption), every figure of one engine printed beside the other's from
 * the same run, with the ratio wasmtime/jco (see bench/README.md, section 8):
 *
 *   1. loading an agent in a fresh process (createSandbox + load + first run), cold (empty
 *      cache directory) and with a warm cache, for echo and the StarlingMonkey code-review agent;
 *   2. warm instantiation of echo: engine level in this thread (wasmtime `Engine.instantiate`
 *      with pooling on and off, and timed inside Rust; plain jco `instantiate`), through our
 *      host side (`createCoreInstance`), and a new worker instance (`WorkerInstance.start`);
 *   3. per-call latency of echo: `Engine.run` vs plain jco, through our host side, and the
 *      worker round trip;
 *   4. one gated host call (bench/agents/hostcall.wat) through `createCoreInstance` on both;
 *   5. metering overhead on the compute suite of bench/compute/*.c as components: wasmtime
 *      unmetered, as the sandbox meters it (our instrumenter, stop-flag mode), and with its own
 *      fuel / epoch interruption / both; the jco engine plain and metered (refuel hook).
 *
 * Run alone with `node bench/engines.mjs` (after `npm run build`, and `npm run build:native`
 * for the addon); `bench/run.mjs` runs it after section 7. BENCH_QUICK=1 cuts the sample counts
 * (a smoke run, not for reporting; it skips loading the code-review agent). ENGINES_PARTS, a
 * comma-separated subset of `loads,echo,hostcall,compute`, runs only those parts.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadWasmtimeAddon } from '../dist/engine/wasmtime/addon.js';
import { prepareNative } from '../dist/engine/wasmtime/prepare.js';
import { DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS, instrumentStopFlag, meterFor, STOP_FLAG_METER_KEY } from '../dist/limits/meter.js';
import { BENCH, CACHE, REPO, jsAgent, watAgent } from './lib/agents.mjs';
import { clangVersion, computeComponent } from './lib/compute-components.mjs';
import { precompileForWasmtime } from '../dist/build/precompile.js';
import { ENV_NAME, hostcallPolicy } from './hostcall.mjs';
import * as jco from './lib/jco.mjs';
import * as ours from './lib/ours.mjs';
import { fmtMs, fmtNs, fmtRatio, median, percentile, sample, sampleSync, table } from './lib/stats.mjs';

/** Targets of the wasmtime engine. */
const TARGET_INSTANTIATE_MS = 0.05;
const TARGET_CALL_MS = 0.005;
const TARGET_METER_OVERHEAD = 1.15;

const ENGINE_CACHE = join(CACHE, 'engine');
/** Where the sandbox keeps wasmtime artifacts under a cache dir (`Sandbox.nativeCacheDir_`). */
const NATIVE_CACHE = join(ENGINE_CACHE, 'wasmtime');
const JCO_CACHE = join(CACHE, 'jco');
const JS_POLICY = join(REPO, 'examples', 'code-review', 'policy.yaml');
const RUN_TIMEOUT_MS = 30_000;

/**
 * The compute suite with this section's arguments: about half of bench/fuel.mjs's (~20–250 ms
 * per run instead of ~100–400 ms; fannkuch 9 instead of 10) so that 6 variants × 6 programs fit
 * the section's time budget.
 */
const PROGRAMS = [
  { name: 'nbody', n: 1_000_000 },
  { name: 'fannkuch', n: 9 },
  { name: 'spectral', n: 1000 },
  { name: 'sieve', n: 5 },
  { name: 'matmul', n: 15 },
  { name: 'sha', n: 16 },
];

const geomean = (xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
/** Median of per-round ratios (variants of a round ran back to back: drifting load cancels). */
const pairedRatio = (xs, base) => median(xs.map((x, i) => x / base[i]));
const nsToMs = (xs) => xs.map((x) => x / 1e6);

function machineLine() {
  return `node ${process.version} · ${process.platform}-${process.arch} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · ${(totalmem() / 2 ** 30).toFixed(1)} GiB · load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

const HEADER = ['metric', 'n', 'wasmtime', 'p90', 'jco', 'p90', 'wasmtime/jco', 'of which Rust', 'target'];
const ALIGN = ['l'];

/** A table row from ms samples of both engines; `rust` (ms samples) is wasmtime timed inside Rust. */
function row(label, wt, jc, { rust, target } = {}) {
  const p90 = (xs) => (xs && xs.length >= 10 ? fmtMs(percentile(xs, 90)) : '—');
  const mw = median(wt);
  const mj = jc ? median(jc) : NaN;
  const n = jc && jc.length !== wt.length ? `${wt.length}/${jc.length}` : String(wt.length);
  return [label, n, fmtMs(mw), p90(wt), jc ? fmtMs(mj) : '—', p90(jc), fmtRatio(mw, mj), rust ? fmtMs(median(rust)) : '', target ? `≤ ${fmtMs(target)} ${mw <= target ? 'ok' : 'MISSED'}` : ''];
}

/**
 * Interleaved sampling: `rounds` rounds, each taking one block of `per` samples from every
 * variant, in an order that rotates between rounds (load drifting on a shared machine hits all
 * variants alike). One untimed warm-up block per variant first. Returns key → ms samples.
 */
async function interleave(variants, rounds, per, warmup = per) {
  for (const v of variants) await v.block(warmup);
  const out = Object.fromEntries(variants.map((v) => [v.key, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length];
      out[v.key].push(...(await v.block(per)));
    }
  }
  return out;
}

/** `create()` timed `n` times; `dispose` (outside the clock) after each. */
async function timedCreate(n, create, dispose) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const x = await create();
    out.push(performance.now() - t0);
    await dispose(x);
  }
  return out;
}

/** An in-thread instance through our host side on wasmtime (what the agent worker makes). */
function nativeCoreInstance(source, init, events = { count: 0 }) {
  const native = { bytes: source.bytes, hash: source.hash, cacheDir: NATIVE_CACHE, memoryBytes: DEFAULT_MAX_MEMORY, tableElements: DEFAULT_MAX_TABLE_ELEMENTS, timeoutMs: RUN_TIMEOUT_MS };
  return ours.coreInstance({ jsUrl: '', modules: {} }, { ...init, native }, events);
}

/** What the sandbox hands `WorkerInstance.start` on wasmtime (see Sandbox.load). */
async function nativePrepared(source) {
  return { ...(await prepareNative(source, NATIVE_CACHE)), jsUrl: '', modules: {} };
}
const nativeInit = (source, init) => ({ ...init, native: { bytes: source.bytes, hash: source.hash, cacheDir: NATIVE_CACHE, memoryBytes: DEFAULT_MAX_MEMORY, tableElements: DEFAULT_MAX_TABLE_ELEMENTS, timeoutMs: RUN_TIMEOUT_MS } });

// ---- 1. loading an agent in a fresh process ---------------------------------------------------

function loadSample(engine, agent, cacheDir) {
  const args = { engine, wasm: agent.path, cacheDir, policy: agent.policy, task: agent.task };
  const r = spawnSync(process.execPath, [join(BENCH, 'lib', 'engine-load-sample.mjs'), JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`load sample (${engine}, ${agent.key}) failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function loads({ quick, progress, lines, scratch }) {
  const agents = [{ key: 'echo', title: 'echo', path: await watAgent('echo'), task: 'hello, agent', cold: quick ? 2 : 3, warm: quick ? 2 : 3 }];
  if (!quick) {
    const js = await jsAgent(progress);
    if (js.built) progress(`built the JS agent in ${js.seconds.toFixed(1)} s`);
    agents.push({ key: 'js', title: 'code-review (StarlingMonkey)', path: js.path, policy: JS_POLICY, task: 'review the workspace', cold: 2, warm: 2, built: 2 });
  }
  const rows = [];
  const outputs = [];
  for (const agent of agents) {
    progress(`engines: ${agent.title} — ${agent.cold} cold + ${agent.warm} warm-cache loads per engine${agent.built ? ` + ${agent.built} on wasmtime after agentos build` : ''}, each in a fresh process`);
    const s = { wasmtime: { cold: [], warm: [], built: [] }, jco: { cold: [], warm: [], built: [] } };
    const dirs = {};
    for (let i = 0; i < agent.cold; i++) {
      for (const engine of i % 2 ? ['jco', 'wasmtime'] : ['wasmtime', 'jco']) {
        const dir = join(scratch, `load-${engine}-${agent.key}-${i}`);
        s[engine].cold.push(loadSample(engine, agent, dir));
        if (dirs[engine]) await rm(dirs[engine], { recursive: true, force: true });
        dirs[engine] = dir;
      }
    }
    for (let i = 0; i < agent.warm; i++) {
      for (const engine of i % 2 ? ['jco', 'wasmtime'] : ['wasmtime', 'jco']) s[engine].warm.push(loadSample(engine, agent, dirs[engine]));
    }
    for (const engine of ['wasmtime', 'jco']) await rm(dirs[engine], { recursive: true, force: true });
    if (agent.built) {
      // What `agentos build` leaves: the optimized (Cranelift) artifact in the cache directory.
      // jco's build caches nothing: its load after a build is a cold load (the cold samples).
      const dir = join(scratch, `load-built-${agent.key}`);
      const t0 = performance.now();
      await precompileForWasmtime(agent.path, dir);
      progress(`engines: ${agent.title} — agentos build's precompile took ${((performance.now() - t0) / 1000).toFixed(1)} s (outside the clock)`);
      for (let i = 0; i < agent.built; i++) s.wasmtime.built.push(loadSample('wasmtime', agent, dir));
      s.jco.built = s.jco.cold;
      await rm(dir, { recursive: true, force: true });
    }
    const all = [...s.wasmtime.cold, ...s.wasmtime.warm, ...s.wasmtime.built, ...s.jco.cold, ...s.jco.warm];
    const same = all.every((x) => x.output === all[0].output);
    outputs.push(`${agent.title}: ${same ? `the same output on both engines (${all[0].outputBytes} bytes)` : 'OUTPUTS DIFFER between samples'}`);
    const pick = (xs, f) => xs.map((x) => x[f]);
    for (const kind of ['cold', 'warm', 'built']) {
      const w = s.wasmtime[kind];
      const j = s.jco[kind];
      if (w.length === 0) continue;
      const what = { cold: 'cold (empty cache dir)', warm: 'warm cache', built: 'after agentos build (jco: = cold)' }[kind];
      rows.push(row(`${agent.title}, ${what}: createSandbox + load + first run`, pick(w, 'total'), pick(j, 'total')));
      rows.push(row('  of which createSandbox + load', pick(w, 'load'), pick(j, 'load')));
      rows.push(row('    of which loading the addon (wasmtime)', pick(w, 'addon'), undefined));
      rows.push(row('  of which the first run()', pick(w, 'run'), pick(j, 'run')));
    }
  }
  lines.push('## engines: loading an agent in a fresh process — createSandbox({ engine, cacheDir, audit: false }) + load + first run');
  lines.push(table(HEADER, rows, ALIGN));
  lines.push(
    'each sample is a new node process (dist/ imported before the clock); cold: an empty cache dir (wasmtime: metered and compiled by Winch, Cranelift starting in the background, which the sample does not wait for); ' +
      "warm cache: the dir a cold sample filled (wasmtime: Winch's artifact, as the cold sample ended before Cranelift's was done); after agentos build: a dir holding what `agentos build` writes (wasmtime: Cranelift's artifact; jco: nothing, so its row repeats its cold samples); " +
      `engines alternate; ${outputs.join('; ')}`,
  );
  if (quick) lines.push('BENCH_QUICK=1: the code-review agent is not loaded (its cold load takes ~15–30 s on wasmtime)');
}

// ---- 2 and 3. echo: warm instantiation and per-call latency ------------------------------------

async function echo({ quick, progress, lines }) {
  const task = 'hello, agent';
  const source = await ours.readComponent(await watAgent('echo'));
  const addon = loadWasmtimeAddon();
  const { Engine } = addon;
  // Engine level: the sandbox's settings (metered by our instrumenter, Cranelift's code), with
  // and without the pool; each run sets the fuel before and reads it after (two calls of F).
  const instrumented = { meter: 'instrumented', meterKey: STOP_FLAG_METER_KEY };
  const unpooled = new Engine({ pooling: false, ...instrumented });
  const meterEcho = () => addon.meterComponent(source.bytes, (i, core) => instrumentStopFlag(`core${i}`, core));
  // The pooling allocator reserves its slots' address space up front (terabytes of it); a host
  // whose kernel refuses that reservation gets no pooled rows, and the line under the table says why.
  let pooled, cPooled, poolingRefused;
  try {
    pooled = new Engine({ pooling: true, ...instrumented });
    cPooled = pooled.compileMetered(meterEcho(), undefined, true);
  } catch (e) {
    poolingRefused = e instanceof Error ? e.message : String(e);
  }
  const cUnpooled = unpooled.compileMetered(meterEcho(), undefined, true);
  const limits = { memoryBytes: DEFAULT_MAX_MEMORY, timeoutMs: RUN_TIMEOUT_MS };
  // jco engine: what Sandbox.load prepares (core modules metered by our instrumenter).
  const meter = meterFor({});
  const prepared = await ours.prepareComponent(source, ENGINE_CACHE, meter.transform);
  const init = await ours.instanceInit(undefined);
  const nPrepared = await nativePrepared(source);
  const nInit = nativeInit(source, init);
  // Plain jco, the reference for the engine-level rows.
  const tInst = await jco.transpileCachedJco(source.bytes, source.hash, 'instantiate', JCO_CACHE);
  const instMod = await import(tInst.jsUrl);
  const instCores = await jco.compileCores(tInst);
  const imports = await jco.ambientImports(tInst.dir);
  const tDefault = await jco.transpileCachedJco(source.bytes, source.hash, 'default', JCO_CACHE);
  const modDefault = await jco.importDefault(tDefault.jsUrl);

  // -- warm instantiate, in this thread
  const rounds = quick ? 3 : 6;
  const perInst = quick ? 10 : 50;
  progress(`engines: echo — warm instantiate in this thread, ${rounds} × ${perInst} per variant, interleaved`);
  const inst = await interleave(
    [
      ...(pooled
        ? [
            { key: 'pooled', block: (k) => timedCreate(k, () => pooled.instantiate(cPooled, limits).dispose(), () => {}) },
            { key: 'rustPooled', block: async (k) => nsToMs(pooled.benchInstantiate(cPooled, k)) },
          ]
        : []),
      { key: 'unpooled', block: (k) => timedCreate(k, () => unpooled.instantiate(cUnpooled, limits).dispose(), () => {}) },
      { key: 'rustUnpooled', block: async (k) => nsToMs(unpooled.benchInstantiate(cUnpooled, k)) },
      { key: 'jcoPlain', block: (k) => timedCreate(k, () => jco.instantiateWith(instMod, instCores, imports), () => {}) },
      { key: 'coreWt', block: (k) => timedCreate(k, () => nativeCoreInstance(source, init), (i) => i.close()) },
      { key: 'coreJco', block: (k) => timedCreate(k, () => ours.coreInstance(prepared, init), (i) => i.close()) },
    ],
    rounds,
    perInst,
  );

  // -- a new worker instance
  const nWorker = quick ? 3 : 20;
  progress(`engines: echo — new worker instances, ${nWorker} per engine and kind, interleaved`);
  const pools = { wt: new ours.WorkerPool(1), jco: new ours.WorkerPool(1) };
  pools.wt.fill();
  pools.jco.fill();
  const worker = { wtWarm: [], jcoWarm: [], wtCold: [], jcoCold: [] };
  const startWorker = async (engine, pool) => {
    const t0 = performance.now();
    const w = engine === 'wt' ? await ours.workerInstance(nPrepared, nInit, { count: 0 }, pool) : await ours.workerInstance(prepared, init, { count: 0 }, pool);
    const dt = performance.now() - t0;
    await w.close();
    return dt;
  };
  try {
    for (let i = 0; i < nWorker + 1; i++) {
      const order = i % 2 ? ['jco', 'wt'] : ['wt', 'jco'];
      for (const e of order) {
        await pools[e].ready();
        const dt = await startWorker(e, pools[e]);
        if (i > 0) worker[`${e}Warm`].push(dt);
      }
      for (const e of order) {
        const dt = await startWorker(e, new ours.WorkerPool(0));
        if (i > 0) worker[`${e}Cold`].push(dt);
      }
    }
  } finally {
    await pools.wt.close();
    await pools.jco.close();
  }

  // -- per-call latency
  const perCall = quick ? 100 : 500;
  const callRounds = quick ? 3 : 10;
  progress(`engines: echo — run() latency, ${callRounds} × ${perCall} calls per variant in this thread, interleaved`);
  const wtInst = unpooled.instantiate(cUnpooled, limits);
  const runWt = () => {
    const r = unpooled.run(wtInst, task);
    if (r.ok !== task) throw new Error(`wasmtime echo returned ${JSON.stringify(r)}`);
  };
  const coreWt = await nativeCoreInstance(source, init);
  const coreJco = await ours.coreInstance(prepared, init);
  for (const [who, out] of [['wasmtime createCoreInstance', ours.runCore(coreWt, task)], ['jco createCoreInstance', ours.runCore(coreJco, task)], ['plain jco', jco.runJco(modDefault, task)]]) {
    if (out !== task) throw new Error(`echo (${who}) returned ${JSON.stringify(out)}`);
  }
  const call = await interleave(
    [
      { key: 'wt', block: async (k) => sampleSync(k, runWt) },
      { key: 'rust', block: async (k) => nsToMs(unpooled.benchRun(wtInst, task, k)) },
      { key: 'jcoPlain', block: async (k) => sampleSync(k, () => jco.runJco(modDefault, task)) },
      { key: 'coreWt', block: async (k) => sampleSync(k, () => ours.runCore(coreWt, task)) },
      { key: 'coreJco', block: async (k) => sampleSync(k, () => ours.runCore(coreJco, task)) },
    ],
    callRounds,
    perCall,
  );
  coreWt.close();
  coreJco.close();
  wtInst.dispose();

  const perWorkerCall = quick ? 50 : 100;
  const workerRounds = quick ? 2 : 10;
  progress(`engines: echo — run() through the worker, ${workerRounds} × ${perWorkerCall} per engine, interleaved`);
  const wWt = await ours.workerInstance(nPrepared, nInit);
  const wJco = await ours.workerInstance(prepared, init);
  let workerCall;
  try {
    for (const [who, w] of [['wasmtime', wWt], ['jco', wJco]]) {
      const out = await w.run(task, RUN_TIMEOUT_MS);
      if (out !== task) throw new Error(`echo worker (${who}) returned ${JSON.stringify(out)}`);
    }
    workerCall = await interleave(
      [
        { key: 'wt', block: (k) => sample(k, () => wWt.run(task, RUN_TIMEOUT_MS)) },
        { key: 'jco', block: (k) => sample(k, () => wJco.run(task, RUN_TIMEOUT_MS)) },
      ],
      workerRounds,
      perWorkerCall,
    );
  } finally {
    await wWt.close();
    await wJco.close();
  }

  const rows = [
    ...(pooled ? [row('engine: instantiate + dispose, pooling on (vs plain jco instantiate)', inst.pooled, inst.jcoPlain, { rust: inst.rustPooled, target: TARGET_INSTANTIATE_MS })] : []),
    row('engine: instantiate + dispose, pooling off (vs plain jco instantiate)', inst.unpooled, inst.jcoPlain, { rust: inst.rustUnpooled }),
    row('our host side: createCoreInstance (vs createCoreInstance on jco)', inst.coreWt, inst.coreJco),
    row('new worker instance, pre-warmed worker (WorkerInstance.start)', worker.wtWarm, worker.jcoWarm),
    row('new worker instance, worker booted on demand', worker.wtCold, worker.jcoCold),
    row('engine: run() on a warm instance (vs plain jco run)', call.wt, call.jcoPlain, { rust: call.rust, target: TARGET_CALL_MS }),
    row('our host side: run() of createCoreInstance (vs same on jco)', call.coreWt, call.coreJco),
    row('run() through the worker (WorkerInstance.run round trip)', workerCall.wt, workerCall.jco),
  ];
  lines.push(`## engines: echo (${(source.bytes.length / 1024).toFixed(1)} KiB, no imports) — warm instantiate and per-call latency`);
  lines.push(table(HEADER, rows, ALIGN));
  lines.push(
    'wasmtime engine level: Engine({ meter: \'instrumented\' }) in this thread (the echo component metered, Cranelift\'s code), limits { memoryBytes: 1 GiB, timeoutMs }; "of which Rust": benchInstantiate / benchRun (timed inside the addon, no napi); ' +
      'pooling off is what the agent worker uses. jco rows: plain jco (instantiation async, precompiled cores, ambient preview2-shim) at engine level, createCoreInstance with our metered core modules otherwise. ' +
      'createCoreInstance on wasmtime includes compileComponent (the workers’ shared engine keeps the compiled component in memory: after the first instance, a lookup by the SHA-256 the sandbox passes) and instantiateWithHost; close() is outside the clock.',
  );
  if (poolingRefused) lines.push(`pooling on: not measured, the pooling allocator could not be created on this host (${poolingRefused})`);
}

// ---- 4. one gated host call --------------------------------------------------------------------

async function hostCalls({ quick, progress, lines, scratch }) {
  const dataDir = join(scratch, 'hostcall-data');
  await mkdir(dataDir, { recursive: true });
  await writeFile(join(dataDir, 'probe.txt'), 'probe\n');
  const policyInput = hostcallPolicy(dataDir);
  const source = await ours.readComponent(await watAgent('hostcall'));
  const prepared = await ours.prepareComponent(source, ENGINE_CACHE, meterFor({}).transform);
  await prepareNative(source, NATIVE_CACHE);
  const init = await ours.instanceInit(policyInput, { [ENV_NAME]: 'x' });
  const events = { wt: { count: 0 }, jco: { count: 0 } };
  const wt = await nativeCoreInstance(source, init, events.wt);
  const jc = await ours.coreInstance(prepared, init, events.jco);
  const variants = [
    { key: 'wt', inst: wt },
    { key: 'jco', inst: jc },
  ];
  const reps = quick ? 5 : 41;
  const calls = [
    { mode: 'e', n: quick ? 1_000 : 3_000, label: 'get-environment (1 variable)' },
    { mode: 's', n: quick ? 300 : 1_000, label: 'descriptor.stat-at (lstat of a file)' },
  ];
  const rows = [];
  try {
    for (const c of calls) {
      progress(`engines: host calls — ${c.label}, ${reps} repetitions of run("${c.mode}${c.n}") + 5 × run("${c.mode}0") per engine`);
      const audit = {};
      for (const v of variants) {
        for (let i = 0; i < 3; i++) ours.runCore(v.inst, `${c.mode}${c.n}`);
        const before = events[v.key].count;
        const out = ours.runCore(v.inst, `${c.mode}${c.n}`);
        if (out !== String(c.n)) throw new Error(`hostcall ${c.mode}${c.n} (${v.key}): expected ${c.n}, got ${JSON.stringify(out)}`);
        audit[v.key] = (events[v.key].count - before) / c.n;
      }
      const per = { wt: [], jco: [] };
      for (let rep = 0; rep < reps; rep++) {
        for (let k = 0; k < variants.length; k++) {
          const v = variants[(k + rep) % variants.length];
          const empty = sampleSync(5, () => ours.runCore(v.inst, `${c.mode}0`));
          const t0 = performance.now();
          const out = ours.runCore(v.inst, `${c.mode}${c.n}`);
          const full = performance.now() - t0;
          if (out !== String(c.n)) throw new Error(`hostcall (${v.key}): expected ${c.n}, got ${out}`);
          per[v.key].push(((full - median(empty)) * 1e6) / c.n);
        }
      }
      const diffs = per.wt.map((x, i) => x - per.jco[i]);
      rows.push([
        c.label,
        String(c.n),
        fmtNs(median(per.wt)),
        fmtNs(percentile(per.wt, 90)),
        fmtNs(median(per.jco)),
        fmtNs(percentile(per.jco, 90)),
        fmtRatio(median(per.wt), median(per.jco)),
        fmtNs(median(diffs)),
        `${audit.wt.toFixed(2)} / ${audit.jco.toFixed(2)}`,
      ]);
    }
  } finally {
    wt.close();
    jc.close();
  }
  lines.push(`## engines: one gated host call through createCoreInstance in this thread — ns per call, ${reps} repetitions`);
  lines.push(table(['call', 'N', 'wasmtime', 'p90', 'jco', 'p90', 'wasmtime/jco', 'wasmtime − jco', 'audit/call wt / jco'], rows, ALIGN));
  lines.push(
    'per repetition: (time of run("<mode>N") − median of 5 × run("<mode>0")) / N, engines back to back in rotating order; medians (p90) over repetitions; ' +
      'the same policy, Gate and host objects on both engines (wasmtime: every call crosses Rust → napi → the same JS host function); "wasmtime − jco": median of paired differences',
  );
}

// ---- 5. metering overhead on the compute suite ------------------------------------------------

async function computeSuite({ quick, progress, lines, scratch }) {
  const version = clangVersion();
  if (version === undefined) {
    lines.push('## engines: compute suite — SKIPPED: clang-22 is not installed (apt-get install clang-22 lld-22 wasi-libc; or set AGENTOS_CLANG)');
    return;
  }
  const addon = loadWasmtimeAddon();
  const { Engine } = addon;
  // The agent worker's settings (no pooling): wasmtime's own meters switched on or off, and the
  // sandbox's engine, which runs components metered by our instrumenter (stop-flag mode).
  const configs = [
    { key: 'none', engine: new Engine({ pooling: false, fuel: false, epochInterruption: false }) },
    { key: 'fuel', engine: new Engine({ pooling: false, fuel: true, epochInterruption: false }) },
    { key: 'epoch', engine: new Engine({ pooling: false, fuel: false, epochInterruption: true }) },
    { key: 'both', engine: new Engine({ pooling: false, fuel: true, epochInterruption: true }) },
    // The optimized tier (Cranelift), what agents run once it is compiled, and the baseline
    // tier (Winch), what they run meanwhile after a cache miss (native/src/tiers.rs).
    { key: 'ours', engine: new Engine({ pooling: false, meter: 'instrumented', meterKey: STOP_FLAG_METER_KEY }), metered: 'optimized' },
    { key: 'winch', engine: new Engine({ pooling: false, meter: 'instrumented', meterKey: STOP_FLAG_METER_KEY }), metered: 'baseline' },
  ];
  const meter = meterFor({});
  const init = await ours.instanceInit(undefined);
  const warmup = quick ? 1 : 2;
  const rounds = quick ? 2 : 9;
  const rows = [];
  const ratios = { ours: [], winch: [], fuel: [], epoch: [], both: [], jcoOurs: [], oursVsJco: [], noneVsJco: [] };
  const fuelSame = [];
  for (const p of PROGRAMS) {
    // The same N in a quick run (fannkuch's work grows as N!, so it cannot simply be divided).
    const n = p.n;
    const task = String(n);
    progress(`engines: compute suite — ${p.name}(${n}): ${warmup} warm-up + ${rounds} rounds of 8 variants`);
    const source = await ours.readComponent(await computeComponent(p.name, version, scratch));
    const variants = [];
    const fuel = {};
    for (const c of configs) {
      const metered = c.metered && addon.meterComponent(source.bytes, (i, core) => instrumentStopFlag(`core${i}`, core));
      const compiled = metered ? c.engine.compileMetered(metered, undefined, c.metered === 'optimized') : c.engine.compileComponent(source.bytes);
      if (metered && compiled.tier !== c.metered) throw new Error(`${p.name}: expected the ${c.metered} tier, got ${compiled.tier}`);
      const inst = c.engine.instantiate(compiled, {});
      variants.push({
        key: c.key,
        ms: [],
        run: () => {
          const r = c.engine.run(inst, task);
          if (r.ok === undefined || r.ok === null) throw new Error(`${p.name} on wasmtime (${c.key}) returned err ${r.err}`);
          fuel[c.key] = r.fuelConsumed;
          return r.ok;
        },
        close: () => inst.dispose(),
      });
    }
    for (const [key, transform] of [['jcoPlain', undefined], ['jcoOurs', meter.transform]]) {
      const inst = await ours.coreInstance(await ours.prepareComponent(source, ENGINE_CACHE, transform), init);
      const run = () => {
        const r = inst.run(task);
        if (!r.ok) throw new Error(`${p.name} on jco (${key}) failed: ${r.error.code}: ${r.error.message}`);
        fuel[key] = r.fuelUsed;
        return r.output;
      };
      variants.push({ key, ms: [], run, close: () => inst.close() });
    }
    let expected;
    const once = (v) => {
      const t0 = performance.now();
      const out = v.run();
      const dt = performance.now() - t0;
      expected ??= out;
      if (out !== expected) throw new Error(`${p.name}: ${v.key} returned ${out}, expected ${expected}`);
      return dt;
    };
    try {
      for (let w = 0; w < warmup; w++) for (const v of variants) once(v);
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < variants.length; k++) {
          const v = variants[(r + k) % variants.length];
          v.ms.push(once(v));
        }
      }
    } finally {
      for (const v of variants) v.close();
    }
    const by = Object.fromEntries(variants.map((v) => [v.key, v.ms]));
    const r = {
      ours: pairedRatio(by.ours, by.none),
      winch: pairedRatio(by.winch, by.none),
      fuel: pairedRatio(by.fuel, by.none),
      epoch: pairedRatio(by.epoch, by.none),
      both: pairedRatio(by.both, by.none),
      jcoOurs: pairedRatio(by.jcoOurs, by.jcoPlain),
      oursVsJco: pairedRatio(by.ours, by.jcoOurs),
      noneVsJco: pairedRatio(by.none, by.jcoPlain),
    };
    for (const k of Object.keys(ratios)) ratios[k].push(r[k]);
    fuelSame.push(`${p.name} ${fuel.ours}${fuel.ours === fuel.jcoOurs ? '' : ` (jco: ${fuel.jcoOurs})`}`);
    const m = (k) => fmtMs(median(by[k]));
    const x = (v) => fmtRatio(v, 1);
    rows.push([p.name, String(n), m('none'), m('ours'), x(r.ours), x(r.winch), m('both'), x(r.both), x(r.fuel), x(r.epoch), m('jcoPlain'), m('jcoOurs'), x(r.jcoOurs), x(r.noneVsJco), x(r.oursVsJco)]);
  }
  const g = Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, geomean(v)]));
  const x = (v) => `${v.toFixed(2)}×`;
  const verdict = (v) => `${x(v)} (≤ ${x(TARGET_METER_OVERHEAD)} ${v <= TARGET_METER_OVERHEAD ? 'ok' : 'MISSED'})`;
  rows.push(['geometric mean', '', '', '', x(g.ours), x(g.winch), '', x(g.both), x(g.fuel), x(g.epoch), '', '', x(g.jcoOurs), x(g.noneVsJco), x(g.oursVsJco)]);
  lines.push(`## engines: metering overhead on the compute suite — run time of run("N") = bench_run(N), unlimited budget (median of ${rounds} runs per variant after ${warmup} warm-up, one instance per variant)`);
  lines.push(
    table(
      ['program', 'N', 'wt: none', 'wt: ours', 'ours/none', 'winch/none', 'wt: fuel+epoch', 'f+e/none', 'fuel/none', 'epoch/none', 'jco: plain', 'jco: ours', 'ours/plain', 'wt none/jco plain', 'wt ours/jco ours'],
      rows,
      ALIGN,
    ),
  );
  lines.push(
    `metering overhead over no metering (geometric mean, target ≤ ${x(TARGET_METER_OVERHEAD)}): wasmtime engine as the sandbox runs it (our instrumentation, stop-flag mode, Cranelift) ${verdict(g.ours)} · ` +
      `the same on the baseline tier (Winch, until Cranelift's code is ready after a cache miss) ${x(g.winch)} · ` +
      `wasmtime's own fuel + epoch interruption (before) ${x(g.both)} (fuel only ${x(g.fuel)}, epoch only ${x(g.epoch)}) · jco engine (our instrumentation, refuel hook) ${x(g.jcoOurs)}`,
  );
  lines.push(`engines as the sandbox runs them: wasmtime (ours) / jco (ours) ${x(g.oursVsJco)} · unmetered code: wasmtime / V8 ${x(g.noneVsJco)} · fuel per run on wasmtime (ours), jco's in brackets where it differs: ${fuelSame.join(', ')}`);
  lines.push(
    `ratios: median of per-round ratios (variants of a round run back to back, order rotating); every variant returned the same value in every run. Programs: bench/compute/*.c linked with bench/lib/compute-run.c into import-free components (${version}, -O2); ` +
      'N about half of section 6\'s so the section stays within its time budget; wasmtime engines without pooling, as in the agent worker',
  );
}

// ---- the section -------------------------------------------------------------------------------

/** Run the section; returns the text to print. */
export async function enginesBench({ quick = false, progress = () => {} } = {}) {
  const lines = [];
  lines.push('command: node bench/engines.mjs (also part of npm run bench)');
  let Engine;
  try {
    ({ Engine } = loadWasmtimeAddon());
  } catch (e) {
    lines.push(`## engines — SKIPPED: ${e.message}`);
    return lines.join('\n');
  }
  lines.push(`${machineLine()} · wasmtime ${new Engine({ epochInterruption: false, pooling: false }).wasmtimeVersion} · jco ${jco.jcoVersion()}${quick ? ' · BENCH_QUICK=1 (smoke run)' : ''}`);
  lines.push('wasmtime engine: the native addon (napi-rs); jco engine: jco-transpiled JS + core modules metered by our instrumenter, run by V8; figures are medians, ratios wasmtime/jco');
  lines.push('');
  const scratch = join(CACHE, 'tmp', `engines-${randomUUID()}`);
  await mkdir(scratch, { recursive: true });
  try {
    const parts = (process.env.ENGINES_PARTS ?? 'loads,echo,hostcall,compute').split(',');
    const steps = { loads, echo, hostcall: hostCalls, compute: computeSuite };
    for (const [name, step] of Object.entries(steps)) {
      if (!parts.includes(name)) continue;
      await step({ quick, progress, lines, scratch });
      lines.push('');
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
    // The scratch root too when nothing else uses it (run.mjs removes it at its end anyway).
    await rmdir(join(CACHE, 'tmp')).catch(() => {});
  }
  return lines.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.env.BENCH_QUICK === '1';
  const started = performance.now();
  process.stdout.write('engines benchmark: jco vs wasmtime\n');
  process.stdout.write((await enginesBench({ quick, progress: (l) => process.stderr.write(`  … ${l}\n`) })) + '\n');
  process.stdout.write(`section took ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  process.exit(0);
}
