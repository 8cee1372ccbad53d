// End-to-end message crypto: real node:crypto throughout, no mocks.
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { b64u, generateKeyPair, signBytes } from '../identity/keys.js';
import {
  ReceiveChannels, SendChannel, createLocalKeys, generateKexKeyPair, peerKeysOf, seqNonce, signKexKey, verifyKexKey,
  type LocalKeys, type PeerKeys,
} from './channel.js';
import { MessageRejected, decodeEnvelope, encodeEnvelope, formatHeader, type Envelope, type RejectCode } from './envelope.js';
import { acceptHandshake, initiateHandshake, type HandshakeMessage, type SecureMessage } from './handshake.js';
import { ReplayGuard } from './replay.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

function agent(id: string): { local: LocalKeys; peer: PeerKeys } {
  const local = createLocalKeys(id, generateKeyPair().privateKey);
  return { local, peer: peerKeysOf(local) };
}
const alice = agent('alice');
const bob = agent('bob');
const carol = agent('carol');

/** The code of the MessageRejected `fn` throws (fails the test on any other outcome). */
function codeOf(fn: () => unknown): RejectCode {
  try {
    fn();
  } catch (e) {
    if (e instanceof MessageRejected) return e.code;
    throw e;
  }
  throw new Error('expected a MessageRejected, nothing was thrown');
}

describe('envelope channels', () => {
  it('round-trips through the wire format, for every message type', () => {
    const out = new SendChannel(alice.local, bob.peer);
    const inbox = new ReceiveChannels(bob.local);
    const first = out.seal(enc.encode('hello bob'), { messageType: 'direct' });
    const r1 = inbox.openBytes(encodeEnvelope(first), (id) => (id === 'alice' ? alice.peer : undefined));
    expect(dec.decode(r1.body)).toBe('hello bob');
    expect(r1.header).toMatchObject({ version: 1, messageType: 'direct', senderId: 'alice', recipientId: 'bob', seq: 1 });

    const reply = out.seal(enc.encode('re'), { messageType: 'reply', replyTo: first.header.messageId });
    const topic = out.seal(new Uint8Array(0), { messageType: 'topic', topic: 'builds/ci' });
    expect(inbox.open(decodeEnvelope(encodeEnvelope(reply)), alice.peer).header.replyTo).toBe(first.header.messageId);
    const t = inbox.open(decodeEnvelope(encodeEnvelope(topic)), alice.peer);
    expect(t.header.topic).toBe('builds/ci');
    expect(t.body.length).toBe(0);
  });

  it('never carries the plaintext in the ciphertext or on the wire', () => {
    const secret = 'TOP-SECRET-PLAINTEXT-'.repeat(20);
    const env = new SendChannel(alice.local, bob.peer).seal(enc.encode(secret), { messageType: 'direct' });
    const wire = Buffer.from(encodeEnvelope(env));
    expect(Buffer.from(env.ciphertext).includes('TOP-SECRET')).toBe(false);
    expect(wire.includes('TOP-SECRET')).toBe(false);
    expect(env.ciphertext.length).toBe(secret.length + 16);
  });

  it('refuses any altered byte of header, ciphertext or signature, and still opens the original', () => {
    const inbox = new ReceiveChannels(bob.local);
    const env = new SendChannel(alice.local, bob.peer).seal(enc.encode('pay 10 to carol'), { messageType: 'direct' });
    const wire = encodeEnvelope(env);
    const h = env.headerBytes.length;
    const c = env.ciphertext.length;
    for (let i = 0; i < wire.length; i++) {
      const bad = Uint8Array.from(wire);
      bad[i]! ^= 0x01;
      const code = codeOf(() => inbox.openBytes(bad, () => alice.peer));
      if (i < 7 + h) expect(['MALFORMED', 'BAD_SIGNATURE'], `byte ${i}`).toContain(code);
      else if (i < 11 + h) expect(code, `length byte ${i}`).toBe('MALFORMED');
      else expect(code, `byte ${i} of ${11 + h + c + 64}`).toBe('BAD_SIGNATURE');
    }
    // No forgery advanced the replay state.
    expect(dec.decode(inbox.openBytes(wire, () => alice.peer).body)).toBe('pay 10 to carol');
  });

  it('says TAMPERED when a validly signed ciphertext does not decrypt', () => {
    const env = new SendChannel(alice.local, bob.peer).seal(enc.encode('x'.repeat(40)), { messageType: 'direct' });
    const ct = Uint8Array.from(env.ciphertext);
    ct[3]! ^= 0xff;
    const signature = signBytes(alice.local.signingSeed, Buffer.concat([Buffer.from('agentos-msg/1\0'), env.headerBytes, ct]));
    // A hand-built object: the receiver re-parses its header bytes.
    const forged: Envelope = { header: env.header, headerBytes: env.headerBytes, ciphertext: ct, signature };
    const inbox = new ReceiveChannels(bob.local);
    expect(codeOf(() => inbox.open(forged, alice.peer))).toBe('TAMPERED');
    expect(inbox.open(env, alice.peer).body.length).toBe(40); // same seq still usable
  });

  it('refuses a message for someone else, and a sender whose keys do not match', () => {
    const env = new SendChannel(alice.local, bob.peer).seal(enc.encode('hi'), { messageType: 'direct' });
    expect(codeOf(() => new ReceiveChannels(carol.local).open(env, alice.peer))).toBe('WRONG_RECIPIENT');
    expect(codeOf(() => new ReceiveChannels(bob.local).open(env, carol.peer))).toBe('BAD_SIGNATURE');
    // Carol's own key, but she claims to be alice: signature fine, identity not.
    const liar = new SendChannel({ ...carol.local, agentId: 'alice' }, bob.peer).seal(enc.encode('hi'), { messageType: 'direct' });
    expect(codeOf(() => new ReceiveChannels(bob.local).open(liar, carol.peer))).toBe('UNKNOWN_SENDER');
    expect(codeOf(() => new ReceiveChannels(bob.local).open(liar, alice.peer))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => new ReceiveChannels(bob.local).openBytes(encodeEnvelope(env), () => undefined))).toBe('UNKNOWN_SENDER');
  });

  it('refuses a signature forged with another key', () => {
    const forger = new SendChannel({ ...alice.local, signingSeed: carol.local.signingSeed }, bob.peer);
    const env = forger.seal(enc.encode('trust me'), { messageType: 'direct' });
    expect(env.header.senderId).toBe('alice');
    expect(codeOf(() => new ReceiveChannels(bob.local).open(env, alice.peer))).toBe('BAD_SIGNATURE');
  });

  it('refuses replayed and reordered messages', () => {
    const out = new SendChannel(alice.local, bob.peer);
    const inbox = new ReceiveChannels(bob.local);
    const m1 = out.seal(enc.encode('1'), { messageType: 'direct' });
    const m2 = out.seal(enc.encode('2'), { messageType: 'direct' });
    const m3 = out.seal(enc.encode('3'), { messageType: 'direct' });
    inbox.open(m1, alice.peer);
    expect(codeOf(() => inbox.open(m1, alice.peer))).toBe('REPLAY');
    expect(codeOf(() => inbox.openBytes(encodeEnvelope(m1), () => alice.peer))).toBe('REPLAY');
    inbox.open(m3, alice.peer); // a gap is fine (m2 lost)
    expect(codeOf(() => inbox.open(m2, alice.peer))).toBe('OUT_OF_ORDER');
  });

  it('still refuses a replay after its channel record was evicted', () => {
    const inbox = new ReceiveChannels(bob.local, { replay: new ReplayGuard({ maxChannels: 1 }) });
    const m = new SendChannel(alice.local, bob.peer).seal(enc.encode('a'), { messageType: 'direct' });
    inbox.open(m, alice.peer);
    inbox.open(new SendChannel(carol.local, bob.peer).seal(enc.encode('c'), { messageType: 'direct' }), carol.peer);
    expect(codeOf(() => inbox.open(m, alice.peer))).toBe('REPLAY');
  });

  it('refuses stale and future timestamps', () => {
    const now = Date.now();
    const out = new SendChannel(alice.local, bob.peer);
    const inbox = new ReceiveChannels(bob.local);
    const old = out.seal(enc.encode('old'), { messageType: 'direct', now: now - 31_000 });
    const future = out.seal(enc.encode('future'), { messageType: 'direct', now: now + 31_000 });
    expect(codeOf(() => inbox.open(old, alice.peer, now))).toBe('STALE');
    expect(codeOf(() => inbox.open(future, alice.peer, now))).toBe('STALE');
    expect(dec.decode(inbox.open(old, alice.peer, now - 30_000).body)).toBe('old');
  });

  it('rotates the ephemeral key and every epoch still opens', () => {
    const out = new SendChannel(alice.local, bob.peer, { rotateAfterMessages: 2 });
    const inbox = new ReceiveChannels(bob.local);
    const envs = [0, 1, 2, 3, 4].map((i) => out.seal(enc.encode(`m${i}`), { messageType: 'direct' }));
    expect(envs.map((e) => e.header.seq)).toEqual([1, 2, 1, 2, 1]);
    expect(new Set(envs.map((e) => e.header.epk)).size).toBe(3);
    expect(envs[0]!.header.epk).toBe(envs[1]!.header.epk);
    envs.forEach((e, i) => expect(dec.decode(inbox.open(e, alice.peer).body)).toBe(`m${i}`));

    const timed = new SendChannel(alice.local, bob.peer, { rotateAfterMs: 1000 });
    const t0 = Date.now();
    const a = timed.seal(enc.encode('a'), { messageType: 'direct', now: t0 });
    const b = timed.seal(enc.encode('b'), { messageType: 'direct', now: t0 + 1000 });
    expect(a.header.epk).not.toBe(b.header.epk);
    expect(dec.decode(inbox.open(b, alice.peer, t0 + 1000).body)).toBe('b');
  });

  it('enforces size limits and sender-side header rules', () => {
    const out = new SendChannel(alice.local, bob.peer, { maxBodyBytes: 10 });
    expect(codeOf(() => out.seal(new Uint8Array(11), { messageType: 'direct' }))).toBe('TOO_LARGE');
    const big = new SendChannel(alice.local, bob.peer).seal(new Uint8Array(100), { messageType: 'direct' });
    expect(codeOf(() => decodeEnvelope(encodeEnvelope(big), { maxBodyBytes: 50 }))).toBe('TOO_LARGE');
    expect(codeOf(() => new ReceiveChannels(bob.local, { maxBodyBytes: 50 }).open(big, alice.peer))).toBe('TOO_LARGE');
    const ch = new SendChannel(alice.local, bob.peer);
    expect(() => ch.seal(new Uint8Array(1), { messageType: 'topic' })).toThrow(TypeError);
    expect(() => ch.seal(new Uint8Array(1), { messageType: 'direct', topic: 't' })).toThrow(TypeError);
    expect(() => ch.seal(new Uint8Array(1), { messageType: 'reply', replyTo: 'nope' })).toThrow(TypeError);
    expect(() => ch.seal(new Uint8Array(1), { messageType: 'direct', messageId: 'NOT-A-UUID' })).toThrow(TypeError);
    expect(() => createLocalKeys('a\0b', generateKeyPair().privateKey)).toThrow(TypeError);
  });
});

describe('decodeEnvelope', () => {
  const env = new SendChannel(alice.local, bob.peer).seal(enc.encode('fuzz me'), { messageType: 'topic', topic: 't' });
  const wire = encodeEnvelope(env);

  /** Decoding either succeeds or throws MessageRejected('MALFORMED'); nothing else. */
  function decodesOrMalformed(bytes: Uint8Array): boolean {
    try {
      decodeEnvelope(bytes);
      return true;
    } catch (e) {
      expect(e).toBeInstanceOf(MessageRejected);
      expect((e as MessageRejected).code).toBe('MALFORMED');
      return false;
    }
  }

  it('throws only MALFORMED on random, truncated and mutated bytes', () => {
    for (let n = 0; n < wire.length; n++) expect(decodesOrMalformed(wire.subarray(0, n))).toBe(false);
    expect(decodesOrMalformed(Buffer.concat([wire, Buffer.of(0)]))).toBe(false);
    for (let i = 0; i < 1000; i++) expect(decodesOrMalformed(randomBytes(i % 400))).toBe(false);
    let accepted = 0;
    for (let i = 0; i < 4000; i++) {
      const bad = Uint8Array.from(wire);
      const edits = 1 + (i % 4);
      for (let k = 0; k < edits; k++) bad[randomBytes(2).readUInt16BE(0) % bad.length] = randomBytes(1)[0]!;
      if (decodesOrMalformed(bad)) accepted++;
    }
    expect(accepted).toBeGreaterThan(0); // edits confined to ciphertext/signature decode fine
  });

  it('refuses non-canonical and extended headers', () => {
    const rebuild = (text: string): Uint8Array =>
      encodeEnvelope({ ...env, headerBytes: Buffer.from(text), header: env.header });
    const canonical = formatHeader(env.header);
    expect(decodeEnvelope(rebuild(canonical)).header).toEqual(env.header);
    expect(codeOf(() => decodeEnvelope(rebuild(canonical.replace(',', ', '))))).toBe('MALFORMED');
    expect(codeOf(() => decodeEnvelope(rebuild(canonical.slice(0, -1) + ',"extra":1}')))).toBe('MALFORMED');
    expect(codeOf(() => decodeEnvelope(rebuild(canonical.replace('"seq":1', '"seq":1.0'))))).toBe('MALFORMED');
    expect(codeOf(() => decodeEnvelope(rebuild(canonical.replace('"version":1,', '"version":1,"version":1,'))))).toBe('MALFORMED');
    expect(codeOf(() => decodeEnvelope(rebuild(JSON.stringify({ ...env.header, seq: 0 }))))).toBe('MALFORMED');
  });
});

describe('key binding and nonces', () => {
  it('verifies the X25519 key binding and nothing else', () => {
    const { publicKey } = generateKexKeyPair();
    const sig = signKexKey('alice', alice.local.signingSeed, publicKey);
    expect(verifyKexKey('alice', alice.peer.signingKey, publicKey, sig)).toBe(true);
    expect(verifyKexKey('alicf', alice.peer.signingKey, publicKey, sig)).toBe(false);
    expect(verifyKexKey('alice', bob.peer.signingKey, publicKey, sig)).toBe(false);
    expect(verifyKexKey('alice', alice.peer.signingKey, bob.peer.kexKey, sig)).toBe(false);
    expect(verifyKexKey('alice', alice.peer.signingKey, publicKey, sig.subarray(1))).toBe(false);
    expect(verifyKexKey('alice', new Uint8Array(3), publicKey, sig)).toBe(false);
  });

  it('XORs the big-endian seq into the last 8 bytes of the base nonce', () => {
    const base = Buffer.alloc(12, 0xff);
    expect(seqNonce(base, 1).toString('hex')).toBe('ff'.repeat(11) + 'fe');
    expect(seqNonce(base, 2 ** 32 + 2).toString('hex')).toBe('ffffffff' + 'fffffffe' + 'fffffffd');
    expect(base.toString('hex')).toBe('ff'.repeat(12)); // base untouched
  });
});

describe('handshake and SecureChannel', () => {
  function pair(): { atAlice: ReturnType<ReturnType<typeof initiateHandshake>['complete']>; atBob: ReturnType<typeof acceptHandshake>['channel'] } {
    const hs = initiateHandshake(alice.local, 'bob');
    const { response, channel } = acceptHandshake(bob.local, hs.message, alice.peer.signingKey);
    return { atAlice: hs.complete(response, bob.peer.signingKey), atBob: channel };
  }

  it('round-trips in both directions, as JSON', () => {
    const { atAlice, atBob } = pair();
    expect([atAlice.localId, atAlice.remoteId, atBob.localId, atBob.remoteId]).toEqual(['alice', 'bob', 'bob', 'alice']);
    for (let i = 0; i < 3; i++) {
      const m = JSON.parse(JSON.stringify(atAlice.seal(enc.encode(`ping ${i}`), 'ping'))) as SecureMessage;
      expect(m.header).toMatchObject({ messageType: 'ping', senderId: 'alice', recipientId: 'bob', seq: i + 1 });
      expect(dec.decode(atBob.open(m))).toBe(`ping ${i}`);
      expect(dec.decode(atAlice.open(atBob.seal(enc.encode(`pong ${i}`))))).toBe(`pong ${i}`);
    }
    expect(Buffer.from(atAlice.seal(enc.encode('plaintext!')).payload, 'base64url').includes('plaintext')).toBe(false);
  });

  it('refuses tampered, misdirected and stale handshake messages', () => {
    const hs = initiateHandshake(alice.local, 'bob');
    const tweak = (m: HandshakeMessage, f: Partial<HandshakeMessage>): HandshakeMessage => ({ ...m, ...f });
    const otherEpk = b64u(generateKexKeyPair().publicKey);
    expect(codeOf(() => acceptHandshake(bob.local, tweak(hs.message, { ephemeralPublicKey: otherEpk }), alice.peer.signingKey))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => acceptHandshake(bob.local, tweak(hs.message, { timestamp: hs.message.timestamp + 1 }), alice.peer.signingKey))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => acceptHandshake(bob.local, hs.message, carol.peer.signingKey))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => acceptHandshake(carol.local, hs.message, alice.peer.signingKey))).toBe('WRONG_RECIPIENT');
    expect(codeOf(() => acceptHandshake(bob.local, hs.message, alice.peer.signingKey, { now: Date.now() + 60_000 }))).toBe('STALE');
    expect(codeOf(() => acceptHandshake(bob.local, { ...hs.message, extra: 1 } as HandshakeMessage, alice.peer.signingKey))).toBe('MALFORMED');

    const { response } = acceptHandshake(bob.local, hs.message, alice.peer.signingKey);
    expect(codeOf(() => hs.complete(tweak(response, { nonce: b64u(randomBytes(16)) }), bob.peer.signingKey))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => hs.complete(response, carol.peer.signingKey))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => hs.complete(hs.message, bob.peer.signingKey))).toBe('MALFORMED'); // reflected initiation
    // A response to a different initiation is refused: the transcript hash differs.
    const other = initiateHandshake(alice.local, 'bob');
    const spliced = acceptHandshake(bob.local, other.message, alice.peer.signingKey).response;
    expect(codeOf(() => hs.complete(spliced, bob.peer.signingKey))).toBe('BAD_SIGNATURE');
    // Failed attempts do not use the handshake up; success does.
    const ch = hs.complete(response, bob.peer.signingKey);
    expect(ch.remoteId).toBe('bob');
    expect(() => hs.complete(response, bob.peer.signingKey)).toThrow(/already completed/);
  });

  it('refuses replayed, reordered, tampered and misaddressed channel messages', () => {
    const { atAlice, atBob } = pair();
    const m1 = atAlice.seal(enc.encode('1'));
    const m2 = atAlice.seal(enc.encode('2'));
    const m3 = atAlice.seal(enc.encode('3'));
    atBob.open(m1);
    expect(codeOf(() => atBob.open(m1))).toBe('REPLAY');
    const flipped = Buffer.from(m3.payload, 'base64url');
    flipped[0]! ^= 1;
    expect(codeOf(() => atBob.open({ ...m3, payload: flipped.toString('base64url') }))).toBe('TAMPERED');
    expect(codeOf(() => atBob.open({ ...m3, header: { ...m3.header, messageType: 'other' } }))).toBe('TAMPERED');
    expect(codeOf(() => atBob.open({ ...m3, header: { ...m3.header, seq: 9 } }))).toBe('TAMPERED');
    atBob.open(m3);
    expect(codeOf(() => atBob.open(m2))).toBe('OUT_OF_ORDER');
    expect(codeOf(() => atAlice.open(atAlice.seal(enc.encode('me'))))).toBe('WRONG_RECIPIENT');
    expect(codeOf(() => atBob.open(atAlice.seal(enc.encode('late'), 'secure_message', Date.now() - 60_000)))).toBe('STALE');
    expect(codeOf(() => atBob.open({ ...m3, security: { mac: 'x' } }))).toBe('MALFORMED');
    // Another session's message does not open here.
    const [one, two] = [pair(), pair()];
    expect(codeOf(() => two.atBob.open(one.atAlice.seal(enc.encode('x'))))).toBe('TAMPERED');
  });
});

describe('ReplayGuard', () => {
  it('forgets messageIds once their timestamp leaves the window, and caps memory', () => {
    const g = new ReplayGuard({ windowMs: 1000, maxIds: 3, maxChannels: 2 });
    const id = randomUUID();
    g.accept('a', 'e1', 1, id, 0, 0);
    expect(() => g.check('a', 'e2', 1, id)).toThrow(/replay/);
    expect(() => g.check('b', 'e1', 1, id)).not.toThrow(); // ids are per sender
    g.accept('a', 'e2', 1, randomUUID(), 2000, 2000);
    expect(() => g.check('a', 'e3', 1, id)).not.toThrow(); // expired: STALE covers it now
    for (let i = 0; i < 10; i++) g.accept('a', `x${i}`, 1, randomUUID(), 2000, 2000);
    expect(g.stats()).toEqual({ channels: 2, messageIds: 3 });
  });
});
