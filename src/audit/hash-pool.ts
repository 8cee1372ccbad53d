/**
 * Verification on other cores: the records are all known up front, so while the main thread
 * links one block to the previous and extends the tree, workers hash and check the next ones.
 *
 * @example
 * ```ts
 * const pool = new HashPool(1);
 * const { hashes, good } = await pool.check(block, blockLayout(block), firstSeq);
 * await pool.close();
 * ```
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { BlockLayout } from './block.js';
import type { VerifyJob, VerifyResult } from './verify-worker.js';

/**
 * Default workers: one per core, at most four; none on a single core or when running from
 * sources. The main thread's share (linking blocks, the tree) is small, so it mostly waits.
 */
export function defaultHashWorkers(): number {
  const cores = availableParallelism();
  return available && cores > 1 ? Math.min(4, cores) : 0;
}

interface Job {
  readonly resolve: (r: { hashes: Uint8Array; good: boolean }) => void;
  readonly reject: (e: Error) => void;
}

/** The worker module, when running from the built package (not from TypeScript sources). */
const WORKER_URL = new URL('./verify-worker.js', import.meta.url);
const available = existsSync(fileURLToPath(WORKER_URL));

/** A few hashing workers, used round-robin. */
export class HashPool {
  private readonly workers: Worker[] = [];
  private readonly jobs = new Map<number, Job>();
  private nextId = 0;
  private turn = 0;

  constructor(size: number) {
    for (let i = 0; i < (available ? size : 0); i++) {
      const w = new Worker(WORKER_URL);
      w.on('message', (m: VerifyResult) => {
        const job = this.jobs.get(m.id);
        if (!job) return;
        this.jobs.delete(m.id);
        if (m.hashes) job.resolve({ hashes: m.hashes, good: m.good === true });
        else job.reject(new Error(`verification worker: ${m.error}`));
      });
      w.on('error', (e) => this.failAll(e));
      this.workers.push(w);
    }
  }

  /** Number of workers (0: hash on the calling thread). */
  get size(): number {
    return this.workers.length;
  }

  private failAll(e: Error): void {
    for (const j of this.jobs.values()) j.reject(e);
    this.jobs.clear();
  }

  /**
   * Leaf hashes (32 bytes each) of a block's records, and whether they pass the per-record
   * checks (`scanRecords`, all but the first record's link to the block before).
   */
  check(data: Uint8Array, layout: BlockLayout, firstSeq: number): Promise<{ hashes: Uint8Array; good: boolean }> {
    const w = this.workers[this.turn++ % this.workers.length]!;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.jobs.set(id, { resolve, reject });
      w.postMessage({ id, data, offsets: layout.inputAt, lengths: layout.inputLength, storedAt: layout.hashAt, firstSeq } satisfies VerifyJob);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
