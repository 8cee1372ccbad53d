/**
 * The moving parts shared by tunnels and forwarded requests: the context handlers run in,
 * byte accounting against `dataTransferLimit`, a backpressured pump, and the proxy's own
 * answers (400/403/502/503/504 with a body that says what to change).
 */
import { STATUS_CODES } from 'node:http';
import type { OnReadOpts, Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { HOUR, type QuotaExceeded } from '../../limits/quota.js';
import type { AdmitContext, Refused } from './admission.js';
import type { OriginPool } from './origin.js';
import type { EgressDecision, EgressGate, EgressStats } from './types.js';

/** Counters, writable inside the proxy. */
export type MutableStats = { -readonly [K in keyof EgressStats]: EgressStats[K] };

/** What a handler needs from the running proxy. */
export interface ProxyContext extends AdmitContext {
  readonly gate: EgressGate;
  readonly stats: MutableStats;
  /** Kept-alive origin connections for forwarded requests, each made by `dial`. */
  readonly origins: OriginPool;
  /** Free read slabs, shared by every connection of this proxy. */
  readonly slabs: SlabPool;
  /**
   * Connect to exactly this address (counted, tracked for `close()`, connect timeout applied);
   * `onread` reads into caller-supplied buffers (see {@link slabReader}).
   */
  dial(address: string, port: number, family: 4 | 6, onread?: OnReadOpts): Socket;
  /** Count the outcome and pass it to `onDecision` (which may not break the proxy by throwing). */
  report(d: EgressDecision): void;
  /** True once `close()` started: admitted connections are dropped, not opened. */
  closing(): boolean;
}

/**
 * Per-connection byte accounting. Every chunk is taken from the agent's shared
 * `net:bytes` counter *before* it is forwarded, so the limit is never overshot: the chunk that
 * would cross it is not sent, the connection is cut, and one `limit_exceeded` event is recorded.
 */
export class Meter {
  bytesIn = 0;
  bytesOut = 0;
  /** Set once the limit cut this connection. */
  over: QuotaExceeded | undefined;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly origin: string,
    private readonly api: string,
    /** Cut the connection (destroy both sides, or answer if nothing was answered yet). */
    private readonly cut: () => void,
  ) {}

  /** Account `n` bytes in direction `dir`; false means "do not forward, the connection is cut". */
  take(n: number, dir: 'in' | 'out'): boolean {
    if (this.over) return false;
    const q = this.ctx.gate.quota;
    const limit = q?.policy.dataTransferLimit;
    if (q && limit !== undefined) {
      const over = q.take('net:bytes', n, limit, HOUR, 'networkRules.dataTransferLimit');
      if (over) {
        this.over = over;
        this.ctx.stats.cut++;
        this.ctx.gate.record({
          type: 'limit_exceeded',
          capability: 'network_access',
          resource: 'network',
          action: 'transfer',
          target: this.origin,
          outcome: 'denied',
          reason: `QUOTA_EXCEEDED: networkRules.dataTransferLimit allows ${over.allowed} bytes per ${HOUR / 1000} s and ${over.used} were used in this window; the connection to ${this.origin} was cut. Raise the limit in the policy or wait`,
          api: this.api,
          details: { ...over },
        });
        this.cut();
        return false;
      }
    }
    if (dir === 'in') {
      this.bytesIn += n;
      this.ctx.stats.bytesIn += n;
    } else {
      this.bytesOut += n;
      this.ctx.stats.bytesOut += n;
    }
    return true;
  }
}

/**
 * Copy `src` to `dst` with backpressure, metering every chunk. `onEnd` runs when `src` ends
 * (default: end `dst`).
 */
export function pump(src: Readable, dst: Writable, meter: Meter, dir: 'in' | 'out', onEnd?: () => void): void {
  const resume = (): void => {
    src.resume();
  };
  src.on('data', (chunk: Buffer) => {
    if (!meter.take(chunk.length, dir)) return;
    // A paused source emits nothing more, so at most one 'drain' listener waits at a time.
    if (!dst.write(chunk)) {
      src.pause();
      dst.once('drain', resume);
    }
  });
  src.on('end', () => (onEnd ? onEnd() : dst.end()));
}

/**
 * A bulk transfer reads into slabs this large (Node's own reads are 64 KiB): fewer reads,
 * callbacks and Buffer objects per byte. Only the pages a connection actually fills become
 * resident.
 */
const SLAB_BYTES = 4 * 1024 * 1024;
/** Swap slabs rather than read into a rest smaller than this. */
const MIN_READ_BYTES = 512 * 1024;
/**
 * A connection starts (and a sealed one restarts) reading into a buffer this small, and moves
 * to slabs once a read fills it: a short exchange or an idle kept-alive connection never costs
 * a 4 MiB allocation.
 */
const SMALL_READ_BYTES = 16 * 1024;

/**
 * What keeps a slab from being read into again while views of it are queued elsewhere: call
 * `retain()` once per view handed to a write, and pass `release` (a stable function) as that
 * write's callback, so the count drops once the bytes reached the kernel (or were discarded).
 */
export interface SlabRef {
  retain(): void;
  readonly release: () => void;
}

/** Free 4 MiB slabs kept per proxy, and how long they are kept unused. */
const POOL_MAX = 4;
const POOL_IDLE_MS = 10_000;

/**
 * The proxy's free slabs. A new connection or exchange takes one instead of allocating: fresh
 * memory costs a page fault and zeroing per 4 KiB touched (~10% of a tunnel's CPU per byte
 * here). Slabs come back only once nothing queued points into them; the pool empties itself
 * after {@link POOL_IDLE_MS} unused.
 */
export class SlabPool {
  private readonly free: Buffer[] = [];
  private lastTake = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  take(): Buffer {
    this.lastTake = Date.now();
    return this.free.pop() ?? Buffer.allocUnsafe(SLAB_BYTES);
  }

  give(buf: Buffer): void {
    if (this.closed || this.free.length >= POOL_MAX) return;
    this.free.push(buf);
    this.timer ??= setTimeout(this.trim, POOL_IDLE_MS).unref();
  }

  /** How many free slabs are kept (tests). */
  get size(): number {
    return this.free.length;
  }

  /** The proxy closed: drop the free slabs and keep none that come back. */
  clear(): void {
    this.closed = true;
    this.free.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly trim = (): void => {
    this.timer = undefined;
    if (Date.now() - this.lastTake >= POOL_IDLE_MS) this.free.length = 0;
    else if (this.free.length > 0) this.timer = setTimeout(this.trim, POOL_IDLE_MS).unref();
  };
}

class Slab implements SlabRef {
  pending = 0;
  /** Views of it were handed to a destination `flushed` no longer describes: only `pending` counts. */
  sealed = false;
  /** The reader moved on: back to the pool once `pending` is 0. */
  private retired = false;
  constructor(
    readonly buf: Buffer,
    private readonly pool?: SlabPool,
  ) {}
  retain(): void {
    this.pending++;
  }
  readonly release = (): void => {
    if (this.pending > 0 && --this.pending === 0 && this.retired) this.pool?.give(this.buf);
  };
  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.pending === 0) this.pool?.give(this.buf);
  }
}

/** `onread` options plus what its owner tells it (see {@link slabReader}). */
export interface SlabReader extends OnReadOpts {
  /**
   * The destination `flushed` describes is about to change (a kept-alive origin connection
   * between two responses): chunks handed out so far are guarded by their refs alone, and
   * reads go back to a small buffer until one fills it.
   */
  seal(): void;
  /** The socket closed: its slab goes back to the pool once nothing queued points into it. */
  close(): void;
}

/**
 * `onread` options that read a socket into large slabs instead of Node's 64 KiB buffer per
 * read: each read fills whatever the kernel has (up to the slab's rest), and each chunk handed
 * to `onChunk` is a view into the slab, so it can be queued on another socket without a copy.
 * `onChunk` returns false to pause the socket.
 *
 * A view is never overwritten while it may be queued. `flushed()`, asked right after each
 * chunk, says the destination has nothing queued (a socket write usually goes to the kernel at
 * once): then every view handed out is already copied and the next read goes to the start of
 * the same slab, before the write callbacks have even run. Those same few hundred KiB stay hot
 * in the CPU cache: on a loopback tunnel that takes ~40% off the proxy's CPU per byte, against
 * reading on through fresh memory. Otherwise the next read goes after the last chunk, and a
 * full slab is retired (to `pool` once its views are written) for one from `pool`.
 */
export function slabReader(onChunk: (chunk: Buffer, ref: SlabRef) => boolean, flushed?: () => boolean, pool?: SlabPool): SlabReader {
  const small = (): Slab => new Slab(Buffer.allocUnsafe(SMALL_READ_BYTES));
  let cur = small();
  let offset = 0;
  let bulk = false;
  return {
    // Node asks for the next buffer right after each callback.
    buffer: () => {
      const all = flushed !== undefined && flushed();
      const free = cur.pending === 0 || (all && !cur.sealed);
      const size = bulk ? SLAB_BYTES : SMALL_READ_BYTES;
      if (cur.buf.length !== size || (!free && size - offset < Math.min(MIN_READ_BYTES, size / 4))) {
        // Views still queued keep the old buffer until written; it is never read into again.
        cur.retire();
        cur = bulk ? new Slab(pool ? pool.take() : Buffer.allocUnsafe(SLAB_BYTES), pool) : small();
        offset = 0;
      } else if (free) offset = 0;
      if (cur.pending === 0) cur.sealed = false;
      return cur.buf.subarray(offset);
    },
    callback: (n: number, buf: Uint8Array): boolean => {
      // A read that filled its buffer: the kernel had more, a bulk transfer is under way.
      if (n === buf.length) bulk = true;
      const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
      offset += n;
      // Held during the callback, so a chunk consumed synchronously frees the slab at once.
      const s = cur;
      s.retain();
      const more = onChunk(chunk, s);
      s.release();
      return more;
    },
    seal: () => {
      cur.sealed = cur.pending > 0;
      bulk = false;
    },
    close: () => {
      cur.retire();
      cur = small();
      bulk = false;
    },
  };
}

/** End a socket, then destroy it once what was written is flushed (no half-open leftovers). */
export function endThenDestroy(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableFinished) {
    s.destroy();
    return;
  }
  s.once('finish', () => s.destroy());
  s.end();
}

/** The body of a refusal: what was refused, the rule, and the gate's reason (which says what to change). */
export function refusalBody(method: string, what: string, r: Refused): string {
  const verb = r.status === 403 ? 'denied' : r.status === 400 ? 'refused (bad request)' : 'failed';
  return `agentos egress proxy: ${method} ${what} ${verb}\nrule: ${r.rule}\nreason: ${r.reason}\n`;
}

/**
 * A complete HTTP/1.1 response as text, for sockets no longer owned by the HTTP server (CONNECT)
 * or not parsed at all (malformed requests). Always `Connection: close`.
 */
export function rawResponse(status: number, body: string, extra: Readonly<Record<string, string>> = {}): string {
  const bytes = Buffer.byteLength(body);
  const head = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`, 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${bytes}`, 'Connection: close'];
  for (const [k, v] of Object.entries(extra)) head.push(`${k}: ${v.replace(/[\r\n]/g, ' ')}`);
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}

/** Report a refusal (denied, or allowed but failed before connecting). */
export function reportRefusal(ctx: ProxyContext, method: string, r: Refused): void {
  ctx.report({
    host: r.host,
    port: r.port,
    scheme: r.scheme,
    method,
    allowed: r.failed === true,
    reason: r.reason,
    bytesIn: 0,
    bytesOut: 0,
    status: r.status,
    ...(r.failed ? { error: r.reason } : { rule: r.rule }),
  });
}
