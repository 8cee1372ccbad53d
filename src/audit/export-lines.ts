/**
 * The lines of an exported audit file, read strictly for the offline verifier.
 *
 * `readline` decodes with a `StringDecoder` and drops an incomplete UTF-8 sequence at the end
 * of the file, so bytes appended to an export could vanish before the verifier saw them; and it
 * replaces invalid UTF-8 inside a line with U+FFFD, so two different files could read alike.
 * Here every line is decoded with a fatal decoder and a line that is not valid UTF-8 (or is
 * longer than any record could be) is reported as such: an export is written as valid UTF-8
 * JSON, so anything else is not the file that was exported.
 *
 * @example
 * ```ts
 * for await (const line of exportLines('audit.jsonl')) if (line === BAD_LINE) …;
 * ```
 */
import { createReadStream } from 'node:fs';

/** What {@link exportLines} yields for a line that is not valid UTF-8 or is over {@link MAX_LINE_BYTES}. */
export const BAD_LINE: unique symbol = Symbol('bad export line');

/** Longest line read; a record's encoding is bounded far below this (`src/audit/record.ts`). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/**
 * The non-empty lines of `file` — ended by `\n`, `\r\n` or a lone `\r`, as `readline` ends them
 * — each decoded as UTF-8, or {@link BAD_LINE}.
 */
export async function* exportLines(file: string): AsyncGenerator<string | typeof BAD_LINE> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const decode = (bytes: Uint8Array): string | typeof BAD_LINE => {
    try {
      return decoder.decode(bytes);
    } catch {
      return BAD_LINE;
    }
  };
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let overlong = false;
  let afterCr = false;
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    // A "\r\n" split across chunks: the "\n" belongs to the line the "\r" ended.
    if (afterCr && chunk[0] === LF) start = 1;
    afterCr = false;
    const breaks = new Breaks(chunk);
    for (;;) {
      const end = breaks.next(start);
      if (end < 0) break;
      const tail = chunk.subarray(start, end);
      if (overlong || pendingBytes + tail.length > MAX_LINE_BYTES) yield BAD_LINE;
      else if (pendingBytes + tail.length > 0) yield decode(pending.length > 0 ? Buffer.concat([...pending, tail]) : tail);
      pending = [];
      pendingBytes = 0;
      overlong = false;
      start = end + 1;
      if (chunk[end] === CR) {
        if (start < chunk.length && chunk[start] === LF) start++;
        else if (start === chunk.length) afterCr = true;
      }
    }
    const rest = chunk.subarray(start);
    if (overlong || pendingBytes + rest.length > MAX_LINE_BYTES) {
      overlong = true; // keep nothing more of it: it is reported when it ends
      pending = [];
      pendingBytes = 0;
    } else if (rest.length > 0) {
      pending.push(Buffer.from(rest));
      pendingBytes += rest.length;
    }
  }
  if (overlong) yield BAD_LINE;
  else if (pendingBytes > 0) yield decode(Buffer.concat(pending));
}

/** The `\n` and `\r` positions of a chunk, each searched for again only once passed (linear in the chunk). */
class Breaks {
  private lf = -2;
  private cr = -2;
  constructor(private readonly chunk: Buffer) {}

  /** Index of the next `\n` or `\r` at or after `from`, or -1. */
  next(from: number): number {
    if (this.lf !== -1 && this.lf < from) this.lf = this.chunk.indexOf(LF, from);
    if (this.cr !== -1 && this.cr < from) this.cr = this.chunk.indexOf(CR, from);
    if (this.lf < 0) return this.cr;
    if (this.cr < 0) return this.lf;
    return Math.min(this.lf, this.cr);
  }
}
