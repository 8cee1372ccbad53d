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
 * The queue, the batches and the writes are `writer.ts`'s; this module opens and recovers the
 * log, signs checkpoints, and serves reads and proofs.
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
import { decodeHead, frontierOf } from './head.js';
import { consistencyPath, foldRoot, inclusionPath, type Frontier } from './merkle.js';
import type { ConsistencyProof, InclusionProof } from './proofs.js';
import type { AuditRecord, AuditRecordInput } from './record.js';
import { LogSource, type Anchor } from './source.js';
import { AuditStore } from './store.js';
import { ChainWriter } from './writer.js';

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

/** Events of a chain. */
export interface AuditChainEvents {
  /** A checkpoint was signed and stored. */
  checkpoint: [Checkpoint];
  /** The chain stopped accepting appends. */
  failed: [SandboxError];
  /** Something degraded that does not stop the chain (a witness that cannot be written). */
  warning: [string];
}

/** The append-only audit log. Open with {@link AuditChain.open}. */
export class AuditChain extends EventEmitter<AuditChainEvents> {
  private readonly writer: ChainWriter;
  private closing = false;
  private lastCheckpointSize: number;
  private checkpointing: Promise<Checkpoint | undefined> = Promise.resolve(undefined);
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly witness: Witness | undefined;
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
    this.writer = new ChainWriter(store, state, o, {
      durable: (size) => {
        if (size - this.lastCheckpointSize >= this.o.checkpointEvery) this.startCheckpoint();
      },
      failed: (err) => {
        if (this.listenerCount('failed') > 0) this.emit('failed', err);
      },
    });
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
      const chain = new AuditChain(dir, store, key, state, o);
      await chain.introduceToWitness();
      return chain;
    } catch (e) {
      await store.close().catch(() => undefined);
      if (e instanceof SandboxError) throw e;
      throw new SandboxError('AUDIT_UNAVAILABLE', `audit store in ${dir} is unreadable: ${(e as Error).message}; run \`agentos audit verify --audit ${dir}\``, { dir }, { cause: e });
    }
  }

  /**
   * A witness learns of the log as soon as the log is opened with it: a checkpoint of the
   * recovered state when the witness holds none for this log yet. Otherwise a host killed
   * before its first periodic checkpoint (every `checkpointIntervalMs`) leaves a witness that
   * has never heard of the log, and verifying against it reports a rollback. A witness that
   * cannot be read or written does not stop the chain (as for the periodic checkpoints).
   */
  private async introduceToWitness(): Promise<void> {
    if (!this.witness) return;
    const known = await this.witness.latest(this.logId).catch(() => undefined);
    if (known !== undefined) return;
    await this.checkpoint().catch((e: unknown) => this.emit('warning', `witness ${this.witness!.dir} not updated: ${(e as Error).message}`));
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
    return this.writer.durableSize;
  }

  /** Records enqueued so far (durable or not). */
  get enqueued(): number {
    return this.writer.enqueued;
  }

  /** Why the chain refuses appends, or undefined while it is healthy. */
  get failed(): SandboxError | undefined {
    return this.writer.failed;
  }

  private get durableSize(): number {
    return this.writer.durableSize;
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
    return this.writer.enqueue(input);
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
    return this.writer.enqueueDeferred(input, maxDelayMs);
  }

  /** Start writing what is queued, deferred records included, on the next turn of the event loop. */
  flushSoon(): void {
    this.writer.flushSoon();
  }

  /** Resolves once record `seq` is durable; rejects with `AUDIT_UNAVAILABLE` if it never will be. */
  whenDurable(seq: number): Promise<void> {
    return this.writer.whenDurable(seq);
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

  /** Resolves once everything enqueued so far is durable (or the chain has failed). */
  drain(): Promise<void> {
    return this.writer.drain();
  }

  private requestCheckpoint(): void {
    if (this.durableSize === this.lastCheckpointSize || this.writer.failed) return;
    this.startCheckpoint();
  }

  /** Sign a checkpoint of the durable state now. */
  private startCheckpoint(): void {
    if (this.durableSize === this.lastCheckpointSize) return;
    const cp = signCheckpoint(this.key, { size: this.durableSize, rootHash: foldRoot(this.writer.durableFrontier), lastHash: this.writer.durableLast, timestamp: Date.now() });
    this.lastCheckpointSize = cp.size;
    const prev = this.checkpointing;
    this.checkpointing = (async () => {
      await prev;
      try {
        await this.store.putCheckpoint(cp.size, JSON.stringify(cp));
      } catch (e) {
        this.writer.fail(this.writer.unavailable(`audit checkpoint write failed: ${(e as Error).message}`, e));
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
    if (this.writer.failed) throw this.writer.failed;
    if (this.durableSize !== this.lastCheckpointSize) this.startCheckpoint();
    await this.checkpointing;
    if (this.writer.failed) throw this.writer.failed;
    const latest = await this.latestCheckpoint();
    if (latest) return latest;
    // An empty log: sign its (empty) head once.
    const cp = signCheckpoint(this.key, { size: 0, rootHash: foldRoot(this.writer.durableFrontier), lastHash: this.writer.durableLast, timestamp: Date.now() });
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
    if (size === this.durableSize) return foldRoot(this.writer.durableFrontier);
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
    this.writer.close();
    if (this.timer) clearInterval(this.timer);
    await this.drain();
    if (!this.writer.failed && this.durableSize !== this.lastCheckpointSize) this.startCheckpoint();
    await this.checkpointing;
    this.writer.retire();
    await this.store.close();
  }
}
