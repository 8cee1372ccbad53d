/**
 * Retention: remove old records while keeping the rest verifiable.
 *
 * Pruning at size `n` signs a checkpoint at `n` and stores it as the anchor together with the
 * Merkle frontier at `n` (the roots of the perfect subtrees covering the removed records) in the
 * same atomic batch that deletes the old blocks. Verification then starts from the anchor: its
 * signature, its frontier folding to its signed root, and every later record chaining to its
 * `lastHash`. Roots and inclusion proofs of the remaining records still work (every subtree left
 * of the prune point that a proof needs is one of the frontier's); proofs about removed records
 * and consistency proofs from checkpoints older than the anchor do not.
 *
 * The prune point is rounded down to a block boundary (blocks are removed whole), and the
 * prune itself is recorded in the chain as an `audit_pruned` event.
 */
import { SandboxError } from '../errors.js';
import { blockHeader } from './block.js';
import { signCheckpoint } from './checkpoint.js';
import { toHex } from './hash.js';
import { foldRoot } from './merkle.js';
import type { AuditChain } from './chain.js';
import type { Anchor } from './source.js';

/** What to remove: records before a sequence number, or older than a time. */
export interface PruneOptions {
  /** Remove records with a sequence number below this. */
  readonly before?: number;
  /** Remove records whose block ends before this time (ms since the epoch). */
  readonly olderThan?: number;
  /** Who asked (recorded in the `audit_pruned` event). Default `api`. */
  readonly by?: string;
}

/** What a prune did. */
export interface PruneResult {
  /** The new first record (the anchor's size); unchanged when nothing was removed. */
  readonly base: number;
  readonly removedRecords: number;
  readonly removedBlocks: number;
}

/** Prune the chain (see the module doc). The chain must be open for writing. */
export async function pruneChain(chain: AuditChain, options: PruneOptions): Promise<PruneResult> {
  if ((options.before === undefined) === (options.olderThan === undefined)) throw new TypeError('give exactly one of before or olderThan');
  await chain.drain();
  if (chain.failed) throw chain.failed;
  const store = chain.store;
  const base = chain.source.base;
  // The prune point: the first block that must stay.
  let target = base;
  for await (const { firstSeq, block } of store.blocks({ from: base })) {
    const h = blockHeader(block);
    const stop = options.before !== undefined ? firstSeq + h.count > options.before : h.maxTs >= options.olderThan!;
    if (stop) break;
    target = firstSeq + h.count;
  }
  target = Math.min(target, chain.size);
  if (target <= base) return { base, removedRecords: 0, removedBlocks: 0 };
  const frontier = await chain.source.frontierAt(target);
  const lastHash = await chain.source.leaf(target - 1);
  const cp = signCheckpoint(chain.key_(), { size: target, rootHash: foldRoot(frontier), lastHash, timestamp: Date.now() });
  const anchor: Anchor = { checkpoint: cp, frontier: frontier.map(toHex) };
  // The anchor is also an ordinary checkpoint (consistency proofs from it keep working).
  await store.putCheckpoint(target, JSON.stringify(cp));
  let removed: { blocks: number };
  try {
    removed = await store.prune(target, JSON.stringify(anchor));
  } catch (e) {
    throw new SandboxError('AUDIT_UNAVAILABLE', `prune failed: ${(e as Error).message}`, {}, { cause: e });
  }
  chain.rebase_(anchor);
  await chain.append({
    eventType: 'audit_pruned',
    agentId: '',
    source: 'audit',
    action: 'prune',
    resource: chain.logId,
    outcome: 'success',
    details: { removedRecords: target - base, newBase: target, anchorRoot: cp.rootHash, by: options.by ?? 'api' },
  });
  await store.compact().catch(() => undefined);
  return { base: target, removedRecords: target - base, removedBlocks: removed.blocks };
}
