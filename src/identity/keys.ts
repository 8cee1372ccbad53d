/**
 * Ed25519 keys: generation, signing, verification, fingerprints and JWK forms. One key format
 * everywhere: the 32-byte seed as the private key and the 32-byte point as the public key
 * (RFC 8032), so keys move freely between `node:crypto` (used here: its one-shot sign/verify is
 * the fastest on this stack, see `bench/identity.mjs`) and `@noble/ed25519`.
 *
 * @example
 * ```ts
 * const k = generateKeyPair();
 * const sig = signBytes(k.privateKey, message);
 * verifyBytes(k.publicKey, message, sig); // true
 * fingerprint(k.publicKey);               // 64 hex digits
 * ```
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

/** An Ed25519 key pair as raw bytes. */
export interface RawKeyPair {
  /** 32-byte public key. */
  readonly publicKey: Uint8Array;
  /** 32-byte private seed. Keep it out of logs; store it only encrypted (see the key store). */
  readonly privateKey: Uint8Array;
}

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A fresh key pair. */
export function generateKeyPair(): RawKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey: rawPublicKey(publicKey), privateKey: rawPrivateKey(privateKey) };
}

/** The raw 32 bytes of an Ed25519 public KeyObject (or the public half of a private one). */
export function rawPublicKey(k: KeyObject): Uint8Array {
  const der = (k.type === 'public' ? k : createPublicKey(k)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** The raw 32-byte seed of an Ed25519 private KeyObject. */
export function rawPrivateKey(k: KeyObject): Uint8Array {
  const der = k.export({ format: 'der', type: 'pkcs8' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/**
 * KeyObjects made from raw bytes, reused: parsing DER into a KeyObject costs far more than the
 * Ed25519 operation itself (hundreds of µs against tens). Bounded; private seeds are kept only
 * by a hash of them, never as text.
 */
const keyCache = new Map<string, KeyObject>();
function cached(id: string, make: () => KeyObject): KeyObject {
  let k = keyCache.get(id);
  if (!k) {
    k = make();
    if (keyCache.size >= 1024) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(id, k);
  }
  return k;
}

/** A KeyObject for a raw public key. */
export function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError('an Ed25519 public key is 32 bytes');
  return cached(`p${Buffer.from(raw).toString('base64')}`, () => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }));
}

/** A KeyObject for a raw private seed. */
export function privateKeyObject(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new TypeError('an Ed25519 private key is a 32-byte seed');
  return cached(`s${createHash('sha256').update(seed).digest('base64')}`, () => createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }));
}

/** The public key of a private seed. */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  return rawPublicKey(privateKeyObject(seed));
}

/** Sign `message` (a 64-byte Ed25519 signature). */
export function signBytes(seed: Uint8Array | KeyObject, message: Uint8Array): Uint8Array {
  const key = seed instanceof Uint8Array ? privateKeyObject(seed) : seed;
  return new Uint8Array(sign(null, message, key));
}

/** Whether `signature` is a valid Ed25519 signature of `message` under `publicKey`; never throws. */
export function verifyBytes(publicKey: Uint8Array | KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (signature.length !== 64) return false;
    const key = publicKey instanceof Uint8Array ? publicKeyObject(publicKey) : publicKey;
    return verify(null, message, key, signature);
  } catch {
    return false;
  }
}

/** The SHA-256 fingerprint of a public key: 64 lower-case hex digits. */
export function fingerprint(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex');
}

/** base64url without padding. */
export function b64u(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

/** Bytes of a base64url string; throws `TypeError` on anything else. */
export function fromB64u(s: string): Uint8Array {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) throw new TypeError('not base64url');
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

/** The public key as a JWK (`OKP`, `Ed25519`). */
export function publicJwk(publicKey: Uint8Array): { kty: 'OKP'; crv: 'Ed25519'; x: string } {
  return { kty: 'OKP', crv: 'Ed25519', x: b64u(publicKey) };
}

/** RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key: what `cnf.jkt` binds a token to. */
export function jwkThumbprint(publicKey: Uint8Array): string {
  // Members in lexicographic order, no whitespace (RFC 7638 §3).
  const json = `{"crv":"Ed25519","kty":"OKP","x":"${b64u(publicKey)}"}`;
  return createHash('sha256').update(json).digest('base64url');
}
