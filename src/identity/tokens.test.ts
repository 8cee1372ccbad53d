import { createHmac, createPublicKey } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { b64u, fingerprint, generateKeyPair, jwkThumbprint, publicJwk, type RawKeyPair } from './keys.js';
import { RevocationStore } from './revocations.js';
import { TokenService, type TokenExpectations, type TokenKind, type TokenServiceOptions } from './tokens.js';
import type { KeyInfo, KeyProvider, KeyTrust } from './types.js';

/** A tiny in-memory key store with rotation and revocation. */
class MemKeys implements KeyProvider {
  private entries: { info: KeyInfo; pair: RawKeyPair }[] = [];
  calls = 0;
  create(name: string, at = 0): KeyInfo {
    const pair = generateKeyPair();
    const fp = fingerprint(pair.publicKey);
    const info: KeyInfo = { kid: fp.slice(0, 16), name, publicKey: b64u(pair.publicKey), fingerprint: fp, created: at, status: 'active' };
    this.entries.unshift({ info, pair });
    return info;
  }
  rotate(name: string, at: number, overlapMs: number): KeyInfo {
    const old = this.get(name)!;
    const next = this.create(name, at);
    this.update(old.kid, { status: 'rotated', rotatedAt: at, overlapUntil: at + overlapMs, successor: next.kid });
    return next;
  }
  revoke(kid: string, at: number): void {
    this.update(kid, { status: 'revoked', revokedAt: at, revocationReason: 'compromised' });
  }
  seed(kid: string): Uint8Array {
    return this.entries.find((e) => e.info.kid === kid)!.pair.privateKey;
  }
  private update(kid: string, patch: Partial<KeyInfo>): void {
    const e = this.entries.find((x) => x.info.kid === kid)!;
    e.info = { ...e.info, ...patch };
  }
  list(): readonly KeyInfo[] {
    return this.entries.map((e) => e.info);
  }
  get(kidOrName: string): KeyInfo | undefined {
    this.calls++;
    return this.entries.find((e) => e.info.kid === kidOrName)?.info ?? this.entries.find((e) => e.info.name === kidOrName && e.info.status === 'active')?.info;
  }
  async privateKey(kidOrName: string): Promise<Uint8Array> {
    return new Uint8Array(this.seed(this.get(kidOrName)!.kid));
  }
  trust(kid: string, at = Date.now()): KeyTrust {
    this.calls++;
    const k = this.entries.find((e) => e.info.kid === kid)?.info;
    if (!k) return { ok: false, reason: 'unknown key' };
    if (k.status === 'active' || (k.status === 'rotated' && at <= (k.overlapUntil ?? 0))) return { ok: true, key: k };
    return { ok: false, reason: `key is ${k.status}${k.status === 'rotated' ? ' and past its overlap' : ''}` };
  }
}

const T0 = 1_800_000_000_000;
let dir: string;
let clock: number;
let keys: MemKeys;
let store: RevocationStore;
let svc: TokenService;
const agent = generateKeyPair();
const other = generateKeyPair();
const subject = { agentId: 'agent-1', agentType: 'coder', publicKey: agent.publicKey };
const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const parts = (t: string) => t.split('.') as [string, string, string];
const service = (o: Partial<TokenServiceOptions> = {}) => new TokenService({ keys, issuerKey: 'tokens', revocations: store, now: () => clock, ...o });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agentos-tokens-'));
  clock = T0;
  keys = new MemKeys();
  keys.create('tokens');
  store = await RevocationStore.open(dir, { pollMs: 0, now: () => clock });
  svc = service();
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** Sign arbitrary claims with a store key, like a buggy or hostile issuer would. */
async function forge(kid: string, header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
  const pub = keys.get(kid)!.publicKey;
  const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: pub, d: b64u(keys.seed(kid)) }, 'EdDSA');
  return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid, ...header }).sign(key);
}

describe('issue and validate', () => {
  it.each(['access', 'refresh', 'session'] as TokenKind[])('%s token: claims, header, key binding', async (kind) => {
    const tok = await svc.issue(subject, kind, { scope: ['fs:read', 'net:fetch'] });
    const h = decodeProtectedHeader(tok);
    expect(h).toEqual({ alg: 'EdDSA', typ: { access: 'at+jwt', refresh: 'refresh+jwt', session: 'session+jwt' }[kind], kid: keys.get('tokens')!.kid });
    const v = await svc.validate(tok, { kind, agentPublicKey: agent.publicKey, agentId: 'agent-1' });
    if (!v.ok) throw new Error(v.reason);
    const ttl = { access: 300, refresh: 86_400, session: 28_800 }[kind];
    expect(v.claims).toMatchObject({ iss: 'agentos', sub: 'agent-1', aud: kind === 'refresh' ? 'agentos-refresh' : 'agentos-gate', iat: T0 / 1000, nbf: T0 / 1000, exp: T0 / 1000 + ttl, agent_type: 'coder', scope: ['fs:read', 'net:fetch'], cnf: { jkt: jwkThumbprint(agent.publicKey) } });
    expect(v.claims.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Object.isFrozen(v.claims)).toBe(true);
  });

  it('refuses misuse with UsageError', async () => {
    await expect(svc.issue({ ...subject, publicKey: new Uint8Array(5) }, 'access')).rejects.toMatchObject({ code: 'USAGE' });
    await expect(svc.issue(subject, 'bogus' as TokenKind)).rejects.toMatchObject({ code: 'USAGE' });
    await expect(svc.issue(subject, 'access', { ttlMs: 7 * 86_400_000 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(svc.validate('x', { kind: 'nope' as TokenKind })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(service({ issuerKey: 'missing' }).issue(subject, 'access')).rejects.toThrow(/no key named "missing"/);
  });

  it('expiry and not-before follow the injected clock, with 5 s tolerance', async () => {
    const tok = await svc.issue(subject, 'access', { ttlMs: 60_000 });
    const fresh = () => service({ cacheSize: 0 }).validate(tok, { kind: 'access' });
    clock = T0 + 64_000;
    expect((await fresh()).ok).toBe(true);
    clock = T0 + 65_000;
    expect(await fresh()).toMatchObject({ ok: false, code: 'EXPIRED' });
    clock = T0 + 60_000;
    const later = await svc.issue(subject, 'access');
    clock = T0 + 54_000;
    expect(await service({ cacheSize: 0 }).validate(later, { kind: 'access' })).toMatchObject({ ok: false, code: 'NOT_YET_VALID' });
    clock = T0 + 55_000;
    expect((await service({ cacheSize: 0 }).validate(later, { kind: 'access' })).ok).toBe(true);
  });
});

describe('forgeries', () => {
  let good: string;
  beforeEach(async () => {
    good = await svc.issue(subject, 'access');
  });

  it('alg none (any spelling) is BAD_ALG before any key lookup', async () => {
    const kid = keys.get('tokens')!.kid;
    for (const alg of ['none', 'None', 'NONE', '', null, 'Ed25519', 'ES256']) {
      const tok = `${enc({ alg, typ: 'at+jwt', kid })}.${parts(good)[1]}.`;
      keys.calls = 0;
      const v = await svc.validate(tok, { kind: 'access', agentPublicKey: agent.publicKey });
      expect(v).toMatchObject({ ok: false, code: 'BAD_ALG' });
      expect(keys.calls).toBe(0);
    }
  });

  it('HS256 keyed with the issuer public key (raw, JWK, PEM) is BAD_ALG, and jose alone refuses it too', async () => {
    const info = keys.get('tokens')!;
    const raw = Buffer.from(info.publicKey, 'base64url');
    const jwk = publicJwk(raw);
    const pem = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
    const pubKey = await importJWK(jwk, 'EdDSA');
    for (const secret of [raw, Buffer.from(JSON.stringify(jwk)), Buffer.from(pem), Buffer.from(info.publicKey)]) {
      const input = `${enc({ alg: 'HS256', typ: 'at+jwt', kid: info.kid })}.${parts(good)[1]}`;
      const tok = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      keys.calls = 0;
      expect(await svc.validate(tok, { kind: 'access' })).toMatchObject({ ok: false, code: 'BAD_ALG' });
      expect(keys.calls).toBe(0);
      await expect(jwtVerify(tok, pubKey, { algorithms: ['EdDSA'] })).rejects.toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    }
  });

  it('a flipped byte in signature or payload is BAD_SIGNATURE; a non-canonical signature or garbage is MALFORMED', async () => {
    const [h, p, s] = parts(good);
    const flip = (x: string, i: number) => x.slice(0, i) + (x[i] === 'A' ? 'B' : 'A') + x.slice(i + 1);
    const fresh = (t: string) => service({ cacheSize: 0 }).validate(t, { kind: 'access' });
    expect(await fresh(`${h}.${p}.${flip(s, 10)}`)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' });
    expect(await fresh(`${h}.${flip(p, 20)}.${s}`)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' });
    // The last character holds 2 signature bits and 4 padding bits: changing only the padding
    // leaves the same bytes, which a lenient base64 decoder would accept.
    const last = s.at(-1)!;
    const twin = String.fromCharCode(last.charCodeAt(0) + 1);
    expect(await fresh(`${h}.${p}.${s.slice(0, -1)}${twin}`)).toMatchObject({ ok: false, code: 'MALFORMED' });
    for (const t of ['', 'abc', `${h}.${p}`, `${h}.${p}.${s}.x`, `!!.${p}.${s}`, `${enc([1])}.${p}.${s}`, 'a'.repeat(10_000)]) {
      expect(await fresh(t)).toMatchObject({ ok: false, code: 'MALFORMED' });
    }
    expect(await fresh(undefined as unknown as string)).toMatchObject({ ok: false, code: 'MALFORMED' });
  });

  it('unknown key, key of another purpose, wrong audience, wrong issuer, wrong type', async () => {
    const now = T0 / 1000;
    const claims = { iss: 'agentos', sub: 'agent-1', aud: 'agentos-gate', iat: now, nbf: now, exp: now + 60, jti: 'j1', fam: 'f1', agent_type: 'coder', scope: [], cnf: { jkt: jwkThumbprint(agent.publicKey) } };
    const kid = keys.get('tokens')!.kid;
    const ca = keys.create('ca').kid;
    expect(await svc.validate(await forge(kid, { typ: 'at+jwt' }, claims), { kind: 'access' })).toMatchObject({ ok: true });
    expect(await svc.validate(await forge(ca, { typ: 'at+jwt' }, claims), { kind: 'access' })).toMatchObject({ ok: false, code: 'KEY_NOT_TRUSTED' });
    expect(await svc.validate(await forge(kid, { typ: 'at+jwt', kid: '0123456789abcdef' }, claims), { kind: 'access' })).toMatchObject({ ok: false, code: 'UNKNOWN_KEY' });
    expect(await svc.validate(await forge(kid, { typ: 'at+jwt' }, { ...claims, aud: 'elsewhere' }), { kind: 'access' })).toMatchObject({ ok: false, code: 'WRONG_AUDIENCE' });
    expect(await svc.validate(await forge(kid, { typ: 'at+jwt' }, { ...claims, iss: 'other' }), { kind: 'access' })).toMatchObject({ ok: false, code: 'WRONG_AUDIENCE' });
    expect(await svc.validate(await forge(kid, { typ: 'JWT' }, claims), { kind: 'access' })).toMatchObject({ ok: false, code: 'WRONG_TYPE' });
    expect(await svc.validate(await forge(kid, { typ: 'at+jwt' }, { ...claims, cnf: undefined }), { kind: 'access' })).toMatchObject({ ok: false, code: 'MALFORMED' });
    expect(await svc.validate(good, { kind: 'refresh' })).toMatchObject({ ok: false, code: 'WRONG_TYPE' });
    expect(await svc.validate(good, { kind: 'session' })).toMatchObject({ ok: false, code: 'WRONG_TYPE' });
  });

  it("another agent's token is KEY_MISMATCH; another sub is WRONG_AGENT", async () => {
    expect(await svc.validate(good, { kind: 'access', agentPublicKey: other.publicKey })).toMatchObject({ ok: false, code: 'KEY_MISMATCH' });
    expect(await svc.validate(good, { kind: 'access', agentPublicKey: agent.publicKey, agentId: 'agent-2' })).toMatchObject({ ok: false, code: 'WRONG_AGENT' });
    const theirs = await svc.issue({ agentId: 'agent-2', agentType: 'coder', publicKey: other.publicKey }, 'access');
    expect(await svc.validate(theirs, { kind: 'access', agentPublicKey: agent.publicKey, agentId: 'agent-2' })).toMatchObject({ ok: false, code: 'KEY_MISMATCH' });
  });
});

describe('revocation and refresh', () => {
  it('a revoked token stays revoked after the store is reopened', async () => {
    const a = await svc.issue(subject, 'access');
    const b = await svc.issue(subject, 'session');
    const bJti = ((await svc.validate(b, { kind: 'session' })) as { claims: { jti: string } }).claims.jti;
    expect(await svc.revoke(a, 'logout')).toMatchObject({ alreadyRevoked: false });
    expect(await svc.revoke(bJti, 'by id')).toMatchObject({ jti: bJti, alreadyRevoked: false });
    expect(await svc.validate(a, { kind: 'access' })).toMatchObject({ ok: false, code: 'REVOKED' });
    await store.close();
    store = await RevocationStore.open(dir, { pollMs: 0, now: () => clock });
    const again = service();
    expect(await again.validate(a, { kind: 'access' })).toMatchObject({ ok: false, code: 'REVOKED' });
    expect(await again.validate(b, { kind: 'session' })).toMatchObject({ ok: false, code: 'REVOKED' });
    expect(store.get(bJti)?.reason).toBe('by id');
    await expect(again.revoke('a.b.c', 'x')).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('refresh rotates; reusing a refresh token revokes the whole family', async () => {
    const first = await svc.issuePair(subject, { scope: ['fs:read'] });
    expect(await svc.refresh(first.refresh, other.publicKey)).toMatchObject({ ok: false, code: 'KEY_MISMATCH' });
    expect(await svc.refresh(first.access, agent.publicKey)).toMatchObject({ ok: false, code: 'WRONG_TYPE' });
    const second = await svc.refresh(first.refresh, agent.publicKey);
    if (!second.ok) throw new Error(second.reason);
    const v = await svc.validate(second.access, { kind: 'access', agentPublicKey: agent.publicKey });
    expect(v).toMatchObject({ ok: true, claims: { scope: ['fs:read'], sub: 'agent-1' } });
    const third = await svc.refresh(second.refresh, agent.publicKey);
    expect(third.ok).toBe(true);
    // The stolen copy of the second refresh token comes back:
    expect(await svc.refresh(second.refresh, agent.publicKey)).toMatchObject({ ok: false, code: 'REVOKED' });
    for (const t of [first.access, second.access, third.ok ? third.access : '']) expect(await svc.validate(t, { kind: 'access' })).toMatchObject({ ok: false, code: 'REVOKED' });
    if (third.ok) expect(await svc.refresh(third.refresh, agent.publicKey)).toMatchObject({ ok: false, code: 'REVOKED' });
    // Another login is unaffected.
    const login2 = await svc.issuePair(subject);
    expect((await svc.validate(login2.access, { kind: 'access' })).ok).toBe(true);
  });

  it('two concurrent exchanges of one refresh token: exactly one wins', async () => {
    const { refresh } = await svc.issuePair(subject);
    const results = await Promise.all([svc.refresh(refresh, agent.publicKey), svc.refresh(refresh, agent.publicKey)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });
});

describe('issuer key rotation', () => {
  it('a rotated key verifies within its overlap; afterwards, or once revoked, it does not', async () => {
    const oldTok = await svc.issue(subject, 'session');
    const oldKid = decodeProtectedHeader(oldTok).kid!;
    const next = keys.rotate('tokens', T0, 3_600_000);
    const newTok = await svc.issue(subject, 'session');
    expect(decodeProtectedHeader(newTok).kid).toBe(next.kid);
    expect((await service({ cacheSize: 0 }).validate(oldTok, { kind: 'session' })).ok).toBe(true);
    expect((await svc.validate(oldTok, { kind: 'session' })).ok).toBe(true); // now cached
    clock = T0 + 3_600_001;
    expect(await service({ cacheSize: 0 }).validate(oldTok, { kind: 'session' })).toMatchObject({ ok: false, code: 'KEY_NOT_TRUSTED' });
    expect(await svc.validate(oldTok, { kind: 'session' })).toMatchObject({ ok: false, code: 'KEY_NOT_TRUSTED' });
    expect((await svc.validate(newTok, { kind: 'session' })).ok).toBe(true);
    clock = T0;
    keys.revoke(oldKid, T0);
    expect(await svc.validate(oldTok, { kind: 'session' })).toMatchObject({ ok: false, code: 'KEY_NOT_TRUSTED' });
    keys.revoke(next.kid, T0);
    await expect(svc.issue(subject, 'access')).rejects.toMatchObject({ code: 'USAGE' });
  });
});

describe('verified-token cache', () => {
  it('answers exactly like a full validation, and honours later revocation', async () => {
    const a = await svc.issue(subject, 'access', { ttlMs: 60_000 });
    const r = await svc.issue(subject, 'refresh');
    const cases: [string, TokenExpectations][] = [];
    for (const t of [a, r]) {
      for (const kind of ['access', 'refresh', 'session'] as TokenKind[]) {
        cases.push([t, { kind }], [t, { kind, agentPublicKey: agent.publicKey, agentId: 'agent-1' }], [t, { kind, agentPublicKey: other.publicKey }], [t, { kind, agentId: 'x' }]);
      }
    }
    const compare = async () => {
      for (const [t, e] of cases) expect(await svc.validate(t, e)).toEqual(await service({ cacheSize: 0 }).validate(t, e));
    };
    await compare(); // fills the cache
    const hits = svc.stats.hits;
    for (const at of [T0, T0 + 64_000, T0 + 65_000, T0 - 6_000, T0 + 86_406_000]) {
      clock = at;
      await compare();
    }
    expect(svc.stats.hits).toBeGreaterThan(hits);
    clock = T0;
    await svc.revoke(a, 'after caching');
    expect(await svc.validate(a, { kind: 'access' })).toMatchObject({ ok: false, code: 'REVOKED' });
    await compare();
  });

  it('is bounded (LRU): an evicted token is validated in full again', async () => {
    const small = service({ cacheSize: 2 });
    const toks = await Promise.all([1, 2, 3].map(() => small.issue(subject, 'access')));
    for (const t of toks) await small.validate(t, { kind: 'access' });
    await small.validate(toks[0]!, { kind: 'access' });
    expect(small.stats).toEqual({ hits: 0, misses: 4 });
    await small.validate(toks[2]!, { kind: 'access' });
    expect(small.stats).toEqual({ hits: 1, misses: 4 });
    // Timing of the cache is measured by npm run bench (bench/identity.mjs), not here.
  });
});

describe('RevocationStore', () => {
  it('drops a torn final line, refuses other corruption, compacts expired entries', async () => {
    await store.add('a', T0 + 1000, 'x');
    await store.addFamily('f', T0 + 10_000, 'y');
    await store.close();
    const file = join(dir, 'revoked.jsonl');
    await appendFile(file, '{"k":"jti","id":"torn","expi');
    store = await RevocationStore.open(file, { pollMs: 0, now: () => clock });
    expect(store.tornBytesDropped).toBeGreaterThan(0);
    expect(store.has('a') && store.hasFamily('f') && !store.has('torn')).toBe(true);
    await store.add('b', T0 + 1000, 'z');
    clock = T0 + 5000;
    expect(await store.compact()).toEqual({ kept: 1, dropped: 2 });
    expect(store.has('a')).toBe(false);
    await store.close();
    store = await RevocationStore.open(file, { pollMs: 0, now: () => clock });
    expect(store.size).toEqual({ jti: 0, fam: 1 });
    await store.close();
    await writeFile(file, '{"k":"jti","id":"a","expiresAt":1,"at":1}\nnot json\n{"k":"jti","id":"b","expiresAt":1,"at":1}\n');
    await expect(RevocationStore.open(file, { pollMs: 0 })).rejects.toThrow(/corrupt at line 2/);
    store = await RevocationStore.open(join(dir, 'other/'), { pollMs: 0 });
  });

  it('two processes share the file: appends and a compaction are seen by the other', async () => {
    const other = await RevocationStore.open(dir, { pollMs: 0, now: () => clock });
    try {
      await other.add('x', T0 + 1000, 'from the CLI');
      expect(store.has('x')).toBe(false);
      expect(await store.refresh()).toBe(1);
      expect(store.has('x')).toBe(true);
      clock = T0 + 2000;
      await other.add('live', T0 + 60_000, '');
      await other.compact();
      await store.add('after', T0 + 60_000, 'written after the other compacted');
      await other.refresh();
      expect(other.has('after') && other.has('live')).toBe(true);
      const text = await readFile(join(dir, 'revoked.jsonl'), 'utf8');
      expect(text).toContain('"after"');
      expect(text).not.toContain('"x"');
    } finally {
      await other.close();
    }
  });
});
