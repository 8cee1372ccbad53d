/**
 * Challenge–response authentication of agents holding a certificate of the local CA
 * (`ca.ts`): the verifier issues a single-use nonce, the prover signs a domain-separated
 * message naming the verifier, the nonce and the challenge's expiry with its Ed25519 key, and
 * the verifier checks the signature under the certificate's key, the certificate (chain,
 * validity, CRL) and the agent's registered identity.
 *
 * Mutual authentication is two such exchanges, one in each direction, each side running its
 * own {@link Authenticator} with its own agent id as `verifierId`:
 *
 * 1. A → B: `chA = authA.challenge(idA)`. B → A: `chB = authB.challenge(idB)` (may travel together).
 * 2. B answers `Authenticator.respond(chA, certB, seedB, { expectVerifierId: idA })`; A answers
 *    `Authenticator.respond(chB, certA, seedA, { expectVerifierId: idB })`.
 * 3. A runs `authA.verify(respB)` and B runs `authB.verify(respA)`; each also checks that the
 *    agent id it verified is the peer it meant to talk to (the id it passed as `expectVerifierId`).
 *
 * Because the signed message names the verifier, a response made for one verifier is refused by
 * another (its nonce is unknown there, and the signature would not cover its id). What this does
 * not do is bind the exchange to a transport channel: over a network, put a channel binding
 * (e.g. a TLS exporter value) into the `verifierId`, or run it inside the authenticated channel.
 *
 * @example
 * ```ts
 * const auth = new Authenticator({ ca, lookup: (id) => registry.get(id) });
 * const ch = auth.challenge(myAgentId);                                   // send to the peer
 * const resp = Authenticator.respond(ch, peerCertPem, peerSeed);          // on the peer
 * const r = await auth.verify(resp);                                      // back here
 * if (r.ok) r.agentId;
 * ```
 */
import { randomBytes } from 'node:crypto';
import { SandboxError, UsageError } from '../errors.js';
import { validateAgentCertificate, type CaState } from './ca.js';
import { b64u, fromB64u, signBytes, verifyBytes } from './keys.js';

/** What a verifier sends: remembered by its {@link Authenticator} until used or expired. */
export interface Challenge {
  /** 32 random bytes, base64url. */
  readonly nonce: string;
  /** Who asks (the verifier's agent id, or another name for it the prover can check). */
  readonly verifierId: string;
  /** Epoch ms. */
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** What a prover sends back. */
export interface ChallengeResponse {
  /** The nonce of the challenge answered. */
  readonly nonce: string;
  /** The prover's agent certificate (PEM). */
  readonly certificate: string;
  /** Ed25519 signature of {@link challengeMessage}, base64url. */
  readonly signature: string;
}

/** Why a response is refused. */
export type AuthFailure =
  | 'REPLAYED' | 'EXPIRED_CHALLENGE' | 'UNKNOWN_CHALLENGE' | 'BAD_SIGNATURE'
  | 'EXPIRED' | 'REVOKED' | 'UNTRUSTED' | 'UNKNOWN_AGENT' | 'AGENT_NOT_ACTIVE';

/** Result of {@link Authenticator.verify}. */
export type AuthResult =
  | { readonly ok: true; readonly agentId: string; readonly agentType: string; readonly serial: string }
  | { readonly ok: false; readonly code: AuthFailure; readonly reason: string };

/** An agent as the identity registry knows it. */
export interface AgentRecord {
  readonly agentType: string;
  readonly status: string;
}

/** Options of {@link Authenticator}. */
export interface AuthenticatorOptions {
  readonly ca: CaState;
  /** The identity registry: an agent by id, or `undefined` when unknown. */
  readonly lookup: (agentId: string) => AgentRecord | undefined | Promise<AgentRecord | undefined>;
  /** Clock, epoch ms (default `Date.now`). */
  readonly now?: () => number;
  /** How long a challenge may be answered (default 30 s). */
  readonly challengeTtlMs?: number;
  /** At most this many challenges outstanding (default 10 000); beyond it `challenge` throws `QUOTA_EXCEEDED`. */
  readonly maxOutstanding?: number;
}

const DOMAIN = 'agentos-mutual-auth/v1';
const NONCE = /^[A-Za-z0-9_-]{43}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/**
 * The exact bytes a response signs: `agentos-mutual-auth/v1\n<verifierId>\n<nonce>\n<expiresAt>`.
 *
 * @example
 * ```ts
 * verifyBytes(publicKey, challengeMessage(ch), signature);
 * ```
 */
export function challengeMessage(ch: Pick<Challenge, 'verifierId' | 'nonce' | 'expiresAt'>): Uint8Array {
  return new TextEncoder().encode(`${DOMAIN}\n${ch.verifierId}\n${ch.nonce}\n${ch.expiresAt}`);
}

interface Outstanding {
  readonly verifierId: string;
  readonly expiresAt: number;
  used: boolean;
}

/**
 * Issues challenges and verifies the responses. Challenges live in memory: each is accepted
 * once, before it expires, by the Authenticator that issued it.
 *
 * @example
 * ```ts
 * const auth = new Authenticator({ ca, lookup: (id) => agents.get(id), challengeTtlMs: 10_000 });
 * const ch = auth.challenge('verifier-1');
 * const r = await auth.verify(Authenticator.respond(ch, certPem, seed));
 * ```
 */
export class Authenticator {
  private readonly ca: CaState;
  private readonly lookup: AuthenticatorOptions['lookup'];
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly max: number;
  private readonly pending = new Map<string, Outstanding>();

  constructor(options: AuthenticatorOptions) {
    if (typeof options?.lookup !== 'function' || typeof options.ca !== 'object' || options.ca === null) throw new UsageError('Authenticator needs { ca, lookup }');
    const ttl = options.challengeTtlMs ?? 30_000;
    if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new UsageError('challengeTtlMs: expected a positive whole number of milliseconds');
    this.ca = options.ca;
    this.lookup = options.lookup;
    this.now = options.now ?? Date.now;
    this.ttl = ttl;
    this.max = options.maxOutstanding ?? 10_000;
  }

  /** Challenges remembered (issued, answered or expired, until one TTL after their expiry). */
  get outstanding(): number {
    this.sweep();
    return this.pending.size;
  }

  /**
   * A fresh challenge for the prover to sign.
   *
   * @example
   * ```ts
   * const ch = auth.challenge(myAgentId); // { nonce, verifierId, issuedAt, expiresAt }
   * ```
   */
  challenge(verifierId: string): Challenge {
    if (typeof verifierId !== 'string' || verifierId === '' || verifierId.length > 512 || /[\n\r]/.test(verifierId)) throw new UsageError('verifierId: expected 1–512 characters without line breaks');
    this.sweep();
    if (this.pending.size >= this.max) throw new SandboxError('QUOTA_EXCEEDED', `${this.pending.size} challenges outstanding; try again once some expire`, { limit: this.max });
    const nonce = b64u(randomBytes(32));
    const issuedAt = this.now();
    const expiresAt = issuedAt + this.ttl;
    this.pending.set(nonce, { verifierId, expiresAt, used: false });
    return { nonce, verifierId, issuedAt, expiresAt };
  }

  /**
   * The proving side: sign `challenge` with the private seed of the key `certificatePem`
   * certifies. `expectVerifierId` refuses (UsageError) a challenge that names another verifier
   * than the peer the prover means to authenticate to.
   *
   * @example
   * ```ts
   * const resp = Authenticator.respond(ch, myCertPem, mySeed, { expectVerifierId: peerAgentId });
   * ```
   */
  static respond(challenge: Challenge, certificatePem: string, privateSeed: Uint8Array, options: { expectVerifierId?: string } = {}): ChallengeResponse {
    if (typeof challenge !== 'object' || challenge === null || !NONCE.test(challenge.nonce) || typeof challenge.verifierId !== 'string' || !Number.isSafeInteger(challenge.expiresAt)) {
      throw new UsageError('not a challenge');
    }
    if (options.expectVerifierId !== undefined && challenge.verifierId !== options.expectVerifierId) {
      throw new UsageError(`the challenge is from ${JSON.stringify(challenge.verifierId)}, not ${JSON.stringify(options.expectVerifierId)}`);
    }
    if (typeof certificatePem !== 'string' || !certificatePem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError('certificatePem: expected a PEM certificate');
    const signature = signBytes(privateSeed, challengeMessage(challenge));
    return { nonce: challenge.nonce, certificate: certificatePem, signature: b64u(signature) };
  }

  /**
   * Check a response: the nonce is one this Authenticator issued, unused and unexpired (it is
   * used up by this call, whatever the outcome); the signature verifies under the
   * certificate's key; the certificate validates against the CA (chain, validity, CRL); the
   * registry knows the agent, with the certificate's agent type, and it is active. Never throws.
   *
   * A certificate that is not yet valid is reported as `EXPIRED` (outside its validity period);
   * a malformed one as `UNTRUSTED`.
   *
   * @example
   * ```ts
   * const r = await auth.verify(resp);
   * if (!r.ok) log(r.code, r.reason);
   * ```
   */
  async verify(response: ChallengeResponse): Promise<AuthResult> {
    const fail = (code: AuthFailure, reason: string): AuthResult => ({ ok: false, code, reason });
    const nonce = typeof response === 'object' && response !== null ? response.nonce : undefined;
    const entry = typeof nonce === 'string' ? this.pending.get(nonce) : undefined;
    const now = this.now();
    if (!entry) return fail('UNKNOWN_CHALLENGE', 'this verifier did not issue that challenge (or it expired long ago)');
    if (entry.used) return fail('REPLAYED', 'the challenge was already answered');
    entry.used = true; // before any await: concurrent verifies of one nonce see it used
    if (now > entry.expiresAt) return fail('EXPIRED_CHALLENGE', `the challenge expired at ${new Date(entry.expiresAt).toISOString()}`);
    if (typeof response.signature !== 'string' || !SIGNATURE.test(response.signature)) return fail('BAD_SIGNATURE', 'the signature is not 64 bytes of base64url');
    const cert = await validateAgentCertificate(response.certificate, this.ca, now);
    if (!cert.ok) {
      if (cert.code === 'MALFORMED' || cert.code === 'UNTRUSTED') return fail('UNTRUSTED', cert.reason);
      return fail(cert.code === 'NOT_YET_VALID' ? 'EXPIRED' : cert.code, cert.reason);
    }
    const message = challengeMessage({ verifierId: entry.verifierId, nonce: nonce!, expiresAt: entry.expiresAt });
    if (!verifyBytes(cert.publicKey, message, fromB64u(response.signature))) return fail('BAD_SIGNATURE', `the signature does not verify under the key of agent ${cert.agentId}'s certificate`);
    let agent: AgentRecord | undefined;
    try {
      agent = await this.lookup(cert.agentId);
    } catch (e) {
      return fail('UNKNOWN_AGENT', `the identity lookup failed: ${(e as Error).message}`);
    }
    if (!agent) return fail('UNKNOWN_AGENT', `agent ${cert.agentId} is not registered`);
    if (agent.status !== 'active') return fail('AGENT_NOT_ACTIVE', `agent ${cert.agentId} is ${agent.status}`);
    if (agent.agentType !== cert.agentType) return fail('UNTRUSTED', `the certificate says agent type ${cert.agentType}, the registry ${agent.agentType}`);
    return { ok: true, agentId: cert.agentId, agentType: cert.agentType, serial: cert.serial };
  }

  /**
   * Forget challenges one TTL past their expiry: until then a late answer says EXPIRED_CHALLENGE
   * and a replay REPLAYED (afterwards both say UNKNOWN_CHALLENGE). Oldest first; stops at the
   * first one still kept.
   */
  private sweep(): void {
    const now = this.now();
    for (const [nonce, e] of this.pending) {
      if (now <= e.expiresAt + this.ttl) break;
      this.pending.delete(nonce);
    }
  }
}
