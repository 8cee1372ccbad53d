/**
 * The streaming part of verification: feed records in order and it checks each one's position,
 * its link to the previous record, its hash, and every checkpoint it reaches. Used on a store
 * (`verify.ts`) and on an exported file.
 */
import { equalBytes, HASH_LEN, sha256, toHex } from './hash.js';
import { Frontier } from './merkle.js';
import { peekHeader } from './record.js';
import type { Checkpoint } from './checkpoint.js';

/** Stable codes of verification problems. */
export type ProblemCode =
  | 'MALFORMED'
  | 'RECORD_EDITED'
  | 'RECORD_MISPLACED'
  | 'RECORD_MISSING'
  | 'CHAIN_BROKEN'
  | 'CHECKPOINT_MALFORMED'
  | 'CHECKPOINT_SIGNATURE'
  | 'CHECKPOINT_FOREIGN'
  | 'CHECKPOINT_MISMATCH'
  | 'TAIL_DELETED'
  | 'ROLLBACK'
  | 'FORK'
  | 'HEAD_MISMATCH'
  | 'NODE_MISMATCH'
  | 'ANCHOR_INVALID'
  | 'KEY_MISMATCH';

/** One problem found. `seq` is the first bad sequence number when a record is at fault. */
export interface Problem {
  readonly code: ProblemCode;
  readonly message: string;
  readonly seq?: number;
  readonly checkpointSize?: number;
}

/** Where a verification starts: genesis, or a retention anchor. */
export interface StartState {
  readonly size: number;
  readonly lastHash: Uint8Array;
  readonly frontier: Frontier;
}

const HEX = Buffer.from('0123456789abcdef');

/** Whether `b[at..at+64)` is the lower-case hex of `h`. */
function hexMatches(b: Uint8Array, at: number, h: Uint8Array): boolean {
  for (let i = 0; i < HASH_LEN; i++) {
    const x = h[i]!;
    if (b[at + 2 * i] !== HEX[x >> 4] || b[at + 2 * i + 1] !== HEX[x & 15]) return false;
  }
  return true;
}

/**
 * Feeds records one by one. `checkpoints` (already signature-checked) are compared when the
 * stream reaches their size; `trusted` ones (from a witness or a file) the same way, with
 * different wording when they disagree.
 */
export class StreamVerifier {
  private expected: number;
  private lastHash: Uint8Array;
  private readonly frontier: Frontier;
  /** Stored-level Merkle nodes computed on the way (for comparing with the stored ones). */
  readonly computedNodes = new Map<number, Uint8Array[]>();
  private readonly keepNodes: boolean;
  private readonly nodeStep: number;
  private readonly startSize: number;
  /** Size of the last checkpoint that matched (bad records lie after it). */
  private lastGood: number;
  problem: Problem | undefined;

  constructor(
    start: StartState,
    private readonly checkpoints: ReadonlyMap<number, Checkpoint>,
    private readonly trusted: ReadonlyMap<number, Checkpoint>,
    options: { keepNodes?: boolean; nodeStep?: number } = {},
  ) {
    this.expected = this.startSize = this.lastGood = start.size;
    this.lastHash = start.lastHash;
    this.frontier = start.frontier.clone();
    this.keepNodes = options.keepNodes ?? false;
    this.nodeStep = options.nodeStep ?? 4;
  }

  /** Records verified so far (the next expected sequence number). */
  get size(): number {
    return this.expected;
  }

  /** The hash of the last record verified (or the start's). */
  get last(): Uint8Array {
    return this.lastHash;
  }

  /** The tree head over everything verified. */
  root(): Uint8Array {
    return this.frontier.root();
  }

  /** The frontier over everything verified. */
  frontierNodes(): readonly Uint8Array[] {
    return this.frontier.nodes;
  }

  private fail(p: Problem): false {
    this.problem ??= p;
    return false;
  }

  /**
   * Verify the next record. `input` is `0x00 || canonical JSON`; `stored` is the hash kept
   * beside it in a block (absent for an export). Returns false (and sets `problem`) at the
   * first problem.
   */
  feed(input: Uint8Array, stored?: Uint8Array): boolean {
    const seq = this.expected;
    const hdr = peekHeader(input, 1);
    if (!hdr) return this.fail({ code: 'MALFORMED', seq, message: `record ${seq} is not a version-1 audit record` });
    if (hdr.seq !== seq) {
      return this.fail({ code: 'RECORD_MISPLACED', seq, message: `position ${seq} holds record ${hdr.seq}: records were swapped, reordered or inserted` });
    }
    const h = sha256(input);
    if (stored && !equalBytes(stored, h)) {
      return this.fail({ code: 'RECORD_EDITED', seq, message: `record ${seq} does not match its stored hash: its content was edited` });
    }
    if (!hexMatches(input, hdr.prevAt, this.lastHash)) {
      return this.fail({
        code: 'CHAIN_BROKEN',
        seq: seq === this.startSize ? seq : seq - 1,
        message: seq === 0 ? 'record 0 does not chain to this log\'s genesis (the log id): it comes from another log or was edited' : `record ${seq} does not chain to record ${seq - 1}: record ${seq - 1} was edited (hash recomputed) or record ${seq} was replaced`,
      });
    }
    if (this.keepNodes) {
      this.frontier.push(h, (level, index, node) => {
        if (level % this.nodeStep !== 0) return;
        let list = this.computedNodes.get(level);
        if (!list) this.computedNodes.set(level, (list = []));
        list[index] = node;
      });
    } else {
      this.frontier.push(h);
    }
    this.lastHash = h;
    this.expected = seq + 1;
    return this.reached(this.expected);
  }

  /** Compare the checkpoints at `size` (called after each record and once for the start). */
  reached(size: number): boolean {
    const cp = this.checkpoints.get(size);
    const tr = this.trusted.get(size);
    if (!cp && !tr) return true;
    const root = toHex(this.frontier.root());
    const last = toHex(this.lastHash);
    if (cp && (cp.rootHash !== root || cp.lastHash !== last)) {
      return this.fail({
        code: 'CHECKPOINT_MISMATCH',
        seq: size - 1,
        checkpointSize: size,
        message: `records ${this.lastGood}..${size - 1} do not match the checkpoint signed at size ${size} (root ${cp.rootHash.slice(0, 16)}…, the records give ${root.slice(0, 16)}…): records in that range were rewritten`,
      });
    }
    if (tr && (tr.rootHash !== root || tr.lastHash !== last)) {
      return this.fail({
        code: 'FORK',
        seq: size - 1,
        checkpointSize: size,
        message: `the first ${size} records differ from the trusted checkpoint at size ${size}: the history was rewritten (rolled back and replaced)`,
      });
    }
    this.lastGood = size;
    return true;
  }
}

/** A fresh start state at genesis (record 0 chains to the log id). */
export function genesis(logIdBytes: Uint8Array): StartState {
  return { size: 0, lastHash: logIdBytes, frontier: new Frontier() };
}
