/**
 * ABAC access policies, indexed at load by the first equality test of their target, so a
 * decision among thousands of policies evaluates only the few that can apply.
 */
import { compileAll, compileExpr, getter, type CompiledCondition } from './conditions.js';
import type { Hit } from './rbac.js';
import { inWindow, nextEdge } from './time.js';
import type { AccessPolicy, AuthzRequest, Condition } from './types.js';

interface CompiledPolicy {
  readonly id: string;
  readonly effect: 'allow' | 'deny';
  readonly priority: number;
  readonly target: CompiledCondition;
  readonly condition: CompiledCondition;
  readonly policy: AccessPolicy;
}

interface FieldIndex {
  readonly get: (r: AuthzRequest) => unknown;
  readonly map: Map<unknown, CompiledPolicy[]>;
}

function primitive(v: unknown): boolean {
  return v === null || (typeof v !== 'object' && typeof v !== 'function');
}

function targetConditions(p: AccessPolicy): Condition[] {
  return [...(p.target.action ?? []), ...(p.target.resource ?? []), ...(p.target.subject ?? [])];
}

/** Compiled access policies. */
export class Abac {
  private readonly indexes = new Map<string, FieldIndex>();
  private readonly unindexed: CompiledPolicy[] = [];
  readonly size: number;

  constructor(policies: readonly AccessPolicy[]) {
    this.size = policies.length;
    // Index each policy under its most selective equality test: the field with the most
    // distinct values across all policies, so a request's bucket stays small.
    const indexable = (c: Condition) =>
      (c.operator === 'eq' && primitive(c.value) && c.value !== false) || (c.operator === 'in' && Array.isArray(c.value) && c.value.length > 0 && c.value.every(primitive));
    const distinct = new Map<string, Set<unknown>>();
    for (const p of policies) {
      for (const c of targetConditions(p)) {
        if (!indexable(c)) continue;
        let set = distinct.get(c.field);
        if (!set) distinct.set(c.field, (set = new Set()));
        for (const v of c.operator === 'in' ? (c.value as unknown[]) : [c.value]) set.add(v);
      }
    }
    policies.forEach((p, i) => {
      const conds = targetConditions(p);
      const cp: CompiledPolicy = {
        id: `access:${p.id}`,
        effect: p.effect,
        priority: p.priority,
        target: compileAll(conds, `accessPolicies[${i}].target`),
        condition: compileExpr(p.condition, `accessPolicies[${i}].condition`),
        policy: p,
      };
      let key: Condition | undefined;
      for (const c of conds) {
        if (!indexable(c)) continue;
        const width = (n: Condition) => (distinct.get(n.field)?.size ?? 0) / (n.operator === 'in' ? (n.value as unknown[]).length : 1);
        if (!key || width(c) > width(key)) key = c;
      }
      if (!key) {
        this.unindexed.push(cp);
        return;
      }
      let idx = this.indexes.get(key.field);
      if (!idx) this.indexes.set(key.field, (idx = { get: getter(key.field), map: new Map() }));
      const values = key.operator === 'in' ? (key.value as unknown[]) : [key.value];
      for (const v of values) {
        let list = idx.map.get(v);
        if (!list) idx.map.set(v, (list = []));
        list.push(cp);
      }
    });
  }

  /** Evaluate the policies that can apply; the highest-priority deny and allow win their effect. */
  evaluate(req: AuthzRequest, now: number, out: { deny?: Hit; allow?: Hit; expiresAt?: number }): void {
    let bestDeny: CompiledPolicy | undefined;
    let bestAllow: CompiledPolicy | undefined;
    const consider = (list: readonly CompiledPolicy[]) => {
      for (const p of list) {
        const w = p.policy.when;
        if (w) {
          const edge = nextEdge(w, now);
          if (edge !== undefined && (out.expiresAt === undefined || edge < out.expiresAt)) out.expiresAt = edge;
          if (!inWindow(w, now)) continue;
        }
        if (p.effect === 'deny' ? bestDeny && bestDeny.priority >= p.priority : bestAllow && bestAllow.priority >= p.priority) continue;
        if (!p.target.test(req) || !p.condition.test(req)) continue;
        if (p.effect === 'deny') bestDeny = p;
        else bestAllow = p;
      }
    };
    consider(this.unindexed);
    for (const idx of this.indexes.values()) {
      const list = idx.map.get(idx.get(req));
      if (list) consider(list);
    }
    const hit = (p: CompiledPolicy): Hit => ({
      id: p.id,
      effect: p.effect,
      reason: `access policy ${p.policy.id} (${p.effect}, priority ${p.priority})`,
      condition: [p.target.text, p.condition.text].filter((t) => t !== 'true').join(' and ') || 'true',
    });
    if (bestDeny) out.deny ??= hit(bestDeny);
    if (bestAllow) out.allow ??= hit(bestAllow);
  }
}
