/**
 * The baseline: the same component transpiled by plain jco, with WASI wired to the ambient
 * @bytecodealliance/preview2-shim (jco's default), instantiated and called in this thread.
 *
 * Output directories must live inside the repository so the generated module's bare imports
 * (`@bytecodealliance/preview2-shim/cli`, …) resolve to our node_modules.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';

const require = createRequire(import.meta.url);

/** jco's version (the baseline cache key includes it). */
export function jcoVersion() {
  const api = require.resolve('@bytecodealliance/jco');
  for (let dir = dirname(api); dir !== dirname(dir); dir = dirname(dir)) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj)) {
      const p = JSON.parse(require('node:fs').readFileSync(pj, 'utf8'));
      if (p.name === '@bytecodealliance/jco') return p.version;
    }
  }
  return 'unknown';
}

/**
 * Our own world's interfaces (agent-os:sandbox/log, tools) have no preview2-shim; the only
 * option added to jco's defaults maps them to this stub (log records are dropped, no tools).
 */
const HOST_STUB = `// agent-os:sandbox/* for the plain-jco baseline: log is a no-op, there are no tools.
export const log = { emit() {} };
export const tools = {
  available() { return []; },
  call(name) { const e = new Error('no tool ' + name); e.payload = { tag: 'not-found', val: name }; throw e; },
};
`;
export const MAP = { 'agent-os:sandbox/*': './host-stub.mjs#*' };

/** The two transpile variants the baseline uses. */
export const VARIANTS = {
  /** `jco transpile` defaults: an ES module that imports preview2-shim and instantiates on import. */
  default: { name: 'agent', map: MAP },
  /**
   * For repeated instantiation: jco's `--instantiation async` (an `instantiate(getCoreModule,
   * imports)` export, fed preview2-shim's ambient WASIShim import object) with every core
   * module handed in precompiled (`base64Cutoff: 0`), exactly like our engine.
   */
  instantiate: { name: 'agent', instantiation: 'async', base64Cutoff: 0 },
};

/** Write jco's output files (and the host stub) into `dir`. */
async function writeOutput(files, dir) {
  for (const [name, data] of Object.entries(files)) {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
  }
  await writeFile(join(dir, 'host-stub.mjs'), HOST_STUB);
}

/**
 * Transpile `bytes` with a variant into `dir` (created; must not exist). The jco import is
 * inside, so a cold caller pays for loading jco like our engine's transpile does.
 */
export async function transpileInto(bytes, variant, dir) {
  const { transpile } = await import('@bytecodealliance/jco');
  const out = await transpile(bytes, VARIANTS[variant]);
  await writeOutput(out.files, dir);
  return { dir, jsUrl: pathToFileURL(join(dir, 'agent.js')).href, coreFiles: Object.keys(out.files).filter((n) => n.endsWith('.wasm')) };
}

/** Transpile once per (variant, component hash, jco version) into `cacheRoot`. */
export async function transpileCachedJco(bytes, hash, variant, cacheRoot) {
  const dir = join(cacheRoot, `${variant}-${jcoVersion()}-${hash}`);
  if (!existsSync(join(dir, 'done'))) {
    const tmp = `${dir}.tmp-${randomUUID()}`;
    await transpileInto(bytes, variant, tmp);
    await writeFile(join(tmp, 'done'), '');
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  }
  const { readdirSync } = await import('node:fs');
  return { dir, jsUrl: pathToFileURL(join(dir, 'agent.js')).href, coreFiles: readdirSync(dir).filter((n) => n.endsWith('.wasm')) };
}

/** Import a default-variant module: compiles its core modules and instantiates it. */
export async function importDefault(jsUrl, bust = '') {
  const mod = await import(bust ? `${jsUrl}?${bust}` : jsUrl);
  if (typeof mod.run !== 'function') throw new Error(`${jsUrl} exports no run()`);
  return mod;
}

/** Compile the core modules of an instantiate-variant output (once). */
export async function compileCores(t) {
  const modules = {};
  for (const name of t.coreFiles) modules[name] = await WebAssembly.compile(await readFile(join(t.dir, name)));
  return modules;
}

/** preview2-shim's ambient import object (jco's documented way) plus the host stub. */
export async function ambientImports(dir) {
  const { WASIShim } = await import('@bytecodealliance/preview2-shim/instantiation');
  const stub = await import(pathToFileURL(join(dir, 'host-stub.mjs')).href);
  return { ...new WASIShim().getImportObject(), 'agent-os:sandbox/log': stub.log, 'agent-os:sandbox/tools': stub.tools };
}

/** Instantiate an instantiate-variant module with precompiled cores; returns its exports. */
export async function instantiateWith(mod, modules, imports) {
  return mod.instantiate((name) => modules[name], imports);
}

/** A jco `run` export returns the ok string and throws for err. */
export function runJco(exports, task) {
  const out = exports.run(task);
  if (typeof out !== 'string') throw new Error('run returned a non-string');
  return out;
}
