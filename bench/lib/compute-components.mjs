/**
 * The compute suite of bench/compute/*.c as components of our world (for the engines section,
 * bench/engines.mjs): each program is linked with bench/lib/compute-run.c, which implements
 * `run(task)` as `bench_run(N)` in decimal, into a core module with no imports (no libc
 * start files, no WASI), and wrapped into a component with `coreToComponent` (dist/build).
 * The result runs unchanged on both engines: wasmtime (`Engine.instantiate`, no imports) and
 * jco (`prepareComponent` + `createCoreInstance`).
 *
 * Built with the flags bench/fuel.mjs uses for its core modules (clang-22 -O2, no wasm-opt),
 * cached in bench/.cache/compute-components/ under a key of both sources, the flags, the
 * compiler's version line and the toolchain versions (jco wraps the component).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { coreToComponent, toolchainVersions } from '../../dist/build/index.js';
import { BENCH, CACHE } from './agents.mjs';

const OUT_DIR = join(CACHE, 'compute-components');
const SHIM = join(BENCH, 'lib', 'compute-run.c');

export const clang = () => process.env.AGENTOS_CLANG ?? 'clang-22';

/**
 * clang's flags for the compute suite: `extra` goes before the last two (bench/fuel.mjs adds
 * `-Wl,--export=bench_run` for its core modules; the components here take their exports from
 * the shim's export_name attributes).
 */
export const computeClangFlags = (...extra) => [
  '--target=wasm32-wasi',
  '-Wno-deprecated',
  `--sysroot=${process.env.AGENTOS_WASI_SYSROOT ?? '/usr'}`,
  '-O2',
  // clang runs any wasm-opt on PATH after linking, and `npm run` puts binaryen's there:
  // the plain module must be what clang made, whoever starts the benchmark.
  '--no-wasm-opt',
  '-nostartfiles',
  '-Wl,--no-entry',
  ...extra,
  '-Wl,--strip-debug',
  '-Wall',
];
const clangFlags = () => computeClangFlags();

/** clang's version line, or undefined when it cannot be run. */
export function clangVersion() {
  const r = spawnSync(clang(), ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0].trim() : undefined;
}

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/**
 * The component of one program (`name` of bench/compute/<name>.c), from the cache or built now;
 * returns its path. `scratch` is a directory for clang's output (removed by the caller).
 */
export async function computeComponent(name, version, scratch) {
  const source = join(BENCH, 'compute', `${name}.c`);
  const key = sha256(readFileSync(source), readFileSync(SHIM), JSON.stringify(clangFlags()), version, JSON.stringify(toolchainVersions())).slice(0, 16);
  const out = join(OUT_DIR, `${name}-${key}.wasm`);
  if (existsSync(out)) return out;
  await mkdir(OUT_DIR, { recursive: true });
  for (const f of await readdir(OUT_DIR)) if (f.startsWith(`${name}-`) && f !== basename(out)) await rm(join(OUT_DIR, f), { force: true });
  await mkdir(scratch, { recursive: true });
  const dir = await mkdtemp(join(scratch, `cc-${name}-`));
  try {
    const core = join(dir, `${name}.core.wasm`);
    const r = spawnSync(clang(), [...clangFlags(), '-o', core, source, SHIM], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${clang()} failed on ${name}.c + compute-run.c (exit ${r.status}):\n${r.stderr}`);
    const bytes = new Uint8Array(await readFile(core));
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes));
    if (imports.length > 0) throw new Error(`${name}: the core module imports ${imports.map((i) => `${i.module}.${i.name}`).join(', ')}; the compute programs must need none`);
    const component = await coreToComponent(bytes);
    const tmp = `${out}.tmp-${process.pid}`;
    await writeFile(tmp, component);
    await rename(tmp, out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out;
}
