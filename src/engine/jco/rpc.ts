/**
 * Synchronous calls from a guest thread to the host thread.
 *
 * A guest runs synchronously: when it calls `handle` (HTTP) or `tools.call`, the answer must be
 * there when the import returns. The guest thread posts a request on a MessagePort and sleeps
 * with `Atomics.wait` on a shared counter; the serving thread does the work asynchronously,
 * posts the reply and bumps the counter. `receiveMessageOnPort` then reads the reply without an
 * event loop turn. Several requests may be outstanding (an HTTP future and a tool call).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** A request as it crosses the port. */
export interface RpcRequest {
  readonly id: number;
  readonly method: string;
  readonly payload: unknown;
}

/** A reply as it crosses the port. */
export type RpcReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: string };

/** The guest-thread side. */
export class RpcClient {
  private nextId = 1;
  private readonly replies = new Map<number, RpcReply>();
  private readonly counter: Int32Array;

  /**
   * `interrupt`: the instance's interrupt cell; once it is set, waits return as if their
   * deadline had passed (the host bumps the counter to wake them).
   */
  constructor(
    private readonly port: MessagePort,
    shared: SharedArrayBuffer,
    private readonly interrupt?: Int32Array,
  ) {
    this.counter = new Int32Array(shared);
  }

  /** Send a request and return its id without waiting. */
  start(method: string, payload: unknown, transfer: ArrayBuffer[] = []): number {
    const id = this.nextId++;
    this.port.postMessage({ id, method, payload } satisfies RpcRequest, transfer);
    return id;
  }

  private drain(): void {
    for (;;) {
      const m = receiveMessageOnPort(this.port);
      if (!m) return;
      const reply = m.message as RpcReply;
      this.replies.set(reply.id, reply);
    }
  }

  /** The reply to `id` if it has arrived (never blocks). */
  poll(id: number): RpcReply | undefined {
    this.drain();
    const r = this.replies.get(id);
    if (r) this.replies.delete(id);
    return r;
  }

  /** True when the reply to `id` has arrived. */
  isReady(id: number): boolean {
    this.drain();
    return this.replies.has(id);
  }

  /**
   * Block until the reply to `id` arrives or `deadlineNs` (monotonic) passes.
   * Returns undefined on deadline and once the instance is interrupted.
   */
  wait(id: number, deadlineNs?: bigint): RpcReply | undefined {
    for (;;) {
      const seen = Atomics.load(this.counter, 0);
      const r = this.poll(id);
      if (r) return r;
      if (this.interrupt && Atomics.load(this.interrupt, 0) !== 0) return undefined;
      let timeout = Infinity;
      if (deadlineNs !== undefined) {
        const left = deadlineNs - process.hrtime.bigint();
        if (left <= 0n) return undefined;
        timeout = Number(left / 1_000_000n) + 1;
      }
      Atomics.wait(this.counter, 0, seen, timeout);
    }
  }

  /** Send and wait (an interrupted wait answers with an error). */
  call(method: string, payload: unknown): RpcReply {
    const id = this.start(method, payload);
    return this.wait(id) ?? { id, ok: false, error: 'the agent is being stopped' };
  }
}

/**
 * Handlers on the serving side: each returns the reply value (or throws, reported as error).
 * `signal` aborts when the guest side is gone (its instance was killed or closed).
 */
export type RpcHandlers = Readonly<Record<string, (payload: any, signal: AbortSignal) => unknown>>;

/**
 * The serving side: answer requests arriving on `port` and wake the guest thread. Returns a
 * function that aborts every call still in progress (for a guest that went away).
 */
export function serveRpc(port: MessagePort, shared: SharedArrayBuffer, handlers: RpcHandlers): () => void {
  const controller = new AbortController();
  const counter = new Int32Array(shared);
  const reply = (r: RpcReply, transfer: ArrayBuffer[] = []) => {
    try {
      port.postMessage(r, transfer);
    } catch {
      // The guest went away (terminated worker): nothing to answer.
    }
    Atomics.add(counter, 0, 1);
    Atomics.notify(counter, 0);
  };
  port.on('message', (req: RpcRequest) => {
    const handler = Object.hasOwn(handlers, req.method) ? handlers[req.method] : undefined;
    if (!handler) {
      reply({ id: req.id, ok: false, error: `unknown host method ${req.method}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(req.payload, controller.signal))
      .then(
        (value) => reply({ id: req.id, ok: true, value }),
        (e: unknown) => reply({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
      );
  });
  return () => controller.abort();
}
