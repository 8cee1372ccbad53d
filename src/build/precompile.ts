/**
 * Compiling a built agent for the wasmtime engine at build time (`agentos build`, which does it
 * unless `--no-precompile`): the component is metered and compiled with Cranelift into the
 * wasmtime artifact cache under a sandbox's cache directory, so the first `createSandbox({
 * engine: 'wasmtime' })` load of it finds the optimized artifact instead of compiling (~12 s
 * for a StarlingMonkey agent; Winch would serve a cache miss in ~3.5 s and Cranelift follow in
 * the background: `native/src/tiers.rs`). The artifact is keyed by the component's SHA-256 and
 * the engine's fingerprint (wasmtime version, settings, instrumenter): a sandbox with another
 * cache directory, or another version of this package, compiles again.
 *
 * @example
 * ```ts
 * await precompileForWasmtime('agent.wasm'); // { cacheDir: '~/.cache/agent-os-sandbox/wasmtime', ms: 11800, cacheHit: false }
 * ```
 */
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { readComponent } from '../engine/component.js';
import { defaultCacheDir } from '../engine/jco/transpile.js';
import { NATIVE_CACHE_SUBDIR, precompileNative } from '../engine/wasmtime/prepare.js';
import { loadWasmtimeAddon } from '../engine/wasmtime/addon.js';

/** What {@link precompileForWasmtime} did. */
export type Precompiled = { readonly cacheDir: string; readonly ms: number; readonly cacheHit: boolean } | { readonly skipped: string };

/**
 * Meter and compile the component at `path` for the wasmtime engine into the artifact cache of
 * the sandbox cache directory `cacheDir` (default: the one `createSandbox` and `agentos run`
 * use). Without the wasmtime addon nothing is done (`skipped` says why); a component the engine
 * refuses rejects as a load would.
 */
export async function precompileForWasmtime(path: string, cacheDir: string = defaultCacheDir()): Promise<Precompiled> {
  try {
    loadWasmtimeAddon();
  } catch (e) {
    if (e instanceof UsageError) return { skipped: e.message };
    throw e;
  }
  const dir = join(cacheDir, NATIVE_CACHE_SUBDIR);
  const r = await precompileNative(await readComponent(path), dir);
  return { cacheDir: dir, ...r };
}
