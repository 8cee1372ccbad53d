/**
 * Turning what a caller passes as `policy` into a validated, normalized policy.
 */
import { emptyPolicy, loadPolicyFile, parsePolicyText } from '../policy/loader.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { PolicyError } from '../errors.js';

/** A path to a policy file, a policy object (validated here), or an already loaded policy. */
export type PolicyInput = string | SandboxPolicy | Record<string, unknown> | { readonly policy: SandboxPolicy } | undefined;

const LOADED = Symbol.for('agent-os-sandbox.loaded-policy');

/** Validate and normalize a policy input. No policy means deny everything but compute. */
export async function resolvePolicy(input: PolicyInput): Promise<SandboxPolicy> {
  if (input === undefined) return emptyPolicy();
  if (typeof input === 'string') return (await loadPolicyFile(input)).policy;
  if (typeof input !== 'object' || input === null) throw new PolicyError('policy must be a file path or an object');
  if ((input as Record<symbol, unknown>)[LOADED]) return input as SandboxPolicy;
  if ('policy' in input && 'source' in input && typeof input.policy === 'object') return resolvePolicy(input.policy as Record<string, unknown>);
  let text: string;
  try {
    text = JSON.stringify(input);
  } catch (e) {
    throw new PolicyError(`policy object cannot be serialized: ${e instanceof Error ? e.message : String(e)}`);
  }
  return parsePolicyText(text, { format: 'json', source: '<policy object>' }).policy;
}
