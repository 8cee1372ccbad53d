/**
 * Verification on other cores: the records are all known up front, so while the main thread
 * links one block to the previous and extends the tree, workers parse, hash and check the next
 * ones. The pool never makes the main thread wait for a worker to start or to have room: when
 * no started worker has room, {@link HashPool.offer} declines, and the caller offers the block
 * again once a worker answers (see `verify-blocks.ts`), or does it itself.
 *
 * Booting a worker (a V8 isolate, Node's internals, our modules, the wasm hasher) costs tens of
 * milliseconds of CPU, as much as verifying ~50,000 records. {@link sharedHashPool} keeps one
 * pool for the process, reused by every verification and ended after a few idle seconds; its
 * threads never keep the process alive while they have nothing to do.
 *
 * @example
 * ```ts
 * const pool = sharedHashPool(2);
 * const job = pool.offer(block, firstSeq); // undefined: do it here
 * const result = await job; // { block, layout, check } or { block, malformed }
 * ```
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BlockLayout } from './block.js';
import type { LeafCheck } from './verifier.js';
import type { VerifyJob, VerifyResult } from './verify-worker.js';

/**
 * Default workers: one per core, at most four; none on a single core or when running from
 * sources. The main thread takes blocks too whenever the workers are busy.
 */
export function defaultHashWorkers(): number {
  const cores = availableParallelism();
  return available && cores > 1 ? Math.min(4, cores) : 0;
}

/** A block a worker parsed and checked. */
export type CheckedBlock =
  | { readonly block: Uint8Array; readonly layout: BlockLayout; readonly check: LeafCheck; readonly malformed?: undefined }
  | { readonly block: Uint8Array; readonly malformed: string };

interface Pending {
  readonly slot: Slot;
  readonly resolve: (r: CheckedBlock) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  ready: boolean;
  inFlight: number;
  readonly started: Promise<void>;
}

/** The worker module, when running from the built package (not from TypeScript sources). */
const WORKER_URL = new URL('./verify-worker.js', import.meta.url);
const available = existsSync(fileURLToPath(WORKER_URL));

/**
 * Blocks a worker may hold at once: enough that it has the next one when it finishes one (the
 * main thread, busy linking blocks and building the tree, sees the answer and hands over the
 * next block only between its own work), few enough that the work stays shared.
 */
const IN_FLIGHT = 3;

/** How long the shared pool outlives its last job. */
const SHARED_IDLE_MS = 5000;

/** Whether `b` is the only view of its buffer (then it can be transferred, not copied). */
function ownsBuffer(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer;
}

/** A few hashing workers. */
export class HashPool {
  private readonly slots: Slot[] = [];
  private readonly jobs = new Map<number, Pending>();
  private nextId = 0;
  private turn = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private ended = false;

  /**
   * @param size - workers to start (none when running from sources).
   * @param idleMs - if given, the pool ends itself this long after its last job, and its
   *   threads keep the process alive only while they hold jobs.
   */
  constructor(
    size: number,
    private readonly idleMs?: number,
  ) {
    this.grow(size);
  }

  /** Start workers until there are `size`. */
  grow(size: number): void {
    while (available && !this.ended && this.slots.length < size) this.slots.push(this.start());
    this.idle();
  }

  private start(): Slot {
    const worker = new Worker(WORKER_URL);
    if (this.idleMs !== undefined) worker.unref();
    let started!: () => void;
    const slot: Slot = { worker, ready: false, inFlight: 0, started: new Promise((r) => (started = r)) };
    worker.on('message', (m: VerifyResult | { ready: true }) => {
      if ('ready' in m) {
        slot.ready = true;
        started();
        return;
      }
      const job = this.jobs.get(m.id);
      if (!job) return;
      this.jobs.delete(m.id);
      this.settled(slot);
      if (m.block && m.malformed !== undefined) job.resolve({ block: m.block, malformed: m.malformed });
      else if (m.block && m.layout && m.check) job.resolve({ block: m.block, layout: m.layout, check: m.check });
      else job.reject(new Error(`verification worker: ${m.error}`));
    });
    // A dead worker takes no more blocks; the ones it held fail their verification runs.
    const dead = (e: Error) => {
      slot.ready = false;
      started();
      for (const [id, j] of this.jobs) {
        if (j.slot !== slot) continue;
        this.jobs.delete(id);
        j.reject(e);
      }
    };
    worker.on('error', dead);
    worker.on('exit', (code) => dead(new Error(`verification worker exited (${code})`)));
    return slot;
  }

  /** Resolves once every worker has started (until then, {@link offer} uses those that have). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.started));
  }

  /** Number of workers (0: everything happens on the calling thread). */
  get size(): number {
    return this.slots.length;
  }

  /** Whether the pool has ended (closed, or idle too long); it takes no more jobs then. */
  get closed(): boolean {
    return this.ended;
  }

  /**
   * Hand a block to a started worker with room, or return undefined (the caller checks it
   * itself). The block is transferred when it owns its buffer (it is unusable here until the
   * result gives it back), copied otherwise.
   */
  offer(block: Uint8Array, firstSeq: number): Promise<CheckedBlock> | undefined {
    if (this.ended) return undefined;
    let slot: Slot | undefined;
    for (let k = 0; k < this.slots.length && !slot; k++) {
      const s = this.slots[(this.turn + k) % this.slots.length]!;
      if (s.ready && s.inFlight < IN_FLIGHT) slot = s;
    }
    if (!slot) return undefined;
    this.turn++;
    // A worker with a job keeps the process alive: someone awaits its answer.
    if (slot.inFlight++ === 0 && this.idleMs !== undefined) slot.worker.ref();
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { slot, resolve, reject });
      const send = (b: Uint8Array) => slot.worker.postMessage({ id, block: b, firstSeq } satisfies VerifyJob, [b.buffer as ArrayBuffer]);
      try {
        send(ownsBuffer(block) ? block : new Uint8Array(block));
      } catch {
        // A buffer that cannot be detached (memory owned by native code): send a copy.
        send(new Uint8Array(block));
      }
    });
  }

  private settled(slot: Slot): void {
    if (--slot.inFlight === 0 && this.idleMs !== undefined) slot.worker.unref();
    this.idle();
  }

  /** With an idle limit and no job out, (re)start the countdown to ending the pool. */
  private idle(): void {
    if (this.idleMs === undefined || this.ended || this.jobs.size > 0) return;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.close(), this.idleMs);
    this.idleTimer.unref();
  }

  async close(): Promise<void> {
    this.ended = true;
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

let shared: HashPool | undefined;

/**
 * The process's shared pool with at least `size` workers (see the module doc): reused by every
 * verification, ended after a few idle seconds, never holding the process open while idle.
 */
export function sharedHashPool(size: number): HashPool {
  if (!shared || shared.closed) shared = new HashPool(size, SHARED_IDLE_MS);
  else shared.grow(size);
  return shared;
}
