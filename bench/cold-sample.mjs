/**
 * One cold-load sample, run in a fresh child process (so nothing is compiled or cached in
 * memory yet) by run.mjs. Prints one JSON line with the phase times in ms.
 *
 *   node bench/cold-sample.mjs '{"kind":"ours"|"jco","wasm":PATH,"scratch":DIR,"policy":PATH?,"task":TEXT,"preopens":{…}?}'
 *
 * Timed for `ours`: readComponent (read + sha256) → transpileCached into the empty `scratch`
 * cache dir (loads jco, transpiles, writes the cache entry) → prepareComponent (cache hit +
 * WebAssembly.compile of every core module) → createCoreInstance in this thread.
 * Timed for `jco`: read the file → load jco → `transpile` with default options → write the
 * files into `scratch` → `import()` the generated module (its top-level await compiles the
 * core modules and instantiates against preview2-shim).
 * Both import their host-side modules (our dist/, preview2-shim) before the clock starts; each
 * then runs the task once, untimed, to check the instance works.
 */
import { readFile } from 'node:fs/promises';

const o = JSON.parse(process.argv[2]);
let result;
if (o.kind === 'ours') {
  const ours = await import('./lib/ours.mjs');
  const init = await ours.instanceInit(o.policy);
  const t0 = performance.now();
  const source = await ours.readComponent(o.wasm);
  const t = await ours.transpileCached(source, o.scratch);
  const t1 = performance.now();
  const prepared = await ours.prepareComponent(source, o.scratch);
  const t2 = performance.now();
  const inst = await ours.coreInstance(prepared, init);
  const t3 = performance.now();
  if (!t.transpiled) throw new Error('cold sample hit a transpile cache');
  const output = ours.runCore(inst, o.task);
  result = { transpile: t1 - t0, compile: t2 - t1, instantiate: t3 - t2, load: t3 - t1, total: t3 - t0, output: output.length };
} else {
  const jco = await import('./lib/jco.mjs');
  const shim = await import('@bytecodealliance/preview2-shim');
  if (o.preopens) shim.filesystem._setPreopens(o.preopens);
  const t0 = performance.now();
  const bytes = await readFile(o.wasm);
  const t = await jco.transpileInto(bytes, 'default', o.scratch);
  const t1 = performance.now();
  const mod = await jco.importDefault(t.jsUrl);
  const t2 = performance.now();
  const output = jco.runJco(mod, o.task);
  result = { transpile: t1 - t0, load: t2 - t1, total: t2 - t0, output: output.length };
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
