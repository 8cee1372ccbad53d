/**
 * Preparing a component for the wasmtime engine: meter its core modules with our instrumenter
 * (the jco engine's charges, in stop-flag mode: `src/limits/meter.ts` `instrumentStopFlag`),
 * rewrite the component around them and compile it once (on a libuv thread, off the JavaScript
 * thread) into the on-disk artifact cache the agent workers load from, and read its imports and
 * exports from wasmtime itself. Nothing of jco is involved.
 *
 * Why not wasmtime's own fuel and epoch interruption: their checks end in a call, and a call
 * anywhere in a loop makes Cranelift keep the loop's values in memory; they cost 1.5× on the
 * compute suite, where the instrumented code, which only ever traps on its slow paths and polls
 * a stop flag, costs about 1.1× (bench/engines.mjs).
 *
 * A component missing from the cache is compiled by Winch first (~3.5 s for the 17 MiB
 * StarlingMonkey agent where Cranelift takes ~12 s on two cores) and by Cranelift on a
 * low-priority background thread, which writes the optimized artifact and swaps it in for later
 * instances (native/src/tiers.rs). `agentos build` writes the optimized artifact into the
 * default cache directory straight away ({@link precompileNative}).
 */
import { Worker } from 'node:worker_threads';
import { ComponentError, SandboxError } from '../../errors.js';
import { instrumentStopFlag, STOP_FLAG_METER_KEY } from '../../limits/meter.js';
import { unversioned } from '../../sandbox/imports.js';
import type { ComponentSource } from '../component.js';
import { loadWasmtimeAddon, type NativeComponentInfo, type NativeEngine, type NativeMeteredComponent } from './addon.js';

/**
 * The engine settings every agent worker uses (`instance.ts`): one wasmtime engine for the
 * whole process (one ticker thread, which also stops guests whose time is up; a component
 * compiled once is kept in memory for every later instance on any thread), components metered
 * by our instrumenter. No pooling allocator: a pool reserves address space for the largest
 * memory any agent may get and caps concurrent instances, while agents' memory limits come from
 * their policies; instances allocate on demand under their store limiter instead.
 */
export const WORKER_ENGINE_OPTIONS = Object.freeze({ epochTickMs: 10, pooling: false, shared: true, meter: 'instrumented', meterKey: STOP_FLAG_METER_KEY } as const);

/** A component compiled for the wasmtime engine. */
export interface NativePrepared {
  readonly hash: string;
  /** Interfaces the component imports, unversioned (`wasi:filesystem/types`). */
  readonly imports: readonly string[];
  readonly exports: readonly (readonly [string, 'function' | 'instance'])[];
  /** Milliseconds compiling (or loading the cached artifact) took; metering included. */
  readonly compileMs: number;
  readonly cacheHit: boolean;
}

/** The wasmtime engine's directory under a sandbox's cache directory (`Sandbox.nativeCacheDir_`). */
export const NATIVE_CACHE_SUBDIR = 'wasmtime';

let engine: NativeEngine | undefined;
const prepared = new Map<string, Promise<NativePrepared>>();

/** The engine the workers use: the process's shared one (compiled components stay in memory for them). */
function workerEngine(): NativeEngine {
  engine ??= new (loadWasmtimeAddon().Engine)(WORKER_ENGINE_OPTIONS);
  return engine;
}

/**
 * `source` metered by our instrumenter (`meterComponent`), or `undefined` when the rewrite does
 * not support its shape (nested components that define core modules: componentize-js's QuickJS
 * output); a `ComponentError` when it cannot be metered at all.
 */
function meter(source: ComponentSource): NativeMeteredComponent | undefined {
  const addon = loadWasmtimeAddon();
  if (!addon.meterComponent || !workerEngine().inspectMetered) throw new ComponentError('the wasmtime addon is older than this package: rebuild it with `npm run build:native`');
  try {
    return addon.meterComponent(source.bytes, (i, core) => instrumentStopFlag(`core${i}`, core));
  } catch (err) {
    if (err instanceof SandboxError) throw err;
    const x = err as { code?: unknown; message?: unknown };
    if (x.code === 'UNSUPPORTED') return undefined;
    throw new ComponentError(`${source.origin}: ${typeof x.message === 'string' ? x.message : String(err)}`, { hash: source.hash });
  }
}

/**
 * Meter `source` and compile it into `cacheDir` (both on a miss only: the artifact is found by
 * the component's hash). Rejects with `COMPONENT_INVALID` when it cannot be metered or wasmtime
 * refuses it, with the instrumenter's `MEMORY_LIMIT` when a module's data is over its cap.
 */
async function meterAndCompile(source: ComponentSource, cacheDir: string): Promise<{ info: NativeComponentInfo; meterMs: number }> {
  const e = workerEngine();
  const found = await e.inspectComponent(source.bytes, cacheDir);
  if (found.errorCode !== 'NOT_PREPARED') {
    // Only a baseline artifact (a process that compiled it ended before the optimized one was
    // done): meter again on another thread, so that the background compile starts over.
    if (found.tier === 'baseline') optimizeOnAnotherThread(source, cacheDir);
    return { info: found, meterMs: 0 };
  }
  const t0 = performance.now();
  const metered = meter(source);
  const meterMs = performance.now() - t0;
  // A shape the rewrite does not support runs with wasmtime's own fuel and epochs (1.4× on
  // compute, fuel in wasmtime's units): slower and counted differently, but metered.
  if (!metered) return { info: await e.inspectFallback!(source.bytes, cacheDir), meterMs };
  return { info: await e.inspectMetered!(metered, cacheDir), meterMs };
}

/**
 * Meter `source` and hand it to the engine, which compiles its optimized tier in the background
 * if that is not done or under way (`optimize-worker.ts` runs this off the loading thread).
 */
export async function optimizeNative(source: ComponentSource, cacheDir: string): Promise<void> {
  const metered = meter(source);
  if (metered) await workerEngine().inspectMetered!(metered, cacheDir);
}

/** {@link optimizeNative} on a worker thread that does not keep the process alive. */
function optimizeOnAnotherThread(source: ComponentSource, cacheDir: string): void {
  try {
    const w = new Worker(new URL('./optimize-worker.js', import.meta.url), { workerData: { bytes: source.bytes, cacheDir } });
    w.on('error', () => undefined);
    w.unref();
  } catch {
    // Not worth failing a load for: the next cache miss or `agentos build` optimizes it.
  }
}

/**
 * Meter `source` and compile it with Cranelift now into `cacheDir` (the `wasmtime` directory
 * under a sandbox's cache directory): what `agentos build` does, so that a later load finds the
 * optimized artifact instead of compiling. Resolves to the milliseconds it took and whether the
 * artifact was there already.
 */
export async function precompileNative(source: ComponentSource, cacheDir: string): Promise<{ ms: number; cacheHit: boolean }> {
  const t0 = performance.now();
  const metered = meter(source);
  const e = workerEngine();
  const info = metered ? await e.inspectMetered!(metered, cacheDir, true) : await e.inspectFallback!(source.bytes, cacheDir);
  if (info.errorCode) throw new ComponentError(`${source.origin}: ${info.errorMessage ?? 'wasmtime refused the component'}`, { hash: source.hash });
  return { ms: performance.now() - t0, cacheHit: info.cacheHit };
}

/**
 * Compile (or find in `cacheDir`) a component for wasmtime. Rejects with `COMPONENT_INVALID`
 * when it cannot be metered or wasmtime refuses it. Cached per process by content hash and
 * cache directory.
 */
export function prepareNative(source: ComponentSource, cacheDir: string): Promise<NativePrepared> {
  const key = `${source.hash}\0${cacheDir}`;
  let p = prepared.get(key);
  if (!p) {
    p = meterAndCompile(source, cacheDir).then(({ info, meterMs }) => {
      if (info.errorCode !== undefined && info.errorCode !== null) {
        throw new ComponentError(`${source.origin}: ${info.errorMessage ?? 'wasmtime refused the component'}`, { hash: source.hash });
      }
      const exports = info.exports
        .filter((e) => e.kind === 'function' || e.kind === 'instance')
        .map((e) => [e.name, e.kind as 'function' | 'instance'] as const);
      return { hash: source.hash, imports: info.imports.map(unversioned), exports, compileMs: info.compileMs + meterMs, cacheHit: info.cacheHit };
    });
    prepared.set(key, p);
    p.catch(() => prepared.delete(key));
  }
  return p;
}
