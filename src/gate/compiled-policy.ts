/**
 * What the gate derives from one policy, once per policy: capability sets, compiled globs and
 * network rules, mounts by specificity, the authorization model and the agent as its subject.
 * Every decision reads this, never the policy's raw text.
 */
import { compileGlobSet, type GlobSet } from '../policy/glob.js';
import { compileNetworkRules, type NetworkMatcher } from '../policy/network.js';
import { compileAuthz, type AuthzEngine } from '../authz/engine.js';
import type { AuthzModel, Subject } from '../authz/types.js';

/** The part of a normalized policy the gate reads. */
export interface GatePolicy {
  readonly capabilities: { readonly allowed: readonly string[]; readonly forbidden: readonly string[] };
  readonly mounts: readonly { readonly guest: string; readonly host: string; readonly mode: 'ro' | 'rw' }[];
  readonly fileAccess?:
    | { readonly readonly: readonly string[]; readonly readwrite: readonly string[]; readonly forbidden: readonly string[] }
    | undefined;
  readonly networkRules?:
    | {
        readonly allowedHosts: readonly string[];
        readonly allowedPorts?: readonly number[] | undefined;
        readonly protocols?: readonly string[] | undefined;
        /** Non-public ranges allowed names may resolve to (checked where the name is resolved). */
        readonly privateRanges?: readonly string[] | undefined;
      }
    | undefined;
  readonly env?: { readonly allow: readonly string[]; readonly set: Readonly<Record<string, string>> } | undefined;
  readonly toolAccess?: { readonly allow: readonly string[] } | undefined;
  /** RBAC roles assigned to the agent. */
  readonly roles?: readonly string[] | undefined;
  /** Who the agent is (subject attributes for the authorization model). */
  readonly agent?: { readonly type?: string | undefined; readonly mfaVerified?: boolean | undefined; readonly environment?: string | undefined } | undefined;
  /** The authorization model (roles, access, capability, security and data policies). */
  readonly authz?: AuthzModel | undefined;
  /** Who the agent may message (`src/gate/comms.ts` decides on it). */
  readonly messaging?: { readonly peers: readonly string[]; readonly topics: { readonly publish: readonly string[]; readonly subscribe: readonly string[] } } | undefined;
}

/** A mount as the gate and the filesystem capability see it. */
export interface Mount {
  readonly guest: string;
  readonly host: string;
  readonly mode: 'ro' | 'rw';
}

/** Everything the gate derives from one policy. */
export interface CompiledPolicy {
  readonly policy: GatePolicy;
  readonly allowedCaps: ReadonlySet<string>;
  readonly forbiddenCaps: ReadonlySet<string>;
  readonly readGlobs: GlobSet | undefined;
  readonly writeGlobs: GlobSet | undefined;
  readonly forbiddenGlobs: GlobSet | undefined;
  readonly network: NetworkMatcher | undefined;
  readonly envNames: ReadonlySet<string>;
  readonly toolPatterns: readonly string[];
  readonly mounts: readonly Mount[];
  readonly authz: AuthzEngine | undefined;
  readonly subject: Subject;
  readonly environment: string;
}

/** Compile `policy` for the agent `agentId` (done once per policy, never per decision). */
export function compilePolicy(policy: GatePolicy, agentId: string): CompiledPolicy {
  const fa = policy.fileAccess;
  const model = policy.authz;
  const roles = policy.roles ?? [];
  // Assigned roles count only when defined (in the file or as presets); an unknown role name
  // was reported at load and grants nothing.
  const defined = new Set((model?.roles ?? []).map((r) => r.name));
  const grants = roles.some((r) => defined.has(r)) || (model?.accessPolicies?.length ?? 0) > 0 || (model?.capabilityPolicies?.length ?? 0) > 0;
  const restricts = (model?.securityPolicies?.length ?? 0) > 0 || (model?.dataPolicies?.length ?? 0) > 0;
  return {
    policy,
    allowedCaps: new Set(policy.capabilities.allowed),
    forbiddenCaps: new Set(policy.capabilities.forbidden),
    // Longest guest prefix first, so nested lookups find the most specific mount.
    mounts: [...policy.mounts].sort((a, b) => b.guest.length - a.guest.length),
    // With no readonly/readwrite globs at all, the mounts alone decide (ro: read, rw: read and
    // write); `forbidden` applies either way.
    readGlobs: fa && fa.readonly.length + fa.readwrite.length > 0 ? compileGlobSet([...fa.readonly, ...fa.readwrite]) : undefined,
    writeGlobs: fa && fa.readonly.length + fa.readwrite.length > 0 ? compileGlobSet([...fa.readwrite]) : undefined,
    forbiddenGlobs: fa && fa.forbidden.length > 0 ? compileGlobSet([...fa.forbidden]) : undefined,
    network: policy.networkRules ? compileNetworkRules(policy.networkRules as never) : undefined,
    envNames: new Set([...(policy.env?.allow ?? []), ...Object.keys(policy.env?.set ?? {})]),
    toolPatterns: policy.toolAccess?.allow ?? [],
    // The model applies when it can grant (roles, access or capability policies: then a grant
    // is required) or restrict (security and data policies).
    authz: model && (grants || restricts) ? compileAuthz(model, { requireGrant: grants }) : undefined,
    subject: {
      id: agentId,
      roles: [...roles],
      ...(policy.agent?.type !== undefined ? { type: policy.agent.type } : {}),
      mfaVerified: policy.agent?.mfaVerified ?? false,
    },
    environment: policy.agent?.environment ?? 'default',
  };
}

/** The most specific mount holding `guestPath` (a canonical guest path), if any. */
export function mountIn(c: CompiledPolicy, guestPath: string): Mount | undefined {
  for (const m of c.mounts) {
    if (m.guest === '/' || guestPath === m.guest || guestPath.startsWith(m.guest + '/')) return m;
  }
  return undefined;
}

/** The extension of a path's last component (`.ts`), or '' (none, or a dotfile such as `.env`). */
export function extensionOf(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot) : '';
}

/** `search` matches itself; `git.*` matches `git.status`; `*` matches every tool. */
export function toolMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

