/**
 * The origin-response reader of the forwarding path: head parsing (strict: refuse, never guess)
 * and chunked framing, fed byte by byte and all at once.
 */
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder, parseResponseHead } from './response.js';

describe('parseResponseHead', () => {
  it('reads status, headers in order, and the framing', () => {
    const h = parseResponseHead('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length:  12 \r\nX-A: 1', 'GET');
    expect(h).toEqual({ status: 200, statusText: 'OK', rawHeaders: ['Content-Type', 'text/plain', 'Content-Length', '12', 'X-A', '1'], framing: { kind: 'length', length: 12 }, keepAlive: true });
  });

  it.each([
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked', 'GET', { kind: 'chunked' }, true],
    ['no length: until close', 'HTTP/1.1 200 OK', 'GET', { kind: 'close' }, false],
    ['HEAD has no body', 'HTTP/1.1 200 OK\r\nContent-Length: 99', 'HEAD', { kind: 'none' }, true],
    ['204', 'HTTP/1.1 204 No Content', 'GET', { kind: 'none' }, true],
    ['304 with a length', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 5', 'GET', { kind: 'none' }, true],
    ['repeated equal lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3, 3', 'GET', { kind: 'length', length: 3 }, true],
    ['Connection: close', 'HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0', 'GET', { kind: 'length', length: 0 }, false],
    ['HTTP/1.0', 'HTTP/1.0 200 OK\r\nContent-Length: 0', 'GET', { kind: 'length', length: 0 }, false],
    ['empty reason', 'HTTP/1.1 200', 'GET', { kind: 'close' }, false],
  ])('%s', (_name, text, method, framing, keepAlive) => {
    const h = parseResponseHead(text, method);
    expect(h).toMatchObject({ framing, keepAlive });
  });

  it.each([
    ['a bad status line', 'HTTP/1.1 20 OK'],
    ['HTTP/2 on the wire', 'HTTP/2 200'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded'],
    ['space before the colon', 'HTTP/1.1 200 OK\r\nX-A : 1'],
    ['a bare LF inside a line', 'HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 0'],
    ['a control character in a value', 'HTTP/1.1 200 OK\r\nX-A: a\u0001b'],
    ['Transfer-Encoding and Content-Length', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5'],
    ['another coding than chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked'],
    ['differing lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4'],
    ['a negative length', 'HTTP/1.1 200 OK\r\nContent-Length: -1'],
    ['a huge length', `HTTP/1.1 200 OK\r\nContent-Length: ${'9'.repeat(20)}`],
  ])('refuses %s', (_name, text) => {
    expect(parseResponseHead(text, 'GET')).toHaveProperty('error');
  });
});

/** Decode `wire` fed in pieces of `step` bytes; returns the data and the end index in the last piece. */
function decode(wire: string, step: number): { data: string; end: number; error?: string } {
  const d = new ChunkedDecoder();
  const buf = Buffer.from(wire, 'latin1');
  let data = '';
  for (let i = 0; i < buf.length; i += step) {
    const r = d.feed(buf.subarray(i, i + step), (p) => (data += p.toString('latin1')));
    if (typeof r !== 'number') return { data, end: -1, error: r.error };
    if (r >= 0) return { data, end: i + r };
  }
  return { data, end: -1 };
}

describe('ChunkedDecoder', () => {
  const wire = '5\r\nhello\r\nA;name="x y"\r\n, world!!!\r\n0\r\nX-Trailer: 1\r\n\r\n';

  it.each([1, 2, 7, 1000])('decodes fed %i bytes at a time, dropping extensions and trailers', (step) => {
    expect(decode(wire + 'NEXT', step)).toEqual({ data: 'hello, world!!!', end: wire.length });
  });

  it('ends without trailers', () => {
    expect(decode('3\r\nabc\r\n0\r\n\r\n', 4)).toEqual({ data: 'abc', end: 13 });
  });

  it.each([
    ['no size', '\r\nabc\r\n0\r\n\r\n'],
    ['a bare LF after the size', '3\nabc\r\n0\r\n\r\n'],
    ['data longer than its size', '3\r\nabcd\r\n0\r\n\r\n'],
    ['a size over 13 hex digits', `${'f'.repeat(14)}\r\n`],
    ['a control character in an extension', '3;a\u0000\r\nabc\r\n0\r\n\r\n'],
    ['a bare LF in the trailers', '0\r\nX: 1\n\r\n'],
  ])('refuses %s', (_name, bad) => {
    expect(decode(bad, 1).error).toBeDefined();
    expect(decode(bad, 100).error).toBeDefined();
  });
});
