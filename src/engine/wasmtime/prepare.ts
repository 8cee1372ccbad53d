/**
 * Preparing a component for the wasmtime engine: compile it once (on a libuv thread, off the
 * JavaScript thread) into the on-disk artifact cache the agent workers load from, and read its
 * imports and exports from wasmtime itself. Nothing of jco is involved.
 */
import { ComponentError } from '../../errors.js';
import { unversioned } from '../../sandbox/imports.js';
import type { ComponentSource } from '../component.js';
import { loadWasmtimeAddon, type NativeEngine } from './addon.js';

/**
 * The engine settings every agent worker uses (`instance-core.ts`): one wasmtime engine for the
 * whole process (one epoch ticker thread; a component compiled once is kept in memory for every
 * later instance on any worker). No pooling allocator: a pool reserves address space for the
 * largest memory any agent may get and caps concurrent instances, while agents' memory limits
 * come from their policies; instances allocate on demand under their store limiter instead.
 */
export const WORKER_ENGINE_OPTIONS = Object.freeze({ epochTickMs: 10, pooling: false, shared: true });

/** A component compiled for the wasmtime engine. */
export interface NativePrepared {
  readonly hash: string;
  /** Interfaces the component imports, unversioned (`wasi:filesystem/types`). */
  readonly imports: readonly string[];
  readonly exports: readonly (readonly [string, 'function' | 'instance'])[];
  /** Milliseconds compiling (or loading the cached artifact) took. */
  readonly compileMs: number;
  readonly cacheHit: boolean;
}

let engine: NativeEngine | undefined;
const prepared = new Map<string, Promise<NativePrepared>>();

/**
 * Compile (or find in `cacheDir`) a component for wasmtime. Rejects with `COMPONENT_INVALID`
 * when wasmtime refuses it. Cached per process by content hash and cache directory.
 */
export function prepareNative(source: ComponentSource, cacheDir: string): Promise<NativePrepared> {
  const key = `${source.hash}\0${cacheDir}`;
  let p = prepared.get(key);
  if (!p) {
    // The workers' code configuration (artifacts are shared through the disk cache), without a
    // ticker thread (nothing runs on this engine) and not shared: this thread only inspects, so
    // it keeps no compiled components in memory.
    engine ??= new (loadWasmtimeAddon().Engine)({ ...WORKER_ENGINE_OPTIONS, epochTickMs: 0, shared: false });
    p = engine.inspectComponent(source.bytes, cacheDir).then((info) => {
      if (info.errorCode !== undefined && info.errorCode !== null) {
        throw new ComponentError(`${source.origin}: ${info.errorMessage ?? 'wasmtime refused the component'}`, { hash: source.hash });
      }
      const exports = info.exports
        .filter((e) => e.kind === 'function' || e.kind === 'instance')
        .map((e) => [e.name, e.kind as 'function' | 'instance'] as const);
      return { hash: source.hash, imports: info.imports.map(unversioned), exports, compileMs: info.compileMs, cacheHit: info.cacheHit };
    });
    prepared.set(key, p);
    p.catch(() => prepared.delete(key));
  }
  return p;
}
