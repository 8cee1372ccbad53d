/**
 * JavaScript agents: `jco componentize` (StarlingMonkey by default, QuickJS on request) in a
 * child Node process.
 *
 * Why a child process: componentize reads the WIT directory and the source through
 * preview2-shim's filesystem, which has no preopens; the child gets a `/` preopen from
 * `preopen-preload.js`. That preopen is process-global state, so it must never be set in a
 * process that runs guests.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ComponentError } from '../errors.js';
import { run } from './process.js';
import { DEFAULT_WORLD, defaultWitDir, ensureWitDeps } from './wit.js';

/** Which JavaScript engine the component embeds. */
export type JsBackend = 'starlingmonkey' | 'quickjs';

/**
 * Resolve a package specifier to a file path. `import.meta.resolve` is not available under
 * vitest's module runner, so fall back to `require.resolve` (both honour the `exports` map).
 */
export function resolvePackage(specifier: string): string {
  const meta = import.meta as ImportMeta & { resolve?: (s: string) => string };
  if (typeof meta.resolve === 'function') {
    try {
      return fileURLToPath(meta.resolve(specifier));
    } catch {
      // fall through to require.resolve
    }
  }
  return createRequire(import.meta.url).resolve(specifier);
}

/** Path of jco's CLI entry (`dist/jco.js`, beside the API entry the package exports). */
export function jcoCliPath(): string {
  return join(dirname(resolvePackage('@bytecodealliance/jco')), 'jco.js');
}

/**
 * The `--import` argument that gives the build process its `/` preopen: the compiled
 * `preopen-preload.js` beside this module (dist) or in `dist/build/` (when running from src),
 * else an equivalent `data:` module.
 */
export function preloadSpecifier(): string {
  for (const candidate of ['./preopen-preload.js', '../../dist/build/preopen-preload.js']) {
    const url = new URL(candidate, import.meta.url);
    if (existsSync(url)) return url.href;
  }
  const shim = pathToFileURL(resolvePackage('@bytecodealliance/preview2-shim/filesystem')).href;
  const code = `import { _setPreopens } from ${JSON.stringify(shim)}; _setPreopens({ '/': '/' });`;
  return `data:text/javascript,${encodeURIComponent(code)}`;
}

/** The `node` arguments of one componentize run. */
export function componentizeArgs(
  input: string,
  output: string,
  opts: { backend?: JsBackend; world?: string; witDir?: string } = {},
): string[] {
  const args = [
    '--import',
    preloadSpecifier(),
    jcoCliPath(),
    'componentize',
    input,
    '--wit',
    opts.witDir ?? defaultWitDir(),
    '--world-name',
    opts.world ?? DEFAULT_WORLD,
    '-o',
    output,
  ];
  // QuickJS: synchronous build (its async mode needs imports our world does not have).
  if (opts.backend === 'quickjs') args.push('--backend', 'quickjs', '--backend-qjs-disable-async');
  return args;
}

/**
 * Componentize one JavaScript module into `output` (written by the child process).
 *
 * StarlingMonkey takes ~15–25 s and makes a ~17 MB component with `fetch`. QuickJS takes ~2 s
 * (~1.7 MB) but has no `fetch` and, in this jco, fails on worlds that import `wasi:http`
 * (ours does) — it is for custom worlds given with `world`/`witDir`.
 * Never passes `--aot` (it downloads weval at build time).
 *
 * @throws {ComponentError} with the tail of jco's output when componentize fails.
 */
export async function componentizeJs(
  input: string,
  output: string,
  opts: { backend?: JsBackend; world?: string; witDir?: string; onLog?: (line: string) => void; signal?: AbortSignal } = {},
): Promise<void> {
  ensureWitDeps(opts.witDir ?? defaultWitDir());
  const args = componentizeArgs(input, output, opts);
  opts.onLog?.(`node jco componentize ${input} (${opts.backend ?? 'starlingmonkey'})`);
  let result;
  try {
    result = await run(process.execPath, args, { onLog: opts.onLog, signal: opts.signal });
  } catch (e) {
    throw new ComponentError(`could not start jco componentize: ${(e as Error).message}`, { step: 'componentize' }, { cause: e });
  }
  if (result.code !== 0 || !existsSync(output)) {
    throw new ComponentError(
      `jco componentize failed on ${input} (exit ${result.code ?? result.signal}):\n${result.tail}`,
      { step: 'componentize', input, backend: opts.backend ?? 'starlingmonkey' },
    );
  }
}
