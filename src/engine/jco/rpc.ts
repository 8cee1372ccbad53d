/**
 * Synchronous calls from a guest thread to the host thread.
 *
 * A guest runs synchronously: when it calls `handle` (HTTP) or `tools.call`, the answer must be
 * there when the import returns. The guest thread posts a request on a MessagePort and sleeps
 * with `Atomics.wait` on a shared counter; the serving thread does the work asynchronously,
 * posts the reply and bumps the counter. `receiveMessageOnPort` then reads the reply without an
 * event loop turn. Several requests may be outstanding (an HTTP future and a tool call).
 *
 * One port and one counter serve every instance of an agent thread (a channel costs tens of
 * microseconds to make and to transfer): requests carry the instance's slot, and each instance
 * talks through its own {@link RpcClient} view.
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';

/** A request as it crosses the port. */
export interface RpcRequest {
  readonly slot: number;
  readonly id: number;
  readonly method: string;
  readonly payload: unknown;
}

/** A reply as it crosses the port. */
export type RpcReply = { readonly id: number; readonly ok: true; readonly value: unknown } | { readonly id: number; readonly ok: false; readonly error: string };

/** The guest-thread end of a thread's channel, shared by its instances. */
export class RpcChannel {
  private nextId = 1;
  private readonly replies = new Map<number, RpcReply>();
  /** @internal */
  readonly counter: Int32Array;

  constructor(
    private readonly port: MessagePort,
    shared: SharedArrayBuffer,
  ) {
    this.counter = new Int32Array(shared);
  }

  /** @internal */
  send(slot: number, method: string, payload: unknown, transfer: ArrayBuffer[]): number {
    const id = this.nextId++;
    this.port.postMessage({ slot, id, method, payload } satisfies RpcRequest, transfer);
    return id;
  }

  /** @internal the reply to `id` if it has arrived (never blocks) */
  take(id: number): RpcReply | undefined {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const reply = m.message as RpcReply;
      this.replies.set(reply.id, reply);
    }
    const r = this.replies.get(id);
    if (r) this.replies.delete(id);
    return r;
  }

  /** @internal */
  has(id: number): boolean {
    const r = this.take(id);
    if (r) this.replies.set(id, r);
    return r !== undefined;
  }
}

/** One instance's side: requests go out under its slot; its waits end when it is interrupted. */
export class RpcClient {
  /**
   * `interrupt`: the instance's interrupt cell; once it is set, waits return as if their
   * deadline had passed (the host bumps the counter to wake them).
   */
  constructor(
    private readonly channel: RpcChannel,
    private readonly slot: number,
    private readonly interrupt?: Int32Array,
  ) {}

  /** Send a request and return its id without waiting. */
  start(method: string, payload: unknown, transfer: ArrayBuffer[] = []): number {
    return this.channel.send(this.slot, method, payload, transfer);
  }

  /** The reply to `id` if it has arrived (never blocks). */
  poll(id: number): RpcReply | undefined {
    return this.channel.take(id);
  }

  /** True when the reply to `id` has arrived. */
  isReady(id: number): boolean {
    return this.channel.has(id);
  }

  /**
   * Block until the reply to `id` arrives or `deadlineNs` (monotonic) passes.
   * Returns undefined on deadline and once the instance is interrupted.
   */
  wait(id: number, deadlineNs?: bigint): RpcReply | undefined {
    const counter = this.channel.counter;
    for (;;) {
      const seen = Atomics.load(counter, 0);
      const r = this.poll(id);
      if (r) return r;
      if (this.interrupt && Atomics.load(this.interrupt, 0) !== 0) return undefined;
      let timeout = Infinity;
      if (deadlineNs !== undefined) {
        const left = deadlineNs - process.hrtime.bigint();
        if (left <= 0n) return undefined;
        timeout = Number(left / 1_000_000n) + 1;
      }
      Atomics.wait(counter, 0, seen, timeout);
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
 * The serving side of a thread's channel: answer requests arriving on `port` with the handlers
 * of the requesting slot (`route`; undefined: the instance is gone) and wake the guest thread.
 */
export function serveRpc(port: MessagePort, shared: SharedArrayBuffer, route: (slot: number) => { handlers: RpcHandlers; signal: AbortSignal } | undefined): void {
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
    const target = route(req.slot);
    const handler = target && Object.hasOwn(target.handlers, req.method) ? target.handlers[req.method] : undefined;
    if (!target || !handler) {
      reply({ id: req.id, ok: false, error: target ? `unknown host method ${req.method}` : 'the agent instance is gone' });
      return;
    }
    Promise.resolve()
      .then(() => handler(req.payload, target.signal))
      .then(
        (value) => reply({ id: req.id, ok: true, value }),
        (e: unknown) => reply({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) }),
      );
  });
}
