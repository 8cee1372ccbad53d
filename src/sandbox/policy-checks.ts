/**
 * Checks a policy gets when an agent is loaded: its mounts exist, and a signed component's
 * claims narrow what it may do.
 */
import { ComponentError, DeniedError, PolicyError } from '../errors.js';
import { classifyImports } from './imports.js';
import { statSync } from 'node:fs';
import { resolvePolicy } from './policy-input.js';
import type { SandboxPolicy } from '../policy/schema.js';

/**
 * The policy with `capabilities.allowed` narrowed to what a signed component's claims ask for:
 * a signed agent never gets more than its claims (forbidden stays as it is).
 */
export async function narrowCapabilities(policy: SandboxPolicy, claimed: readonly string[]): Promise<SandboxPolicy> {
  const keep = new Set(claimed);
  if (policy.capabilities.allowed.every((c) => keep.has(c))) return policy;
  const raw = JSON.parse(JSON.stringify(policy)) as Record<string, any>;
  raw['capabilities'] = { allowed: policy.capabilities.allowed.filter((c) => keep.has(c)), forbidden: [...policy.capabilities.forbidden] };
  return resolvePolicy(raw);
}

/** Every mount's host directory must exist when an agent is loaded. */
export function checkMounts(policy: SandboxPolicy): void {
  policy.mounts.forEach((m, i) => {
    let ok = false;
    try {
      ok = statSync(m.host).isDirectory();
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new PolicyError(`mounts[${i}].host: ${m.host} is not an existing directory; create it or fix the path (relative paths resolve against the policy file)`, {
        path: `mounts[${i}].host`,
      });
    }
  });
}

/**
 * A prepared component can run under the policy: it exports `run`, imports nothing the sandbox
 * lacks, and nothing the policy forbids (refused before it runs).
 */
export function checkComponentFits(prepared: { readonly exports: readonly (readonly [string, string])[]; readonly imports: readonly string[] }, policy: SandboxPolicy, origin: string): void {
  if (!prepared.exports.some(([name, kind]) => name === 'run' && kind === 'function')) {
    throw new ComponentError(`${origin}: the component does not export \`run: func(task: string) -> result<string, string>\` (world agent-os:sandbox/agent)`);
  }
  const report = classifyImports(prepared.imports, policy);
  const unsupported = report.filter((r) => r.verdict === 'unsupported');
  if (unsupported.length > 0) {
    throw new ComponentError(`${origin}: imports ${unsupported.map((r) => r.name).join(', ')}, which the sandbox does not provide; target the world agent-os:sandbox/agent`);
  }
  const refused = report.filter((r) => r.verdict === 'refused');
  if (refused.length > 0) {
    throw new DeniedError(
      `${origin}: refused before running: ${refused.map((r) => `${r.name} ${r.reason}`).join('; ')}. Remove the capability from capabilities.forbidden or build the agent without that import`,
      { imports: refused.map((r) => r.name) },
    );
  }
}
