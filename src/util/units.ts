/**
 * Size and duration parsing for policy files and CLI flags (`--memory 256MiB`, `--timeout 30s`).
 *
 * Both parsers accept either a number (bytes / milliseconds) or a short string with a unit,
 * and reject everything else with a {@link PolicyError} that names the field and shows an
 * accepted example. Parsing is exact: fractional strings (`1.5GiB`) are computed with BigInt
 * arithmetic and rounded down, so no floating-point error can creep into a limit.
 *
 * @example
 * ```ts
 * parseSize('64MiB', 'resourceLimits.maxMemory');        // 67108864
 * parseDuration('1.5s', 'resourceLimits.maxExecutionTime'); // 1500
 * formatBytes(67108864);                                  // '64MiB'
 * ```
 */
import { PolicyError } from '../errors.js';

/** Multipliers of the accepted size units, keyed by lowercase unit name. */
const SIZE_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['', 1n],
  ['b', 1n],
  ['kib', 1024n],
  ['mib', 1024n ** 2n],
  ['gib', 1024n ** 3n],
  ['tib', 1024n ** 4n],
  ['kb', 1000n],
  ['mb', 1000n ** 2n],
  ['gb', 1000n ** 3n],
  ['tb', 1000n ** 4n],
]);

/** Multipliers of the accepted duration units (case-sensitive: `m` is minutes, never months). */
const DURATION_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['', 1n],
  ['ms', 1n],
  ['s', 1000n],
  ['m', 60_000n],
  ['h', 3_600_000n],
  ['d', 86_400_000n],
]);

/**
 * A decimal number followed by an optional unit. The two groups are disjoint character
 * classes separated by an optional single space, so the regex cannot backtrack
 * catastrophically. Input length is capped before matching anyway.
 */
const QUANTITY = /^(\d+)(?:\.(\d+))?[ ]?([A-Za-z]*)$/;

/** Longest string we try to parse; anything longer is certainly a mistake. */
const MAX_QUANTITY_LENGTH = 40;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Parse `value` as `int[.frac] * multiplier`, rounded down. Returns `undefined` when the
 * string is malformed, the unit unknown, or the result above `Number.MAX_SAFE_INTEGER`.
 */
function parseQuantity(value: string, units: ReadonlyMap<string, bigint>, foldCase: boolean): number | undefined {
  if (value.length === 0 || value.length > MAX_QUANTITY_LENGTH) return undefined;
  const m = QUANTITY.exec(value);
  if (!m) return undefined;
  const [, intPart = '', fracPart = '', rawUnit = ''] = m;
  const mult = units.get(foldCase ? rawUnit.toLowerCase() : rawUnit);
  if (mult === undefined) return undefined;
  // int.frac * mult == (int * 10^k + frac) * mult / 10^k, exact in BigInt; division floors.
  const scale = 10n ** BigInt(fracPart.length);
  const result = ((BigInt(intPart) * scale + BigInt(fracPart || '0')) * mult) / scale;
  return result <= MAX_SAFE ? Number(result) : undefined;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  return `${value === null ? 'null' : typeof value}`;
}

/**
 * Parse a byte size.
 *
 * Accepts a non-negative safe integer (bytes), or a string: digits with an optional
 * fraction, an optional single space and an optional unit. Units (case-insensitive):
 * `B`, `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024) and `kB`, `MB`, `GB`, `TB` (powers of
 * 1000). No unit means bytes. Fractions are rounded down (`1.5KiB` → 1536, `0.5B` → 0).
 *
 * @param value the size, e.g. `'64MiB'`, `'1.5GiB'`, `'100MB'`, `1024`
 * @param field the field name used in the error message; default `'size'`
 * @returns the size in bytes, a safe integer ≥ 0
 * @throws PolicyError (`POLICY_INVALID`) for negative, fractional numbers, NaN, unknown
 *   units, empty strings or results above `Number.MAX_SAFE_INTEGER`
 * @example
 * ```ts
 * parseSize('512KiB'); // 524288
 * parseSize(4096);     // 4096
 * ```
 */
export function parseSize(value: string | number, field = 'size'): number {
  const result = tryParseSize(value);
  if (result === undefined) {
    throw new PolicyError(`${field}: invalid size ${describe(value)}; ${SIZE_SYNTAX}`, { path: field, value: detailValue(value) });
  }
  return result;
}

/** What {@link parseSize} accepts, phrased as advice for error messages. */
export const SIZE_SYNTAX =
  'expected a non-negative whole number of bytes or a string such as "64MiB" (units: B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)';

/** What {@link parseDuration} accepts, phrased as advice for error messages. */
export const DURATION_SYNTAX =
  'expected a non-negative whole number of milliseconds or a string such as "30s" (units: ms, s, m, h, d)';

/**
 * {@link parseSize} without the throw: the byte count, or `undefined` for anything invalid
 * (including values that are neither strings nor numbers). For validators that build their
 * own error messages.
 *
 * @example
 * ```ts
 * tryParseSize('1KiB'); // 1024
 * tryParseSize('1 KB!'); // undefined
 * ```
 */
export function tryParseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  return typeof value === 'string' ? parseQuantity(value, SIZE_UNITS, true) : undefined;
}

/**
 * {@link parseDuration} without the throw: milliseconds, or `undefined` for anything invalid.
 *
 * @example
 * ```ts
 * tryParseDuration('2m'); // 120000
 * ```
 */
export function tryParseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  return typeof value === 'string' ? parseQuantity(value, DURATION_UNITS, false) : undefined;
}

function detailValue(value: unknown): string | number {
  return typeof value === 'string' || typeof value === 'number' ? value : String(value);
}

/**
 * Parse a duration into milliseconds.
 *
 * Accepts a non-negative safe integer (milliseconds), or a string: digits with an optional
 * fraction, an optional single space and an optional unit: `ms`, `s`, `m` (minutes), `h`.
 * Units are case-sensitive so that `M` can never be misread as months. No unit means
 * milliseconds. Fractions are rounded down to whole milliseconds (`1.5s` → 1500).
 *
 * @param value the duration, e.g. `'500ms'`, `'30s'`, `'5m'`, `'1h'`, `1500`
 * @param field the field name used in the error message; default `'duration'`
 * @returns the duration in milliseconds, a safe integer ≥ 0
 * @throws PolicyError (`POLICY_INVALID`) for anything else
 * @example
 * ```ts
 * parseDuration('5m');  // 300000
 * parseDuration(250);   // 250
 * ```
 */
export function parseDuration(value: string | number, field = 'duration'): number {
  const result = tryParseDuration(value);
  if (result === undefined) {
    throw new PolicyError(`${field}: invalid duration ${describe(value)}; ${DURATION_SYNTAX}`, { path: field, value: detailValue(value) });
  }
  return result;
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * Format a byte count for humans, in the same syntax {@link parseSize} accepts, so a value
 * printed in an error message can be pasted back into a policy. Exact multiples print
 * exactly (`268435456` → `'256MiB'`); others print with up to two decimals (`'1.33GiB'`).
 * Values below 1 KiB print as bytes (`'512B'`).
 *
 * @example
 * ```ts
 * formatBytes(1536); // '1.5KiB'
 * ```
 */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const sign = n < 0 ? '-' : '';
  let v = Math.abs(n);
  if (v < 1024) return `${sign}${v}B`;
  let unit: string = 'B';
  for (const u of BYTE_UNITS) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  const text = Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/\.?0+$/, '');
  return `${sign}${text}${unit}`;
}

const DURATION_STEPS: readonly (readonly [number, string])[] = [
  [3_600_000, 'h'],
  [60_000, 'm'],
  [1000, 's'],
];

/**
 * Format a millisecond duration for humans, in a syntax {@link parseDuration} accepts
 * (`1500` → `'1.5s'`, `300000` → `'5m'`, `250` → `'250ms'`).
 *
 * @example
 * ```ts
 * formatDuration(30_000); // '30s'
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const abs = Math.abs(ms);
  const [size, unit] = DURATION_STEPS.find(([step]) => abs >= step) ?? [1, 'ms'];
  const v = ms / size;
  const text = Number.isInteger(v) ? String(v) : v.toFixed(3).replace(/\.?0+$/, '');
  return `${text}${unit}`;
}
