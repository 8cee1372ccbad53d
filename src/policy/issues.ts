/**
 * Turning validation problems into messages that say where, what, and what to change:
 * `networkRules.allowedPorts[0]: expected a number, got string "443"; remove the quotes`.
 * Internal to the policy module (schema, normalizer and loader share it).
 *
 * @example
 * ```ts
 * formatPath(['networkRules', 'allowedPorts', 0]); // 'networkRules.allowedPorts[0]'
 * ```
 */
import type * as z from 'zod';
import { PolicyError } from '../errors.js';

/** One problem found in a policy. `path` is printable (`a.b[0]`, or `(top level)`). */
export interface PolicyIssue {
  readonly path: string;
  readonly message: string;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function clip(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * Print a field path: `['env', 'set', 'A B', 0]` → `env.set["A B"][0]`; `[]` → `(top level)`.
 *
 * @example
 * ```ts
 * formatPath(['mounts', 1, 'guest']); // 'mounts[1].guest'
 * ```
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENT.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${clip(JSON.stringify(String(key)))}]`;
  }
  return out === '' ? '(top level)' : out;
}

/**
 * Describe a value for an error message: `string "443"`, `number 443`, `true`, `null`,
 * `a list`, `a mapping`, `nothing`.
 *
 * @example
 * ```ts
 * describeValue('443'); // 'string "443"'
 * ```
 */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `string ${clip(JSON.stringify(v))}`;
  if (typeof v === 'number' || typeof v === 'bigint') return `number ${String(v)}`;
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? Number.POSITIVE_INFINITY;
}

/**
 * The known name closest to a misspelled one (case-insensitive, at most 2 edits), if any.
 *
 * @example
 * ```ts
 * suggest('allowedPort', ['allowedHosts', 'allowedPorts']); // 'allowedPorts'
 * ```
 */
export function suggest(name: string, known: readonly string[]): string | undefined {
  if (name.length > 64) return undefined;
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  // "network" for "networkRules": a known field that starts with what was written.
  return best ?? (lower.length >= 3 ? known.find((k) => k.toLowerCase().startsWith(lower)) : undefined);
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
};

function typeHint(expected: string, input: unknown): string {
  if (expected === 'number' && typeof input === 'string' && /^-?\d+(\.\d+)?$/.test(input)) return 'remove the quotes';
  if (expected === 'boolean' && (input === 'true' || input === 'false')) return 'remove the quotes';
  if (expected === 'string' && (typeof input === 'number' || typeof input === 'boolean')) {
    return typeof input === 'boolean' || Number.isInteger(input)
      ? `put it in quotes: "${String(input)}"`
      : 'put it in quotes (unquoted, YAML reads it as a number)';
  }
  if (expected === 'array' && (typeof input === 'string' || typeof input === 'number')) return `write it as a list: [${String(input)}]`;
  return `change it to ${TYPE_NAMES[expected] ?? expected}`;
}

/**
 * Convert one zod issue into a {@link PolicyIssue} with our wording. Parse with
 * `reportInput: true` so messages can show the offending value.
 *
 * @example
 * ```ts
 * const r = policySchema.safeParse(data, { reportInput: true });
 * if (!r.success) r.error.issues.map(fromZodIssue);
 * ```
 */
export function fromZodIssue(issue: z.core.$ZodIssue): PolicyIssue {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type': {
      const expected = String(issue.expected);
      if (input === undefined) return { path: formatPath(issue.path), message: `required field is missing; add it (${TYPE_NAMES[expected] ?? expected})` };
      if (expected === 'number' && typeof input === 'number') {
        return { path: formatPath(issue.path), message: `expected a finite number, got ${String(input)}; write a whole number` };
      }
      return {
        path: formatPath(issue.path),
        message: `expected ${TYPE_NAMES[expected] ?? expected}, got ${describeValue(input)}; ${typeHint(expected, input)}`,
      };
    }
    case 'unrecognized_keys':
      return { path: formatPath(issue.keys.length === 1 ? [...issue.path, issue.keys[0] ?? ''] : issue.path), message: issue.message };
    case 'invalid_value':
      if (issue.message.startsWith('Invalid')) {
        const values = issue.values.map((v) => JSON.stringify(v)).join(', ');
        return { path: formatPath(issue.path), message: `expected one of ${values}, got ${describeValue(input)}; use one of those` };
      }
      return { path: formatPath(issue.path), message: issue.message };
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return { path: formatPath(issue.path), message: 'must not be empty' };
      return { path: formatPath(issue.path), message: issue.message };
    default:
      return { path: formatPath(issue.path), message: issue.message };
  }
}

/** How many problems one error message lists before summarizing the rest. */
const MAX_LISTED = 20;

/**
 * The `PolicyError` for a list of problems: one line per problem,
 * `<source>: <path>: <problem>; <what to change>`. `details.path` is the first problem's
 * path, `details.issues` all of them (capped at 100).
 *
 * @example
 * ```ts
 * throw policyIssuesError('policy.yaml', [{ path: 'version', message: 'missing; add "version: 1"' }]);
 * ```
 */
export function policyIssuesError(source: string, issues: readonly PolicyIssue[], cause?: unknown): PolicyError {
  const list = issues.length > 0 ? issues : [{ path: '(top level)', message: 'invalid policy' }];
  const lines = list.slice(0, MAX_LISTED).map((i) => `${source}: ${i.path}: ${i.message}`);
  if (list.length > MAX_LISTED) lines.push(`${source}: … and ${list.length - MAX_LISTED} more problems`);
  return new PolicyError(
    lines.join('\n'),
    { path: list[0]?.path ?? '(top level)', source, issues: list.slice(0, 100).map((i) => ({ path: i.path, message: i.message })) },
    cause === undefined ? undefined : { cause },
  );
}
