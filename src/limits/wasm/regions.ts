/**
 * Regions and sub-regions: where charges go and what each costs. The body scan (`scan.ts`)
 * walks a function's instructions once and calls into this bookkeeping at every point where
 * control flow splits or joins; the costs end up in the event log the emit (`body.ts`)
 * replays.
 *
 * A function's entry region is its body without its loops' bodies; a loop's region is its
 * body without its inner loops' bodies (the `loop` instruction belongs to the enclosing
 * region). A region of at most `fineLoopThreshold` (loops) or `fineFunctionThreshold` (entry)
 * instructions is charged whole at its start, whichever path runs. A larger one (an
 * interpreter's dispatch loop holds every opcode handler: charged whole, an iteration running
 * ~30 instructions paid thousands) is charged per sub-region, where control enters
 * straight-line code:
 *
 * - the region's start (entry or loop header), up to the first point below;
 * - the start of an if's then arm and of its else arm;
 * - after the `end` of a block, if, try or try_table that something other than the fallthrough
 *   reaches (a branch, a try_table catch, an if's false path, the then arm past `else`);
 * - after a br_if (the rest runs only when it is not taken), after an inner loop's `end`;
 * - the start of each legacy catch/catch_all clause.
 *
 * Code after br, br_table, return, throw, unreachable, … up to the next such point is dead and
 * costs nothing. A join that only unconditional edges reach (the end of an if with else, a
 * tail that handlers `br` to), each from a sub-region with a charge of its own, gets no charge:
 * its cost is added to each of those, which always continue into it.
 *
 * Within one iteration control only moves forward through a region (backward only to its
 * start, or out into other regions), so each sub-region runs at most once per iteration and
 * its charge is the count of its own instructions: fuel is the number of instructions
 * executed, with three exceptions, none of which undercharges. `block` costs nothing there
 * (`fineFreeBlocks`: no machine code, and dispatch loops open hundreds per iteration); a
 * sub-region of at most `fineMerge` instructions starting an arm or following a br_if or an
 * inner loop is charged with the sub-region that leads to it (at most `fineMerge` instructions
 * per charge), which saves charge points and may charge a path for a few it skips; and what
 * follows a call is paid even if the callee throws. Per iteration this is never more than the
 * whole region, and never 0: the first sub-region holds at least the instruction that ends
 * it. Loops and functions under the thresholds are charged exactly as before.
 *
 * Costs are only known once a sub-region closes, so each charge is recorded as an event whose
 * value is patched in place ({@link RegionTracker.closeSub}, {@link RegionTracker.finishRegion}).
 */
import { InstrumentError } from './errors.js';

/**
 * Event kinds recorded by the scan, replayed by the emit (4 int32 per event: kind, input
 * position, value, input position after the replaced bytes). A charge's value is its cost
 * (0: not emitted), a global's its new index. Kinds from {@link EV_SAVE} on are emitted only
 * in functions that keep the counter in a local.
 */
export const EV_CHARGE = 0;
/** A `global.get`/`global.set` immediate replaced by the shifted index (see `sections.ts`). */
export const EV_GLOBAL = 1;
/**
 * A `call` of a small leaf replaced by the charge of its cost and a call of its unmetered copy
 * (value: the leaf's slot in the `LeafTable` of `leaves.ts`).
 */
export const EV_LEAF_CALL = 2;
/**
 * The header charge of a loop whose refuel call is outside it (`loop-exit.ts`): negative fuel
 * branches out of the loop instead of calling in it (value: the cost).
 */
export const EV_CHARGE_EXIT = 3;
/** Before such a loop: its wrapper blocks open. */
export const EV_WRAP = 4;
/** After its `end`: the wrapper's exit, slow path and ends (value: the header charge's cost). */
export const EV_UNWRAP = 5;
/** A br/br_if label out of such a loop, replaced (value: the new label). */
export const EV_LABEL = 6;
/** The labels of a br_table in such a loop (value: labels above it leave the loop and move). */
export const EV_BR_TABLE = 7;
/** Nothing: a change recorded in case a loop would be wrapped, and it was not. */
export const EV_SKIP = 8;
/** Stop-flag mode: the poll of the stop flag at a loop header or function entry (`stop-flag.ts`). */
export const EV_POLL = 9;
/**
 * After a `memory.grow` (value 0) or `table.grow` (value 1): count it when it returned -1
 * (`InstrumentOptions.countGrowRefusals`).
 */
export const EV_GROW = 10;
/** `local.get $f; global.set $fuel` (this and the next: only in functions keeping a fuel local). */
export const EV_SAVE = 11;
/** `global.get $fuel; local.set $f`. */
export const EV_LOAD = 12;

/** Frame kinds: the low bits of a frame's info. */
export const F_BLOCK = 0;
export const F_IF = 1;
export const F_TRY = 2;
export const F_TRY_TABLE = 3;
export const F_LOOP = 4;
export const F_KIND = 7;
/** Info bit: the block opened in live (possibly reachable) code. */
export const F_LIVE = 8;
/** Info bit: an if whose else has been seen. */
export const F_ELSE = 16;
/** Info bit: a conditional edge (br_if, br_table, a try_table catch) reaches the end label. */
export const F_COND = 32;

/**
 * The state one body scan shares with its region bookkeeping: the event log, the stack of open
 * blocks and the sub-regions of the function. The scan extends it rather than holding one, so
 * that the per-instruction loop reads this state as its own fields (no indirection in the
 * hottest loop of the instrumenter). Reused from one function to the next: the arrays only grow.
 *
 * @example
 * ```ts
 * class Scanner extends RegionTracker {
 *   scan(r: WasmReader): void {
 *     this.startFunction();
 *     const entry = this.addEvent(EV_CHARGE, r.pos, r.pos, 0);
 *     this.openRoot(entry, 0);
 *     // … per instruction: openSub / closeSub at splits and joins, then finishRegion
 *   }
 * }
 * ```
 */
export class RegionTracker {
  /** [kind, input position, value, input position after the replaced bytes] per event (see EV_*); read by the emit. */
  events: Int32Array = new Int32Array(1024);
  eventCount = 0;
  /**
   * Per open block (by depth): a loop's charge slot (-1 for other blocks); for a loop, the
   * enclosing region's count and fine-slot base, saved; the block's number (blocks are
   * numbered in the order they open); its F_* info; the sub-region current when it opened
   * (for a loop: the enclosing one, closed by the `loop`); live edges into its end label.
   */
  protected frameSlot: Int32Array = new Int32Array(64);
  protected frameCost: Int32Array = new Int32Array(64);
  protected frameBase: Int32Array = new Int32Array(64);
  protected frameBlock: Int32Array = new Int32Array(64);
  protected frameInfo: Int32Array = new Int32Array(64);
  protected frameSub: Int32Array = new Int32Array(64);
  protected frameEdges: Int32Array = new Int32Array(64);
  /** Per open block: its list of unconditional edges into its end label (see {@link predSub}), -1 if none. */
  private frameHead: Int32Array = new Int32Array(64);
  /** Per loop frame: the enclosing region's number, saved. */
  protected frameRegion: Int32Array = new Int32Array(64);
  /**
   * Unconditional edges into end labels, as linked lists: the sub-region the edge leaves (it
   * ends with a br, the fallthrough before `else` or `catch`, or falls into the `end`), and the
   * next edge of the same label.
   */
  private predSub: Int32Array = new Int32Array(256);
  private predNext: Int32Array = new Int32Array(256);
  private predCount = 0;
  /**
   * Sub-regions of the function, by number: the event slot of the charge that starts it, and
   * once closed the sub-region that carries its cost (itself, or the owner of a dominating
   * one it merged into) and, for an owner, how much merged cost it absorbed.
   */
  private subSlot: Int32Array = new Int32Array(256);
  private subOwner: Int32Array = new Int32Array(256);
  private subAbsorbed: Int32Array = new Int32Array(256);
  /** Per sub-region: the number of its region; for one without a charge of its own, its edge list (see {@link openPushed}). */
  private subRegion: Int32Array = new Int32Array(256);
  private subPush: Int32Array = new Int32Array(256);
  private subCount = 0;
  /** The current region's number (regions are numbered in the order they open). */
  protected region = 0;
  private regions = 0;
  /** The open sub-region (meaningful while {@link live}): number, dominator, mergeable, count at its start. */
  protected cur = 0;
  private curDom = -1;
  private curMerge = false;
  private curStart = 0;
  /** `block` instructions seen in the scan (when they are free), and their number when the open sub-region started. */
  protected blocksSeen = 0;
  private curBlocks = 0;
  /** False in code after an unconditional transfer (br, br_table, return, …) until a join. */
  protected live = true;
  /** Charge slots of the sub-regions of the open regions (except their first), innermost last. */
  private fine: Int32Array = new Int32Array(256);
  protected fineTop = 0;
  /** Regions charged per sub-region in the current scan (read by the body rewriter, for its stats). */
  scanFine = 0;

  /**
   * `maxNesting`: deepest block nesting accepted (`limits.maxNesting`); `mergeMax`: the most
   * instructions one charge absorbs from small sub-regions after it (`fineMerge`).
   */
  constructor(
    private readonly maxNesting: number,
    private readonly mergeMax: number,
  ) {}

  /** Forget the previous function (or the previous scan of this one). */
  protected startFunction(): void {
    this.eventCount = 0;
    this.subCount = 0;
    this.predCount = 0;
    this.regions = 0;
    this.fineTop = 0;
    this.scanFine = 0;
    this.blocksSeen = 0;
  }

  /** A live branch to relative label `l` at nesting `depth`: one more edge into a block's end. */
  protected edge(l: number, depth: number, sub: number): void {
    if (l >= depth) return; // the function label: leaves
    const d = depth - 1 - l;
    if ((this.frameInfo[d]! & F_KIND) === F_LOOP) return;
    this.frameEdges[d] = this.frameEdges[d]! + 1;
    if (sub < 0) this.frameInfo[d] = this.frameInfo[d]! | F_COND;
    else this.pred(d, sub);
  }

  /** Sub-region `sub` always continues to the end label of the block at depth `d`. */
  protected pred(d: number, sub: number): void {
    const e = this.predCount++;
    if (e === this.predSub.length) {
      this.predSub = grow(this.predSub);
      this.predNext = grow(this.predNext);
    }
    this.predSub[e] = sub;
    this.predNext[e] = this.frameHead[d]!;
    this.frameHead[d] = e;
  }

  /**
   * Whether the code after the end of the block at depth `d` can be charged by the sub-regions
   * that lead there instead of a charge of its own: every edge in is unconditional (checked by
   * the caller), and comes from a sub-region of this region that has a charge of its own (not
   * merged), so that each time that charge is paid the join runs once.
   */
  protected pushable(d: number, from: number): boolean {
    if (from >= 0 && !this.owns(from)) return false;
    for (let e = this.frameHead[d]!; e >= 0; e = this.predNext[e]!) if (!this.owns(this.predSub[e]!)) return false;
    return true;
  }

  private owns(sub: number): boolean {
    return this.subOwner[sub] === sub && this.subRegion[sub] === this.region;
  }

  /**
   * Start a sub-region without a charge of its own, after the end of the block at depth `d`:
   * when it closes, its cost is added to the charge of every sub-region with an edge into it
   * (`from`: the one falling into the end, or -1). It absorbs no merges and leads no such join.
   */
  protected openPushed(d: number, from: number, total: number): void {
    if (from >= 0) this.pred(d, from);
    const id = this.newSub(-1);
    this.subPush[id] = this.frameHead[d]!;
    this.cur = id;
    this.curDom = -1;
    this.curMerge = false;
    this.curStart = total;
    this.curBlocks = this.blocksSeen;
    this.live = true;
  }

  /** Start the first sub-region of a region: its charge is the region's own (entry or loop header). */
  protected openRoot(slot: number, total: number): void {
    this.region = this.regions++;
    const id = this.newSub(slot);
    this.cur = id;
    this.curDom = -1;
    this.curMerge = false;
    this.curStart = total;
    this.curBlocks = this.blocksSeen;
    this.live = true;
  }

  /**
   * Start a sub-region at input position `pos` (a new charge point). `dom`: the sub-region
   * every path here came through in this iteration; `merge`: whether a small one may be
   * charged with it instead.
   */
  protected openSub(pos: number, dom: number, merge: boolean, total: number): void {
    const slot = this.addEvent(EV_CHARGE, pos, pos, 0);
    const id = this.newSub(slot);
    if (this.fineTop === this.fine.length) this.fine = grow(this.fine);
    this.fine[this.fineTop++] = slot;
    this.cur = id;
    this.curDom = dom;
    this.curMerge = merge;
    this.curStart = total;
    this.curBlocks = this.blocksSeen;
    this.live = true;
  }

  private newSub(slot: number): number {
    const id = this.subCount++;
    if (id === this.subSlot.length) {
      this.subSlot = grow(this.subSlot);
      this.subOwner = grow(this.subOwner);
      this.subAbsorbed = grow(this.subAbsorbed);
      this.subRegion = grow(this.subRegion);
      this.subPush = grow(this.subPush);
    }
    this.subSlot[id] = slot;
    this.subRegion[id] = this.region;
    this.subOwner[id] = -1;
    this.subAbsorbed[id] = 0;
    return id;
  }

  /** Close the open sub-region (if any): its cost is final; code after is dead until a join. */
  protected closeSub(total: number): void {
    if (!this.live) return;
    this.live = false;
    const id = this.cur;
    const cost = total - this.curStart - (this.blocksSeen - this.curBlocks);
    const slot = this.subSlot[id]!;
    const ev = this.events;
    if (slot < 0) {
      for (let e = this.subPush[id]!; e >= 0; e = this.predNext[e]!) {
        const at = this.subSlot[this.predSub[e]!]! + 2;
        ev[at] = ev[at]! + cost;
      }
      return; // subOwner stays -1
    }
    if (this.curMerge && cost <= this.mergeMax) {
      const owner = this.subOwner[this.curDom]!;
      if (owner >= 0 && this.subAbsorbed[owner]! + cost <= this.mergeMax) {
        this.subAbsorbed[owner] = this.subAbsorbed[owner]! + cost;
        const at = this.subSlot[owner]! + 2;
        ev[at] = ev[at]! + cost;
        ev[slot + 2] = 0; // not emitted
        this.subOwner[id] = owner;
        return;
      }
    }
    ev[slot + 2] = cost;
    this.subOwner[id] = id;
  }

  /**
   * A region closes with `total` instructions: at most `threshold`, its first charge takes the
   * whole count and its sub-region charges go; otherwise they stay.
   */
  protected finishRegion(slot: number, total: number, fineBase: number, threshold: number): number {
    const ev = this.events;
    let charges = 0;
    if (total > threshold) {
      this.scanFine++;
      for (let i = fineBase; i < this.fineTop; i++) if (ev[this.fine[i]! + 2] !== 0) charges++;
    } else {
      ev[slot + 2] = total;
      for (let i = fineBase; i < this.fineTop; i++) ev[this.fine[i]! + 2] = 0;
    }
    this.fineTop = fineBase;
    return charges;
  }

  /** Open a block at nesting `depth` (see the frame arrays); deeper than `maxNesting` is refused. */
  protected pushFrame(depth: number, slot: number, info: number, block: number, sub: number): void {
    if (depth >= this.maxNesting) throw new InstrumentError('COMPONENT_INVALID', `blocks nest deeper than ${this.maxNesting}`);
    if (depth >= this.frameSlot.length) {
      this.frameSlot = grow(this.frameSlot);
      this.frameCost = grow(this.frameCost);
      this.frameBase = grow(this.frameBase);
      this.frameBlock = grow(this.frameBlock);
      this.frameInfo = grow(this.frameInfo);
      this.frameSub = grow(this.frameSub);
      this.frameEdges = grow(this.frameEdges);
      this.frameHead = grow(this.frameHead);
      this.frameRegion = grow(this.frameRegion);
    }
    this.frameSlot[depth] = slot;
    this.frameBlock[depth] = block;
    this.frameInfo[depth] = info;
    this.frameSub[depth] = sub;
    this.frameEdges[depth] = 0;
    this.frameHead[depth] = -1;
  }

  /** Append an event (see EV_*); returns its slot, where a charge's cost is patched later. */
  protected addEvent(kind: number, pos: number, end: number, value: number): number {
    const slot = this.eventCount * 4;
    if (slot + 4 > this.events.length) this.events = grow(this.events);
    const ev = this.events;
    ev[slot] = kind;
    ev[slot + 1] = pos;
    ev[slot + 2] = value;
    ev[slot + 3] = end;
    this.eventCount++;
    return slot;
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
