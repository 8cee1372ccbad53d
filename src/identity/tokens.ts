/**
 * Short-lived JWTs for agents: access, refresh and session tokens signed with the key store's
 * Ed25519 issuer key (JWS `EdDSA`, through `jose`), each bound to the agent's own key
 * (`cnf.jkt`, the RFC 7638 thumbprint, as in RFC 7800 / RFC 9449) so a token copied to
 * another agent is useless there.
 *
 * Validation refuses with a stable code (never throws for a bad token; API misuse throws
 * `UsageError`). Only `EdDSA` is accepted, checked on the raw header before any key lookup, so
 * `alg: none` and HS256-with-the-public-key forgeries stop at `BAD_ALG`. The key is looked up
 * by `kid` and must be a key named `issuerKey` that the key store trusts now (a rotated key
 * within its overlap still verifies; a revoked one does not). Verified claims are cached by
 * exact token string (LRU) until they expire; a hit still checks key trust, kind, time,
 * revocation, agent and key binding, so it answers exactly like a full validation.
 *
 * Refresh tokens are single use: exchanging one revokes its `jti`, and presenting it again
 * revokes its whole family (`fam`: every token descended from one {@link TokenService.issuePair}),
 * including the newer tokens, since reuse means a copy was taken.
 *
 * @example
 * ```ts
 * const tokens = new TokenService({ keys, issuerKey: 'tokens', revocations: await RevocationStore.open(dir) });
 * const { access, refresh } = await tokens.issuePair({ agentId, agentType: 'coder', publicKey }, { scope: ['fs:read'] });
 * const v = await tokens.validate(access, { kind: 'access', agentPublicKey: publicKey, agentId });
 * if (!v.ok) deny(v.code, v.reason);
 * ```
 */
import { randomBytes } from 'node:crypto';
import { SignJWT, compactVerify, importJWK, jwtVerify, type CryptoKey, type JWK } from 'jose';
import { SandboxError, UsageError } from '../errors.js';
import { b64u, fromB64u, jwkThumbprint, publicJwk, publicKeyOf } from './keys.js';
import type { RevocationStore } from './revocations.js';
import type { KeyInfo, KeyProvider } from './types.js';

/** The three token kinds. */
export type TokenKind = 'access' | 'refresh' | 'session';

/** The JOSE `typ` header of each kind. */
export const TOKEN_TYPES: Readonly<Record<TokenKind, string>> = Object.freeze({ access: 'at+jwt', refresh: 'refresh+jwt', session: 'session+jwt' });
/** The audience of each kind. */
export const TOKEN_AUDIENCES: Readonly<Record<TokenKind, string>> = Object.freeze({ access: 'agentos-gate', refresh: 'agentos-refresh', session: 'agentos-gate' });

/** The claims of a token issued here. */
export interface TokenClaims {
  readonly iss: string;
  /** The agent id. */
  readonly sub: string;
  readonly aud: string;
  /** Seconds since the epoch (as are `nbf` and `exp`). */
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  /** The token family (one per login; kept across refreshes). */
  readonly fam: string;
  readonly agent_type: string;
  readonly scope: readonly string[];
  /** Key binding: the RFC 7638 thumbprint of the agent's public key. */
  readonly cnf: { readonly jkt: string };
}

/** Why a token was refused. */
export type TokenRefusalCode =
  | 'MALFORMED' | 'BAD_ALG' | 'BAD_SIGNATURE' | 'UNKNOWN_KEY' | 'KEY_NOT_TRUSTED' | 'EXPIRED' | 'NOT_YET_VALID'
  | 'WRONG_AUDIENCE' | 'WRONG_TYPE' | 'REVOKED' | 'WRONG_AGENT' | 'KEY_MISMATCH';

/** A refused token. `reason` is for logs; it may quote (escaped, truncated) token content. */
export interface TokenRefusal {
  readonly ok: false;
  readonly code: TokenRefusalCode;
  readonly reason: string;
}

/** The result of {@link TokenService.validate}. */
export type TokenValidation = { readonly ok: true; readonly claims: TokenClaims; readonly kind: TokenKind; readonly kid: string } | TokenRefusal;

/** The result of {@link TokenService.refresh}. */
export type TokenRefresh = { readonly ok: true; readonly access: string; readonly refresh: string } | TokenRefusal;

/** Who a token is for. */
export interface TokenSubject {
  readonly agentId: string;
  readonly agentType: string;
  /** The agent's own raw 32-byte Ed25519 public key: the token is bound to it. */
  readonly publicKey: Uint8Array;
}

/** Options of {@link TokenService.issue}. */
export interface IssueOptions {
  readonly scope?: readonly string[];
  /** Lifetime; default by kind; at most `maxTtlMs`. */
  readonly ttlMs?: number;
  /** Put the token in an existing family (default: a new one). */
  readonly family?: string;
}

/** What a validation expects. */
export interface TokenExpectations {
  readonly kind: TokenKind;
  /** The presenting agent's public key: must match the token's `cnf.jkt`. */
  readonly agentPublicKey?: Uint8Array;
  /** The presenting agent's id: must equal `sub`. */
  readonly agentId?: string;
}

/** Options of the {@link TokenService} constructor. */
export interface TokenServiceOptions {
  readonly keys: KeyProvider;
  /** Name of the signing key in the key store; only keys of this name are accepted. */
  readonly issuerKey: string;
  /** `iss`; default `'agentos'`. */
  readonly issuer?: string;
  readonly revocations: RevocationStore;
  /** Clock, epoch ms; default `Date.now`. */
  readonly now?: () => number;
  /** Defaults: 5 min, 24 h, 8 h. */
  readonly accessTtlMs?: number;
  readonly refreshTtlMs?: number;
  readonly sessionTtlMs?: number;
  /** Longest `ttlMs` accepted by `issue`; default the longest of the three above. */
  readonly maxTtlMs?: number;
  /** Verified tokens kept; default 10,000; 0 disables the cache. */
  readonly cacheSize?: number;
  /** Clock skew allowed on `nbf`/`exp`, seconds; default 5. */
  readonly clockToleranceSec?: number;
}

/** The result of {@link TokenService.revoke}. */
export interface RevokeResult {
  readonly jti: string;
  /** The family, when it was revoked too. */
  readonly fam?: string;
  /** When the entry may be forgotten (epoch ms). */
  readonly expiresAt: number;
  readonly alreadyRevoked: boolean;
  /** The token had expired already, so its jti was not stored. */
  readonly expired?: boolean;
}

interface Entry {
  readonly claims: TokenClaims;
  readonly kind: TokenKind;
  readonly kid: string;
  /** A presenting key already found to match `cnf.jkt` (saves hashing on later hits). */
  bound?: Uint8Array;
}
type Refusal = TokenRefusal & { readonly claims?: TokenClaims };
type Checked = { readonly ok: true; readonly entry: Entry } | Refusal;

const KINDS = Object.keys(TOKEN_TYPES) as TokenKind[];
const MAX_TOKEN = 8192;
const B64U = /^[A-Za-z0-9_-]+$/;
/** 64 bytes in canonical unpadded base64url: the last character carries 2 bits and 4 zero bits. */
const ED25519_SIG = /^[A-Za-z0-9_-]{85}[AQgw]$/;
const refuse = (code: TokenRefusalCode, reason: string, claims?: TokenClaims): Refusal => (claims ? { ok: false, code, reason, claims } : { ok: false, code, reason });
const show = (v: unknown): string => JSON.stringify(typeof v === 'string' ? v.slice(0, 80) : v === undefined ? 'undefined' : String(v).slice(0, 80));
const iso = (sec: number): string => new Date(sec * 1000).toISOString();
const randomId = (): string => randomBytes(16).toString('base64url');

/** Issues and validates tokens. */
export class TokenService {
  private readonly keys: KeyProvider;
  private readonly issuerKey: string;
  private readonly issuer: string;
  private readonly revocations: RevocationStore;
  private readonly now: () => number;
  private readonly ttl: Readonly<Record<TokenKind, number>>;
  private readonly maxTtlMs: number;
  private readonly cacheSize: number;
  private readonly tolSec: number;
  private readonly cache = new Map<string, Entry>();
  private readonly verifyKeys = new Map<string, Promise<CryptoKey>>();
  private signing: { kid: string; key: Promise<CryptoKey> } | undefined;
  /** Cache statistics. */
  readonly stats = { hits: 0, misses: 0 };

  constructor(options: TokenServiceOptions) {
    const o = options ?? ({} as TokenServiceOptions);
    if (!o.keys || typeof o.keys.trust !== 'function') throw new UsageError('TokenService: keys (a KeyProvider) is required');
    if (typeof o.issuerKey !== 'string' || o.issuerKey === '') throw new UsageError('TokenService: issuerKey (a key name) is required');
    if (!o.revocations || typeof o.revocations.has !== 'function') throw new UsageError('TokenService: revocations (a RevocationStore) is required');
    this.keys = o.keys;
    this.issuerKey = o.issuerKey;
    this.issuer = o.issuer ?? 'agentos';
    this.revocations = o.revocations;
    this.now = o.now ?? Date.now;
    this.ttl = { access: ms(o.accessTtlMs, 300_000, 'accessTtlMs'), refresh: ms(o.refreshTtlMs, 86_400_000, 'refreshTtlMs'), session: ms(o.sessionTtlMs, 28_800_000, 'sessionTtlMs') };
    this.maxTtlMs = ms(o.maxTtlMs, Math.max(...Object.values(this.ttl)), 'maxTtlMs');
    this.cacheSize = o.cacheSize ?? 10_000;
    this.tolSec = o.clockToleranceSec ?? 5;
    if (!Number.isSafeInteger(this.cacheSize) || this.cacheSize < 0) throw new UsageError('TokenService: cacheSize must be a whole number ≥ 0');
    if (!Number.isSafeInteger(this.tolSec) || this.tolSec < 0 || this.tolSec > 300) throw new UsageError('TokenService: clockToleranceSec must be 0..300');
  }

  /** Issue one token of `kind` for `subject`. Throws `UsageError` for bad arguments or an issuer key that cannot sign. */
  async issue(subject: TokenSubject, kind: TokenKind, options: IssueOptions = {}): Promise<string> {
    if (!KINDS.includes(kind)) throw new UsageError(`token kind must be one of ${KINDS.join(', ')}, not ${show(kind)}`);
    const s = subject ?? ({} as TokenSubject);
    if (typeof s.agentId !== 'string' || s.agentId === '' || s.agentId.length > 256) throw new UsageError('issue: subject.agentId must be a non-empty string (≤ 256 characters)');
    if (typeof s.agentType !== 'string' || s.agentType.length > 256) throw new UsageError('issue: subject.agentType must be a string (≤ 256 characters)');
    checkKey(s.publicKey, 'subject.publicKey');
    const scope = options.scope ?? [];
    if (!Array.isArray(scope) || scope.some((x) => typeof x !== 'string' || x === '')) throw new UsageError('issue: scope must be an array of non-empty strings');
    const ttl = options.ttlMs === undefined ? this.ttl[kind] : ms(options.ttlMs, 0, 'ttlMs');
    if (ttl > this.maxTtlMs) throw new UsageError(`issue: ttlMs ${ttl} is above the maximum ${this.maxTtlMs}`);
    const fam = options.family ?? randomId();
    if (typeof fam !== 'string' || !B64U.test(fam) || fam.length > 128) throw new UsageError('issue: family must be a base64url id');
    const now = this.now();
    const signer = await this.signer(now);
    const iat = Math.floor(now / 1000);
    return new SignJWT({ agent_type: s.agentType, scope: [...scope], cnf: { jkt: jwkThumbprint(s.publicKey) }, fam })
      .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_TYPES[kind], kid: signer.kid })
      .setIssuer(this.issuer).setSubject(s.agentId).setAudience(TOKEN_AUDIENCES[kind])
      .setIssuedAt(iat).setNotBefore(iat).setExpirationTime(Math.floor((now + ttl) / 1000)).setJti(randomId())
      .sign(signer.key);
  }

  /** An access and a refresh token of one new family (a login). */
  async issuePair(subject: TokenSubject, options: { scope?: readonly string[] } = {}): Promise<{ access: string; refresh: string }> {
    const family = randomId();
    const [access, refresh] = await Promise.all([this.issue(subject, 'access', { ...options, family }), this.issue(subject, 'refresh', { ...options, family })]);
    return { access, refresh };
  }

  /** Validate `token` against `expect`. Never throws for a bad token; see {@link TokenRefusalCode}. */
  async validate(token: string, expect: TokenExpectations): Promise<TokenValidation> {
    const r = await this.verify(token, expect);
    return r.ok ? { ok: true, claims: r.entry.claims, kind: r.entry.kind, kid: r.entry.kid } : { ok: false, code: r.code, reason: r.reason };
  }

  /**
   * Exchange a refresh token for a new access and refresh token of the same family, bound to
   * the same key. The old refresh token is used up; presenting it again revokes the family.
   */
  async refresh(refreshToken: string, agentPublicKey: Uint8Array): Promise<TokenRefresh> {
    checkKey(agentPublicKey, 'agentPublicKey');
    const r = await this.verify(refreshToken, { kind: 'refresh', agentPublicKey });
    let c: TokenClaims;
    if (r.ok) {
      c = r.entry.claims;
      // No await between the check inside add() and here: two concurrent exchanges cannot both pass.
      if (await this.revocations.add(c.jti, (c.exp + this.tolSec) * 1000, 'refreshed (a refresh token is single use)')) {
        const subject = { agentId: c.sub, agentType: c.agent_type, publicKey: agentPublicKey };
        const opts = { scope: c.scope, family: c.fam };
        const [access, refresh] = await Promise.all([this.issue(subject, 'access', opts), this.issue(subject, 'refresh', opts)]);
        return { ok: true, access, refresh };
      }
    } else if (r.code === 'REVOKED' && r.claims) c = r.claims;
    else return { ok: false, code: r.code, reason: r.reason };
    if (this.revocations.hasFamily(c.fam)) return { ok: false, code: 'REVOKED', reason: `token family ${c.fam} is revoked` };
    await this.revocations.addFamily(c.fam, this.familyExpiry(), `refresh token ${c.jti} presented again after use: family revoked (possible theft)`);
    return { ok: false, code: 'REVOKED', reason: `refresh token ${c.jti} was already used; as a reused refresh token means a copy exists, its whole family is now revoked` };
  }

  /**
   * Revoke a token (given whole, so its expiry is known; its signature must verify under a
   * known issuer key) or a bare `jti`. `family: true` (token only) revokes its family too.
   */
  async revoke(tokenOrJti: string, reason: string, options: { family?: boolean } = {}): Promise<RevokeResult> {
    if (typeof tokenOrJti !== 'string' || tokenOrJti === '') throw new UsageError('revoke: a token or a jti is required');
    const now = this.now();
    if (!tokenOrJti.includes('.')) {
      if (!B64U.test(tokenOrJti) || tokenOrJti.length > 128) throw new UsageError(`revoke: ${show(tokenOrJti)} is neither a token nor a jti`);
      if (options.family) throw new UsageError('revoke: revoking the family needs the token itself, not its jti');
      const expiresAt = this.familyExpiry();
      return { jti: tokenOrJti, expiresAt, alreadyRevoked: !(await this.revocations.add(tokenOrJti, expiresAt, reason)) };
    }
    const c = await this.signedClaims(tokenOrJti);
    const expiresAt = (c.exp + this.tolSec) * 1000;
    const expired = expiresAt <= now;
    const alreadyRevoked = expired ? this.revocations.has(c.jti) : !(await this.revocations.add(c.jti, expiresAt, reason));
    if (options.family) await this.revocations.addFamily(c.fam, this.familyExpiry(), reason);
    return { jti: c.jti, expiresAt, alreadyRevoked, ...(options.family ? { fam: c.fam } : {}), ...(expired ? { expired } : {}) };
  }

  /** Revoke every token of family `fam`. Resolves to false if it already was. */
  revokeFamily(fam: string, reason: string): Promise<boolean> {
    return this.revocations.addFamily(fam, this.familyExpiry(), reason);
  }

  /** Forget every cached validation. */
  clearCache(): void {
    this.cache.clear();
  }

  private familyExpiry(): number {
    return this.now() + this.maxTtlMs + this.tolSec * 1000;
  }

  private async verify(token: string, expect: TokenExpectations): Promise<Checked> {
    const e = expect ?? ({} as TokenExpectations);
    if (!KINDS.includes(e.kind)) throw new UsageError(`validate: expect.kind must be one of ${KINDS.join(', ')}`);
    if (e.agentPublicKey !== undefined) checkKey(e.agentPublicKey, 'expect.agentPublicKey');
    if (e.agentId !== undefined && typeof e.agentId !== 'string') throw new UsageError('validate: expect.agentId must be a string');
    const now = this.now();
    const hit = this.cache.get(token);
    if (hit) {
      this.stats.hits++;
      this.cache.delete(token); // LRU: move to the newest end
      this.cache.set(token, hit);
      const r = this.keyProblem(hit.kid, now) ?? this.timeAndKind(hit.claims, hit.kind, TOKEN_TYPES[hit.kind], e.kind, now);
      if (r) {
        if (r.code === 'EXPIRED') this.cache.delete(token);
        return r;
      }
      return this.expectations(hit, e);
    }
    this.stats.misses++;
    const parsed = parseHeader(token);
    if (!parsed.ok) return parsed;
    const kid = parsed.kid;
    const key = this.keyProblem(kid, now) ?? (await this.verifyKey(kid));
    if ('code' in key) return key;
    let payload: Record<string, unknown>;
    try {
      payload = (await jwtVerify(token, key, { algorithms: ['EdDSA'], issuer: this.issuer, audience: TOKEN_AUDIENCES[e.kind], typ: TOKEN_TYPES[e.kind], clockTolerance: this.tolSec, currentDate: new Date(now), requiredClaims: ['iat', 'nbf', 'exp', 'jti', 'sub'] })).payload;
    } catch (err) {
      return this.joseRefusal(err, parsed.header, e.kind, kid, now);
    }
    const claims = shapeOf(payload);
    if (typeof claims === 'string') return refuse('MALFORMED', claims);
    const entry: Entry = { claims, kind: e.kind, kid };
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(token, entry);
    }
    return this.expectations(entry, e);
  }

  /** The checks of a verified token that depend on the caller and on revocation. */
  private expectations(entry: Entry, e: TokenExpectations): Checked {
    const c = entry.claims;
    if (this.revocations.has(c.jti)) return refuse('REVOKED', `token ${c.jti} is revoked`, c);
    if (this.revocations.hasFamily(c.fam)) return refuse('REVOKED', `token family ${c.fam} is revoked`, c);
    if (e.agentId !== undefined && e.agentId !== c.sub) return refuse('WRONG_AGENT', `token is for agent ${show(c.sub)}, not ${show(e.agentId)}`, c);
    const k = e.agentPublicKey;
    if (k !== undefined && !(entry.bound && Buffer.compare(entry.bound, k) === 0)) {
      if (jwkThumbprint(k) !== c.cnf.jkt) return refuse('KEY_MISMATCH', "token is bound to another key (cnf.jkt is not the presenting agent key's thumbprint)", c);
      entry.bound = new Uint8Array(k);
    }
    return { ok: true, entry };
  }

  /** Kind and time checks, with jose's semantics (whole seconds, tolerance both ways). */
  private timeAndKind(c: TokenClaims, kind: TokenKind, typ: unknown, want: TokenKind, now: number): Refusal | undefined {
    if (kind !== want) return refuse('WRONG_TYPE', `token type ${show(typ)} is not ${TOKEN_TYPES[want]}`);
    const t = Math.floor(now / 1000);
    if (c.nbf > t + this.tolSec) return refuse('NOT_YET_VALID', `token is not valid before ${iso(c.nbf)}`);
    if (c.exp <= t - this.tolSec) return refuse('EXPIRED', `token expired at ${iso(c.exp)}`);
    return undefined;
  }

  private joseRefusal(err: unknown, header: Record<string, unknown>, want: TokenKind, kid: string, now: number): Refusal {
    const x = err as { code?: string; claim?: string; payload?: Record<string, unknown>; message?: string };
    const p = x.payload ?? {};
    switch (x.code) {
      case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
        return refuse('BAD_SIGNATURE', `signature does not verify under key ${kid}`);
      case 'ERR_JOSE_ALG_NOT_ALLOWED':
        return refuse('BAD_ALG', `algorithm ${show(header['alg'])} is not accepted (only EdDSA)`);
      case 'ERR_JWT_EXPIRED':
      case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
        const c = p as unknown as TokenClaims;
        if (x.claim === 'typ') return refuse('WRONG_TYPE', `token type ${show(header['typ'])} is not ${TOKEN_TYPES[want]}`);
        if (x.claim === 'aud') return refuse('WRONG_AUDIENCE', `audience ${show(p['aud'])} is not ${TOKEN_AUDIENCES[want]}`);
        if (x.claim === 'iss') return refuse('WRONG_AUDIENCE', `issuer ${show(p['iss'])} is not ${show(this.issuer)} (a token of another deployment)`);
        if ((x.claim === 'nbf' || x.claim === 'exp') && typeof c.nbf === 'number' && typeof c.exp === 'number') {
          return this.timeAndKind(c, want, undefined, want, now) ?? refuse('MALFORMED', String(x.message));
        }
        return refuse('MALFORMED', `claims: ${x.message ?? String(err)}`);
      }
      default:
        return refuse('MALFORMED', x.message ?? String(err));
    }
  }

  /** A refusal when `kid` is not a trusted issuer key now (sync: also used on cache hits). */
  private keyProblem(kid: string, now: number): Refusal | undefined {
    const info = this.keys.get(kid);
    if (!info || info.kid !== kid) return refuse('UNKNOWN_KEY', `no key ${show(kid)} in the key store`);
    if (info.name !== this.issuerKey) return refuse('KEY_NOT_TRUSTED', `key ${kid} (${show(info.name)}) is not a token-issuing key (${show(this.issuerKey)})`);
    const t = this.keys.trust(kid, now);
    return t.ok ? undefined : refuse('KEY_NOT_TRUSTED', `issuer key ${kid} is not trusted: ${t.reason}`);
  }

  private verifyKey(kid: string): Promise<CryptoKey> {
    let k = this.verifyKeys.get(kid);
    if (!k) {
      const info = this.keys.get(kid)!;
      k = importKey({ ...publicJwk(fromB64u(info.publicKey)) });
      this.verifyKeys.set(kid, k);
      k.catch(() => this.verifyKeys.delete(kid));
    }
    return k;
  }

  private async signer(now: number): Promise<{ kid: string; key: CryptoKey }> {
    const info = this.keys.get(this.issuerKey);
    if (!info) throw new UsageError(`issue: no key named ${show(this.issuerKey)} in the key store; create it first`);
    const t = this.keys.trust(info.kid, now);
    if (!t.ok || info.status !== 'active') throw new UsageError(`issue: issuer key ${show(this.issuerKey)} (${info.kid}) cannot sign: ${t.ok ? `it is ${info.status}` : t.reason}`);
    if (this.signing?.kid !== info.kid) this.signing = { kid: info.kid, key: this.loadSigner(info) };
    const s = this.signing;
    try {
      return { kid: s.kid, key: await s.key };
    } catch (e) {
      if (this.signing === s) this.signing = undefined;
      throw e;
    }
  }

  private async loadSigner(info: KeyInfo): Promise<CryptoKey> {
    const seed = await this.keys.privateKey(info.kid);
    const pub = publicKeyOf(seed);
    if (b64u(pub) !== info.publicKey) throw new SandboxError('INTERNAL', `the key store returned a private key that does not belong to key ${info.kid}`);
    return importKey({ ...publicJwk(pub), d: b64u(seed) });
  }

  /** The claims of a token whose signature verifies under a known issuer key (trusted or not). */
  private async signedClaims(token: string): Promise<TokenClaims> {
    const parsed = parseHeader(token);
    if (!parsed.ok) throw new UsageError(`revoke: not a token issued here: ${parsed.code}: ${parsed.reason}`);
    const info = this.keys.get(parsed.kid);
    if (!info || info.kid !== parsed.kid || info.name !== this.issuerKey) throw new UsageError(`revoke: not a token issued here: unknown key ${show(parsed.kid)}`);
    try {
      const { payload } = await compactVerify(token, await this.verifyKey(parsed.kid), { algorithms: ['EdDSA'] });
      const c = shapeOf(JSON.parse(Buffer.from(payload).toString('utf8')) as Record<string, unknown>);
      if (typeof c === 'string') throw new Error(c);
      return c;
    } catch (e) {
      throw new UsageError(`revoke: not a token issued here: ${(e as Error).message}`);
    }
  }
}

async function importKey(jwk: JWK): Promise<CryptoKey> {
  const key = await importJWK(jwk, 'EdDSA');
  if (key instanceof Uint8Array) throw new TypeError('not an asymmetric key');
  return key;
}

function ms(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < 1000) throw new UsageError(`${name} must be a whole number of milliseconds ≥ 1000`);
  return v;
}

function checkKey(k: unknown, name: string): void {
  if (!(k instanceof Uint8Array) || k.length !== 32) throw new UsageError(`${name} must be a raw 32-byte Ed25519 public key`);
}

/** The protected header of a compact JWS, checked far enough to pick a key; `alg` first. */
function parseHeader(token: unknown): { ok: true; header: Record<string, unknown>; kid: string } | Refusal {
  if (typeof token !== 'string') return refuse('MALFORMED', 'token is not a string');
  if (token.length > MAX_TOKEN) return refuse('MALFORMED', `token is longer than ${MAX_TOKEN} characters`);
  const parts = token.split('.');
  if (parts.length !== 3 || !B64U.test(parts[0]!)) return refuse('MALFORMED', 'not a compact JWS (three base64url parts)');
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
  } catch {
    return refuse('MALFORMED', 'the header is not JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) return refuse('MALFORMED', 'the header is not a JSON object');
  const h = header as Record<string, unknown>;
  if (h['alg'] !== 'EdDSA') return refuse('BAD_ALG', `algorithm ${show(h['alg'])} is not accepted (only EdDSA)`);
  if (!B64U.test(parts[1]!) || !ED25519_SIG.test(parts[2]!)) return refuse('MALFORMED', 'the payload or signature is not canonical base64url (an Ed25519 signature is 86 characters)');
  const kid = h['kid'];
  if (typeof kid !== 'string' || kid === '' || kid.length > 128) return refuse('UNKNOWN_KEY', 'the token names no key (kid)');
  return { ok: true, header: h, kid };
}

/** The claims, frozen, or what is wrong with them. */
function shapeOf(p: Record<string, unknown>): TokenClaims | string {
  const num = (k: string) => typeof p[k] === 'number' && Number.isFinite(p[k]);
  const str = (k: string) => typeof p[k] === 'string' && p[k] !== '';
  for (const k of ['iat', 'nbf', 'exp']) if (!num(k)) return `claim ${k} must be a number`;
  for (const k of ['iss', 'sub', 'aud', 'jti', 'fam']) if (!str(k)) return `claim ${k} must be a non-empty string`;
  const scope = p['scope'];
  const cnf = p['cnf'] as { jkt?: unknown } | undefined;
  if (typeof p['agent_type'] !== 'string') return 'claim agent_type must be a string';
  if (!Array.isArray(scope) || scope.some((x) => typeof x !== 'string')) return 'claim scope must be an array of strings';
  if (typeof cnf !== 'object' || cnf === null || typeof cnf.jkt !== 'string') return 'claim cnf.jkt (key binding) is missing';
  return Object.freeze({
    iss: p['iss'] as string, sub: p['sub'] as string, aud: p['aud'] as string, iat: p['iat'] as number, nbf: p['nbf'] as number, exp: p['exp'] as number,
    jti: p['jti'] as string, fam: p['fam'] as string, agent_type: p['agent_type'] as string, scope: Object.freeze([...(scope as string[])]), cnf: Object.freeze({ jkt: cnf.jkt }),
  });
}
