/**
 * The writer half of the audit chain (`chain.ts`): the queue of appended records, group commit
 * into LevelDB, the durable state, and the callers waiting for it.
 *
 * Records are queued with their sequence numbers at once; the writer loop takes up to
 * `maxBatch` of them into a block (`seal.ts`), extends the Merkle frontier, and writes blocks,
 * the stored nodes and the new head in one LevelDB write. One write is in flight at a time;
 * while it is, up to {@link ENCODE_AHEAD} full batches are encoded for the next one. A failed
 * write fails the writer for good: every waiter is rejected and every later append refused.
 */
import { SandboxError } from '../errors.js';
import { encodeHead } from './head.js';
import type { Frontier } from './merkle.js';
import { BatchQueue } from './queue.js';
import { EVENT_TYPES, OUTCOMES, SEVERITIES, type AuditRecordInput } from './record.js';
import { releaseBlock, sealBlock, type QueuedRecord } from './seal.js';
import { STORED_LEVEL_STEP } from './source.js';
import type { AuditStore, StoredBlock, StoredNode } from './store.js';

/** A batch encoded and hashed into a block, waiting for (or in) its LevelDB write. */
interface PreparedBatch {
  readonly size: number;
  readonly lastHash: Uint8Array;
  readonly frontier: readonly Uint8Array[];
  readonly block: StoredBlock;
  readonly nodes: readonly StoredNode[];
}

/**
 * Full batches encoded ahead while a write is in flight, all written together by the next
 * write. One was not enough: a write (the write-ahead log, the fsync, the memtable, on a thread
 * that shares the cores with this one and LevelDB's compactions) often outlasts encoding the
 * next batch, and this thread then sat idle. Bounded, so that a record waits for at most this
 * many batches ahead of it.
 */
const ENCODE_AHEAD = 4;

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (e: SandboxError) => void;
}

function checkInput(e: AuditRecordInput): void {
  if (typeof e !== 'object' || e === null) throw new TypeError('an audit record must be an object');
  if (!EVENT_TYPES.includes(e.eventType)) throw new TypeError(`unknown eventType ${JSON.stringify(e.eventType)}; use one of ${EVENT_TYPES.join(', ')}`);
  if (!OUTCOMES.includes(e.outcome)) throw new TypeError(`unknown outcome ${JSON.stringify(e.outcome)}; use success, failure or blocked`);
  if (e.severity !== undefined && !SEVERITIES.includes(e.severity)) throw new TypeError(`unknown severity ${JSON.stringify(e.severity)}`);
}

/** What the writer tells its chain. */
export interface WriterEvents {
  /** Records up to `size` are durable. */
  durable(size: number): void;
  /** The writer failed (see {@link ChainWriter.fail}); called once. */
  failed(err: SandboxError): void;
}

/** Queues records and writes them in batches; see the module doc. */
export class ChainWriter {
  private readonly queue = new BatchQueue<QueuedRecord>();
  private waiters: Waiter[] = [];
  private nextSeq: number;
  private durable: number;
  private durableLastHash: Uint8Array;
  private durableNodes: readonly Uint8Array[];
  private prepared: PreparedBatch[] = [];
  private lastHash: Uint8Array;
  private writing = false;
  private scheduled = false;
  /**
   * Set while every queued record is deferred (see {@link enqueueDeferred}): the writer loop
   * leaves them until something schedules it or the timer runs out.
   */
  private deferTimer: NodeJS.Timeout | undefined;
  private failure: SandboxError | undefined;
  private closing = false;
  private readonly idle: (() => void)[] = [];

  private readonly frontier: Frontier;

  /**
   * @param state - where the log stands: its size, the hash of its last record (the log id for
   *   none) and its Merkle frontier (extended in place as batches are encoded).
   */
  constructor(
    private readonly store: AuditStore,
    state: { size: number; lastHash: Uint8Array; frontier: Frontier },
    private readonly o: { readonly maxBatch: number; readonly durability: 'sync' | 'async' },
    private readonly events: WriterEvents,
  ) {
    this.frontier = state.frontier;
    this.nextSeq = this.durable = state.size;
    this.durableLastHash = state.lastHash;
    this.durableNodes = state.frontier.nodes;
    this.lastHash = state.lastHash;
  }

  /** Records durable so far. */
  get durableSize(): number {
    return this.durable;
  }

  /** The hash of the last durable record (the log id while there is none). */
  get durableLast(): Uint8Array {
    return this.durableLastHash;
  }

  /** The Merkle frontier at the durable size. */
  get durableFrontier(): readonly Uint8Array[] {
    return this.durableNodes;
  }

  /** Records enqueued so far (durable or not). */
  get enqueued(): number {
    return this.nextSeq;
  }

  /** Why the writer refuses appends, or undefined while it is healthy. */
  get failed(): SandboxError | undefined {
    return this.failure;
  }

  /**
   * Queue a record and return its sequence number at once (see {@link whenDurable}). Throws
   * `AUDIT_UNAVAILABLE` when the chain has failed or is closed, `TypeError` on a malformed record.
   */
  enqueue(input: AuditRecordInput): number {
    const seq = this.push(input);
    this.schedule();
    return seq;
  }

  /**
   * Queue a record like {@link enqueue}, but start no write for it: it is written with the next
   * batch that something else starts (another record, {@link flushSoon}, {@link whenDurable},
   * {@link drain}, a checkpoint, {@link close}), and at the latest `maxDelayMs` from now. Its
   * sequence number, its place in the chain and its timestamp are fixed here. For a record no
   * one waits for whose encoding and write would otherwise land in the middle of something
   * latency-bound, e.g. a run's opening record, written once the run's reply is out
   * (`flushSoon` when the run settles).
   */
  enqueueDeferred(input: AuditRecordInput, maxDelayMs: number): number {
    const seq = this.push(input);
    // Alone in the queue, it waits; behind other records, it goes with them.
    if (this.queue.length === 1 && !this.scheduled) this.deferTimer = setTimeout(() => this.schedule(), maxDelayMs);
    return seq;
  }

  /** Start writing what is queued, deferred records included, on the next turn of the event loop. */
  flushSoon(): void {
    if (this.queue.length > 0 && !this.failure) this.schedule();
  }

  private push(input: AuditRecordInput): number {
    if (this.failure) throw this.failure;
    if (this.closing) throw this.unavailable('audit log is closed');
    checkInput(input);
    const seq = this.nextSeq++;
    this.queue.push({ seq, input });
    return seq;
  }

  /** Run the writer loop on the next turn of the event loop (deferred records go with it). */
  private schedule(): void {
    if (this.deferTimer !== undefined) {
      clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.pump());
    }
  }

  /** Resolves once record `seq` is durable; rejects with `AUDIT_UNAVAILABLE` if it never will be. */
  whenDurable(seq: number): Promise<void> {
    if (seq < this.durableSize) return Promise.resolve();
    if (this.failure) return Promise.reject(this.failure);
    if (this.deferTimer !== undefined) this.schedule();
    return new Promise((resolve, reject) => {
      const w = { seq, resolve, reject };
      // Kept sorted by seq; callers almost always ask in order, so this is a push.
      let i = this.waiters.length;
      while (i > 0 && this.waiters[i - 1]!.seq > seq) i--;
      this.waiters.splice(i, 0, w);
    });
  }

  /**
   * The writer loop. One write is in flight at a time (LevelDB must see them in order); while it
   * is, the next full batches are encoded and hashed, one per turn of the event loop (so the
   * write's completion is seen between them), and the next write takes all of them at once.
   */
  private pump(): void {
    this.scheduled = false;
    if (this.failure) return;
    const encodable = this.queue.length > 0 && this.deferTimer === undefined;
    if (this.writing) {
      // Only full batches: a partial one taken early would leave the records that arrive
      // meanwhile for the write after it, two fsyncs away.
      if (encodable && this.queue.length >= this.o.maxBatch && this.prepared.length < ENCODE_AHEAD) {
        this.prepared.push(this.encode());
        if (this.queue.length >= this.o.maxBatch && this.prepared.length < ENCODE_AHEAD) this.schedule();
      }
      return;
    }
    if (this.prepared.length === 0 && encodable) this.prepared.push(this.encode());
    if (this.prepared.length === 0) {
      this.settleIdle();
      return;
    }
    const batches = this.prepared.splice(0);
    const last = batches[batches.length - 1]!;
    this.writing = true;
    let write: Promise<void>;
    try {
      const nodes = batches.length === 1 ? last.nodes : batches.flatMap((b) => b.nodes);
      write = this.store.write({ blocks: batches.map((b) => b.block), nodes, head: encodeHead(last.size, last.lastHash, last.frontier) }, this.o.durability === 'sync');
    } catch (e) {
      write = Promise.reject(e);
    }
    // LevelDB's batch has copied the blocks: their buffers take the next ones.
    for (const b of batches) releaseBlock(b.block.block);
    // Encode the next batch while these are on their way to disk.
    if (this.queue.length > 0 && this.deferTimer === undefined) this.schedule();
    write.then(
      () => {
        this.writing = false;
        this.durable = last.size;
        this.durableLastHash = last.lastHash;
        this.durableNodes = last.frontier;
        this.release();
        this.events.durable(last.size);
        this.pump();
      },
      (e: unknown) => {
        this.writing = false;
        this.prepared = [];
        this.fail(this.unavailable(`audit store write failed: ${(e as Error)?.message ?? String(e)}`, e));
      },
    );
  }

  /** Take up to `maxBatch` queued records and encode them into a block and the nodes it completes. */
  private encode(): PreparedBatch {
    const batch = this.queue.take(this.o.maxBatch);
    const firstSeq = batch[0]!.seq;
    const leaves = new Uint8Array(32 * batch.length);
    // Each record names the previous one's hash (see seal.ts).
    const block = sealBlock(batch, Date.now(), this.lastHash, leaves);
    const last = leaves.slice(32 * (batch.length - 1));
    const nodes: StoredNode[] = [];
    this.frontier.pushBatch(leaves, batch.length, (level, index, hash) => nodes.push({ level, index, hash }), STORED_LEVEL_STEP);
    this.lastHash = last;
    return { size: firstSeq + batch.length, lastHash: last, frontier: this.frontier.nodes, block: { firstSeq, block }, nodes };
  }

  private release(): void {
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.seq < this.durableSize) n++;
    if (n === 0) return;
    const done = this.waiters.splice(0, n);
    for (const w of done) w.resolve();
  }

  /**
   * Refuse every further append with `err`: the queued records are dropped, every waiter is
   * rejected, the chain is told. Only the first failure counts.
   */
  fail(err: SandboxError): void {
    if (this.failure) return;
    this.failure = err;
    this.queue.clear();
    if (this.deferTimer !== undefined) {
      clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
    }
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.settleIdle();
    this.events.failed(err);
  }

  private settleIdle(): void {
    if (this.writing || ((this.prepared.length > 0 || this.queue.length > 0) && !this.failure)) return;
    for (const r of this.idle.splice(0)) r();
  }

  /** An `AUDIT_UNAVAILABLE` error naming the durable size. */
  unavailable(message: string, cause?: unknown): SandboxError {
    return new SandboxError('AUDIT_UNAVAILABLE', message, { durable: this.durableSize }, { cause });
  }

  /** Resolves once everything enqueued so far is durable (or the chain has failed). */
  drain(): Promise<void> {
    if (!this.writing && ((this.prepared.length === 0 && this.queue.length === 0) || this.failure)) return Promise.resolve();
    this.flushSoon();
    return new Promise((r) => this.idle.push(r));
  }

  /** Refuse further appends (`close`); what is queued is still written. */
  close(): void {
    this.closing = true;
  }

  /** After a close has drained: refuse appends as closed, without telling anyone of a failure. */
  retire(): void {
    this.failure ??= this.unavailable('audit log is closed');
  }
}
