/**
 * Reading a stored log: leaf hashes and records from blocks, Merkle nodes for proofs, the
 * retention anchor. Shared by the writer (`chain.ts`) and by read-only tools (`reader.ts`).
 */
import { blockEntries, type BlockEntry } from './block.js';
import { HASH_LEN, fromHex, nodeHash, toHex } from './hash.js';
import { foldRoot, frontierRanges, type NodeSource } from './merkle.js';
import { decodeRecord, type AuditRecord } from './record.js';
import type { AuditStore } from './store.js';
import type { Checkpoint } from './checkpoint.js';

/** Merkle levels whose nodes are stored (every 4th); the others are recomputed. */
export const STORED_LEVEL_STEP = 4;

/** The retention anchor: a checkpoint at the prune point and the frontier there. */
export interface Anchor {
  readonly checkpoint: Checkpoint;
  /** Roots of the perfect subtrees covering `[0, checkpoint.size)`, largest first, hex. */
  readonly frontier: readonly string[];
}

/** Thrown when a proof or record needs data that retention removed. */
export class PrunedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrunedError';
  }
}

const dec = new TextDecoder();

/** Decode entry `i` of a block holding records from `firstSeq`. */
export function entryRecord(e: BlockEntry): AuditRecord {
  return decodeRecord(dec.decode(e.input.subarray(1)), toHex(e.hash));
}

/** Read access to leaves, nodes and records of a store, with a small block cache. */
export class LogSource implements NodeSource {
  private readonly cache = new Map<number, BlockEntry[]>();
  private readonly anchorNodes = new Map<string, Uint8Array>();

  /** Records below this were pruned (0: none). */
  base = 0;

  constructor(
    private readonly store: AuditStore,
    anchor: Anchor | undefined,
  ) {
    if (anchor) this.rebase(anchor);
  }

  /** Start at a (new) retention anchor. */
  rebase(anchor: Anchor): void {
    this.base = anchor.checkpoint.size;
    this.anchorNodes.clear();
    this.cache.clear();
    const ranges = frontierRanges(anchor.checkpoint.size);
    ranges.forEach((r, i) => this.anchorNodes.set(`${r.level}:${r.index}`, fromHex(anchor.frontier[i]!)));
  }

  /** Forget cached blocks (after a write changed what is stored). */
  invalidate(): void {
    this.cache.clear();
  }

  /** The block entries holding `seq`, and the block's first sequence number. */
  async entriesAt(seq: number): Promise<{ firstSeq: number; entries: BlockEntry[] } | undefined> {
    if (seq < this.base) throw new PrunedError(`record ${seq} was removed by retention (records before ${this.base} are pruned)`);
    for (const [firstSeq, entries] of this.cache) {
      if (seq >= firstSeq && seq < firstSeq + entries.length) return { firstSeq, entries };
    }
    const b = await this.store.blockAt(seq);
    if (!b) return undefined;
    let entries = this.cache.get(b.firstSeq);
    if (!entries) {
      entries = blockEntries(b.block);
      if (this.cache.size >= 16) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(b.firstSeq, entries);
    }
    if (seq - b.firstSeq >= entries.length) return undefined;
    return { firstSeq: b.firstSeq, entries };
  }

  /** The leaf hash of record `seq`. */
  async leaf(seq: number): Promise<Uint8Array> {
    const at = await this.entriesAt(seq);
    if (!at) throw new RangeError(`record ${seq} is not stored`);
    return at.entries[seq - at.firstSeq]!.hash.slice();
  }

  /** Record `seq`, decoded, or undefined when it is not stored. */
  async record(seq: number): Promise<AuditRecord | undefined> {
    const at = await this.entriesAt(seq);
    return at ? entryRecord(at.entries[seq - at.firstSeq]!) : undefined;
  }

  async perfect(level: number, index: number): Promise<Uint8Array> {
    const pinned = this.anchorNodes.get(`${level}:${index}`);
    if (pinned) return pinned;
    const start = index * 2 ** level;
    if (start + 2 ** level <= this.base) throw new PrunedError(`leaves ${start}..${start + 2 ** level - 1} were removed by retention`);
    if (level === 0) return this.leaf(index);
    if (level % STORED_LEVEL_STEP === 0) {
      const stored = await this.store.getNode(level, index);
      if (stored && stored.length === HASH_LEN) return stored;
    }
    // Sequential on purpose: the left subtree's reads fill the block cache for the right one.
    const l = await this.perfect(level - 1, 2 * index);
    const r = await this.perfect(level - 1, 2 * index + 1);
    return nodeHash(l, r);
  }

  /** The tree head at `size` (computed from nodes; for the current size use the frontier). */
  async rootAt(size: number): Promise<Uint8Array> {
    if (size === 0) return foldRoot([]);
    const ranges = frontierRanges(size);
    const hashes: Uint8Array[] = [];
    for (const r of ranges) hashes.push(await this.perfect(r.level, r.index));
    return foldRoot(hashes);
  }

  /** The frontier at `size` (for anchors). */
  async frontierAt(size: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (const r of frontierRanges(size)) out.push(await this.perfect(r.level, r.index));
    return out;
  }
}
