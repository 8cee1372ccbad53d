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
 * leaves are found before the rewrite, by `findLeaves` (`leaves.ts`), into a `LeafTable`.
 *
 * Anything that cannot be decoded with certainty is refused (the reader throws
 * `WasmFormatError`): emitting an instruction stream we mis-read could leave a loop unmetered.
 */
import * as opcodes from './opcodes.js';
import * as regions from './regions.js';
import { LoopExitTracker } from './loop-exit.js';
import type { WasmReader } from './reader.js';
import type { LeafTable } from './leaves.js';
import type { ResolvedOptions } from './options.js';

// Local copies: see the note in reader.ts (imports can be getters under test runners), which
// applies to every constant the per-instruction loop below reads.
const { ROLE } = opcodes;
const Op: typeof opcodes.Op = { ...opcodes.Op };
const Role: typeof opcodes.Role = { ...opcodes.Role };
const { EV_CHARGE, EV_GLOBAL, EV_GROW, EV_LEAF_CALL, EV_POLL, EV_SAVE, EV_LOAD, EV_SKIP, F_BLOCK, F_IF, F_TRY, F_TRY_TABLE, F_LOOP, F_KIND, F_LIVE, F_ELSE, F_COND } = regions;

/**
 * The sizes of the input's index spaces the code may name (imports included), and how far
 * global indices at or above the fuel global move.
 */
export interface IndexSpace {
  readonly globals: number;
  readonly globalShift: number;
  readonly tables: number;
  readonly elemSegments: number;
  /** Imported and defined functions: a larger index would name a function the rewrite appends. */
  readonly functions: number;
  /** The input's types: a larger index (call_indirect) could name the `[] -> []` type the rewrite appends. */
  readonly types: number;
}

/**
 * Scans function bodies one after the other (the same instance for a whole code section, so
 * its arrays are allocated once). After {@link scanFunction}, the inherited `events` and
 * `eventCount` hold the body's events, and {@link exits}, {@link entryCharges} and `scanFine`
 * describe it.
 *
 * @example
 * ```ts
 * const space = { globals: importedGlobals + definedGlobals, globalShift: 2, tables, elemSegments, functions, types };
 * const scanner = new BodyScanner(importedGlobals, space, resolveOptions({}));
 * // r: a WasmReader positioned after the body's locals, ending at the body's end
 * const loops = scanner.scanFunction(r);
 * for (let i = 0; i < scanner.eventCount * 4; i += 4) console.log(scanner.events.subarray(i, i + 4));
 * ```
 */
export class BodyScanner extends LoopExitTracker {
  /** Calls and exits (return, throw, …) in the current scan: the saves and loads Mode.Local would add. */
  exits = 0;
  /** Sub-region charges of the entry region after the first (0: charged whole). */
  entryCharges = 0;
  /** Calls of small leaves in the current scan, charged at the call (EV_LEAF_CALL; not in {@link exits}). */
  leafCalls = 0;
  /**
   * Parameters and declared locals of the function about to be scanned: a larger local index
   * would name the fuel local the rewrite adds (Infinity: no check).
   */
  locals = Infinity;
  /** The small leaves whose direct calls are charged at the call site (undefined: none are). */
  leaves: LeafTable | undefined = undefined;
  /** `memory.grow` and `table.grow` in the current scan, when refusals are counted (EV_GROW). */
  grows = 0;
  /** Whether refused grows are counted (`InstrumentOptions.countGrowRefusals`). */
  private readonly countGrows: boolean;
  /** Calls other than of small leaves, tail calls included (stop-flag mode polls at the entry of functions that make any). */
  private calls = 0;
  /** Stop-flag mode: loop headers and the entries of functions that call poll the stop flag. */
  private readonly stopFlag: boolean;
  /** Per block number: 1 when a try_table catch clause targets the block's label. */
  private marks: Uint8Array = new Uint8Array(64);
  /** The block numbers set in {@link marks}, to clear them after the function. */
  private marked: number[] = [];
  private readonly loopThreshold: number;
  private readonly functionThreshold: number;
  private readonly freeBlocks: boolean;

  /**
   * `fuelIndex`: index of the fuel global (the number of imported globals): global indices at
   * or above it move up by `space.globalShift` (the globals the rewrite imports). `space`: the
   * input's own index spaces; a larger index is refused, since after the rewrite it could name
   * what the rewrite added (the fuel or refuel global, the refuel hook's table or segment).
   */
  constructor(
    private readonly fuelIndex: number,
    private readonly space: IndexSpace,
    opts: ResolvedOptions,
  ) {
    super(opts.limits.maxNesting, opts.fineMerge, opts.fuel && opts.refuel, opts.exitLoopThreshold);
    this.loopThreshold = opts.fineLoopThreshold;
    this.functionThreshold = opts.fineFunctionThreshold;
    this.freeBlocks = opts.fineFreeBlocks;
    this.stopFlag = opts.stopFlag;
    this.countGrows = opts.countGrows;
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
    this.grows = 0;
    const entry = this.addEvent(EV_CHARGE, r.pos, r.pos, 0); // also loads the local: see emit
    // Skipped again at the end if the function calls nothing (it cannot run unbounded then).
    const entryPoll = this.stopFlag ? this.addEvent(EV_POLL, r.pos, r.pos, 0) : -1;
    this.calls = 0;
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
        if (op === Op.RefFunc) this.func(r, r.index);
        else if (op >= Op.LocalGet && op <= Op.LocalTee && r.index >= this.locals) throw r.malformed(`local index ${r.index} out of range`);
        else if (op === Op.MemoryGrow && this.countGrows) this.grow(r, 0);
        continue;
      }
      switch (role) {
        case Role.Global:
          // Range check first: a bogus index like 2^32-1 would otherwise wrap onto the fuel global.
          if (r.index >= this.space.globals) throw r.malformed(`global index ${r.index} out of range`);
          if (r.index >= this.fuelIndex) this.addEvent(EV_GLOBAL, at + 1, r.pos, r.index + this.space.globalShift);
          break;
        case Role.Table:
          this.tableOperands(r, op);
          if (op === Op.PrefixMisc && r.sub === 15 && this.countGrows) this.grow(r, 1); // table.grow
          break;
        case Role.Call:
          this.spoil();
          if (op === Op.Call) this.func(r, r.index);
          if (op === Op.CallIndirect) this.indirect(r);
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
          this.calls++;
          // Not a sub-region boundary: what follows runs unless the callee throws or traps.
          this.addEvent(EV_SAVE, at, at, 0);
          this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          break;
        case Role.Leave:
          if (op === Op.ReturnCall) this.func(r, r.index);
          if (op === Op.ReturnCallIndirect) this.indirect(r);
          if (op !== Op.Return && op !== Op.Unreachable) this.spoil(); // a tail call or a throw
          if (op === Op.ReturnCall || op === Op.ReturnCallIndirect) this.calls++;
          this.exits++;
          this.addEvent(EV_SAVE, at, at, 0);
          this.closeSub(total);
          break;
        case Role.Br:
          if (this.branchSaves(r.index, depth, sync)) this.addEvent(EV_SAVE, at, at, 0);
          this.branchOut(at + 1, r.pos, r.index, depth); // dead code too: its labels must stay valid
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
          this.brTableOut(at + 1, r.pos, r.labels, r.labelCount, depth);
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
          this.loopOpened(r.buf, at, r.pos, depth, sync && this.marks[block] === 1);
          const slot = this.addEvent(EV_CHARGE, r.pos, r.pos, 0);
          if (this.stopFlag) this.addEvent(EV_POLL, r.pos, r.pos, 0);
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
          if (op === Op.Try) this.spoil();
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
          this.spoil();
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
          this.spoil();
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
            if (entryPoll >= 0 && this.calls === 0) this.events[entryPoll] = EV_SKIP;
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
            const fine = this.finishRegion(this.frameSlot[d]!, total, fineBase, this.loopThreshold) > 0;
            this.loopClosed(d, r.pos, this.frameSlot[d]!, fine);
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

  /** Record a grow (0: memory, 1: table) whose refusal the emit counts, right after it. */
  private grow(r: WasmReader, kind: number): void {
    this.grows++;
    this.addEvent(EV_GROW, r.pos, r.pos, kind);
  }

  /** Range-check the table and element segment indices of table.get/set and the 0xFC table instructions. */
  private tableOperands(r: WasmReader, op: number): void {
    if (op !== Op.PrefixMisc) return this.table(r, r.index); // table.get, table.set
    const sub = r.sub;
    if (sub < 12) return; // saturating truncation, memory.init … memory.fill
    if (sub === 12 || sub === 13) {
      // table.init elem table, elem.drop elem
      if (r.index >= this.space.elemSegments) throw r.malformed(`element segment index ${r.index} out of range`);
      if (sub === 12) this.table(r, r.index2);
      return;
    }
    this.table(r, r.index); // table.copy dst src, table.grow, table.size, table.fill
    if (sub === 14) this.table(r, r.index2);
  }

  /**
   * Refuse function index `index` (of a `call`, `return_call` or `ref.func`) past the input's
   * functions: the input is invalid, but the index would name what the rewrite appends (a
   * leaf's unmetered copy, a trap helper), and the output would be a valid module reaching it.
   */
  private func(r: WasmReader, index: number): void {
    if ((this.leaves !== undefined || this.stopFlag) && index >= this.space.functions) throw r.malformed(`function index ${index} out of range`);
  }

  /** Range-check the type and table of call_indirect and return_call_indirect. */
  private indirect(r: WasmReader): void {
    if (r.index >= this.space.types) throw r.malformed(`type index ${r.index} out of range`);
    this.table(r, r.index2);
  }

  private table(r: WasmReader, index: number): void {
    if (index >= this.space.tables) throw r.malformed(`table index ${index} out of range`);
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
