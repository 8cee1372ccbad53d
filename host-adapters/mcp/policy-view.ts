/**
 * How the management tools show a policy: a short summary for the agent list, and the whole
 * policy as JSON with fixed environment values hidden (they may be credentials; the names say
 * enough to judge what an agent gets).
 */
import type { SandboxPolicy } from 'agent-os-sandbox';

/** What an agent may do, in a few fields: enough for a client to choose the right tool. */
export interface PolicySummary {
  readonly capabilities: readonly string[];
  readonly forbidden: readonly string[];
  /** Guest paths with `ro` or `rw`. */
  readonly mounts: readonly string[];
  readonly networkHosts: readonly string[];
  readonly env: readonly string[];
  readonly tools: readonly string[];
  readonly limits: Readonly<Record<string, number>>;
}

/** The summary of a policy (see {@link PolicySummary}). */
export function policySummary(p: SandboxPolicy): PolicySummary {
  const limits: Record<string, number> = {};
  for (const [k, v] of Object.entries(p.resourceLimits)) if (typeof v === 'number') limits[k] = v;
  return {
    capabilities: [...p.capabilities.allowed],
    forbidden: [...p.capabilities.forbidden],
    mounts: p.mounts.map((m) => `${m.guest} (${m.mode})`),
    networkHosts: [...p.networkRules.allowedHosts],
    env: [...p.env.allow, ...Object.keys(p.env.set)],
    tools: [...p.toolAccess.allow],
    limits,
  };
}

/** The policy as a plain JSON value, fixed environment values replaced by `(set)`. */
export function policyJson(p: SandboxPolicy): Record<string, unknown> {
  const json = JSON.parse(JSON.stringify(p)) as Record<string, unknown>;
  const env = json['env'] as { set?: Record<string, string> } | undefined;
  if (env?.set) for (const k of Object.keys(env.set)) env.set[k] = '(set)';
  return json;
}
