/**
 * `wasi:io` (error, poll, streams) for one agent instance.
 *
 * Streams are thin resources over a {@link ByteSource} or {@link ByteSink} supplied by the
 * capability that created them (a file, stdout, an HTTP body), so every byte that crosses them
 * has already passed the gate at the point the stream was handed out. Results are returned as
 * explicit `{ tag, val }` objects: a host function must never throw for an expected failure,
 * because a throw traps (and poisons) the jco instance.
 */

/** The WIT result shape jco lowers without exceptions. */
export type Result<T, E> = { tag: 'ok'; val: T } | { tag: 'err'; val: E };

/** `ok(val)` */
export const ok = <T>(val: T): { tag: 'ok'; val: T } => ({ tag: 'ok', val });
/** `err(val)` */
export const err = <E>(val: E): { tag: 'err'; val: E } => ({ tag: 'err', val });

/** `wasi:io/error.error`: an opaque error with a debug string. */
export class IoError {
  constructor(private readonly message: string) {}
  toDebugString(): string {
    return this.message;
  }
}

/** `wasi:io/streams.stream-error` */
export type StreamError = { tag: 'closed' } | { tag: 'last-operation-failed'; val: IoError };

const CLOSED: StreamError = Object.freeze({ tag: 'closed' }) as StreamError;

/** Something a pollable can wait on. */
export interface Waitable {
  /** True when the event has happened (never blocks). */
  ready(): boolean;
  /**
   * Block until ready or until `deadlineNs` (monotonic, `process.hrtime.bigint()` scale) passes.
   * Implementations that cannot block (always ready) return at once.
   */
  block(deadlineNs?: bigint): void;
  /** Earliest monotonic time at which this becomes ready by itself (timers), if known. */
  readonly deadlineNs?: bigint | undefined;
}

const neverSet = new Int32Array(new SharedArrayBuffer(4));

/**
 * The guest running on this thread now (one guest runs at a time; the engine sets this on
 * entry): its interrupt cell, which ends a sleep early (the host notifies it), and its
 * checkpoint, which host calls run so that a guest looping through them (polls, clocks, gated
 * calls) is stopped as soon as its time is up or it is interrupted.
 */
export const currentGuest: { interrupt: Int32Array; checkpoint: () => void } = { interrupt: neverSet, checkpoint: () => {} };

/** Sleep the current thread (a worker) until `deadlineNs`, or until the running guest is interrupted. */
export function sleepUntil(deadlineNs: bigint): void {
  const cell = currentGuest.interrupt;
  for (;;) {
    const left = deadlineNs - process.hrtime.bigint();
    if (left <= 0n || Atomics.load(cell, 0) !== 0) return;
    Atomics.wait(cell, 0, 0, Number(left / 1_000_000n) + 1);
  }
}

/** A waitable that is always ready. */
export const alwaysReady: Waitable = { ready: () => true, block: () => {} };

/** A timer: ready once the monotonic clock passes `deadlineNs`. */
export class TimerWaitable implements Waitable {
  constructor(readonly deadlineNs: bigint) {}
  ready(): boolean {
    return process.hrtime.bigint() >= this.deadlineNs;
  }
  block(deadlineNs?: bigint): void {
    sleepUntil(deadlineNs !== undefined && deadlineNs < this.deadlineNs ? deadlineNs : this.deadlineNs);
  }
}

/** `wasi:io/poll.pollable` */
export class Pollable {
  constructor(readonly waitable: Waitable) {}
  ready(): boolean {
    return this.waitable.ready();
  }
  block(): void {
    if (!this.waitable.ready()) this.waitable.block();
  }
}

/** The most pollables one `poll` call may take (wasmtime uses the same order of magnitude). */
export const MAX_POLL_LIST = 4096;

/**
 * `wasi:io/poll.poll`: returns the indices of the ready pollables, blocking until at least one
 * is ready. Timers are handled by sleeping until the earliest deadline; other waitables block
 * on their own wake-up mechanism bounded by that deadline.
 */
export function poll(list: Pollable[]): Uint32Array {
  if (list.length === 0 || list.length > MAX_POLL_LIST) {
    // An empty poll would block forever; the WIT says it traps. Throwing an Error traps.
    throw new Error(`poll: list of ${list.length} pollables (must be 1..${MAX_POLL_LIST})`);
  }
  currentGuest.checkpoint();
  for (;;) {
    // Being stopped: answer at once; the guest stops at its next fuel charge.
    if (Atomics.load(currentGuest.interrupt, 0) !== 0) return Uint32Array.of(0);
    const ready: number[] = [];
    let earliest: bigint | undefined;
    let blocker: Waitable | undefined;
    for (let i = 0; i < list.length; i++) {
      const w = list[i]!.waitable;
      if (w.ready()) ready.push(i);
      else if (w.deadlineNs !== undefined) {
        if (earliest === undefined || w.deadlineNs < earliest) earliest = w.deadlineNs;
      } else blocker ??= w;
    }
    if (ready.length > 0) return Uint32Array.from(ready);
    if (blocker) blocker.block(earliest);
    else if (earliest !== undefined) sleepUntil(earliest);
  }
}

/** Where an input stream's bytes come from. */
export interface ByteSource {
  /** Up to `max` bytes now; an empty array when none are available yet; `null` at end of stream. */
  read(max: number): Uint8Array | null | StreamError;
  /** Readiness of the next read. */
  readonly waitable: Waitable;
  /** Release resources (file descriptor, buffers). */
  close?(): void;
}

/** Where an output stream's bytes go. */
export interface ByteSink {
  /** How many bytes may be written now (0 = must wait), or an error. */
  capacity(): number | StreamError;
  /** Write bytes (no more than `capacity()` returned). */
  write(bytes: Uint8Array): undefined | StreamError;
  /** Flush (synchronous sinks: nothing to do). */
  flush?(): undefined | StreamError;
  close?(): void;
}

/** The largest single read a guest may ask for at once (bounded host allocation). */
export const MAX_READ_CHUNK = 1 << 20;

function clampLen(len: bigint): number {
  return len > BigInt(MAX_READ_CHUNK) ? MAX_READ_CHUNK : Number(len);
}

/** `wasi:io/streams.input-stream` */
export class InputStream {
  private closed = false;
  constructor(private readonly source: ByteSource) {}

  read(len: bigint): Result<Uint8Array, StreamError> {
    if (this.closed) return err(CLOSED);
    const got = this.source.read(clampLen(len));
    if (got === null) {
      this.closed = true;
      return err(CLOSED);
    }
    if (got instanceof Uint8Array) return ok(got);
    return err(got);
  }

  blockingRead(len: bigint): Result<Uint8Array, StreamError> {
    for (;;) {
      const r = this.read(len);
      if (r.tag === 'err' || r.val.length > 0 || len === 0n) return r;
      this.source.waitable.block();
    }
  }

  skip(len: bigint): Result<bigint, StreamError> {
    const r = this.read(len);
    return r.tag === 'ok' ? ok(BigInt(r.val.length)) : r;
  }

  blockingSkip(len: bigint): Result<bigint, StreamError> {
    const r = this.blockingRead(len);
    return r.tag === 'ok' ? ok(BigInt(r.val.length)) : r;
  }

  subscribe(): Pollable {
    return new Pollable(this.closed ? alwaysReady : this.source.waitable);
  }

  [Symbol.dispose](): void {
    this.closed = true;
    this.source.close?.();
  }
}

/** The most bytes a guest may hand to one `write` call (WASI lets the host choose). */
export const MAX_WRITE_CHUNK = 1 << 20;

/** `wasi:io/streams.output-stream` */
export class OutputStream {
  private closed = false;
  constructor(private readonly sink: ByteSink) {}

  checkWrite(): Result<bigint, StreamError> {
    if (this.closed) return err(CLOSED);
    const c = this.sink.capacity();
    if (typeof c === 'number') return ok(BigInt(Math.min(c, MAX_WRITE_CHUNK)));
    return err(c);
  }

  write(contents: Uint8Array): Result<undefined, StreamError> {
    if (this.closed) return err(CLOSED);
    const e = this.sink.write(contents);
    return e ? err(e) : ok(undefined);
  }

  blockingWriteAndFlush(contents: Uint8Array): Result<undefined, StreamError> {
    if (contents.length > 4096 * 1024) {
      return err({ tag: 'last-operation-failed', val: new IoError('blocking-write-and-flush: more than 4 MiB at once') });
    }
    let offset = 0;
    while (offset < contents.length) {
      const c = this.checkWrite();
      if (c.tag === 'err') return c;
      const n = Math.min(Number(c.val), contents.length - offset);
      if (n === 0) return err({ tag: 'last-operation-failed', val: new IoError('stream cannot accept more bytes') });
      const w = this.write(contents.subarray(offset, offset + n));
      if (w.tag === 'err') return w;
      offset += n;
    }
    return this.flush();
  }

  flush(): Result<undefined, StreamError> {
    if (this.closed) return err(CLOSED);
    const e = this.sink.flush?.();
    return e ? err(e) : ok(undefined);
  }

  blockingFlush(): Result<undefined, StreamError> {
    return this.flush();
  }

  subscribe(): Pollable {
    return new Pollable(alwaysReady);
  }

  writeZeroes(len: bigint): Result<undefined, StreamError> {
    return this.write(new Uint8Array(clampLen(len)));
  }

  blockingWriteZeroesAndFlush(len: bigint): Result<undefined, StreamError> {
    return this.blockingWriteAndFlush(new Uint8Array(clampLen(len)));
  }

  splice(src: InputStream, len: bigint): Result<bigint, StreamError> {
    return this.spliceWith(len, (n) => src.read(n));
  }

  blockingSplice(src: InputStream, len: bigint): Result<bigint, StreamError> {
    return this.spliceWith(len, (n) => src.blockingRead(n));
  }

  private spliceWith(len: bigint, read: (n: bigint) => Result<Uint8Array, StreamError>): Result<bigint, StreamError> {
    const c = this.checkWrite();
    if (c.tag === 'err') return c;
    const r = read(len < c.val ? len : c.val);
    if (r.tag === 'err') return r;
    const w = this.write(r.val);
    return w.tag === 'err' ? w : ok(BigInt(r.val.length));
  }

  [Symbol.dispose](): void {
    this.closed = true;
    this.sink.close?.();
  }
}

/** A source that is at end of stream at once (stdin). */
export const emptySource: ByteSource = { read: () => null, waitable: alwaysReady };

/** A source over bytes already in memory (an HTTP body the host has buffered). */
export function bufferSource(bytes: Uint8Array): ByteSource {
  let offset = 0;
  return {
    waitable: alwaysReady,
    read(max) {
      if (offset >= bytes.length) return null;
      const chunk = bytes.subarray(offset, offset + max);
      offset += chunk.length;
      return chunk;
    },
  };
}

/** Build the `wasi:io/*` import objects. */
export function ioImports(): Record<string, Record<string, unknown>> {
  return {
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll },
    'wasi:io/streams': { InputStream, OutputStream },
  };
}
