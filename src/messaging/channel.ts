/**
 * End-to-end encryption of agent-to-agent messages: ephemeral-static X25519 (in the manner of
 * HPKE base mode with a multi-message context), HKDF-SHA256, AES-256-GCM, and an Ed25519
 * signature by the sender's identity key over every envelope.
 *
 * A {@link SendChannel} draws an ephemeral X25519 key, agrees a secret with the recipient's
 * static key and derives one AES key and base nonce for up to `rotateAfterMessages` messages or
 * `rotateAfterMs`; then it draws a new one. The ephemeral private key is dropped as soon as the
 * channel key is derived, so a later theft of the sender's keys reveals nothing already sent.
 * (Theft of the recipient's static X25519 key does reveal traffic sent to it: rotate that key
 * through the directory as policy requires.)
 *
 * The {@link ReceiveChannels} of a recipient check the signature before anything else, so no
 * unauthenticated byte ever reaches the key agreement or the cipher.
 *
 * @example
 * ```ts
 * const alice = createLocalKeys('alice', aliceSeed);
 * const bob = createLocalKeys('bob', bobSeed);
 * const toBob = new SendChannel(alice, peerKeysOf(bob));
 * const env = toBob.seal(new TextEncoder().encode('hi'), { messageType: 'direct' });
 * const { header, body } = new ReceiveChannels(bob).open(env, peerKeysOf(alice));
 * ```
 */
import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomUUID, sign, verify, type KeyObject } from 'node:crypto';
import { b64u, fromB64u, privateKeyObject, publicKeyObject, publicKeyOf, signBytes, verifyBytes } from '../identity/keys.js';
import {
  DEFAULT_MAX_BODY_BYTES, GCM_TAG_BYTES, MessageRejected, SIGNATURE_BYTES, decodeEnvelope, formatHeader, headerOf, headerProblem,
  idProblem, makeEnvelope, type Envelope, type EnvelopeHeader, type MessageType,
} from './envelope.js';
import { ReplayGuard } from './replay.js';

/** What the sender/recipient knows of a peer (from the directory). @example `{ agentId: 'bob', signingKey: bobEdPublic, kexKey: bobX25519Public }` */
export interface PeerKeys {
  readonly agentId: string;
  /** Raw Ed25519 public key, 32 bytes. */ readonly signingKey: Uint8Array;
  /** Raw X25519 public key, 32 bytes. */ readonly kexKey: Uint8Array;
}

/** An instance's own keys (host side only; never handed to the guest). @example `const me: LocalKeys = createLocalKeys('alice', seed);` */
export interface LocalKeys {
  readonly agentId: string;
  /** Ed25519 32-byte seed. */ readonly signingSeed: Uint8Array;
  /** X25519 private key. */ readonly kexPrivate: KeyObject;
  /** Raw X25519 public key, 32 bytes. */ readonly kexKey: Uint8Array;
}

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const MSG_SIG_PREFIX = Buffer.from('agentos-msg/1\0', 'latin1');
const MSG_INFO_PREFIX = Buffer.from('agentos-msg/1', 'latin1');
const KEX_SIG_PREFIX = Buffer.from('agentos-kex/1\0', 'latin1');

// Per-object caches: importing a key into a KeyObject costs more than using it, and a channel
// must not pay that per message. Weak, so keys go away with their owners. Key bytes are treated
// as immutable once handed over.
const edPrivate = new WeakMap<Uint8Array, KeyObject>();
const edPublic = new WeakMap<Uint8Array, KeyObject>();
function cachedIn(cache: WeakMap<Uint8Array, KeyObject>, raw: Uint8Array, make: (raw: Uint8Array) => KeyObject): KeyObject {
  let k = cache.get(raw);
  if (!k) cache.set(raw, (k = make(raw)));
  return k;
}

/** The Ed25519 private KeyObject of a seed, cached on the seed's array. @example `sign(null, data, signingKeyObject(local.signingSeed))` */
export function signingKeyObject(seed: Uint8Array): KeyObject {
  return cachedIn(edPrivate, seed, privateKeyObject);
}

/** The Ed25519 public KeyObject of a raw key, cached on the key's array. @example `verify(null, data, verifyingKeyObject(peer.signingKey), sig)` */
export function verifyingKeyObject(raw: Uint8Array): KeyObject {
  return cachedIn(edPublic, raw, publicKeyObject);
}

function kexPublicKeyObject(raw: Uint8Array): KeyObject {
  if (!(raw instanceof Uint8Array) || raw.length !== 32) throw new TypeError('an X25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The raw 32 bytes of an X25519 public KeyObject (or of the public half of a private one). @example `const raw = rawKexKey(privateKey);` */
export function rawKexKey(k: KeyObject): Uint8Array {
  const der = (k.type === 'public' ? k : createPublicKey(k)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** A fresh X25519 key pair: the private key as a KeyObject, the public one raw. @example `const { privateKey, publicKey } = generateKexKeyPair()` */
export function generateKexKeyPair(): { privateKey: KeyObject; publicKey: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawKexKey(publicKey) };
}

/**
 * X25519 agreement with a peer key given as a KeyObject or as raw bytes from the wire. Errors
 * become `MALFORMED`: OpenSSL refuses low-order points (all-zero output), which only a broken or
 * hostile peer sends. @example `const secret = x25519(ephemeral.privateKey, peer.kexKey)`
 */
export function x25519(privateKey: KeyObject, publicKey: KeyObject | Uint8Array): Buffer {
  try {
    return diffieHellman({ privateKey, publicKey: publicKey instanceof Uint8Array ? kexPublicKeyObject(publicKey) : publicKey });
  } catch {
    throw new MessageRejected('MALFORMED', 'X25519 agreement failed: the peer key is not a usable curve point');
  }
}

/**
 * Fresh local keys for an identity: the given Ed25519 seed and a new X25519 pair.
 * @example `const me = createLocalKeys('alice', seed); publish(peerKeysOf(me), signKexKey(me.agentId, seed, me.kexKey))`
 */
export function createLocalKeys(agentId: string, signingSeed: Uint8Array): LocalKeys {
  const p = idProblem(agentId);
  if (p) throw new TypeError(`agentId ${p}`);
  const kex = generateKexKeyPair();
  return { agentId, signingSeed, kexPrivate: kex.privateKey, kexKey: kex.publicKey };
}

/** The {@link PeerKeys} others need to reach these local keys. @example `const card = peerKeysOf(me); // publish in the directory` */
export function peerKeysOf(local: LocalKeys): PeerKeys {
  return { agentId: local.agentId, signingKey: publicKeyOf(local.signingSeed), kexKey: local.kexKey };
}

function kexBinding(agentId: string, kexKey: Uint8Array): Buffer {
  const p = idProblem(agentId);
  if (p) throw new TypeError(`agentId ${p}`);
  if (kexKey.length !== 32) throw new TypeError('an X25519 public key is 32 bytes');
  // The id has no NUL (idProblem) and the key has a fixed length: the encoding is unambiguous.
  return Buffer.concat([KEX_SIG_PREFIX, Buffer.from(agentId, 'utf8'), Buffer.of(0), kexKey]);
}

/**
 * Bind an instance's X25519 key to its identity: an Ed25519 signature over
 * `"agentos-kex/1\0" ‖ agentId ‖ "\0" ‖ kexKey`.
 * @example `const sig = signKexKey('alice', seed, kexKey);`
 */
export function signKexKey(agentId: string, signingSeed: Uint8Array, kexKey: Uint8Array): Uint8Array {
  return signBytes(signingSeed, kexBinding(agentId, kexKey));
}

/**
 * Whether `sig` binds `kexKey` to `agentId` under the Ed25519 `signingKey`; never throws.
 * @example `if (!verifyKexKey(card.agentId, card.signingKey, card.kexKey, card.kexSig)) reject(card);`
 */
export function verifyKexKey(agentId: string, signingKey: Uint8Array, kexKey: Uint8Array, sig: Uint8Array): boolean {
  try {
    return verifyBytes(signingKey, kexBinding(agentId, kexKey), sig);
  } catch {
    return false;
  }
}

/**
 * HKDF-SHA256 to 44 bytes: a 32-byte AES key and a 12-byte base nonce.
 * salt = epk ‖ recipient kexKey, info = "agentos-msg/1" ‖ senderId ‖ 0 ‖ recipientId.
 */
function deriveChannelKey(shared: Uint8Array, epk: Uint8Array, recipientKex: Uint8Array, senderId: string, recipientId: string): ChannelKey {
  const salt = Buffer.concat([epk, recipientKex]);
  const info = Buffer.concat([MSG_INFO_PREFIX, Buffer.from(senderId, 'utf8'), Buffer.of(0), Buffer.from(recipientId, 'utf8')]);
  const okm = Buffer.from(hkdfSync('sha256', shared, salt, info, 44));
  return { key: okm.subarray(0, 32), baseNonce: okm.subarray(32, 44) };
}

interface ChannelKey { readonly key: Buffer; readonly baseNonce: Buffer }

/**
 * The nonce of message `seq`: the base nonce with the big-endian seq XORed into its last 8
 * bytes, so every (key, seq) pair gets its own nonce without any randomness per message.
 * @example `const iv = seqNonce(baseNonce, 1);`
 */
export function seqNonce(base: Uint8Array, seq: number): Buffer {
  const n = Buffer.from(base);
  n.writeUInt32BE((n.readUInt32BE(4) ^ Math.floor(seq / 0x100000000)) >>> 0, 4);
  n.writeUInt32BE((n.readUInt32BE(8) ^ seq) >>> 0, 8);
  return n;
}

/** The bytes an envelope signature covers: `"agentos-msg/1\0" ‖ header ‖ ciphertext`. */
function signedBytes(headerBytes: Uint8Array, ciphertext: Uint8Array): Buffer {
  // Header and ciphertext need no length prefix: the header is canonical JSON, which ends at
  // its closing brace, so there is only one way to split the two.
  const b = Buffer.allocUnsafe(MSG_SIG_PREFIX.length + headerBytes.length + ciphertext.length);
  MSG_SIG_PREFIX.copy(b, 0);
  b.set(headerBytes, MSG_SIG_PREFIX.length);
  b.set(ciphertext, MSG_SIG_PREFIX.length + headerBytes.length);
  return b;
}

/** Options of {@link SendChannel}. @example `new SendChannel(me, peer, { rotateAfterMessages: 1000, rotateAfterMs: 600_000 })` */
export interface SendChannelOptions {
  /** Messages per ephemeral key; default 2^20. */
  readonly rotateAfterMessages?: number;
  /** Lifetime of an ephemeral key in ms; default 1 hour. */
  readonly rotateAfterMs?: number;
  /** Largest body sealed; default {@link DEFAULT_MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number;
}

/** Per-message options of {@link SendChannel.seal}. @example `channel.seal(body, { messageType: 'reply', replyTo: earlier.header.messageId });` */
export interface SealOptions {
  readonly messageType: MessageType;
  readonly topic?: string;
  readonly replyTo?: string;
  /** Defaults to a random UUID. */
  readonly messageId?: string;
  /** Epoch ms; defaults to `Date.now()`. */
  readonly now?: number;
}

/**
 * Sender → one recipient. Not safe to share between processes (the sequence number lives here);
 * one per (sender instance, recipient) is the intended use.
 * @example `const wire = encodeEnvelope(new SendChannel(me, bobKeys).seal(body, { messageType: 'direct' }))`
 */
export class SendChannel {
  readonly senderId: string;
  readonly recipientId: string;
  private readonly signKey: KeyObject;
  private readonly recipientKex: Uint8Array;
  private readonly recipientKexObject: KeyObject;
  private readonly rotateAfterMessages: number;
  private readonly rotateAfterMs: number;
  private readonly maxBodyBytes: number;
  private epoch: { key: Buffer; baseNonce: Buffer; epk: string; seq: number; started: number } | undefined;

  constructor(local: LocalKeys, recipient: PeerKeys, o: SendChannelOptions = {}) {
    const p = idProblem(local.agentId) ?? idProblem(recipient.agentId);
    if (p) throw new TypeError(`an agentId ${p}`);
    this.senderId = local.agentId;
    this.recipientId = recipient.agentId;
    this.signKey = signingKeyObject(local.signingSeed);
    this.recipientKex = recipient.kexKey;
    this.recipientKexObject = kexPublicKeyObject(recipient.kexKey);
    this.rotateAfterMessages = o.rotateAfterMessages ?? 2 ** 20;
    this.rotateAfterMs = o.rotateAfterMs ?? 3_600_000;
    this.maxBodyBytes = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    // Past 2^32 messages per key the GCM security margin thins; the counter nonce allows more.
    if (!(this.rotateAfterMessages >= 1 && this.rotateAfterMessages <= 2 ** 32)) throw new RangeError('rotateAfterMessages must be in 1..2^32');
    if (!(this.rotateAfterMs > 0)) throw new RangeError('rotateAfterMs must be > 0');
  }

  /** Start a new ephemeral key now (next message: seq 1 under a new `epk`). @example `channel.rotate() // recipient has a new kexKey` */
  rotate(now: number = Date.now()): void {
    const eph = generateKeyPairSync('x25519');
    const epk = rawKexKey(eph.publicKey);
    const shared = x25519(eph.privateKey, this.recipientKexObject);
    const { key, baseNonce } = deriveChannelKey(shared, epk, this.recipientKex, this.senderId, this.recipientId);
    shared.fill(0);
    this.epoch = { key, baseNonce, epk: b64u(epk), seq: 0, started: now };
  }

  /** Encrypt and sign one body. @example `const env = channel.seal(body, { messageType: 'topic', topic: 'builds' });` */
  seal(body: Uint8Array, o: SealOptions): Envelope {
    if (!(body instanceof Uint8Array)) throw new TypeError('body must be a Uint8Array');
    if (body.length > this.maxBodyBytes) throw new MessageRejected('TOO_LARGE', `body of ${body.length} bytes is over the ${this.maxBodyBytes}-byte limit`);
    const now = o.now ?? Date.now();
    let ep = this.epoch;
    if (!ep || ep.seq >= this.rotateAfterMessages || now - ep.started >= this.rotateAfterMs || now < ep.started) {
      this.rotate(now);
      ep = this.epoch!;
    }
    const header: EnvelopeHeader = {
      version: 1, messageType: o.messageType, senderId: this.senderId, recipientId: this.recipientId, timestamp: now,
      messageId: o.messageId ?? randomUUID(), seq: ep.seq + 1, epk: ep.epk,
      ...(o.topic !== undefined ? { topic: o.topic } : {}), ...(o.replyTo !== undefined ? { replyTo: o.replyTo } : {}),
    };
    const p = headerProblem(header);
    if (p) throw new TypeError(`cannot seal: ${p}`);
    ep.seq++;

    // One buffer holds the signed message; the header and ciphertext of the envelope are views
    // into it, so each byte is written once.
    const text = formatHeader(header);
    const hl = Buffer.byteLength(text, 'utf8');
    const pl = MSG_SIG_PREFIX.length;
    const signed = Buffer.allocUnsafe(pl + hl + body.length + GCM_TAG_BYTES);
    MSG_SIG_PREFIX.copy(signed, 0);
    signed.write(text, pl, 'utf8');
    const headerBytes = signed.subarray(pl, pl + hl);
    const cipher = createCipheriv('aes-256-gcm', ep.key, seqNonce(ep.baseNonce, header.seq), { authTagLength: GCM_TAG_BYTES });
    cipher.setAAD(headerBytes);
    let off = pl + hl;
    off += cipher.update(body).copy(signed, off);
    off += cipher.final().copy(signed, off);
    cipher.getAuthTag().copy(signed, off);
    const signature = new Uint8Array(sign(null, signed, this.signKey));
    return makeEnvelope(header, headerBytes, signed.subarray(pl + hl), signature);
  }
}

/** Options of {@link ReceiveChannels}. @example `new ReceiveChannels(me, { maxSkewMs: 10_000, maxChannels: 256 })` */
export interface ReceiveChannelsOptions {
  /** Accepted difference between a message's timestamp and the local clock; default 30 s. */
  readonly maxSkewMs?: number;
  /** Channel keys kept (LRU); default 1024. */
  readonly maxChannels?: number;
  /** Largest body accepted; default {@link DEFAULT_MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number;
  /** Replay state to use (e.g. shared with metrics); default a new one with windowMs = maxSkewMs. */
  readonly replay?: ReplayGuard;
}

/** An opened message. @example `const { header, body }: Opened = channels.open(env, peer);` */
export interface Opened {
  readonly header: EnvelopeHeader;
  readonly body: Uint8Array;
}

/**
 * All incoming channels of one recipient. Checks, in order: signature (`BAD_SIGNATURE`, before
 * any decryption), recipient (`WRONG_RECIPIENT`), sender identity (`UNKNOWN_SENDER`), clock
 * (`STALE`), replay (`REPLAY`/`OUT_OF_ORDER`), then decrypts (`TAMPERED` on a GCM failure) and
 * only then records the message as seen.
 * @example `const { header, body } = new ReceiveChannels(me).openBytes(frame, (id) => directory.get(id))`
 */
export class ReceiveChannels {
  readonly agentId: string;
  private readonly local: LocalKeys;
  private readonly maxSkewMs: number;
  private readonly maxChannels: number;
  private readonly maxBodyBytes: number;
  private readonly replay: ReplayGuard;
  /** `sender\0epk` → derived key; Map order is the LRU order. */
  private readonly keys = new Map<string, ChannelKey>();

  constructor(local: LocalKeys, o: ReceiveChannelsOptions = {}) {
    const p = idProblem(local.agentId);
    if (p) throw new TypeError(`agentId ${p}`);
    if (local.kexPrivate.asymmetricKeyType !== 'x25519' || local.kexPrivate.type !== 'private') throw new TypeError('kexPrivate must be an X25519 private key');
    this.agentId = local.agentId;
    this.local = local;
    this.maxSkewMs = o.maxSkewMs ?? 30_000;
    this.maxChannels = o.maxChannels ?? 1024;
    this.maxBodyBytes = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.replay = o.replay ?? new ReplayGuard({ windowMs: this.maxSkewMs });
  }

  /** Verify, check and decrypt one envelope from `sender`; throws {@link MessageRejected}. @example `inbox.open(decodeEnvelope(frame), aliceKeys).body` */
  open(env: Envelope, sender: PeerKeys, now: number = Date.now()): Opened {
    const header = headerOf(env);
    const ct = env.ciphertext;
    if (ct.length < GCM_TAG_BYTES) throw new MessageRejected('MALFORMED', 'malformed envelope: ciphertext shorter than a GCM tag');
    if (ct.length > this.maxBodyBytes + GCM_TAG_BYTES) throw new MessageRejected('TOO_LARGE', `body of ${ct.length - GCM_TAG_BYTES} bytes is over the ${this.maxBodyBytes}-byte limit`);

    let good: boolean;
    try {
      good = env.signature.length === SIGNATURE_BYTES && verify(null, signedBytes(env.headerBytes, ct), verifyingKeyObject(sender.signingKey), env.signature);
    } catch {
      good = false; // a malformed public key from the caller's directory: not a valid signature
    }
    if (!good) throw new MessageRejected('BAD_SIGNATURE', `bad signature: message ${header.messageId} is not signed by ${sender.agentId}'s key`);
    const id = header.messageId;
    if (header.recipientId !== this.agentId) throw new MessageRejected('WRONG_RECIPIENT', `wrong recipient: message ${id} is for ${header.recipientId}, this is ${this.agentId}`);
    if (header.senderId !== sender.agentId) throw new MessageRejected('UNKNOWN_SENDER', `sender mismatch: message ${id} claims to be from ${header.senderId} but is signed by ${sender.agentId}'s key`);
    const skew = now - header.timestamp;
    if (Math.abs(skew) > this.maxSkewMs) throw new MessageRejected('STALE', `stale: message ${id} is timestamped ${skew} ms before now (allowed ±${this.maxSkewMs} ms)`);
    this.replay.check(header.senderId, header.epk, header.seq, header.messageId);

    const ck = this.channelKey(header.senderId, header.epk);
    const n = ct.length - GCM_TAG_BYTES;
    let body: Buffer;
    try {
      const d = createDecipheriv('aes-256-gcm', ck.key, seqNonce(ck.baseNonce, header.seq), { authTagLength: GCM_TAG_BYTES });
      d.setAAD(env.headerBytes);
      d.setAuthTag(ct.subarray(n));
      body = d.update(ct.subarray(0, n));
      d.final();
    } catch {
      throw new MessageRejected('TAMPERED', `tampered: message ${header.messageId} from ${header.senderId} does not decrypt (wrong key or altered ciphertext)`);
    }
    this.replay.accept(header.senderId, header.epk, header.seq, header.messageId, header.timestamp, now);
    return { header, body };
  }

  /**
   * Decode a wire frame, look up its sender and {@link open} it. `UNKNOWN_SENDER` if the lookup
   * knows no such agent.
   * @example `inbox.openBytes(frame, (id) => directory.peerKeys(id));`
   */
  openBytes(bytes: Uint8Array, lookup: (agentId: string) => PeerKeys | undefined, now: number = Date.now()): Opened {
    const env = decodeEnvelope(bytes, { maxBodyBytes: this.maxBodyBytes });
    const sender = lookup(env.header.senderId);
    if (!sender) throw new MessageRejected('UNKNOWN_SENDER', `unknown sender: no keys for ${env.header.senderId}`);
    return this.open(env, sender, now);
  }

  private channelKey(senderId: string, epk: string): ChannelKey {
    const id = senderId + '\0' + epk;
    let k = this.keys.get(id);
    if (k) {
      this.keys.delete(id); // re-insert: most recently used last
      this.keys.set(id, k);
      return k;
    }
    const epkRaw = fromB64u(epk);
    const shared = x25519(this.local.kexPrivate, epkRaw);
    k = deriveChannelKey(shared, epkRaw, this.local.kexKey, senderId, this.agentId);
    shared.fill(0);
    this.keys.set(id, k);
    if (this.keys.size > this.maxChannels) this.keys.delete(this.keys.keys().next().value!);
    return k;
  }
}
