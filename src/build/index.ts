/**
 * Building agents into WebAssembly components of our world (`agent-os:sandbox@0.1.0`, world
 * `agent`): JavaScript through `jco componentize`, C through clang-22 + wasi-libc + the WASI
 * preview1 reactor adapter, WAT through wasm-tools. Used by the test fixtures and examples.
 *
 * @example
 * ```ts
 * import { buildAgent } from './build/index.js';
 * const { bytes } = await buildAgent('examples/c-agent/agent.c', 'examples/c-agent/build/agent.wasm');
 * ```
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { C_TOOLCHAIN_PACKAGES, clangCommand, cToComponent } from './c.js';
import { componentizeJs, type JsBackend, resolvePackage } from './js.js';
import { pyToComponent } from './python.js';
import { COMPONENTIZE_PY_VERSION, findComponentizePy } from './python-toolchain.js';
import { watToComponent } from './wat.js';
import { precompileForWasmtime, type Precompiled } from './precompile.js';

export { watToComponent, coreToComponent, type WorldOptions } from './wat.js';
export { bundleWit, defaultWitDir, ensureWitDeps, DEFAULT_WORLD } from './wit.js';
export { C_TOOLCHAIN_PACKAGES, type JsBackend };
export { COMPONENTIZE_PY_INSTALL, COMPONENTIZE_PY_VERSION, findComponentizePy } from './python-toolchain.js';

/** Options of {@link buildAgent}. */
export interface BuildOptions {
  /** JavaScript engine for `.js`/`.mjs` agents. Default `starlingmonkey` (has `fetch`). */
  backend?: JsBackend;
  /** World to target. Default `agent`. */
  world?: string;
  /** WIT directory. Default: this package's `wit/` (its `deps/` is generated when missing). */
  witDir?: string;
  /** Receives progress and toolchain output, one line at a time. Default: discarded. */
  onLog?: (line: string) => void;
  /** Aborting it kills the toolchain's child process and rejects the build. */
  signal?: AbortSignal;
  /**
   * Also compile the component for the wasmtime engine into the artifact cache of this sandbox
   * cache directory (`true`: the default one), so its first load there finds the optimized code
   * (`precompile.ts`). Skipped, with the reason in the result, without the wasmtime addon.
   * Default false (`agentos build` turns it on).
   */
  precompile?: boolean | { cacheDir?: string };
}

/** What {@link buildAgent} produced. */
export interface BuildResult {
  /** Absolute path of the component written. */
  output: string;
  /** Its size in bytes. */
  bytes: number;
  /** Which toolchain built it. */
  kind: 'js' | 'c' | 'wat' | 'python';
  /** With `precompile`: where the wasmtime artifact went and how long it took, or why it was skipped. */
  precompiled?: Precompiled;
}

const KINDS: Readonly<Record<string, BuildResult['kind']>> = Object.freeze({
  '.js': 'js',
  '.mjs': 'js',
  '.c': 'c',
  '.wat': 'wat',
  '.py': 'python',
});

/**
 * Build one agent source file into a component, chosen by extension:
 * - `.js` / `.mjs`: `jco componentize` in a child process (StarlingMonkey ~15–25 s, ~17 MB;
 *   `backend: 'quickjs'` ~2 s but only for worlds without `wasi:http`);
 * - `.c`: clang-22 for wasm32-wasi (reactor), then the preview1 reactor adapter (< 1 s);
 * - `.wat`: a core module in text form following the canonical ABI by hand (< 1 s);
 * - `.py`: componentize-py (CPython + the module's directory + our `agent_os` package,
 *   ≈ 18 MiB, 10–20 s); the module defines `run(task: str) -> str`.
 *
 * The output is written to a temporary file beside `output` and renamed, so a reader never
 * sees half a component. Parent directories are created.
 *
 * @throws {UsageError} when `input` is missing or its extension is not supported.
 * @throws {ComponentError} when the toolchain fails (the message ends with its output) or is
 *   missing (for C: `apt-get install clang-22 lld-22 wasi-libc libclang-rt-22-dev-wasm32`; for
 *   Python: `python3 -m pip install componentize-py==0.25.1`).
 * @example
 * ```ts
 * await buildAgent('test/fixtures/agents/echo.wat', 'test/fixtures/build/echo.wasm');
 * await buildAgent('agent.js', 'agent.wasm', { onLog: (l) => console.error(l) });
 * ```
 */
export async function buildAgent(input: string, output: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const source = resolve(input);
  const target = resolve(output);
  const kind = KINDS[extname(source).toLowerCase()];
  if (kind === undefined) {
    throw new UsageError(`cannot build ${input}: unsupported extension (use .js, .mjs, .c, .py or .wat)`, { input });
  }
  if (!existsSync(source) || !statSync(source).isFile()) {
    throw new UsageError(`cannot build ${input}: file not found`, { input });
  }
  await mkdir(dirname(target), { recursive: true });
  const temp = `${target}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const world = { world: opts.world, witDir: opts.witDir };
  const child = { onLog: opts.onLog, signal: opts.signal };
  try {
    if (kind === 'js') {
      await componentizeJs(source, temp, { ...world, ...child, backend: opts.backend });
    } else if (kind === 'python') {
      await pyToComponent(source, temp, { ...world, ...child });
    } else if (kind === 'c') {
      await writeFile(temp, await cToComponent(source, { ...world, ...child }));
    } else {
      await writeFile(temp, await watToComponent(await readFile(source, 'utf8'), world));
    }
    await rename(temp, target);
  } finally {
    await rm(temp, { force: true });
  }
  const { size } = await stat(target);
  opts.onLog?.(`built ${target} (${size} bytes)`);
  if (!opts.precompile) return { output: target, bytes: size, kind };
  const precompiled = await precompileForWasmtime(target, typeof opts.precompile === 'object' ? opts.precompile.cacheDir : undefined);
  opts.onLog?.(
    'skipped' in precompiled
      ? `not compiled for the wasmtime engine: ${precompiled.skipped}`
      : `compiled for the wasmtime engine into ${precompiled.cacheDir} (${precompiled.cacheHit ? 'already there' : precompiled.ms < 1000 ? `${Math.round(precompiled.ms)} ms` : `${(precompiled.ms / 1000).toFixed(1)} s`})`,
  );
  return { output: target, bytes: size, kind, precompiled };
}

function packageVersion(packageJson: string): string {
  try {
    return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'missing';
  }
}

/**
 * Versions of everything that shapes a built component — jco, componentize-js, clang — for
 * build caches (a changed toolchain must rebuild).
 *
 * @example
 * ```ts
 * toolchainVersions() // { jco: '1.35.0', 'componentize-js': '0.22.0', clang: 'Debian clang version 22.1.8 …' }
 * ```
 */
export function toolchainVersions(): Record<string, string> {
  const jcoApi = resolvePackage('@bytecodealliance/jco');
  const jcoRoot = dirname(dirname(jcoApi));
  // componentize-js (jco's dependency) exports no package.json: look for it in node_modules
  // from jco's directory upwards (nested first, then hoisted).
  let componentizeJs = 'missing';
  for (let dir = jcoRoot; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', '@bytecodealliance', 'componentize-js', 'package.json');
    if (existsSync(candidate)) {
      componentizeJs = packageVersion(candidate);
      break;
    }
    if (dirname(dir) === dir) break;
  }
  const clang = spawnSync(clangCommand(), ['--version'], { encoding: 'utf8' });
  const python = findComponentizePy();
  return {
    'componentize-py': python.ok ? python.version : `missing (${COMPONENTIZE_PY_VERSION})`,
    jco: packageVersion(join(jcoRoot, 'package.json')),
    'componentize-js': componentizeJs,
    clang: clang.status === 0 ? (clang.stdout.split('\n')[0] ?? '').trim() : `missing (${C_TOOLCHAIN_PACKAGES})`,
  };
}
