import { createReadStream, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { tmp } from '../../test/helpers/audit.js';
import { BAD_LINE, exportLines, MAX_LINE_BYTES } from './export-lines.js';

const dir = tmp('export-lines-');
let n = 0;
async function read(bytes: Uint8Array | string): Promise<Array<string | typeof BAD_LINE>> {
  const file = join(dir, `f${n++}`);
  writeFileSync(file, bytes);
  const out: Array<string | typeof BAD_LINE> = [];
  for await (const l of exportLines(file)) out.push(l);
  return out;
}
async function viaReadline(bytes: string): Promise<string[]> {
  const file = join(dir, `r${n++}`);
  writeFileSync(file, bytes);
  const out: string[] = [];
  for await (const l of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) if (l.length > 0) out.push(l);
  return out;
}

describe('exportLines', () => {
  it('ends lines at \\n, \\r\\n and a lone \\r, skips empty ones, and keeps a last line without an ending', async () => {
    expect(await read('a\nb\r\nc\rd\n\n\r\ne')).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(await read('')).toEqual([]);
    expect(await read('\r\n\r\n')).toEqual([]);
  });

  it('agrees with readline on valid UTF-8, whatever the chunk boundaries', async () => {
    // Lines around the 64 KiB read size, so a "\r\n" and multi-byte characters fall across it.
    for (const pad of [65_533, 65_534, 65_535, 65_536]) {
      for (const ending of ['\n', '\r\n', '\r']) {
        const text = `${'x'.repeat(pad)}${ending}é😀 second${ending}${'y'.repeat(70_000)}${ending}last`;
        expect(await read(text)).toEqual(await viaReadline(text));
      }
    }
  });

  it('reports a line that is not valid UTF-8, in the middle and at the very end of the file', async () => {
    expect(await read(Buffer.from([0x61, 0x0a, 0xc0, 0x0a, 0x62]))).toEqual(['a', BAD_LINE, 'b']);
    // An incomplete sequence at the end (readline drops it silently).
    expect(await read(Buffer.concat([Buffer.from('a\n'), Buffer.from([0xc3])]))).toEqual(['a', BAD_LINE]);
    expect(await read(Buffer.concat([Buffer.from('a\nb'), Buffer.from([0xf0, 0x9f])]))).toEqual(['a', BAD_LINE]);
    // A lone surrogate encoded as UTF-8 is not valid UTF-8 either.
    expect(await read(Buffer.from([0xed, 0xa0, 0x80, 0x0a]))).toEqual([BAD_LINE]);
  });

  it('reports a line longer than any record without holding it in memory, and reads on after it', async () => {
    const long = Buffer.alloc(MAX_LINE_BYTES + 10, 0x61);
    expect(await read(Buffer.concat([Buffer.from('a\n'), long, Buffer.from('\nb\n')]))).toEqual(['a', BAD_LINE, 'b']);
    expect(await read(Buffer.concat([Buffer.from('a\n'), long]))).toEqual(['a', BAD_LINE]);
  });
});
