/**
 * What every instance of an agent is started with, derived once from its policy at load: host
 * caps, the environment, the quota ledger (shared by all the agent's instances) and the fuel.
 */
import { DEFAULT_CAPS, type HostCaps } from '../capabilities/context.js';
import type { InstanceInit } from '../engine/jco/engine.js';
import { QuotaLedger, quotaPolicyOf } from '../limits/quota.js';
import type { SandboxPolicy } from '../policy/schema.js';

/** The instance settings of an agent under `policy` (`hostEnv`: where `env.allow` names are read). */
export function instanceSettings(policy: SandboxPolicy, agentId: string, hostEnv: Readonly<Record<string, string | undefined>>, toolNames: string[], fuel: bigint): InstanceInit {
  const limits = policy.resourceLimits;
  const caps: HostCaps = {
    ...DEFAULT_CAPS,
    ...(limits.maxOutputBytes !== undefined ? { maxOutputBytes: limits.maxOutputBytes } : {}),
    ...(limits.maxFileSize !== undefined ? { maxFileSize: limits.maxFileSize } : {}),
    ...(limits.maxMemory !== undefined ? { maxMemory: limits.maxMemory } : {}),
    ...(policy.networkRules?.maxResponseBytes !== undefined ? { maxResponseBytes: policy.networkRules.maxResponseBytes } : {}),
  };
  const env: [string, string][] = [];
  for (const name of policy.env.allow) {
    const v = hostEnv[name];
    if (v !== undefined && !Object.hasOwn(policy.env.set, name)) env.push([name, v]);
  }
  for (const [k, v] of Object.entries(policy.env.set)) env.push([k, v]);
  // Quotas count per agent across its instances: the ledger lives here, the threads share it.
  const quotaPolicy = quotaPolicyOf(policy, agentId);
  const quota = { policy: quotaPolicy, shared: QuotaLedger.allocate(quotaPolicy) };
  return { agentId, policy: structuredClone(policy) as never, caps, env, toolNames, fuel, quota };
}
