/**
 * `wasi:http/types` resources, guest side. Requests are assembled here, decided and sent by
 * `handle` (index.ts), and their responses come back fully buffered (capped), so the guest's
 * reads never wait on the network.
 */
import { alwaysReady, bufferSource, err, InputStream, ok, OutputStream, Pollable, type Result, type Waitable } from '../io.js';
import type { HttpErrorCode } from './executor.js';

/** `header-error` */
export type HeaderError = { tag: 'invalid-syntax' } | { tag: 'forbidden' } | { tag: 'immutable' };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const MAX_FIELDS = 256;
const MAX_FIELD_BYTES = 64 * 1024;

function validValue(v: Uint8Array): boolean {
  for (const b of v) if (b === 0 || b === 10 || b === 13) return false;
  return v.length <= MAX_FIELD_BYTES;
}

/** `fields` (headers and trailers). */
export class Fields {
  /** @internal */ list: [string, Uint8Array][] = [];
  /** @internal */ immutable = false;

  static fromList(entries: [string, Uint8Array][]): Result<Fields, HeaderError> {
    const f = new Fields();
    for (const [name, value] of entries) {
      const r = f.append(name, value);
      if (r.tag === 'err') return r;
    }
    return ok(f);
  }

  get(name: string): Uint8Array[] {
    const key = name.toLowerCase();
    return this.list.filter(([n]) => n === key).map(([, v]) => v);
  }

  has(name: string): boolean {
    const key = name.toLowerCase();
    return this.list.some(([n]) => n === key);
  }

  set(name: string, values: Uint8Array[]): Result<undefined, HeaderError> {
    if (this.immutable) return err({ tag: 'immutable' });
    if (!TOKEN.test(name) || !values.every(validValue)) return err({ tag: 'invalid-syntax' });
    const key = name.toLowerCase();
    this.list = this.list.filter(([n]) => n !== key);
    for (const v of values) this.list.push([key, v.slice()]);
    return this.list.length > MAX_FIELDS ? err({ tag: 'forbidden' }) : ok(undefined);
  }

  delete(name: string): Result<undefined, HeaderError> {
    if (this.immutable) return err({ tag: 'immutable' });
    const key = name.toLowerCase();
    this.list = this.list.filter(([n]) => n !== key);
    return ok(undefined);
  }

  append(name: string, value: Uint8Array): Result<undefined, HeaderError> {
    if (this.immutable) return err({ tag: 'immutable' });
    if (!TOKEN.test(name) || !validValue(value)) return err({ tag: 'invalid-syntax' });
    if (this.list.length >= MAX_FIELDS) return err({ tag: 'forbidden' });
    this.list.push([name.toLowerCase(), value.slice()]);
    return ok(undefined);
  }

  entries(): [string, Uint8Array][] {
    return this.list.map(([n, v]) => [n, v]);
  }

  clone(): Fields {
    const f = new Fields();
    f.list = this.list.map(([n, v]) => [n, v]);
    return f;
  }

  /** @internal a view that refuses changes */
  static frozen(list: [string, Uint8Array][]): Fields {
    const f = new Fields();
    f.list = list;
    f.immutable = true;
    return f;
  }
}

/** `method` variant */
export type Method = { tag: string; val?: string };
/** `scheme` variant */
export type Scheme = { tag: 'HTTP' } | { tag: 'HTTPS' } | { tag: 'other'; val: string };

/** The most request body bytes a guest may buffer for one request. */
export const MAX_REQUEST_BODY = 16 * 1024 * 1024;

/** `outgoing-body` */
export class OutgoingBody {
  /** @internal */ chunks: Uint8Array[] = [];
  /** @internal */ size = 0;
  /** @internal */ finished = false;
  private streamTaken = false;

  write(): Result<OutputStream, undefined> {
    if (this.streamTaken) return err(undefined);
    this.streamTaken = true;
    return ok(
      new OutputStream({
        capacity: () => (this.finished ? { tag: 'closed' } : Math.max(0, Math.min(1 << 20, MAX_REQUEST_BODY - this.size))),
        write: (bytes) => {
          if (this.finished) return { tag: 'closed' };
          if (this.size + bytes.length > MAX_REQUEST_BODY) return { tag: 'closed' };
          this.chunks.push(bytes.slice());
          this.size += bytes.length;
          return undefined;
        },
      }),
    );
  }

  static finish(body: OutgoingBody, _trailers: Fields | undefined): Result<undefined, HttpErrorCode> {
    body.finished = true;
    return ok(undefined);
  }

  /** @internal */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/** `outgoing-request` */
export class OutgoingRequest {
  /** @internal */ methodValue: Method = { tag: 'get' };
  /** @internal */ schemeValue: Scheme | undefined;
  /** @internal */ authorityValue: string | undefined;
  /** @internal */ pathValue: string | undefined;
  /** @internal */ bodyValue: OutgoingBody | undefined;
  /** @internal */ readonly headerFields: Fields;

  constructor(headers: Fields) {
    this.headerFields = headers;
    headers.immutable = true;
  }

  body(): Result<OutgoingBody, undefined> {
    if (this.bodyValue) return err(undefined);
    this.bodyValue = new OutgoingBody();
    return ok(this.bodyValue);
  }

  method(): Method {
    return this.methodValue;
  }
  setMethod(m: Method): Result<undefined, undefined> {
    if (m.tag === 'other' && !TOKEN.test(m.val ?? '')) return err(undefined);
    this.methodValue = m;
    return ok(undefined);
  }
  pathWithQuery(): string | undefined {
    return this.pathValue;
  }
  setPathWithQuery(p: string | undefined): Result<undefined, undefined> {
    this.pathValue = p;
    return ok(undefined);
  }
  scheme(): Scheme | undefined {
    return this.schemeValue;
  }
  setScheme(s: Scheme | undefined): Result<undefined, undefined> {
    this.schemeValue = s;
    return ok(undefined);
  }
  authority(): string | undefined {
    return this.authorityValue;
  }
  setAuthority(a: string | undefined): Result<undefined, undefined> {
    this.authorityValue = a;
    return ok(undefined);
  }
  headers(): Fields {
    return this.headerFields;
  }
}

/** `request-options`: timeouts in nanoseconds. */
export class RequestOptions {
  /** @internal */ connect: bigint | undefined;
  /** @internal */ firstByte: bigint | undefined;
  /** @internal */ betweenBytes: bigint | undefined;
  connectTimeout(): bigint | undefined {
    return this.connect;
  }
  setConnectTimeout(d: bigint | undefined): Result<undefined, undefined> {
    this.connect = d;
    return ok(undefined);
  }
  firstByteTimeout(): bigint | undefined {
    return this.firstByte;
  }
  setFirstByteTimeout(d: bigint | undefined): Result<undefined, undefined> {
    this.firstByte = d;
    return ok(undefined);
  }
  betweenBytesTimeout(): bigint | undefined {
    return this.betweenBytes;
  }
  setBetweenBytesTimeout(d: bigint | undefined): Result<undefined, undefined> {
    this.betweenBytes = d;
    return ok(undefined);
  }
}

/** `incoming-body`: a buffered response body. */
export class IncomingBody {
  private taken = false;
  constructor(private readonly bytes: Uint8Array) {}
  stream(): Result<InputStream, undefined> {
    if (this.taken) return err(undefined);
    this.taken = true;
    return ok(new InputStream(bufferSource(this.bytes)));
  }
  static finish(_body: IncomingBody): FutureTrailers {
    return new FutureTrailers();
  }
}

/** `future-trailers`: we never deliver trailers. */
export class FutureTrailers {
  private done = false;
  subscribe(): Pollable {
    return new Pollable(alwaysReady);
  }
  get(): { tag: 'ok'; val: Result<Fields | undefined, HttpErrorCode> } | { tag: 'err'; val: undefined } | undefined {
    if (this.done) return { tag: 'err', val: undefined };
    this.done = true;
    return { tag: 'ok', val: ok(undefined) };
  }
}

/** `incoming-response` */
export class IncomingResponse {
  private consumed = false;
  constructor(
    private readonly statusCode: number,
    private readonly headerList: [string, Uint8Array][],
    private readonly bodyBytes: Uint8Array,
  ) {}
  status(): number {
    return this.statusCode;
  }
  headers(): Fields {
    return Fields.frozen(this.headerList);
  }
  consume(): Result<IncomingBody, undefined> {
    if (this.consumed) return err(undefined);
    this.consumed = true;
    return ok(new IncomingBody(this.bodyBytes));
  }
}

/** Something that eventually yields a response or an error. */
export interface ResponseSource extends Waitable {
  /** The outcome if ready (consumed once). */
  take(): Result<IncomingResponse, HttpErrorCode> | undefined;
}

/** `future-incoming-response` */
export class FutureIncomingResponse {
  private delivered = false;
  constructor(private readonly source: ResponseSource) {}
  subscribe(): Pollable {
    return new Pollable(this.source);
  }
  get(): { tag: 'ok'; val: Result<IncomingResponse, HttpErrorCode> } | { tag: 'err'; val: undefined } | undefined {
    if (this.delivered) return { tag: 'err', val: undefined };
    if (!this.source.ready()) return undefined;
    const r = this.source.take();
    if (!r) return undefined;
    this.delivered = true;
    return { tag: 'ok', val: r };
  }
}

// Server-side resources: agents do not serve HTTP. They exist so the import types line up.
export class IncomingRequest {}
export class OutgoingResponse {}
export class ResponseOutparam {}
