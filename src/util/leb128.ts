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
