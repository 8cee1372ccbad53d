/**
 * The streaming part of verification: feed records in order and it checks each one's position,
 * its link to the previous record, its hash, and every checkpoint it reaches. Used on a store
 * (`verify.ts`) and on an exported file.
 */
import { batchHasher } from './batch-hash.js';
import { HASH_LEN, toHex } from './hash.js';
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

/** Whether `data[at..at+32)` equals `h` (not secret: no constant-time need). */
function sameHashAt(data: Uint8Array, at: number, h: Uint8Array): boolean {
  for (let i = 0; i < HASH_LEN; i++) if (data[at + i] !== h[i]) return false;
  return true;
}

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
  /** Sizes where a checkpoint must be compared. */
  private readonly stops: readonly number[];
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
    this.stops = [...new Set([...checkpoints.keys(), ...trusted.keys()])].sort((a, b) => a - b);
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
    if (!stored) return this.feedMany(input, [0], [input.length], 1);
    const data = new Uint8Array(HASH_LEN + input.length);
    data.set(stored, 0);
    data.set(input, HASH_LEN);
    return this.feedMany(data, [HASH_LEN], [input.length], 1, [0]);
  }

  /**
   * Verify the next `n` records: record i is `data[offsets[i], offsets[i] + lengths[i])` (each
   * `0x00 || canonical JSON`); `storedAt[i]`, if given, is where in `data` the hash kept beside
   * it is. The records are hashed and checked in one call into the wasm hasher and the tree is
   * extended in batches (see `batch-hash.ts`), which is what makes verification fast; the checks
   * are the same as record by record.
   *
   * `pre`, if given, is what a worker found for these same records ({@link checkLeaves}): their
   * leaf hashes and the first record that fails a check other than record 0's link to the
   * record before, which only this thread can check. The hashes must be SHA-256 of exactly
   * these bytes: they are what the tree is built from.
   */
  feedMany(data: Uint8Array, offsets: ArrayLike<number>, lengths: ArrayLike<number>, n: number, storedAt?: ArrayLike<number>, pre?: LeafCheck): boolean {
    if (this.problem) return false;
    let hashes: Uint8Array;
    let bad: number;
    if (pre && pre.hashes.length >= 32 * n && n > 0) {
      hashes = pre.hashes;
      const hdr = pre.bad > 0 ? peekHeader(data, offsets[0]! + 1, offsets[0]! + lengths[0]!) : undefined;
      bad = hdr && hexMatches(data, hdr.prevAt, this.lastHash) ? pre.bad : 0;
    } else {
      hashes = new Uint8Array(32 * n);
      bad = batchHasher().checkRecords(data, offsets, lengths, n, storedAt, this.lastHash, this.expected, hashes);
    }
    if (bad < n) this.problem = this.describe(data, offsets[bad]!, lengths[bad]!, this.expected + bad, storedAt?.[bad], hashes.subarray(32 * bad, 32 * bad + 32));
    const ok = bad;
    // Extend the tree with the good records, stopping at every checkpoint size on the way.
    let done = 0;
    while (done < ok) {
      let upto = ok;
      for (const s of this.stops) if (s > this.expected && s < this.expected + (upto - done)) upto = done + (s - this.expected);
      const count = upto - done;
      if (this.keepNodes) {
        this.frontier.pushBatch(
          hashes.subarray(32 * done, 32 * upto),
          count,
          (level, index, node) => {
            let list = this.computedNodes.get(level);
            if (!list) this.computedNodes.set(level, (list = []));
            list[index] = node;
          },
          this.nodeStep,
        );
      } else {
        this.frontier.pushBatch(hashes.subarray(32 * done, 32 * upto), count);
      }
      this.expected += count;
      this.lastHash = hashes.slice(32 * (upto - 1), 32 * upto);
      done = upto;
      if (!this.reached(this.expected)) return false;
    }
    return this.problem === undefined;
  }

  /** The problem with record `seq`, which the checks found bad (told apart here, slowly, once). */
  private describe(data: Uint8Array, at: number, len: number, seq: number, storedAt: number | undefined, h: Uint8Array): Problem {
    const hdr = peekHeader(data, at + 1, at + len);
    if (!hdr) return { code: 'MALFORMED', seq, message: `record ${seq} is not an audit record of a known version (1 or 2)` };
    if (hdr.seq !== seq) return { code: 'RECORD_MISPLACED', seq, message: `position ${seq} holds record ${hdr.seq}: records were swapped, reordered or inserted` };
    if (storedAt !== undefined && !sameHashAt(data, storedAt, h)) return { code: 'RECORD_EDITED', seq, message: `record ${seq} does not match its stored hash: its content was edited` };
    return {
      code: 'CHAIN_BROKEN',
      seq: seq === this.startSize ? seq : seq - 1,
      message: seq === 0 ? "record 0 does not chain to this log's genesis (the log id): it comes from another log or was edited" : `record ${seq} does not chain to record ${seq - 1}: record ${seq - 1} was edited (hash recomputed) or record ${seq} was replaced`,
    };
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

/** What {@link checkLeaves} found: leaf hashes, the first record that failed, the time span. */
export interface LeafCheck {
  /** Leaf hashes, 32 bytes each, of the records up to and including `bad` (all when none failed). */
  readonly hashes: Uint8Array;
  /** Index of the first record that fails a check other than record 0's link; n when none does. */
  readonly bad: number;
  /**
   * The smallest and largest timestamp of the records before `bad`, and how many of them hold
   * one that is not a plain integer (left out of the span).
   */
  readonly times: { readonly min: number; readonly max: number; readonly odd: number };
}

/**
 * The per-record checks of a block without the tree and without record 0's link (which needs
 * the block before): record i (at `firstSeq + i`) must be a record of a known layout with that
 * sequence number, match its stored hash and name the hash of record i − 1; and the records'
 * time span, for the block header's. Runs on verification workers, or on the main thread when
 * none has room; {@link StreamVerifier.feedMany} finishes the job.
 */
export function checkLeaves(data: Uint8Array, layout: { count: number; inputAt: Uint32Array; inputLength: Uint32Array; hashAt: Uint32Array }, firstSeq: number): LeafCheck {
  const hashes = new Uint8Array(32 * layout.count);
  const t = new Float64Array(3);
  const bad = batchHasher().checkRecords(data, layout.inputAt, layout.inputLength, layout.count, layout.hashAt, undefined, firstSeq, hashes, t);
  return { hashes, bad, times: { min: t[0]!, max: t[1]!, odd: t[2]! } };
}

/** A fresh start state at genesis (record 0 chains to the log id). */
export function genesis(logIdBytes: Uint8Array): StartState {
  return { size: 0, lastHash: logIdBytes, frontier: new Frontier() };
}
