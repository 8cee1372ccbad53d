/**
 * How sealed messages and directory announcements travel between sandboxes. Only ciphertext and
 * signed public data ever cross a transport: messages are sealed end to end before `publish`
 * and verified after delivery, so a broker (or anyone on it) sees no plaintext and cannot forge
 * or replay a message unnoticed.
 *
 * Agents of one sandbox reach each other without any transport; one is needed only between
 * processes: {@link natsTransport} (`src/messaging/nats.ts`), or any broker behind this interface.
 *
 * @example
 * ```ts
 * const bus = new LocalBus();                       // two sandboxes in one process, for tests
 * const a = createSandbox({ messaging: { transport: bus.transport() } });
 * const b = createSandbox({ messaging: { transport: bus.transport() } });
 * ```
 */

/** A publish/subscribe transport of byte messages by subject. */
export interface MessageTransport {
  /** Hand `bytes` to every subscriber of `subject` (in any process). */
  publish(subject: string, bytes: Uint8Array): void;
  /** Receive what is published on `subject`; returns the unsubscribe function. */
  subscribe(subject: string, onBytes: (bytes: Uint8Array) => void): () => void;
  /** Resolves once what was published so far has left this process (a no-op in memory). */
  flush(): Promise<void>;
  /** Stop; later publishes are dropped. */
  close(): Promise<void>;
}

/** An in-memory bus: transports from it reach each other (delivery on a later microtask, like a broker). */
export class LocalBus {
  private readonly subs = new Map<string, Set<(b: Uint8Array) => void>>();
  /** Every publish, for tests that read what crossed the bus. */
  readonly published: Array<{ subject: string; bytes: Uint8Array }> = [];
  /** Set to alter (return new bytes) or drop (return undefined) what crosses the bus: a man in the middle, for tests. */
  intercept: ((subject: string, bytes: Uint8Array) => Uint8Array | undefined) | undefined;

  /** A transport on this bus. */
  transport(): MessageTransport {
    let closed = false;
    const mine = new Set<() => void>();
    return {
      publish: (subject, bytes) => {
        if (closed) return;
        // A copy that owns its memory (a Buffer's `slice` is a view, maybe of a reused pool).
        const copy = new Uint8Array(bytes);
        this.published.push({ subject, bytes: copy });
        const out = this.intercept ? this.intercept(subject, copy) : copy;
        if (!out) return;
        for (const fn of this.subs.get(subject) ?? []) queueMicrotask(() => fn(new Uint8Array(out)));
      },
      subscribe: (subject, onBytes) => {
        let set = this.subs.get(subject);
        if (!set) this.subs.set(subject, (set = new Set()));
        set.add(onBytes);
        const off = () => {
          set.delete(onBytes);
          mine.delete(off);
        };
        mine.add(off);
        return off;
      },
      flush: () => Promise.resolve(),
      close: () => {
        closed = true;
        for (const off of [...mine]) off();
        return Promise.resolve();
      },
    };
  }
}
