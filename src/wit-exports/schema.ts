/**
 * WIT types → zod schemas of their canonical JSON form (see ./types.ts). One schema serves both
 * ends: the sandbox validates a call's arguments with it before the call, and the host adapters
 * hand it to their framework, which turns it into the tool's JSON Schema (`z.toJSONSchema`).
 */
import { z } from 'zod';
import type { WitFunction, WitType } from './types.js';

const INT_RANGES: Readonly<Record<string, readonly [number, number]>> = {
  s8: [-128, 127],
  u8: [0, 255],
  s16: [-32768, 32767],
  u16: [0, 65535],
  s32: [-2147483648, 2147483647],
  u32: [0, 4294967295],
};

const BIG_RANGES: Readonly<Record<string, readonly [bigint, bigint]>> = {
  s64: [-(1n << 63n), (1n << 63n) - 1n],
  u64: [0n, (1n << 64n) - 1n],
};

/** Why a function cannot be called through canonical JSON, or undefined when it can. */
export function unsupportedReason(fn: WitFunction): string | undefined {
  for (const p of fn.params) {
    const why = typeReason(p.type);
    if (why) return `parameter ${p.name}: ${why}`;
  }
  const why = fn.result ? typeReason(fn.result) : undefined;
  return why ? `result: ${why}` : undefined;
}

function typeReason(t: WitType): string | undefined {
  switch (t.kind) {
    case 'unsupported':
      return `${t.what} values cannot cross as JSON`;
    case 'list':
      return typeReason(t.element);
    case 'tuple':
      return first(t.types.map(typeReason));
    case 'record':
      return first(t.fields.map((f) => typeReason(f.type)));
    case 'variant':
      return first(t.cases.map((c) => (c.type ? typeReason(c.type) : undefined)));
    case 'option':
      // `null` could not tell none from some(none).
      return t.type.kind === 'option' ? 'an option of an option has no JSON form here' : typeReason(t.type);
    case 'result':
      return first([t.ok, t.err].map((x) => (x ? typeReason(x) : undefined)));
    default:
      return undefined;
  }
}

function first(xs: readonly (string | undefined)[]): string | undefined {
  return xs.find((x) => x !== undefined);
}

/** No lone surrogates (they have no UTF-8 form for the guest). */
function wellFormed(s: string): boolean {
  return !/\p{Cs}/u.test(s);
}

function described<T extends z.ZodType>(schema: T, docs: string | null | undefined): T {
  return docs ? (schema.describe(docs) as T) : schema;
}

/** The zod schema of one WIT type's canonical JSON. Call only on supported types. */
export function valueSchema(t: WitType): z.ZodType {
  switch (t.kind) {
    case 'bool':
      return z.boolean();
    case 's8':
    case 'u8':
    case 's16':
    case 'u16':
    case 's32':
    case 'u32': {
      const [min, max] = INT_RANGES[t.kind]!;
      return z.number().int().min(min).max(max).describe(t.kind);
    }
    case 's64':
    case 'u64': {
      const [min, max] = BIG_RANGES[t.kind]!;
      const inRange = (v: number | string) => {
        const b = BigInt(v);
        return b >= min && b <= max;
      };
      return z
        .union([z.number().int(), z.string().regex(/^-?[0-9]{1,20}$/)])
        .refine(inRange, `out of range for ${t.kind}`)
        .describe(`${t.kind} (a decimal string beyond ±2^53)`);
    }
    case 'f32':
    case 'f64':
      return z.number().describe(t.kind);
    case 'char':
      return z
        .string()
        .refine((s) => [...s].length === 1 && wellFormed(s), 'expected exactly one Unicode character')
        .describe('char: one Unicode character');
    case 'string':
      return z.string().refine(wellFormed, 'expected a well-formed Unicode string (no lone surrogates)');
    case 'list':
      return z.array(valueSchema(t.element));
    case 'tuple':
      return z.tuple(t.types.map(valueSchema) as [z.ZodType, ...z.ZodType[]]);
    case 'record': {
      const shape: Record<string, z.ZodType> = {};
      for (const f of t.fields) shape[f.name] = described(fieldSchema(f.type), f.docs);
      return described(z.strictObject(shape), t.docs ?? (t.name ? `record ${t.name}` : null));
    }
    case 'variant': {
      const cases = t.cases.map((c) =>
        described(
          z.strictObject(c.type ? { tag: z.literal(c.name), val: valueSchema(c.type) } : { tag: z.literal(c.name) }),
          c.docs,
        ),
      );
      return described(z.discriminatedUnion('tag', cases as unknown as [z.ZodObject, ...z.ZodObject[]]), t.docs ?? (t.name ? `variant ${t.name}` : null));
    }
    case 'enum':
      return described(z.enum(t.cases.map((c) => c.name) as [string, ...string[]]), t.docs ?? (t.name ? `enum ${t.name}` : null));
    case 'flags': {
      const names = t.flags.map((f) => f.name) as [string, ...string[]];
      return described(
        z.array(z.enum(names)).refine((xs) => new Set(xs).size === xs.length, 'a flag is named twice'),
        t.docs ?? `flags${t.name ? ` ${t.name}` : ''}: the names of the flags that are set`,
      );
    }
    case 'option':
      return valueSchema(t.type).nullable();
    case 'result':
      return z.union([
        z.strictObject({ ok: t.ok ? valueSchema(t.ok) : z.null().optional() }),
        z.strictObject({ err: t.err ? valueSchema(t.err) : z.null().optional() }),
      ]);
    case 'unsupported':
      throw new TypeError(`no JSON form for ${t.what}`);
  }
}

/** A record field or parameter: an `option` may be left out (it is then none). */
function fieldSchema(t: WitType): z.ZodType {
  return t.kind === 'option' ? valueSchema(t).optional() : valueSchema(t);
}

/** Built once per function description: building a schema costs ~50× validating with it. */
const argumentsSchemas = new WeakMap<WitFunction, z.ZodObject>();

/** The schema of a call's arguments: an object with one property per parameter, nothing else. */
export function argumentsSchema(fn: WitFunction): z.ZodObject {
  let schema = argumentsSchemas.get(fn);
  if (!schema) {
    const shape: Record<string, z.ZodType> = {};
    for (const p of fn.params) shape[p.name] = fieldSchema(p.type);
    schema = z.strictObject(shape);
    argumentsSchemas.set(fn, schema);
  }
  return schema;
}

/**
 * The schema of what a successful call returns: the result's value, or for a function that
 * returns `result<T, E>` the `ok` value (an `err` is the call's failure, `AGENT_ERROR`).
 */
export function returnSchema(fn: WitFunction): z.ZodType {
  const t = fn.result;
  if (t === null) return z.null();
  if (t.kind === 'result') return t.ok ? valueSchema(t.ok) : z.null();
  return valueSchema(t);
}
