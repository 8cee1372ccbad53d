/**
 * An origin's HTTP/1.1 response, read without Node's HTTP client: the head is parsed here,
 * strictly (anything unusual is refused, never guessed at), and the body is framed here
 * (RFC 9112 §6.3) as views into the bytes read. Node's client copies every body byte once
 * more and hands it over in 64 KiB pieces; framing the body ourselves lets it go from the
 * origin's socket to the agent's without a copy. What the agent receives is still framed by
 * Node's HTTP server (it re-chunks when the length is unknown), so a hostile origin cannot
 * make the agent see a response boundary the proxy did not.
 */

/** How the body of a response is delimited. */
export type BodyFraming = { readonly kind: 'none' } | { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' } | { readonly kind: 'close' };

/** A parsed response head. */
export interface ResponseHead {
  readonly status: number;
  readonly statusText: string;
  /** Node's flat `[name, value, …]` list, in order, as received. */
  readonly rawHeaders: string[];
  readonly framing: BodyFraming;
  /** The connection can carry another request after this response. */
  readonly keepAlive: boolean;
}

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const OWS = /^[ \t]+|[ \t]+$/g;

/**
 * Parse a response head (`text` is the head without its final empty line, decoded latin1).
 * 1xx heads parse too (the caller skips them). `method` is the request's: a response to HEAD
 * has no body whatever its headers say.
 *
 * @example
 * ```ts
 * parseResponseHead('HTTP/1.1 200 OK\r\nContent-Length: 5', 'GET'); // { status: 200, framing: { kind: 'length', length: 5 }, keepAlive: true, … }
 * ```
 */
export function parseResponseHead(text: string, method: string): ResponseHead | { error: string } {
  const lines = text.split('\r\n');
  const m = STATUS_LINE.exec(lines[0]!);
  if (!m) return { error: `malformed status line ${JSON.stringify(lines[0]!.slice(0, 100))}` };
  const status = Number(m[2]);
  const rawHeaders: string[] = [];
  let te: string | undefined;
  let cl: string | undefined;
  let close = m[1] === '0';
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    // A bare CR or LF inside a line, obs-fold, or a name that is not a token: not HTTP/1.1 we relay.
    if (!TOKEN.test(name)) return { error: `malformed header line ${JSON.stringify(line.slice(0, 100))}` };
    const value = line.slice(colon + 1).replace(OWS, '');
    if (!FIELD_VALUE.test(value)) return { error: `header ${name} has a character not allowed in a field value` };
    rawHeaders.push(name, value);
    const key = name.toLowerCase();
    if (key === 'transfer-encoding') te = te === undefined ? value : `${te}, ${value}`;
    else if (key === 'content-length') cl = cl === undefined ? value : `${cl}, ${value}`;
    else if (key === 'connection' && value.split(',').some((t) => t.trim().toLowerCase() === 'close')) close = true;
  }
  const noBody = method === 'HEAD' || status === 204 || status === 304 || status < 200;
  let framing: BodyFraming;
  if (te !== undefined) {
    // Both is how response smuggling starts; another coding than chunked alone would reach
    // the agent undecoded once the hop-by-hop Transfer-Encoding header is dropped.
    if (cl !== undefined) return { error: 'both Transfer-Encoding and Content-Length' };
    if (te.trim().toLowerCase() !== 'chunked') return { error: `unsupported Transfer-Encoding ${JSON.stringify(te.slice(0, 100))}` };
    framing = noBody ? { kind: 'none' } : { kind: 'chunked' };
  } else if (cl !== undefined) {
    const values = cl.split(',').map((v) => v.trim());
    const length = Number(values[0]);
    if (!values.every((v) => /^\d{1,15}$/.test(v) && Number(v) === length)) return { error: `invalid Content-Length ${JSON.stringify(cl.slice(0, 100))}` };
    framing = noBody ? { kind: 'none' } : { kind: 'length', length };
  } else framing = noBody ? { kind: 'none' } : { kind: 'close' };
  return { status, statusText: m[3] ?? '', rawHeaders, framing, keepAlive: !close && framing.kind !== 'close' };
}

const enum C {
  Size,
  Ext,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  EndLf,
}

/** Longest chunk size line (with extensions) and longest trailer section accepted. */
const MAX_LINE = 4096;
const MAX_TRAILERS = 64 * 1024;

/**
 * Decodes a chunked body as it arrives. Only the framing bytes are looked at one by one; the
 * data between them is handed on as views. Chunk extensions and trailers are dropped (the
 * agent's response is re-framed by Node's server, which sends neither).
 */
export class ChunkedDecoder {
  private state = C.Size;
  private size = 0;
  private digits = 0;
  private line = 0;
  private trailers = 0;

  /**
   * Feed the next bytes; `onData` gets every piece of data. Returns the index just past the
   * body's end when it ended in `buf`, -1 when more is needed, or an error.
   */
  feed(buf: Buffer, onData: (piece: Buffer) => void): number | { error: string } {
    let i = 0;
    while (i < buf.length) {
      if (this.state === C.Data) {
        const take = Math.min(this.size, buf.length - i);
        onData(buf.subarray(i, i + take));
        i += take;
        this.size -= take;
        if (this.size === 0) this.state = C.DataCr;
        continue;
      }
      const c = buf[i++]!;
      switch (this.state) {
        case C.Size: {
          const v = hex(c);
          if (v >= 0) {
            // 13 hex digits stay below 2^53; no real chunk comes near.
            if (++this.digits > 13) return { error: 'chunk size too large' };
            this.size = this.size * 16 + v;
          } else if (this.digits === 0) return { error: 'chunk size expected' };
          else if (c === 0x0d) this.state = C.SizeLf;
          else if (c === 0x3b || c === 0x20 || c === 0x09) this.state = C.Ext;
          else return { error: 'malformed chunk size' };
          break;
        }
        case C.Ext:
          if (c === 0x0d) this.state = C.SizeLf;
          else if ((c < 0x20 && c !== 0x09) || c === 0x7f || ++this.line > MAX_LINE) return { error: 'malformed chunk extension' };
          break;
        case C.SizeLf:
          if (c !== 0x0a) return { error: 'CR without LF after a chunk size' };
          this.state = this.size === 0 ? C.TrailerStart : C.Data;
          break;
        case C.DataCr:
          if (c !== 0x0d) return { error: 'chunk data longer than its size' };
          this.state = C.DataLf;
          break;
        case C.DataLf:
          if (c !== 0x0a) return { error: 'CR without LF after chunk data' };
          this.state = C.Size;
          this.size = this.digits = this.line = 0;
          break;
        case C.TrailerStart:
          this.state = c === 0x0d ? C.EndLf : C.Trailer;
          if (c === 0x0a) return { error: 'bare LF in the trailer section' };
          break;
        case C.Trailer:
          if (c === 0x0d) this.state = C.TrailerLf;
          else if (c === 0x0a) return { error: 'bare LF in the trailer section' };
          if (++this.trailers > MAX_TRAILERS) return { error: 'trailer section too large' };
          break;
        case C.TrailerLf:
          if (c !== 0x0a) return { error: 'CR without LF in the trailer section' };
          this.state = C.TrailerStart;
          break;
        case C.EndLf:
          if (c !== 0x0a) return { error: 'CR without LF at the end of a chunked body' };
          return i;
      }
    }
    return -1;
  }
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  return l >= 0x61 && l <= 0x66 ? l - 0x61 + 10 : -1;
}
