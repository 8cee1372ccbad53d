/**
 * Static checks of a loaded policy for rules that cannot matter and grants that are wider than
 * they look. Sound and simple: a finding is only reported when it holds for every request
 * (the analysis never guesses; many redundant rules go unreported).
 *
 * What it detects:
 * - `allow-all` (warning): a role permission `resource: '*', action: '*', effect: allow`
 *   with no conditions or time window; an access policy with effect allow, an empty target,
 *   no condition and no time window; a security rule that allows every event (`eventType: '*'`,
 *   no `where`); `toolAccess.allow: ['*']`; `fileAccess` `readwrite` or `readonly` `/**`; a
 *   capability policy with `allowedTools: ['*']`.
 * - `unreachable-rule`:
 *   - (error) a permission or access policy whose conditions contradict each other: tests on
 *     the same attribute that no value satisfies (`eq a` and `eq b`, `eq a` and `ne a`,
 *     `in [a, b]` and `matches ^c`, …), decided by trying every value an `eq`/`in` test admits
 *     against the other tests with the engine's semantics;
 *   - (warning) an allow permission of a role whose own or inherited permissions deny the
 *     same resource/action pair (or `*`) with no conditions and no time window: deny overrides;
 *   - (warning) an allow access policy whose every match is also matched by a deny access
 *     policy with no condition and no time window (the deny's target tests are a subset of the
 *     allow's): deny overrides allow whatever the priorities;
 *   - (warning) a security policy exception with no `ruleId`, `agentId`, `agentType` or
 *     `until`: it waives every rule of the policy for every agent.
 * - `shadowed-rule` (warning): a permission of a role after an earlier permission of the same
 *   role with the same effect, no conditions and no time window that covers its resource and
 *   action; an access policy with the same effect as one of no lower priority (earlier on a
 *   tie) that has no condition or time window and whose target tests are a subset of its own.
 * - `ineffective-exception` (warning): exceptions of a `blocking` policy (blocking ignores
 *   them), and exceptions whose `until` has passed.
 * - `inactive-role` (warning): a role in `roles:` whose status is inactive or deprecated (it
 *   grants nothing).
 *
 * @example
 * ```ts
 * for (const f of lintPolicy(loaded.policy)) console.log(`${f.severity} ${f.path}: ${f.message} [${f.code}]`);
 * ```
 */
import type { SandboxPolicy } from '../policy/schema.js';
import { compileSafeRegex } from './regex.js';
import { ROLE_SOURCES } from './schema-model.js';
import type { AccessPolicy, BoolExpr, Condition, Permission, RoleDefinition } from './types.js';

/** What kind of finding. */
export type LintCode = 'unreachable-rule' | 'shadowed-rule' | 'allow-all' | 'ineffective-exception' | 'inactive-role';

/** One finding; `path` is the field path in the policy file (`accessPolicies[3]`). */
export interface LintFinding {
  readonly severity: 'warning' | 'error';
  readonly path: string;
  readonly code: LintCode;
  readonly message: string;
}

/** The attribute a field reads, spelled one way (`extension` is `resource.extension`). */
function canonField(field: string): string {
  if (field === 'action') return field;
  const root = field.split('.')[0];
  return root === 'subject' || root === 'resource' || root === 'context' ? field : `resource.${field}`;
}

const equals = (a: unknown, b: unknown): boolean => a === b || (b === false && (a === undefined || a === null));

/** Whether value `x` passes test `c`, with the engine's semantics (conditions.ts). */
function holds(c: Condition, x: unknown): boolean {
  switch (c.operator) {
    case 'eq':
      return equals(x, c.value);
    case 'ne':
      return !equals(x, c.value);
    case 'in':
      return (c.value as unknown[]).some((v) => v === x);
    case 'contains':
      return typeof x === 'string' ? typeof c.value === 'string' && x.includes(c.value) : Array.isArray(x) && x.includes(c.value);
    case 'matches':
      return typeof x === 'string' && compileSafeRegex(String(c.value), 'lint').test(x);
  }
}

/** The finite set of values an `eq`/`in` test admits, if it has one. */
function candidates(c: Condition): unknown[] | undefined {
  if (c.operator === 'eq') return c.value === false ? [false, undefined, null] : [c.value];
  if (c.operator === 'in') return c.value as unknown[];
  return undefined;
}

/** A field on which the tests of a conjunction cannot all hold, if any. */
function contradiction(conds: readonly Condition[]): string | undefined {
  const byField = new Map<string, Condition[]>();
  for (const c of conds) {
    const f = canonField(c.field);
    byField.set(f, [...(byField.get(f) ?? []), c]);
  }
  for (const [field, group] of byField) {
    if (group.length < 2) continue;
    const finite = group.map(candidates).find((x) => x !== undefined);
    if (finite && !finite.some((x) => group.every((c) => holds(c, x)))) return field;
  }
  return undefined;
}

/** The tests that must all hold for an access policy to match: its target and the top-level `all` of its condition. */
function conjuncts(p: AccessPolicy): Condition[] {
  const out: Condition[] = [...(p.target.subject ?? []), ...(p.target.resource ?? []), ...(p.target.action ?? [])];
  const walk = (e: BoolExpr | undefined): void => {
    if (e === undefined) return;
    if ('all' in e) e.all.forEach(walk);
    else if ('field' in e) out.push(e);
  };
  walk(p.condition);
  return out;
}

function targetOf(p: AccessPolicy): Condition[] {
  return [...(p.target.subject ?? []), ...(p.target.resource ?? []), ...(p.target.action ?? [])];
}

function key(c: Condition): string {
  const v = Array.isArray(c.value) ? [...(c.value as unknown[])].map((x) => JSON.stringify(x)).sort() : JSON.stringify(c.value);
  return JSON.stringify([canonField(c.field), c.operator, v]);
}

const unconditional = (p: Permission): boolean => !p.conditions?.length && p.when === undefined;
const covers = (wide: Permission, narrow: Permission): boolean =>
  (wide.resource === '*' || wide.resource === narrow.resource) && (wide.action === '*' || wide.action === narrow.action);
const active = (r: RoleDefinition): boolean => r.status === undefined || r.status === 'active';

function lintRoles(policy: SandboxPolicy, out: LintFinding[]): void {
  const roles = policy.authz.roles;
  const sources = (policy.authz as unknown as Record<symbol, readonly string[] | undefined>)[ROLE_SOURCES];
  const src = (i: number): string => sources?.[i] ?? `authz.roles[${i}]`;
  const byName = new Map(roles.map((r) => [r.name, r]));
  roles.forEach((role, i) => {
    if (!active(role)) return;
    // The unconditional denies that apply whenever this role's permissions do: its own, and
    // those of active ancestors without a time window of their own.
    const denies: Permission[] = role.permissions.filter((p) => p.effect === 'deny' && unconditional(p));
    const seen = new Set<string>([role.name]);
    const stack = [...(role.parentRoles ?? [])];
    while (stack.length > 0) {
      const r = byName.get(stack.pop()!);
      if (!r || seen.has(r.name)) continue;
      seen.add(r.name);
      if (!active(r)) continue;
      if (r.when === undefined) denies.push(...r.permissions.filter((p) => p.effect === 'deny' && unconditional(p)));
      stack.push(...(r.parentRoles ?? []));
    }
    role.permissions.forEach((p, j) => {
      const path = `${src(i)}.permissions[${j}]`;
      if (p.effect === 'allow' && p.resource === '*' && p.action === '*' && unconditional(p) && role.when === undefined) {
        out.push({ severity: 'warning', path, code: 'allow-all', message: `role ${role.name} allows every action on every resource with no condition; list the resources and actions it needs` });
      }
      const field = contradiction(p.conditions ?? []);
      if (field !== undefined) {
        out.push({ severity: 'error', path: `${path}.conditions`, code: 'unreachable-rule', message: `the conditions on ${field} contradict each other, so this permission never applies; fix or remove it` });
        return;
      }
      if (p.effect === 'allow') {
        const deny = denies.find((d) => covers(d, p));
        if (deny) {
          out.push({ severity: 'warning', path, code: 'unreachable-rule', message: `role ${role.name} (or a parent) denies ${deny.action} on ${deny.resource} unconditionally, and deny overrides allow, so this allow never applies; remove one of them` });
          return;
        }
      }
      const earlier = role.permissions.slice(0, j).findIndex((q) => q.effect === p.effect && unconditional(q) && covers(q, p));
      if (earlier >= 0) {
        out.push({ severity: 'warning', path, code: 'shadowed-rule', message: `permissions[${earlier}] already ${p.effect}s ${p.action} on ${p.resource} with no condition, so this permission changes nothing; remove it` });
      }
    });
  });
  policy.roles.forEach((name, i) => {
    const r = byName.get(name);
    if (r && !active(r)) out.push({ severity: 'warning', path: `roles[${i}]`, code: 'inactive-role', message: `role ${name} is ${r.status}, so it grants nothing; activate it or remove it from roles` });
  });
}

function lintAccess(policy: SandboxPolicy, out: LintFinding[]): void {
  const list = policy.authz.accessPolicies;
  const plain = (p: AccessPolicy): boolean => p.condition === undefined && p.when === undefined;
  const conj = list.map((p) => new Set(conjuncts(p).map(key)));
  // Policies without condition or time window can cover others. Index each under the rarest
  // of its target tests, so a policy only meets the few that could cover it (with 10,000
  // policies the pairwise comparison would take minutes).
  const targets = list.map((p) => [...new Set(targetOf(p).map(key))]);
  const freq = new Map<string, number>();
  for (const ks of conj) for (const k of ks) freq.set(k, (freq.get(k) ?? 0) + 1);
  const byKey = new Map<string, number[]>();
  const everything: number[] = [];
  list.forEach((p, q) => {
    if (!plain(p)) return;
    const ts = targets[q]!;
    if (ts.length === 0) return void everything.push(q);
    const rarest = ts.reduce((a, b) => ((freq.get(b) ?? 0) < (freq.get(a) ?? 0) ? b : a));
    const bucket = byKey.get(rarest);
    if (bucket) bucket.push(q);
    else byKey.set(rarest, [q]);
  });
  /** The plain policies whose target tests are all among policy i's tests (excluding i). */
  const coverers = (i: number): number[] => {
    const found = everything.filter((q) => q !== i);
    for (const k of conj[i]!) for (const q of byKey.get(k) ?? []) if (q !== i && targets[q]!.every((t) => conj[i]!.has(t))) found.push(q);
    return found.sort((a, b) => a - b);
  };
  list.forEach((p, i) => {
    const path = `accessPolicies[${i}]`;
    if (p.effect === 'allow' && plain(p) && targets[i]!.length === 0) {
      out.push({ severity: 'warning', path, code: 'allow-all', message: `access policy ${p.id} allows every request (empty target, no condition); give it a target` });
    }
    const field = contradiction(conjuncts(p));
    if (field !== undefined) {
      out.push({ severity: 'error', path, code: 'unreachable-rule', message: `access policy ${p.id} tests ${field} in ways no value satisfies at once, so it never matches; fix or remove it` });
      return;
    }
    const cover = coverers(i);
    if (p.effect === 'allow') {
      const d = cover.find((q) => list[q]!.effect === 'deny');
      if (d !== undefined) {
        out.push({ severity: 'warning', path, code: 'unreachable-rule', message: `every request this allows is denied by accessPolicies[${d}] (${list[d]!.id}), and deny overrides allow, so it never applies; narrow the deny or remove this policy` });
        return;
      }
    }
    const s = cover.find((q) => list[q]!.effect === p.effect && (list[q]!.priority > p.priority || (list[q]!.priority === p.priority && q < i)));
    if (s !== undefined) {
      out.push({ severity: 'warning', path, code: 'shadowed-rule', message: `accessPolicies[${s}] (${list[s]!.id}) already ${p.effect}s everything this matches, with no condition and no lower priority, so this policy changes nothing; remove it` });
    }
  });
}

function lintSecurity(policy: SandboxPolicy, out: LintFinding[], now: number): void {
  policy.authz.securityPolicies.forEach((p, i) => {
    const path = `securityPolicies[${i}]`;
    p.rules.forEach((r, j) => {
      const ev = r.condition.when.eventType;
      const every = ev === '*' || (Array.isArray(ev) && ev.includes('*'));
      if (r.action.type === 'allow' && every && Object.keys(r.condition.where ?? {}).length === 0) {
        out.push({ severity: 'warning', path: `${path}.rules[${j}]`, code: 'allow-all', message: `rule ${r.id} allows every event with no "where" test; restrict it` });
      }
    });
    const ex = p.enforcement.exceptions;
    if (p.enforcement.mode === 'blocking' && ex.length > 0) {
      out.push({ severity: 'warning', path: `${path}.enforcement.exceptions`, code: 'ineffective-exception', message: `policy ${p.id} is blocking, which ignores exceptions; use mode enforcing or remove them` });
      return;
    }
    ex.forEach((e, k) => {
      const epath = `${path}.enforcement.exceptions[${k}]`;
      if (e.ruleId === undefined && e.agentId === undefined && e.agentType === undefined && e.until === undefined) {
        out.push({ severity: 'warning', path: epath, code: 'unreachable-rule', message: `this exception waives every rule of ${p.id} for every agent, so no rule of the policy ever applies; name a rule, an agent or an end date` });
      } else if (e.until !== undefined && e.until <= now) {
        out.push({ severity: 'warning', path: epath, code: 'ineffective-exception', message: `this exception ended on ${new Date(e.until).toISOString()}; remove it` });
      }
    });
  });
}

/**
 * Lint a loaded policy (see the module doc for what is detected).
 *
 * @param now the time used for "has this ended" checks (default: now)
 * @returns findings in policy order: roles, access policies, security policies, then the
 *   sandbox sections
 * @example
 * ```ts
 * lintPolicy(parsePolicyText('version: 1\ntoolAccess: { allow: ["*"] }\n').policy);
 * // [{ severity: 'warning', path: 'toolAccess.allow[0]', code: 'allow-all', message: '…' }]
 * ```
 */
export function lintPolicy(policy: SandboxPolicy, now: number = Date.now()): LintFinding[] {
  const out: LintFinding[] = [];
  lintRoles(policy, out);
  lintAccess(policy, out);
  lintSecurity(policy, out, now);
  policy.authz.capabilityPolicies.forEach((p, i) => {
    const k = p.allowedTools?.indexOf('*') ?? -1;
    if (k >= 0) out.push({ severity: 'warning', path: `capabilityPolicies[${i}].allowedTools[${k}]`, code: 'allow-all', message: `capability policy ${p.policyId} allows every tool; list the tools the agent needs` });
  });
  policy.toolAccess.allow.forEach((t, k) => {
    if (t === '*') out.push({ severity: 'warning', path: `toolAccess.allow[${k}]`, code: 'allow-all', message: 'every host tool is allowed; list the tools the agent needs' });
  });
  for (const kind of ['readwrite', 'readonly'] as const) {
    policy.fileAccess[kind].forEach((g, k) => {
      if (g === '/**') out.push({ severity: 'warning', path: `fileAccess.${kind}[${k}]`, code: 'allow-all', message: `every mounted file is ${kind === 'readwrite' ? 'writable' : 'readable'}; narrow the pattern to the directories the agent needs` });
    });
  }
  return out;
}
