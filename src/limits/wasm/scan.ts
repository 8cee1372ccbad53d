/**
 * The scan of one function body: one walk over its instructions that records, in order, every
 * point the emit (`body.ts`) changes: charges (their costs from the region bookkeeping in
 * `regions.ts`), saves and loads of the fuel local (where and why: `body.ts`), and global
 * indices that move up by one for the fuel global. It writes nothing: the body is only read.
 *
 * A label that a `try_table` catch clause targets needs a save on every ordinary edge into it,
 * but is only known once its try_table is seen, possibly after branches to it: a body with one
 * is scanned a second time knowing every such label ({@link BodyScanner.scanFunction}).
 *
 * Direct calls of small leaves are recorded as such (EV_LEAF_CALL, no save or load): the
 * leaves are found before the rewrite, by {@link findLeaves}, into a {@link LeafTable}.
 *
 * Anything that cannot be decoded with certainty is refused (the reader throws
 * `WasmFormatError`): emitting an instruction stream we mis-read could leave a loop unmetered.
 */
import * as opcodes from './opcodes.js';
import * as regions from './regions.js';
import { WasmFormatError, WasmReader } from './reader.js';
import { InstrumentError } from './errors.js';
import type { ResolvedOptions } from './options.js';

// Local copies: see the note in reader.ts (imports can be getters under test runners), which
// applies to every constant the per-instruction loop below reads.
const { ROLE } = opcodes;
const Op: typeof opcodes.Op = { ...opcodes.Op };
const Role: typeof opcodes.Role = { ...opcodes.Role };
const { EV_CHARGE, EV_GLOBAL, EV_LEAF_CALL, EV_SAVE, EV_LOAD, F_BLOCK, F_IF, F_TRY, F_TRY_TABLE, F_LOOP, F_KIND, F_LIVE, F_ELSE, F_COND } = regions;

/**
 * Scans function bodies one after the other (the same instance for a whole code section, so
 * its arrays are allocated once). After {@link scanFunction}, the inherited `events` and
 * `eventCount` hold the body's events, and {@link exits}, {@link entryCharges} and `scanFine`
 * describe it.
 *
 * @example
 * ```ts
 * const scanner = new BodyScanner(importedGlobals, importedGlobals + definedGlobals, resolveOptions({}));
 * // r: a WasmReader positioned after the body's locals, ending at the body's end
 * const loops = scanner.scanFunction(r);
 * for (let i = 0; i < scanner.eventCount * 4; i += 4) console.log(scanner.events.subarray(i, i + 4));
 * ```
 */
export class BodyScanner extends regions.RegionTracker {
  /** Calls and exits (return, throw, …) in the current scan: the saves and loads Mode.Local would add. */
  exits = 0;
  /** Sub-region charges of the entry region after the first (0: charged whole). */
  entryCharges = 0;
  /** Calls of small leaves in the current scan, charged at the call (EV_LEAF_CALL; not in {@link exits}). */
  leafCalls = 0;
  /** The small leaves whose direct calls are charged at the call site (undefined: none are). */
  leaves: LeafTable | undefined = undefined;
  /** Per block number: 1 when a try_table catch clause targets the block's label. */
  private marks: Uint8Array = new Uint8Array(64);
  /** The block numbers set in {@link marks}, to clear them after the function. */
  private marked: number[] = [];
  private readonly loopThreshold: number;
  private readonly functionThreshold: number;
  private readonly freeBlocks: boolean;

  /**
   * `fuelIndex`: index of the fuel global (the number of imported globals): global indices at
   * or above it move up by one. `globalCount`: imported plus defined globals; a larger index is
   * refused.
   */
  constructor(
    private readonly fuelIndex: number,
    private readonly globalCount: number,
    opts: ResolvedOptions,
  ) {
    super(opts.limits.maxNesting, opts.fineMerge);
    this.loopThreshold = opts.fineLoopThreshold;
    this.functionThreshold = opts.fineFunctionThreshold;
    this.freeBlocks = opts.fineFreeBlocks;
  }

  /**
   * Scan the instructions `r.buf[r.pos..r.end)` of one body (after its locals), leaving
   * `r.pos` at `r.end`. Returns the number of loops.
   */
  scanFunction(r: WasmReader): number {
    const code = r.pos;
    let loops = this.scan(r, false);
    if (this.marked.length > 0) {
      // A try_table catches into an enclosing label: branches to it seen before the
      // try_table must save too, so scan again knowing every such label.
      r.pos = code;
      loops = this.scan(r, true);
      for (const b of this.marked) this.marks[b] = 0;
      this.marked.length = 0;
    }
    return loops;
  }

  /**
   * Walk the instructions once, recording charge points with their costs, saves, loads and
   * global renumberings. `sync`: {@link marks} is complete, so the edges into try_table catch
   * targets get their saves and loads. Returns the number of loops.
   *
   * Costs: `total` counts every instruction of the current region (as the whole-region charge
   * needs); sub-region charge points are recorded in every region, with the count of live
   * instructions from one to the next, and dropped again (cost 0, not emitted) when the region
   * closes no larger than its threshold.
   */
  private scan(r: WasmReader, sync: boolean): number {
    this.startFunction();
    this.exits = 0;
    this.entryCharges = 0;
    this.leafCalls = 0;
    const entry = this.addEvent(EV_CHARGE, r.pos, r.pos, 0); // also loads the local: see emit
    this.openRoot(entry, 0);
    let total = 0;
    let fineBase = 0;
    let depth = 0;
    let blocks = 0;
    let loops = 0;
    for (;;) {
      const at = r.pos;
      const op = r.readInstruction();
      total++;
      const role = ROLE[op]!;
      if (role === Role.None) {
        // A function index past the last function would name a leaf copy: see LeafTable.checkIndex.
        if (op === Op.RefFunc && this.leaves !== undefined) this.leaves.checkIndex(r, r.index);
        continue;
      }
      switch (role) {
        case Role.Global:
          // Range check first: a bogus index like 2^32-1 would otherwise wrap onto the fuel global.
          if (r.index >= this.globalCount) throw r.malformed(`global index ${r.index} out of range`);
          if (r.index >= this.fuelIndex) this.addEvent(EV_GLOBAL, at + 1, r.pos, r.index + 1);
          break;
        case Role.Call:
          if (op === Op.Call && this.leaves !== undefined) {
            this.leaves.checkIndex(r, r.index);
            // A small leaf: charged here and called unmetered, with no save before nor load after.
            const slot = this.leaves.redirect(r.index);
            if (slot >= 0) {
              this.leafCalls++;
              this.addEvent(EV_LEAF_CALL, at, r.pos, slot);
              break;
            }
          }
          this.exits++;
          // Not a sub-region boundary: what follows runs unless the callee throws or traps.
          this.addEvent(EV_SAVE, at, at, 0);
          this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          break;
        case Role.Leave:
          if (op === Op.ReturnCall && this.leaves !== undefined) this.leaves.checkIndex(r, r.index);
          this.exits++;
          this.addEvent(EV_SAVE, at, at, 0);
          this.closeSub(total);
          break;
        case Role.Br:
          if (this.branchSaves(r.index, depth, sync)) this.addEvent(EV_SAVE, at, at, 0);
          if (!this.live) break;
          this.edge(r.index, depth, op === Op.Br ? this.cur : -1);
          if (op === Op.Br) {
            this.closeSub(total);
          } else {
            // br_if: what follows runs only when the branch is not taken.
            const sub = this.cur;
            this.closeSub(total);
            this.openSub(r.pos, sub, true, total);
          }
          break;
        case Role.BrTable:
          for (let i = 0; i < r.labelCount; i++) {
            if (this.branchSaves(r.labels[i]!, depth, sync)) {
              this.addEvent(EV_SAVE, at, at, 0);
              break;
            }
          }
          if (!this.live) break;
          for (let i = 0; i < r.labelCount; i++) this.edge(r.labels[i]!, depth, -1);
          this.closeSub(total);
          break;
        case Role.Loop: {
          // The loop instruction itself belongs to the enclosing region; its body starts a new one.
          const block = blocks++;
          if (sync && this.marks[block] === 1) {
            // A catch target: fall-in saves; the header loads (exceptions arrive with the global current).
            this.addEvent(EV_SAVE, at, at, 0);
            this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          }
          const info = F_LOOP | (this.live ? F_LIVE : 0);
          const outer = this.cur;
          this.closeSub(total);
          const slot = this.addEvent(EV_CHARGE, r.pos, r.pos, 0);
          this.pushFrame(depth++, slot, info, block, outer);
          this.frameCost[depth - 1] = total;
          this.frameBase[depth - 1] = fineBase;
          this.frameRegion[depth - 1] = this.region;
          total = 0;
          fineBase = this.fineTop;
          this.openRoot(slot, 0);
          loops++;
          break;
        }
        case Role.Open: {
          const block = blocks++;
          // An if without else jumps from here past its end.
          if (sync && op === Op.If && this.marks[block] === 1) this.addEvent(EV_SAVE, at, at, 0);
          const kind = op === Op.If ? F_IF : op === Op.Block ? F_BLOCK : F_TRY;
          if (kind === F_BLOCK && this.freeBlocks) this.blocksSeen++;
          const sub = this.cur;
          this.pushFrame(depth++, -1, kind | (this.live ? F_LIVE : 0), block, sub);
          if (kind === F_IF && this.live) {
            this.closeSub(total);
            this.openSub(r.pos, sub, true, total); // the then arm
          }
          break;
        }
        case Role.TryTable:
          // Catch labels are relative to the try_table's enclosing blocks; depth means the
          // function label (a caught exception leaves the function with the global current).
          for (let i = 0; i < r.labelCount; i++) {
            const l = r.labels[i]!;
            if (l < depth) this.mark(this.frameBlock[depth - 1 - l]!);
            if (this.live) this.edge(l, depth, -1);
          }
          this.pushFrame(depth++, -1, F_TRY_TABLE | (this.live ? F_LIVE : 0), blocks++, this.cur);
          break;
        case Role.Else: {
          const d = depth - 1;
          const info = d >= 0 ? this.frameInfo[d]! : 0;
          if (d < 0 || (info & (F_KIND | F_ELSE)) !== F_IF) throw r.malformed('else outside of an if block');
          // The then-arm's fallthrough goes past the if's end.
          if (sync && this.marks[this.frameBlock[d]!] === 1) this.addEvent(EV_SAVE, at, at, 0);
          if (this.live) {
            this.frameEdges[d] = this.frameEdges[d]! + 1;
            this.pred(d, this.cur);
            this.closeSub(total);
          }
          this.frameInfo[d] = info | F_ELSE;
          if (info & F_LIVE) this.openSub(r.pos, this.frameSub[d]!, true, total); // the else arm
          break;
        }
        case Role.Catch: {
          const d = depth - 1;
          if (d < 0 || (this.frameInfo[d]! & F_KIND) !== F_TRY) throw r.malformed('catch outside of a try block');
          // The previous clause's fallthrough goes past the try's end; the clause is entered by
          // a caught exception, thrown with the global current.
          if (sync && this.marks[this.frameBlock[d]!] === 1) this.addEvent(EV_SAVE, at, at, 0);
          this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          if (this.live) {
            this.frameEdges[d] = this.frameEdges[d]! + 1;
            this.pred(d, this.cur);
            this.closeSub(total);
          }
          if (this.frameInfo[d]! & F_LIVE) this.openSub(r.pos, this.frameSub[d]!, false, total);
          break;
        }
        default: {
          // Role.Close: end (or delegate) of the innermost open block, or of the body.
          if (depth === 0) {
            if (op !== Op.End) throw r.malformed('delegate outside of a try block');
            this.addEvent(EV_SAVE, at, at, 0);
            if (r.pos !== r.end) throw r.malformed('function body continues after its final end');
            this.closeSub(total);
            this.entryCharges = this.finishRegion(entry, total, fineBase, this.functionThreshold);
            return loops;
          }
          const d = --depth;
          const info = this.frameInfo[d]!;
          if (op !== Op.End && (info & F_KIND) !== F_TRY) throw r.malformed('delegate outside of a try block');
          if ((info & F_KIND) === F_LOOP) {
            // The loop region closes: its costs are final. What follows the loop is reached
            // only by falling out of its body.
            const fallsOut = this.live;
            this.closeSub(total);
            this.finishRegion(this.frameSlot[d]!, total, fineBase, this.loopThreshold);
            total = this.frameCost[d]!;
            fineBase = this.frameBase[d]!;
            this.region = this.frameRegion[d]!;
            if (fallsOut && info & F_LIVE) this.openSub(r.pos, this.frameSub[d]!, true, total);
            break;
          }
          if (sync && this.marks[this.frameBlock[d]!] === 1) {
            this.addEvent(EV_SAVE, at, at, 0);
            this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          }
          // A join: the fallthrough, branches to the label, an if's false path without else.
          const fallthrough = this.live ? 1 : 0;
          let incoming = this.frameEdges[d]! + fallthrough;
          let cond = info & F_COND;
          if ((info & (F_KIND | F_ELSE | F_LIVE)) === (F_IF | F_LIVE)) {
            incoming++; // the false path
            cond = F_COND;
          }
          if (incoming > fallthrough) {
            const from = this.live ? this.cur : -1;
            this.closeSub(total);
            if (cond === 0 && this.pushable(d, from)) this.openPushed(d, from, total);
            else this.openSub(r.pos, this.frameSub[d]!, false, total);
          }
          // Otherwise nothing reaches past the end (dead stays dead) or only the fallthrough does.
        }
      }
    }
  }

  /**
   * Whether a branch to relative label `l` at nesting `depth` must save first: it leaves the
   * function (l = depth), or (`sync`) it targets a try_table catch target.
   */
  private branchSaves(l: number, depth: number, sync: boolean): boolean {
    if (l === depth) return true;
    return sync && l < depth && this.marks[this.frameBlock[depth - 1 - l]!] === 1;
  }

  private mark(block: number): void {
    if (block >= this.marks.length) {
      const grown = new Uint8Array(Math.max(this.marks.length * 2, block + 1));
      grown.set(this.marks);
      this.marks = grown;
    }
    if (this.marks[block] === 1) return;
    this.marks[block] = 1;
    this.marked.push(block);
  }
}

/**
 * Whether a function's instructions `r.buf[r.pos..r.end)` (after its locals) may be a small
 * leaf: at most `limit` instructions, none of them a loop, a call of any kind, an exception
 * instruction or `unreachable` (whose trap should find the global as current as the callee's
 * own charge leaves it), and nothing after the final `end`. Reads at most `limit` + 1
 * instructions, so the check costs little even on a large module.
 */
function leafShaped(r: WasmReader, limit: number): boolean {
  let n = 0;
  let depth = 0;
  for (;;) {
    const op = r.readInstruction();
    if (++n > limit || NOT_IN_LEAF[op] === 1) return false;
    if (op === Op.Block || op === Op.If) {
      depth++;
    } else if (op === Op.End) {
      if (depth === 0) return r.pos === r.end;
      depth--;
    }
  }
}

/** Opcodes a small leaf may not contain (1): loop, calls, exception handling, unreachable. */
const NOT_IN_LEAF = new Uint8Array(256);
for (const op of [
  Op.Loop, Op.Call, Op.CallIndirect, Op.ReturnCall, Op.ReturnCallIndirect, 0x14, 0x15, // call_ref, return_call_ref
  Op.Try, Op.Catch, Op.CatchAll, Op.Delegate, Op.Throw, Op.Rethrow, Op.ThrowRef, Op.TryTable, Op.Unreachable,
]) NOT_IN_LEAF[op] = 1;

/**
 * The small leaves of a module (see `InstrumentOptions.leafInlineThreshold`): functions charged
 * once at entry that call nothing, so that a direct call can pay their cost at the call site and
 * call an unmetered copy instead. Each leaf has a slot (in function order); its copy gets an
 * index among the copies when the first call of it is redirected ({@link redirect}), so only
 * leaves actually called directly are copied, in the order their first call appears in the code.
 *
 * @example
 * ```ts
 * const leaves = findLeaves(input, code.start, code.end, opts); // before the function section is written
 * leaves.funcImports = importedFunctions;                       // before the code section is scanned
 * leaves.checkIndex(r, calleeIndex);                             // per call, return_call, ref.func
 * leaves.redirect(calleeIndex);                                  // per `call`: its slot, or -1
 * ```
 */
export class LeafTable {
  /** The number of imported functions: the index of the first defined one. Set before any {@link redirect}. */
  funcImports = 0;
  /** Per defined function: its slot, or -1 when it is not a small leaf. */
  private readonly slotOf: Int32Array;
  /** Per slot: the defined function's index (not counting imports), its charge, its body's input range (locals included). */
  readonly func: number[] = [];
  readonly cost: number[] = [];
  readonly bodyStart: number[] = [];
  readonly bodyEnd: number[] = [];
  /** Per slot: the index of its copy among the copies, or -1 while none was needed. */
  private readonly copyOf: number[] = [];
  /** The slots of the copies, in copy order (the order they are appended to the module). */
  readonly copies: number[] = [];

  /**
   * `functions`: functions the module defines; `maxCopies`: how many copies fit under the cap
   * on defined functions (calls of further leaves are left as they are).
   */
  constructor(
    readonly functions: number,
    private readonly maxCopies: number,
  ) {
    this.slotOf = new Int32Array(functions).fill(-1);
  }

  get size(): number {
    return this.func.length;
  }

  add(func: number, cost: number, bodyStart: number, bodyEnd: number): void {
    this.slotOf[func] = this.func.length;
    this.func.push(func);
    this.cost.push(cost);
    this.bodyStart.push(bodyStart);
    this.bodyEnd.push(bodyEnd);
    this.copyOf.push(-1);
  }

  /**
   * A direct call of function `index` (in the whole function index space): the callee's slot if
   * the call is to be charged here and redirected to the callee's copy (created now if this is
   * its first such call), or -1 to leave the call alone.
   */
  redirect(index: number): number {
    const func = index - this.funcImports;
    if (func < 0 || func >= this.functions) return -1;
    const slot = this.slotOf[func]!;
    if (slot < 0) return -1;
    if (this.copyOf[slot]! < 0) {
      if (this.copies.length >= this.maxCopies) return -1;
      this.copyOf[slot] = this.copies.length;
      this.copies.push(slot);
    }
    return slot;
  }

  /**
   * Refuse function index `index` (of a `call`, `return_call` or `ref.func`) past the last
   * function of the input: the input is invalid, but with the copies appended the index would
   * name one, and the rewrite would "repair" the module into one that reaches an unmetered copy.
   * (`sections.ts` does the same for exports, the start function and element segments.)
   */
  checkIndex(r: WasmReader, index: number): void {
    if (index >= this.funcImports + this.functions) throw r.malformed(`function index ${index} out of range`);
  }

  /** The function index of the copy of `slot` (after every function of the input). */
  copyIndex(slot: number): number {
    return this.funcImports + this.functions + this.copyOf[slot]!;
  }
}

/**
 * Find the small leaves among the bodies of the code section `input[start..end)`, before
 * anything else reads it (callers may come before their callees, and the function section,
 * which must list the copies, comes before the code). Each body is checked with
 * {@link leafShaped} and, if it passes, scanned like the rewrite will scan it, for its one
 * charge. Returns undefined when there are none, or when the section cannot be read: the
 * rewrite then refuses the module on its own, with its own error.
 */
export function findLeaves(input: Uint8Array, start: number, end: number, opts: ResolvedOptions): LeafTable | undefined {
  const limit = opts.leafInlineThreshold;
  try {
    const r = new WasmReader(input, start, end);
    const count = r.u32();
    if (count > opts.limits.maxFunctions) return undefined;
    const table = new LeafTable(count, opts.limits.maxFunctions - count);
    // Global indices only matter for the rewrite, which checks them: accept any here.
    const scanner = new BodyScanner(0, 2 ** 32, opts);
    const body = new WasmReader(input);
    for (let i = 0; i < count; i++) {
      const size = r.u32();
      body.pos = r.pos;
      body.end = r.pos + size;
      if (body.end > r.end) return undefined;
      body.locals();
      const code = body.pos;
      if (leafShaped(body, limit)) {
        body.pos = code;
        scanner.scanFunction(body);
        // One charge: the entry's (its sub-regions, if the body is over fineFunctionThreshold,
        // all merged into it or dead).
        const cost = scanner.events[2]!;
        if (scanner.entryCharges === 0 && cost > 0) table.add(i, cost, r.pos, body.end);
      }
      r.pos = body.end;
    }
    return table.size > 0 ? table : undefined;
  } catch (e) {
    if (e instanceof WasmFormatError || e instanceof InstrumentError) return undefined;
    throw e;
  }
}
