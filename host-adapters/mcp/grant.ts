/**
 * Capability grants: what `agentos_request_capability` may ask to add to an agent's policy,
 * written in the policy's own format, and how an approved grant widens a policy.
 *
 * A grant only adds permissions, and only these lists:
 *
 * ```yaml
 * capabilities: { allowed: [read_files] }
 * fileAccess:   { readonly: ['/data/**'], readwrite: ['/tmp/**'] }   # inside the agent's mounts
 * networkRules: { allowedHosts: [api.example.com], allowedPorts: [8443], protocols: [https] }
 * env:          { allow: [LANG] }
 * toolAccess:   { allow: [search] }
 * ```
 *
 * Nothing a grant holds can remove a deny: `capabilities.forbidden`, `fileAccess.forbidden`
 * and the authorization model's deny rules stay as they were and keep winning (deny overrides
 * allow). Mounts (host directories), fixed environment values, limits, roles and the
 * authorization model are the host's configuration and cannot be granted. Network lists
 * combine as in any policy: every allowed host with every allowed port and protocol.
 */
import { parsePolicyText, PolicyError, UsageError, type SandboxPolicy } from 'agent-os-sandbox';

/** A grant, canonical: only the lists it adds to, each non-empty, values as the policy normalizes them. */
export interface CapabilityGrant {
  readonly capabilities?: { readonly allowed: readonly string[] };
  readonly fileAccess?: { readonly readonly?: readonly string[]; readonly readwrite?: readonly string[] };
  readonly networkRules?: { readonly allowedHosts?: readonly string[]; readonly allowedPorts?: readonly number[]; readonly protocols?: readonly string[] };
  readonly env?: { readonly allow: readonly string[] };
  readonly toolAccess?: { readonly allow: readonly string[] };
}

/** The lists a grant may add to, by policy section. */
export const GRANTABLE: Readonly<Record<string, readonly string[]>> = Object.freeze({
  capabilities: ['allowed'],
  fileAccess: ['readonly', 'readwrite'],
  networkRules: ['allowedHosts', 'allowedPorts', 'protocols'],
  env: ['allow'],
  toolAccess: ['allow'],
});

/** Largest grant accepted, as JSON (a grant is a few names, not a policy). */
export const MAX_GRANT_BYTES = 16 * 1024;

const DEFAULT_PORT: Readonly<Record<string, number>> = { http: 80, https: 443 };

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const grantable = (): string => Object.entries(GRANTABLE).flatMap(([s, fields]) => fields.map((f) => `${s}.${f}`)).join(', ');

/**
 * Check a grant and return it canonical: only known lists (anything else is refused, naming
 * it), each validated by the policy schema (a capability name, a glob, a host, a port, a
 * variable name, a tool pattern) and normalized as a policy would be, duplicates dropped.
 *
 * @throws UsageError naming what is wrong (`grant.fileAccess.forbidden: ...`).
 * @example `parseGrant({ env: { allow: ['LANG'] } })` → `{ env: { allow: ['LANG'] } }`
 */
export function parseGrant(value: unknown): CapabilityGrant {
  if (!isPlainObject(value)) throw new UsageError('grant: expected an object in the policy format, e.g. {"fileAccess": {"readonly": ["/data/**"]}}');
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    throw new UsageError('grant: not plain JSON data');
  }
  if (Buffer.byteLength(json, 'utf8') > MAX_GRANT_BYTES) throw new UsageError(`grant: over ${MAX_GRANT_BYTES} bytes; ask for what the task needs`);
  for (const [section, body] of Object.entries(value)) {
    const fields = GRANTABLE[section];
    if (fields === undefined) throw new UsageError(`grant.${section}: a grant can only add to ${grantable()}`);
    if (!isPlainObject(body)) throw new UsageError(`grant.${section}: expected an object`);
    for (const field of Object.keys(body)) {
      if (!fields.includes(field)) throw new UsageError(`grant.${section}.${field}: a grant can only add to ${grantable()}`);
      if (!Array.isArray(body[field])) throw new UsageError(`grant.${section}.${field}: expected a list`);
    }
  }
  // The policy schema checks every value, exactly as it would in a policy file.
  let parsed: SandboxPolicy;
  try {
    parsed = parsePolicyText(JSON.stringify({ version: 1, ...value }), { format: 'json', source: 'grant' }).policy;
  } catch (e) {
    if (e instanceof PolicyError) throw new UsageError(e.message);
    throw e;
  }
  const out: Record<string, Record<string, unknown[]>> = {};
  for (const [section, body] of Object.entries(value as Record<string, Record<string, unknown>>)) {
    for (const field of Object.keys(body)) {
      const list = [...new Set((parsed as unknown as Record<string, Record<string, unknown[]>>)[section]![field] ?? [])];
      if (list.length > 0) (out[section] ??= {})[field] = list;
    }
  }
  if (Object.keys(out).length === 0) throw new UsageError(`grant: asks for nothing; name what to add to ${grantable()}`);
  return out as CapabilityGrant;
}

const union = <T>(a: readonly T[] | undefined, b: readonly T[] | undefined): T[] => [...new Set([...(a ?? []), ...(b ?? [])])];

/**
 * The policy widened by a (canonical) grant: each granted list joined to the policy's own,
 * every deny left as it was. An absent `networkRules.allowedPorts` means the default port of
 * each protocol; a grant that adds ports keeps those defaults in the list it writes.
 *
 * @returns the validated policy and the loader's warnings (e.g. a granted capability that
 *   `capabilities.forbidden` still denies).
 * @throws PolicyError when the widened policy is invalid.
 */
export function widenPolicy(policy: SandboxPolicy, grant: CapabilityGrant): { policy: SandboxPolicy; warnings: readonly string[] } {
  const raw = JSON.parse(JSON.stringify(policy)) as Record<string, any>;
  if (grant.capabilities) raw['capabilities'] = { ...raw['capabilities'], allowed: union(policy.capabilities.allowed, grant.capabilities.allowed) };
  if (grant.fileAccess) {
    raw['fileAccess'] = {
      ...raw['fileAccess'],
      readonly: union(policy.fileAccess.readonly, grant.fileAccess.readonly),
      readwrite: union(policy.fileAccess.readwrite, grant.fileAccess.readwrite),
    };
  }
  const net = grant.networkRules;
  if (net) {
    const nr = policy.networkRules;
    raw['networkRules'] = {
      ...raw['networkRules'],
      allowedHosts: union(nr.allowedHosts, net.allowedHosts),
      protocols: union(nr.protocols, net.protocols),
      ...(net.allowedPorts ? { allowedPorts: union(nr.allowedPorts ?? nr.protocols.map((p) => DEFAULT_PORT[p]!), net.allowedPorts) } : {}),
    };
  }
  if (grant.env) raw['env'] = { ...raw['env'], allow: union(policy.env.allow, grant.env.allow) };
  if (grant.toolAccess) raw['toolAccess'] = { ...raw['toolAccess'], allow: union(policy.toolAccess.allow, grant.toolAccess.allow) };
  const { policy: widened, warnings } = parsePolicyText(JSON.stringify(raw), { format: 'json', source: 'the widened policy' });
  return { policy: widened, warnings };
}

/** A short text of a grant for messages: `fileAccess.readonly ["/data/a.txt"], env.allow ["LANG"]`. */
export function grantText(grant: CapabilityGrant): string {
  return Object.entries(grant as Record<string, Record<string, unknown[]>>)
    .flatMap(([section, body]) => Object.entries(body).map(([field, list]) => `${section}.${field} ${JSON.stringify(list)}`))
    .join(', ');
}
