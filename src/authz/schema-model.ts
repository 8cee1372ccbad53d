/**
 * From the validated authorization sections of a policy file to the {@link AuthzModel} the
 * engine compiles: preset names resolved, role names checked, cross-references checked
 * (every `parentRoles` entry exists, no hierarchy cycles, no duplicate names or ids), and
 * everything frozen into null-prototype data.
 */
import type { PolicyIssue } from '../policy/issues.js';
import { freezeData, isPresetRole, isPresetSecurityPolicy, presetRole, presetSecurityPolicy, PRESET_ROLE_NAMES, PRESET_SECURITY_POLICY_IDS } from './presets.js';
import type { AccessPolicy, AuthzModel, CapabilityPolicy, DataAccessPolicy, RoleDefinition, SecurityPolicy } from './types.js';

/** A role entry as validated: a definition, or the name of a preset. */
export type RoleEntry = RoleDefinition | string;
/** A security policy entry as validated: a policy, or the id of a preset. */
export type SecurityEntry = SecurityPolicy | string;

/** The validated (not yet cross-checked) authorization sections of a policy file. */
export interface AuthzSections {
  readonly roleDefinitions?: readonly RoleEntry[] | undefined;
  readonly accessPolicies?: readonly AccessPolicy[] | undefined;
  readonly capabilityPolicies?: readonly CapabilityPolicy[] | undefined;
  readonly securityPolicies?: readonly SecurityEntry[] | undefined;
  readonly dataPolicies?: readonly DataAccessPolicy[] | undefined;
  /** The normalized model of an already loaded policy (for round trips). */
  readonly authz?:
    | {
        readonly roles?: readonly RoleDefinition[] | undefined;
        readonly accessPolicies?: readonly AccessPolicy[] | undefined;
        readonly capabilityPolicies?: readonly CapabilityPolicy[] | undefined;
        readonly securityPolicies?: readonly SecurityPolicy[] | undefined;
        readonly dataPolicies?: readonly DataAccessPolicy[] | undefined;
      }
    | undefined;
}

/**
 * Non-enumerable property of a built model: for each entry of `model.roles`, where it came
 * from (`roleDefinitions[2]`, or `preset role "code-reviewer" (roles[0])`), so lint findings
 * can point at the file.
 */
export const ROLE_SOURCES: unique symbol = Symbol.for('agent-os-sandbox.authz-role-sources');

/** Options of {@link buildAuthzModel}. */
export interface BuildOptions {
  /**
   * What a name in `roles:` that is neither defined nor a preset is: an error (default) or a
   * warning (the role then grants nothing).
   */
  readonly unknownRoles?: 'error' | 'warn';
}

/** The result of {@link buildAuthzModel}. */
export interface BuiltModel {
  /** Complete (every section present), frozen, null-prototype. */
  readonly model: Required<AuthzModel>;
  readonly issues: PolicyIssue[];
  readonly warnings: PolicyIssue[];
}

/** Whether a model has anything in it. */
export function isEmptyModel(m: AuthzModel): boolean {
  return !m.roles?.length && !m.accessPolicies?.length && !m.capabilityPolicies?.length && !m.securityPolicies?.length && !m.dataPolicies?.length;
}

function duplicates<T>(list: readonly T[], key: (x: T) => string, path: (j: number) => string, what: string, issues: PolicyIssue[]): void {
  const seen = new Map<string, number>();
  list.forEach((x, j) => {
    const k = key(x);
    const i = seen.get(k);
    if (i !== undefined) issues.push({ path: path(j), message: `duplicate ${what} ${JSON.stringify(k)} (also at index ${i}); keep one or rename it` });
    else seen.set(k, j);
  });
}

/**
 * Build the model.
 *
 * @param sections the validated sections (`policySchema` output)
 * @param roles the policy's top-level `roles:` (the agent's roles); names not defined in
 *   `roleDefinitions` resolve to presets
 * @example
 * ```ts
 * const { model, issues } = buildAuthzModel({ roleDefinitions: ['code-reviewer'] }, ['code-reviewer']);
 * ```
 */
export function buildAuthzModel(sections: AuthzSections, roles: readonly string[], options: BuildOptions = {}): BuiltModel {
  const issues: PolicyIssue[] = [];
  const warnings: PolicyIssue[] = [];
  const a = sections.authz;
  const topLevel = (['roleDefinitions', 'accessPolicies', 'capabilityPolicies', 'securityPolicies', 'dataPolicies'] as const).filter((k) => sections[k] !== undefined);
  if (a && topLevel.length > 0) {
    issues.push({ path: 'authz', message: `"authz" (a loaded policy's normalized model) cannot be combined with ${topLevel.join(', ')}; write the sections only` });
  }
  const rolesKey = a ? 'authz.roles' : 'roleDefinitions';
  const prefix = a ? 'authz.' : '';
  const roleEntries: readonly RoleEntry[] = a ? (a.roles ?? []) : (sections.roleDefinitions ?? []);

  // Role definitions (and preset references) in file order, then presets pulled in by name.
  const defs: RoleDefinition[] = [];
  const sources: string[] = [];
  const byName = new Map<string, number>();
  roleEntries.forEach((entry, i) => {
    if (typeof entry === 'string') {
      if (!isPresetRole(entry)) {
        issues.push({ path: `${rolesKey}[${i}]`, message: `unknown preset role ${JSON.stringify(entry)} (presets: ${PRESET_ROLE_NAMES.join(', ')}); define it as { name, permissions }` });
        return;
      }
      if (byName.has(entry)) {
        issues.push({ path: `${rolesKey}[${i}]`, message: `the role ${JSON.stringify(entry)} is already defined at ${sources[byName.get(entry)!]}; keep one` });
        return;
      }
      byName.set(entry, defs.length);
      defs.push(presetRole(entry));
      sources.push(`${rolesKey}[${i}]`);
      return;
    }
    if (byName.has(entry.name)) {
      issues.push({ path: `${rolesKey}[${i}].name`, message: `duplicate role name ${JSON.stringify(entry.name)} (also at ${sources[byName.get(entry.name)!]}); keep one or rename it` });
      return;
    }
    byName.set(entry.name, defs.length);
    defs.push(entry);
    sources.push(`${rolesKey}[${i}]`);
  });
  const indexOfEntry = (name: string): number => byName.get(name) ?? -1;
  const pullPreset = (name: string, why: string): boolean => {
    if (byName.has(name)) return true;
    if (!isPresetRole(name)) return false;
    byName.set(name, defs.length);
    defs.push(presetRole(name));
    sources.push(`preset role ${JSON.stringify(name)} (${why})`);
    return true;
  };
  const explicit = defs.length;
  for (let d = 0; d < explicit; d++) {
    (defs[d]!.parentRoles ?? []).forEach((parent, j) => {
      if (!pullPreset(parent, `parent of ${defs[d]!.name}`)) {
        issues.push({ path: `${sources[d]}.parentRoles[${j}]`, message: `unknown role ${JSON.stringify(parent)}; define it in ${rolesKey} or use a preset (${PRESET_ROLE_NAMES.join(', ')})` });
      }
    });
  }
  const definesModel = topLevel.length > 0 || a !== undefined;
  roles.forEach((name, i) => {
    if (pullPreset(name, `roles[${i}]`)) return;
    const message = `unknown role ${JSON.stringify(name)}: it is not defined in ${rolesKey} and is not a preset (${PRESET_ROLE_NAMES.join(', ')})`;
    if ((options.unknownRoles ?? 'error') === 'error' || definesModel) issues.push({ path: `roles[${i}]`, message: `${message}; define it or fix the name` });
    else warnings.push({ path: `roles[${i}]`, message: `${message}, so it grants nothing; define it in roleDefinitions or fix the name` });
  });
  findCycles(defs, explicit, sources, indexOfEntry, issues);

  const security: SecurityPolicy[] = [];
  const securityKey = `${prefix}securityPolicies`;
  const securityEntries: readonly SecurityEntry[] = a ? (a.securityPolicies ?? []) : (sections.securityPolicies ?? []);
  securityEntries.forEach((entry, j) => {
    if (typeof entry !== 'string') security.push(entry);
    else if (isPresetSecurityPolicy(entry)) security.push(presetSecurityPolicy(entry));
    else issues.push({ path: `${securityKey}[${j}]`, message: `unknown preset security policy ${JSON.stringify(entry)} (presets: ${PRESET_SECURITY_POLICY_IDS.join(', ')}); define it as { id, name, rules, enforcement }` });
  });
  const access = [...((a ? a.accessPolicies : sections.accessPolicies) ?? [])];
  const caps = [...((a ? a.capabilityPolicies : sections.capabilityPolicies) ?? [])];
  const data = [...((a ? a.dataPolicies : sections.dataPolicies) ?? [])];
  if (security.length === securityEntries.length) duplicates(security, (p) => p.id, (j) => `${securityKey}[${j}]${typeof securityEntries[j] === 'string' ? '' : '.id'}`, 'security policy id', issues);
  duplicates(access, (p) => p.id, (j) => `${prefix}accessPolicies[${j}].id`, 'access policy id', issues);
  duplicates(caps, (p) => p.policyId, (j) => `${prefix}capabilityPolicies[${j}].policyId`, 'capability policy id', issues);
  duplicates(data, (p) => p.dataId, (j) => `${prefix}dataPolicies[${j}].dataId`, 'data id', issues);

  const model = Object.create(null) as Record<string | symbol, unknown>;
  Object.assign(model, { roles: freezeData(defs), accessPolicies: freezeData(access), capabilityPolicies: freezeData(caps), securityPolicies: freezeData(security), dataPolicies: freezeData(data) });
  Object.defineProperty(model, ROLE_SOURCES, { value: Object.freeze([...sources]), enumerable: false });
  return { model: Object.freeze(model) as unknown as Required<AuthzModel>, issues, warnings };
}

/** Report each parentRoles cycle once, at the definition where it starts: `cycle a → b → a`. */
function findCycles(defs: readonly RoleDefinition[], explicit: number, sources: readonly string[], indexOf: (name: string) => number, issues: PolicyIssue[]): void {
  const WHITE = 0;
  const GREY = 1;
  const BLACK = 2;
  const color = new Uint8Array(defs.length);
  for (let root = 0; root < explicit; root++) {
    if (color[root] !== WHITE) continue;
    // Iterative DFS; `path` is the grey chain from the root.
    const path: number[] = [root];
    const next: number[] = [0];
    color[root] = GREY;
    while (path.length > 0) {
      const u = path[path.length - 1]!;
      const parents = defs[u]!.parentRoles ?? [];
      const k = next[next.length - 1]!;
      if (k >= parents.length) {
        color[u] = BLACK;
        path.pop();
        next.pop();
        continue;
      }
      next[next.length - 1] = k + 1;
      const v = indexOf(parents[k]!);
      if (v < 0) continue; // unknown parent: reported already
      if (color[v] === GREY) {
        const cycle = path.slice(path.indexOf(v)).map((x) => defs[x]!.name);
        issues.push({ path: `${sources[v]}.parentRoles`, message: `cycle ${[...cycle, defs[v]!.name].join(' → ')}; a role cannot inherit from itself, remove one of these parentRoles entries` });
      } else if (color[v] === WHITE) {
        color[v] = GREY;
        path.push(v);
        next.push(0);
      }
    }
  }
}
