/**
 * RBAC: each role's permissions, with those of its parent roles, indexed by resource type and
 * action (with `*` wildcards) at load, so a check is a few map lookups and the conditions of
 * the permissions that apply.
 */
import { compileAll, type CompiledCondition } from './conditions.js';
import { inWindow, nextEdge } from './time.js';
import type { AuthzRequest, Permission, RoleDefinition, TimeWindow } from './types.js';

/** A compiled permission. */
export interface CompiledPermission {
  readonly id: string;
  readonly effect: 'allow' | 'deny';
  readonly cond: CompiledCondition;
  readonly when: readonly TimeWindow[];
  readonly text: string;
}

type Index = Map<string, Map<string, CompiledPermission[]>>;

/** One evaluated permission. */
export interface Hit {
  readonly id: string;
  readonly effect: 'allow' | 'deny';
  readonly reason: string;
  readonly condition: string;
}

function add(index: Index, p: Permission, cp: CompiledPermission): void {
  let byAction = index.get(p.resource);
  if (!byAction) index.set(p.resource, (byAction = new Map()));
  let list = byAction.get(p.action);
  if (!list) byAction.set(p.action, (list = []));
  list.push(cp);
}

/** Compiled roles. */
export class Rbac {
  private readonly roles = new Map<string, Index>();

  constructor(defs: readonly RoleDefinition[]) {
    const byName = new Map(defs.map((d) => [d.name, d]));
    for (const def of defs) {
      const index: Index = new Map();
      // Walk the role and its ancestors once each (cycles are rejected at load; the visited
      // set keeps this finite regardless).
      const seen = new Set<string>();
      const stack: RoleDefinition[] = [def];
      while (stack.length > 0) {
        const r = stack.pop()!;
        if (seen.has(r.name)) continue;
        seen.add(r.name);
        if (r.status !== undefined && r.status !== 'active') continue;
        r.permissions.forEach((p, i) => {
          const id = `role:${r.name}#${i}`;
          const cond = compileAll(p.conditions, `roleDefinitions.${r.name}.permissions[${i}].conditions`);
          const when = [r.when, p.when].filter((w): w is TimeWindow => w !== undefined);
          const text = `${p.effect} ${p.action} on ${p.resource}${cond.text === 'true' ? '' : ` when ${cond.text}`}`;
          add(index, p, { id, effect: p.effect, cond, when, text });
        });
        for (const parent of r.parentRoles ?? []) {
          const pd = byName.get(parent);
          if (pd) stack.push(pd);
        }
      }
      this.roles.set(def.name, index);
    }
  }

  /** Whether any role is defined. */
  get size(): number {
    return this.roles.size;
  }

  /**
   * Evaluate the permissions of the subject's roles that apply to the request. Returns the
   * first deny and first allow found (deny overrides), and the earliest time-window edge.
   */
  evaluate(req: AuthzRequest, now: number, out: { deny?: Hit; allow?: Hit; expiresAt?: number }): void {
    const type = req.resource.type;
    const action = req.action;
    for (const role of req.subject.roles) {
      const index = this.roles.get(role);
      if (!index) continue;
      for (const byAction of [index.get(type), index.get('*')]) {
        if (!byAction) continue;
        for (const list of [byAction.get(action), byAction.get('*')]) {
          if (!list) continue;
          for (const p of list) {
            if (p.when.length > 0) {
              let ok = true;
              for (const w of p.when) {
                const edge = nextEdge(w, now);
                if (edge !== undefined && (out.expiresAt === undefined || edge < out.expiresAt)) out.expiresAt = edge;
                if (!inWindow(w, now)) ok = false;
              }
              if (!ok) continue;
            }
            if (!p.cond.test(req)) continue;
            const hit: Hit = { id: p.id, effect: p.effect, reason: `role ${role}: ${p.text}`, condition: p.cond.text };
            if (p.effect === 'deny') {
              out.deny ??= hit;
              return;
            }
            out.allow ??= hit;
          }
        }
      }
    }
  }
}
