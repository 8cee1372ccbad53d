/**
 * Connections to origins for forwarded requests: a keep-alive pool keyed by the checked
 * address and port (every connection made by the proxy's own `dial`), and one request/response
 * exchange at a time on each. The request head is written here; the response is read into
 * slabs and framed by response.ts, so body bytes reach the caller as views, never copied.
 */
import type { Socket } from 'node:net';
import { ChunkedDecoder, parseResponseHead, type BodyFraming, type ResponseHead } from './response.js';
import { slabReader, type SlabPool, type SlabReader, type SlabRef } from './relay.js';

/** How a pooled connection is made: `net.connect` to exactly this address, with `onread`. */
export type Dialer = (address: string, port: number, family: 4 | 6, onread: SlabReader) => Socket;

/** What the caller of {@link OriginPool.exchange} is told. Each is called at most once, except `onBody`. */
export interface ExchangeHandlers {
  /** The final response head arrived (1xx interim heads are skipped). */
  onHead(head: ResponseHead): void;
  /**
   * A piece of the body: a view into a slab. Before queueing it on a writable, `ref.retain()`
   * and pass `ref.release` as the write's callback. Return false to stop reading until `resume()`.
   */
  onBody(piece: Buffer, ref: SlabRef): boolean;
  /** The body is complete. */
  onEnd(): void;
  /** Nothing handed to `onBody` is still queued (it all reached the kernel): its slab may be reused. */
  flushed(): boolean;
  /** The exchange failed (before or after the head); the connection is already destroyed. */
  onError(e: NodeJS.ErrnoException): void;
}

/** The caller's side of an exchange. */
export interface Exchange {
  /** The socket to write the request body to (the head is already queued). */
  readonly socket: Socket;
  /** The whole request body was written: the connection may be reused once the response ends. */
  requestDone(): void;
  /** Read on after `onBody` returned false. */
  resume(): void;
  /** Give up: destroy the connection (no handler is called afterwards). */
  abort(): void;
}

/** Idle kept-alive connections per proxy, and how long one may stay idle. */
const MAX_IDLE = 32;
const IDLE_MS = 30_000;
const CRLFCRLF = Buffer.from('\r\n\r\n');

function protocolError(message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code: 'HPE_INVALID_RESPONSE' });
}

/** One connection to an origin; carries one exchange at a time. */
class OriginConnection {
  readonly socket: Socket;
  private readonly reader: SlabReader;
  /** The running exchange; while idle any byte from the origin is a protocol error. */
  private ex: RunningExchange | undefined;

  constructor(
    readonly key: string,
    private readonly pool: OriginPool,
    dial: Dialer,
    address: string,
    port: number,
    family: 4 | 6,
  ) {
    this.reader = slabReader((chunk, ref) => {
      const ex = this.ex;
      if (!ex) {
        this.socket.destroy();
        return false;
      }
      // When the exchange ended in this chunk the connection is idle now and must keep reading.
      return ex.data(chunk, ref) || this.ex !== ex;
    }, () => this.ex?.flushed() ?? false, pool.slabs);
    this.socket = dial(address, port, family, this.reader);
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.ex?.fail(e));
    this.socket.on('end', () => this.ex?.eof());
    this.socket.on('close', () => {
      this.reader.close();
      this.pool.forget(this);
      this.ex?.eof();
    });
  }

  readonly onIdleTimeout = (): void => {
    this.socket.destroy();
  };

  start(ex: RunningExchange): void {
    this.ex = ex;
  }

  /** The exchange is over: back to the pool when it left the connection in a known state. */
  finish(reusable: boolean): void {
    this.ex = undefined;
    this.reader.seal();
    if (reusable && !this.socket.destroyed && this.pool.park(this)) {
      // Reading may have been paused by the last piece; an idle connection must still see the
      // origin close it (or send bytes it should not).
      this.socket.resume();
      return;
    }
    this.socket.destroy();
  }
}

/** Request and response state of one exchange. */
class RunningExchange implements Exchange {
  private phase: 'head' | 'body' | 'done' = 'head';
  private headBuf: Buffer | undefined;
  private framing: BodyFraming = { kind: 'none' };
  private left = 0;
  private chunked: ChunkedDecoder | undefined;
  private keepAlive = false;
  private requestSent = false;
  private responseDone = false;
  private over = false;

  constructor(
    private readonly conn: OriginConnection,
    private readonly method: string,
    private readonly maxHeadBytes: number,
    private readonly h: ExchangeHandlers,
  ) {}

  get socket(): Socket {
    return this.conn.socket;
  }

  /** Bytes from the origin. Returns false to pause reading. */
  data(chunk: Buffer, ref: SlabRef): boolean {
    if (this.over) return false;
    let buf = chunk;
    if (this.phase === 'head') {
      // A head split over reads is copied out of the slab (slabs are reused); heads are small.
      buf = this.headBuf ? Buffer.concat([this.headBuf, chunk]) : chunk;
      for (;;) {
        const end = buf.indexOf(CRLFCRLF);
        if ((end < 0 ? buf.length : end) > this.maxHeadBytes) return this.fail(protocolError(`response head larger than ${this.maxHeadBytes} bytes`));
        if (end < 0) {
          this.headBuf = Buffer.from(buf);
          return true;
        }
        const head = parseResponseHead(buf.toString('latin1', 0, end), this.method);
        if ('error' in head) return this.fail(protocolError(`invalid response from the origin: ${head.error}`));
        buf = buf.subarray(end + 4);
        if (head.status === 101) return this.fail(protocolError('the origin switched protocols, which the proxy does not relay'));
        if (head.status >= 200) {
          this.headBuf = undefined;
          this.begin(head);
          break;
        }
      }
      if (this.over) return false;
    }
    return this.phase === 'body' ? this.body(buf, ref) : true;
  }

  private begin(head: ResponseHead): void {
    this.framing = head.framing;
    this.keepAlive = head.keepAlive;
    this.phase = 'body';
    if (head.framing.kind === 'length') this.left = head.framing.length;
    else if (head.framing.kind === 'chunked') this.chunked = new ChunkedDecoder();
    this.h.onHead(head);
  }

  private body(buf: Buffer, ref: SlabRef): boolean {
    let more = true;
    switch (this.framing.kind) {
      case 'none':
        // Bytes after the end of a response: the origin does not speak HTTP/1.1 as we read it.
        if (buf.length > 0) this.keepAlive = false;
        this.endBody();
        return true;
      case 'close':
        return buf.length === 0 || this.h.onBody(buf, ref);
      case 'length': {
        const take = Math.min(this.left, buf.length);
        if (take > 0) {
          this.left -= take;
          more = this.h.onBody(take === buf.length ? buf : buf.subarray(0, take), ref);
        }
        if (this.over) return false;
        if (this.left === 0) {
          if (take < buf.length) this.keepAlive = false;
          this.endBody();
        }
        return more;
      }
      case 'chunked': {
        const r = this.chunked!.feed(buf, (piece) => {
          if (!this.over && !this.h.onBody(piece, ref)) more = false;
        });
        if (this.over) return false;
        if (typeof r !== 'number') return this.fail(protocolError(`invalid chunked body from the origin: ${r.error}`));
        if (r >= 0) {
          if (r < buf.length) this.keepAlive = false;
          this.endBody();
        }
        return more;
      }
    }
  }

  private endBody(): void {
    this.phase = 'done';
    this.responseDone = true;
    this.h.onEnd();
    this.settle();
  }

  /** The origin closed its side. */
  eof(): void {
    if (this.over) return;
    if (this.phase === 'body' && this.framing.kind === 'close') {
      this.keepAlive = false;
      this.endBody();
      return;
    }
    if (this.phase !== 'done') this.fail(Object.assign(new Error('the origin closed the connection before the response was complete'), { code: 'ECONNRESET' }));
  }

  fail(e: NodeJS.ErrnoException): false {
    if (this.over) return false;
    this.over = true;
    this.conn.finish(false);
    this.h.onError(e);
    return false;
  }

  flushed(): boolean {
    return this.h.flushed();
  }

  requestDone(): void {
    this.requestSent = true;
    this.settle();
  }

  resume(): void {
    if (!this.over) this.conn.socket.resume();
  }

  abort(): void {
    if (this.over) return;
    this.over = true;
    this.conn.finish(false);
  }

  private settle(): void {
    if (this.over || !this.responseDone) return;
    // A response that ended before the request body was sent leaves unread bytes on the way to
    // the origin: the connection cannot carry another request.
    if (!this.requestSent) {
      this.abort();
      return;
    }
    this.over = true;
    this.conn.finish(this.keepAlive);
  }
}

/**
 * Kept-alive connections to origins, by checked address and port; at most {@link MAX_IDLE} idle,
 * each closed after {@link IDLE_MS} unused or as soon as the origin closes it.
 *
 * @example
 * ```ts
 * const pool = new OriginPool(dial, 64 * 1024);
 * const ex = pool.exchange('93.184.216.34', 80, 4, 'GET', 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n', handlers);
 * ex.requestDone();
 * ```
 */
export class OriginPool {
  private readonly idle = new Map<string, OriginConnection[]>();
  private idleCount = 0;
  private closed = false;

  constructor(
    private readonly dial: Dialer,
    private readonly maxHeadBytes: number,
    /** Where connections take their read slabs from. */
    readonly slabs?: SlabPool,
  ) {}

  /** Send `head` on a kept-alive or new connection to `address:port` and read the response. */
  exchange(address: string, port: number, family: 4 | 6, method: string, head: string, h: ExchangeHandlers): Exchange {
    const key = `${address}|${port}`;
    const list = this.idle.get(key);
    let conn: OriginConnection | undefined;
    while (list && list.length > 0 && conn === undefined) {
      const c = list.pop()!;
      this.idleCount--;
      // Destroyed but its 'close' not emitted yet: not usable.
      if (!c.socket.destroyed) conn = c;
    }
    if (list?.length === 0) this.idle.delete(key);
    if (conn) conn.socket.setTimeout(0, conn.onIdleTimeout);
    else conn = new OriginConnection(key, this, this.dial, address, port, family);
    const ex = new RunningExchange(conn, method, this.maxHeadBytes, h);
    conn.start(ex);
    conn.socket.write(head, 'latin1');
    return ex;
  }

  /** Keep an idle connection; false when there is no room (the caller destroys it). */
  park(conn: OriginConnection): boolean {
    if (this.closed || this.idleCount >= MAX_IDLE) return false;
    const list = this.idle.get(conn.key);
    if (list) list.push(conn);
    else this.idle.set(conn.key, [conn]);
    this.idleCount++;
    conn.socket.setTimeout(IDLE_MS, conn.onIdleTimeout);
    return true;
  }

  /** A connection closed: drop it if it was idle. */
  forget(conn: OriginConnection): void {
    const list = this.idle.get(conn.key);
    const i = list ? list.indexOf(conn) : -1;
    if (i < 0) return;
    list!.splice(i, 1);
    this.idleCount--;
    if (list!.length === 0) this.idle.delete(conn.key);
  }

  /** Close every idle connection and keep no more. */
  destroy(): void {
    this.closed = true;
    for (const list of this.idle.values()) for (const c of [...list]) c.socket.destroy();
    this.idle.clear();
    this.idleCount = 0;
  }
}
