/**
 * The sandbox policy file: zod schemas (strict: unknown fields are errors, no coercion) and
 * the normalized {@link SandboxPolicy} type the rest of the sandbox reads.
 *
 * Each section has its own exported schema and the top-level shape is exported as
 * {@link policyShape}, so later features add sections with `strictPolicy({ ...policyShape,
 * rbac: rbacSchema })` instead of editing one big object. Validation, normalization and
 * warnings live in `normalize.ts`; reading files lives in `loader.ts`.
 *
 * @example
 * ```ts
 * const r = policySchema.safeParse({ version: 1, networkRules: { allowedHosts: ['api.github.com'] } });
 * ```
 */
import * as z from 'zod';
import { DURATION_SYNTAX, SIZE_SYNTAX, tryParseDuration, tryParseSize } from '../util/units.js';
import { compileGlob, isCanonicalPath } from './glob.js';
import { canonicalizePolicyHost, normalizeProtocol, validatePort, type HttpScheme } from './network.js';
import { describeValue, suggest } from './issues.js';

/** Capabilities the sandbox knows. Other `[a-z_]+` names are accepted (with a warning). */
export const KNOWN_CAPABILITIES = Object.freeze([
  'read_files',
  'write_files',
  'network_access',
  'execute_tools',
  'read_env',
  'system_admin',
  'file_system_admin',
  'network_admin',
] as const);

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
function pattern(re: RegExp, what: string, fix: string): z.ZodString {
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

const positive = <T extends z.ZodType<number, unknown>>(s: T): T =>
  s.refine((n) => n > 0, { error: 'must be greater than 0; remove the field to use the default' });

/** A non-negative whole number (a count), no strings. */
export const countSchema = z
  .number()
  .refine((n) => Number.isSafeInteger(n) && n >= 0, { error: (iss) => `expected a whole number ≥ 0, got ${describeValue(iss.input)}; write a non-negative integer without quotes` });

/** A guest path: absolute and canonical. */
export const guestPathSchema = z.string().refine(isCanonicalPath, {
  error: (iss) =>
    String(iss.input).startsWith('/')
      ? `${describeValue(iss.input)} is not canonical; remove ".", ".." and empty segments and any trailing "/"`
      : `expected an absolute guest path, got ${describeValue(iss.input)}; start it with "/", e.g. "/workspace"`,
});

/** A glob over guest paths (see `glob.ts`); compiled here so errors point at the entry. */
export const globSchema = z.string().superRefine((p, ctx) => {
  try {
    compileGlob(p);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: e instanceof Error ? e.message : String(e) });
  }
});

/** Catch a `PolicyError` thrown by a network helper and report it on the current entry. */
function viaHelper<I, T>(fn: (v: I) => T) {
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

const capabilityName = pattern(/^[a-z_]+$/, 'a capability name (lowercase letters and "_")', 'write it in lowercase, e.g. "read_files"');
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envNameSchema = pattern(envName, 'an environment variable name (letters, digits and "_", not starting with a digit)', 'rename it');

/** `agent: { type, version }`, informational. Both optional; `version` is a string (`"1.0"`, quoted). */
export const agentSchema = strictPolicy({
  type: z.string().min(1).optional(),
  version: z.string().min(1).optional(),
});

/** `capabilities: { allowed: [read_files], forbidden: [system_admin] }`; both default `[]`. */
export const capabilitiesSchema = strictPolicy({
  allowed: z.array(capabilityName).optional(),
  forbidden: z.array(capabilityName).optional(),
});

/** One RBAC role name, e.g. `code-reviewer`. */
export const roleSchema = pattern(/^[^\s\u0000-\u001f\u007f]{1,128}$/, 'a role name (1–128 characters, no spaces)', 'shorten it or remove the spaces');

/** One mount, e.g. `{ guest: /workspace, host: ./repo, mode: ro }`; `mode` defaults to `ro`. */
export const mountSchema = strictPolicy({
  guest: guestPathSchema,
  host: z
    .string()
    .min(1)
    .refine((h) => !h.includes('\0'), { error: 'a host path cannot contain NUL; remove it' })
    .refine((h) => !h.startsWith('~'), { error: '"~" is not expanded; write an absolute path or one relative to the policy file' }),
  mode: z.enum(['ro', 'rw']).optional(),
});

function overlaps(a: string, b: string): boolean {
  return a === b || a === '/' || b === '/' || b.startsWith(`${a}/`) || a.startsWith(`${b}/`);
}

/** The mount list; two mounts may not share or nest guest paths (`/w` and `/w/sub`). */
export const mountsSchema = z.array(mountSchema).superRefine((mounts, ctx) => {
  for (let j = 1; j < mounts.length; j++) {
    for (let i = 0; i < j; i++) {
      const a = mounts[i]?.guest ?? '';
      const b = mounts[j]?.guest ?? '';
      if (!overlaps(a, b)) continue;
      const how = a === b ? 'is the same guest path as' : 'is nested with';
      ctx.addIssue({ code: 'custom', path: [j, 'guest'], message: `"${b}" ${how} mounts[${i}].guest "${a}"; give each mount its own separate guest directory` });
      break;
    }
  }
});

/** `fileAccess: { readonly: ['/w/**'], readwrite: [], forbidden: ['/w/.git/**'] }`; each list defaults to `[]`. */
export const fileAccessSchema = strictPolicy({
  readonly: z.array(globSchema).optional(),
  readwrite: z.array(globSchema).optional(),
  forbidden: z.array(globSchema).optional(),
});

/**
 * `networkRules: { allowedHosts: [api.github.com], allowedPorts: [443], protocols: [https], maxResponseBytes: 10MiB }`.
 * Hosts come out canonical; defaults are applied by normalization (see {@link SandboxPolicy}).
 */
export const networkRulesSchema = strictPolicy({
  allowedHosts: z.array(z.string().transform(viaHelper((h: string) => canonicalizePolicyHost(h)))).optional(),
  allowedPorts: z.array(z.number().transform(viaHelper((p: number) => validatePort(p)))).optional(),
  protocols: z.array(z.string().transform(viaHelper((p: string) => normalizeProtocol(p)))).optional(),
  maxResponseBytes: sizeSchema.optional(),
});

/** `env: { allow: [LANG], set: { MODE: review } }`; names match `^[A-Za-z_][A-Za-z0-9_]*$`, values are strings. */
export const envSchema = strictPolicy({
  allow: z.array(envNameSchema).optional(),
  set: z
    .record(z.string(), z.string().refine((v) => !v.includes('\0'), { error: 'an environment value cannot contain NUL; remove it' }))
    .superRefine((rec, ctx) => {
      for (const k of Object.keys(rec)) {
        if (!envName.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: `${JSON.stringify(k)} is not an environment variable name (letters, digits and "_", not starting with a digit); rename it` });
      }
    })
    .optional(),
});

/** `toolAccess: { allow: [search, "git.*"] }`; a `*` may only end a name. Default `[]`. */
export const toolAccessSchema = strictPolicy({
  allow: z
    .array(
      pattern(
        /^(?:\*|[A-Za-z0-9_][A-Za-z0-9_.:/-]*(?:\.\*|\*)?)$/,
        'a tool name (letters, digits and "_.:/-", optionally ending in ".*" or "*")',
        'a "*" may only end the name, e.g. "git.*"',
      ),
    )
    .optional(),
});

/**
 * `resourceLimits: { maxMemory: 256MiB, maxFuel: 5000000000, maxCpuTime: 30m, maxExecutionTime: 30s,
 * maxOutputBytes: 1MiB, maxFileSize: 100MiB, maxProcesses: 10 }`. All optional (engine defaults);
 * sizes in bytes and durations in ms when written as numbers.
 */
export const resourceLimitsSchema = strictPolicy({
  maxMemory: positive(sizeSchema).optional(),
  maxFuel: positive(countSchema).optional(),
  maxCpuTime: positive(durationSchema).optional(),
  maxExecutionTime: positive(durationSchema).optional(),
  maxOutputBytes: sizeSchema.optional(),
  maxFileSize: sizeSchema.optional(),
  maxProcesses: countSchema.optional(),
});

/** The top-level fields of a policy file, for extension by later sections. */
export const policyShape = {
  version: z.literal(1, { error: (iss) => (iss.input === undefined ? 'missing; add "version: 1" at the top of the policy' : `expected 1, got ${describeValue(iss.input)}; write "version: 1"`) }),
  agent: agentSchema.optional(),
  capabilities: capabilitiesSchema.optional(),
  roles: z.array(roleSchema).optional(),
  mounts: mountsSchema.optional(),
  fileAccess: fileAccessSchema.optional(),
  networkRules: networkRulesSchema.optional(),
  env: envSchema.optional(),
  toolAccess: toolAccessSchema.optional(),
  resourceLimits: resourceLimitsSchema.optional(),
  allowedSyscalls: z.array(pattern(/^[a-z0-9_]+$/, 'a system call name', 'write the bare name, e.g. "read"')).optional(),
};

/** The policy file schema (strict). Sizes and durations come out as numbers. */
export const policySchema = strictPolicy(policyShape);

/** A policy as written in a file (before validation): what `policySchema` accepts. */
export type SandboxPolicyInput = z.input<typeof policySchema>;

/** What `policySchema` outputs: validated, sizes/durations converted, not yet normalized. */
export type ParsedPolicy = z.output<typeof policySchema>;

/** A mount: guest directory → host directory (absolute, resolved at load time). */
export interface PolicyMount {
  readonly guest: string;
  readonly host: string;
  /** Default `'ro'`. */
  readonly mode: 'ro' | 'rw';
}

/** Resource limits; an absent field means the engine default. Bytes and milliseconds. */
export interface ResourceLimits {
  readonly maxMemory?: number;
  readonly maxFuel?: number;
  readonly maxCpuTime?: number;
  readonly maxExecutionTime?: number;
  readonly maxOutputBytes?: number;
  readonly maxFileSize?: number;
  readonly maxProcesses?: number;
}

/**
 * A validated, normalized policy. Every list is present (default `[]`), every object is a
 * frozen null-prototype object, sizes are bytes, durations milliseconds, network hosts
 * canonical, mount host paths absolute.
 */
export interface SandboxPolicy {
  readonly version: 1;
  /** Informational; absent when the file has no `agent`. */
  readonly agent?: { readonly type?: string; readonly version?: string };
  /** Default both `[]`. Forbidden wins over allowed. */
  readonly capabilities: { readonly allowed: readonly string[]; readonly forbidden: readonly string[] };
  /** RBAC roles (enforced by the RBAC layer). Default `[]`. */
  readonly roles: readonly string[];
  /** Default `[]`: no files. */
  readonly mounts: readonly PolicyMount[];
  /** Guest-path globs. Default all `[]`. */
  readonly fileAccess: { readonly readonly: readonly string[]; readonly readwrite: readonly string[]; readonly forbidden: readonly string[] };
  /**
   * Default: no hosts, protocols `['https']`, `allowedPorts` absent (= the default port of
   * each scheme), `maxResponseBytes` absent (= engine default).
   */
  readonly networkRules: {
    readonly allowedHosts: readonly string[];
    readonly allowedPorts?: readonly number[];
    readonly protocols: readonly HttpScheme[];
    readonly maxResponseBytes?: number;
  };
  /** Host variables passed through by name, and fixed values. Default empty. */
  readonly env: { readonly allow: readonly string[]; readonly set: Readonly<Record<string, string>> };
  /** Host tool names (`name`, `prefix.*`, `prefix*`). Default `[]`. */
  readonly toolAccess: { readonly allow: readonly string[] };
  readonly resourceLimits: ResourceLimits;
  /** Seed field, read by the container engine. Default `[]`. */
  readonly allowedSyscalls: readonly string[];
}

/**
 * Non-enumerable marker on every policy produced by the loader, so APIs that accept "a
 * policy object or an already loaded policy" can skip re-validation. It does not survive
 * `structuredClone` or JSON; re-validate after crossing a boundary.
 */
export const LOADED_POLICY: unique symbol = Symbol.for('agent-os-sandbox.loaded-policy');
