/**
 * The identity of one running agent instance (the seed's `AgentIdentity`): its own Ed25519
 * key pair, made at load and kept on the host (the guest never sees the private key), and
 * the authentication state the gate checks before every decision.
 *
 * The state is one shared int: the host flips it when the identity is revoked, expires or
 * its token stops validating, and the agent's next call is refused (`authentication_failure`).
 *
 * @example
 * ```ts
 * const id = InstanceIdentity.create({ agentId, agentType: 'code-reviewer', version: '1', ttlMs: 86_400_000 });
 * id.revoke('compromised');   // the agent's next call is refused
 * ```
 */
import { b64u, fingerprint, generateKeyPair, type RawKeyPair } from '../identity/keys.js';
import type { AgentIdentity } from '../identity/types.js';
import type { AuditEvent } from '../gate/types.js';

/** Values of the shared authentication cell. */
export const AuthState = Object.freeze({ OK: 1, REVOKED: 2, EXPIRED: 3, TOKEN_INVALID: 4, COMPROMISED: 5, QUARANTINED: 6 });

/** Default lifetime of an instance identity: 24 hours. */
export const DEFAULT_IDENTITY_TTL_MS = 86_400_000;

/** Text for a state, as the gate records it. */
export function authStateReason(state: number, fp: string): string {
  switch (state) {
    case AuthState.REVOKED:
      return `agent identity ${fp.slice(0, 16)}… was revoked`;
    case AuthState.EXPIRED:
      return `agent identity ${fp.slice(0, 16)}… expired`;
    case AuthState.TOKEN_INVALID:
      return `the session token of agent identity ${fp.slice(0, 16)}… no longer validates`;
    case AuthState.COMPROMISED:
      return `agent identity ${fp.slice(0, 16)}… is marked compromised`;
    case AuthState.QUARANTINED:
      return `the agent (identity ${fp.slice(0, 16)}…) was quarantined by the monitor`;
    default:
      return `agent identity ${fp.slice(0, 16)}… is not authenticated`;
  }
}

/** One instance's identity and authentication state. */
export class InstanceIdentity {
  private statusValue: AgentIdentity['status'] = 'active';
  private readonly cell: Int32Array;
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly info: Omit<AgentIdentity, 'status'>,
    /** The instance's key pair (host side only). */
    readonly keys: RawKeyPair,
    /** The cell shared with the instance's worker. */
    readonly shared: SharedArrayBuffer,
  ) {
    this.cell = new Int32Array(shared);
    Atomics.store(this.cell, 0, AuthState.OK);
    this.timer = setTimeout(() => this.set(AuthState.EXPIRED, 'expired'), Math.max(0, Math.min(info.expires - Date.now(), 2 ** 31 - 1)));
    this.timer.unref();
  }

  /** A fresh identity for an agent instance. */
  static create(o: { agentId: string; agentType: string; version: string; ttlMs?: number; now?: number }): InstanceIdentity {
    const keys = generateKeyPair();
    const created = o.now ?? Date.now();
    return new InstanceIdentity(
      { instanceId: o.agentId, agentType: o.agentType, version: o.version, publicKey: b64u(keys.publicKey), fingerprint: fingerprint(keys.publicKey), created, expires: created + (o.ttlMs ?? DEFAULT_IDENTITY_TTL_MS) },
      keys,
      new SharedArrayBuffer(4),
    );
  }

  /** The seed's `AgentIdentity`. */
  get identity(): AgentIdentity {
    return { ...this.info, status: this.statusValue };
  }

  /** Whether calls are authenticated now. */
  get authenticated(): boolean {
    return Atomics.load(this.cell, 0) === AuthState.OK;
  }

  /** The current state's reason (for errors and records). */
  get reason(): string {
    return authStateReason(Atomics.load(this.cell, 0), this.info.fingerprint);
  }

  private set(state: number, status: AgentIdentity['status']): void {
    if (Atomics.load(this.cell, 0) !== AuthState.OK && state !== AuthState.OK) return;
    Atomics.store(this.cell, 0, state);
    this.statusValue = status;
  }

  /** Revoke (or mark compromised): every later call of the instance is refused. */
  revoke(compromised = false): void {
    this.set(compromised ? AuthState.COMPROMISED : AuthState.REVOKED, compromised ? 'compromised' : 'revoked');
  }

  /**
   * Quarantine: every later call of the instance is refused with reason `quarantined` (whatever
   * state the identity was in: containment overrides).
   */
  quarantine(): void {
    Atomics.store(this.cell, 0, AuthState.QUARANTINED);
    this.statusValue = 'revoked';
  }

  /** Whether the monitor quarantined this identity. */
  get quarantined(): boolean {
    return Atomics.load(this.cell, 0) === AuthState.QUARANTINED;
  }

  /** The instance's token stopped validating (revoked, expired and not refreshable). */
  tokenInvalid(): void {
    this.set(AuthState.TOKEN_INVALID, this.statusValue);
  }

  /** Stop the expiry timer (the instance is gone). */
  dispose(): void {
    clearTimeout(this.timer);
  }
}

/** What the audit trail keeps of a token: its id, family, key and expiry, never the token itself. */
function tokenSummary(token: string): Record<string, unknown> {
  try {
    const [h, p] = token.split('.');
    const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as { kid?: string };
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as { jti?: string; fam?: string; exp?: number };
    return { jti: claims.jti, fam: claims.fam, kid: header.kid, exp: claims.exp };
  } catch {
    return {};
  }
}

/** The record a load makes of the instance identity it issued (and its signer and token). */
export function identityEvent(agentId: string, id: AgentIdentity, claims: { readonly kid: string; readonly iss: string } | undefined, token: string | undefined): Omit<AuditEvent, 'time'> {
  return {
    type: 'authentication_success',
    agentId,
    capability: 'identity',
    resource: 'agent',
    action: 'identity',
    target: id.fingerprint,
    outcome: 'allowed',
    reason: `agent instance identity ${id.fingerprint.slice(0, 16)}… (${id.agentType} ${id.version}) valid until ${new Date(id.expires).toISOString()}`,
    api: 'sandbox.load',
    details: { ...id, ...(claims ? { signedBy: claims.kid, issuer: claims.iss } : {}), ...(token !== undefined ? { token: tokenSummary(token) } : {}) },
  };
}
