/**
 * Checks a policy gets when an agent is loaded: its mounts exist, and a signed component's
 * claims narrow what it may do.
 */
import { PolicyError } from '../errors.js';
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
