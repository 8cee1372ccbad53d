/**
 * An agent's session token (when the sandbox has `tokens`): a JWT bound to the instance's key,
 * issued at load, re-validated on a timer, renewed in its family before it expires, and
 * revoked with the identity. A token that stops validating ends the instance's authentication.
 */
import type { AuditEvent } from '../gate/types.js';
import type { InstanceIdentity } from './agent-identity.js';
import type { ResolvedTokens } from './options.js';

/** What the token needs of its agent. */
export interface TokenOwner {
  readonly id: string;
  readonly auth: InstanceIdentity;
  /** The capabilities the token's scope names (the policy's, now). */
  scope(): readonly string[];
  /** Whether the agent is closed (no more checks). */
  closed(): boolean;
  audit(e: Omit<AuditEvent, 'time'>): void;
}

export class AgentToken {
  private value: string | undefined;

  constructor(private readonly owner: TokenOwner) {}

  /** The current token, if any. */
  get current(): string | undefined {
    return this.value;
  }

  /** Issue the instance's first session token. */
  async issue(settings: ResolvedTokens): Promise<void> {
    this.value = await this.mint(settings);
  }

  private async mint(settings: ResolvedTokens, family?: string): Promise<string | undefined> {
    const id = this.owner.auth.identity;
    const ttlMs = Math.min(settings.ttlMs ?? Infinity, id.expires - Date.now());
    if (!(ttlMs >= 1000)) return undefined;
    return settings.service.issue(
      { agentId: this.owner.id, agentType: id.agentType, publicKey: this.owner.auth.keys.publicKey },
      'session',
      { scope: [...this.owner.scope()], ...(Number.isFinite(ttlMs) ? { ttlMs } : {}), ...(family !== undefined ? { family } : {}) },
    );
  }

  /**
   * Re-validate the token. One that no longer validates ends the instance's authentication
   * (recorded once); one with less than a quarter of its life left is renewed in its family
   * while the identity holds.
   */
  async check(settings: ResolvedTokens): Promise<void> {
    const token = this.value;
    const auth = this.owner.auth;
    if (token === undefined || this.owner.closed() || !auth.authenticated) return;
    const fail = (code: string, reason: string): void => {
      auth.tokenInvalid();
      this.owner.audit({ type: 'authentication_failure', agentId: this.owner.id, capability: 'identity', resource: 'agent', action: 'validate-token', target: auth.identity.fingerprint, outcome: 'denied', reason: `${code}: ${reason}`, api: 'sandbox.tokens', details: { code } });
    };
    try {
      const v = await settings.service.validate(token, { kind: 'session', agentPublicKey: auth.keys.publicKey, agentId: this.owner.id });
      if (this.value !== token || !auth.authenticated) return;
      if (!v.ok) return fail(v.code, v.reason);
      const nowSec = Date.now() / 1000;
      if (v.claims.exp - nowSec < (v.claims.exp - v.claims.iat) / 4) {
        const next = await this.mint(settings, v.claims.fam);
        if (next !== undefined && this.value === token) this.value = next;
      }
    } catch (e) {
      // A check that cannot be made denies.
      if (auth.authenticated) fail('CHECK_FAILED', `the token could not be checked: ${(e as Error).message}`);
    }
  }

  /** Add the token to the revocation list every verifier shares (why: `reason`); a failure is recorded. */
  revoke(settings: ResolvedTokens | undefined, reason: string, api: string): void {
    if (!settings || this.value === undefined) return;
    settings.service.revoke(this.value, reason).catch((e: unknown) => {
      this.owner.audit({ type: 'security_alert', agentId: this.owner.id, capability: 'identity', resource: 'agent', action: 'revoke-token', target: this.owner.auth.identity.fingerprint, outcome: 'denied', reason: `the token could not be added to the revocation list (${reason}): ${(e as Error).message}`, api });
    });
  }
}
