/**
 * A verification worker (see `hash-pool.ts`): hashes a block's records and runs the per-record
 * checks on them, so the main thread only links blocks together and builds the tree.
 */
import { parentPort } from 'node:worker_threads';
import { batchHasher } from './batch-hash.js';
import { scanRecords } from './verifier.js';

/** A job: one block's records. */
export interface VerifyJob {
  readonly id: number;
  readonly data: Uint8Array;
  readonly offsets: Uint32Array;
  readonly lengths: Uint32Array;
  readonly storedAt: Uint32Array;
  readonly firstSeq: number;
}

/** The answer: the leaf hashes, and whether every record passed (but the first one's link). */
export interface VerifyResult {
  readonly id: number;
  readonly hashes?: Uint8Array;
  readonly good?: boolean;
  readonly error?: string;
}

parentPort?.on('message', (job: VerifyJob) => {
  try {
    const n = job.offsets.length;
    const hashes = new Uint8Array(32 * n);
    batchHasher().hashMany(job.data, job.offsets, job.lengths, n, hashes);
    const good = scanRecords(job.data, job.offsets, job.lengths, n, job.firstSeq, job.storedAt, hashes, undefined) === n;
    parentPort!.postMessage({ id: job.id, hashes, good } satisfies VerifyResult, [hashes.buffer]);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) } satisfies VerifyResult);
  }
});
