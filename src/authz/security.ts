/**
 * Security policies (seed `SecurityPolicy`): scoped rules that deny, allow, log, alert or ask
 * for quarantine, under an enforcement mode:
 * - `advisory`: never denies; a rule that would deny marks the decision `wouldDeny`.
 * - `enforcing`: denies; exceptions apply.
 * - `blocking`: denies and cannot be waived: exceptions are ignored.
 */
import { compileSafeRegex } from './regex.js';
import type { AuthzRequest, DecisionAction, PolicyException, SecurityPolicy, SecurityRule, WhereValue } from './types.js';
import type { Hit } from './rbac.js';

/** Seed event names for each kind of request, besides the generic `<resource>_<action>`. */
const EVENT_ALIASES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'network:connect': ['network_connection_attempt', 'network_access_attempt'],
  'file:read': ['file_access_attempt', 'file_read_attempt'],
  'file:write': ['file_access_attempt', 'file_write_attempt'],
  'data:read': ['data_access_attempt'],
  'data:write': ['data_access_attempt'],
  'data:delete': ['data_access_attempt'],
  'tool:invoke': ['tool_invocation_attempt'],
  'system:execute': ['system_call_attempt', 'process_execution_attempt'],
  'env:read': ['environment_access_attempt'],
});

/** The event types a request counts as. */
export function eventTypesOf(req: AuthzRequest): readonly string[] {
  const type = String(req.resource.type);
  return [`${type}_${req.action}`, ...(EVENT_ALIASES[`${type}:${req.action}`] ?? []), '*'];
}

/** Seed attribute names that mean a request attribute under another name. */
const WHERE_ALIASES: Readonly<Record<string, (r: AuthzRequest) => unknown>> = Object.freeze({
  destination: (r) => r.resource['host'],
  dataClassification: (r) => r.resource['classification'],
});

function own(o: unknown, k: string): unknown {
  return o !== null && typeof o === 'object' && Object.hasOwn(o, k) ? (o as Record<string, unknown>)[k] : undefined;
}

function whereGetter(field: string): (r: AuthzRequest) => unknown {
  if (Object.hasOwn(WHERE_ALIASES, field)) return WHERE_ALIASES[field]!;
  const dot = field.indexOf('.');
  if (dot > 0) {
    const head = field.slice(0, dot);
    const k = field.slice(dot + 1);
    if (head === 'subject') return (r) => own(r.subject, k);
    if (head === 'resource') return (r) => own(r.resource, k);
    if (head === 'context') return (r) => own(r.context, k);
  }
  return (r) => own(r.resource, field) ?? own(r.subject, field) ?? own(r.context, field);
}

const eqLoose = (a: unknown, b: unknown) => a === b || (b === false && (a === undefined || a === null));

function compileWhere(field: string, v: WhereValue, path: string): (r: AuthzRequest) => boolean {
  const get = whereGetter(field);
  if (v === null || typeof v !== 'object') return (r) => eqLoose(get(r), v);
  const tests: ((x: unknown) => boolean)[] = [];
  if ('eq' in v) tests.push((x) => eqLoose(x, v.eq));
  if ('ne' in v) tests.push((x) => !eqLoose(x, v.ne));
  if (v.in) {
    const s = new Set(v.in);
    tests.push((x) => s.has(x));
  }
  if (v.notIn) {
    const s = new Set(v.notIn);
    tests.push((x) => !s.has(x));
  }
  if ('contains' in v) tests.push((x) => (typeof x === 'string' ? typeof v.contains === 'string' && x.includes(v.contains) : Array.isArray(x) && x.includes(v.contains)));
  if (v.matches !== undefined) {
    const re = compileSafeRegex(v.matches, `${path}.matches`);
    tests.push((x) => typeof x === 'string' && x.length <= 65536 && re.test(x));
  }
  return (r) => {
    const x = get(r);
    return tests.every((t) => t(x));
  };
}

interface CompiledRule {
  readonly rule: SecurityRule;
  readonly events: ReadonlySet<string>;
  readonly where: readonly ((r: AuthzRequest) => boolean)[];
  readonly text: string;
}

interface CompiledSecurityPolicy {
  readonly policy: SecurityPolicy;
  readonly rules: readonly CompiledRule[];
}

/** What security policies contribute to a decision. */
export interface SecurityOutcome {
  deny?: Hit;
  allow?: Hit;
  wouldDeny?: { policyId: string; ruleId: string; reason: string };
  auditRequired: boolean;
  actions: DecisionAction[];
}

function excepted(ex: readonly PolicyException[], rule: SecurityRule, req: AuthzRequest, now: number): boolean {
  return ex.some(
    (e) =>
      (e.ruleId === undefined || e.ruleId === rule.id) &&
      (e.agentId === undefined || e.agentId === req.subject.id) &&
      (e.agentType === undefined || e.agentType === req.subject.type) &&
      (e.until === undefined || now < e.until),
  );
}

/** Compiled security policies. */
export class SecurityPolicies {
  private readonly compiled: CompiledSecurityPolicy[];

  constructor(policies: readonly SecurityPolicy[]) {
    this.compiled = policies.map((policy, pi) => ({
      policy,
      rules: policy.rules.map((rule, ri) => {
        const path = `securityPolicies[${pi}].rules[${ri}].condition.where`;
        const where = Object.entries(rule.condition.where ?? {}).map(([f, v]) => compileWhere(f, v, `${path}.${f}`));
        const ev = rule.condition.when.eventType;
        return {
          rule,
          events: new Set(typeof ev === 'string' ? [ev] : ev),
          where,
          text: `${rule.id} when ${JSON.stringify(rule.condition.when.eventType)} where ${JSON.stringify(rule.condition.where ?? {})}`,
        };
      }),
    }));
  }

  get size(): number {
    return this.compiled.length;
  }

  private inScope(p: SecurityPolicy, req: AuthzRequest): boolean {
    const s = p.scope;
    if (s.agentTypes && s.agentTypes.length > 0 && !s.agentTypes.includes(String(req.subject.type))) return false;
    if (s.environments && s.environments.length > 0 && !s.environments.includes(String(req.context.environment))) return false;
    if (s.dataClassifications && s.dataClassifications.length > 0 && !s.dataClassifications.includes(String(req.resource['classification']))) return false;
    return true;
  }

  evaluate(req: AuthzRequest, now: number, out: SecurityOutcome): void {
    if (this.compiled.length === 0) return;
    const events = eventTypesOf(req);
    for (const { policy, rules } of this.compiled) {
      if (!this.inScope(policy, req)) continue;
      const mode = policy.enforcement.mode;
      for (const r of rules) {
        if (!events.some((e) => r.events.has(e))) continue;
        if (!r.where.every((t) => t(req))) continue;
        if (mode !== 'blocking' && excepted(policy.enforcement.exceptions, r.rule, req, now)) continue;
        const id = `security:${policy.id}/${r.rule.id}`;
        const reason = String(r.rule.action.parameters?.['reason'] ?? r.rule.name);
        const base = { policyId: policy.id, ruleId: r.rule.id, severity: r.rule.severity, ...(mode === 'advisory' ? { advisory: true } : {}) };
        switch (r.rule.action.type) {
          case 'deny':
          case 'quarantine':
            if (r.rule.action.type === 'quarantine') out.actions.push({ type: 'quarantine', ...base, ...(r.rule.action.parameters ? { parameters: r.rule.action.parameters } : {}) });
            if (mode === 'advisory') {
              out.wouldDeny ??= { policyId: policy.id, ruleId: r.rule.id, reason };
              out.auditRequired = true;
            } else {
              out.deny ??= { id, effect: 'deny', reason: `security policy ${policy.id} rule ${r.rule.id} (${mode}): ${reason}`, condition: r.text };
            }
            break;
          case 'allow':
            out.allow ??= { id, effect: 'allow', reason: `security policy ${policy.id} rule ${r.rule.id}: ${reason}`, condition: r.text };
            break;
          case 'log':
            out.auditRequired = true;
            out.actions.push({ type: 'log', ...base });
            break;
          case 'alert':
            out.auditRequired = true;
            out.actions.push({ type: 'alert', ...base, ...(r.rule.action.parameters ? { parameters: r.rule.action.parameters } : {}) });
            break;
        }
      }
    }
  }
}
