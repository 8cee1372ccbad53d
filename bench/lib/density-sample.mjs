/**
 * One density sample of the `density` section (bench/density.mjs), in a fresh child process
 * so that its RSS holds nothing else. Prints one JSON line.
 *
 *   node --expose-gc bench/lib/density-sample.mjs '{"engine":"jco"|"wasmtime","wasm":PATH,"n":N,"isolation":"shared"|"thread","cacheDir":DIR,"task":TEXT}'
 *
 * Boots the sandbox's shared threads (one per core), loads one agent and runs it once (the
 * component compiled), takes the RSS, then loads N-1 more of the same component, each run once, and takes the RSS again:
 * `perAgent` = the difference / (N-1), what one more idle agent costs, its linear memory
 * included. `perAgentLinear` is the part of it in linear memories (resident pages, from
 * /proc/self/smaps, see `linearResident`); `perAgent - perAgentLinear` is the host overhead.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/**
 * Resident bytes of the linear memories, or null without /proc: a linear memory is the
 * accessible start of a reservation whose inaccessible rest, contiguous after it, is 1 GiB or
 * more (V8 reserves ~10 GiB per memory, wasmtime 4 GiB plus guards).
 */
function linearResident() {
  let text;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return null;
  }
  const maps = [];
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
    if (head) maps.push({ start: BigInt(`0x${head[1]}`), end: BigInt(`0x${head[2]}`), perms: head[3], rss: 0 });
    else if (line.startsWith('Rss:') && maps.length) maps[maps.length - 1].rss = Number(line.split(/\s+/)[1]) * 1024;
  }
  // The accessible mappings right before a big inaccessible one, back to the first gap: the
  // memory's pages (several mappings where wasmtime maps a copy-on-write image into it).
  let total = 0;
  for (let i = 1; i < maps.length; i++) {
    const guard = maps[i];
    if (!guard.perms.startsWith('---') || guard.end - guard.start < 1n << 30n) continue;
    for (let j = i - 1; j >= 0 && maps[j].end === maps[j + 1].start && !maps[j].perms.startsWith('---'); j--) total += maps[j].rss;
  }
  return total;
}

const o = JSON.parse(process.argv[2]);
const { createSandbox } = await import('../../dist/index.js');

// Shared threads: all of them booted before the first agent, so that the baseline (RSS with one
// agent) holds the pool's fixed cost and the figure is what each further agent adds.
const shared = o.isolation !== 'thread';
const sandbox = createSandbox({ engine: o.engine, cacheDir: o.cacheDir, audit: false, prewarmWorkers: shared ? Math.min(64, availableParallelism()) : 0, isolation: o.isolation, defaultTimeout: '120s' });
if (shared) await sandbox.pool.ready();
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
const lin1 = linearResident();
const loadMs = [];
for (let i = 1; i < o.n; i++) loadMs.push(await loadOne());
await settle();
const rssN = process.memoryUsage().rss;
const linN = linearResident();
loadMs.sort((a, b) => a - b);
const out = {
  n: o.n,
  rss1,
  rssN,
  perAgent: (rssN - rss1) / Math.max(1, o.n - 1),
  perAgentLinear: lin1 === null ? null : (linN - lin1) / Math.max(1, o.n - 1),
  loadP50: loadMs.length ? loadMs[Math.floor(loadMs.length / 2)] : 0,
  threads: sandbox.pool.size,
};
await sandbox.close();
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(0);
