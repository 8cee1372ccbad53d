/**
 * Canonical JSON (see ./types.ts) ↔ the values jco's bindings take and give, which the wasmtime
 * bridge speaks as well: records and flags keyed by lowerCamelCase names, `{ tag, val }` for
 * variants and results, `undefined` for none, bigints for 64-bit integers and typed arrays for
 * numeric lists. Arguments are validated (./schema.ts) before they come here.
 */
import { lowerCamel, type WitFunction, type WitType } from './types.js';

const TYPED_ARRAYS: Readonly<Record<string, new (xs: ArrayLike<number> & ArrayLike<bigint>) => ArrayLike<unknown>>> = {
  u8: Uint8Array as never,
  s8: Int8Array as never,
  u16: Uint16Array as never,
  s16: Int16Array as never,
  u32: Uint32Array as never,
  s32: Int32Array as never,
  u64: BigUint64Array as never,
  s64: BigInt64Array as never,
  f32: Float32Array as never,
  f64: Float64Array as never,
};

/** One canonical JSON value of type `t` → its jco form. */
export function toGuest(v: unknown, t: WitType): unknown {
  switch (t.kind) {
    case 's64':
    case 'u64':
      return BigInt(v as number | string);
    case 'list': {
      const xs = (v as unknown[]).map((x) => toGuest(x, t.element));
      const Typed = TYPED_ARRAYS[t.element.kind];
      return Typed ? new Typed(xs as never) : xs;
    }
    case 'tuple':
      return (v as unknown[]).map((x, i) => toGuest(x, t.types[i]!));
    case 'record': {
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of t.fields) out[lowerCamel(f.name)] = toGuest(o[f.name] ?? null, f.type);
      return out;
    }
    case 'variant': {
      const o = v as { tag: string; val?: unknown };
      const c = t.cases.find((x) => x.name === o.tag)!;
      return c.type ? { tag: o.tag, val: toGuest(o.val, c.type) } : { tag: o.tag };
    }
    case 'flags': {
      const set = new Set(v as string[]);
      const out: Record<string, boolean> = {};
      for (const f of t.flags) out[lowerCamel(f.name)] = set.has(f.name);
      return out;
    }
    case 'option':
      return v === null || v === undefined ? undefined : toGuest(v, t.type);
    case 'result': {
      const o = v as { ok?: unknown; err?: unknown };
      if ('ok' in o) return { tag: 'ok', val: t.ok ? toGuest(o.ok, t.ok) : undefined };
      return { tag: 'err', val: t.err ? toGuest(o.err, t.err) : undefined };
    }
    default:
      return v;
  }
}

/** A call's canonical arguments (an object keyed by parameter name) → the positional jco arguments. */
export function argumentsToGuest(fn: WitFunction, args: Readonly<Record<string, unknown>>): unknown[] {
  return fn.params.map((p) => toGuest(args[p.name] ?? null, p.type));
}

/**
 * A jco value of type `t` → canonical JSON. Guest output is not trusted: a value that does not
 * fit its type (only a broken binding could give one) becomes a `TypeError` naming where.
 */
export function fromGuest(v: unknown, t: WitType, at = 'result'): unknown {
  const bad = (want: string): never => {
    throw new TypeError(`${at}: expected ${want} from the guest`);
  };
  switch (t.kind) {
    case 'bool':
      return typeof v === 'boolean' ? v : bad('a bool');
    case 's64':
    case 'u64': {
      const b = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : bad('an integer');
      return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
    }
    case 'f32':
    case 'f64':
      if (typeof v !== 'number') return bad('a number');
      // JSON has no NaN or infinities.
      return Number.isFinite(v) ? v : String(v);
    case 'char':
    case 'string':
      return typeof v === 'string' ? v : bad('a string');
    case 'list': {
      const xs = Array.isArray(v) ? v : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<unknown>) : bad('a list');
      return xs.map((x, i) => fromGuest(x, t.element, `${at}[${i}]`));
    }
    case 'tuple': {
      if (!Array.isArray(v) || v.length !== t.types.length) return bad(`a tuple of ${t.types.length}`);
      return v.map((x, i) => fromGuest(x, t.types[i]!, `${at}[${i}]`));
    }
    case 'record': {
      const o = isObject(v) ? v : bad('a record');
      const out: Record<string, unknown> = {};
      for (const f of t.fields) out[f.name] = fromGuest(o[lowerCamel(f.name)], f.type, `${at}.${f.name}`);
      return out;
    }
    case 'variant': {
      const o = isObject(v) ? v : bad('a variant');
      const c = t.cases.find((x) => x.name === o['tag']) ?? bad(`one of the cases ${t.cases.map((x) => x.name).join(', ')}`);
      return c.type ? { tag: c.name, val: fromGuest(o['val'], c.type, `${at}.val`) } : { tag: c.name };
    }
    case 'enum':
      return typeof v === 'string' && t.cases.some((c) => c.name === v) ? v : bad('an enum case');
    case 'flags': {
      const o = isObject(v) ? v : bad('flags');
      return t.flags.filter((f) => o[lowerCamel(f.name)] === true).map((f) => f.name);
    }
    case 'option':
      return v === undefined || v === null ? null : fromGuest(v, t.type, at);
    case 'result': {
      const o = isObject(v) ? v : bad('a result');
      if (o['tag'] === 'ok') return { ok: t.ok ? fromGuest(o['val'], t.ok, `${at}.ok`) : null };
      if (o['tag'] === 'err') return { err: t.err ? fromGuest(o['val'], t.err, `${at}.err`) : null };
      return bad('ok or err');
    }
    case 'unsupported':
      return bad(`no ${t.what}`);
    default: {
      // the 32-bit and smaller integers
      return typeof v === 'number' && Number.isInteger(v) ? v : bad(`a ${t.kind}`);
    }
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}
