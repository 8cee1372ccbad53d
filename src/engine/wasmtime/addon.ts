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
import { isMainThread } from 'node:worker_threads';
import { UsageError } from '../../errors.js';
import { checkEngineVersion } from '../advisories.js';
import { addonPackageName } from './platform.js';

/** A compiled component (`Engine.compileComponent`). */
export interface NativeComponent {
  readonly cacheHit: boolean;
  readonly key: string;
  readonly compileMs: number;
  /** `iface#func` of every imported function. */
  readonly imports: readonly string[];
  /** `'optimized'` (Cranelift), or `'baseline'` (Winch, while Cranelift compiles in the background; instrumented engines). */
  readonly tier?: 'optimized' | 'baseline';
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
  /** As {@link NativeComponent.tier}. */
  readonly tier?: 'optimized' | 'baseline';
}

/** One instance (a store, a pool slot). */
export interface NativeInstance {
  readonly disposed: boolean;
  /** Grows the caps refused during the last call or the instantiation (the guest saw -1). */
  readonly refusals: { readonly memory: number; readonly table: number; readonly memoryRequested?: number | null; readonly tableRequested?: number | null };
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

/** What `Engine.call` returns (limits and traps throw as `run` does; bad arguments throw `code: 'USAGE'`). */
export interface NativeCallResult {
  /** The function's result in jco's conventions (`undefined` when it has none; a `result<T, E>` as `{ tag: 'ok' | 'err', val }`). */
  readonly value: unknown;
  readonly fuelConsumed: number;
}

/** A WIT type as `describeComponent` reports it (names are the WIT names, kebab-case). */
export type NativeWitType =
  | { readonly kind: 'bool' | 's8' | 'u8' | 's16' | 'u16' | 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64' | 'char' | 'string' }
  | { readonly kind: 'list'; readonly element: NativeWitType }
  | { readonly kind: 'tuple'; readonly types: readonly NativeWitType[] }
  | {
      readonly kind: 'record';
      readonly name: string | null;
      readonly docs: string | null;
      readonly fields: readonly { readonly name: string; readonly docs: string | null; readonly type: NativeWitType }[];
    }
  | {
      readonly kind: 'variant';
      readonly name: string | null;
      readonly docs: string | null;
      readonly cases: readonly { readonly name: string; readonly docs: string | null; readonly type: NativeWitType | null }[];
    }
  | { readonly kind: 'enum'; readonly name: string | null; readonly docs: string | null; readonly cases: readonly { readonly name: string; readonly docs: string | null }[] }
  | { readonly kind: 'flags'; readonly name: string | null; readonly docs: string | null; readonly flags: readonly { readonly name: string; readonly docs: string | null }[] }
  | { readonly kind: 'option'; readonly type: NativeWitType }
  | { readonly kind: 'result'; readonly ok: NativeWitType | null; readonly err: NativeWitType | null }
  /** Resources and handles, future, stream, error-context, fixed-size lists, maps. */
  | { readonly kind: 'unsupported'; readonly what: string };

/** One function the component's world exports (`describeComponent`). */
export interface NativeFunctionDescription {
  /** The exported interface as the component spells it (`test:typed/shapes@0.1.0`, or an inline interface's plain name); null at the world level. */
  readonly interface: string | null;
  /** The WIT name (kebab-case). */
  readonly name: string;
  /** The `///` comment: from the component (built by jco/componentize, it has none) or the `witPath` given. */
  readonly docs: string | null;
  readonly params: readonly { readonly name: string; readonly type: NativeWitType }[];
  readonly result: NativeWitType | null;
}

/** The JSON `describeComponent` returns, parsed. */
export interface NativeComponentDescription {
  readonly functions: readonly NativeFunctionDescription[];
}

/**
 * A component rewritten around core modules metered by our instrumenter (`meterComponent`):
 * what an Engine with `meter: 'instrumented'` compiles (native/src/meter.rs, metered.rs).
 */
export interface NativeMeteredComponent {
  /** Core modules metered. */
  readonly modules: number;
  /** SHA-256 (hex) of the component it was made from: the key it is cached under. */
  readonly sourceKey: string;
  readonly byteLength: number;
  /** A copy of the rewritten component. */
  bytes(): Uint8Array;
}

/** The addon's engine. */
export interface NativeEngine {
  readonly wasmtimeVersion: string;
  /**
   * `key`: the SHA-256 of the bytes (hex), when the caller has it (checked before compiling).
   * On an engine with `meter: 'instrumented'` nothing is compiled: the component must have been
   * metered and compiled before (`compileMetered`/`inspectMetered`, here or into `cacheDir`).
   */
  compileComponent(bytes: Uint8Array, cacheDir?: string, key?: string): NativeComponent;
  /**
   * Compile (or load from the cache) on a libuv thread and describe the component. On an engine
   * with `meter: 'instrumented'`, only finds one metered before (`errorCode: 'NOT_PREPARED'` otherwise).
   */
  inspectComponent(bytes: Uint8Array, cacheDir?: string): Promise<NativeComponentInfo>;
  /**
   * `meter: 'instrumented'` only: compile a metered component, cached under its `sourceKey`. On a
   * tiered engine one missing from the cache is compiled by Winch now and by Cranelift in the
   * background; `optimized: true` compiles with Cranelift now.
   */
  compileMetered?(metered: NativeMeteredComponent, cacheDir?: string, optimized?: boolean): NativeComponent;
  /** `meter: 'instrumented'` only: `inspectComponent` of a metered component (compiled on a libuv thread, as `compileMetered`). */
  inspectMetered?(metered: NativeMeteredComponent, cacheDir?: string, optimized?: boolean): Promise<NativeComponentInfo>;
  /**
   * `meter: 'instrumented'` only: compile a component `meterComponent` refused as `UNSUPPORTED`
   * with wasmtime's own fuel and epoch interruption instead (its fuel in wasmtime's units); a
   * later `compileComponent(bytes, cacheDir)` finds it. `inspectFallback` on a libuv thread.
   */
  compileFallback?(bytes: Uint8Array, cacheDir?: string): NativeComponent;
  inspectFallback?(bytes: Uint8Array, cacheDir?: string): Promise<NativeComponentInfo>;
  instantiate(component: NativeComponent, limits: NativeLimits): NativeInstance;
  /**
   * `interrupt`: an Int32Array on a SharedArrayBuffer; another thread setting it to non-zero
   * stops the running guest with `code: 'CANCELLED'` within an epoch tick (never reset).
   */
  instantiateWithHost(component: NativeComponent, limits: NativeLimits, host: NativeHost, options?: { jcoResults?: boolean; interrupt?: Int32Array }): NativeInstance;
  /** `timeoutMs` replaces the instance's time limit for this call. */
  run(instance: NativeInstance, task: string, timeoutMs?: number): NativeRunResult;
  /**
   * Call another export: `func` (WIT name) in the exported interface `iface` (as the component
   * spells it), or at the world level when `iface` is null, with `args` in jco's conventions.
   * Fuel, deadline and traps as `run`; a missing export, a wrong argument count or an argument
   * that does not convert throws `code: 'USAGE'` without entering the guest.
   */
  call(instance: NativeInstance, iface: string | null, func: string, args: readonly unknown[], timeoutMs?: number): NativeCallResult;
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
  /**
   * `'wasmtime'` (default): wasmtime's fuel and epoch interruption. `'instrumented'`: components
   * metered by our instrumenter (`meterComponent`), wasmtime's fuel and epochs off; stopped
   * through a flag their loops poll (TIMEOUT, the interrupt cell's CANCELLED).
   */
  readonly meter?: 'wasmtime' | 'instrumented';
  /** With `meter: 'instrumented'`: the instrumenter's version and settings (part of the artifact fingerprint). */
  readonly meterKey?: string;
  /** With `meter: 'instrumented'`: a baseline tier (Winch) for components missing from the cache (default true). */
  readonly tiered?: boolean;
}

/** The addon's exports. */
export interface WasmtimeAddon {
  readonly Engine: new (options?: NativeEngineOptions) => NativeEngine;
  /**
   * The functions the component's world exports, as JSON ({@link NativeComponentDescription}).
   * Components built by jco/componentize carry no doc comments: `witPath` (the `.wit` file or
   * directory the component was built from) supplies them, matched by name. Throws
   * `code: 'COMPONENT_INVALID'` for bytes that are not a component, `'USAGE'` for a `witPath` that does not parse.
   */
  readonly describeComponent: (bytes: Uint8Array, witPath?: string) => string;
  /** Listen on 127.0.0.1:`port` in the network namespace of process `pid` (root only); the fd. Absent in older builds. */
  readonly listenInNetns?: (pid: number, port: number) => number;
  /**
   * Meter a component: `instrument(index, coreModule)` returns each core module instrumented
   * in stop-flag mode (`instrumentStopFlag`); a throw is rethrown as it is. Throws
   * `code: 'COMPONENT_INVALID'` (not a component, an instrumented module without what the
   * rewrite needs) or `'UNSUPPORTED'` (nested components that define core modules). Absent in older builds.
   */
  readonly meterComponent?: (bytes: Uint8Array, instrument: (index: number, module: Uint8Array) => Uint8Array) => NativeMeteredComponent;
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

/**
 * The addon ({@link findWasmtimeAddon}); a `UsageError` that says how to get it when there is
 * none, or that names the advisories when its wasmtime release has a known sandbox escape.
 */
export function loadWasmtimeAddon(): WasmtimeAddon {
  if (loaded) return loaded;
  const found = findWasmtimeAddon();
  if (!found) throw missingAddonError();
  const require = createRequire(import.meta.url);
  let addon: WasmtimeAddon;
  try {
    addon = require(found.path) as WasmtimeAddon;
  } catch (e) {
    const fix = found.source === 'local' ? 'rebuild it with `npm run build:native`' : `reinstall ${addonPackageName()}`;
    throw new UsageError(`the wasmtime engine could not be loaded from ${found.path} (${(e as Error).message}); ${fix}`);
  }
  // Refuse a wasmtime release with a known sandbox-escape advisory (../advisories.ts). Checked on
  // the main thread (a sandbox loads the addon there before any agent thread does), where a
  // throwaway engine (no ticker thread, no pool: a few ms) names the release once per process.
  if (isMainThread) checkEngineVersion('wasmtime', addonWasmtimeVersion(addon));
  loaded = addon;
  return loaded;
}

/** The wasmtime release inside `addon` (an engine's `wasmtimeVersion`; the addon has no free function for it). */
export function addonWasmtimeVersion(addon: WasmtimeAddon): string {
  return new addon.Engine({ epochTickMs: 0, pooling: false, tiered: false }).wasmtimeVersion;
}
