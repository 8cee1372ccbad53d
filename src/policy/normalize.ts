/**
 * Validate plain policy data against `policySchema` and normalize it into a
 * {@link SandboxPolicy}: every list present, sizes in bytes, durations in milliseconds,
 * canonical hosts, absolute mount host paths, and every object a frozen null-prototype
 * object so that no key from a policy can reach a prototype. Cross-field warnings (e.g. a
 * capability both allowed and forbidden) are returned beside the policy.
 *
 * @example
 * ```ts
 * const { policy, warnings } = validatePolicy({ version: 1 }, { source: '<inline>' });
 * ```
 */
import { resolve } from 'node:path';
import { PRESET_SANDBOX_POLICY_NAMES, presetSandboxPolicy } from '../authz/presets.js';
import { buildAuthzModel, isEmptyModel } from '../authz/schema-model.js';
import { PolicyError } from '../errors.js';
import { compileNetworkRules } from './network.js';
import { fromZodIssue, policyIssuesError, type PolicyIssue } from './issues.js';
import {
  COMMS_DEFAULTS,
  KNOWN_CAPABILITIES,
  LOADED_POLICY,
  policySchema,
  type ParsedPolicy,
  type PolicyMount,
  type ResourceLimits,
  type SandboxPolicy,
} from './schema.js';

/** Where the data came from, for messages and relative mount paths. */
export interface ValidateOptions {
  /** Shown at the start of every message. Default `'<policy>'`. */
  readonly source?: string;
  /** Relative `mounts[].host` paths resolve against this. Default `process.cwd()`. */
  readonly baseDir?: string;
}

/** A normalized policy and the warnings found while validating it. */
export interface ValidatedPolicy {
  readonly policy: SandboxPolicy;
  readonly warnings: string[];
}

/**
 * A frozen null-prototype object with the defined entries of `props`; `loaded` adds the
 * non-enumerable {@link LOADED_POLICY} marker (it must go on before freezing).
 */
function record<T extends object>(props: T, loaded = false, hidden: Record<string, unknown> = {}): T {
  const out = Object.create(null) as Record<string, unknown>;
  for (const [k, v] of Object.entries(props)) if (v !== undefined) out[k] = v;
  if (loaded) Object.defineProperty(out, LOADED_POLICY, { value: true, enumerable: false });
  for (const [k, v] of Object.entries(hidden)) Object.defineProperty(out, k, { value: v, enumerable: false });
  return Object.freeze(out) as T;
}

/** A frozen null-prototype copy of a mapping (values mapped by `f`). */
function nullProto<V, W = V>(m: Readonly<Record<string, V>>, f: (v: V) => W = (v) => v as unknown as W): Readonly<Record<string, W>> {
  const out = Object.create(null) as Record<string, W>;
  for (const [k, v] of Object.entries(m)) out[k] = f(v);
  return Object.freeze(out);
}

function list<T>(xs: readonly T[] | undefined): readonly T[] {
  return Object.freeze([...(xs ?? [])]);
}

function normalize(p: ParsedPolicy, baseDir: string, authz: SandboxPolicy['authz']): SandboxPolicy {
  const mounts: PolicyMount[] = (p.mounts ?? []).map((m) =>
    record({ guest: m.guest, host: resolve(baseDir, m.host), mode: m.mode ?? 'ro' }),
  );
  const nr = p.networkRules;
  const set = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(p.env?.set ?? {})) set[k] = v;
  // An empty model stays out of the enumerable shape (see SandboxPolicy.authz).
  const emptyModel = isEmptyModel(authz);
  const policy = record<SandboxPolicy>({
    version: 1,
    agent: p.agent ? record({ type: p.agent.type, version: p.agent.version, mfaVerified: p.agent.mfaVerified, environment: p.agent.environment }) : undefined,
    capabilities: record({ allowed: list(p.capabilities?.allowed), forbidden: list(p.capabilities?.forbidden) }),
    roles: list(p.roles),
    mounts: list(mounts),
    fileAccess: record({
      readonly: list(p.fileAccess?.readonly),
      readwrite: list(p.fileAccess?.readwrite),
      forbidden: list(p.fileAccess?.forbidden),
    }),
    networkRules: record({
      allowedHosts: list(nr?.allowedHosts),
      allowedPorts: nr?.allowedPorts ? list(nr.allowedPorts) : undefined,
      privateRanges: nr?.privateRanges?.length ? list([...new Set(nr.privateRanges)]) : undefined,
      protocols: list(nr?.protocols ? [...new Set(nr.protocols)] : ['https' as const]),
      maxResponseBytes: nr?.maxResponseBytes,
      maxConnections: nr?.maxConnections,
      dataTransferLimit: nr?.dataTransferLimit,
    }),
    env: record({ allow: list(p.env?.allow), set: Object.freeze(set) }),
    toolAccess: record({ allow: list(p.toolAccess?.allow), usageLimits: p.toolAccess?.usageLimits ? nullProto(p.toolAccess.usageLimits as Record<string, number>) : undefined }),
    messaging: record({
      peers: list(p.messaging?.peers),
      topics: record({ publish: list(p.messaging?.topics?.publish), subscribe: list(p.messaging?.topics?.subscribe) }),
      maxMessageBytes: p.messaging?.maxMessageBytes ?? COMMS_DEFAULTS.maxMessageBytes,
      mailbox: p.messaging?.mailbox ?? COMMS_DEFAULTS.mailbox,
    }),
    storage: record({
      maxBytes: p.storage?.maxBytes ?? COMMS_DEFAULTS.maxBytes,
      maxKeys: p.storage?.maxKeys ?? COMMS_DEFAULTS.maxKeys,
      maxValueBytes: p.storage?.maxValueBytes ?? COMMS_DEFAULTS.maxValueBytes,
    }),
    resourceLimits: record<ResourceLimits>({ ...(p.resourceLimits ?? {}) }),
    rateLimits: p.rateLimits ? nullProto(p.rateLimits as Record<string, { calls: number; per: number }>, (v) => record({ calls: v.calls, per: v.per })) : undefined,
    allowedSyscalls: list(p.allowedSyscalls),
    authz: (emptyModel ? undefined : authz) as SandboxPolicy['authz'],
  }, true, emptyModel ? { authz } : {});
  return policy;
}

/** Cross-field checks that are not errors but are almost certainly mistakes. */
function warningsFor(p: SandboxPolicy): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const allowed = new Set(p.capabilities.allowed);
  const forbidden = new Set(p.capabilities.forbidden);
  const known = new Set<string>(KNOWN_CAPABILITIES);
  for (const c of allowed) {
    if (forbidden.has(c)) out.push({ path: 'capabilities', message: `"${c}" is both allowed and forbidden; forbidden wins, so the agent will not get it` });
  }
  for (const key of ['allowed', 'forbidden'] as const) {
    p.capabilities[key].forEach((c, i) => {
      if (!known.has(c)) {
        out.push({ path: `capabilities.${key}[${i}]`, message: `"${c}" is not a known capability (known: ${KNOWN_CAPABILITIES.join(', ')}); it is kept but may have no effect` });
      }
    });
  }
  for (const c of Object.keys(p.rateLimits ?? {})) {
    if (!known.has(c)) out.push({ path: `rateLimits.${c}`, message: `"${c}" is not a known capability (known: ${KNOWN_CAPABILITIES.join(', ')}); this rate limit never applies` });
  }
  const usable = (c: string): boolean => allowed.has(c) && !forbidden.has(c);
  if (p.networkRules.allowedHosts.length > 0 && !usable('network_access')) {
    out.push({ path: 'networkRules', message: 'hosts are listed but network_access is not granted, so every request will be denied; add network_access to capabilities.allowed' });
  }
  if (p.mounts.length > 0 && !usable('read_files') && !usable('write_files')) {
    out.push({ path: 'mounts', message: 'mounts are listed but neither read_files nor write_files is granted, so no file is reachable; add read_files to capabilities.allowed' });
  }
  p.mounts.forEach((m, i) => {
    if (m.mode === 'rw' && !usable('write_files')) {
      out.push({ path: `mounts[${i}].mode`, message: 'the mount is rw but write_files is not granted, so writes will be denied; add write_files to capabilities.allowed or make the mount ro' });
    }
  });
  if (p.mounts.length === 0 && p.fileAccess.readonly.length + p.fileAccess.readwrite.length > 0) {
    out.push({ path: 'fileAccess', message: 'file patterns are listed but there are no mounts, so no file is reachable; add a mount such as { guest: /workspace, host: ./repo }' });
  }
  return out;
}

/**
 * `{ preset: codeReviewerPolicy }` (optionally with `version: 1`) stands for the preset's data.
 * Anything else is returned unchanged.
 */
function expandPreset(data: unknown, source: string): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data) || !Object.hasOwn(data, 'preset')) return data;
  const d = data as Record<string, unknown>;
  const others = Object.keys(d).filter((k) => k !== 'preset' && k !== 'version');
  if (others.length > 0) {
    throw policyIssuesError(source, [{ path: others[0]!, message: 'a preset reference stands for a whole policy and cannot be combined with other fields; copy the preset into the file and edit it instead' }]);
  }
  const name = d['preset'];
  if (typeof name !== 'string' || !PRESET_SANDBOX_POLICY_NAMES.includes(name)) {
    throw policyIssuesError(source, [{ path: 'preset', message: `unknown sandbox policy preset ${JSON.stringify(name)}; use one of ${PRESET_SANDBOX_POLICY_NAMES.join(', ')}` }]);
  }
  return { ...presetSandboxPolicy(name), ...(d['version'] !== undefined ? { version: d['version'] } : {}) };
}

/**
 * Validate plain data (already parsed from YAML/JSON, or a caller's object) and normalize it.
 *
 * @throws PolicyError (`POLICY_INVALID`) listing every problem as
 *   `<source>: <path>: <problem>; <what to change>`, with `details.path` the first path
 * @example
 * ```ts
 * validatePolicy({ version: 1, mounts: [{ guest: '/w', host: './repo' }] }, { baseDir: '/srv' })
 *   .policy.mounts[0].host; // '/srv/repo'
 * ```
 */
export function validatePolicy(data: unknown, opts: ValidateOptions = {}): ValidatedPolicy {
  const source = opts.source ?? '<policy>';
  data = expandPreset(data, source);
  let parsed: ParsedPolicy;
  try {
    const r = policySchema.safeParse(data, { reportInput: true });
    if (!r.success) throw policyIssuesError(source, r.error.issues.map(fromZodIssue));
    parsed = r.data;
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    // Fail closed: a validator crash is reported as an invalid policy, never let through.
    throw policyIssuesError(source, [{ path: '(top level)', message: `could not be validated: ${e instanceof Error ? e.message : String(e)}` }], e);
  }
  // Legacy policies name roles without defining any model: an unknown name then only warns
  // (it grants nothing). As soon as the file defines a model, unknown names are errors.
  const built = buildAuthzModel(parsed, parsed.roles ?? [], { unknownRoles: 'warn' });
  if (built.issues.length > 0) throw policyIssuesError(source, built.issues);
  const policy = normalize(parsed, opts.baseDir ?? process.cwd(), built.model);
  try {
    compileNetworkRules(policy.networkRules);
  } catch (e) {
    const path = (e as { details?: { path?: string } }).details?.path ?? 'networkRules';
    throw policyIssuesError(source, [{ path, message: e instanceof Error ? e.message.replace(/^[^:]*: /, '') : String(e) }], e);
  }
  const found: PolicyIssue[] = [...built.warnings, ...warningsFor(policy)];
  const warnings = found.map((w) => `${source}: ${w.path}: ${w.message}`);
  return { policy, warnings };
}
