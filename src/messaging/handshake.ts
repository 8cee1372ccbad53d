/**
 * An interactive, mutually authenticated key exchange for host code that talks to one peer at a
 * time (the seed's AgentSecureChannel / establishSecureChannel), and the session it yields.
 *
 * Two messages. Each side sends a fresh ephemeral X25519 key, a random nonce and a timestamp,
 * signed with its Ed25519 identity key; the response's signature also covers a hash of the
 * initiation, so the pair cannot be spliced from different runs. The session keys come from
 * HKDF over the ephemeral-ephemeral X25519 secret, salted with a hash of both signed messages:
 * any change to either message yields different keys. Both ephemeral keys are dropped once the
 * keys are derived (forward secrecy).
 *
 * The responder learns that the initiator is live only when the first sealed message from it
 * opens: a replayed initiation gets a response, but nobody can use the resulting session.
 *
 * @example
 * ```ts
 * const hs = initiateHandshake(alice, 'bob');
 * const { response, channel: atBob } = acceptHandshake(bob, hs.message, aliceSigningKey);
 * const atAlice = hs.complete(response, bobSigningKey);
 * atBob.open(atAlice.seal(new TextEncoder().encode('hello'))); // bytes of 'hello'
 * ```
 */
import { createCipheriv, createDecipheriv, createHash, generateKeyPairSync, hkdfSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { b64u, signBytes, verifyBytes } from '../identity/keys.js';
import { rawKexKey, seqNonce, signingKeyObject, verifyingKeyObject, x25519 } from './channel.js';
import { DEFAULT_MAX_BODY_BYTES, GCM_TAG_BYTES, MessageRejected, idProblem, isUuid } from './envelope.js';
import { ReplayGuard } from './replay.js';

/**
 * One of the two handshake messages (JSON-friendly).
 *
 * @example
 * ```ts
 * send(JSON.stringify(initiateHandshake(me, 'bob').message));
 * ```
 */
export interface HandshakeMessage {
  readonly type: 'handshake_initiate' | 'handshake_response';
  readonly senderId: string;
  readonly recipientId: string;
  /** Epoch ms at the sender. */
  readonly timestamp: number;
  /** 16 random bytes, base64url. */
  readonly nonce: string;
  /** Raw X25519 public key, base64url. */
  readonly ephemeralPublicKey: string;
  /** Ed25519 signature, base64url. */
  readonly signature: string;
}

/**
 * The header of a {@link SecureMessage}; its canonical JSON is the GCM additional data.
 *
 * @example
 * ```ts
 * const { seq, senderId } = message.header;
 * ```
 */
export interface SecureMessageHeader {
  readonly version: 1;
  readonly messageType: string;
  readonly senderId: string;
  readonly recipientId: string;
  readonly timestamp: number;
  readonly messageId: string;
  readonly seq: number;
}

/**
 * A message on a {@link SecureChannel} (JSON-friendly). Authenticated by the session key (the
 * GCM tag in `security.mac`); the identity signatures are on the handshake.
 *
 * @example
 * ```ts
 * const m: SecureMessage = JSON.parse(text); channel.open(m);
 * ```
 */
export interface SecureMessage {
  readonly header: SecureMessageHeader;
  /** The ciphertext without its tag, base64url. */
  readonly payload: string;
  readonly security: { readonly mac: string };
}

/**
 * The identity a side of the handshake signs with.
 *
 * @example
 * ```ts
 * const me: HandshakeIdentity = { agentId: 'alice', signingSeed: seed };
 * ```
 */
export interface HandshakeIdentity {
  readonly agentId: string;
  readonly signingSeed: Uint8Array;
}

/**
 * Options shared by the handshake functions and the channel they make.
 *
 * @example
 * ```ts
 * acceptHandshake(me, init, key, { maxSkewMs: 10_000 });
 * ```
 */
export interface HandshakeOptions {
  /** Epoch ms; defaults to `Date.now()`. */
  readonly now?: number;
  /** Accepted clock difference for handshake and channel messages; default 30 s. */
  readonly maxSkewMs?: number;
  /** Largest payload a channel seals or opens; default {@link DEFAULT_MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number;
}

const HS_SIG_PREFIX = Buffer.from('agentos-hs/1\0', 'latin1');
const HS_INFO_PREFIX = Buffer.from('agentos-hs/1 session\0', 'latin1');
const HS_KEYS = ['type', 'senderId', 'recipientId', 'timestamp', 'nonce', 'ephemeralPublicKey', 'signature'];
const HEADER_KEYS = ['version', 'messageType', 'senderId', 'recipientId', 'timestamp', 'messageId', 'seq'];
const MESSAGE_TYPE_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const B64U_RE = /^[A-Za-z0-9_-]*$/;
/** GCM with one key: stop well before the 2^32-message guidance and ask for a new handshake. */
const MAX_SEQ = 2 ** 32;

function malformed(what: string, why: string): MessageRejected {
  return new MessageRejected('MALFORMED', `malformed ${what}: ${why}`);
}

/** Whether `s` is the one canonical base64url spelling of some bytes (of length `n` if given). */
function isB64u(s: unknown, n?: number): s is string {
  if (typeof s !== 'string' || !B64U_RE.test(s) || s.length % 4 === 1) return false;
  const b = Buffer.from(s, 'base64url');
  return (n === undefined || b.length === n) && b.toString('base64url') === s;
}

function hasExactly(o: unknown, keys: readonly string[]): o is Record<string, unknown> {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return false;
  const own = Object.keys(o);
  return own.length === keys.length && keys.every((k) => Object.prototype.hasOwnProperty.call(o, k));
}

function checkHandshake(m: unknown, type: HandshakeMessage['type']): HandshakeMessage {
  const what = type.replace('_', ' ');
  if (!hasExactly(m, HS_KEYS)) throw malformed(what, `must have exactly the fields ${HS_KEYS.join(', ')}`);
  if (m.type !== type) throw malformed(what, `type is ${JSON.stringify(m.type)}, expected ${type}`);
  for (const k of ['senderId', 'recipientId']) {
    const p = idProblem(m[k]);
    if (p) throw malformed(what, `${k} ${p}`);
  }
  if (!Number.isSafeInteger(m.timestamp) || (m.timestamp as number) < 0) throw malformed(what, 'timestamp must be a non-negative integer');
  if (!isB64u(m.nonce, 16)) throw malformed(what, 'nonce must be 16 bytes of base64url');
  if (!isB64u(m.ephemeralPublicKey, 32)) throw malformed(what, 'ephemeralPublicKey must be 32 bytes of base64url');
  if (!isB64u(m.signature, 64)) throw malformed(what, 'signature must be 64 bytes of base64url');
  return m as unknown as HandshakeMessage;
}

/** `"agentos-hs/1\0" ‖ canonical JSON of the unsigned fields ‖ transcript hash (response only)`. */
function handshakeSigned(m: Omit<HandshakeMessage, 'signature'>, initHash?: Uint8Array): Buffer {
  const json =
    '{"type":"' + m.type + '","senderId":' + JSON.stringify(m.senderId) + ',"recipientId":' + JSON.stringify(m.recipientId) +
    ',"timestamp":' + m.timestamp + ',"nonce":"' + m.nonce + '","ephemeralPublicKey":"' + m.ephemeralPublicKey + '"}';
  return Buffer.concat([HS_SIG_PREFIX, Buffer.from(json, 'utf8'), initHash ?? Buffer.alloc(0)]);
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Signature, then recipient, then clock: the order the envelope receiver uses. */
function verifyHandshake(m: HandshakeMessage, signed: Uint8Array, key: Uint8Array, localId: string, now: number, maxSkewMs: number): void {
  if (!verifyBytes(verifyingKeyObject(key), signed, Buffer.from(m.signature, 'base64url'))) {
    throw new MessageRejected('BAD_SIGNATURE', `bad signature: ${m.type} from ${m.senderId} is not signed by the expected key`);
  }
  if (m.recipientId !== localId) throw new MessageRejected('WRONG_RECIPIENT', `wrong recipient: ${m.type} is for ${m.recipientId}, this is ${localId}`);
  if (Math.abs(now - m.timestamp) > maxSkewMs) {
    throw new MessageRejected('STALE', `stale: ${m.type} from ${m.senderId} is timestamped ${now - m.timestamp} ms from now (allowed ±${maxSkewMs} ms)`);
  }
}

function fresh(type: HandshakeMessage['type'], senderId: string, recipientId: string, now: number): { fields: Omit<HandshakeMessage, 'signature'>; privateKey: KeyObject } {
  const eph = generateKeyPairSync('x25519');
  const fields = { type, senderId, recipientId, timestamp: now, nonce: b64u(randomBytes(16)), ephemeralPublicKey: b64u(rawKexKey(eph.publicKey)) };
  return { fields, privateKey: eph.privateKey };
}

/** Both directional keys from the ephemeral secret and both signed messages. */
function sessionKeys(priv: KeyObject, remoteEpk: string, initSigned: Uint8Array, respSigned: Uint8Array, initiatorId: string, responderId: string): Buffer {
  const shared = x25519(priv, Buffer.from(remoteEpk, 'base64url'));
  const info = Buffer.concat([HS_INFO_PREFIX, Buffer.from(initiatorId, 'utf8'), Buffer.of(0), Buffer.from(responderId, 'utf8')]);
  const okm = Buffer.from(hkdfSync('sha256', shared, sha256(initSigned, respSigned), info, 88));
  shared.fill(0);
  return okm; // initiator→responder key ‖ nonce, responder→initiator key ‖ nonce
}

function checkIdentities(local: HandshakeIdentity, remoteId: string): void {
  let p = idProblem(local.agentId);
  if (p) throw new TypeError(`local agentId ${p}`);
  p = idProblem(remoteId);
  if (p) throw new TypeError(`remote agentId ${p}`);
  signingKeyObject(local.signingSeed); // fails early on a bad seed, and warms the cache
}

/**
 * Start a handshake with `remoteId`: send `message`, then pass the peer's response and its
 * Ed25519 public key to `complete`. `complete` throws {@link MessageRejected} on a bad
 * response (and may be called again with another); it succeeds at most once.
 *
 * @example
 * ```ts
 * const hs = initiateHandshake(me, 'bob');
 * const channel = hs.complete(await exchange(hs.message), bobSigningKey);
 * ```
 */
export function initiateHandshake(
  local: HandshakeIdentity, remoteId: string, o: HandshakeOptions = {},
): { message: HandshakeMessage; complete(response: HandshakeMessage, remoteSigningKey: Uint8Array, now?: number): SecureChannel } {
  checkIdentities(local, remoteId);
  const { fields, privateKey } = fresh('handshake_initiate', local.agentId, remoteId, o.now ?? Date.now());
  const initSigned = handshakeSigned(fields);
  const message: HandshakeMessage = Object.freeze({ ...fields, signature: b64u(signBytes(signingKeyObject(local.signingSeed), initSigned)) });
  let ephemeral: KeyObject | undefined = privateKey;
  const maxSkewMs = o.maxSkewMs ?? 30_000;
  return {
    message,
    complete(response: HandshakeMessage, remoteSigningKey: Uint8Array, now: number = Date.now()): SecureChannel {
      if (!ephemeral) throw new Error('this handshake already completed; start a new one');
      const r = checkHandshake(response, 'handshake_response');
      const respSigned = handshakeSigned(r, sha256(initSigned));
      verifyHandshake(r, respSigned, remoteSigningKey, local.agentId, now, maxSkewMs);
      if (r.senderId !== remoteId) throw new MessageRejected('UNKNOWN_SENDER', `sender mismatch: response from ${r.senderId}, expected ${remoteId}`);
      const okm = sessionKeys(ephemeral, r.ephemeralPublicKey, initSigned, respSigned, local.agentId, remoteId);
      ephemeral = undefined;
      return new SecureChannel({
        localId: local.agentId, remoteId, sendKey: okm.subarray(0, 32), sendNonce: okm.subarray(32, 44),
        recvKey: okm.subarray(44, 76), recvNonce: okm.subarray(76, 88), maxSkewMs, maxBodyBytes: o.maxBodyBytes,
      });
    },
  };
}

/**
 * Answer a handshake initiation. `remoteSigningKey` must be the directory's Ed25519 key of
 * `init.senderId` (look it up by that id). Throws {@link MessageRejected} on a bad initiation.
 *
 * @example
 * ```ts
 * const { response, channel } = acceptHandshake(me, init, directory.signingKey(init.senderId));
 * reply(response);
 * ```
 */
export function acceptHandshake(
  local: HandshakeIdentity, init: HandshakeMessage, remoteSigningKey: Uint8Array, o: HandshakeOptions = {},
): { response: HandshakeMessage; channel: SecureChannel } {
  const now = o.now ?? Date.now();
  const maxSkewMs = o.maxSkewMs ?? 30_000;
  const i = checkHandshake(init, 'handshake_initiate');
  checkIdentities(local, i.senderId);
  const initSigned = handshakeSigned(i);
  verifyHandshake(i, initSigned, remoteSigningKey, local.agentId, now, maxSkewMs);
  const { fields, privateKey } = fresh('handshake_response', local.agentId, i.senderId, now);
  const respSigned = handshakeSigned(fields, sha256(initSigned));
  const response: HandshakeMessage = Object.freeze({ ...fields, signature: b64u(signBytes(signingKeyObject(local.signingSeed), respSigned)) });
  const okm = sessionKeys(privateKey, i.ephemeralPublicKey, initSigned, respSigned, i.senderId, local.agentId);
  const channel = new SecureChannel({
    localId: local.agentId, remoteId: i.senderId, sendKey: okm.subarray(44, 76), sendNonce: okm.subarray(76, 88),
    recvKey: okm.subarray(0, 32), recvNonce: okm.subarray(32, 44), maxSkewMs, maxBodyBytes: o.maxBodyBytes,
  });
  return { response, channel };
}

/**
 * What a {@link SecureChannel} is made of; produced by the handshake functions.
 *
 * @example
 * ```ts
 * // internal: new SecureChannel({ localId, remoteId, sendKey, sendNonce, recvKey, recvNonce })
 * ```
 */
export interface SessionParams {
  readonly localId: string;
  readonly remoteId: string;
  readonly sendKey: Uint8Array;
  readonly sendNonce: Uint8Array;
  readonly recvKey: Uint8Array;
  readonly recvNonce: Uint8Array;
  readonly maxSkewMs?: number;
  readonly maxBodyBytes?: number | undefined;
}

function formatSecureHeader(h: SecureMessageHeader): string {
  return '{"version":1,"messageType":"' + h.messageType + '","senderId":' + JSON.stringify(h.senderId) +
    ',"recipientId":' + JSON.stringify(h.recipientId) + ',"timestamp":' + h.timestamp + ',"messageId":"' + h.messageId +
    '","seq":' + h.seq + '}';
}

/**
 * A two-way session from a completed handshake: AES-256-GCM under one key per direction,
 * counter nonces, and refusal of replayed, reordered, stale or misaddressed messages.
 *
 * @example
 * ```ts
 * const m = channel.seal(bytes, 'tool_result');
 * peerChannel.open(m); // bytes
 * ```
 */
export class SecureChannel {
  readonly localId: string;
  readonly remoteId: string;
  private readonly sendKey: Uint8Array;
  private readonly sendNonce: Uint8Array;
  private readonly recvKey: Uint8Array;
  private readonly recvNonce: Uint8Array;
  private readonly maxSkewMs: number;
  private readonly maxBodyBytes: number;
  private readonly replay: ReplayGuard;
  private sendSeq = 0;

  constructor(p: SessionParams) {
    this.localId = p.localId;
    this.remoteId = p.remoteId;
    this.sendKey = p.sendKey;
    this.sendNonce = p.sendNonce;
    this.recvKey = p.recvKey;
    this.recvNonce = p.recvNonce;
    this.maxSkewMs = p.maxSkewMs ?? 30_000;
    this.maxBodyBytes = p.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.replay = new ReplayGuard({ windowMs: this.maxSkewMs, maxChannels: 1 });
  }

  /** Encrypt `payload` for the peer. @example `const m = channel.seal(new TextEncoder().encode('{"ok":true}'), 'status')` */
  seal(payload: Uint8Array, messageType = 'secure_message', now: number = Date.now()): SecureMessage {
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
    if (payload.length > this.maxBodyBytes) throw new MessageRejected('TOO_LARGE', `payload of ${payload.length} bytes is over the ${this.maxBodyBytes}-byte limit`);
    if (!MESSAGE_TYPE_RE.test(messageType)) throw new TypeError('messageType must be 1-64 characters of A-Z a-z 0-9 _ . : -');
    if (this.sendSeq >= MAX_SEQ) throw new Error('this session has sent its maximum number of messages; run a new handshake');
    const header: SecureMessageHeader = Object.freeze({
      version: 1, messageType, senderId: this.localId, recipientId: this.remoteId, timestamp: now, messageId: randomUUID(), seq: ++this.sendSeq,
    });
    const c = createCipheriv('aes-256-gcm', this.sendKey, seqNonce(this.sendNonce, header.seq), { authTagLength: GCM_TAG_BYTES });
    c.setAAD(Buffer.from(formatSecureHeader(header), 'utf8'));
    const ct = c.update(payload);
    const last = c.final();
    const body = last.length ? Buffer.concat([ct, last]) : ct;
    return Object.freeze({ header, payload: body.toString('base64url'), security: Object.freeze({ mac: c.getAuthTag().toString('base64url') }) });
  }

  /**
   * Check and decrypt a message from the peer. Throws {@link MessageRejected}: `MALFORMED`,
   * `WRONG_RECIPIENT`, `UNKNOWN_SENDER`, `STALE`, `REPLAY`, `OUT_OF_ORDER`, `TAMPERED`, `TOO_LARGE`.
   * @example `const bytes = channel.open(JSON.parse(frame))`
   */
  open(m: SecureMessage, now: number = Date.now()): Uint8Array {
    if (!hasExactly(m, ['header', 'payload', 'security'])) throw malformed('secure message', 'must have exactly header, payload, security');
    const h = m.header;
    if (!hasExactly(h, HEADER_KEYS)) throw malformed('secure message', `header must have exactly ${HEADER_KEYS.join(', ')}`);
    if (!hasExactly(m.security, ['mac']) || !isB64u(m.security.mac, GCM_TAG_BYTES)) throw malformed('secure message', 'security.mac must be a 16-byte tag in base64url');
    if (h.version !== 1) throw malformed('secure message', 'version must be 1');
    if (typeof h.messageType !== 'string' || !MESSAGE_TYPE_RE.test(h.messageType)) throw malformed('secure message', 'bad messageType');
    const p = idProblem(h.senderId) ?? idProblem(h.recipientId);
    if (p) throw malformed('secure message', `an id ${p}`);
    if (!Number.isSafeInteger(h.timestamp) || h.timestamp < 0) throw malformed('secure message', 'timestamp must be a non-negative integer');
    if (!isUuid(h.messageId)) throw malformed('secure message', 'messageId must be a lower-case UUID');
    if (!Number.isSafeInteger(h.seq) || h.seq < 1) throw malformed('secure message', 'seq must be an integer >= 1');
    if (typeof m.payload === 'string' && m.payload.length > Math.ceil((this.maxBodyBytes * 4) / 3)) throw new MessageRejected('TOO_LARGE', `payload is over the ${this.maxBodyBytes}-byte limit`);
    if (!isB64u(m.payload)) throw malformed('secure message', 'payload must be base64url');

    if (h.recipientId !== this.localId) throw new MessageRejected('WRONG_RECIPIENT', `wrong recipient: message ${h.messageId} is for ${h.recipientId}, this is ${this.localId}`);
    if (h.senderId !== this.remoteId) throw new MessageRejected('UNKNOWN_SENDER', `sender mismatch: message from ${h.senderId} on the session with ${this.remoteId}`);
    const skew = now - h.timestamp;
    if (Math.abs(skew) > this.maxSkewMs) throw new MessageRejected('STALE', `stale: message ${h.messageId} is timestamped ${skew} ms before now (allowed ±${this.maxSkewMs} ms)`);
    this.replay.check(h.senderId, 'session', h.seq, h.messageId);
    let out: Buffer;
    try {
      const d = createDecipheriv('aes-256-gcm', this.recvKey, seqNonce(this.recvNonce, h.seq), { authTagLength: GCM_TAG_BYTES });
      d.setAAD(Buffer.from(formatSecureHeader(h), 'utf8'));
      d.setAuthTag(Buffer.from(m.security.mac, 'base64url'));
      out = d.update(Buffer.from(m.payload, 'base64url'));
      const last = d.final();
      if (last.length) out = Buffer.concat([out, last]);
    } catch {
      throw new MessageRejected('TAMPERED', `tampered: message ${h.messageId} from ${h.senderId} does not authenticate under the session key`);
    }
    this.replay.accept(h.senderId, 'session', h.seq, h.messageId, h.timestamp, now);
    return out;
  }
}
