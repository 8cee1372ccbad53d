#!/usr/bin/env node
/**
 * Fuel metering: what `instrumentModule` (dist/limits/wasm/instrument.js) costs at run time
 * and at load time, beside the same scheme implemented on binaryen's IR
 * (bench/lib/binaryen-meter.mjs) and the uninstrumented module, all measured in this process:
 *
 *   1. a compute suite of six C programs (bench/compute/*.c, built with clang-22 into core
 *      modules cached in bench/.cache/compute/): run time of `bench_run(n)` plain, metered by
 *      us (the budget in slices, `createFuelSlicer`, with a deadline check per slice), metered
 *      by us without the refuel hook (`refuel: false`: the whole budget in the global, a trap
 *      where it runs out: the scheme before slices), metered by us without the leaf pre-charge
 *      (`leafInlineThreshold: 0`: direct calls of small leaves not charged at the call site),
 *      metered by binaryen (and binaryen's -O2 after metering, as a reference);
 *   2. the StarlingMonkey example agent's main core module (~17 MB): instrumentation time,
 *      ours vs binaryen (read + instrument + emit);
 *   3. a JavaScript CPU loop (bench/agents/jsloop.js) run through our engine in this thread,
 *      with the component's core modules plain, metered by us, metered by binaryen.
 *
 * Run alone with `node bench/fuel.mjs` (after `npx tsc -p tsconfig.json`); `bench/run.mjs`
 * can call `fuelBench`. BENCH_QUICK=1 cuts the sample counts (a smoke run, not for reporting);
 * FUEL_PARTS=compute,instrument,jsloop runs only those parts.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { instrumentModule, REFUEL_IMPORT_FIELD } from '../dist/limits/wasm/instrument.js';
import { createFuelSlicer } from '../dist/limits/refuel.js';
import { FUEL_PER_MS, meterFor } from '../dist/limits/meter.js';
import { buildAgent, toolchainVersions } from '../dist/build/index.js';
import { enableWasmFeatures } from '../dist/engine/jco/wasm-features.js';
import { BENCH, CACHE, REPO, jsAgent } from './lib/agents.mjs';
import { binaryenMeter, FUEL_FIELD, FUEL_MODULE } from './lib/binaryen-meter.mjs';
import { clang, computeClangFlags } from './lib/compute-components.mjs';
import * as ours from './lib/ours.mjs';
import { fmtMs, fmtRatio, median, table } from './lib/stats.mjs';

/** The compute suite: the argument of `bench_run` puts each at ~100–400 ms plain on a slow 2-core machine. */
const PROGRAMS = [
  { name: 'nbody', n: 1_500_000, what: 'n-body, double math, small pair loops' },
  { name: 'fannkuch', n: 10, what: 'permutations, integer, short data-dependent loops' },
  { name: 'spectral', n: 1000, what: 'spectral norm, double, one call per matrix element' },
  { name: 'sieve', n: 10, what: 'prime sieve over a 4 MiB static array, byte stores' },
  { name: 'matmul', n: 30, what: '200×200 double matrix multiply, nested loops' },
  { name: 'sha', n: 16, what: 'SHA-256 over 1 MiB, 32-bit bit operations, a call per block' },
];

/** Targets for our metered / plain run time over the compute suite. */
const TARGET_GEOMEAN = 1.15;
const TARGET_WORST = 1.3;
/** Target for instrumenting the JS agent's main core module. */
const TARGET_INSTRUMENT_MS = 2000;

/** The budget every metered run starts with: the engine's "unlimited", the largest i64. */
const BUDGET = (1n << 63n) - 1n;

const COMPUTE_DIR = join(CACHE, 'compute');
const ENGINE_CACHE = join(CACHE, 'engine');

/** Flags of one compute program: a core module exporting only `bench_run` and its memory. */
const clangFlags = () => computeClangFlags('-Wl,--export=bench_run');

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/**
 * Ratio of two variants measured in the same rounds: the median of the per-round ratios.
 * The variants of a round run back to back, so load that drifts on a shared machine (other
 * processes' bursts lasting seconds) mostly cancels.
 */
const pairedRatio = (xs, base) => median(xs.map((x, i) => x / base[i]));
const geomean = (xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
const fmtFuel = (f) => (f >= 1e9 ? `${(f / 1e9).toFixed(2)} G` : `${(f / 1e6).toFixed(1)} M`);

function machineLine() {
  return `node ${process.version} · ${process.platform}-${process.arch} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · ${(totalmem() / 2 ** 30).toFixed(1)} GiB · load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

function binaryenVersion() {
  const entry = fileURLToPath(import.meta.resolve('binaryen'));
  return JSON.parse(readFileSync(join(dirname(entry), 'package.json'), 'utf8')).version;
}

// ---- 1. the compute suite ------------------------------------------------------------------

/** clang's version line, or undefined when it cannot be run. */
function clangVersion() {
  const r = spawnSync(clang(), ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0].trim() : undefined;
}

/**
 * The core module of one program, from bench/.cache/compute/ or compiled now. The key hashes
 * the source, the flags and the compiler's version line, so a change to any rebuilds it.
 */
async function computeModule(name, version) {
  const source = join(BENCH, 'compute', `${name}.c`);
  const key = sha256(readFileSync(source), JSON.stringify(clangFlags()), version).slice(0, 16);
  const out = join(COMPUTE_DIR, `${name}-${key}.wasm`);
  if (!existsSync(out)) {
    await mkdir(COMPUTE_DIR, { recursive: true });
    // Old builds of this program go; the others stay.
    for (const f of await readdir(COMPUTE_DIR)) if (f.startsWith(`${name}-`) && f !== basename(out)) await rm(join(COMPUTE_DIR, f), { force: true });
    const tmp = `${out}.tmp-${process.pid}`;
    const r = spawnSync(clang(), [...clangFlags(), '-o', tmp, source], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${clang()} failed on ${name}.c (exit ${r.status}):\n${r.stderr}`);
    await rename(tmp, out);
  }
  return new Uint8Array(await readFile(out));
}

/**
 * Imports for a module: the `agentos:limits` namespace, plus a throwing stub for every function
 * import (the programs are built to need none; a libc helper that pulls one in would trap
 * loudly if it were ever called instead of making the comparison silently wrong).
 */
function importsFor(module, limits) {
  const imports = { [FUEL_MODULE]: limits };
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module === FUEL_MODULE) continue;
    if (imp.kind !== 'function') throw new Error(`unexpected ${imp.kind} import ${imp.module}.${imp.name}`);
    imports[imp.module] ??= {};
    imports[imp.module][imp.name] = () => {
      throw new Error(`stub import ${imp.module}.${imp.name} called`);
    };
  }
  return imports;
}

/**
 * One variant of a program: a live instance, its fuel, and its samples. A module with the
 * refuel hook gets a slicer as the engine's (the default slice, and a deadline check per
 * slice, never due here); the others get the whole budget in their global.
 */
function variant(label, bytes) {
  const module = new WebAssembly.Module(bytes);
  const hooked = WebAssembly.Module.imports(module).some((i) => i.module === FUEL_MODULE && i.name === REFUEL_IMPORT_FIELD);
  const deadline = Number.POSITIVE_INFINITY;
  const slicer = hooked ? createFuelSlicer({ budget: BUDGET, check: () => performance.now() < deadline }) : undefined;
  const fuel = slicer?.fuel ?? new WebAssembly.Global({ value: 'i64', mutable: true }, BUDGET);
  const instance = new WebAssembly.Instance(module, importsFor(module, slicer ? slicer.imports[FUEL_MODULE] : { [FUEL_FIELD]: fuel }));
  return { label, fuel, slicer, run: instance.exports.bench_run, ms: [], fuelUsed: 0n, size: bytes.length };
}

/** Time one call of `bench_run(n)` on a variant; returns its result. */
function timedRun(v, n) {
  if (v.slicer) v.slicer.reset();
  else v.fuel.value = BUDGET;
  const t0 = performance.now();
  const result = v.run(n);
  const dt = performance.now() - t0;
  v.fuelUsed = v.slicer ? BigInt(v.slicer.used()) : BUDGET - v.fuel.value;
  return { result, dt };
}

async function computeSuite({ quick, progress, lines }) {
  const version = clangVersion();
  if (version === undefined) {
    lines.push(`## fuel: compute suite — SKIPPED: ${clang()} is not installed (apt-get install clang-22 lld-22 wasi-libc; or set AGENTOS_CLANG)`);
    return;
  }
  const warmup = quick ? 1 : 3;
  const rounds = quick ? 3 : 11;
  const rows = [];
  const ratios = { ours: [], noLeaf: [], binaryen: [], o2: [], before: [], oursBefore: [] };
  const leafStats = [];
  const fuelRates = [];
  for (const p of PROGRAMS) {
    progress(`fuel: compute suite — ${p.name}(${p.n}): ${warmup} warm-up + ${rounds} rounds of 6 variants`);
    const plainBytes = await computeModule(p.name, version);
    const oursOut = instrumentModule(plainBytes, { fuel: true });
    leafStats.push(`${p.name} ${oursOut.stats.leafCopies}/${oursOut.stats.leafCalls}`);
    const variants = [
      variant('plain', plainBytes),
      variant('ours', oursOut.bytes),
      variant('binaryen', binaryenMeter(plainBytes).bytes),
      variant('binaryen -O2', binaryenMeter(plainBytes, { optimize: 2 }).bytes),
      variant('ours, leaf pre-charge off', instrumentModule(plainBytes, { fuel: true, leafInlineThreshold: 0 }).bytes),
      variant('ours, refuel hook off', instrumentModule(plainBytes, { fuel: true, refuel: false }).bytes),
    ];
    let expected;
    const check = (v, result) => {
      expected ??= result;
      if (result !== expected) throw new Error(`${p.name}: ${v.label} returned ${result}, plain returned ${expected}`);
    };
    // One instance per variant, reused for every run: bench_run re-initializes all the state
    // it reads, so the runs are identical, and a fresh instance would add instantiation and
    // first-touch page faults of its static arrays (4 MiB for sieve) to what is measured.
    // Warm-up: V8 first runs baseline (Liftoff) code and swaps in optimized code only at a
    // later call (a running call is not replaced), so the first runs are not representative.
    for (let w = 0; w < warmup; w++) for (const v of variants) check(v, timedRun(v, p.n).result);
    // Rounds rotate the order of the variants so that load drifting on a shared machine
    // touches all of them alike.
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(r + k) % variants.length];
        const { result, dt } = timedRun(v, p.n);
        check(v, result);
        v.ms.push(dt);
      }
    }
    const [plain, mine, bin, o2, noLeaf, before] = variants.map((v) => median(v.ms));
    const [rMine, rBin, rO2, rNoLeaf, rBefore] = variants.slice(1).map((v) => pairedRatio(v.ms, variants[0].ms));
    const rMineBefore = pairedRatio(variants[1].ms, variants[5].ms);
    if (variants[1].fuelUsed !== variants[5].fuelUsed) throw new Error(`${p.name}: ours charged ${variants[1].fuelUsed}, without the hook ${variants[5].fuelUsed}`);
    ratios.ours.push(rMine);
    ratios.noLeaf.push(rNoLeaf);
    ratios.binaryen.push(rBin);
    ratios.o2.push(rO2);
    ratios.before.push(rBefore);
    ratios.oursBefore.push(rMineBefore);
    fuelRates.push(Number(variants[1].fuelUsed) / plain);
    rows.push([
      p.name,
      String(p.n),
      fmtMs(plain),
      fmtMs(mine),
      fmtRatio(rMine, 1),
      fmtMs(before),
      fmtRatio(rBefore, 1),
      fmtRatio(rMineBefore, 1),
      fmtMs(noLeaf),
      fmtRatio(rNoLeaf, 1),
      fmtMs(bin),
      fmtRatio(rBin, 1),
      fmtMs(o2),
      fmtRatio(rO2, 1),
      fmtFuel(Number(variants[1].fuelUsed)),
      fmtFuel(Number(variants[2].fuelUsed)),
      `${(Number(variants[1].fuelUsed) / plain / 1e6).toFixed(1)} M`,
    ]);
  }
  const g = {
    ours: geomean(ratios.ours), noLeaf: geomean(ratios.noLeaf), binaryen: geomean(ratios.binaryen), o2: geomean(ratios.o2),
    before: geomean(ratios.before), oursBefore: geomean(ratios.oursBefore),
  };
  const worst = (xs) => {
    const i = xs.indexOf(Math.max(...xs));
    return { r: xs[i], name: PROGRAMS[i].name };
  };
  const w = { ours: worst(ratios.ours), noLeaf: worst(ratios.noLeaf), binaryen: worst(ratios.binaryen), o2: worst(ratios.o2) };
  const x = (r) => `${r.toFixed(2)}×`;
  lines.push(`## fuel: compute suite — run time of bench_run(n), plain vs metered (median of ${rounds} runs each after ${warmup} warm-up, one instance per variant)`);
  lines.push(
    table(
      ['program', 'n', 'plain', 'ours', 'ours/plain', 'no hook', 'no-hook/plain', 'ours/no-hook', 'ours no-leaf', 'no-leaf/plain', 'binaryen', 'binaryen/plain', 'binaryen -O2', '-O2/plain', 'fuel/run ours', 'fuel/run binaryen', 'fuel/ms ours'],
      rows,
      ['l'],
    ),
  );
  lines.push(
    `geometric mean: ours ${x(g.ours)} (target ≤ ${x(TARGET_GEOMEAN)} ${g.ours <= TARGET_GEOMEAN ? 'ok' : 'MISSED'}) · ours without the refuel hook ${x(g.before)} (ours/no-hook ${g.oursBefore.toFixed(3)}×) · ours, leaf pre-charge off ${x(g.noLeaf)} · binaryen ${x(g.binaryen)} · binaryen -O2 ${x(g.o2)}`,
  );
  lines.push(
    `worst case: ours ${x(w.ours.r)} ${w.ours.name} (target ≤ ${x(TARGET_WORST)} ${w.ours.r <= TARGET_WORST ? 'ok' : 'MISSED'}) · ours, leaf pre-charge off ${x(w.noLeaf.r)} ${w.noLeaf.name} · binaryen ${x(w.binaryen.r)} ${w.binaryen.name} · binaryen -O2 ${x(w.o2.r)} ${w.o2.name}`,
  );
  lines.push('times: medians; ratios: median of the per-round ratios (paired, see bench/README.md); all variants returned the same value in every run');
  lines.push(
    '"ours" = instrumentModule with { fuel: true } run under createFuelSlicer (default slice, a deadline check per slice); "no hook" = { fuel: true, refuel: false }, the whole budget in the global and `unreachable` where it runs out (the scheme before slices; both charge the same fuel, checked)',
  );
  lines.push(
    `"ours no-leaf" = instrumentModule with { leafInlineThreshold: 0 }: direct calls of small leaf functions not charged at the call site (small leaves copied / direct calls redirected by ours: ${leafStats.join(', ')})`,
  );
  lines.push(
    `fuel/run = units one bench_run charged; "fuel/ms ours" = ours fuel/run ÷ plain ms: ${(median(fuelRates) / FUEL_PER_MS).toFixed(0)}× (median) the ${(FUEL_PER_MS / 1e6).toFixed(0)} M per ms that maxCpuTime converts at`,
  );
  lines.push(`programs (bench/compute/*.c, ${version}, -O2): ${PROGRAMS.map((p) => `${p.name}: ${p.what}`).join('; ')}`);
}

// ---- 2. instrumenting the JS agent's core module ---------------------------------------------

/** The largest core module of a component, from jco's transpile output. */
async function largestCore(componentBytes) {
  const { transpile } = await import('@bytecodealliance/jco');
  const { files } = await transpile(componentBytes, { name: 'agent', instantiation: 'async' });
  // jco returns an object of name → bytes (older versions: an array of [name, bytes]).
  const entries = Array.isArray(files) ? files : Object.entries(files);
  const cores = entries.filter(([name]) => name.endsWith('.core.wasm')).sort((a, b) => b[1].length - a[1].length);
  if (cores.length === 0) throw new Error('jco transpile produced no core modules');
  return { name: cores[0][0], bytes: new Uint8Array(cores[0][1]) };
}

async function instrumentTime({ quick, progress, lines }) {
  const agent = await jsAgent(progress);
  if (agent.built) progress(`built the JS example agent in ${agent.seconds.toFixed(1)} s`);
  progress('fuel: extracting the JS agent\'s core modules (jco transpile, ~3 s)');
  const core = await largestCore(await readFile(agent.path));
  const nOurs = quick ? 2 : 5;
  const nBin = quick ? 1 : 3;
  progress(`fuel: instrumenting ${core.name} (${(core.bytes.length / 2 ** 20).toFixed(1)} MiB): ours ×${nOurs + 1}, binaryen ×${nBin} (~10 s each)`);
  const oursMs = [];
  let oursOut;
  for (let i = 0; i <= nOurs; i++) {
    const t0 = performance.now();
    oursOut = instrumentModule(core.bytes, { fuel: true });
    if (i > 0) oursMs.push(performance.now() - t0); // the first call also compiles our JS
  }
  const binMs = [];
  const binTimes = [];
  let binOut;
  for (let i = 0; i < nBin; i++) {
    const t0 = performance.now();
    binOut = binaryenMeter(core.bytes);
    binMs.push(performance.now() - t0);
    binTimes.push(binOut.times);
  }
  // Both outputs must be valid modules (outside the clock).
  for (const [who, bytes] of [['ours', oursOut.bytes], ['binaryen', binOut.bytes]]) {
    try {
      await WebAssembly.compile(bytes);
    } catch (e) {
      throw new Error(`the ${who}-instrumented ${core.name} does not compile: ${e.message}`);
    }
  }
  const mo = median(oursMs);
  const mb = median(binMs);
  const ms = (xs) => fmtMs(median(xs));
  const verdict = (t) => `≤ ${fmtMs(TARGET_INSTRUMENT_MS)} ${t <= TARGET_INSTRUMENT_MS ? 'ok' : 'MISSED'}`;
  lines.push(`## fuel: instrumenting the StarlingMonkey agent's main core module (${core.name}, ${(core.bytes.length / 2 ** 20).toFixed(1)} MiB, from jco transpile of ${agent.path.slice(REPO.length)})`);
  lines.push(
    table(
      ['instrumenter', 'n', 'time', 'vs ours', 'target', 'output', 'charge points', 'loops'],
      [
        ['ours (instrumentModule, fuel: true)', String(oursMs.length), fmtMs(mo), '1.00×', verdict(mo), `${(oursOut.bytes.length / 2 ** 20).toFixed(2)} MiB`, String(oursOut.stats.chargePoints), String(oursOut.stats.loops)],
        ['binaryen (read + instrument + emit)', String(binMs.length), fmtMs(mb), fmtRatio(mb, mo), verdict(mb), `${(binOut.bytes.length / 2 ** 20).toFixed(2)} MiB`, String(binOut.stats.chargePoints), String(binOut.stats.loops)],
        ['  of which readBinary', '', ms(binTimes.map((t) => t.read)), '', '', '', '', ''],
        ['  of which walk + insert charges', '', ms(binTimes.map((t) => t.instrument)), '', '', '', '', ''],
        ['  of which emitBinary', '', ms(binTimes.map((t) => t.emit)), '', '', '', '', ''],
      ],
      ['l', 'r', 'r', 'r', 'l'],
    ),
  );
  lines.push('time: median; ours after one untimed call; both outputs compile with WebAssembly.compile (checked outside the clock)');
}

// ---- 3. a JS CPU loop through the engine -----------------------------------------------------

/** bench/agents/jsloop.js built with our builder, cached by its source and the toolchain. */
async function jsLoopAgent(progress) {
  const source = join(BENCH, 'agents', 'jsloop.js');
  const builders = ['js.js', 'process.js', 'preopen-preload.js']
    .map((f) => join(REPO, 'dist', 'build', f))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f));
  const key = sha256(readFileSync(source), readFileSync(join(REPO, 'wit', 'world.wit')), JSON.stringify(toolchainVersions()), ...builders).slice(0, 16);
  const out = join(CACHE, 'agents', `jsloop-${key}.wasm`);
  if (existsSync(out)) return out;
  progress(`fuel: building bench/agents/jsloop.js (StarlingMonkey, ~20–45 s; cached afterwards in ${out.slice(REPO.length)})`);
  // buildAgent writes beside `out` and renames: a half-built file never has the cached name.
  await buildAgent(source, out);
  return out;
}

/** Hash of files, for transform keys that must change whenever the code behind them does. */
const filesKey = (files) => sha256(...files.map((f) => readFileSync(f))).slice(0, 12);

async function jsLoop({ quick, progress, lines }) {
  const path = await jsLoopAgent(progress);
  const source = await ours.readComponent(path);
  // Our transform is the engine's (meterFor(limits).transform: fuel + memory/table caps).
  // Its cache key carries only METER_VERSION; the instrumenter's compiled files are added to
  // it here so that a benchmark run never reuses modules metered by an older build.
  const meter = meterFor({});
  const oursTransform = {
    key: `${meter.transform.key}-${filesKey(['instrument.js', 'reader.js', 'opcodes.js'].map((f) => join(REPO, 'dist', 'limits', 'wasm', f)))}`,
    apply: meter.transform.apply,
  };
  const binTransform = {
    key: `binaryen${binaryenVersion()}-refuel-${filesKey([join(BENCH, 'lib', 'binaryen-meter.mjs')])}`,
    // With the refuel hook: the engine runs every instance under a fuel slicer.
    apply: (_name, bytes) => binaryenMeter(bytes, { refuel: true }).bytes,
  };
  progress('fuel: JS loop — preparing the component plain, metered by us and by binaryen (binaryen ~10 s the first time, then cached)');
  const prepared = {
    plain: await ours.prepareComponent(source, ENGINE_CACHE),
    ours: await ours.prepareComponent(source, ENGINE_CACHE, oursTransform),
    binaryen: await ours.prepareComponent(source, ENGINE_CACHE, binTransform),
  };
  const init = await ours.instanceInit(undefined);
  const task = quick ? '100' : '400';
  const warmup = quick ? 2 : 5;
  const rounds = quick ? 3 : 9;
  progress(`fuel: JS loop — run("${task}") × (${warmup} warm-up + ${rounds} rounds) × 3 variants, in-thread instances`);
  const variants = [];
  for (const [label, p] of Object.entries(prepared)) variants.push({ label, inst: await ours.coreInstance(p, init), ms: [], fuel: 0 });
  let expected;
  const once = (v) => {
    const t0 = performance.now();
    const r = v.inst.run(task);
    const dt = performance.now() - t0;
    if (!r.ok) throw new Error(`jsloop (${v.label}) failed: ${r.error.code}: ${r.error.message}`);
    expected ??= r.output;
    if (r.output !== expected) throw new Error(`jsloop (${v.label}) returned ${r.output}, expected ${expected}`);
    v.fuel = r.fuelUsed;
    return dt;
  };
  // Warm-up: the 17 MB module tiers up function by function while it runs.
  for (let w = 0; w < warmup; w++) for (const v of variants) once(v);
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length];
      v.ms.push(once(v));
    }
  }
  for (const v of variants) v.inst.close();
  const [plain, mine, bin] = variants.map((v) => median(v.ms));
  const [rMine, rBin] = variants.slice(1).map((v) => pairedRatio(v.ms, variants[0].ms));
  lines.push(`## fuel: a JavaScript CPU loop in the StarlingMonkey agent (bench/agents/jsloop.js, run("${task}")), our engine in this thread`);
  lines.push(
    table(
      ['core modules', 'n', 'run()', 'vs plain', 'fuel/run', 'fuel/ms'],
      [
        ['plain (prepareComponent without a transform)', String(variants[0].ms.length), fmtMs(plain), '1.00×', '—', '—'],
        ['ours (meterFor({}).transform)', String(variants[1].ms.length), fmtMs(mine), fmtRatio(rMine, 1), fmtFuel(variants[1].fuel), `${(variants[1].fuel / plain / 1e6).toFixed(0)} M`],
        ['binaryen (binaryen-meter with the refuel hook, no passes)', String(variants[2].ms.length), fmtMs(bin), fmtRatio(rBin, 1), fmtFuel(variants[2].fuel), `${(variants[2].fuel / plain / 1e6).toFixed(0)} M`],
      ],
      ['l'],
    ),
  );
  lines.push(`run(): median of ${rounds} runs per variant after ${warmup} warm-up, variants interleaved; "vs plain": median of per-round ratios; the same output from all three (${expected})`);
  lines.push(
    `fuel/ms = fuel/run ÷ plain run time, against the ${(FUEL_PER_MS / 1e6).toFixed(0)} M per ms maxCpuTime converts at (costs are static per charged region; large loop bodies such as an interpreter's dispatch loop are charged per sub-region, so a JS agent's rate is close to C's)`,
  );
}

// ---- the section ---------------------------------------------------------------------------

/** The parts of the section, by the names FUEL_PARTS takes. */
const PARTS = { compute: computeSuite, instrument: instrumentTime, jsloop: jsLoop };

/** Run the section (`parts`: some of {@link PARTS}, default all); returns the text to print. */
export async function fuelBench({ quick = false, progress = () => {}, parts = Object.keys(PARTS) } = {}) {
  // The V8 features the engine turns on (branch hinting, read for the refuel hook's branches,
  // where it does): every variant is measured as the engine would run it.
  enableWasmFeatures();
  const lines = [];
  lines.push('command: node bench/fuel.mjs (also part of npm run bench)');
  lines.push(`${machineLine()} · binaryen ${binaryenVersion()}${quick ? ' · BENCH_QUICK=1 (smoke run)' : ''}${parts.length < Object.keys(PARTS).length ? ` · FUEL_PARTS=${parts.join(',')}` : ''}`);
  for (const part of parts) {
    if (!Object.hasOwn(PARTS, part)) throw new Error(`unknown fuel benchmark part ${part} (parts: ${Object.keys(PARTS).join(', ')})`);
    lines.push('');
    await PARTS[part]({ quick, progress, lines });
  }
  return lines.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.env.BENCH_QUICK === '1';
  const parts = process.env.FUEL_PARTS ? process.env.FUEL_PARTS.split(',') : undefined;
  process.stdout.write('fuel metering benchmark\n');
  process.stdout.write((await fuelBench({ quick, progress: (l) => process.stderr.write(`  … ${l}\n`), parts })) + '\n');
  process.exit(0);
}
