/**
 * The block pipeline of `verify`: every stored block from a sequence number on, read, parsed,
 * hashed and checked, then linked to the block before and added to the tree, in order.
 *
 * Three stages overlap: LevelDB reads the next ranges of blocks on its threads; the hashing
 * workers (`hash-pool.ts`) parse, hash and check blocks; this thread links them in order and
 * extends the tree. Blocks are handed to a worker whenever one has room — when a block arrives,
 * and as soon as a worker answers — not only when they are read: reads come in bursts of a dozen
 * blocks, and those the workers had no room for were left to this thread, which then did most
 * of the hashing while the workers idled half the time. This thread checks a block itself only
 * when no worker can take it (none has started yet, or there are none).
 */
import { blockHeader, blockLayout, BlockFormatError, type BlockLayout } from './block.js';
import type { CheckedBlock, HashPool } from './hash-pool.js';
import { decodeRecord } from './record.js';
import type { AuditStore } from './store.js';
import { checkLeaves, type LeafCheck, type Problem, type StreamVerifier } from './verifier.js';

/** A block on its way through the pipeline. */
interface Item {
  readonly firstSeq: number;
  /** The block; detached while a worker holds it (its answer gives it back). */
  readonly block: Uint8Array;
  /** The worker's job, once one took the block. */
  job?: Promise<CheckedBlock>;
  /** The parse and leaf check, once done (here, or answered by a worker). */
  result?: CheckedBlock;
}

/** Parse, hash and check a block on this thread (what a worker does). */
function checkHere(block: Uint8Array, firstSeq: number): CheckedBlock {
  try {
    const layout = blockLayout(block);
    return { block, layout, check: checkLeaves(block, layout, firstSeq) };
  } catch (e) {
    if (!(e instanceof BlockFormatError)) throw e;
    return { block, malformed: e.message };
  }
}

/**
 * Feed every stored block from `from` on to `v`, stopping at the first problem (in
 * `v.problem`); problems that do not stop the walk (an edited block header) go to `problems`.
 * With `deep`, every record is also decoded and its fields checked.
 */
export async function walkBlocks(
  store: AuditStore,
  v: StreamVerifier,
  from: number,
  pool: HashPool | undefined,
  deep: boolean,
  problems: Problem[],
  onBlock?: (firstSeq: number, block: Uint8Array) => void,
): Promise<void> {
  const window: Item[] = [];
  // Offer the blocks no one has taken, oldest first, until the workers are full.
  const assign = (): void => {
    if (!pool) return;
    for (const item of window) {
      if (item.job || item.result) continue;
      const job = pool.offer(item.block, item.firstSeq);
      if (!job) return;
      item.job = job;
      job.then(
        (r) => {
          item.result = r;
          assign();
        },
        () => undefined, // awaited (and thrown) where the block is linked
      );
    }
  };
  // The oldest block's check: a worker's answer, or done here when no worker could take it
  // (none has started yet, or none runs). Never the workers' share, though this thread waits
  // meanwhile: it has the reads, the links and the tree to do, and on a machine with as many
  // cores as workers, checking blocks here too only took cores from them (A/B: ~10% slower).
  const next = async (): Promise<CheckedBlock> => {
    const head = window[0]!;
    if (head.result) return head.result;
    if (head.job) return await head.job;
    return (head.result = checkHere(head.block, head.firstSeq));
  };
  const link = async (): Promise<boolean> => {
    const r = await next();
    const item = window.shift()!;
    return linkBlock(v, item.firstSeq, r, deep, problems);
  };
  const ahead = 8 * Math.max(1, pool?.size ?? 0);
  try {
    let going = true;
    for await (const { firstSeq, block } of store.blocks({ from })) {
      if (firstSeq < from) continue;
      // A reader of the same blocks (a compliance report's facts) sees each once, before it goes
      // to a worker; what it does with it is its own affair and never the verification's.
      try {
        onBlock?.(firstSeq, block);
      } catch {
        // ignored
      }
      window.push({ firstSeq, block });
      assign();
      if (window.length > ahead && !(going = await link())) break;
    }
    while (going && window.length > 0) going = await link();
  } finally {
    for (const item of window) item.job?.catch(() => undefined);
  }
}

/** Link one checked block to the verified records before it and extend the tree. */
function linkBlock(v: StreamVerifier, firstSeq: number, r: CheckedBlock, deep: boolean, problems: Problem[]): boolean {
  if (firstSeq !== v.size) {
    v.problem ??=
      firstSeq > v.size
        ? { code: 'RECORD_MISSING', seq: v.size, message: `records ${v.size}..${firstSeq - 1} are missing` }
        : { code: 'RECORD_MISPLACED', seq: firstSeq, message: `a block starting at ${firstSeq} overlaps records before ${v.size}` };
    return false;
  }
  if (r.malformed !== undefined) {
    v.problem ??= { code: 'MALFORMED', seq: firstSeq, message: `block at ${firstSeq}: ${r.malformed}` };
    return false;
  }
  const { block, layout, check } = r;
  if (!v.feedMany(block, layout.inputAt, layout.inputLength, layout.count, layout.hashAt, check)) return false;
  const span = spanProblem(block, layout, check.times, firstSeq);
  if (span) problems.push(span);
  if (deep) {
    const dec = new TextDecoder();
    for (let i = 0; i < layout.count; i++) {
      try {
        decodeRecord(dec.decode(block.subarray(layout.inputAt[i]! + 1, layout.inputAt[i]! + layout.inputLength[i]!)), '');
      } catch (err) {
        v.problem ??= { code: 'MALFORMED', seq: firstSeq + i, message: `record ${firstSeq + i}: ${(err as Error).message}` };
        return false;
      }
    }
  }
  return true;
}

/**
 * The block header's time span (what time-range queries use to skip blocks) against its
 * records' timestamps: the header is not hashed, so this is what catches an edit of it.
 */
function spanProblem(block: Uint8Array, layout: BlockLayout, times: LeafCheck['times'], firstSeq: number): Problem | undefined {
  let { min, max } = times;
  if (times.odd > 0) {
    // Timestamps JSON writes in another form than plain digits (1e+21): read them all slowly.
    const dec = new TextDecoder();
    for (let i = 0; i < layout.count; i++) {
      let t: unknown;
      try {
        t = (JSON.parse(dec.decode(block.subarray(layout.inputAt[i]! + 1, layout.inputAt[i]! + layout.inputLength[i]!))) as { timestamp?: unknown }).timestamp;
      } catch {
        t = undefined;
      }
      if (typeof t !== 'number') return { code: 'MALFORMED', message: `record ${firstSeq + i} has no readable timestamp` };
      min = Math.min(min, t);
      max = Math.max(max, t);
    }
  }
  if (layout.count === 0) min = max = 0;
  const h = blockHeader(block);
  if (h.minTs === min && h.maxTs === max) return undefined;
  return { code: 'MALFORMED', message: `the block at ${firstSeq} says its records span ${h.minTs}..${h.maxTs} ms, but they span ${min}..${max}: its header was edited (time-range queries may skip records)` };
}
