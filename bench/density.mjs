#!/usr/bin/env node
/**
 * Section `density` (issue 15): how many agents one process holds and what starting and
 * running one costs now that instances share agent threads, beside one thread per agent (the
 * previous design, kept as `isolation: 'thread'`) measured in the same run, and beside the
 * seeds' requirement "Memory Overhead: < 50MB per 100 agents" (512 KiB per agent).
 *
 * 1. RSS per idle agent: a child process per figure (bench/lib/density-sample.mjs) loads N
 *    agents of one component into one sandbox (audit off, no pre-warmed threads), runs each
 *    once, and reports (RSS after N - RSS after the first) / (N - 1). WAT and C echo agents at
 *    100 and 1,000, the StarlingMonkey echo agent at 100, on both engines; one thread per agent
 *    at 100 (WAT, jco).
 * 2. A new instance of an already-loaded component on a running thread (`ThreadInstance.start`,
 *    then close), p50 over rounds, both engines, beside a new dedicated thread (the old way).
 * 3. One `run()` of the WAT echo agent back to back through the engine as the sandbox drives it
 *    (`ThreadInstance.run`: command to the agent thread, reply back), p50, both engines, beside
 *    the same instance type called in this thread (no thread crossing) and beside the
 *    postMessage round trip a dedicated thread pays.
 *
 *   BENCH_ONLY=density npm run bench      (or: npm run build && node bench/density.mjs)
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ours from './lib/ours.mjs';
import { BENCH, hasWasmtimeAddon, watAgent } from './lib/agents.mjs';
import { languageAgents } from './lib/language-agents.mjs';
import { fmtMs, fmtRatio, median, table } from './lib/stats.mjs';
import { prepareNative } from '../dist/engine/wasmtime/prepare.js';
import { DEFAULT_MAX_MEMORY, DEFAULT_MAX_TABLE_ELEMENTS } from '../dist/limits/meter.js';

const KiB = 1024;
const SEED_PER_AGENT = (50 * 1024 * 1024) / 100;
const TARGET_IDLE = 256 * KiB;
const TARGET_SM = 4 * 1024 * KiB;
const fmtKiB = (b) => (b >= 10 * 1024 * KiB ? `${(b / 1024 / KiB).toFixed(1)} MiB` : `${Math.round(b / KiB)} KiB`);


function densitySample(args) {
  const r = spawnSync(process.execPath, ['--expose-gc', '--experimental-wasm-extended-const', join(BENCH, 'lib', 'density-sample.mjs'), JSON.stringify(args)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`density sample ${JSON.stringify(args)} failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}${r.error ? r.error.message : ""}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function rssSection({ quick, progress, engines, cacheDir }) {
  const langs = await languageAgents(progress);
  const byKey = Object.fromEntries(langs.filter((l) => !l.skipped).map((l) => [l.key, l]));
  const plan = [];
  for (const engine of engines) {
    for (const key of ['wat', 'c']) for (const n of quick ? [20] : [100, 1000]) if (byKey[key]) plan.push({ engine, key, n, isolation: 'shared' });
    if (byKey['js-starlingmonkey']) plan.push({ engine, key: 'js-starlingmonkey', n: quick ? 10 : 100, isolation: 'shared' });
  }
  plan.push({ engine: 'jco', key: 'wat', n: quick ? 10 : 100, isolation: 'thread' });
  const rows = [];
  const results = [];
  for (const p of plan) {
    const agent = byKey[p.key];
    progress(`density: ${p.n} ${agent.title} agents on ${p.engine}, ${p.isolation === 'thread' ? 'one thread each' : 'shared threads'}`);
    // A first, discarded sample fills the compile caches.
    densitySample({ engine: p.engine, wasm: agent.path, n: 2, isolation: 'shared', cacheDir, task: 'hello' });
    const s = densitySample({ engine: p.engine, wasm: agent.path, n: p.n, isolation: p.isolation, cacheDir, task: 'hello' });
    results.push({ ...p, ...s });
    const target = p.key === 'js-starlingmonkey' ? TARGET_SM : TARGET_IDLE;
    // Host overhead: what one more agent costs beyond its own linear memory (resident pages).
    const overhead = s.perAgentLinear === null ? s.perAgent : s.perAgent - s.perAgentLinear;
    results[results.length - 1].overhead = overhead;
    rows.push([
      `${agent.title}, ${p.engine}`,
      p.isolation === 'thread' ? 'one per agent' : `${s.threads} shared`,
      String(p.n),
      fmtKiB(s.perAgent),
      s.perAgentLinear === null ? '?' : fmtKiB(s.perAgentLinear),
      fmtKiB(overhead),
      p.isolation === 'thread' ? '—' : `${fmtKiB(target)} ${overhead <= target ? 'met' : 'MISSED'}`,
      fmtRatio(s.perAgent, SEED_PER_AGENT),
      fmtMs(s.loadP50),
      `${Math.round((s.rssN / 1024 / KiB) * 10) / 10} MiB`,
    ]);
  }
  const lines = [
    table(['agents', 'threads', 'N', 'RSS per agent', 'of it linear memory', 'host overhead', 'target (overhead)', 'RSS ratio to seeds (512 KiB)', 'load p50', 'process RSS at N'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r']),
    'RSS per agent = (RSS with N agents - RSS with 1) / (N-1), every agent loaded and run once, idle; linear memory = its',
    'resident pages in the linear memories\' mappings (/proc/self/smaps); host overhead = the rest. Shared threads are all',
    'booted before the first agent (their fixed cost is in the RSS with 1, process RSS at N holds everything). Seeds: < 50 MB',
    'per 100 agents = 512 KiB per agent, linear memory included.',
  ];
  return { lines, results };
}

async function latencySection({ quick, progress, engines, cacheDir }) {
  const path = await watAgent('echo');
  const source = await ours.readComponent(path);
  const prepared = await ours.prepareComponent(source, cacheDir);
  const init = await ours.instanceInit({ version: 1 });
  const variants = { jco: { prepared, init } };
  if (engines.includes('wasmtime')) {
    const nativeCache = join(cacheDir, 'native');
    variants.wasmtime = {
      prepared: { ...(await prepareNative(source, nativeCache)), jsUrl: '', modules: {} },
      init: { ...init, native: { bytes: source.bytes, hash: source.hash, cacheDir: nativeCache, memoryBytes: DEFAULT_MAX_MEMORY, tableElements: DEFAULT_MAX_TABLE_ELEMENTS, timeoutMs: 60_000 } },
    };
  }
  const nStart = quick ? 20 : 200;
  const nDedicated = quick ? 3 : 15;
  const nRun = quick ? 500 : 5000;
  const rows = [];
  const figures = {};
  for (const [engine, v] of Object.entries(variants)) {
    progress(`density: ${engine} — ${nStart} new instances on a running thread, ${nDedicated} on new dedicated threads, ${nRun} runs`);
    const pool = new ours.ThreadPool(1, 1);
    await pool.ready();
    const keep = await ours.workerInstance(v.prepared, v.init, { count: 0 }, pool);
    // New instances as a host loading many agents makes them: each stays loaded.
    const starts = [];
    const started = [];
    for (let i = 0; i < nStart + 5; i++) {
      const t0 = performance.now();
      const inst = await ours.workerInstance(v.prepared, v.init, { count: 0 }, pool);
      const dt = performance.now() - t0;
      started.push(inst);
      if (i >= 5) starts.push(dt);
    }
    for (const inst of started) await inst.close();
    const dedicated = [];
    for (let i = 0; i < nDedicated; i++) {
      const t0 = performance.now();
      const inst = await ours.workerInstance(v.prepared, v.init, { count: 0 }, pool, true);
      dedicated.push(performance.now() - t0);
      await inst.close();
    }
    // Back-to-back runs through the thread, and the same in this thread.
    const runs = [];
    for (let i = 0; i < nRun; i++) {
      const t0 = performance.now();
      await keep.run('hello, agent', 60_000);
      runs.push(performance.now() - t0);
    }
    const local = engine === 'jco' ? await ours.coreInstance(v.prepared, v.init) : await ours.coreInstance({ jsUrl: '', modules: {} }, v.init);
    const inThread = [];
    for (let i = 0; i < nRun; i++) {
      const t0 = performance.now();
      local.run('hello, agent', 60_000);
      inThread.push(performance.now() - t0);
    }
    local.close();
    const ded = await ours.workerInstance(v.prepared, v.init, { count: 0 }, pool, true);
    const dedRuns = [];
    for (let i = 0; i < (quick ? 100 : 1000); i++) {
      // One at a time with a pause: the dedicated thread is not lingering (the old per-run cost).
      await new Promise((r) => setTimeout(r, 0));
      const t0 = performance.now();
      await ded.run('hello, agent', 60_000);
      dedRuns.push(performance.now() - t0);
    }
    await ded.close();
    await keep.close();
    await pool.close();
    const target = engine === 'jco' ? 1 : 0.1;
    figures[engine] = { start: median(starts), dedicated: median(dedicated), run: median(runs), inThread: median(inThread), dedRun: median(dedRuns) };
    const f = figures[engine];
    rows.push([`${engine}: new instance, running thread`, fmtMs(f.start), `new dedicated thread ${fmtMs(f.dedicated)}`, fmtRatio(f.start, f.dedicated), `≤ ${fmtMs(target)} ${f.start <= target ? 'met' : 'MISSED'}`]);
    rows.push([`${engine}: run() back to back`, fmtMs(f.run), `in this thread ${fmtMs(f.inThread)}`, fmtRatio(f.run, f.inThread), `≤ 10 µs ${f.run <= 0.01 ? 'met' : 'MISSED'}`]);
    rows.push([`${engine}: run() after an idle turn`, fmtMs(f.dedRun), `(not lingering: event-loop wake-ups)`, '', '']);
  }
  return { lines: [table(['what (p50)', 'ours', 'baseline', 'ratio', 'target'], rows, ['l', 'r', 'l', 'r', 'l'])], figures };
}

/** The section's report (lines) and its figures. */
export async function densityBench({ quick = false, progress = () => {} } = {}) {
  const engines = (await hasWasmtimeAddon()) ? ['jco', 'wasmtime'] : ['jco'];
  const cacheDir = await mkdtemp(join(tmpdir(), 'agentos-bench-density-'));
  try {
    const lat = await latencySection({ quick, progress, engines, cacheDir });
    const rss = await rssSection({ quick, progress, engines, cacheDir });
    const lines = ['### density: agents per process, new instances, per-run cost (issue 15)', '', ...rss.lines, '', ...lat.lines];
    if (!engines.includes('wasmtime')) lines.push('(wasmtime rows skipped: the addon is not built — npm run build:native)');
    return { text: lines.join('\n'), rss: rss.results, latency: lat.figures };
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await densityBench({ quick: process.env.BENCH_QUICK === '1', progress: (m) => process.stderr.write(`${m}\n`) });
  process.stdout.write(`${r.text}\n`);
  process.exit(0);
}
