/**
 * Core module → component, in process: wasm-tools (as compiled to wasm inside jco) parses
 * WAT, embeds our world's type information and wraps the module in a component.
 */
import { readFile } from 'node:fs/promises';
import { ComponentError } from '../errors.js';
import { bundleWit, DEFAULT_WORLD } from './wit.js';

type JcoApi = typeof import('@bytecodealliance/jco');
let jcoApi: Promise<JcoApi> | undefined;

/** jco's API, loaded on first use (it is large; importing `src/build` should stay cheap). */
export function jco(): Promise<JcoApi> {
  jcoApi ??= import('@bytecodealliance/jco');
  return jcoApi;
}

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && 'payload' in e) return String((e as { payload: unknown }).payload);
  return String(e);
}

/** Options shared by the in-process component builders. */
export interface WorldOptions {
  /** World to target. Default `agent`. */
  world?: string;
  /** WIT directory. Default: our `wit/` (its `deps/` generated if missing). */
  witDir?: string;
}

/**
 * Wrap a core module in a component that targets `world`: embed the world's types, then run
 * `component new`. A module importing `wasi_snapshot_preview1` is adapted with jco's WASI
 * preview1 *reactor* adapter, so libc calls become `wasi:*@0.2` imports; a reactor's
 * `_initialize` export runs as the component's start function.
 *
 * @throws {ComponentError} when the module does not fit the world (wrong signatures, missing exports).
 * @example
 * ```ts
 * const component = await coreToComponent(await readFile('agent.core.wasm'));
 * ```
 */
export async function coreToComponent(core: Uint8Array, opts: WorldOptions = {}): Promise<Uint8Array> {
  const witSource = bundleWit(opts.witDir);
  const world = opts.world ?? DEFAULT_WORLD;
  const api = await jco();
  let embedded: Uint8Array;
  try {
    embedded = await api.componentEmbed({ binary: core, witSource, world, stringEncoding: 'utf8' });
  } catch (e) {
    throw new ComponentError(`embedding world \`${world}\` failed: ${messageOf(e)}`, { step: 'component embed' }, { cause: e });
  }
  const adapter = await readFile(api.preview1AdapterReactorPath());
  try {
    return await api.componentNew(embedded, [['wasi_snapshot_preview1', adapter]]);
  } catch (e) {
    throw new ComponentError(
      `making a component failed: ${messageOf(e)} (a core module must export \`run\`, \`cabi_post_run\`, ` +
        '`cabi_realloc` and `memory` following the canonical ABI of world `' + world + '`)',
      { step: 'component new' },
      { cause: e },
    );
  }
}

/**
 * Compile a WAT core module into a component of our world.
 *
 * The module follows the canonical ABI by hand: it imports e.g.
 * `(import "agent-os:sandbox/log@0.1.0" "emit" (func (param i32 i32 i32)))` and exports
 * `memory`, `cabi_realloc (old size align new-size) -> ptr`, `run (ptr len) -> retptr`
 * (retptr → `result<string,string>`: tag byte at +0, string ptr at +4, length at +8) and
 * `cabi_post_run (retptr)`.
 *
 * @param wat - WebAssembly text of a *core* module.
 * @returns the component binary.
 * @throws {ComponentError} when the text does not parse or does not fit the world.
 * @example
 * ```ts
 * const bytes = await watToComponent(readFileSync('test/fixtures/agents/echo.wat', 'utf8'));
 * ```
 */
export async function watToComponent(wat: string, opts: WorldOptions = {}): Promise<Uint8Array> {
  const api = await jco();
  let core: Uint8Array;
  try {
    core = await api.parse(wat);
  } catch (e) {
    throw new ComponentError(`WAT does not parse: ${messageOf(e)}`, { step: 'parse' }, { cause: e });
  }
  return coreToComponent(core, opts);
}
