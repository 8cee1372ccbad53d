/**
 * One load sample of the engines section (bench/engines.mjs), run in a fresh child process so
 * that nothing is compiled or cached in memory yet. Prints one JSON line with times in ms.
 *
 *   node bench/lib/engine-load-sample.mjs '{"engine":"wasmtime"|"jco","wasm":PATH,"cacheDir":DIR,"policy":PATH?,"task":TEXT}'
 *
 * Timed: `createSandbox({ engine, cacheDir, audit: false })` (on wasmtime this loads the addon)
 * → `sandbox.load(wasm, { policy })` (jco: transpile, instrument, compile the core modules, or
 * read them from `cacheDir`; wasmtime: compile the component on a libuv thread into the
 * artifact cache, or find it there; then the agent's worker starts and instantiates) → the
 * first `agent.run(task)`. dist/index.js is imported before the clock starts; on wasmtime the
 * addon is loaded first inside the clock (`addon`, part of `load`). With an empty
 * `cacheDir` this is a cold load; with one a previous sample filled, a warm-cache load.
 */
import { createHash } from 'node:crypto';

const o = JSON.parse(process.argv[2]);
const { createSandbox } = await import('../../dist/index.js');
const { loadWasmtimeAddon } = await import('../../dist/engine/wasmtime/addon.js');
const t0 = performance.now();
// createSandbox loads the addon itself; loading it first only splits its share out.
if (o.engine === 'wasmtime') loadWasmtimeAddon();
const tAddon = performance.now();
const sandbox = createSandbox({ engine: o.engine, cacheDir: o.cacheDir, audit: false });
const agent = await sandbox.load(o.wasm, o.policy ? { policy: o.policy } : {});
const t1 = performance.now();
const r = await agent.run(o.task);
const t2 = performance.now();
await sandbox.close();
const output = createHash('sha256').update(r.output).digest('hex').slice(0, 16);
process.stdout.write(JSON.stringify({ addon: tAddon - t0, load: t1 - t0, run: t2 - t1, total: t2 - t0, output, outputBytes: Buffer.byteLength(r.output) }) + '\n');
process.exit(0);
