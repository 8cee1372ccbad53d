/**
 * The gate: the single choke point every capability call passes through.
 *
 * Order for every request: canonical request in → capability guard (the capability must be
 * allowed and not forbidden) → resource check (mount + fileAccess globs, network rules, env
 * names, tool names) → audit event → the capability implementation acts on the same canonical
 * value it asked about. Anything the policy does not grant is denied; deny overrides allow; an
 * exception while deciding denies.
 */
import type { HttpTarget } from '../policy/network.js';
import type { AuthzDecision, AuthzRequest } from '../authz/types.js';
import { compilePolicy, extensionOf, mountIn, toolMatches, type CompiledPolicy, type GatePolicy, type Mount } from './compiled-policy.js';
import type { AccessRequest, AuditEvent, AuditSink, Decision } from './types.js';
import { HOUR, type QuotaExceeded, type QuotaLedger } from '../limits/quota.js';
import type { Indicators } from '../monitor/indicators.js';

export { toolMatches, type GatePolicy, type Mount } from './compiled-policy.js';

/** The calling instance's authentication state, as the gate checks it before every decision. */
export interface GateAuth {
  /** Whether the identity still holds (one atomic load in practice). */
  authenticated(): boolean;
  /** Why not, for the record. */
  why(): string;
  /** Whether the agent is quarantined (then every call is refused with reason `quarantined`). */
  quarantined?(): boolean;
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
  private c!: CompiledPolicy;
  private envCache = new Map<string, Decision>();
  private indicators: Indicators | undefined;

  constructor(
    policy: GatePolicy,
    readonly agentId: string,
    private readonly sink: AuditSink,
    /**
     * Called before every decision; returns a new policy when one was published for this
     * agent (a swap or a revocation), so the very next call is decided under it.
     */
    private readonly refresh?: () => GatePolicy | undefined,
    /** The agent's quota ledger (rates, tool usage, network); absent: no quotas. */
    readonly quota?: QuotaLedger,
    /**
     * Who is calling: the instance's identity must still be authenticated (not revoked, not
     * expired, its token valid) for any call to be decided; absent: no identity layer.
     */
    private readonly auth?: GateAuth,
  ) {
    this.setPolicy(policy);
  }

  /**
   * The quota a call that the policy allows must also pass: the capability's rate limit, a
   * tool's hourly usage limit, the network's connection and transfer limits.
   */
  private quotaFor(req: AccessRequest): QuotaExceeded | undefined {
    const q = this.quota;
    if (!q) return undefined;
    const rate = q.policy.rates?.[req.capability];
    if (rate) {
      const x = q.take(`rate:${req.capability}`, 1, rate.calls, rate.perMs, `rateLimits.${req.capability}`);
      if (x) return x;
    }
    if (req.resource === 'tool') {
      const limit = q.policy.toolUsage?.[req.target];
      if (limit !== undefined) return q.take(`tool:${req.target}`, 1, limit, HOUR, `toolAccess.usageLimits.${req.target}`);
    }
    if (req.resource === 'network') {
      const p = q.policy;
      if (p.dataTransferLimit !== undefined) {
        const used = q.used('net:bytes', HOUR);
        if (used >= p.dataTransferLimit) return { limit: 'networkRules.dataTransferLimit', requested: 1, allowed: p.dataTransferLimit, used, windowMs: HOUR };
      }
      if (p.maxConnections !== undefined) {
        const open = q.gauge('net:conn', 0);
        if (open >= p.maxConnections) return { limit: 'networkRules.maxConnections', requested: open + 1, allowed: p.maxConnections, used: open };
        q.gauge('net:conn', 1);
      }
    }
    return undefined;
  }

  /**
   * Deny, on every network decision, the hosts and addresses of a threat-intelligence list
   * (whatever the policy allows: deny overrides allow).
   */
  setIndicators(indicators: Indicators | undefined): void {
    this.indicators = indicators?.empty ? undefined : indicators;
  }

  /**
   * Why connecting to `address` (what `name` resolved to) is refused by the threat-intelligence
   * list, or undefined. For resolvers outside the gate (the native agents' egress proxy): a
   * name the policy allows may still lead to a listed range.
   */
  blockedAddress(address: string, name: string): { reason: string; rule: string } | undefined {
    const hit = this.indicators?.address(address);
    if (!hit) return undefined;
    return { reason: `blocked indicator: ${name} resolved to ${address}, in ${hit} of the threat-intelligence list ${this.indicators!.data.source}`, rule: `indicator:${hit}` };
  }

  /**
   * `networkRules.privateRanges` of the policy the last decision used: the non-public ranges
   * an allowed host name may resolve to. Read right after `http()`, so that the address check
   * after the lookup uses the policy that allowed the name.
   */
  privateRanges(): readonly string[] {
    return this.c.policy.networkRules?.privateRanges ?? [];
  }

  /** Replace the policy this gate decides with. The caller has validated it. */
  setPolicy(policy: GatePolicy): void {
    this.c = compilePolicy(policy, this.agentId);
    this.envCache = new Map();
  }

  private current(): CompiledPolicy {
    if (this.refresh) {
      const next = this.refresh();
      if (next) {
        this.setPolicy(next);
        this.record({ type: 'policy_updated', capability: 'policy', resource: 'agent', action: 'update', target: this.agentId, outcome: 'allowed', reason: 'a new policy took effect', api: 'agent.updatePolicy' });
      }
    }
    return this.c;
  }

  /** The mounts of the current policy, most specific first. */
  get mounts(): readonly Mount[] {
    return this.c.mounts;
  }

  /** Record an event (used by capabilities for summaries and by the engine for lifecycle). */
  record(event: Omit<AuditEvent, 'time' | 'agentId'>): void {
    this.sink({ time: Date.now(), agentId: this.agentId, ...event }, false);
  }

  /**
   * Record the decision, then return it; if the record cannot be written the call is refused
   * whatever was decided (no unaudited access).
   */
  private finish(req: AccessRequest, decided: Decision, started?: number): Decision {
    let d = decided;
    // Authenticate before authorizing: a caller whose identity no longer holds gets nothing.
    if (this.auth && !this.auth.authenticated()) {
      d = this.auth.quarantined?.()
        ? { allowed: false, reason: `quarantined: ${this.auth.why()}; the call was refused`, matched: ['monitor:quarantine'] }
        : { allowed: false, reason: `AUTHENTICATION_FAILED: ${this.auth.why()}; the call was refused`, matched: [], unauthenticated: true };
    }
    const over = d.allowed ? this.quotaFor(req) : undefined;
    if (over) {
      d = {
        allowed: false,
        reason: `QUOTA_EXCEEDED: ${over.limit} allows ${over.allowed}${over.windowMs ? ` per ${over.windowMs / 1000} s` : ''} and ${over.used} ${over.windowMs ? 'were used in this window' : 'are in use'}; raise it in the policy or wait`,
        matched: d.matched,
        quota: over,
      };
    }
    const recorded = this.sink({
      time: Date.now(),
      agentId: this.agentId,
      type: d.unauthenticated ? 'authentication_failure' : d.quota ? 'limit_exceeded' : d.allowed ? 'capability_used' : 'capability_denied',
      capability: req.capability,
      resource: req.resource,
      action: req.action,
      target: req.target,
      outcome: d.allowed ? 'allowed' : 'denied',
      reason: d.reason,
      api: req.api,
      ...(d.matched.length > 0 ? { matched: d.matched } : {}),
      ...(d.actions && d.actions.length > 0 ? { actions: d.actions } : {}),
      ...(d.wouldDeny ? { wouldDeny: d.wouldDeny } : {}),
      ...(d.quota || req.details ? { details: { ...req.details, ...d.quota } } : {}),
      ...(started !== undefined ? { elapsedUs: (performance.now() - started) * 1000 } : {}),
    }, true);
    if (recorded === false) {
      return { allowed: false, reason: `AUDIT_UNAVAILABLE: the audit log cannot record this call, so it is refused; ${req.api} on ${req.target} was not performed`, matched: [], auditUnavailable: true };
    }
    return d;
  }

  /** Decide and record; any exception while deciding is a denial (fail closed). */
  private decide(req: AccessRequest, fn: (c: CompiledPolicy) => Decision, authz?: (c: CompiledPolicy) => AuthzRequest | undefined): Decision {
    const started = performance.now();
    let d: Decision;
    try {
      const c = this.current();
      d = fn(c);
      // Layer two: the authorization model, when the policy has one. Both layers must allow.
      if (d.allowed && c.authz && authz) {
        const areq = authz(c);
        if (areq) d = combine(d, c.authz.decide(areq));
      }
    } catch (e) {
      d = decision(false, `evaluation error (denied): ${e instanceof Error ? e.message : String(e)}`);
    }
    return this.finish(req, d, started);
  }

  /** The seed's capability guard: allowed and not forbidden. */
  capabilityGranted(capability: string): Decision {
    return this.capability(this.current(), capability);
  }

  private capability(c: CompiledPolicy, capability: string): Decision {
    if (c.forbiddenCaps.has(capability)) {
      return decision(false, `capability ${capability} is in capabilities.forbidden`, [`capabilities.forbidden:${capability}`]);
    }
    if (!c.allowedCaps.has(capability)) {
      return decision(false, `capability ${capability} is not granted; add it to capabilities.allowed`);
    }
    return decision(true, `capability ${capability} granted`, [`capabilities.allowed:${capability}`]);
  }

  /** The mount that holds `guestPath` (canonical), if any. */
  mountFor(guestPath: string): Mount | undefined {
    return mountIn(this.current(), guestPath);
  }

  /**
   * Decide a file access on a canonical guest path.
   * `isDir` widens read access to directories that can contain a readable file (so a guest can
   * walk to `/workspace/src/a.ts` under `readonly: ['/workspace/**\/*.ts']`).
   */
  file(action: FileAction, guestPath: string, api: string, isDir = false, size?: bigint): Decision {
    const capability = action === 'read' ? 'read_files' : 'write_files';
    const req: AccessRequest = { capability, resource: 'file', action, target: guestPath, api };
    return this.decide(
      req,
      (c) => this.fileDecision(c, action, capability, guestPath, isDir),
      // Directories are traversed, not read: the model decides on files.
      (c) => (isDir ? undefined : this.authzRequest(c, { type: 'file', path: guestPath, extension: extensionOf(guestPath), ...(size !== undefined ? { size: Number(size) } : {}) }, action, api)),
    );
  }

  /** Whether a path is forbidden (used to hide directory entries without recording each). */
  isHidden(guestPath: string): boolean {
    return this.current().forbiddenGlobs?.matches(guestPath) ?? false;
  }

  /**
   * Whether some forbidden path could lie below `dir`: moving such a directory would carry
   * hidden files to a name the forbidden globs no longer match, so the filesystem refuses it.
   */
  mayHideBelow(dir: string): boolean {
    return this.current().forbiddenGlobs?.mayContain(dir) ?? false;
  }

  /** Whether a directory entry should appear in a listing (no audit event per entry). */
  isListable(guestPath: string, isDir: boolean): boolean {
    const c = this.current();
    if (c.forbiddenGlobs?.matches(guestPath)) return false;
    if (!c.readGlobs) return true;
    return c.readGlobs.matches(guestPath) || (isDir && c.readGlobs.mayContain(guestPath));
  }

  private fileDecision(c: CompiledPolicy, action: FileAction, capability: string, guestPath: string, isDir: boolean): Decision {
    const forbidden = c.forbiddenGlobs?.firstMatch(guestPath);
    if (forbidden !== undefined) {
      return decision(false, `${guestPath} matches fileAccess.forbidden ${JSON.stringify(forbidden)}`, [`fileAccess.forbidden:${forbidden}`], true);
    }
    const cap = this.capability(c, capability);
    if (!cap.allowed) return cap;
    const mount = mountIn(c, guestPath);
    if (!mount) {
      return decision(false, `${guestPath} is not under any mount; add a mount for it`, [], true);
    }
    if (action === 'write' && mount.mode !== 'rw') {
      return decision(false, `mount ${mount.guest} is read-only; set mode: rw on it to allow writes`, [`mounts:${mount.guest}`]);
    }
    const globs = action === 'read' ? c.readGlobs : c.writeGlobs;
    if (!globs) {
      return decision(true, `${action} allowed: inside ${mount.mode} mount ${mount.guest} (no fileAccess lists)`, [cap.matched[0]!, `mounts:${mount.guest}`]);
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
    return this.decide(
      req,
      (c) => {
        const cap = this.capability(c, 'network_access');
        if (!cap.allowed) return cap;
        const hit = this.indicators?.host(target.host);
        if (hit) return decision(false, `blocked indicator: ${target.host} matches ${hit} in the threat-intelligence list ${this.indicators!.data.source}`, [`indicator:${hit}`]);
        if (!c.network) return decision(false, 'no networkRules in the policy; add networkRules.allowedHosts');
        const r = c.network.check(target);
        return decision(r.allowed, r.reason, r.allowed && r.rule ? [cap.matched[0]!, `networkRules:${r.rule}`] : []);
      },
      (c) => this.authzRequest(c, { type: 'network', host: target.host, port: target.port, scheme: target.scheme }, 'connect', api),
    );
  }

  /** Record a request that is malformed or not supported at all (sockets, DNS, bad URLs). */
  refuse(req: AccessRequest, reason: string, matched?: readonly string[]): Decision {
    return this.finish(req, decision(false, reason, matched));
  }

  /** Decide reading one environment variable (the policy's env lists alone decide). */
  env(name: string, api: string): Decision {
    const c = this.current();
    const req: AccessRequest = { capability: 'read_env', resource: 'env', action: 'read', target: name, api };
    // Env decisions depend only on the policy: cache them per policy, which also hands the
    // audit encoder the same string objects every time.
    let d = this.envCache.get(name);
    if (!d) {
      d = c.envNames.has(name) ? decision(true, `env ${name} allowed`, [`env:${name}`]) : decision(false, `environment variable ${name} is not in env.allow`);
      if (this.envCache.size < 4096) this.envCache.set(name, d);
    }
    return this.finish(req, d);
  }

  /** Names of environment variables the policy exposes (for `get-environment`). */
  envAllowed(name: string): boolean {
    return this.current().envNames.has(name);
  }

  /** Decide invoking a host tool. */
  tool(name: string, api: string): Decision {
    const req: AccessRequest = { capability: 'execute_tools', resource: 'tool', action: 'invoke', target: name, api };
    return this.decide(
      req,
      (c) => {
        const hit = c.toolPatterns.find((p) => toolMatches(p, name));
        return hit !== undefined
          ? decision(true, `tool ${name} allowed by toolAccess ${JSON.stringify(hit)}`, [`toolAccess:${hit}`])
          : decision(false, `tool ${name} is not in toolAccess.allow; add it to let the agent call it`);
      },
      (c) => this.authzRequest(c, { type: 'tool', name }, 'invoke', api),
    );
  }

  /**
   * Decide a call of an interface whose rules live beside it (`src/gate/comms.ts`: key-value
   * and messaging): `rule` sees the current policy, the capability guard and whether the
   * authorization model applies; the model then decides `resource` (when given) like any call,
   * as action `modelAction` (default the request's).
   */
  decideCall(req: AccessRequest, rule: (policy: GatePolicy, capability: (name: string) => Decision, modelApplies: boolean) => Decision, resource?: AuthzRequest['resource'], modelAction: string = req.action): Decision {
    return this.decide(
      req,
      (c) => rule(c.policy, (n) => this.capability(c, n), c.authz !== undefined),
      resource ? (c) => this.authzRequest(c, resource, modelAction, req.api) : undefined,
    );
  }

  /** Whether a tool name is granted (no audit; used to filter `available`). */
  toolAllowed(name: string): boolean {
    return this.current().toolPatterns.some((p) => toolMatches(p, name));
  }

  private authzRequest(c: CompiledPolicy, resource: AuthzRequest['resource'], action: string, api: string): AuthzRequest {
    return { subject: c.subject, resource, action, context: { time: Date.now(), environment: c.environment, api } };
  }
}

/** Both layers must allow; the decision keeps the reasons and ids of both. */
function combine(sandbox: Decision, model: AuthzDecision): Decision {
  const matched = [...sandbox.matched, ...model.matched];
  const extra = {
    ...(model.actions.length > 0 ? { actions: model.actions } : {}),
    ...(model.wouldDeny ? { wouldDeny: model.wouldDeny } : {}),
  };
  return model.allowed
    ? { allowed: true, reason: `${sandbox.reason}; ${model.reason}`, matched, ...extra }
    : { allowed: false, reason: model.reason, matched, ...extra };
}
