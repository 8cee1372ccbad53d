/**
 * The trust check of `Sandbox.load`: a component's signature against the trusted issuers, the
 * revocation list and the policy's agent type, recorded either way.
 */
import { SandboxError } from '../errors.js';
import { verifyComponent, type ComponentClaims } from '../identity/signature.js';
import type { ComponentSource } from '../engine/component.js';
import type { SandboxPolicy } from '../policy/schema.js';
import type { AuditEvent } from '../gate/types.js';
import type { TrustSettings } from './options.js';

/** Verify a component's signature under `trust`; returns its claims (undefined: unsigned and allowed), throws `SIGNATURE_INVALID`. */
export function checkSignature(trust: TrustSettings, source: ComponentSource, agentId: string, policy: SandboxPolicy, audit: (e: Omit<AuditEvent, 'time'>) => void): ComponentClaims | undefined {
  const check = verifyComponent(source.bytes, trust.keys, trust.issuers ? { allowIssuers: trust.issuers } : {});
  const refuse = (code: string, reason: string, claims?: ComponentClaims): never => {
    audit({
      type: 'authentication_failure',
      agentId,
      capability: 'identity',
      resource: 'agent',
      action: 'verify-signature',
      target: source.hash,
      outcome: 'denied',
      reason: `${code}: ${reason}`,
      api: 'sandbox.load',
      details: { code, ...(claims ? { issuer: claims.iss, kid: claims.kid, sub: claims.sub } : {}) },
    });
    throw new SandboxError('SIGNATURE_INVALID', `${source.origin}: ${reason}`, { reason: code });
  };
  if (!check.ok) {
    if (check.code === 'UNSIGNED' && trust.requireSignature === false) return undefined;
    return refuse(check.code, check.reason, check.claims);
  }
  const c = check.claims;
  if (trust.revoked?.has(c.jti)) {
    return refuse('REVOKED', `the signature ${c.jti} of this component was revoked`, c);
  }
  if (policy.agent?.type !== undefined && policy.agent.type !== c.agentType) {
    return refuse('WRONG_AGENT_TYPE', `the component is signed for agent type ${JSON.stringify(c.agentType)} but the policy is for ${JSON.stringify(policy.agent.type)}`, c);
  }
  audit({
    type: 'authentication_success',
    agentId,
    capability: 'identity',
    resource: 'agent',
    action: 'verify-signature',
    target: source.hash,
    outcome: 'allowed',
    reason: `signed by ${c.iss} (key ${c.kid}) for ${c.sub}, valid until ${new Date(c.exp).toISOString()}`,
    api: 'sandbox.load',
    details: { issuer: c.iss, kid: c.kid, sub: c.sub, agentType: c.agentType, capabilities: [...c.capabilities], exp: c.exp },
  });
  return c;
}
