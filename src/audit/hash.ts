/**
 * SHA-256 with RFC 6962 domain separation: a leaf is hashed as `SHA-256(0x00 || data)` and an
 * inner node as `SHA-256(0x01 || left || right)`, so a leaf can never be passed off as an inner
 * node (or the reverse) in a proof.
 *
 * `crypto.hash` (one call, no Hash object) is used because its per-call cost is about half of
 * `createHash().update().digest()` for inputs this small.
 */
import { hash as oneShot, timingSafeEqual } from 'node:crypto';

/** Bytes in a hash. */
export const HASH_LEN = 32;

/** Prefix of a leaf's hash input. */
export const LEAF_PREFIX = 0x00;
/** Prefix of an inner node's hash input. */
export const NODE_PREFIX = 0x01;

/** SHA-256 of `data`. */
export function sha256(data: Uint8Array): Uint8Array {
  return oneShot('sha256', data, 'buffer') as unknown as Uint8Array;
}

/** The hash of the empty tree (RFC 6962: `SHA-256()` of nothing). */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** The leaf hash of `data`: `SHA-256(0x00 || data)`. */
export function leafHash(data: Uint8Array): Uint8Array {
  const input = new Uint8Array(data.length + 1);
  input[0] = LEAF_PREFIX;
  input.set(data, 1);
  return sha256(input);
}

const scratch = new Uint8Array(1 + 2 * HASH_LEN);
scratch[0] = NODE_PREFIX;

/** The hash of an inner node: `SHA-256(0x01 || left || right)`. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  scratch.set(left, 1);
  scratch.set(right, 1 + HASH_LEN);
  return sha256(scratch);
}

/** Lower-case hex of `b`. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Bytes of a hex string; throws `TypeError` on anything but an even number of hex digits. */
export function fromHex(s: string): Uint8Array {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError(`not a hex string: ${JSON.stringify(String(s).slice(0, 80))}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/** Whether `s` is the hex form of a hash. */
export function isHashHex(s: unknown): s is string {
  return typeof s === 'string' && s.length === 2 * HASH_LEN && /^[0-9a-f]+$/.test(s);
}

/** Constant-time equality of two byte strings (false when the lengths differ). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
