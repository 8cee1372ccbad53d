/**
 * Loading the wasmtime addon, and its shape as the engine uses it. The addon is the local build
 * (`native/`, built by `npm run build:native` or at install where cargo exists) or a prebuilt
 * per-platform package (`@agent-os-sandbox/wasmtime-<triple>`, see `platform.ts`). Loading it
 * when there is neither fails with a usage error that says how to get one.
 *
 * @example
 * ```ts
 * const { Engine } = loadWasmtimeAddon();
 * const engine = new Engine({ epochTickMs: 10 });
 * ```
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../errors.js';
import { addonPackageName } from './platform.js';

/** A compiled component (`Engine.compileComponent`). */
export interface NativeComponent {
  readonly cacheHit: boolean;
  readonly key: string;
  readonly compileMs: number;
  /** `iface#func` of every imported function. */
  readonly imports: readonly string[];
}

/** What `Engine.inspectComponent` resolves to (`errorCode` set: refused, nothing else is). */
export interface NativeComponentInfo {
  readonly errorCode?: string;
  readonly errorMessage?: string;
  /** Top-level imports as the component spells them (`wasi:cli/stdout@0.2.0`). */
  readonly imports: readonly string[];
  readonly exports: readonly { readonly name: string; readonly kind: string }[];
  readonly cacheHit: boolean;
  readonly compileMs: number;
}

/** One instance (a store, a pool slot). */
export interface NativeInstance {
  readonly disposed: boolean;
  dispose(): void;
}

/** Limits of one instance; fuel and the deadline are re-armed for every run. */
export interface NativeLimits {
  readonly fuel?: number | bigint;
  readonly memoryBytes?: number;
  readonly tableElements?: number;
  readonly timeoutMs?: number;
}

/** The JavaScript host of a component's imports: `(interface, function, args) => result`. */
export type NativeHost = (iface: string, func: string, args: unknown[]) => unknown;

/** What `run` returns (limits and traps throw an Error with `code` and `fuelConsumed`). */
export type NativeRunResult = { readonly ok: string; readonly fuelConsumed: number } | { readonly err: string; readonly fuelConsumed: number };

/** The addon's engine. */
export interface NativeEngine {
  readonly wasmtimeVersion: string;
  /** `key`: the SHA-256 of the bytes (hex), when the caller has it (checked before compiling). */
  compileComponent(bytes: Uint8Array, cacheDir?: string, key?: string): NativeComponent;
  /** Compile (or load from the cache) on a libuv thread and describe the component. */
  inspectComponent(bytes: Uint8Array, cacheDir?: string): Promise<NativeComponentInfo>;
  instantiate(component: NativeComponent, limits: NativeLimits): NativeInstance;
  instantiateWithHost(component: NativeComponent, limits: NativeLimits, host: NativeHost, options?: { jcoResults?: boolean }): NativeInstance;
  /** `timeoutMs` replaces the instance's time limit for this call. */
  run(instance: NativeInstance, task: string, timeoutMs?: number): NativeRunResult;
}

/** Options of `new Engine()` (see native/src/lib.rs). */
export interface NativeEngineOptions {
  readonly epochTickMs?: number;
  readonly maxInstances?: number;
  readonly maxMemoryBytes?: number;
  readonly pooling?: boolean;
  /** Count fuel (default true). */
  readonly fuel?: boolean;
  /** Epoch interruption (default true). */
  readonly epochInterruption?: boolean;
  /** One wasmtime engine (and in-memory compiled components) for every shared Engine of these options in the process. */
  readonly shared?: boolean;
}

/** The addon's exports. */
export interface WasmtimeAddon {
  readonly Engine: new (options?: NativeEngineOptions) => NativeEngine;
  /** Listen on 127.0.0.1:`port` in the network namespace of process `pid` (root only); the fd. Absent in older builds. */
  readonly listenInNetns?: (pid: number, port: number) => number;
}

/** Where `npm run build:native` (and the install script) put the addon of this platform, whether or not it is built. */
export function localAddonPath(): string {
  return fileURLToPath(new URL(`../../../native/agentos-wasmtime.${process.platform}-${process.arch}.node`, import.meta.url));
}

/** A found addon: the local build, or the installed prebuilt package of this platform. */
export interface AddonLocation {
  readonly path: string;
  readonly source: 'local' | 'package';
}

/**
 * Find the addon, first match wins: the local build ({@link localAddonPath}), then the
 * prebuilt package `@agent-os-sandbox/wasmtime-<triple>` ({@link addonPackageName}) as Node
 * resolves it from this module (node_modules directories upwards, then NODE_PATH).
 *
 * @param where - for tests: another local path, and the file package resolution starts from.
 * @returns the location, or `undefined` when there is none.
 */
export function findWasmtimeAddon(where: { localPath?: string; resolveFrom?: string } = {}): AddonLocation | undefined {
  const local = where.localPath ?? localAddonPath();
  if (existsSync(local)) return { path: local, source: 'local' };
  try {
    return { path: createRequire(where.resolveFrom ?? import.meta.url).resolve(addonPackageName()), source: 'package' };
  } catch {
    return undefined; // not installed (or not resolvable): there is no prebuilt addon
  }
}

/** The addon that loads, or where `npm run build:native` would put it when there is none. */
export function wasmtimeAddonPath(): string {
  return findWasmtimeAddon()?.path ?? localAddonPath();
}

/** Running from an installed copy (under node_modules) rather than a clone of the repository. */
function installedAsDependency(): boolean {
  return fileURLToPath(import.meta.url).split(sep).includes('node_modules');
}

/** The usage error for a missing addon, with the way to get one where this copy runs. */
export function missingAddonError(installed: boolean = installedAsDependency()): UsageError {
  const where = `${process.platform}-${process.arch}`;
  const how = installed
    ? `no prebuilt addon (${addonPackageName()}) is installed and none was built when agent-os-sandbox was installed: ` +
      'install a Rust toolchain (cargo) and run `npm rebuild agent-os-sandbox` (without AGENTOS_SKIP_NATIVE_BUILD=1), ' +
      `or install ${addonPackageName()}`
    : 'run `npm run build:native` (needs a Rust toolchain: cargo)';
  return new UsageError(`the wasmtime engine is not available for ${where}: ${how}; or use the default jco engine`);
}

let loaded: WasmtimeAddon | undefined;

/** The addon ({@link findWasmtimeAddon}); a `UsageError` that says how to get it when there is none. */
export function loadWasmtimeAddon(): WasmtimeAddon {
  if (loaded) return loaded;
  const found = findWasmtimeAddon();
  if (!found) throw missingAddonError();
  const require = createRequire(import.meta.url);
  try {
    loaded = require(found.path) as WasmtimeAddon;
  } catch (e) {
    const fix = found.source === 'local' ? 'rebuild it with `npm run build:native`' : `reinstall ${addonPackageName()}`;
    throw new UsageError(`the wasmtime engine could not be loaded from ${found.path} (${(e as Error).message}); ${fix}`);
  }
  return loaded;
}
