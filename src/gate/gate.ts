/**
 * The gate: the single choke point every capability call passes through.
 *
 * Order for every request: canonical request in → capability guard (the capability must be
 * allowed and not forbidden) → resource check (mount + fileAccess globs, network rules, env
 * names, tool names) → audit event → the capability implementation acts on the same canonical
 * value it asked about. Anything the policy does not grant is denied; deny overrides allow; an
 * exception while deciding denies.
 */
import { compileGlobSet, type GlobSet } from '../policy/glob.js';
import { compileNetworkRules, type HttpTarget, type NetworkMatcher } from '../policy/network.js';
import type { AccessRequest, AuditEvent, AuditSink, Decision } from './types.js';

/** The part of a normalized policy the gate reads. */
export interface GatePolicy {
  readonly capabilities: { readonly allowed: readonly string[]; readonly forbidden: readonly string[] };
  readonly mounts: readonly { readonly guest: string; readonly host: string; readonly mode: 'ro' | 'rw' }[];
  readonly fileAccess?:
    | { readonly readonly: readonly string[]; readonly readwrite: readonly string[]; readonly forbidden: readonly string[] }
    | undefined;
  readonly networkRules?:
    | { readonly allowedHosts: readonly string[]; readonly allowedPorts?: readonly number[] | undefined; readonly protocols?: readonly string[] | undefined }
    | undefined;
  readonly env?: { readonly allow: readonly string[]; readonly set: Readonly<Record<string, string>> } | undefined;
  readonly toolAccess?: { readonly allow: readonly string[] } | undefined;
}

/** A mount as the gate and the filesystem capability see it. */
export interface Mount {
  readonly guest: string;
  readonly host: string;
  readonly mode: 'ro' | 'rw';
}

/** File actions: `read` covers open-for-read, stat, readdir, readlink; `write` everything that changes. */
export type FileAction = 'read' | 'write';


function decision(allowed: boolean, reason: string, matched: readonly string[] = [], hidden = false): Decision {
  return hidden ? { allowed, reason, matched, hidden } : { allowed, reason, matched };
}

/**
 * One gate per agent instance. Construct with the instance's policy, its id and an audit sink.
 *
 * @example
 * ```ts
 * const gate = new Gate(policy, agentId, (e) => events.push(e));
 * const d = gate.file('read', '/workspace/a.ts', 'wasi:filesystem/types#open-at');
 * if (!d.allowed) return err(d.hidden ? 'no-entry' : 'access');
 * ```
 */
export class Gate {
  private readonly allowedCaps: ReadonlySet<string>;
  private readonly forbiddenCaps: ReadonlySet<string>;
  private readonly readGlobs: GlobSet | undefined;
  private readonly writeGlobs: GlobSet | undefined;
  private readonly forbiddenGlobs: GlobSet | undefined;
  private readonly network: NetworkMatcher | undefined;
  private readonly envNames: ReadonlySet<string>;
  private readonly toolPatterns: readonly string[];
  private readonly envCache = new Map<string, Decision>();
  readonly mounts: readonly Mount[];

  constructor(
    policy: GatePolicy,
    readonly agentId: string,
    private readonly sink: AuditSink,
  ) {
    this.allowedCaps = new Set(policy.capabilities.allowed);
    this.forbiddenCaps = new Set(policy.capabilities.forbidden);
    // Longest guest prefix first, so nested lookups find the most specific mount.
    this.mounts = [...policy.mounts].sort((a, b) => b.guest.length - a.guest.length);
    const fa = policy.fileAccess;
    // With no readonly/readwrite globs at all, the mounts alone decide (ro: read, rw: read and
    // write); `forbidden` applies either way.
    if (fa && fa.readonly.length + fa.readwrite.length > 0) {
      this.readGlobs = compileGlobSet([...fa.readonly, ...fa.readwrite]);
      this.writeGlobs = compileGlobSet([...fa.readwrite]);
    }
    if (fa && fa.forbidden.length > 0) this.forbiddenGlobs = compileGlobSet([...fa.forbidden]);
    this.network = policy.networkRules ? compileNetworkRules(policy.networkRules as never) : undefined;
    this.envNames = new Set([...(policy.env?.allow ?? []), ...Object.keys(policy.env?.set ?? {})]);
    this.toolPatterns = policy.toolAccess?.allow ?? [];
  }

  /** Record an event (used by capabilities for summaries and by the engine for lifecycle). */
  record(event: Omit<AuditEvent, 'time' | 'agentId'>): void {
    this.sink({ time: Date.now(), agentId: this.agentId, ...event });
  }

  private finish(req: AccessRequest, d: Decision): Decision {
    this.sink({
      time: Date.now(),
      agentId: this.agentId,
      type: d.allowed ? 'capability_used' : 'capability_denied',
      capability: req.capability,
      resource: req.resource,
      action: req.action,
      target: req.target,
      outcome: d.allowed ? 'allowed' : 'denied',
      reason: d.reason,
      api: req.api,
      ...(d.matched.length > 0 ? { matched: d.matched } : {}),
    });
    return d;
  }

  /** Decide and record; any exception while deciding is a denial (fail closed). */
  private decide(req: AccessRequest, fn: () => Decision): Decision {
    let d: Decision;
    try {
      d = fn();
    } catch (e) {
      d = decision(false, `evaluation error (denied): ${e instanceof Error ? e.message : String(e)}`);
    }
    return this.finish(req, d);
  }

  /** The seed's capability guard: allowed and not forbidden. */
  capabilityGranted(capability: string): Decision {
    if (this.forbiddenCaps.has(capability)) {
      return decision(false, `capability ${capability} is in capabilities.forbidden`, [`capabilities.forbidden:${capability}`]);
    }
    if (!this.allowedCaps.has(capability)) {
      return decision(false, `capability ${capability} is not granted; add it to capabilities.allowed`);
    }
    return decision(true, `capability ${capability} granted`, [`capabilities.allowed:${capability}`]);
  }

  /** The mount that holds `guestPath` (canonical), if any. */
  mountFor(guestPath: string): Mount | undefined {
    for (const m of this.mounts) {
      if (m.guest === '/' || guestPath === m.guest || guestPath.startsWith(m.guest + '/')) return m;
    }
    return undefined;
  }

  /**
   * Decide a file access on a canonical guest path.
   * `isDir` widens read access to directories that can contain a readable file (so a guest can
   * walk to `/workspace/src/a.ts` under `readonly: ['/workspace/**\/*.ts']`).
   */
  file(action: FileAction, guestPath: string, api: string, isDir = false): Decision {
    const capability = action === 'read' ? 'read_files' : 'write_files';
    const req: AccessRequest = { capability, resource: 'file', action, target: guestPath, api };
    return this.decide(req, () => this.fileDecision(action, capability, guestPath, isDir));
  }

  /** Whether a path is forbidden (used to hide directory entries without recording each). */
  isHidden(guestPath: string): boolean {
    return this.forbiddenGlobs?.matches(guestPath) ?? false;
  }

  /**
   * Whether some forbidden path could lie below `dir`: moving such a directory would carry
   * hidden files to a name the forbidden globs no longer match, so the filesystem refuses it.
   */
  mayHideBelow(dir: string): boolean {
    return this.forbiddenGlobs?.mayContain(dir) ?? false;
  }

  /** Whether a directory entry should appear in a listing (no audit event per entry). */
  isListable(guestPath: string, isDir: boolean): boolean {
    if (this.isHidden(guestPath)) return false;
    if (!this.readGlobs) return true;
    return this.readGlobs.matches(guestPath) || (isDir && this.readGlobs.mayContain(guestPath));
  }

  private fileDecision(action: FileAction, capability: string, guestPath: string, isDir: boolean): Decision {
    const forbidden = this.forbiddenGlobs?.firstMatch(guestPath);
    if (forbidden !== undefined) {
      return decision(false, `${guestPath} matches fileAccess.forbidden ${JSON.stringify(forbidden)}`, [`fileAccess.forbidden:${forbidden}`], true);
    }
    const cap = this.capabilityGranted(capability);
    if (!cap.allowed) return cap;
    const mount = this.mountFor(guestPath);
    if (!mount) {
      return decision(false, `${guestPath} is not under any mount; add a mount for it`, [], true);
    }
    if (action === 'write' && mount.mode !== 'rw') {
      return decision(false, `mount ${mount.guest} is read-only; set mode: rw on it to allow writes`, [`mounts:${mount.guest}`]);
    }
    const globs = action === 'read' ? this.readGlobs : this.writeGlobs;
    if (!globs) {
      return decision(true, `${action} allowed: inside ${mount.mode} mount ${mount.guest} (no fileAccess lists)`, [
        cap.matched[0]!,
        `mounts:${mount.guest}`,
      ]);
    }
    const hit = globs.firstMatch(guestPath);
    if (hit !== undefined) {
      return decision(true, `${action} allowed by fileAccess ${JSON.stringify(hit)}`, [cap.matched[0]!, `fileAccess:${hit}`]);
    }
    if (action === 'read' && isDir && globs.mayContain(guestPath)) {
      return decision(true, `directory ${guestPath} may contain readable files`, [cap.matched[0]!, 'fileAccess:traverse']);
    }
    const list = action === 'read' ? 'fileAccess.readonly or fileAccess.readwrite' : 'fileAccess.readwrite';
    return decision(false, `${guestPath} is not in ${list}; add a matching glob to allow ${action}`);
  }

  /** Decide an outbound HTTP request on a parsed, canonical target. */
  http(target: HttpTarget, api: string): Decision {
    const origin = `${target.scheme}://${target.authority}`;
    const req: AccessRequest = { capability: 'network_access', resource: 'network', action: 'connect', target: origin, api };
    return this.decide(req, () => {
      const cap = this.capabilityGranted('network_access');
      if (!cap.allowed) return cap;
      if (!this.network) return decision(false, 'no networkRules in the policy; add networkRules.allowedHosts');
      const r = this.network.check(target);
      return decision(r.allowed, r.reason, r.allowed && r.rule ? [cap.matched[0]!, `networkRules:${r.rule}`] : []);
    });
  }

  /** Record a request that is malformed or not supported at all (sockets, DNS, bad URLs). */
  refuse(req: AccessRequest, reason: string): Decision {
    return this.finish(req, decision(false, reason));
  }

  /** Decide reading one environment variable. */
  env(name: string, api: string): Decision {
    const req: AccessRequest = { capability: 'read_env', resource: 'env', action: 'read', target: name, api };
    // Env decisions depend only on the policy, which is fixed for this gate: cache them, which
    // also hands the audit encoder the same string objects every time.
    let d = this.envCache.get(name);
    if (!d) {
      d = this.envNames.has(name)
        ? decision(true, `env ${name} allowed`, [`env:${name}`])
        : decision(false, `environment variable ${name} is not in env.allow`);
      if (this.envCache.size < 4096) this.envCache.set(name, d);
    }
    return this.finish(req, d);
  }

  /** Names of environment variables the policy exposes (for `get-environment`). */
  envAllowed(name: string): boolean {
    return this.envNames.has(name);
  }

  /** Decide invoking a host tool. */
  tool(name: string, api: string): Decision {
    const req: AccessRequest = { capability: 'execute_tools', resource: 'tool', action: 'invoke', target: name, api };
    return this.decide(req, () => {
      const hit = this.toolPatterns.find((p) => toolMatches(p, name));
      return hit !== undefined
        ? decision(true, `tool ${name} allowed by toolAccess ${JSON.stringify(hit)}`, [`toolAccess:${hit}`])
        : decision(false, `tool ${name} is not in toolAccess.allow; add it to let the agent call it`);
    });
  }

  /** Whether a tool name is granted (no audit; used to filter `available`). */
  toolAllowed(name: string): boolean {
    return this.toolPatterns.some((p) => toolMatches(p, name));
  }
}

/** `search` matches itself; `git.*` matches `git.status`; `*` matches every tool. */
export function toolMatches(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

