/**
 * Verification on other cores: the records are all known up front, so while the main thread
 * links one block to the previous and extends the tree, workers parse, hash and check the next
 * ones. The pool never makes the main thread wait for a worker to start or to have room: when
 * no started worker has room, {@link HashPool.offer} declines and the caller does the block
 * itself, which is also how the work is shared on a machine with few cores.
 *
 * @example
 * ```ts
 * const pool = new HashPool(2);
 * const job = pool.offer(block, firstSeq); // undefined: do it here
 * const result = await job; // { block, layout, check } or { block, malformed }
 * await pool.close();
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
 * main thread is often busy with a block of its own then), few enough that the work stays
 * shared.
 */
const IN_FLIGHT = 3;

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

  constructor(size: number) {
    for (let i = 0; i < (available ? size : 0); i++) {
      const worker = new Worker(WORKER_URL);
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
        slot.inFlight--;
        if (m.block && m.malformed !== undefined) job.resolve({ block: m.block, malformed: m.malformed });
        else if (m.block && m.layout && m.check) job.resolve({ block: m.block, layout: m.layout, check: m.check });
        else job.reject(new Error(`verification worker: ${m.error}`));
      });
      worker.on('error', (e) => {
        // A dead worker takes no more blocks; the ones it held fail the verification run.
        slot.ready = false;
        started();
        this.failAll(e);
      });
      this.slots.push(slot);
    }
  }

  /** Resolves once every worker has started (until then, {@link offer} uses those that have). */
  async ready(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.started));
  }

  /** Number of workers (0: everything happens on the calling thread). */
  get size(): number {
    return this.slots.length;
  }

  private failAll(e: Error): void {
    for (const j of this.jobs.values()) j.reject(e);
    this.jobs.clear();
  }

  /**
   * Hand a block to a started worker with room, or return undefined (the caller checks it
   * itself). The block is transferred when it owns its buffer (it is unusable here until the
   * result gives it back), copied otherwise.
   */
  offer(block: Uint8Array, firstSeq: number): Promise<CheckedBlock> | undefined {
    let slot: Slot | undefined;
    for (let k = 0; k < this.slots.length && !slot; k++) {
      const s = this.slots[(this.turn + k) % this.slots.length]!;
      if (s.ready && s.inFlight < IN_FLIGHT) slot = s;
    }
    if (!slot) return undefined;
    this.turn++;
    slot.inFlight++;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      const send = (b: Uint8Array) => slot.worker.postMessage({ id, block: b, firstSeq } satisfies VerifyJob, [b.buffer as ArrayBuffer]);
      try {
        send(ownsBuffer(block) ? block : new Uint8Array(block));
      } catch {
        // A buffer that cannot be detached (memory owned by native code): send a copy.
        send(new Uint8Array(block));
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
