/**
 * Unsigned LEB128, as the wasm binary format encodes sizes and counts.
 *
 * @example
 * ```ts
 * const [size, next] = readUleb(bytes, at); // throws RangeError past the end
 * ```
 */

/** The unsigned LEB128 at `at` (at most 35 bits): its value and the offset after it. */
export function readUleb(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (let i = at; i < b.length && shift < 35; i++) {
    v += (b[i]! & 0x7f) * 2 ** shift;
    if ((b[i]! & 0x80) === 0) return [v, i + 1];
    shift += 7;
  }
  throw new RangeError('truncated LEB128');
}

/** The unsigned LEB128 bytes of `n` (a non-negative integer up to 2^53). */
export function writeUleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 0x80;
    n = Math.floor(n / 0x80);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}
