/**
 * The sandbox policy file: zod schemas (strict: unknown fields are errors, no coercion) and
 * the normalized {@link SandboxPolicy} type the rest of the sandbox reads.
 *
 * Each section has its own exported schema and the top-level shape is exported as
 * {@link policyShape}, so later features add sections with `strictPolicy({ ...policyShape,
 * rbac: rbacSchema })` instead of editing one big object. Validation, normalization and
 * warnings live in `normalize.ts`; reading files lives in `loader.ts`. Shared building blocks
 * (strict objects, sizes, durations) live in `schema-base.ts`; the authorization sections
 * (`roleDefinitions`, `accessPolicies`, `capabilityPolicies`, `securityPolicies`,
 * `dataPolicies`) in `src/authz/schema.ts`.
 *
 * @example
 * ```ts
 * const r = policySchema.safeParse({ version: 1, networkRules: { allowedHosts: ['api.github.com'] } });
 * ```
 */
import * as z from 'zod';
import { compileGlob, isCanonicalPath } from './glob.js';
import { canonicalizePolicyHost, normalizeProtocol, validatePort, type HttpScheme } from './network.js';
import { authzSectionsShape } from '../authz/schema.js';
import { safeRecord } from '../authz/schema-common.js';
import type { AuthzModel } from '../authz/types.js';
import { describeValue } from './issues.js';
import { canonicalAddressRange } from './address-ranges.js';
import { countSchema, durationSchema, pattern, positive, roleSchema, sizeSchema, strictPolicy, viaHelper } from './schema-base.js';

export { countSchema, durationSchema, roleSchema, sizeSchema, strictPolicy } from './schema-base.js';

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
  'messaging',
  'storage',
] as const);

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

const capabilityName = pattern(/^[a-z_]+$/, 'a capability name (lowercase letters and "_")', 'write it in lowercase, e.g. "read_files"');
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const envNameSchema = pattern(envName, 'an environment variable name (letters, digits and "_", not starting with a digit)', 'rename it');

/**
 * `agent: { type, version, mfaVerified, environment }`: who the agent is, all optional.
 * `version` is a string (`"1.0"`, quoted). `type`, `mfaVerified` (default false) and
 * `environment` (default `default`) are subject and context attributes for the
 * authorization model (security policy scopes and `where` tests, conditions).
 */
export const agentSchema = strictPolicy({
  type: z.string().min(1).optional(),
  version: z.string().min(1).optional(),
  mfaVerified: z.boolean().optional(),
  environment: z.string().min(1).max(128).optional(),
});

/** `capabilities: { allowed: [read_files], forbidden: [system_admin] }`; both default `[]`. */
export const capabilitiesSchema = strictPolicy({
  allowed: z.array(capabilityName).optional(),
  forbidden: z.array(capabilityName).optional(),
});

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
  /** Non-public addresses (CIDR) allowed host names may resolve to; default none (public only). */
  privateRanges: z.array(z.string().transform(viaHelper((r: string) => canonicalAddressRange(r)))).optional(),
  protocols: z.array(z.string().transform(viaHelper((p: string) => normalizeProtocol(p)))).optional(),
  maxResponseBytes: sizeSchema.optional(),
  /** Outgoing requests in flight at once (quota). */
  maxConnections: positive(countSchema).optional(),
  /** Request plus response body bytes per hour (quota). */
  dataTransferLimit: positive(sizeSchema).optional(),
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
  /** Calls per hour, by tool name (quota). */
  usageLimits: safeRecord(positive(countSchema)).optional(),
});

/**
 * `rateLimits: { network_access: { calls: 100, per: 1m } }`: at most `calls` gated calls
 * needing that capability per window, per agent.
 */
export const rateLimitsSchema = safeRecord(strictPolicy({ calls: positive(countSchema), per: positive(durationSchema) }));

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
  /** Bytes of files under each writable mount (quota). */
  diskQuota: positive(sizeSchema).optional(),
  /** Files, directories and links under each writable mount (quota). */
  maxFiles: positive(countSchema).optional(),
  maxProcesses: countSchema.optional(),
});

/** A topic name or pattern: dot-separated words of letters, digits, `_` and `-`; a pattern may end in `*` (`review.*`). */
const topicPattern = pattern(/^(?:\*|[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*(?:\.\*)?)$/, 'a topic (dot-separated words, optionally ending in ".*")', 'write it like "review.results" or "review.*"');

/**
 * `messaging: { peers: [code-reviewer, "id:orchestrator", "role:auditor"], topics: { publish: ["review.*"],
 * subscribe: ["review.*"] }, maxMessageBytes: 64KiB, mailbox: 256 }`. `peers` names the agents this one may
 * message: an agent type, `id:<agent id>`, `role:<role>` or `*` (default `[]`: only the
 * authorization model can grant). The `messaging` capability is needed either way.
 */
export const messagingSchema = strictPolicy({
  peers: z.array(pattern(/^(?:\*|(?:id:|role:)?[A-Za-z0-9][A-Za-z0-9_.:@-]{0,255})$/, 'an agent type, "id:<agent id>", "role:<role>" or "*"', 'e.g. "code-reviewer" or "id:orchestrator"')).optional(),
  topics: strictPolicy({ publish: z.array(topicPattern).optional(), subscribe: z.array(topicPattern).optional() }).optional(),
  /** Largest message body (default 64 KiB, at most 1 MiB). */
  maxMessageBytes: positive(sizeSchema).refine((n) => n <= 1024 * 1024, { error: 'at most 1MiB; split larger payloads' }).optional(),
  /** Messages waiting for this agent before senders are refused (default 256, at most 65,536). */
  mailbox: positive(countSchema).refine((n) => n <= 65_536, { error: 'at most 65536' }).optional(),
});

/**
 * `storage: { maxBytes: 16MiB, maxKeys: 10000, maxValueBytes: 1MiB }`: quotas of the agent's key-value namespace
 * (defaults as shown). The `storage` capability is needed for any key-value call.
 */
export const storageSchema = strictPolicy({
  maxBytes: positive(sizeSchema).optional(),
  maxKeys: positive(countSchema).optional(),
  maxValueBytes: positive(sizeSchema).optional(),
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
  messaging: messagingSchema.optional(),
  storage: storageSchema.optional(),
  resourceLimits: resourceLimitsSchema.optional(),
  rateLimits: rateLimitsSchema.optional(),
  allowedSyscalls: z.array(pattern(/^[a-z0-9_]+$/, 'a system call name', 'write the bare name, e.g. "read"')).optional(),
  // The authorization model (src/authz/schema.ts): roleDefinitions, accessPolicies,
  // capabilityPolicies, securityPolicies, dataPolicies (or `authz`, a loaded policy's model).
  ...authzSectionsShape,
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

/** See {@link messagingSchema}; normalized with defaults. */
export interface MessagingRules {
  readonly peers: readonly string[];
  readonly topics: { readonly publish: readonly string[]; readonly subscribe: readonly string[] };
  readonly maxMessageBytes: number;
  readonly mailbox: number;
}

/** See {@link storageSchema}; normalized with defaults. */
export interface StorageLimits {
  readonly maxBytes: number;
  readonly maxKeys: number;
  readonly maxValueBytes: number;
}

/** Defaults of `messaging` and `storage`. */
export const COMMS_DEFAULTS = Object.freeze({ maxMessageBytes: 64 * 1024, mailbox: 256, maxBytes: 16 * 1024 * 1024, maxKeys: 10_000, maxValueBytes: 1024 * 1024 });

/** Resource limits; an absent field means the engine default. Bytes and milliseconds. */
export interface ResourceLimits {
  readonly maxMemory?: number;
  readonly maxFuel?: number;
  readonly maxCpuTime?: number;
  readonly maxExecutionTime?: number;
  readonly maxOutputBytes?: number;
  readonly maxFileSize?: number;
  readonly maxProcesses?: number;
  readonly diskQuota?: number;
  readonly maxFiles?: number;
}

/**
 * A validated, normalized policy. Every list is present (default `[]`), every object is a
 * frozen null-prototype object, sizes are bytes, durations milliseconds, network hosts
 * canonical, mount host paths absolute.
 */
export interface SandboxPolicy {
  readonly version: 1;
  /** Who the agent is; absent when the file has no `agent`. */
  readonly agent?: { readonly type?: string; readonly version?: string; readonly mfaVerified?: boolean; readonly environment?: string };
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
    /** Non-public ranges (canonical CIDR) host names may resolve to. Absent: public addresses only. */
    readonly privateRanges?: readonly string[];
    readonly protocols: readonly HttpScheme[];
    readonly maxResponseBytes?: number;
    /** Quota: requests in flight at once. */
    readonly maxConnections?: number;
    /** Quota: body bytes per hour. */
    readonly dataTransferLimit?: number;
  };
  /** Host variables passed through by name, and fixed values. Default empty. */
  readonly env: { readonly allow: readonly string[]; readonly set: Readonly<Record<string, string>> };
  /** Host tool names (`name`, `prefix.*`, `prefix*`). Default `[]`. */
  readonly toolAccess: { readonly allow: readonly string[]; readonly usageLimits?: Readonly<Record<string, number>> };
  /** Who the agent may message and which topics it may use. Defaults: no peers, no topics, 64 KiB messages, a mailbox of 256. */
  readonly messaging: MessagingRules;
  /** Quotas of the agent's key-value namespace. Defaults: 16 MiB, 10,000 keys, 1 MiB per value. */
  readonly storage: StorageLimits;
  readonly resourceLimits: ResourceLimits;
  /** Calls per window by capability; absent when the policy sets none. */
  readonly rateLimits?: Readonly<Record<string, { readonly calls: number; readonly per: number }>>;
  /** Seed field, read by the container engine. Default `[]`. */
  readonly allowedSyscalls: readonly string[];
  /**
   * The authorization model: role definitions (including the presets that `roles:` and
   * `parentRoles` name), access, capability, security and data policies. Always present, every
   * section a (possibly empty) list. The property is enumerable only when the model is not
   * empty, so a policy without one keeps its earlier shape; a policy with one survives
   * `structuredClone` and JSON, and its `authz` is accepted again as input (round trip).
   */
  readonly authz: Required<AuthzModel>;
}

/**
 * Non-enumerable marker on every policy produced by the loader, so APIs that accept "a
 * policy object or an already loaded policy" can skip re-validation. It does not survive
 * `structuredClone` or JSON; re-validate after crossing a boundary.
 */
export const LOADED_POLICY: unique symbol = Symbol.for('agent-os-sandbox.loaded-policy');
