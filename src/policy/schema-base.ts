/**
 * Building blocks shared by the sandbox policy schema (`schema.ts`) and the authorization
 * model schemas (`src/authz/schema*.ts`): strict objects with helpful unknown-field errors,
 * sizes, durations, counts and names. Kept apart so that both can import them without an
 * import cycle; `schema.ts` re-exports them.
 */
import * as z from 'zod';
import { DURATION_SYNTAX, SIZE_SYNTAX, tryParseDuration, tryParseSize } from '../util/units.js';
import { describeValue, suggest } from './issues.js';

/**
 * A strict object schema whose unknown-field error names the field, suggests the closest
 * known one and lists the known fields.
 *
 * @example
 * ```ts
 * const s = strictPolicy({ a: z.string() }); // { b: 1 } → 'unknown field "b"; …'
 * ```
 */
export function strictPolicy<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== 'unrecognized_keys') return undefined;
      const names = iss.keys.map((k) => JSON.stringify(k)).join(', ');
      const hint = iss.keys.length === 1 ? suggest(iss.keys[0] ?? '', known) : undefined;
      return `unknown field${iss.keys.length > 1 ? 's' : ''} ${names}${hint ? ` (did you mean "${hint}"?)` : ''}; remove it or fix the spelling (known fields here: ${known.join(', ')})`;
    },
  });
}

/** A string matching `re`; `what` describes the accepted form and `fix` the change to make. */
export function pattern(re: RegExp, what: string, fix: string): z.ZodString {
  return z.string().refine((s) => re.test(s), { error: (iss) => `expected ${what}, got ${describeValue(iss.input)}; ${fix}` });
}

/** A byte size: `64MiB`, `1.5GiB`, or a number of bytes. Output: bytes. */
export const sizeSchema = z
  .custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', {
    error: (iss) => `expected a size, got ${describeValue(iss.input)}; ${SIZE_SYNTAX}`,
  })
  .transform((v, ctx) => {
    const n = tryParseSize(v);
    if (n === undefined) ctx.issues.push({ code: 'custom', input: v, message: `invalid size ${describeValue(v)}; ${SIZE_SYNTAX}` });
    return n ?? 0;
  });

/** A duration: `500ms`, `30s`, `5m`, `1h`, or a number of milliseconds. Output: ms. */
export const durationSchema = z
  .custom<string | number>((v) => typeof v === 'string' || typeof v === 'number', {
    error: (iss) => `expected a duration, got ${describeValue(iss.input)}; ${DURATION_SYNTAX}`,
  })
  .transform((v, ctx) => {
    const n = tryParseDuration(v);
    if (n === undefined) ctx.issues.push({ code: 'custom', input: v, message: `invalid duration ${describeValue(v)}; ${DURATION_SYNTAX}` });
    return n ?? 0;
  });

/** Refine a number schema to be > 0. */
export const positive = <T extends z.ZodType<number, unknown>>(s: T): T =>
  s.refine((n) => n > 0, { error: 'must be greater than 0; remove the field to use the default' });

/** A non-negative whole number (a count), no strings. */
export const countSchema = z
  .number()
  .refine((n) => Number.isSafeInteger(n) && n >= 0, { error: (iss) => `expected a whole number ≥ 0, got ${describeValue(iss.input)}; write a non-negative integer without quotes` });

/** One RBAC role name, e.g. `code-reviewer`. */
export const roleSchema = pattern(/^[^\s\u0000-\u001f\u007f]{1,128}$/, 'a role name (1–128 characters, no spaces)', 'shorten it or remove the spaces');

/** Catch a `PolicyError` thrown by a helper (network, regex) and report it on the current entry. */
export function viaHelper<I, T>(fn: (v: I) => T) {
  return (v: I, ctx: z.RefinementCtx): T => {
    try {
      return fn(v);
    } catch (e) {
      // The helper's message starts with its own default path; the formatter adds ours.
      const message = e instanceof Error ? e.message.replace(/^[^:]*: /, '') : String(e);
      ctx.issues.push({ code: 'custom', input: v, message });
      return z.NEVER;
    }
  };
}

