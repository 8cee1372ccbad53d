/**
 * The wire form of an end-to-end encrypted agent-to-agent message: a signed header in clear
 * (routing needs it), an AES-256-GCM ciphertext of the body and an Ed25519 signature.
 *
 * Layout (all integers big-endian):
 *
 * | bytes | field                                                        |
 * |-------|--------------------------------------------------------------|
 * | 4     | magic `AOSM`                                                 |
 * | 1     | version, 1                                                   |
 * | 2     | header length H                                              |
 * | H     | header: UTF-8 JSON, keys in the fixed order of {@link formatHeader} |
 * | 4     | ciphertext length C (body + 16-byte GCM tag)                 |
 * | C     | ciphertext                                                   |
 * | 64    | Ed25519 signature over `"agentos-msg/1\0" ‖ header ‖ ciphertext` |
 *
 * The header bytes are produced once and kept: the very same bytes are the GCM additional data
 * and part of the signed message, so nothing is ever re-serialized to be verified (two JSON
 * encoders never have to agree). The decoder still insists the header is in canonical form, so
 * duplicate keys, whitespace or reordered fields (which different parsers could read
 * differently) are refused outright.
 *
 * @example
 * ```ts
 * const wire = encodeEnvelope(sendChannel.seal(body, { messageType: 'direct' }));
 * const env = decodeEnvelope(wire);        // throws MessageRejected('MALFORMED') on anything off
 * receiveChannels.open(env, senderKeys);   // { header, body }
 * ```
 */

/** The three kinds of envelope. `topic` needs a `topic`; `reply` needs a `replyTo`. */
export type MessageType = 'direct' | 'reply' | 'topic';

/** Why a message was refused; stable strings that callers and metrics match on. @example `RejectCodes.includes(e.code)` */
export const RejectCodes = [
  'MALFORMED',
  'BAD_SIGNATURE',
  'WRONG_RECIPIENT',
  'STALE',
  'REPLAY',
  'OUT_OF_ORDER',
  'TAMPERED',
  'UNKNOWN_SENDER',
  'TOO_LARGE',
] as const;

/** One of {@link RejectCodes}. @example `const c: RejectCode = 'REPLAY'` */
export type RejectCode = (typeof RejectCodes)[number];

/**
 * A message refused by the messaging layer, with the reason as a stable {@link RejectCode}.
 *
 * @example
 * ```ts
 * try { channels.open(env, peer) } catch (e) {
 *   if (e instanceof MessageRejected && e.code === 'REPLAY') metrics.replays.inc();
 * }
 * ```
 */
export class MessageRejected extends Error {
  /** Why. */
  readonly code: RejectCode;
  constructor(code: RejectCode, message: string) {
    super(message);
    this.name = 'MessageRejected';
    this.code = code;
  }
}

/**
 * The clear, signed header of an envelope.
 *
 * @example
 * ```ts
 * const h: EnvelopeHeader = { version: 1, messageType: 'direct', senderId: 'a', recipientId: 'b',
 *   timestamp: Date.now(), messageId: randomUUID(), seq: 1, epk: b64u(ephemeralPublic) };
 * ```
 */
export interface EnvelopeHeader {
  readonly version: 1;
  readonly messageType: MessageType;
  readonly senderId: string;
  readonly recipientId: string;
  /** Epoch milliseconds at the sender. */
  readonly timestamp: number;
  /** A lower-case UUID, unique per sender. */
  readonly messageId: string;
  /** 1, 2, 3… per sending channel (per `epk`). */
  readonly seq: number;
  /** base64url of the channel's ephemeral X25519 public key. */
  readonly epk: string;
  readonly topic?: string;
  /** The messageId this one answers. */
  readonly replyTo?: string;
}

/**
 * A sealed message: the parsed header, the exact header bytes that were signed, the ciphertext
 * (GCM tag included) and the signature.
 *
 * @example
 * ```ts
 * const env: Envelope = decodeEnvelope(bytes);
 * env.header.senderId; // who claims to have sent it (verified by ReceiveChannels.open)
 * ```
 */
export interface Envelope {
  readonly header: EnvelopeHeader;
  readonly headerBytes: Uint8Array;
  readonly ciphertext: Uint8Array;
  readonly signature: Uint8Array;
}

/** Longest agent id or topic, in UTF-16 code units. @example `id.length <= MAX_ID_CHARS` */
export const MAX_ID_CHARS = 256;
/** Default cap on a body (the plaintext); larger ones are refused with `TOO_LARGE`. @example `{ maxBodyBytes: DEFAULT_MAX_BODY_BYTES / 4 }` */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Bytes of the AES-GCM tag at the end of every ciphertext. @example `env.ciphertext.length - GCM_TAG_BYTES // body length` */
export const GCM_TAG_BYTES = 16;
/** Bytes of an Ed25519 signature. @example `env.signature.length === SIGNATURE_BYTES` */
export const SIGNATURE_BYTES = 64;

const MAGIC = Buffer.from('AOSM', 'latin1');
const WIRE_VERSION = 1;
/** magic + version + u16 + u32 + signature: the size of an envelope with empty header and body. */
const FIXED_BYTES = 4 + 1 + 2 + 4 + SIGNATURE_BYTES;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// No control characters (ids are joined with NUL in key derivation and signed bindings, so a
// NUL inside one would make two different pairs of ids look alike) and no lone surrogates
// (they all encode to U+FFFD in UTF-8, which would again merge distinct ids).
const ID_RE = /^(?:[^\x00-\x1f\x7f\ud800-\udfff]|[\ud800-\udbff][\udc00-\udfff])+$/;
// 32 bytes of base64url without padding are 43 characters; the last one carries 2 unused bits,
// which must be zero for the text to be the one canonical spelling of the key.
const EPK_RE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
const MESSAGE_TYPES: ReadonlySet<string> = new Set<MessageType>(['direct', 'reply', 'topic']);
const HEADER_KEYS: ReadonlySet<string> = new Set([
  'version', 'messageType', 'senderId', 'recipientId', 'timestamp', 'messageId', 'seq', 'epk', 'topic', 'replyTo',
]);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Why `s` is not an acceptable agent id / topic, or `undefined` if it is.
 *
 * @example
 * ```ts
 * idProblem('agent-7');   // undefined
 * idProblem('a\u0000b');  // 'contains a control character or a lone surrogate'
 * ```
 */
export function idProblem(s: unknown): string | undefined {
  if (typeof s !== 'string') return 'is not a string';
  if (s.length === 0) return 'is empty';
  if (s.length > MAX_ID_CHARS) return `is longer than ${MAX_ID_CHARS} characters`;
  if (!ID_RE.test(s)) return 'contains a control character or a lone surrogate';
  return undefined;
}

/**
 * Whether `s` is a lower-case UUID (the shape of `messageId` and `replyTo`).
 *
 * @example
 * ```ts
 * isUuid(randomUUID()); // true
 * ```
 */
export function isUuid(s: unknown): s is string {
  return typeof s === 'string' && UUID_RE.test(s);
}

/**
 * Why the header fields are inconsistent or out of range, or `undefined` if they are fine.
 * Shared by the sender (which turns a problem into a `TypeError`: the caller's bug) and the
 * decoder (which turns it into `MALFORMED`: the peer's).
 *
 * @example
 * ```ts
 * headerProblem({ ...h, seq: 0 }); // 'seq must be an integer >= 1'
 * ```
 */
export function headerProblem(h: EnvelopeHeader): string | undefined {
  if (h.version !== 1) return 'version must be 1';
  if (!MESSAGE_TYPES.has(h.messageType)) return 'messageType must be direct, reply or topic';
  let p = idProblem(h.senderId);
  if (p) return `senderId ${p}`;
  p = idProblem(h.recipientId);
  if (p) return `recipientId ${p}`;
  if (!Number.isSafeInteger(h.timestamp) || h.timestamp < 0) return 'timestamp must be a non-negative integer (epoch ms)';
  if (!isUuid(h.messageId)) return 'messageId must be a lower-case UUID';
  if (!Number.isSafeInteger(h.seq) || h.seq < 1) return 'seq must be an integer >= 1';
  if (typeof h.epk !== 'string' || !EPK_RE.test(h.epk)) return 'epk must be the base64url of a 32-byte key';
  if (h.messageType === 'topic') {
    p = idProblem(h.topic);
    if (p) return `topic ${p}`;
  } else if (h.topic !== undefined) return 'only a topic message has a topic';
  if (h.messageType === 'reply') {
    if (!isUuid(h.replyTo)) return 'replyTo must be the messageId (a lower-case UUID) being answered';
  } else if (h.replyTo !== undefined) return 'only a reply has replyTo';
  return undefined;
}

/**
 * The canonical JSON text of a header: fixed key order, no whitespace, optional keys only when
 * present. Built by concatenation because it runs for every message and this order is the
 * format (a generic serializer would follow object property order, which is not ours to rely on).
 *
 * @example
 * ```ts
 * formatHeader(h); // '{"version":1,"messageType":"direct","senderId":"a",…}'
 * ```
 */
export function formatHeader(h: EnvelopeHeader): string {
  let s =
    '{"version":1,"messageType":"' + h.messageType +
    '","senderId":' + JSON.stringify(h.senderId) +
    ',"recipientId":' + JSON.stringify(h.recipientId) +
    ',"timestamp":' + h.timestamp +
    ',"messageId":"' + h.messageId +
    '","seq":' + h.seq +
    ',"epk":"' + h.epk + '"';
  if (h.topic !== undefined) s += ',"topic":' + JSON.stringify(h.topic);
  if (h.replyTo !== undefined) s += ',"replyTo":"' + h.replyTo + '"';
  return s + '}';
}

/**
 * Envelopes whose `header` is known to be the parse of their `headerBytes` (made by
 * {@link makeEnvelope} or {@link decodeEnvelope}). Anything else handed to the receiver is
 * re-parsed from its bytes, so a hand-built object cannot show one header and sign another.
 */
const vouched = new WeakSet<Envelope>();

/**
 * An envelope from parts whose header bytes are `formatHeader(header)`; used by the sender.
 *
 * @example
 * ```ts
 * const env = makeEnvelope(header, headerBytes, ciphertext, signature);
 * ```
 */
export function makeEnvelope(header: EnvelopeHeader, headerBytes: Uint8Array, ciphertext: Uint8Array, signature: Uint8Array): Envelope {
  const env = Object.freeze({ header: Object.freeze(header), headerBytes, ciphertext, signature });
  vouched.add(env);
  return env;
}

/**
 * The header of `env` as read from its signed bytes: `env.header` when this module produced
 * the envelope, otherwise a fresh strict parse of `env.headerBytes`.
 *
 * @example
 * ```ts
 * const h = headerOf(env); // throws MessageRejected('MALFORMED') if the bytes are not a header
 * ```
 */
export function headerOf(env: Envelope): EnvelopeHeader {
  return vouched.has(env) ? env.header : parseHeader(env.headerBytes);
}

function malformed(why: string): MessageRejected {
  return new MessageRejected('MALFORMED', `malformed envelope: ${why}`);
}

/**
 * Parse and validate header bytes strictly: UTF-8, JSON, an object with exactly the known keys,
 * right types and ranges, and byte-for-byte the canonical form. Throws `MALFORMED`.
 *
 * @example
 * ```ts
 * parseHeader(Buffer.from(formatHeader(h))); // deep-equals h
 * ```
 */
export function parseHeader(bytes: Uint8Array): EnvelopeHeader {
  let text: string;
  let value: unknown;
  try {
    text = utf8.decode(bytes);
    value = JSON.parse(text);
  } catch {
    throw malformed('header is not UTF-8 JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('header is not a JSON object');
  for (const k of Object.keys(value)) if (!HEADER_KEYS.has(k)) throw malformed(`header has an unknown field ${JSON.stringify(k.slice(0, 40))}`);
  const h = value as EnvelopeHeader;
  const p = headerProblem(h);
  if (p) throw malformed(p);
  // Fields are valid; now the spelling must be the one the sender's encoder produces.
  if (formatHeader(h) !== text) throw malformed('header is not in canonical form (key order, spacing or escaping)');
  return Object.freeze(h);
}

/**
 * The binary form of an envelope (see the module comment for the layout).
 *
 * @example
 * ```ts
 * socket.write(encodeEnvelope(env));
 * ```
 */
export function encodeEnvelope(e: Envelope): Uint8Array {
  const h = e.headerBytes.length;
  const c = e.ciphertext.length;
  if (h > 0xffff) throw new MessageRejected('TOO_LARGE', `header is ${h} bytes; at most 65535 fit`);
  if (c > 0xffffffff) throw new MessageRejected('TOO_LARGE', `ciphertext is ${c} bytes; at most 2^32-1 fit`);
  if (e.signature.length !== SIGNATURE_BYTES) throw new TypeError(`a signature is ${SIGNATURE_BYTES} bytes, got ${e.signature.length}`);
  const out = Buffer.allocUnsafe(FIXED_BYTES + h + c);
  out.set(MAGIC, 0);
  out[4] = WIRE_VERSION;
  out.writeUInt16BE(h, 5);
  out.set(e.headerBytes, 7);
  out.writeUInt32BE(c, 7 + h);
  out.set(e.ciphertext, 11 + h);
  out.set(e.signature, 11 + h + c);
  return out;
}

/** Options of {@link decodeEnvelope}. @example `decodeEnvelope(frame, { maxBodyBytes: 65_536 })` */
export interface DecodeOptions {
  /** Largest body accepted; default {@link DEFAULT_MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number;
}

/**
 * Parse the binary form strictly. Throws `MessageRejected` with `MALFORMED` for anything that
 * is not exactly one well-formed envelope, or `TOO_LARGE` for a well-formed one over the size
 * cap. The bytes are copied, so the caller may reuse its buffer; the result's header bytes are
 * the received ones, for verification.
 *
 * @example
 * ```ts
 * const env = decodeEnvelope(frame, { maxBodyBytes: 64 * 1024 });
 * ```
 */
export function decodeEnvelope(bytes: Uint8Array, o: DecodeOptions = {}): Envelope {
  if (!(bytes instanceof Uint8Array)) throw malformed('not a byte array');
  const maxBody = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const n = bytes.length;
  // Refuse oversized input before looking at it: the cheapest possible no.
  if (n > FIXED_BYTES + 0xffff + maxBody + GCM_TAG_BYTES) throw new MessageRejected('TOO_LARGE', `envelope of ${n} bytes is over the limit`);
  if (n < FIXED_BYTES + GCM_TAG_BYTES) throw malformed(`only ${n} bytes; the smallest envelope has ${FIXED_BYTES + GCM_TAG_BYTES}`);
  if (bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2] || bytes[3] !== MAGIC[3]) throw malformed('bad magic (not AOSM)');
  if (bytes[4] !== WIRE_VERSION) throw malformed(`unsupported version ${bytes[4]}`);
  const copy = Buffer.from(bytes);
  const h = copy.readUInt16BE(5);
  if (11 + h + GCM_TAG_BYTES + SIGNATURE_BYTES > n) throw malformed(`header length ${h} runs past the end`);
  const c = copy.readUInt32BE(7 + h);
  if (11 + h + c + SIGNATURE_BYTES !== n) throw malformed(`lengths do not add up (header ${h}, ciphertext ${c}, total ${n})`);
  if (c < GCM_TAG_BYTES) throw malformed(`ciphertext of ${c} bytes is shorter than a GCM tag`);
  if (c > maxBody + GCM_TAG_BYTES) throw new MessageRejected('TOO_LARGE', `body of ${c - GCM_TAG_BYTES} bytes is over the ${maxBody}-byte limit`);
  const headerBytes = copy.subarray(7, 7 + h);
  const header = parseHeader(headerBytes);
  return makeEnvelope(header, headerBytes, copy.subarray(11 + h, 11 + h + c), copy.subarray(11 + h + c));
}
