/**
 * `verify`: walk a stored log and report the first thing wrong with it.
 *
 * What it detects, and how:
 * - an edited record: its bytes no longer hash to the hash stored beside them (`RECORD_EDITED`),
 *   or, if that was recomputed too, the next record no longer chains to it (`CHAIN_BROKEN`), or,
 *   if the whole tail was rewritten, the signed checkpoints no longer match (`CHECKPOINT_MISMATCH`);
 * - swapped or reordered records: a record's own sequence number differs from its position
 *   (`RECORD_MISPLACED`); a gap: `RECORD_MISSING`;
 * - a deleted tail: the head or a signed checkpoint covers more records than are stored
 *   (`TAIL_DELETED`); if the head and checkpoints were deleted too, only a checkpoint held
 *   elsewhere (a witness, `--trusted`) can tell (`ROLLBACK`);
 * - a rollback to an older, validly signed copy of the store: a trusted checkpoint is larger
 *   (`ROLLBACK`), or covers records the store has differently (`FORK`);
 * - a checkpoint copied from another log (`CHECKPOINT_FOREIGN`) or with its log id edited
 *   (`CHECKPOINT_SIGNATURE`);
 * - a forged leaf posing as an inner node: leaves and nodes are hashed with different prefixes,
 *   and every stored entry must be a leaf (`MALFORMED`); stored inner nodes are recomputed
 *   (`NODE_MISMATCH`);
 * - an edited block header: its time span, which queries use to skip blocks and no hash covers,
 *   no longer matches its records' timestamps (`MALFORMED`, naming no record).
 *
 * Records of both layouts (`record.ts`) are checked, each by its own, in the same log.
 */
import { defaultHashWorkers, sharedHashPool, type HashPool } from './hash-pool.js';
import { verifyCheckpoint, Witness, type Checkpoint } from './checkpoint.js';
import { equalBytes, fromHex, isHashHex, toHex } from './hash.js';
import { decodeHead } from './head.js';
import { foldRoot, Frontier, popcount } from './merkle.js';
import { STORED_LEVEL_STEP, type Anchor } from './source.js';
import type { AuditStore } from './store.js';
import { genesis, StreamVerifier, type Problem, type StartState } from './verifier.js';
import { walkBlocks } from './verify-blocks.js';

/** Options of {@link verifyStore}. */
export interface VerifyOptions {
  /** Checkpoints held outside the store (a witness's, an earlier export's). */
  readonly trusted?: readonly Checkpoint[];
  /** A witness directory: its latest checkpoint for this log is trusted. */
  readonly witness?: string;
  /** The public key to trust (raw 32 bytes). Default: the one recorded in the store. */
  readonly publicKey?: Uint8Array;
  /** Also parse every record as JSON and check its fields (slower). */
  readonly deep?: boolean;
  /**
   * Worker threads that hash and check records while this thread links them (the process's
   * shared pool, kept a few seconds after the last verification). Default: one per core (at
   * most 4) on a multi-core machine; 0 does everything here.
   */
  readonly hashWorkers?: number;
  /**
   * Shown every block the verification reads, before it is checked (its first sequence number
   * and its bytes, which the callee must not keep or change): one read of the log for the
   * verification and another pass (a compliance report's facts). Its errors are ignored.
   */
  readonly onBlock?: (firstSeq: number, block: Uint8Array) => void;
}

/** The result of a verification. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly logId: string;
  /** Records verified, counting from `base`. */
  readonly size: number;
  /** Records before this were pruned (verified from the retention anchor). */
  readonly base: number;
  readonly rootHash: string;
  readonly checkpoints: number;
  readonly trustedCheckpoints: number;
  /** The first bad sequence number, when a record is at fault. */
  readonly firstBad?: number;
  readonly problems: readonly Problem[];
  readonly durationMs: number;
}

/** Parse and check the anchor into a start state, or report why it is unusable. */
export function anchorStart(anchor: Anchor, publicKey: Uint8Array): StartState | Problem {
  const cp = anchor.checkpoint;
  const check = verifyCheckpoint(cp, publicKey);
  if (!check.ok) return { code: 'ANCHOR_INVALID', message: `retention anchor: ${check.reason}` };
  if (!Array.isArray(anchor.frontier) || anchor.frontier.length !== popcount(cp.size) || !anchor.frontier.every(isHashHex)) {
    return { code: 'ANCHOR_INVALID', message: 'retention anchor frontier is malformed' };
  }
  const frontier = anchor.frontier.map(fromHex);
  if (toHex(foldRoot(frontier)) !== cp.rootHash) return { code: 'ANCHOR_INVALID', message: 'retention anchor frontier does not fold to its signed root' };
  return { size: cp.size, lastHash: fromHex(cp.lastHash), frontier: new Frontier(frontier, cp.size) };
}

/** Check checkpoints against a key: good ones by size, bad ones as problems. */
export function sortCheckpoints(list: readonly unknown[], publicKey: Uint8Array, label: string, problems: Problem[]): Map<number, Checkpoint> {
  const out = new Map<number, Checkpoint>();
  for (const cp of list) {
    const c = verifyCheckpoint(cp, publicKey);
    const size = (cp as Checkpoint | null)?.size;
    if (!c.ok) {
      problems.push({ code: c.code, ...(Number.isSafeInteger(size) ? { checkpointSize: size } : {}), message: `${label} checkpoint${Number.isSafeInteger(size) ? ` at size ${size}` : ''}: ${c.reason}` });
      continue;
    }
    out.set((cp as Checkpoint).size, cp as Checkpoint);
  }
  return out;
}

/** Verify a store (see the module doc). Never throws for bad data; reports it. */
export async function verifyStore(store: AuditStore, options: VerifyOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  // The process's workers, kept between verifications; if they are not running yet, they boot
  // (tens of milliseconds) while the meta and the checkpoints are read.
  const workers = options.hashWorkers ?? defaultHashWorkers();
  return verifyWith(store, options, workers > 0 ? sharedHashPool(workers) : undefined, started);
}

async function verifyWith(store: AuditStore, options: VerifyOptions, pool: HashPool | undefined, started: number): Promise<VerifyReport> {
  const problems: Problem[] = [];
  let meta: Record<string, unknown> | undefined;
  try {
    meta = await store.getMeta();
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e; // the store cannot be read: not a verdict on its data
    meta = undefined; // not JSON: reported below as a store with no valid meta record
  }
  const report = (v: StreamVerifier | undefined, base: number, logId: string, counts: [number, number]): VerifyReport => {
    const firstBad = problems.find((p) => p.seq !== undefined)?.seq;
    return {
      ok: problems.length === 0,
      logId,
      size: v?.size ?? 0,
      base,
      rootHash: v ? toHex(v.root()) : '',
      checkpoints: counts[0],
      trustedCheckpoints: counts[1],
      ...(firstBad !== undefined ? { firstBad } : {}),
      problems,
      durationMs: performance.now() - started,
    };
  };
  const metaKey = typeof meta?.['publicKey'] === 'string' && isHashHex(meta['publicKey']) ? fromHex(meta['publicKey']) : undefined;
  const logId = typeof meta?.['logId'] === 'string' ? meta['logId'] : '';
  // The genesis is the log id's bytes: a log id that is not a hash leaves nothing to start from.
  if (!metaKey || !isHashHex(logId)) {
    problems.push({ code: 'MALFORMED', message: 'the store has no valid meta record (log id and public key): not an audit store, or damaged' });
    return report(undefined, 0, logId, [0, 0]);
  }
  if (options.publicKey && !equalBytes(options.publicKey, metaKey)) {
    problems.push({ code: 'KEY_MISMATCH', message: 'the store names a different public key than the trusted one: the store was replaced or its meta record edited' });
    return report(undefined, 0, logId, [0, 0]);
  }
  const publicKey = options.publicKey ?? metaKey;

  let start: StartState = genesis(fromHex(logId));
  const anchorJson = await store.getAnchor();
  if (anchorJson !== undefined) {
    let a: StartState | Problem;
    try {
      a = anchorStart(JSON.parse(anchorJson) as Anchor, publicKey);
    } catch {
      a = { code: 'ANCHOR_INVALID', message: 'retention anchor is not JSON' };
    }
    if ('code' in a) {
      problems.push(a);
      return report(undefined, 0, logId, [0, 0]);
    }
    start = a;
  }

  const stored: unknown[] = [];
  for await (const c of store.checkpoints()) {
    try {
      stored.push(JSON.parse(c.json));
    } catch {
      problems.push({ code: 'CHECKPOINT_MALFORMED', checkpointSize: c.size, message: `stored checkpoint at size ${c.size} is not JSON` });
    }
  }
  const checkpoints = sortCheckpoints(stored, publicKey, 'stored', problems);
  for (const [size, cp] of checkpoints) {
    if (size < start.size) checkpoints.delete(size);
    else if (size === start.size && start.size > 0 && cp.rootHash !== toHex(start.frontier.root())) {
      problems.push({ code: 'ANCHOR_INVALID', checkpointSize: size, message: `the retention anchor disagrees with the checkpoint at size ${size}` });
    }
  }
  const trustedList: unknown[] = [...(options.trusted ?? [])];
  if (options.witness !== undefined) {
    try {
      const w = await new Witness(options.witness).latest(logId);
      if (w) trustedList.push(w);
      else problems.push({ code: 'ROLLBACK', message: `witness ${options.witness} holds no checkpoint for log ${logId.slice(0, 16)}…: nothing to compare with (was the log replaced?)` });
    } catch (e) {
      problems.push({ code: 'CHECKPOINT_MALFORMED', message: `witness ${options.witness}: ${(e as Error).message}` });
    }
  }
  const trusted = sortCheckpoints(trustedList, publicKey, 'trusted', problems);

  const v = new StreamVerifier(start, checkpoints, new Map([...trusted].filter(([s]) => s >= start.size)), { keepNodes: true, nodeStep: STORED_LEVEL_STEP });
  v.reached(start.size);
  await walkBlocks(store, v, start.size, pool, options.deep === true, problems, options.onBlock);
  if (v.problem) problems.push(v.problem);
  else await endChecks(store, v, checkpoints, trusted, problems);
  problems.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
  return report(v, start.size, logId, [checkpoints.size, trusted.size]);
}

async function endChecks(store: AuditStore, v: StreamVerifier, checkpoints: Map<number, Checkpoint>, trusted: Map<number, Checkpoint>, problems: Problem[]): Promise<void> {
  const n = v.size;
  const headBytes = await store.getHead();
  if (headBytes) {
    try {
      const head = decodeHead(headBytes);
      if (head.size > n) problems.push({ code: 'TAIL_DELETED', seq: n, message: `the head records ${head.size} records but only ${n} are stored: records ${n}..${head.size - 1} were deleted` });
      else if (head.size < n || !equalBytes(head.lastHash, v.last) || toHex(foldRoot(head.frontier)) !== toHex(v.root())) {
        problems.push({ code: 'HEAD_MISMATCH', seq: Math.min(head.size, n), message: `the head (size ${head.size}) does not describe the stored records (${n}): the head or the tail was edited` });
      }
    } catch (e) {
      problems.push({ code: 'HEAD_MISMATCH', message: `the head is unreadable: ${(e as Error).message}` });
    }
  } else if (n > 0) {
    problems.push({ code: 'HEAD_MISMATCH', message: `records are stored but the head is missing` });
  }
  const beyond = [...checkpoints.keys()].filter((s) => s > n).sort((a, b) => a - b);
  if (beyond.length > 0) {
    const s = beyond[beyond.length - 1]!;
    problems.push({ code: 'TAIL_DELETED', seq: n, checkpointSize: s, message: `a checkpoint is signed for ${s} records but only ${n} are stored: records ${n}..${s - 1} were deleted` });
  }
  const newestStored = Math.max(0, ...checkpoints.keys());
  for (const [s, cp] of trusted) {
    if (s <= n) continue;
    problems.push({
      code: 'ROLLBACK',
      seq: n,
      checkpointSize: s,
      message: `a trusted checkpoint (signed ${new Date(cp.timestamp).toISOString()}) covers ${s} records but the log has ${n} (its newest checkpoint: size ${newestStored}): the log was rolled back or its tail deleted`,
    });
  }
  for await (const node of store.nodes()) {
    const mine = v.computedNodes.get(node.level)?.[node.index];
    if (!mine) {
      if ((node.index + 1) * 2 ** node.level > n) problems.push({ code: 'NODE_MISMATCH', message: `stored Merkle node (level ${node.level}, index ${node.index}) lies beyond the ${n} stored records` });
      continue;
    }
    if (!equalBytes(mine, node.hash)) {
      problems.push({ code: 'NODE_MISMATCH', seq: node.index * 2 ** node.level, message: `stored Merkle node (level ${node.level}, index ${node.index}) does not match the records it covers` });
    }
  }
}
