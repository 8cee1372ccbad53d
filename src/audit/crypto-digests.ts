/**
 * Record digests with `node:crypto`, one call per record: what the batch hasher uses instead of
 * its wasm lanes where the CPU hashes SHA-256 in hardware (x86 SHA extensions, Armv8 crypto
 * extensions), which OpenSSL uses and WebAssembly cannot.
 *
 * A call of `crypto.hash` costs ~0.13 µs when it returns a string, ~0.7 µs more when it
 * returns a Buffer (the allocation), so digests are asked for as binary (latin1) text and
 * copied out byte by byte. With hardware SHA-256 (~1.8 GB/s on one core) a ~600-byte audit
 * record then takes ~0.65 µs all told, against ~1.0 µs in the four wasm lanes, and a chained
 * record (`hashChained`) ~0.8 µs against ~1.5 µs. Without it OpenSSL runs at ~0.3–0.5 GB/s and
 * the lanes win, so the choice is measured once per thread ({@link hardwareSha256}).
 */
import { hash } from 'node:crypto';

const HEX = new TextEncoder().encode('0123456789abcdef');

/**
 * Bulk SHA-256 throughput (bytes/µs) above which `crypto.hash` is taken to run on hardware.
 * Measured: ~1,800 with SHA extensions; OpenSSL's best software code reaches ~500.
 */
const HARDWARE_BYTES_PER_US = 1000;

let hardware: boolean | undefined;

/**
 * Whether `node:crypto` hashes SHA-256 in hardware here: the best of a few timed hashes of
 * 64 KiB (~0.2 ms, once per thread). A busy machine can only make it look slower, so at worst
 * a machine with hardware SHA-256 keeps the wasm lanes.
 */
export function hardwareSha256(): boolean {
  if (hardware === undefined) {
    const sample = new Uint8Array(1 << 16);
    hash('sha256', sample, 'binary');
    let best = Infinity;
    for (let k = 0; k < 4; k++) {
      const t0 = performance.now();
      hash('sha256', sample, 'binary');
      best = Math.min(best, performance.now() - t0);
    }
    hardware = sample.length / (best * 1000) >= HARDWARE_BYTES_PER_US;
  }
  return hardware;
}

/** Copies a digest given as binary (latin1) text to `out[at, at + 32)`. */
function put(d: string, out: Uint8Array, at: number): void {
  for (let k = 0; k < 32; k++) out[at + k] = d.charCodeAt(k);
}

/**
 * SHA-256 of messages `from .. from + count − 1`: message i is `data[offsets[i], offsets[i] +
 * lengths[i])`, its digest goes to `out[at + 32(i − from), +32)`. Arguments are the caller's to
 * check.
 */
export function digestsWithCrypto(data: Uint8Array, offsets: ArrayLike<number>, lengths: ArrayLike<number>, from: number, count: number, out: Uint8Array, at: number): void {
  data = new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // see chainWithCrypto
  for (let i = 0; i < count; i++) {
    const off = offsets[from + i]!;
    put(hash('sha256', data.subarray(off, off + lengths[from + i]!), 'binary'), out, at + 32 * i);
  }
}

/**
 * The chained digests of `BatchHasher.hashChained`, one message after another: the 64 bytes
 * `tail` before message i's end become the hex of digest i − 1 (of `prev` for message 0), then
 * the message is hashed into `out[outOffset + 32i, +32)`. Arguments are the caller's to check.
 */
export function chainWithCrypto(
  data: Uint8Array,
  offsets: ArrayLike<number>,
  lengths: ArrayLike<number>,
  n: number,
  prev: Uint8Array,
  out: Uint8Array,
  outOffset: number,
  tail: number,
): void {
  // A plain view: a Buffer's subarray makes a Buffer (its species), ~2x dearer per record.
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let link = prev;
  let linkAt = 0;
  for (let i = 0; i < n; i++) {
    const off = offsets[i]!;
    const end = off + lengths[i]!;
    const hex = end - tail;
    for (let k = 0; k < 32; k++) {
      const x = link[linkAt + k]!;
      bytes[hex + 2 * k] = HEX[x >> 4]!;
      bytes[hex + 2 * k + 1] = HEX[x & 15]!;
    }
    const at = outOffset + 32 * i;
    put(hash('sha256', bytes.subarray(off, end), 'binary'), out, at);
    link = out;
    linkAt = at;
  }
}
