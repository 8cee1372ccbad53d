import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueAgentCertificate, revokeCertificate, type CaState } from './ca.js';
import { b64u, fingerprint, fromB64u, generateKeyPair, signBytes, type RawKeyPair } from './keys.js';
import { Authenticator, challengeMessage, type AgentRecord, type ChallengeResponse } from './mutual-auth.js';
import type { KeyInfo, KeyProvider } from './types.js';

/** One in-memory key: all of the key store the CA needs here. */
function oneKey(name: string): KeyProvider {
  const pair = generateKeyPair();
  const fp = fingerprint(pair.publicKey);
  const info: KeyInfo = { kid: fp.slice(0, 16), name, publicKey: b64u(pair.publicKey), fingerprint: fp, created: Date.now(), status: 'active' };
  const match = (k: string) => k === info.kid || k === name;
  return {
    list: () => [info],
    get: (k) => (match(k) ? info : undefined),
    privateKey: async (k) => {
      if (!match(k)) throw new Error(`no key ${k}`);
      return pair.privateKey.slice();
    },
    trust: (kid) => (kid === info.kid ? { ok: true, key: info } : { ok: false, reason: 'unknown key' }),
  };
}

interface Agent {
  readonly id: string;
  readonly type: string;
  readonly keys: RawKeyPair;
  readonly cert: string;
  readonly serial: string;
}

describe('mutual authentication', () => {
  const caKeys = oneKey('ca');
  let ca: CaState;
  const registry = new Map<string, AgentRecord>();
  const lookup = (id: string) => registry.get(id);
  let a: Agent;
  let b: Agent;
  let c: Agent;

  async function newAgent(type: string, authority = ca, keys = caKeys, register = true, validityMs?: number): Promise<Agent> {
    const id = randomUUID();
    const pair = generateKeyPair();
    const issued = await issueAgentCertificate(authority, keys, { agentId: id, agentType: type, publicKey: pair.publicKey, ...(validityMs ? { validityMs } : {}) });
    if (register) registry.set(id, { agentType: type, status: 'active' });
    return { id, type, keys: pair, cert: issued.pem, serial: issued.serial };
  }

  beforeAll(async () => {
    ca = await createCa(caKeys, { keyName: 'ca' });
    a = await newAgent('planner');
    b = await newAgent('worker');
    c = await newAgent('worker');
  });

  const answer = (auth: Authenticator, verifierId: string, prover: Agent): ChallengeResponse =>
    Authenticator.respond(auth.challenge(verifierId), prover.cert, prover.keys.privateKey);

  it('authenticates both ways: A challenges B, B challenges A', async () => {
    const authA = new Authenticator({ ca, lookup });
    const authB = new Authenticator({ ca, lookup });
    // Step 1: each side sends a challenge naming itself.
    const chA = authA.challenge(a.id);
    const chB = authB.challenge(b.id);
    expect(fromB64u(chA.nonce)).toHaveLength(32);
    expect(chA.expiresAt - chA.issuedAt).toBe(30_000);
    // Step 2: each answers the other's, checking it is addressed by the peer it means.
    const respB = Authenticator.respond(chA, b.cert, b.keys.privateKey, { expectVerifierId: a.id });
    const respA = Authenticator.respond(chB, a.cert, a.keys.privateKey, { expectVerifierId: b.id });
    // Step 3: each verifies the other and checks the verified id is the expected peer.
    const atA = await authA.verify(respB);
    const atB = await authB.verify(respA);
    expect(atA).toEqual({ ok: true, agentId: b.id, agentType: 'worker', serial: b.serial });
    expect(atB).toEqual({ ok: true, agentId: a.id, agentType: 'planner', serial: a.serial });
    // A response made for A is no good at B (unknown nonce there), nor at A again (replay).
    expect(await authB.verify(respB)).toMatchObject({ ok: false, code: 'UNKNOWN_CHALLENGE' });
    expect(await authA.verify(respB)).toMatchObject({ ok: false, code: 'REPLAYED' });
    // A prover refuses a challenge from someone other than the peer it meant to reach.
    expect(() => Authenticator.respond(authA.challenge(a.id), b.cert, b.keys.privateKey, { expectVerifierId: c.id })).toThrow(/not/);
  });

  it('refuses a replayed response', async () => {
    const auth = new Authenticator({ ca, lookup });
    const resp = answer(auth, 'v', b);
    expect(await auth.verify(resp)).toMatchObject({ ok: true });
    expect(await auth.verify(resp)).toMatchObject({ ok: false, code: 'REPLAYED' });
    // Concurrent verifies of one response: exactly one succeeds.
    const resp2 = answer(auth, 'v', b);
    const results = await Promise.all([auth.verify(resp2), auth.verify(resp2), auth.verify(resp2)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });

  it('refuses an answer after the challenge expired, and forgets it later', async () => {
    let now = Date.now();
    const auth = new Authenticator({ ca, lookup, now: () => now, challengeTtlMs: 5_000 });
    const resp = answer(auth, 'v', b);
    now += 5_001;
    expect(await auth.verify(resp)).toMatchObject({ ok: false, code: 'EXPIRED_CHALLENGE' });
    const resp2 = answer(auth, 'v', b);
    expect(auth.outstanding).toBe(2); // the expired one is kept for one more TTL
    now += 5_001;
    expect(auth.outstanding).toBe(1);
    now += 5_000;
    auth.challenge('v');
    expect(auth.outstanding).toBe(1);
    expect(await auth.verify(resp2)).toMatchObject({ ok: false, code: 'UNKNOWN_CHALLENGE' });
  });

  it('refuses a challenge it never issued and garbage', async () => {
    const auth = new Authenticator({ ca, lookup });
    const other = new Authenticator({ ca, lookup });
    expect(await auth.verify(answer(other, 'v', b))).toMatchObject({ ok: false, code: 'UNKNOWN_CHALLENGE' });
    expect(await auth.verify(null as unknown as ChallengeResponse)).toMatchObject({ ok: false, code: 'UNKNOWN_CHALLENGE' });
    const resp = answer(auth, 'v', b);
    expect(await auth.verify({ ...resp, certificate: 'junk' })).toMatchObject({ ok: false, code: 'UNTRUSTED' });
    const resp2 = answer(auth, 'v', b);
    expect(await auth.verify({ ...resp2, signature: 'short' })).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' });
  });

  it("refuses a response carrying another agent's certificate, or a signature over another message", async () => {
    const auth = new Authenticator({ ca, lookup });
    const ch = auth.challenge('v');
    const forged = Authenticator.respond(ch, c.cert, b.keys.privateKey); // B signs, presents C's certificate
    expect(await auth.verify(forged)).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' });
    const ch2 = auth.challenge('v');
    const wrongVerifier = b64u(signBytes(b.keys.privateKey, challengeMessage({ ...ch2, verifierId: 'someone-else' })));
    expect(await auth.verify({ nonce: ch2.nonce, certificate: b.cert, signature: wrongVerifier })).toMatchObject({ ok: false, code: 'BAD_SIGNATURE' });
  });

  it('refuses unknown, inactive and mistyped agents', async () => {
    const auth = new Authenticator({ ca, lookup });
    const stranger = await newAgent('worker', ca, caKeys, false);
    expect(await auth.verify(answer(auth, 'v', stranger))).toMatchObject({ ok: false, code: 'UNKNOWN_AGENT' });
    const suspended = await newAgent('worker');
    registry.set(suspended.id, { agentType: 'worker', status: 'revoked' });
    expect(await auth.verify(answer(auth, 'v', suspended))).toMatchObject({ ok: false, code: 'AGENT_NOT_ACTIVE' });
    const retyped = await newAgent('worker');
    registry.set(retyped.id, { agentType: 'admin', status: 'active' });
    expect(await auth.verify(answer(auth, 'v', retyped))).toMatchObject({ ok: false, code: 'UNTRUSTED' });
    const failing = new Authenticator({ ca, lookup: () => Promise.reject(new Error('registry down')) });
    expect(await failing.verify(answer(failing, 'v', b))).toMatchObject({ ok: false, code: 'UNKNOWN_AGENT' });
  });

  it('refuses revoked, expired and foreign certificates', async () => {
    const victim = await newAgent('worker');
    const revokedCa = await revokeCertificate(ca, caKeys, victim.serial, 'keyCompromise');
    const auth = new Authenticator({ ca: revokedCa, lookup });
    expect(await auth.verify(answer(auth, 'v', victim))).toMatchObject({ ok: false, code: 'REVOKED' });
    expect(await auth.verify(answer(auth, 'v', b))).toMatchObject({ ok: true });

    const shortLived = await newAgent('worker', ca, caKeys, true, 1000);
    let now = Date.now() + 10_000;
    const later = new Authenticator({ ca, lookup, now: () => now });
    expect(await later.verify(answer(later, 'v', shortLived))).toMatchObject({ ok: false, code: 'EXPIRED' });
    now = Date.now() - 3_600_000;
    expect(await later.verify(answer(later, 'v', b))).toMatchObject({ ok: false, code: 'EXPIRED', reason: expect.stringMatching(/not valid before/) });

    const otherKeys = oneKey('ca');
    const otherCa = await createCa(otherKeys, { keyName: 'ca' });
    const foreign = await newAgent('worker', otherCa, otherKeys);
    expect(await auth.verify(answer(auth, 'v', foreign))).toMatchObject({ ok: false, code: 'UNTRUSTED' });
  });

  it('limits outstanding challenges and checks its arguments', () => {
    const auth = new Authenticator({ ca, lookup, maxOutstanding: 2 });
    auth.challenge('v');
    auth.challenge('v');
    expect(() => auth.challenge('v')).toThrow(expect.objectContaining({ code: 'QUOTA_EXCEEDED' }));
    expect(() => auth.challenge('a\nb')).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => new Authenticator({ ca, lookup, challengeTtlMs: 0 })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => Authenticator.respond({ nonce: 'x', verifierId: 'v', issuedAt: 0, expiresAt: 1 }, b.cert, b.keys.privateKey)).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});
