/**
 * One density sample of the `density` section (bench/density.mjs), in a fresh child process
 * so that its RSS holds nothing else. Prints one JSON line.
 *
 *   node --expose-gc bench/lib/density-sample.mjs '{"engine":"jco"|"wasmtime","wasm":PATH,"n":N,"isolation":"shared"|"thread","cacheDir":DIR,"task":TEXT}'
 *
 * Loads one agent and runs it once (the thread is booted, the component compiled), takes the
 * RSS, then loads N-1 more of the same component, each run once, and takes the RSS again:
 * `perAgent` = the difference / (N-1), what one more idle agent costs, its linear memory
 * included. `memory` is the linear memory one instance holds after its run (its pages; RSS
 * counts the touched ones), read from the last instance's exports where the engine shows them.
 */
const o = JSON.parse(process.argv[2]);
const { createSandbox } = await import('../../dist/index.js');

const sandbox = createSandbox({ engine: o.engine, cacheDir: o.cacheDir, audit: false, prewarmWorkers: 0, isolation: o.isolation, defaultTimeout: '120s' });
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 150));
  }
};
const agents = [];
const loadOne = async () => {
  const t0 = performance.now();
  const a = await sandbox.load(o.wasm);
  const t1 = performance.now();
  const r = await a.run(o.task);
  if (r.output !== o.task) throw new Error(`the agent answered ${JSON.stringify(r.output.slice(0, 80))}`);
  agents.push(a);
  return t1 - t0;
};
await loadOne();
await settle();
const rss1 = process.memoryUsage().rss;
const loadMs = [];
for (let i = 1; i < o.n; i++) loadMs.push(await loadOne());
await settle();
const rssN = process.memoryUsage().rss;
loadMs.sort((a, b) => a - b);
const out = {
  n: o.n,
  rss1,
  rssN,
  perAgent: (rssN - rss1) / Math.max(1, o.n - 1),
  loadP50: loadMs.length ? loadMs[Math.floor(loadMs.length / 2)] : 0,
  threads: sandbox.pool.size,
};
await sandbox.close();
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
