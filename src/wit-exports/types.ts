/**
 * The functions a component exports besides `run`, as the host sees them: their WIT types
 * (decoded from the component by the wasmtime addon's `describeComponent`) in a small JSON
 * form. The sandbox validates a call's arguments against these types before the call, and the
 * host adapters derive each function's tool schema from them.
 *
 * Arguments and results cross the API in one *canonical JSON* form, the same for both engines:
 * - integers are numbers (64-bit ones may also be decimal strings, and come back as strings
 *   beyond ±2^53); floats are numbers; `char` is a one-character string;
 * - `list` and `tuple` are arrays; a `record` is an object keyed by the WIT field names
 *   (kebab-case, as written); a `variant` is `{ "tag": case, "val": payload }` (no `val`
 *   without a payload); an `enum` is its case name; `flags` is an array of the set flags;
 * - `option<T>` is `null` or the value; `result<T, E>` is `{ "ok": T }` or `{ "err": E }`.
 */

/** A WIT value type. */
export type WitType =
  | { readonly kind: WitPrimitive }
  | { readonly kind: 'list'; readonly element: WitType }
  | { readonly kind: 'tuple'; readonly types: readonly WitType[] }
  | { readonly kind: 'record'; readonly name: string | null; readonly docs: string | null; readonly fields: readonly WitField[] }
  | { readonly kind: 'variant'; readonly name: string | null; readonly docs: string | null; readonly cases: readonly WitCase[] }
  | { readonly kind: 'enum'; readonly name: string | null; readonly docs: string | null; readonly cases: readonly WitName[] }
  | { readonly kind: 'flags'; readonly name: string | null; readonly docs: string | null; readonly flags: readonly WitName[] }
  | { readonly kind: 'option'; readonly type: WitType }
  | { readonly kind: 'result'; readonly ok: WitType | null; readonly err: WitType | null }
  | { readonly kind: 'unsupported'; readonly what: string };

export type WitPrimitive = 'bool' | 's8' | 'u8' | 's16' | 'u16' | 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64' | 'char' | 'string';

export const WIT_PRIMITIVES: readonly WitPrimitive[] = ['bool', 's8', 'u8', 's16', 'u16', 's32', 'u32', 's64', 'u64', 'f32', 'f64', 'char', 'string'];

export interface WitName {
  readonly name: string;
  readonly docs: string | null;
}
export interface WitField extends WitName {
  readonly type: WitType;
}
export interface WitCase extends WitName {
  readonly type: WitType | null;
}
export interface WitParam {
  readonly name: string;
  readonly type: WitType;
}

/** One exported function, as the addon describes it. */
export interface WitFunction {
  /** The exported interface as the component names it (`test:typed/shapes@0.1.0`); null at world level. */
  readonly interface: string | null;
  /** The function's WIT name (kebab-case). */
  readonly name: string;
  readonly docs: string | null;
  readonly params: readonly WitParam[];
  readonly result: WitType | null;
}

/** An exported function the sandbox offers to call (`agent.exports()`). */
export interface ExportedFunction extends WitFunction {
  /** How `agent.call` names it: `name` at world level, else `interface#name`. */
  readonly id: string;
  /** Why it cannot be called (a resource, a stream, a nested option…); absent when it can. */
  readonly unsupported?: string;
}

/** The id of an exported function (see {@link ExportedFunction.id}). */
export function functionId(fn: Pick<WitFunction, 'interface' | 'name'>): string {
  return fn.interface === null ? fn.name : `${fn.interface}#${fn.name}`;
}

/** `move-point` → `movePoint`: how jco (and the wasmtime bridge) name fields and functions. */
export function lowerCamel(name: string): string {
  return name.replace(/-([a-z0-9])/gi, (_, c: string) => c.toUpperCase());
}
