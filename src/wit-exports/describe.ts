/**
 * Finding out what a component exports besides `run`, with the WIT types of each function.
 * The wasmtime addon decodes the component's WIT (`describeComponent`); the answer is parsed
 * here defensively (it describes untrusted bytes) and kept per content hash.
 */
import { resolve } from 'node:path';
import { loadWasmtimeAddon } from '../engine/wasmtime/addon.js';
import { unsupportedReason } from './schema.js';
import { functionId, WIT_PRIMITIVES, type ExportedFunction, type WitFunction, type WitType } from './types.js';

/** What a component offers to call: its functions, or why they could not be read. */
export type ExportsDescription = { readonly functions: readonly ExportedFunction[] } | { readonly functions: readonly []; readonly unavailable: string };

const cache = new Map<string, ExportsDescription>();
/** Entries kept (descriptions are small; a long-lived host loads few distinct components). */
const CACHE_LIMIT = 256;

/**
 * The exported functions of a component (all of them, `run` included), described from its
 * bytes. Never throws: a missing addon or undecodable WIT gives `unavailable` with the reason.
 */
export function describeExports(bytes: Uint8Array, hash: string, witPath?: string): ExportsDescription {
  const key = witPath === undefined ? hash : `${hash}\0${resolve(witPath)}`;
  const hit = cache.get(key);
  if (hit) return hit;
  let out: ExportsDescription;
  try {
    const addon = loadWasmtimeAddon();
    // An addon built before describeComponent existed lacks it.
    if (typeof addon.describeComponent !== 'function') throw new Error('this build of the wasmtime addon cannot describe components; rebuild it with `npm run build:native`');
    out = { functions: parseDescription(JSON.parse(addon.describeComponent(bytes, witPath === undefined ? undefined : resolve(witPath)))) };
  } catch (e) {
    out = { functions: [], unavailable: `the component's exported functions could not be described: ${(e as Error).message}` };
  }
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(key, out);
  return out;
}

/** The addon's JSON → checked descriptions; anything malformed throws a `TypeError` naming where. */
export function parseDescription(json: unknown): ExportedFunction[] {
  const root = obj(json, 'description');
  return arr(root['functions'], 'functions').map((f, i) => {
    const o = obj(f, `functions[${i}]`);
    const fn: WitFunction = {
      interface: o['interface'] === null ? null : str(o['interface'], `functions[${i}].interface`),
      name: str(o['name'], `functions[${i}].name`),
      docs: docs(o['docs']),
      params: arr(o['params'], `functions[${i}].params`).map((p, j) => {
        const po = obj(p, `functions[${i}].params[${j}]`);
        return { name: str(po['name'], 'param name'), type: witType(po['type'], `functions[${i}].params[${j}]`) };
      }),
      result: o['result'] === null || o['result'] === undefined ? null : witType(o['result'], `functions[${i}].result`),
    };
    const unsupported = unsupportedReason(fn);
    return { ...fn, id: functionId(fn), ...(unsupported ? { unsupported } : {}) };
  });
}

function witType(v: unknown, at: string, depth = 0): WitType {
  if (depth > 64) return { kind: 'unsupported', what: 'a type nested more than 64 deep' };
  const o = obj(v, at);
  const kind = str(o['kind'], `${at}.kind`);
  const sub = (x: unknown, where: string) => witType(x, where, depth + 1);
  const names = (x: unknown, where: string) => arr(x, where).map((n, i) => { const no = obj(n, `${where}[${i}]`); return { name: str(no['name'], `${where}[${i}].name`), docs: docs(no['docs']) }; });
  const named = { name: o['name'] === null || o['name'] === undefined ? null : str(o['name'], `${at}.name`), docs: docs(o['docs']) };
  if ((WIT_PRIMITIVES as readonly string[]).includes(kind)) return { kind } as WitType;
  switch (kind) {
    case 'list':
      return { kind, element: sub(o['element'], `${at}.element`) };
    case 'tuple':
      return { kind, types: arr(o['types'], `${at}.types`).map((t, i) => sub(t, `${at}.types[${i}]`)) };
    case 'record':
      return { kind, ...named, fields: arr(o['fields'], `${at}.fields`).map((f, i) => { const fo = obj(f, `${at}.fields[${i}]`); return { name: str(fo['name'], 'field name'), docs: docs(fo['docs']), type: sub(fo['type'], `${at}.fields[${i}]`) }; }) };
    case 'variant':
      return { kind, ...named, cases: arr(o['cases'], `${at}.cases`).map((c, i) => { const co = obj(c, `${at}.cases[${i}]`); return { name: str(co['name'], 'case name'), docs: docs(co['docs']), type: co['type'] === null || co['type'] === undefined ? null : sub(co['type'], `${at}.cases[${i}]`) }; }) };
    case 'enum':
      return { kind, ...named, cases: names(o['cases'], `${at}.cases`) };
    case 'flags':
      return { kind, ...named, flags: names(o['flags'], `${at}.flags`) };
    case 'option':
      return { kind, type: sub(o['type'], `${at}.type`) };
    case 'result':
      return { kind, ok: o['ok'] === null || o['ok'] === undefined ? null : sub(o['ok'], `${at}.ok`), err: o['err'] === null || o['err'] === undefined ? null : sub(o['err'], `${at}.err`) };
    case 'unsupported':
      return { kind, what: str(o['what'], `${at}.what`) };
    default:
      return { kind: 'unsupported', what: kind };
  }
}

function obj(v: unknown, at: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`${at}: expected an object`);
  return v as Record<string, unknown>;
}
function arr(v: unknown, at: string): unknown[] {
  if (!Array.isArray(v)) throw new TypeError(`${at}: expected an array`);
  return v;
}
function str(v: unknown, at: string): string {
  if (typeof v !== 'string') throw new TypeError(`${at}: expected a string`);
  return v;
}
function docs(v: unknown): string | null {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : null;
}
