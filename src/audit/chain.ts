/**
 * The audit chain: an append-only, hash-chained, Merkle-tree log of audit records in LevelDB,
 * with durable group commit and signed checkpoints.
 *
 * Appends are queued in memory and written in batches: each batch becomes a block of records,
 * and one LevelDB write holds one or more blocks (batches encoded while the write before was in
 * flight), the Merkle nodes they completed and the new head. With `durability: 'sync'` (the
 * default) a write is fsynced before any of its appends is acknowledged; appends that arrive
 * while a write is in flight go into the next one (group commit), so the cost of an fsync is
 * shared by every record in it.
 *
 * Durability modes:
 * - `'sync'`: an acknowledged record survives a process kill, an OS crash and power loss (as far
 *   as the disk honours fsync).
 * - `'async'`: an acknowledged record has been handed to the OS; it survives a process kill but
 *   the last batches can be lost on an OS crash or power loss. Nothing is ever reordered or half
 *   written: a lost batch takes every later batch with it, and the chain still verifies.
 *
 * Deferred records ({@link AuditChain.enqueueDeferred}): a record nobody waits for can be queued
 * without starting a write of its own; it takes its place in the chain (sequence number,
 * timestamp) at once and is written with the next batch anyone starts, or after a bound.
 *
 * Fail closed: once a write fails (disk full, store closed or corrupt), the chain refuses every
 * further append with `AUDIT_UNAVAILABLE` and emits `failed`; reopen it to recover.
 *
 * @example
 * ```ts
 * const chain = await AuditChain.open('.agentos/audit', { witness: '/mnt/witness' });
 * const { seq } = await chain.append({ eventType: 'capability_used', agentId, source: 'gate',
 *   action: 'read', resource: '/workspace/a.ts', outcome: 'success' }); // durable here
 * const proof = await chain.inclusionProof(seq);
 * await chain.close(); // writes a final checkpoint
 * ```
 */
import { EventEmitter } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError } from '../errors.js';
import { loadOrCreateLogKey, signCheckpoint, Witness, type Checkpoint, type LogKey } from './checkpoint.js';
import { fromHex, toHex } from './hash.js';
import { decodeHead, encodeHead, frontierOf } from './head.js';
import { consistencyPath, foldRoot, inclusionPath, type Frontier } from './merkle.js';
import type { ConsistencyProof, InclusionProof } from './proofs.js';
import { EVENT_TYPES, OUTCOMES, SEVERITIES, type AuditRecord, type AuditRecordInput } from './record.js';
import { BatchQueue } from './queue.js';
import { releaseBlock, sealBlock, type QueuedRecord } from './seal.js';
import { LogSource, STORED_LEVEL_STEP, type Anchor } from './source.js';
import { AuditStore, type StoredBlock, type StoredNode } from './store.js';

export { checkConsistencyProof, checkInclusionProof, type ConsistencyProof, type InclusionProof } from './proofs.js';

/** Options of {@link AuditChain.open}. Every field is optional. */
export interface AuditChainOptions {
  /** `'sync'` (default): acknowledge after fsync. `'async'`: after the OS has the write (see module doc). */
  readonly durability?: 'sync' | 'async';
  /**
   * Most records in one batch (one block). Default 1024: against 512, a durable append run of
   * 200,000 events spent ~7% less CPU per event (LevelDB's background thread ~20% less), at
   * the price of reading twice the bytes (~600 KiB) for a record or leaf not in the block cache.
   */
  readonly maxBatch?: number;
  /** Sign a checkpoint after this many new records. Default 10,000. */
  readonly checkpointEvery?: number;
  /** …and at least this often while records arrive (ms; 0 disables the timer). Default 5000. */
  readonly checkpointIntervalMs?: number;
  /** A directory outside the store that receives every checkpoint (see `Witness`). Default: none. */
  readonly witness?: string;
  /** The log's signing key file. Default `<dir>/log-key.pem` (created, mode 0600). */
  readonly keyFile?: string;
  /** How long to wait for another process's lock on the store. Default 5000 ms. */
  readonly lockWaitMs?: number;
}

/** What an acknowledged append returns. */
export interface AppendReceipt {
  readonly seq: number;
}

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

/** Events of a chain. */
export interface AuditChainEvents {
  /** A checkpoint was signed and stored. */
  checkpoint: [Checkpoint];
  /** The chain stopped accepting appends. */
  failed: [SandboxError];
  /** Something degraded that does not stop the chain (a witness that cannot be written). */
  warning: [string];
}

function checkInput(e: AuditRecordInput): void {
  if (typeof e !== 'object' || e === null) throw new TypeError('an audit record must be an object');
  if (!EVENT_TYPES.includes(e.eventType)) throw new TypeError(`unknown eventType ${JSON.stringify(e.eventType)}; use one of ${EVENT_TYPES.join(', ')}`);
  if (!OUTCOMES.includes(e.outcome)) throw new TypeError(`unknown outcome ${JSON.stringify(e.outcome)}; use success, failure or blocked`);
  if (e.severity !== undefined && !SEVERITIES.includes(e.severity)) throw new TypeError(`unknown severity ${JSON.stringify(e.severity)}`);
}

/** The append-only audit log. Open with {@link AuditChain.open}. */
export class AuditChain extends EventEmitter<AuditChainEvents> {
  private queue = new BatchQueue<QueuedRecord>();
  private waiters: Waiter[] = [];
  private nextSeq: number;
  private durableSize: number;
  /** Hash of the last durable record and the frontier at the durable size (for checkpoints). */
  private durableLast: Uint8Array;
  private durableFrontier: readonly Uint8Array[];
  private prepared: PreparedBatch[] = [];
  private lastHash: Uint8Array;
  private readonly frontier: Frontier;
  private writing = false;
  private scheduled = false;
  /**
   * Set while every queued record is deferred (see {@link enqueueDeferred}): the writer loop
   * leaves them until something schedules it or the timer runs out.
   */
  private deferTimer: NodeJS.Timeout | undefined;
  private failure: SandboxError | undefined;
  private closing = false;
  private lastCheckpointSize: number;
  private checkpointing: Promise<Checkpoint | undefined> = Promise.resolve(undefined);
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly witness: Witness | undefined;
  private readonly idle: (() => void)[] = [];
  /** @internal */
  readonly source: LogSource;

  private constructor(
    /** The audit directory. */
    readonly dir: string,
    /** The LevelDB store. @internal */
    readonly store: AuditStore,
    private readonly key: LogKey,
    state: { size: number; lastHash: Uint8Array; frontier: Frontier; lastCheckpoint: number; anchor: Anchor | undefined },
    private readonly o: Required<Omit<AuditChainOptions, 'witness' | 'keyFile'>> & { witness?: string },
  ) {
    super();
    this.nextSeq = this.durableSize = state.size;
    this.durableLast = state.lastHash;
    this.durableFrontier = state.frontier.nodes;
    this.lastHash = state.lastHash;
    this.frontier = state.frontier;
    this.lastCheckpointSize = state.lastCheckpoint;
    this.source = new LogSource(store, state.anchor);
    this.witness = o.witness !== undefined ? new Witness(o.witness) : undefined;
    if (o.checkpointIntervalMs > 0) {
      this.timer = setInterval(() => this.requestCheckpoint(), o.checkpointIntervalMs);
      this.timer.unref();
    }
  }

  /**
   * Open (creating if needed) the log in `dir`: the store in `dir/db`, the key in
   * `dir/log-key.pem`. Throws `AUDIT_UNAVAILABLE` when the store cannot be opened (locked by
   * another process, corrupt) or the key does not belong to the log.
   */
  static async open(dir: string, options: AuditChainOptions = {}): Promise<AuditChain> {
    const o = {
      durability: options.durability ?? 'sync',
      maxBatch: options.maxBatch ?? 1024,
      checkpointEvery: options.checkpointEvery ?? 10_000,
      checkpointIntervalMs: options.checkpointIntervalMs ?? 5000,
      lockWaitMs: options.lockWaitMs ?? 5000,
      ...(options.witness !== undefined ? { witness: options.witness } : {}),
    };
    if (o.durability !== 'sync' && o.durability !== 'async') throw new TypeError(`durability must be 'sync' or 'async', not ${JSON.stringify(o.durability)}`);
    for (const k of ['maxBatch', 'checkpointEvery'] as const) if (!Number.isSafeInteger(o[k]) || o[k] < 1) throw new TypeError(`${k} must be a positive integer`);
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw new SandboxError('AUDIT_UNAVAILABLE', `audit directory ${dir} cannot be created: ${(e as Error).message}`, { dir }, { cause: e });
    }
    const key = await loadOrCreateLogKey(options.keyFile ?? join(dir, 'log-key.pem'));
    const store = await AuditStore.open(join(dir, 'db'), { lockWaitMs: o.lockWaitMs });
    try {
      const state = await AuditChain.recover(store, key);
      return new AuditChain(dir, store, key, state, o);
    } catch (e) {
      await store.close().catch(() => undefined);
      if (e instanceof SandboxError) throw e;
      throw new SandboxError('AUDIT_UNAVAILABLE', `audit store in ${dir} is unreadable: ${(e as Error).message}; run \`agentos audit verify --audit ${dir}\``, { dir }, { cause: e });
    }
  }

  private static async recover(store: AuditStore, key: LogKey) {
    const meta = await store.getMeta();
    const headBytes = await store.getHead();
    if (!meta) {
      if (headBytes) throw new SandboxError('AUDIT_UNAVAILABLE', 'audit store has records but no meta record (not created by this tool, or damaged)');
      await store.putMeta({ format: 'agentos-audit/1', logId: key.logId, publicKey: toHex(key.publicKey), created: Date.now() });
    } else if (meta['logId'] !== key.logId) {
      throw new SandboxError('AUDIT_UNAVAILABLE', `the log key belongs to log ${key.logId.slice(0, 16)}…, but this store is log ${String(meta['logId']).slice(0, 16)}…; restore the store's own key`);
    }
    const anchorJson = await store.getAnchor();
    const anchor = anchorJson ? (JSON.parse(anchorJson) as Anchor) : undefined;
    const head = headBytes ? decodeHead(headBytes) : { size: 0, lastHash: fromHex(key.logId), frontier: [] };
    let lastCheckpoint = 0;
    for await (const c of store.checkpoints({ reverse: true, limit: 1 })) lastCheckpoint = c.size;
    return { size: head.size, lastHash: head.lastHash, frontier: frontierOf(head), lastCheckpoint, anchor };
  }

  /** The log id (hex SHA-256 of the public key). */
  get logId(): string {
    return this.key.logId;
  }

  /** The raw ed25519 public key that signs checkpoints. */
  get publicKey(): Uint8Array {
    return this.key.publicKey;
  }

  /** The signing key. @internal (retention signs its anchor with it) */
  key_(): LogKey {
    return this.key;
  }

  /** Move the start of the stored log to a new retention anchor. @internal */
  rebase_(anchor: Anchor): void {
    this.source.rebase(anchor);
  }

  /** Records acknowledged (durable) so far. */
  get size(): number {
    return this.durableSize;
  }

  /** Records enqueued so far (durable or not). */
  get enqueued(): number {
    return this.nextSeq;
  }

  /** Why the chain refuses appends, or undefined while it is healthy. */
  get failed(): SandboxError | undefined {
    return this.failure;
  }

  /** Durability mode. */
  get durability(): 'sync' | 'async' {
    return this.o.durability;
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

  /** Enqueue and wait until durable. */
  append(input: AuditRecordInput): Promise<AppendReceipt> {
    let seq: number;
    try {
      seq = this.enqueue(input);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.whenDurable(seq).then(() => ({ seq }));
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
        this.durableSize = last.size;
        this.durableLast = last.lastHash;
        this.durableFrontier = last.frontier;
        this.release();
        if (last.size - this.lastCheckpointSize >= this.o.checkpointEvery) this.startCheckpoint();
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

  private fail(err: SandboxError): void {
    if (this.failure) return;
    this.failure = err;
    this.queue.clear();
    if (this.deferTimer !== undefined) {
      clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
    }
    for (const w of this.waiters.splice(0)) w.reject(err);
    this.settleIdle();
    if (this.listenerCount('failed') > 0) this.emit('failed', err);
  }

  private settleIdle(): void {
    if (this.writing || ((this.prepared.length > 0 || this.queue.length > 0) && !this.failure)) return;
    for (const r of this.idle.splice(0)) r();
  }

  private unavailable(message: string, cause?: unknown): SandboxError {
    return new SandboxError('AUDIT_UNAVAILABLE', message, { durable: this.durableSize }, { cause });
  }

  /** Resolves once everything enqueued so far is durable (or the chain has failed). */
  drain(): Promise<void> {
    if (!this.writing && ((this.prepared.length === 0 && this.queue.length === 0) || this.failure)) return Promise.resolve();
    this.flushSoon();
    return new Promise((r) => this.idle.push(r));
  }

  private requestCheckpoint(): void {
    if (this.durableSize === this.lastCheckpointSize || this.failure) return;
    this.startCheckpoint();
  }

  /** Sign a checkpoint of the durable state now. */
  private startCheckpoint(): void {
    if (this.durableSize === this.lastCheckpointSize) return;
    const cp = signCheckpoint(this.key, { size: this.durableSize, rootHash: foldRoot(this.durableFrontier), lastHash: this.durableLast, timestamp: Date.now() });
    this.lastCheckpointSize = cp.size;
    const prev = this.checkpointing;
    this.checkpointing = (async () => {
      await prev;
      try {
        await this.store.putCheckpoint(cp.size, JSON.stringify(cp));
      } catch (e) {
        this.fail(this.unavailable(`audit checkpoint write failed: ${(e as Error).message}`, e));
        return undefined;
      }
      if (this.witness) {
        await this.witness.publish(cp).catch((e: unknown) => this.emit('warning', `witness ${this.witness!.dir} not updated: ${(e as Error).message}`));
      }
      if (this.listenerCount('checkpoint') > 0) this.emit('checkpoint', cp);
      return cp;
    })();
  }

  /**
   * Sign a checkpoint of everything enqueued so far (waits until it is durable) and return it;
   * returns the existing checkpoint when nothing was added since.
   */
  async checkpoint(): Promise<Checkpoint> {
    await this.drain();
    if (this.failure) throw this.failure;
    if (this.durableSize !== this.lastCheckpointSize) this.startCheckpoint();
    await this.checkpointing;
    if (this.failure) throw this.failure;
    const latest = await this.latestCheckpoint();
    if (latest) return latest;
    // An empty log: sign its (empty) head once.
    const cp = signCheckpoint(this.key, { size: 0, rootHash: foldRoot(this.durableFrontier), lastHash: this.durableLast, timestamp: Date.now() });
    await this.store.putCheckpoint(0, JSON.stringify(cp));
    await this.witness?.publish(cp);
    return cp;
  }

  /** The newest stored checkpoint. */
  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    for await (const c of this.store.checkpoints({ reverse: true, limit: 1 })) return JSON.parse(c.json) as Checkpoint;
    return undefined;
  }

  /** Record `seq`, decoded (undefined when not durable yet or pruned). */
  async read(seq: number): Promise<AuditRecord | undefined> {
    if (!Number.isSafeInteger(seq) || seq < this.source.base || seq >= this.durableSize) return undefined;
    return this.source.record(seq);
  }

  /** The tree head at `size` (default: the durable size). */
  async rootAt(size = this.durableSize): Promise<Uint8Array> {
    if (size === this.durableSize) return foldRoot(this.durableFrontier);
    if (!Number.isSafeInteger(size) || size < 0 || size > this.durableSize) throw new RangeError(`tree size ${size} is not in 0..${this.durableSize}`);
    return this.source.rootAt(size);
  }

  /** An inclusion proof of record `seq` in the tree of `size` (default: the durable size). */
  async inclusionProof(seq: number, size = this.durableSize): Promise<InclusionProof> {
    if (!Number.isSafeInteger(size) || size > this.durableSize) throw new RangeError(`tree size ${size} is not in 0..${this.durableSize}`);
    const path = await inclusionPath(this.source, seq, size);
    const leaf = await this.source.leaf(seq);
    const root = await this.rootAt(size);
    return { logId: this.logId, seq, size, leafHash: toHex(leaf), rootHash: toHex(root), path: path.map(toHex) };
  }

  /** A consistency proof that the tree of size `to` extends the tree of size `from`. */
  async consistencyProof(from: number, to = this.durableSize): Promise<ConsistencyProof> {
    if (!Number.isSafeInteger(to) || to > this.durableSize) throw new RangeError(`tree size ${to} is not in 0..${this.durableSize}`);
    const path = await consistencyPath(this.source, from, to);
    return { logId: this.logId, from, to, fromRoot: toHex(await this.rootAt(from)), toRoot: toHex(await this.rootAt(to)), path: path.map(toHex) };
  }

  /**
   * Stop accepting appends, write what is queued, sign a final checkpoint, close the store.
   * Appends after `close()` throw `AUDIT_UNAVAILABLE`.
   */
  async close(): Promise<void> {
    if (this.closing) return this.drain();
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    await this.drain();
    if (!this.failure && this.durableSize !== this.lastCheckpointSize) this.startCheckpoint();
    await this.checkpointing;
    this.failure ??= this.unavailable('audit log is closed');
    await this.store.close();
  }
}
