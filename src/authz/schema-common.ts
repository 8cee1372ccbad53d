/**
 * Schema building blocks of the authorization model: attribute names, conditions, boolean
 * expressions, instants and time windows. Strict like the rest of the policy: unknown fields
 * are errors, nothing is coerced (`priority: "1"` is a string, not a number), and every error
 * carries the field's path.
 */
import * as z from 'zod';
import { describeValue } from '../policy/issues.js';
import { FORBIDDEN_KEYS } from '../policy/plain-data.js';
import { pattern, strictPolicy } from '../policy/schema-base.js';
import { compileSafeRegex } from './regex.js';
import type { BoolExpr, Condition, Operator, TimeWindow } from './types.js';

type Path = PropertyKey[];

/**
 * Run `schema` on `value` from inside another schema's transform, forwarding its issues under
 * `path` (relative to the value being transformed). Returns the output, or `z.NEVER`.
 */
export function sub<T>(schema: z.ZodType<T>, value: unknown, ctx: z.RefinementCtx, path: Path = []): T {
  const r = schema.safeParse(value, { reportInput: true });
  if (r.success) return r.data;
  for (const issue of r.error.issues) ctx.issues.push({ ...issue, path: [...path, ...issue.path] } as never);
  return z.NEVER;
}

/** Report one problem from inside a transform. */
export function fail(ctx: z.RefinementCtx, path: Path, message: string, input?: unknown): typeof z.NEVER {
  ctx.issues.push({ code: 'custom', path, message, input });
  return z.NEVER;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A value a condition can compare with: string, finite number, boolean or null. */
export type Primitive = string | number | boolean | null;

const isPrimitive = (v: unknown): v is Primitive =>
  v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));

/** A string, number, true/false or null. */
export const primitiveSchema = z.custom<Primitive>(isPrimitive, {
  error: (iss) => `expected a string, number, true/false or null, got ${describeValue(iss.input)}; a list is only accepted by "in"`,
});

/** A non-empty list of primitives (at most 10,000), for `in` / `notIn`. */
export const primitiveListSchema = z
  .array(primitiveSchema)
  .min(1, { error: 'an empty list never matches; list at least one value or remove the test' })
  .max(10_000, { error: 'at most 10,000 values; use a pattern or a broader rule' });

/** A name (id, resource type, action, tool): 1–128 characters without spaces or control characters. */
export const nameSchema = pattern(/^[^\s\u0000-\u001f\u007f]{1,128}$/, 'a name (1–128 characters, no spaces)', 'shorten it or remove the spaces');

/** Free text (descriptions, reasons): at most 1,000 characters. */
export const textSchema = z.string().max(1000, { error: 'at most 1,000 characters; shorten it' });

/** A key of a free-form mapping: not empty, no prototype names. */
export const keySchema = z.string().superRefine((k, ctx) => {
  if (FORBIDDEN_KEYS.has(k)) ctx.addIssue({ code: 'custom', message: `the key "${k}" is not allowed (it could reach a JavaScript prototype); rename it` });
  else if (k.length === 0 || k.length > 128) ctx.addIssue({ code: 'custom', message: 'a key must have 1–128 characters; rename it' });
});

/**
 * A mapping whose keys pass `key` (default {@link keySchema}), each problem reported at the
 * key. (zod's own record silently drops an own `__proto__` key, which `JSON.parse` creates;
 * this reports it like every other prototype key.)
 */
export function safeRecord<V extends z.ZodType>(value: V, key: z.ZodType<string> = keySchema) {
  return z
    .unknown()
    .superRefine((v, ctx) => {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
      for (const k of Object.keys(v)) {
        if (FORBIDDEN_KEYS.has(k)) {
          ctx.addIssue({ code: 'custom', path: [k], message: `the key "${k}" is not allowed (it could reach a JavaScript prototype); rename it` });
          continue;
        }
        const r = key.safeParse(k);
        if (!r.success) ctx.addIssue({ code: 'custom', path: [k], message: r.error.issues[0]?.message ?? 'invalid key' });
      }
    })
    .pipe(z.record(z.string(), value));
}

/** A free-form JSON value (action parameters): primitives, lists and mappings, at most 8 deep. */
export const jsonValueSchema = z.unknown().superRefine((v, ctx) => {
  const walk = (x: unknown, path: Path, depth: number): void => {
    if (isPrimitive(x)) return;
    if (depth > 8) return void ctx.addIssue({ code: 'custom', path, message: 'nested more than 8 levels deep; flatten it' });
    if (Array.isArray(x)) return x.forEach((y, i) => walk(y, [...path, i], depth + 1));
    if (isPlainObject(x) && [null, Object.prototype].includes(Object.getPrototypeOf(x) as object | null)) {
      for (const [k, y] of Object.entries(x)) {
        if (FORBIDDEN_KEYS.has(k)) ctx.addIssue({ code: 'custom', path: [...path, k], message: `the key "${k}" is not allowed (it could reach a JavaScript prototype); rename it` });
        else walk(y, [...path, k], depth + 1);
      }
      return;
    }
    ctx.addIssue({ code: 'custom', path, message: `expected a string, number, true/false, null, list or mapping, got ${describeValue(x)}` });
  };
  walk(v, [], 0);
});

const FIELD_RE = /^[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*$/;

/**
 * An attribute name: `subject.type`, `resource.path`, `context.environment`, `action`, or a
 * bare name (`extension`), which conditions read as `resource.<name>`. Dotted segments reach
 * nested attributes; no segment may be a prototype name.
 */
export const fieldSchema = z.string().superRefine((f, ctx) => {
  if (f.length === 0 || f.length > 128 || !FIELD_RE.test(f)) {
    ctx.addIssue({ code: 'custom', message: `expected an attribute name such as "extension", "subject.type" or "context.environment", got ${describeValue(f)}; use letters, digits, "_" and "-" separated by "."` });
  } else if (f.split('.').some((s) => FORBIDDEN_KEYS.has(s))) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(f)} names a JavaScript prototype property; conditions only read the request's own attributes` });
  }
});

const OPERATORS = ['eq', 'ne', 'in', 'contains', 'matches'] as const satisfies readonly Operator[];

/** Check a `matches` pattern with {@link compileSafeRegex}; a problem becomes an issue at `path`. */
export function checkPattern(value: unknown, ctx: z.RefinementCtx, path: Path): void {
  if (typeof value !== 'string') {
    fail(ctx, path, `"matches" needs a regular expression string, got ${describeValue(value)}; quote it`, value);
    return;
  }
  try {
    compileSafeRegex(value, 'pattern');
  } catch (e) {
    fail(ctx, path, e instanceof Error ? e.message.replace(/^pattern: /, '') : String(e), value);
  }
}

/** Check an operator's value: `in` a non-empty list of primitives, `matches` a safe pattern, others a primitive. */
function checkValue(op: Operator, value: unknown, ctx: z.RefinementCtx, path: Path): void {
  if (value === undefined) {
    fail(ctx, path, 'required field is missing; add the value to compare with');
    return;
  }
  if (op === 'matches') return checkPattern(value, ctx, path);
  if (op === 'in') {
    if (!Array.isArray(value)) {
      fail(ctx, path, `"in" needs a list, got ${describeValue(value)}; write it as a list: [${isPrimitive(value) ? String(value) : '…'}]`, value);
      return;
    }
    // Checked by hand rather than with primitiveListSchema: conditions are the bulk of large
    // policies, and this is several times faster (same messages).
    if (value.length === 0 || value.length > 10_000) {
      sub(primitiveListSchema, value, ctx, path);
      return;
    }
    value.forEach((v: unknown, i) => {
      if (!isPrimitive(v)) sub(primitiveSchema, v, ctx, [...path, i]);
    });
    return;
  }
  if (!isPrimitive(value)) sub(primitiveSchema, value, ctx, path);
}

const ROOTS = ['subject', 'resource', 'context'];

/** Where a condition sits decides how a bare attribute name is read. */
export type ConditionScope = 'any' | 'subject' | 'resource' | 'action';

/**
 * A condition `{ field, operator, value }` (the seed's AttributeExpression spelling
 * `{ attribute, operator, value }` is accepted too). In an access policy target, `scope`
 * qualifies bare names (`type` under `target.subject` is `subject.type`), and the field of an
 * action test may be omitted (it is `action`).
 */
export function conditionSchema(scope: ConditionScope = 'any'): z.ZodType<Condition> {
  return strictPolicy({
    field: fieldSchema.optional(),
    attribute: fieldSchema.optional(),
    operator: z.enum(OPERATORS),
    value: z.unknown().optional(),
  }).transform((c, ctx): Condition => {
    if (c.field !== undefined && c.attribute !== undefined) return fail(ctx, ['attribute'], '"field" and "attribute" are the same thing; write only one of them');
    let field = c.field ?? c.attribute ?? (scope === 'action' ? 'action' : undefined);
    if (field === undefined) return fail(ctx, ['field'], 'required field is missing; add the attribute to test, e.g. "extension" or "subject.type"');
    const root = field.split('.')[0]!;
    if (scope === 'action' && field !== 'action') return fail(ctx, [c.field !== undefined ? 'field' : 'attribute'], `a target.action test reads the action; write "field: action" or leave the field out, not ${JSON.stringify(field)}`);
    if ((scope === 'subject' || scope === 'resource') && field !== 'action' && !ROOTS.includes(root)) field = `${scope}.${field}`;
    checkValue(c.operator, c.value, ctx, ['value']);
    return { field, operator: c.operator, value: c.value };
  }) as unknown as z.ZodType<Condition>;
}

/** Limits of boolean expressions (`condition` of an access policy). */
export const EXPR_LIMITS = Object.freeze({ maxDepth: 16, maxNodes: 1000 });

/**
 * A boolean expression: a condition, `{ all: [...] }`, `{ any: [...] }` or `{ not: expr }`,
 * nested at most {@link EXPR_LIMITS}.maxDepth deep with at most .maxNodes nodes in all.
 */
let anyCondition: z.ZodType<Condition> | undefined;

export const boolExprSchema: z.ZodType<BoolExpr> = z.unknown().transform((input, ctx): BoolExpr => {
  const cond = (anyCondition ??= conditionSchema('any'));
  let nodes = 0;
  let ok = true;
  const walk = (v: unknown, path: Path, depth: number): BoolExpr | undefined => {
    if (++nodes > EXPR_LIMITS.maxNodes) {
      if (nodes === EXPR_LIMITS.maxNodes + 1) fail(ctx, path, `the expression has more than ${EXPR_LIMITS.maxNodes} nodes; split it into several policies`);
      ok = false;
      return undefined;
    }
    if (depth > EXPR_LIMITS.maxDepth) {
      fail(ctx, path, `nested more than ${EXPR_LIMITS.maxDepth} levels deep; flatten the expression`);
      ok = false;
      return undefined;
    }
    if (!isPlainObject(v)) {
      fail(ctx, path, `expected a condition or an expression, got ${describeValue(v)}; write { field, operator, value }, { all: [...] }, { any: [...] } or { not: ... }`, v);
      ok = false;
      return undefined;
    }
    const keys = Object.keys(v);
    const op = (['all', 'any', 'not'] as const).find((k) => keys.includes(k));
    if (op === undefined) {
      const r = cond.safeParse(v, { reportInput: true });
      if (r.success) return r.data;
      for (const issue of r.error.issues) ctx.issues.push({ ...issue, path: [...path, ...issue.path] } as never);
      ok = false;
      return undefined;
    }
    if (keys.length !== 1) {
      fail(ctx, path, `a node with "${op}" cannot have other fields (${keys.filter((k) => k !== op).join(', ')}); nest them inside "${op}"`);
      ok = false;
      return undefined;
    }
    const body = v[op];
    if (op === 'not') {
      const inner = walk(body, [...path, 'not'], depth + 1);
      return inner && { not: inner };
    }
    if (!Array.isArray(body) || body.length === 0) {
      fail(ctx, [...path, op], `"${op}" needs a non-empty list of expressions, got ${Array.isArray(body) ? 'an empty list' : describeValue(body)}; list at least one`, body);
      ok = false;
      return undefined;
    }
    const items = body.map((x, i) => walk(x, [...path, op, i], depth + 1));
    return items.every((x) => x !== undefined) ? (op === 'all' ? { all: items as BoolExpr[] } : { any: items as BoolExpr[] }) : undefined;
  };
  const out = walk(input, [], 1);
  return ok && out !== undefined ? out : z.NEVER;
});

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

function parseInstant(v: string): number | undefined {
  const m = ISO_RE.exec(v);
  if (!m) return undefined;
  const [, , mo, d, h, mi, s] = m.map((x) => (x === undefined ? undefined : Number(x)));
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > 31 || (h ?? 0) > 23 || (mi ?? 0) > 59 || (s ?? 0) > 59) return undefined;
  const t = Date.parse(v.replace(' ', 'T'));
  return Number.isFinite(t) ? t : undefined;
}

/**
 * An instant: an ISO 8601 date (`2025-01-15`, UTC midnight) or date-time with a zone
 * (`2025-01-15T10:00:00Z`, `…+02:00`), or epoch milliseconds. Output: epoch ms.
 */
export const instantSchema = z
  .custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', {
    error: (iss) => `expected an ISO date such as "2025-01-15T10:00:00Z", got ${describeValue(iss.input)}; quote it`,
  })
  .transform((v, ctx) => {
    if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && v >= 0) return v;
      return fail(ctx, [], `expected epoch milliseconds (a whole number ≥ 0), got ${describeValue(v)}; or write an ISO date in quotes`, v);
    }
    const t = parseInstant(v);
    if (t === undefined) {
      return fail(ctx, [], `invalid date ${describeValue(v)}; write an ISO 8601 date ("2025-01-15") or a date-time with a zone ("2025-01-15T10:00:00Z")`, v);
    }
    return t;
  });

const DAY_NAMES: Readonly<Record<string, number>> = Object.freeze({
  sun: 0, sunday: 0, mon: 1, monday: 1, tue: 2, tuesday: 2, wed: 3, wednesday: 3, thu: 4, thursday: 4, fri: 5, friday: 5, sat: 6, saturday: 6,
});

const daySchema = z.custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', { error: (iss) => `expected a day, got ${describeValue(iss.input)}; write mon … sun, or 0–6 with 0 = Sunday` }).transform((v, ctx) => {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 6 ? v : fail(ctx, [], `expected a day number 0–6, got ${v}; 0 is Sunday, 6 is Saturday`, v);
  const lower = v.toLowerCase();
  return Object.hasOwn(DAY_NAMES, lower) ? DAY_NAMES[lower]! : fail(ctx, [], `unknown day ${describeValue(v)}; write mon, tue, wed, thu, fri, sat or sun`, v);
});

/** An hour of day: a number 0–24 (fractions allowed: 9.5) or `"HH:MM"`. Output: hours. */
const hourSchema = z.custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', { error: (iss) => `expected an hour, got ${describeValue(iss.input)}; write a number 0–24 or "HH:MM"` }).transform((v, ctx) => {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 && v <= 24 ? v : fail(ctx, [], `expected an hour between 0 and 24, got ${v}; write e.g. 9 or "09:30"`, v);
  const m = /^(\d{1,2}):(\d{2})$/.exec(v);
  const h = m ? Number(m[1]) + Number(m[2]) / 60 : NaN;
  return m && Number(m[2]) < 60 && h <= 24 ? h : fail(ctx, [], `expected "HH:MM" between 00:00 and 24:00, got ${describeValue(v)}; write e.g. "09:30"`, v);
});

/**
 * A time window: `{ from?, to?, hours?: { start, end }, days?: [mon, …], timezone?: UTC }`.
 * `from`/`to` are instants (see {@link instantSchema}); hours are UTC, `[start, end)`, and
 * wrap midnight when `start > end`; days are names or numbers (0 = Sunday).
 */
export const timeWindowSchema: z.ZodType<TimeWindow> = strictPolicy({
  from: instantSchema.optional(),
  to: instantSchema.optional(),
  hours: strictPolicy({ start: hourSchema, end: hourSchema }).optional(),
  days: z.array(daySchema).min(1, { error: 'an empty list of days never matches; list days or remove "days"' }).max(7).optional(),
  timezone: z.literal('UTC', { error: 'only "UTC" is supported in this version; convert the hours to UTC' }).optional(),
}).transform((w, ctx): TimeWindow => {
  if (w.from !== undefined && w.to !== undefined && w.to <= w.from) fail(ctx, ['to'], '"to" must be later than "from"; fix the dates');
  if (w.hours) {
    if (w.hours.start >= 24) fail(ctx, ['hours', 'start'], 'the start hour must be below 24; write 0 for midnight');
    if (w.hours.end <= 0) fail(ctx, ['hours', 'end'], 'the end hour must be above 0; write 24 for midnight');
    if (w.hours.start === w.hours.end) fail(ctx, ['hours', 'end'], 'start and end are equal; for the whole day remove "hours"');
  }
  const out: { from?: number; to?: number; hours?: { start: number; end: number }; days?: number[] } = {};
  if (w.from !== undefined) out.from = w.from;
  if (w.to !== undefined) out.to = w.to;
  if (w.hours) out.hours = { start: w.hours.start, end: w.hours.end };
  if (w.days) out.days = [...new Set(w.days)].sort((a, b) => a - b);
  return out;
}) as unknown as z.ZodType<TimeWindow>;
