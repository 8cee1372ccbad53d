#!/usr/bin/env node
/**
 * Languages: the same echo agent (`run(task)` returns the task) written in WAT, C, JavaScript
 * (StarlingMonkey and QuickJS) and Python, each figure beside the C agent's from the same run
 * (ratio language/C), on both engines (see bench/README.md, section 9):
 *
 *   - component size;
 *   - cold load in a fresh process with an empty cache dir (createSandbox + load + first run,
 *     bench/lib/engine-load-sample.mjs, as in section 8);
 *   - warm instantiate: createCoreInstance in this thread with the component already compiled
 *     (the row sections 1 and 8 call warm instantiate), and `sandbox.load` of the same bytes
 *     again in a sandbox that already loaded them (warm cache, pre-warmed worker);
 *   - per-run latency on a warm instance: `run()` of the createCoreInstance instance, and
 *     `agent.run()` (through the agent's worker);
 *   - the fuel a run uses (`RunResult.fuelUsed`), the instance's first run and a later one (both
 *     engines run the same instrumented charges, so the figures match where the guest does the
 *     same work; a garbage-collected runtime may not, run to run).
 *
 * The agents are built by bench/lib/language-agents.mjs (cached); a language whose toolchain is
 * missing is listed as skipped. Run alone with `node bench/languages.mjs` (after `npm run
 * build`), or `BENCH_ONLY=languages npm run bench`; BENCH_QUICK=1 cuts the sample counts.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, rmdir } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSandbox } from '../dist/index.js';
import { loadWasmtimeAddon } from '../dist/engine/wasmtime/addon.js';
import { precompileNative } from '../dist/engine/wasmtime/prepare.js';
import { DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS, meterFor } from '../dist/limits/meter.js';
import { BENCH, CACHE } from './lib/agents.mjs';
import { languageAgents } from './lib/language-agents.mjs';
import * as ours from './lib/ours.mjs';
import { fmtMs, fmtRatio, median, sample, sampleSync, table } from './lib/stats.mjs';

const TASK = 'hello, agent';
/** The sandbox's cache dir in this process (shared with section 8: the same warm artifacts). */
const ENGINE_CACHE = join(CACHE, 'engine');
const RUN_TIMEOUT_MS = 30_000;
/** Components above this size get the smaller sample counts (`heavy`). */
const HEAVY_BYTES = 1 << 20;

/**
 * Sample counts: per metric, `rounds` interleaved rounds of one block per agent, the block size
 * depending on the component (light: WAT, C; heavy: the language runtimes). Cold: samples per
 * agent and engine, each a fresh process.
 */
function counts(quick) {
  return {
    cold: { light: quick ? 1 : 3, heavy: quick ? 1 : 2 },
    inst: { rounds: quick ? 2 : 6, light: quick ? 5 : 20, heavy: quick ? 1 : 3 },
    load: { rounds: quick ? 2 : 5, light: quick ? 2 : 4, heavy: quick ? 1 : 2 },
    run: { rounds: quick ? 3 : 10, light: quick ? 50 : 200, heavy: quick ? 10 : 100 },
    agentRun: { rounds: quick ? 3 : 10, light: quick ? 10 : 50, heavy: quick ? 5 : 20 },
  };
}

const digest = (text) => createHash('sha256').update(text).digest('hex').slice(0, 16);

function machineLine() {
  return `node ${process.version} · ${process.platform}-${process.arch} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · ${(totalmem() / 2 ** 30).toFixed(1)} GiB · load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

const fmtSize = (b) => (b >= 1 << 20 ? `${(b / 2 ** 20).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);

/**
 * Interleaved sampling (as in bench/engines.mjs): one untimed block per agent, then `rounds`
 * rounds of one block per agent in an order that rotates between rounds, so load drifting on a
 * shared machine hits every language alike. `block(agent, k)` returns k ms samples.
 */
async function interleave(agents, rounds, sizeOf, block) {
  for (const a of agents) await block(a, sizeOf(a));
  const out = new Map(agents.map((a) => [a.key, []]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < agents.length; k++) {
      const a = agents[(r + k) % agents.length];
      out.get(a.key).push(...(await block(a, sizeOf(a))));
    }
  }
  return out;
}

// ---- cold loads: one fresh process per sample ---------------------------------------------------

function coldSample(engine, agent, cacheDir) {
  const args = { engine, wasm: agent.path, cacheDir, task: TASK };
  const r = spawnSync(process.execPath, [join(BENCH, 'lib', 'engine-load-sample.mjs'), JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`cold load (${engine}, ${agent.title}) failed:\n${r.stderr}`);
  const s = JSON.parse(r.stdout.trim().split('\n').pop());
  if (s.output !== digest(TASK)) throw new Error(`cold load (${engine}, ${agent.title}): the first run did not return the task`);
  return s;
}

/** engine → agent key → samples `{ load, run, total }` (ms). */
async function coldLoads({ engines, agents, c, scratch, progress }) {
  const out = Object.fromEntries(engines.map((e) => [e, new Map(agents.map((a) => [a.key, []]))]));
  const most = Math.max(...agents.map((a) => c.cold[a.heavy ? 'heavy' : 'light']));
  for (let i = 0; i < most; i++) {
    const order = i % 2 ? [...engines].reverse() : engines;
    for (const a of agents) {
      if (i >= c.cold[a.heavy ? 'heavy' : 'light']) continue;
      for (const engine of order) {
        progress(`languages: cold load ${i + 1} of ${a.title} on ${engine}, in a fresh process`);
        const dir = join(scratch, `cold-${engine}-${a.key}-${i}`);
        try {
          out[engine].get(a.key).push(coldSample(engine, a, dir));
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
    }
  }
  return out;
}

// ---- warm: one sandbox per engine in this process ------------------------------------------------

/** A createCoreInstance factory for one agent on one engine (what the agent worker makes). */
async function coreFactory(engine, agent, init) {
  const source = await ours.readComponent(agent.path);
  if (engine === 'wasmtime') {
    const native = { bytes: source.bytes, hash: source.hash, cacheDir: join(ENGINE_CACHE, 'wasmtime'), memoryBytes: DEFAULT_MAX_MEMORY, tableElements: DEFAULT_MAX_TABLE_ELEMENTS, timeoutMs: RUN_TIMEOUT_MS };
    return () => ours.coreInstance({ jsUrl: '', modules: {} }, { ...init, native });
  }
  // The core modules metered and compiled as Sandbox.load prepares them.
  const prepared = await ours.prepareComponent(source, ENGINE_CACHE, meterFor({}).transform);
  return () => ours.coreInstance(prepared, init);
}

/** The warm figures of every agent on one engine: key → { inst, load, run, agentRun, fuelFirst, fuelLater }. */
async function warm({ engine, agents, c, progress }) {
  const sandbox = createSandbox({ engine, cacheDir: ENGINE_CACHE, audit: false });
  const init = await ours.instanceInit(undefined);
  const st = new Map();
  try {
    for (const a of agents) {
      progress(`languages: ${engine} — loading ${a.title} (the first load fills the cache)`);
      const bytes = new Uint8Array(await readFile(a.path));
      // The warm figures are of the optimized (Cranelift) code: a cache miss would serve Winch's
      // until the background compile is done (native/src/tiers.rs), so compile it now, as
      // `agentos build` does (a hit when the cache has it).
      if (engine === 'wasmtime') await precompileNative(await ours.readComponent(a.path), join(ENGINE_CACHE, 'wasmtime'));
      const agent = await sandbox.load(bytes);
      const first = await agent.run(TASK);
      if (first.output !== TASK) throw new Error(`${a.title} on ${engine}: agent.run returned ${JSON.stringify(first.output)}`);
      const make = await coreFactory(engine, a, init);
      const inst = await make();
      const out = ours.runCore(inst, TASK);
      if (out !== TASK) throw new Error(`${a.title} on ${engine}: createCoreInstance run returned ${JSON.stringify(out)}`);
      st.set(a.key, { bytes, agent, make, inst, fuel: first.fuelUsed });
    }
    const size = (m) => (a) => c[m][a.heavy ? 'heavy' : 'light'];
    progress(`languages: ${engine} — warm instantiate (createCoreInstance), ${c.inst.rounds} interleaved rounds`);
    const inst = await interleave(agents, c.inst.rounds, size('inst'), async (a, k) => {
      const xs = [];
      for (let i = 0; i < k; i++) {
        const t0 = performance.now();
        const x = await st.get(a.key).make();
        xs.push(performance.now() - t0);
        x.close();
      }
      return xs;
    });
    progress(`languages: ${engine} — sandbox.load of the same bytes again, ${c.load.rounds} interleaved rounds`);
    const load = await interleave(agents, c.load.rounds, size('load'), async (a, k) => {
      const xs = [];
      for (let i = 0; i < k; i++) {
        // A pre-warmed worker, as a sandbox has between loads that are not back to back.
        await new Promise((r) => setImmediate(r));
        await sandbox.pool.ready();
        const t0 = performance.now();
        const ag = await sandbox.load(st.get(a.key).bytes);
        xs.push(performance.now() - t0);
        await ag.close();
      }
      return xs;
    });
    progress(`languages: ${engine} — run() on a warm instance, in this thread and through agent.run, ${c.run.rounds} interleaved rounds`);
    const run = await interleave(agents, c.run.rounds, size('run'), async (a, k) => sampleSync(k, () => ours.runCore(st.get(a.key).inst, TASK)));
    const agentRun = await interleave(agents, c.agentRun.rounds, size('agentRun'), async (a, k) => sample(k, () => st.get(a.key).agent.run(TASK)));
    const res = new Map();
    for (const a of agents) {
      const s = st.get(a.key);
      // The first run of an instance pays the guest's lazy initialization (malloc's, the
      // runtime's first-call work); later runs show the steady state.
      const later = await s.agent.run(TASK);
      res.set(a.key, { inst: inst.get(a.key), load: load.get(a.key), run: run.get(a.key), agentRun: agentRun.get(a.key), fuelFirst: s.fuel, fuelLater: later.fuelUsed });
    }
    return res;
  } finally {
    for (const s of st.values()) s.inst.close();
    await sandbox.close();
  }
}

// ---- the tables ---------------------------------------------------------------------------------

function engineTable({ engine, order, agents, skipped, cold, w, base }) {
  const rx = `×${base ? (base.key === 'c' ? 'C' : base.title) : 'C'}`;
  const header = ['agent', 'size', 'cold load', rx, 'of which 1st run', 'warm inst.', rx, 'load again', rx, 'run()', rx, 'agent.run()', rx, 'fuel: 1st run', 'later run'];
  const med = (a, f) => median(f(a));
  const fields = {
    cold: (a) => cold.get(a.key).map((s) => s.total),
    first: (a) => cold.get(a.key).map((s) => s.run),
    inst: (a) => w.get(a.key).inst,
    load: (a) => w.get(a.key).load,
    run: (a) => w.get(a.key).run,
    agentRun: (a) => w.get(a.key).agentRun,
  };
  const ratio = (a, f) => (base ? fmtRatio(med(a, fields[f]), med(base, fields[f])) : '—');
  const rows = agents.map((a) => [
    a.title,
    fmtSize(a.bytes),
    fmtMs(med(a, fields.cold)),
    ratio(a, 'cold'),
    fmtMs(med(a, fields.first)),
    fmtMs(med(a, fields.inst)),
    ratio(a, 'inst'),
    fmtMs(med(a, fields.load)),
    ratio(a, 'load'),
    fmtMs(med(a, fields.run)),
    ratio(a, 'run'),
    fmtMs(med(a, fields.agentRun)),
    ratio(a, 'agentRun'),
    String(w.get(a.key).fuelFirst),
    String(w.get(a.key).fuelLater),
  ]);
  // Skipped languages keep their place in the table, one line each with the reason.
  const [head, rule, ...body] = table(header, rows, ['l']).split('\n');
  const width = Math.max(header[0].length, ...agents.map((a) => a.title.length));
  const text = [head, rule];
  for (const lang of order) {
    const s = skipped.find((x) => x.key === lang.key);
    text.push(s ? `${s.title.padEnd(width)}  skipped: ${s.skipped}` : body.shift());
  }
  const n = (f) => [...new Set(agents.map((a) => fields[f](a).length))].join('/');
  return [
    `## languages on ${engine}: the echo agent in each language — medians, ratios to the ${base ? base.title : '(missing)'} agent of this run`,
    ...text,
    `samples per agent (light/heavy components): cold ${n('cold')} fresh processes, warm inst. ${n('inst')}, load again ${n('load')}, run() ${n('run')}, agent.run() ${n('agentRun')}; task ${JSON.stringify(TASK)}`,
  ];
}

/** Run the section; returns the text to print. */
export async function languagesBench({ quick = false, progress = () => {} } = {}) {
  const c = counts(quick);
  const lines = ['command: node bench/languages.mjs (also part of npm run bench; BENCH_ONLY=languages npm run bench runs it alone)'];
  lines.push(`${machineLine()}${quick ? ' · BENCH_QUICK=1 (smoke run)' : ''}`);
  const all = await languageAgents(progress);
  for (const a of all) if (a.built) progress(`languages: built ${a.title} in ${a.seconds.toFixed(1)} s`);
  const agents = all.filter((a) => !a.skipped).map((a) => ({ ...a, heavy: a.bytes > HEAVY_BYTES }));
  const skipped = all.filter((a) => a.skipped);
  const base = agents.find((a) => a.key === 'c') ?? agents.find((a) => a.key === 'wat');
  lines.push(`echo agents (run(task) returns the task): ${all.map((a) => `${a.title}: ${a.skipped ? 'skipped' : `${a.toolchain}, ${a.bytes} bytes`}`).join(' · ')}`);
  if (base && base.key !== 'c') lines.push(`the C agent is skipped: ratios are to the ${base.title} agent instead`);
  const engines = ['jco'];
  try {
    loadWasmtimeAddon();
    engines.push('wasmtime');
  } catch (e) {
    lines.push(`wasmtime — SKIPPED: ${e.message}`);
  }
  lines.push('');
  if (agents.length === 0) {
    lines.push('## languages — SKIPPED: no agent could be built');
    return lines.join('\n');
  }
  const scratch = join(CACHE, 'tmp', `languages-${randomUUID()}`);
  await mkdir(scratch, { recursive: true });
  try {
    const cold = await coldLoads({ engines, agents, c, scratch, progress });
    for (const engine of engines) {
      const w = await warm({ engine, agents, c, progress });
      lines.push(...engineTable({ engine, order: all, agents, skipped, cold: cold[engine], w, base }), '');
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
    await rmdir(join(CACHE, 'tmp')).catch(() => {});
  }
  lines.push(
    'cold load: createSandbox({ engine, cacheDir: <empty> }) + load + first run in a new node process (dist/ imported before the clock; jco: transpile, meter, compile; wasmtime: meter, Winch into the artifact cache, Cranelift in the background); ' +
      'warm inst.: createCoreInstance in this thread, component already compiled, close() outside the clock; load again: sandbox.load of the same bytes in the sandbox that loaded them (warm cache, pre-warmed worker), agent.close() outside the clock; ' +
      'run(): the createCoreInstance instance; agent.run(): through the agent\'s worker; fuel: RunResult.fuelUsed of the first agent.run of an instance (the guest\'s lazy initialization) and of one after the timed runs (the same charges on both engines)',
  );
  return lines.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.env.BENCH_QUICK === '1';
  const started = performance.now();
  process.stdout.write('languages benchmark: the echo agent in WAT, C, JavaScript and Python on both engines\n');
  process.stdout.write((await languagesBench({ quick, progress: (l) => process.stderr.write(`  … ${l}\n`) })) + '\n');
  process.stdout.write(`section took ${((performance.now() - started) / 1000).toFixed(0)} s · load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  process.exit(0);
}
