/**
 * The head of a log: how many records, the hash of the last one, and the Merkle frontier at
 * that size. Stored under `mh` in the same batch as each block.
 *
 * Layout: `u8 version (1) · u64 BE size · 32-byte last hash · u8 n · n × 32-byte frontier hashes`.
 * For an empty log the last hash is the genesis value: the log id's bytes.
 */
import { HASH_LEN } from './hash.js';
import { Frontier, popcount } from './merkle.js';

/** A decoded head. */
export interface Head {
  readonly size: number;
  readonly lastHash: Uint8Array;
  readonly frontier: readonly Uint8Array[];
}

/** Encode a head. */
export function encodeHead(size: number, lastHash: Uint8Array, frontier: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(1 + 8 + HASH_LEN + 1 + frontier.length * HASH_LEN);
  const dv = new DataView(out.buffer);
  out[0] = 1;
  dv.setUint32(1, Math.floor(size / 2 ** 32));
  dv.setUint32(5, size >>> 0);
  out.set(lastHash, 9);
  out[9 + HASH_LEN] = frontier.length;
  frontier.forEach((h, i) => out.set(h, 10 + HASH_LEN + i * HASH_LEN));
  return out;
}

/** Decode a head; throws `TypeError` when malformed (wrong length, frontier not matching size). */
export function decodeHead(b: Uint8Array): Head {
  if (b.length < 10 + HASH_LEN || b[0] !== 1) throw new TypeError('audit head is malformed');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const size = dv.getUint32(1) * 2 ** 32 + dv.getUint32(5);
  const n = b[9 + HASH_LEN]!;
  if (b.length !== 10 + HASH_LEN + n * HASH_LEN || n !== popcount(size)) throw new TypeError('audit head frontier does not match its size');
  const frontier: Uint8Array[] = [];
  for (let i = 0; i < n; i++) frontier.push(b.slice(10 + HASH_LEN + i * HASH_LEN, 10 + HASH_LEN + (i + 1) * HASH_LEN));
  return { size, lastHash: b.slice(9, 9 + HASH_LEN), frontier };
}

/** A frontier object for a head. */
export function frontierOf(h: Head): Frontier {
  return new Frontier([...h.frontier], h.size);
}
