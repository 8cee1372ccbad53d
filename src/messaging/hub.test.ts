/**
 * The hub and its directory, host side: two sandboxes' hubs on an in-memory bus, real keys,
 * a real CA. What an announcement may and may not change, and who is admitted with a CA.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../identity/keys.js';
import { KeyStore } from '../identity/keystore.js';
import { createCa, issueAgentCertificate, revokeCertificate, type CaState } from '../identity/ca.js';
import { MAX_TOPICS, MessageHub, type HubAgent, type Rejection } from './hub.js';
import { Mailbox } from './mailbox.js';
import { acceptHandshake, type HandshakeMessage, type SecureChannel } from './handshake.js';
import { establishSecureChannel } from './secure-channel.js';
import { MessageRejected } from './envelope.js';
import { announcement } from './directory.js';
import { generateKexKeyPair, signKexKey } from './channel.js';
import { LocalBus } from './transport.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const tick = () => new Promise((r) => setTimeout(r, 20));

function agent(id: string, type = 't', certificate?: string, keys = generateKeyPair()): HubAgent & { revoked: boolean } {
  const a = { id, type, roles: [], keys, revoked: false, authenticated: () => !a.revoked, quarantined: () => false, ...(certificate !== undefined ? { certificate } : {}) };
  return a;
}

function hubPair(o: { ca?: CaState } = {}) {
  const bus = new LocalBus();
  const rejected: Array<[string, Rejection]> = [];
  const onRejected = (to: string, r: Rejection) => rejected.push([to, r]);
  const h1 = new MessageHub({ transport: bus.transport(), onRejected, ...(o.ca ? { ca: o.ca } : {}) });
  const h2 = new MessageHub({ transport: bus.transport(), onRejected, ...(o.ca ? { ca: o.ca } : {}) });
  return { bus, h1, h2, rejected };
}

describe('MessageHub across an in-memory bus', () => {
  it('delivers between hubs and pins a remote agent to the key it first announced', async () => {
    const { bus, h1, h2, rejected } = hubPair();
    h1.register(agent('a'), 8);
    h2.register(agent('b'), 8);
    await tick();
    expect(h1.peers('a').map((e) => e.id)).toEqual(['b']);
    expect(h1.send('a', 'b', enc('hello'), 'direct').ok).toBe(true);
    await tick();
    const m = await h2.receive('b', 100);
    expect(m && dec(m.body)).toBe('hello');
    // Someone else announces "b" with their own keys: ignored while b's key stands.
    const mallory = generateKeyPair();
    const kex = generateKexKeyPair();
    const forged = { id: 'b', type: 't', roles: [], signingKey: mallory.publicKey, kexKey: kex.publicKey, kexSig: signKexKey('b', mallory.privateKey, kex.publicKey), topics: [], seq: 99, local: true };
    bus.transport().publish('agentos.dir', Buffer.from(JSON.stringify(announcement('intruder-process', forged, mallory.privateKey))));
    await tick();
    expect(Buffer.from(h1.entry('b')!.signingKey).equals(Buffer.from(mallory.publicKey))).toBe(false);
    expect(rejected).toEqual([]);
  });

  it('forgets an agent that withdraws, and refuses its messages after that', async () => {
    const { bus, h1, h2, rejected } = hubPair();
    h1.register(agent('a'), 8);
    h2.register(agent('b'), 8);
    await tick();
    const held: Array<{ subject: string; bytes: Uint8Array }> = [];
    bus.intercept = (subject, bytes) => (subject.includes('.msg.') ? (held.push({ subject, bytes }), undefined) : bytes);
    h2.send('b', 'a', enc('late'), 'direct');
    bus.intercept = undefined;
    h2.unregister('b', 'closed');
    await tick();
    expect(h1.entry('b')).toBeUndefined();
    bus.transport().publish(held[0]!.subject, held[0]!.bytes);
    await tick();
    expect(rejected.map(([to, r]) => `${to} ${r.code}`)).toEqual(['a UNKNOWN_SENDER']);
  });

  it('with a CA, admits only agents whose certificate validates and names their key', async () => {
    const store = await KeyStore.open(mkdtempSync(join(tmpdir(), 'agentos-hubca-')), { passphrase: 'test passphrase' });
    await store.generate('ca');
    let ca = await createCa(store, { keyName: 'ca' });
    const bKeys = generateKeyPair();
    const bId = randomUUID();
    const cert = await issueAgentCertificate(ca, store, { agentId: bId, agentType: 'reviewer', publicKey: bKeys.publicKey });
    const { h1, h2 } = hubPair({ ca });
    const aId = randomUUID();
    const aKeys = generateKeyPair();
    h1.register(agent(aId, 't', (await issueAgentCertificate(ca, store, { agentId: aId, agentType: 't', publicKey: aKeys.publicKey })).pem, aKeys), 8);
    h2.register(agent(bId, 'reviewer', cert.pem, bKeys), 8);
    // One without a certificate, and one whose certificate names another key.
    h2.register(agent(randomUUID(), 'reviewer'), 8);
    h2.register(agent(randomUUID(), 'reviewer', cert.pem), 8);
    await tick();
    expect(h1.peers(aId).map((e) => e.id)).toEqual([bId]);
    // Revoked at the CA: a hub that knows the new CRL no longer admits it.
    ca = await revokeCertificate(ca, store, cert.serial, 'keyCompromise');
    const { h1: h3, h2: h4 } = hubPair({ ca });
    h3.register(agent(aId, 't'), 8);
    h4.register(agent(bId, 'reviewer', cert.pem, bKeys), 8);
    await tick();
    expect(h3.peers(aId)).toEqual([]);
  });

  it('bounds what others can make it hold: remote agents, topics, mailbox bytes', async () => {
    const bus = new LocalBus();
    const h1 = new MessageHub({ transport: bus.transport(), maxRemoteAgents: 3 });
    const h2 = new MessageHub({ transport: bus.transport() });
    for (let i = 0; i < 5; i++) h2.register(agent(`r${i}`), 8);
    h1.register(agent('a'), 2);
    await tick();
    expect(h1.peers('a')).toHaveLength(3);
    for (let i = 0; i < MAX_TOPICS; i++) expect(h1.subscribe('a', `t.${i}`)).toBe(true);
    expect(h1.subscribe('a', 'one.more')).toBe(false);
    // Two messages fill a mailbox of 2; a third is refused as full (the sender is told quota).
    const local = new MessageHub({});
    local.register(agent('x'), 2);
    local.register(agent('y'), 1000);
    expect(local.send('y', 'x', enc('1'), 'direct').ok).toBe(true);
    expect(local.send('y', 'x', enc('2'), 'direct').ok).toBe(true);
    expect(local.send('y', 'x', enc('3'), 'direct')).toMatchObject({ ok: false, tag: 'quota' });
  });
});

describe('Mailbox', () => {
  it('refuses past its count or its bytes, and frees both as messages are taken', () => {
    const box = new Mailbox(10, 2048);
    const m = (n: number) => ({ id: String(n), sender: 's', senderType: '', timestamp: 0, body: new Uint8Array(1000) });
    expect(box.push(m(1))).toBe(true);
    expect(box.push(m(2))).toBe(true);
    expect(box.push(m(3))).toBe(false);
    expect((box.take(0) as { id: string }).id).toBe('1');
    expect(box.push(m(3))).toBe(true);
  });
});

describe('establishSecureChannel (host code)', () => {
  it('sets up a session with a peer over any carrier, and refuses a peer signing with another key', async () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    const bLocal = { agentId: 'host-b', signingSeed: b.privateKey };
    let bSide: SecureChannel | undefined;
    const exchange = async (init: HandshakeMessage) => {
      const r = acceptHandshake(bLocal, init, a.publicKey);
      bSide = r.channel;
      return r.response;
    };
    const aSide = await establishSecureChannel({ agentId: 'host-a', signingSeed: a.privateKey }, 'host-b', { peerKey: b.publicKey, exchange });
    expect(dec(bSide!.open(aSide.seal(enc('to b'))))).toBe('to b');
    expect(dec(aSide.open(bSide!.seal(enc('to a'))))).toBe('to a');
    const sealed = aSide.seal(enc('once'));
    bSide!.open(sealed);
    expect(() => bSide!.open(sealed)).toThrow(MessageRejected);
    const impostor = generateKeyPair();
    await expect(establishSecureChannel({ agentId: 'host-a', signingSeed: a.privateKey }, 'host-b', { peerKey: impostor.publicKey, exchange })).rejects.toBeInstanceOf(MessageRejected);
  });
});
