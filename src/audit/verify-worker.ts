/**
 * A verification worker (see `hash-pool.ts`): parses a block, hashes its records and runs the
 * per-record checks on them, so the main thread only links blocks together and builds the tree.
 * The block comes in transferred and goes back the same way, with the layout and the hashes.
 */
import { parentPort } from 'node:worker_threads';
import { batchHasher } from './batch-hash.js';
import { blockLayout, BlockFormatError, type BlockLayout } from './block.js';
import { checkLeaves, type LeafCheck } from './verifier.js';

/** A job: one block (its own buffer) and the sequence number of its first record. */
export interface VerifyJob {
  readonly id: number;
  readonly block: Uint8Array;
  readonly firstSeq: number;
}

/** The answer: the block back, and its layout with the leaf check, or why it does not parse. */
export interface VerifyResult {
  readonly id: number;
  readonly block?: Uint8Array;
  readonly layout?: BlockLayout;
  readonly check?: LeafCheck;
  /** The block does not parse (a `BlockFormatError` message). */
  readonly malformed?: string;
  /** Something else went wrong. */
  readonly error?: string;
}

parentPort?.on('message', (job: VerifyJob) => {
  const { block } = job;
  try {
    let layout: BlockLayout;
    try {
      layout = blockLayout(block);
    } catch (e) {
      if (!(e instanceof BlockFormatError)) throw e;
      parentPort!.postMessage({ id: job.id, block, malformed: e.message } satisfies VerifyResult, [block.buffer as ArrayBuffer]);
      return;
    }
    const check = checkLeaves(block, layout, job.firstSeq);
    const transfer = [block.buffer, check.hashes.buffer, layout.hashAt.buffer, layout.inputAt.buffer, layout.inputLength.buffer] as ArrayBuffer[];
    parentPort!.postMessage({ id: job.id, block, layout, check } satisfies VerifyResult, transfer);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) } satisfies VerifyResult);
  }
});
// Tells the pool this thread has loaded its code and the wasm hasher: jobs sent before would
// wait for that, while the main thread could have done them.
batchHasher();
parentPort?.postMessage({ ready: true });
