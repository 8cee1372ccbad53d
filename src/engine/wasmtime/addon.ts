/**
 * Loading the wasmtime addon (`native/`, built by `npm run build:native`), and its shape as the
 * engine uses it. Loading it when it is not built fails with a usage error that names the
 * command that builds it.
 *
 * @example
 * ```ts
 * const { Engine } = loadWasmtimeAddon();
 * const engine = new Engine({ epochTickMs: 10 });
 * ```
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../errors.js';

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
}

/** Where the addon of this platform is (whether or not it is built). */
export function wasmtimeAddonPath(): string {
  return fileURLToPath(new URL(`../../../native/agentos-wasmtime.${process.platform}-${process.arch}.node`, import.meta.url));
}

let loaded: WasmtimeAddon | undefined;

/** The addon; a `UsageError` naming `npm run build:native` when it is not built. */
export function loadWasmtimeAddon(): WasmtimeAddon {
  if (loaded) return loaded;
  const path = wasmtimeAddonPath();
  if (!existsSync(path)) {
    throw new UsageError(`the wasmtime engine is not built for ${process.platform}-${process.arch}: run \`npm run build:native\` (needs a Rust toolchain: cargo), or use the default jco engine`);
  }
  const require = createRequire(import.meta.url);
  try {
    loaded = require(path) as WasmtimeAddon;
  } catch (e) {
    throw new UsageError(`the wasmtime engine could not be loaded (${(e as Error).message}); rebuild it with \`npm run build:native\``);
  }
  return loaded;
}
