/**
 * One agent's mailbox on the host: verified messages waiting for the guest's `receive`, at most
 * `capacity` of them and 64 MiB of bodies (a full mailbox refuses new messages: the sender is told
 * `quota`), and the receivers waiting for the next one.
 */
import type { DeliveredMessage } from '../capabilities/comms-rpc.js';

/** A FIFO of delivered messages with waiting receivers. */
export class Mailbox {
  private readonly queue: DeliveredMessage[] = [];
  private head = 0;
  private bytes = 0;
  private readonly waiters: Array<(m: DeliveredMessage | undefined) => void> = [];

  /** `maxBytes`: bodies held at once, whatever the count (default 64 MiB). */
  constructor(
    private capacity: number,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** Messages waiting. */
  get size(): number {
    return this.queue.length - this.head;
  }

  /** Change the capacity (a new policy); messages already queued stay. */
  setCapacity(n: number): void {
    this.capacity = n;
  }

  /** Queue a message (or hand it to a waiting receiver); false when the mailbox is full. */
  push(m: DeliveredMessage): boolean {
    const w = this.waiters.shift();
    if (w) {
      w(m);
      return true;
    }
    if (this.size >= this.capacity || this.bytes + m.body.byteLength > this.maxBytes) return false;
    this.queue.push(m);
    this.bytes += m.body.byteLength;
    return true;
  }

  /** The next message, waiting up to `timeoutMs`; undefined on timeout or when `signal` aborts. */
  take(timeoutMs: number, signal?: AbortSignal): Promise<DeliveredMessage | undefined> | DeliveredMessage | undefined {
    if (this.size > 0) {
      const m = this.queue[this.head++]!;
      this.bytes -= m.body.byteLength;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      return m;
    }
    if (timeoutMs <= 0 || signal?.aborted) return undefined;
    return new Promise((resolve) => {
      const done = (m: DeliveredMessage | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve(m);
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        done(undefined);
      };
      const timer = setTimeout(onAbort, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(done);
    });
  }

  /** End every wait (the agent is closing). */
  close(): void {
    for (const w of this.waiters.splice(0)) w(undefined);
    this.queue.length = 0;
    this.head = 0;
    this.bytes = 0;
  }
}
