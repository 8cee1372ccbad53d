/**
 * Shared shapes of the identity layer (keys, agent identities) so that the key store, component
 * signatures, certificates and tokens agree on them.
 */

/** Lifecycle of a stored key. */
export type KeyStatus = 'active' | 'rotated' | 'revoked' | 'expired';

/** What the key store tells about a key (never the private part). */
export interface KeyInfo {
  /** Key id: the first 16 hex digits of the fingerprint (stable, derived from the public key). */
  readonly kid: string;
  /** A human name (`issuer`, `ca`, `tokens`, …); unique among active keys. */
  readonly name: string;
  /** Raw 32-byte Ed25519 public key, base64url. */
  readonly publicKey: string;
  /** SHA-256 of the raw public key, hex. */
  readonly fingerprint: string;
  /** Epoch ms. */
  readonly created: number;
  readonly expires?: number;
  readonly status: KeyStatus;
  /** When a rotation replaced it; its signatures stay valid until `overlapUntil`. */
  readonly rotatedAt?: number;
  readonly overlapUntil?: number;
  /** The key that replaced it. */
  readonly successor?: string;
  readonly revokedAt?: number;
  readonly revocationReason?: string;
}

/** Whether a key may be trusted at a time, and why not. */
export type KeyTrust = { readonly ok: true; readonly key: KeyInfo } | { readonly ok: false; readonly reason: string };

/**
 * The key store's interface as the other identity modules use it (implemented in
 * `keystore.ts`). Private keys are only ever returned decrypted to the caller that asked.
 */
export interface KeyProvider {
  /** Every key, newest first. */
  list(): readonly KeyInfo[];
  /** A key by kid or by name (the active one for a name). */
  get(kidOrName: string): KeyInfo | undefined;
  /** The decrypted 32-byte seed (needs the passphrase). */
  privateKey(kidOrName: string): Promise<Uint8Array>;
  /** Whether signatures by `kid` are acceptable at `at` (active, or rotated within its overlap; not revoked or expired). */
  trust(kid: string, at?: number): KeyTrust;
}

/** The seed's `AgentIdentity`: one per running agent instance. */
export interface AgentIdentity {
  /** The instance id (UUID v4): the agent id of the sandbox. */
  readonly instanceId: string;
  readonly agentType: string;
  readonly version: string;
  /** Raw Ed25519 public key of the instance, base64url. */
  readonly publicKey: string;
  /** SHA-256 of the public key, hex. */
  readonly fingerprint: string;
  readonly created: number;
  readonly expires: number;
  readonly status: 'active' | 'revoked' | 'expired' | 'compromised';
}
