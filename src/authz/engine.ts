/**
 * The decision point: RBAC roles, ABAC access policies, agent capability policies, security
 * policies and data access policies, combined as
 *
 * 1. any deny, from any source, denies (deny overrides allow, whatever the order of rules or
 *    files); among ABAC policies the highest priority of each effect is the one reported;
 * 2. otherwise a grant (role permission, access policy, capability policy, data policy,
 *    security `allow` rule) allows;
 * 3. otherwise deny by default — unless `requireGrant` is false, in which case the model has
 *    nothing to say and the sandbox policy alone decides (see {@link AuthzEngine.decide});
 * 4. an exception while evaluating denies.
 *
 * Advisory-mode security rules never deny: they mark the decision `wouldDeny`.
 */
import { compileGlob } from '../policy/glob.js';
import { Abac } from './abac.js';
import { Rbac, type Hit } from './rbac.js';
import { SecurityPolicies, type SecurityOutcome } from './security.js';
import type { AuthzDecision, AuthzModel, AuthzRequest, CapabilityPolicy, Classification, DataAccessPolicy } from './types.js';

/** Options of {@link compileAuthz}. */
export interface AuthzOptions {
  /**
   * Whether an allow needs a grant from the model (default true). The sandbox sets it to false
   * for policies that assign no roles and define no access or capability policies, so that
   * security and data policies can restrict without having to grant everything else.
   */
  readonly requireGrant?: boolean;
}

/** A compiled model. */
export interface AuthzEngine {
  /** Decide a request. Never throws: an evaluation error is a denial. */
  decide(req: AuthzRequest): AuthzDecision;
  /** The data classification the data policies give a resource id or guest path, if any. */
  classify(id: string): Classification | undefined;
  /** Whether decisions need a grant from the model. */
  readonly requireGrant: boolean;
}

interface CompiledData {
  readonly policy: DataAccessPolicy;
  readonly match: (id: string) => boolean;
}

/** A data id pattern (`kv/progress/*`; a leading `/` makes it a path glob) as a matcher. */
export function wildcard(pattern: string): (s: string) => boolean {
  if (pattern.startsWith('/')) {
    const g = compileGlob(pattern);
    return (s) => g.matches(s);
  }
  if (!pattern.includes('*')) return (s) => s === pattern;
  // `*` matches any run of characters: a linear two-pointer match with one backtrack point.
  return (s) => {
    let p = 0;
    let i = 0;
    let star = -1;
    let mark = 0;
    while (i < s.length) {
      if (p < pattern.length && pattern[p] !== '*' && pattern[p] === s[i]) {
        p++;
        i++;
      } else if (p < pattern.length && pattern[p] === '*') {
        star = p++;
        mark = i;
      } else if (star >= 0) {
        p = star + 1;
        i = ++mark;
      } else return false;
    }
    while (p < pattern.length && pattern[p] === '*') p++;
    return p === pattern.length;
  };
}

function hostAllowed(hosts: readonly string[], host: string): boolean {
  return hosts.some((h) => h === '*' || h === host || (h.startsWith('*.') && host.endsWith(h.slice(1))));
}

function capabilityHits(policies: readonly CapabilityPolicy[], req: AuthzRequest, now: number, out: { deny?: Hit; allow?: Hit; expiresAt?: number }): void {
  for (const p of policies) {
    if (p.agentInstanceId !== undefined && p.agentInstanceId !== req.subject.id) continue;
    if (p.agentType !== undefined && p.agentType !== req.subject.type) continue;
    const id = `capability:${p.policyId}`;
    if (p.status !== 'active') {
      out.deny ??= { id, effect: 'deny', reason: `capability policy ${p.policyId} is ${p.status}`, condition: `status == ${p.status}` };
      return;
    }
    for (const edge of [p.effectiveFrom, p.effectiveTo]) {
      if (edge !== undefined && edge > now && (out.expiresAt === undefined || edge < out.expiresAt)) out.expiresAt = edge;
    }
    if ((p.effectiveFrom !== undefined && now < p.effectiveFrom) || (p.effectiveTo !== undefined && now >= p.effectiveTo)) continue;
    const type = req.resource.type;
    if (type === 'tool' && req.action === 'invoke' && p.allowedTools) {
      const name = String(req.resource['name']);
      if (p.allowedTools.includes(name) || p.allowedTools.includes('*')) out.allow ??= { id, effect: 'allow', reason: `capability policy ${p.policyId} allows tool ${name}`, condition: 'name in allowedTools' };
      else out.deny ??= { id, effect: 'deny', reason: `tool ${name} is not in allowedTools of capability policy ${p.policyId}`, condition: 'name not in allowedTools' };
    } else if (type === 'network' && req.action === 'connect' && p.networkRules) {
      const nr = p.networkRules;
      const host = String(req.resource['host']);
      const port = Number(req.resource['port']);
      const scheme = String(req.resource['scheme']);
      const problem =
        nr.allowedHosts && !hostAllowed(nr.allowedHosts, host)
          ? `host ${host} is not in allowedHosts`
          : nr.allowedPorts && !nr.allowedPorts.includes(port)
            ? `port ${port} is not in allowedPorts`
            : nr.allowedProtocols && !nr.allowedProtocols.includes(scheme)
              ? `protocol ${scheme} is not in allowedProtocols`
              : undefined;
      if (problem) out.deny ??= { id, effect: 'deny', reason: `capability policy ${p.policyId}: ${problem}`, condition: 'networkRules' };
      else out.allow ??= { id, effect: 'allow', reason: `capability policy ${p.policyId} allows ${scheme}://${host}:${port}`, condition: 'networkRules' };
    }
  }
}

const DATA_ROLES = { read: 'readRoles', write: 'writeRoles', delete: 'deleteRoles' } as const;
const DATA_AUDIT = { read: 'logReads', write: 'logWrites', delete: 'logDeletes' } as const;

/**
 * Compile a model once; decide many times.
 *
 * @example
 * ```ts
 * const engine = compileAuthz({ roles: [presetRole('code-reviewer')] });
 * engine.decide({ subject: { id: 'a1', roles: ['code-reviewer'] }, resource: { type: 'file', extension: '.ts' }, action: 'read', context: {} });
 * // → { allowed: true, reason: 'role code-reviewer: allow read on file when extension in [...]', ... }
 * ```
 */
export function compileAuthz(model: AuthzModel, options: AuthzOptions = {}): AuthzEngine {
  const rbac = new Rbac(model.roles ?? []);
  const abac = new Abac(model.accessPolicies ?? []);
  const caps = model.capabilityPolicies ?? [];
  const security = new SecurityPolicies(model.securityPolicies ?? []);
  const data: CompiledData[] = (model.dataPolicies ?? []).map((policy) => ({ policy, match: wildcard(policy.dataId) }));
  const requireGrant = options.requireGrant ?? true;
  const dataFor = (id: string) => data.find((d) => d.match(id));

  const decide = (input: AuthzRequest): AuthzDecision => {
    const now = input.context.time ?? Date.now();
    let req = input;
    const out: { deny?: Hit; allow?: Hit; expiresAt?: number } = {};
    const sec: SecurityOutcome = { auditRequired: false, actions: [] };
    const matched: string[] = [];
    const conditions: string[] = [];
    // Data resources (and files under a path-bound data policy) get their classification from
    // the data policy before any rule looks at it.
    let dataPolicy: CompiledData | undefined;
    const type = req.resource.type;
    if (data.length > 0 && (type === 'data' || type === 'file')) {
      const id = String(type === 'data' ? req.resource['dataId'] : req.resource['path']);
      dataPolicy = dataFor(id);
      if (dataPolicy && req.resource['classification'] === undefined) {
        req = { ...req, resource: { ...req.resource, classification: dataPolicy.policy.classification } };
      }
    }
    security.evaluate(req, now, sec);
    if (type === 'data') {
      const op = req.action as 'read' | 'write' | 'delete';
      if (!dataPolicy) {
        out.deny ??= { id: 'data:none', effect: 'deny', reason: `no data access policy covers ${String(req.resource['dataId'])}`, condition: 'no_policy_found' };
      } else if (!Object.hasOwn(DATA_ROLES, op)) {
        out.deny ??= { id: `data:${dataPolicy.policy.dataId}`, effect: 'deny', reason: `data action ${op} is not read, write or delete`, condition: 'action' };
      } else {
        const need = dataPolicy.policy.accessRules[DATA_ROLES[op]];
        const id = `data:${dataPolicy.policy.dataId}`;
        if (need.some((r) => req.subject.roles.includes(r))) out.allow ??= { id, effect: 'allow', reason: `data policy ${dataPolicy.policy.dataId} grants ${op} to one of [${need.join(', ')}]`, condition: `subject.roles ∩ ${DATA_ROLES[op]}` };
        else out.deny ??= { id, effect: 'deny', reason: `${op} on ${dataPolicy.policy.dataId} (${dataPolicy.policy.classification}) requires one of the roles [${need.join(', ')}]`, condition: `subject.roles ∩ ${DATA_ROLES[op]} = ∅` };
        if (dataPolicy.policy.audit?.[DATA_AUDIT[op]]) sec.auditRequired = true;
      }
    }
    if (!out.deny && !sec.deny) capabilityHits(caps, req, now, out);
    if (!out.deny && !sec.deny) rbac.evaluate(req, now, out);
    if (!out.deny && !sec.deny) abac.evaluate(req, now, out);
    const deny = sec.deny ?? out.deny;
    const allow = sec.allow ?? out.allow;
    let allowed: boolean;
    let reason: string;
    if (deny) {
      allowed = false;
      reason = deny.reason;
      matched.push(deny.id);
      conditions.push(deny.condition);
    } else if (allow) {
      allowed = true;
      reason = allow.reason;
      matched.push(allow.id);
      conditions.push(allow.condition);
    } else if (requireGrant) {
      allowed = false;
      reason = `no role, access or capability policy grants ${req.action} on ${type} (default deny)`;
    } else {
      allowed = true;
      reason = 'no authorization rule applies; the sandbox policy decides';
    }
    for (const a of sec.actions) if (!matched.includes(`security:${a.policyId}/${a.ruleId}`)) matched.push(`security:${a.policyId}/${a.ruleId}`);
    // A file a data policy classifies names that policy, so the record shows which classified
    // data was touched (GDPR Art. 30 records of processing are read from it).
    if (dataPolicy && type === 'file') matched.push(`data:${dataPolicy.policy.dataId}`);
    const decision: {
      allowed: boolean;
      reason: string;
      matched: string[];
      conditions: string[];
      auditRequired: boolean;
      actions: SecurityOutcome['actions'];
      expiresAt?: number;
      wouldDeny?: SecurityOutcome['wouldDeny'];
    } = { allowed, reason, matched, conditions, auditRequired: sec.auditRequired || !allowed, actions: sec.actions };
    if (out.expiresAt !== undefined) decision.expiresAt = out.expiresAt;
    if (allowed && sec.wouldDeny) {
      decision.wouldDeny = sec.wouldDeny;
      decision.reason = `${reason} (advisory: security policy ${sec.wouldDeny.policyId} rule ${sec.wouldDeny.ruleId} would deny: ${sec.wouldDeny.reason})`;
    }
    return decision;
  };

  return {
    requireGrant,
    classify: (id) => dataFor(id)?.policy.classification,
    decide(req) {
      try {
        return decide(req);
      } catch (e) {
        return {
          allowed: false,
          reason: `evaluation error (denied): ${e instanceof Error ? e.message : String(e)}`,
          matched: [],
          conditions: [],
          auditRequired: true,
          actions: [],
        };
      }
    },
  };
}
