/**
 * The output side of the rewrite: a growable byte buffer with the encodings the module writer
 * needs (the input side is `reader.ts`).
 */

/**
 * A growable output buffer with the LEB128 encoders the module writer needs.
 *
 * @example
 * ```ts
 * const w = new ByteWriter();
 * w.u8(SectionId.Start);
 * const at = w.beginSized(); // size unknown yet
 * w.u32(functionIndex);
 * w.endSized(at);
 * const bytes = w.result();
 * ```
 */
export class ByteWriter {
  buf: Uint8Array;
  len = 0;

  constructor(capacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, capacity));
  }

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }

  u8(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  /** Unsigned LEB128 of a value < 2^32. */
  u32(v: number): void {
    if (!(v >= 0 && v <= 0xffffffff)) throw new RangeError(`u32 out of range: ${v}`);
    this.ensure(5);
    while (v >= 0x80) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  /** Signed LEB128 of a non-negative safe integer (i64.const of a fuel cost). */
  sleb(v: number): void {
    this.ensure(10);
    while (v >= 0x40) {
      this.buf[this.len++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.len++] = v;
  }

  /** Copy `src[start..end)`. Short runs copy by hand: a subarray view costs more than them. */
  copy(src: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    if (n < 32) {
      const b = this.buf;
      let o = this.len;
      for (let i = start; i < end; i++) b[o++] = src[i]!;
    } else {
      this.buf.set(src.subarray(start, end), this.len);
    }
    this.len += n;
  }

  /** A name: u32 length + UTF-8 bytes. */
  name(s: string): void {
    const bytes = new TextEncoder().encode(s);
    this.u32(bytes.length);
    this.copy(bytes, 0, bytes.length);
  }

  /** Reserve room for a u32 size prefix; pass the result to {@link endSized}. */
  beginSized(): number {
    this.ensure(5);
    this.len += 5;
    return this.len - 5;
  }

  /** Write the size of what followed {@link beginSized} and close the 5-byte gap. */
  endSized(at: number): void {
    const size = this.len - at - 5;
    let lebLen = 1;
    for (let v = size; v >= 0x80; v = Math.floor(v / 0x80)) lebLen++;
    this.buf.copyWithin(at + lebLen, at + 5, this.len);
    this.len -= 5 - lebLen;
    const end = this.len;
    this.len = at;
    this.u32(size);
    this.len = end;
  }

  /**
   * Replace the `width` bytes at `at` (an unsigned LEB128 written earlier) by the minimal
   * encoding of `v`, moving what follows when the length changes.
   */
  replaceU32(at: number, width: number, v: number): void {
    let n = 1;
    for (let x = v; x >= 0x80; x = Math.floor(x / 0x80)) n++;
    this.ensure(n);
    if (n !== width) this.buf.copyWithin(at + n, at + width, this.len);
    const end = this.len + n - width;
    this.len = at;
    this.u32(v);
    this.len = end;
  }

  /** Insert `bytes` at `at`, moving what follows. */
  insert(at: number, bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.copyWithin(at + bytes.length, at, this.len);
    this.buf.set(bytes, at);
    this.len += bytes.length;
  }

  /** A copy of the bytes written so far. */
  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
