/**
 * Small loops whose refuel call is placed outside them.
 *
 * V8's optimizing compiler (TurboFan, Node 20) unrolls small innermost loops, but only loops
 * without calls: any call other than a few builtins rules a loop out (`loop-analysis.cc`,
 * `FindSmallInnermostLoopFromHeader`). The refuel call on a charge's cold path is such a call,
 * even though it runs once per slice: with it in the loop header, the compute suite ran 1.2×
 * slower (sieve 1.5×, matmul 1.4×) than with the `unreachable` it replaced, whose trap does not
 * count. So an innermost loop whose header charge is its only charge, and which calls nothing,
 * gets its header charge's cold path outside, behind three wrapper blocks:
 *
 *     block bt                 ;; $done: the loop's block type
 *       loop bt                ;; $again
 *         block                ;; $slow
 *           loop bt            ;; the loop, as it was
 *             <charge>; i64.const 0; i64.lt_s; br_if $slow
 *             …                ;; branches out of the loop: labels + 3
 *           end
 *           br $done           ;; falling out of the loop (with its results)
 *         end
 *         <save>; <refuel>; global.get $fuel; i64.const cost; i64.add; local.set $f
 *         br $again            ;; back in at the header, whose charge runs again: net once
 *       end
 *     end
 *
 * The charge has already been subtracted when the branch leaves the loop, and the header charges
 * again when control re-enters it: the slow path adds the cost back, so the fuel and every trap
 * point stay those of the call inside the loop (the header is the loop's first instruction, so
 * re-entering it is continuing after the charge). The refuel function either traps or leaves
 * the fuel non-negative, so the re-entered charge does not branch out again.
 *
 * Left as they are: loops with an inner loop (not innermost), with a call of any kind (no
 * unrolling anyway), with exception instructions (their labels — delegate, rethrow, try_table
 * catches — would move too), with a block type that is a type index (parameters), that are a
 * try_table catch target (their header loads the fuel first), or whose region is charged per
 * sub-region (other charges in the body call in the loop anyway).
 */
import * as opcodes from './opcodes.js';
import * as regions from './regions.js';

// Local copies: see the note in reader.ts (imports can be getters under test runners).
const { BLOCKTYPE_EMPTY, isValType } = opcodes;
const { EV_BR_TABLE, EV_CHARGE_EXIT, EV_LABEL, EV_SKIP, EV_UNWRAP, EV_WRAP } = regions;

/** How far labels out of a wrapped loop move: the three wrapper blocks. */
export const WRAP_DEPTH = 3;

/**
 * The bookkeeping of wrapped loops during a body scan, between the region bookkeeping and the
 * scan itself (`scan.ts`), which calls it at loops, calls, exception instructions and branches.
 * Events are recorded as if every candidate loop were wrapped (a placeholder before it, the
 * labels of branches out of it) and settled when the loop closes: kept, or turned to EV_SKIP.
 *
 * @example
 * ```ts
 * class Scanner extends LoopExitTracker {
 *   // at a loop: this.loopOpened(r.buf, at, r.pos, depth, catchTarget); … at its end: this.loopClosed(d, r.pos, headerSlot, fine)
 *   // at a call or exception instruction: this.spoil(); at a br: this.branchOut(at + 1, r.pos, r.index, depth)
 * }
 * ```
 */
export class LoopExitTracker extends regions.RegionTracker {
  /** Loops wrapped in the current scan. */
  exitLoops = 0;
  /** Frame depth of the innermost open loop (-1: none). */
  private loopDepth = -1;
  /**
   * Per loop frame (by depth): the slot of its EV_WRAP placeholder (-1: it cannot be wrapped),
   * the innermost loop around it, 1 once something rules wrapping out, and where its pending
   * label events start.
   */
  private frameWrap: Int32Array = new Int32Array(64);
  private frameOuterLoop: Int32Array = new Int32Array(64);
  private frameSpoiled: Uint8Array = new Uint8Array(64);
  private framePending: Int32Array = new Int32Array(64);
  /** Label events waiting for their loop to close: (slot, kind they take if it is wrapped) pairs. */
  private pending: Int32Array = new Int32Array(64);
  private pendingTop = 0;

  /**
   * `wrapLoops`: whether loops may be wrapped at all (only with the refuel hook); `maxSize`: the
   * largest loop region wrapped, in instructions (`InstrumentOptions.exitLoopThreshold`).
   */
  constructor(
    maxNesting: number,
    mergeMax: number,
    private readonly wrapLoops: boolean,
    private readonly maxSize: number,
  ) {
    super(maxNesting, mergeMax);
  }

  protected override startFunction(): void {
    super.startFunction();
    this.loopDepth = -1;
    this.pendingTop = 0;
    this.exitLoops = 0;
  }

  /**
   * A `loop` at input position `at`, its block type ending at `pos`, opens frame `depth`.
   * `catchTarget`: a try_table catches into its label.
   */
  protected loopOpened(buf: Uint8Array, at: number, pos: number, depth: number, catchTarget: boolean): void {
    this.spoil(); // the loop around it, if any, is not innermost
    if (depth >= this.frameWrap.length) {
      this.frameWrap = grow(this.frameWrap);
      this.frameOuterLoop = grow(this.frameOuterLoop);
      this.framePending = grow(this.framePending);
      const spoiled = new Uint8Array(this.frameSpoiled.length * 2);
      spoiled.set(this.frameSpoiled);
      this.frameSpoiled = spoiled;
    }
    const bt = buf[at + 1]!;
    const simple = pos === at + 2 && (bt === BLOCKTYPE_EMPTY || isValType(bt)); // no type index
    const slot = this.wrapLoops && simple && !catchTarget ? this.addEvent(EV_SKIP, at, at, 0) : -1;
    this.frameWrap[depth] = slot;
    this.frameSpoiled[depth] = slot < 0 ? 1 : 0;
    this.frameOuterLoop[depth] = this.loopDepth;
    this.framePending[depth] = this.pendingTop;
    this.loopDepth = depth;
  }

  /** A call or an exception instruction in the innermost open loop: it stays as it is. */
  protected spoil(): void {
    if (this.loopDepth >= 0) this.frameSpoiled[this.loopDepth] = 1;
  }

  /** A br or br_if to relative label `l` at nesting `depth`, its label at input `start..end`. */
  protected branchOut(start: number, end: number, l: number, depth: number): void {
    const d = this.loopDepth;
    // l === depth - 1 - d is the loop's own label: inside the wrappers, it does not move.
    if (d < 0 || this.frameSpoiled[d] === 1 || l <= depth - 1 - d) return;
    this.addPending(this.addEvent(EV_SKIP, start, end, l + WRAP_DEPTH), EV_LABEL);
  }

  /** A br_table with `count` labels in `labels` at nesting `depth`, its immediates at input `start..end`. */
  protected brTableOut(start: number, end: number, labels: Uint32Array, count: number, depth: number): void {
    const d = this.loopDepth;
    if (d < 0 || this.frameSpoiled[d] === 1) return;
    const inside = depth - 1 - d;
    for (let i = 0; i < count; i++) {
      if (labels[i]! > inside) return this.addPending(this.addEvent(EV_SKIP, start, end, inside), EV_BR_TABLE);
    }
  }

  /**
   * The loop of frame `depth` closed, its `end` ending at input `pos`; `headerSlot`: its header
   * charge; `fine`: its region has charges besides the header's. Settles its events.
   */
  protected loopClosed(depth: number, pos: number, headerSlot: number, fine: boolean): void {
    const ev = this.events;
    const wrap = this.frameWrap[depth]!;
    const cost = ev[headerSlot + 2]!;
    const wrapped = wrap >= 0 && this.frameSpoiled[depth] === 0 && !fine && cost > 0 && cost <= this.maxSize;
    const from = this.framePending[depth]!;
    for (let i = from; i < this.pendingTop; i += 2) ev[this.pending[i]!] = wrapped ? this.pending[i + 1]! : EV_SKIP;
    this.pendingTop = from;
    this.loopDepth = this.frameOuterLoop[depth]!;
    if (!wrapped) return;
    ev[wrap] = EV_WRAP;
    ev[headerSlot] = EV_CHARGE_EXIT;
    this.addEvent(EV_UNWRAP, pos, pos, cost);
    this.exitLoops++;
  }

  private addPending(slot: number, kind: number): void {
    if (this.pendingTop + 2 > this.pending.length) this.pending = grow(this.pending);
    this.pending[this.pendingTop++] = slot;
    this.pending[this.pendingTop++] = kind;
  }
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
