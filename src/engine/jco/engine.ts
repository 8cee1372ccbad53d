/**
 * The jco engine: transpile once per content hash, compile the core modules once per process
 * (the compile hook where the metering issue instruments them). Instances run on agent
 * threads (`agent-thread.ts`, `thread-instance.ts`).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ComponentError } from '../../errors.js';
import type { ComponentSource } from '../component.js';
import { transpileCached, type TranspiledComponent } from './transpile.js';
import type { WorkerInit } from './protocol.js';
import { enableWasmFeatures } from './wasm-features.js';

/** Rewrites a core module's bytes before compilation (fuel charges, memory caps: see src/limits). */
export interface CoreModuleTransform {
  /** Names the rewrite in cache keys: the same key must always give the same bytes. */
  readonly key: string;
  /** Rewrite one core module; throws a `SandboxError` when it must not be loaded. */
  apply(name: string, bytes: Uint8Array): Uint8Array;
}

/** A component ready to instantiate: transpiled, with compiled core modules. */
export interface PreparedComponent extends TranspiledComponent {
  readonly modules: Readonly<Record<string, WebAssembly.Module>>;
  readonly jsUrl: string;
}

/**
 * What an instance is started from: on jco the transpiled glue and compiled core modules; on
 * wasmtime only the hash, imports and exports (`jsUrl` empty, no modules: the worker loads
 * the compiled artifact).
 */
export type LoadedComponent = Pick<PreparedComponent, 'hash' | 'imports' | 'exports' | 'jsUrl' | 'modules'>;

/** Per-instance settings (everything but the component). */
export type InstanceInit = Omit<WorkerInit, 'jsUrl' | 'modules' | 'modulesKey' | 'policyShared' | 'interrupt'>;

const compiled = new Map<string, Promise<Readonly<Record<string, WebAssembly.Module>>>>();

/**
 * The rewritten bytes of a core module, cached on disk beside the transpiled files (by the
 * component's hash and the transform's key), written atomically.
 */
async function transformed(dir: string, name: string, transform: CoreModuleTransform): Promise<Uint8Array> {
  const cacheFile = join(dir, `metered-${transform.key}`, name);
  try {
    return new Uint8Array(await readFile(cacheFile));
  } catch {
    // Not cached yet.
  }
  const out = transform.apply(name, new Uint8Array(await readFile(join(dir, name))));
  try {
    await mkdir(dirname(cacheFile), { recursive: true });
    const tmp = `${cacheFile}.${randomUUID()}.tmp`;
    await writeFile(tmp, out);
    await rename(tmp, cacheFile);
  } catch {
    // A cache that cannot be written only costs time.
  }
  return out;
}

/** Transpile (cached), rewrite (cached on disk) and compile (cached per process) a component. */
export async function prepareComponent(source: ComponentSource, cacheDir: string, transform?: CoreModuleTransform): Promise<PreparedComponent> {
  enableWasmFeatures();
  const t = await transpileCached(source, cacheDir);
  const key = transform ? `${t.hash}:${transform.key}` : t.hash;
  let modules = compiled.get(key);
  if (!modules) {
    modules = (async () => {
      const out: Record<string, WebAssembly.Module> = {};
      for (const name of t.coreFiles) {
        const bytes = transform ? await transformed(t.dir, name, transform) : new Uint8Array(await readFile(join(t.dir, name)));
        try {
          out[name] = await WebAssembly.compile(bytes);
        } catch (e) {
          throw new ComponentError(`${source.origin}: core module ${name} does not compile: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      return out;
    })();
    compiled.set(key, modules);
    modules.catch(() => compiled.delete(key));
  }
  return { ...t, modules: await modules, jsUrl: pathToFileURL(t.jsFile).href };
}

export { ThreadInstance, type InstanceHooks } from './thread-instance.js';
export { ThreadPool } from './thread-pool.js';
