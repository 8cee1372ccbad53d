/**
 * The per-function rewrite: each body is scanned (`scan.ts`, with the charge costs from
 * `regions.ts`) and then copied span by span, with the fuel local declared and the charges,
 * saves, loads and shifted global indices inserted where the scan recorded them. Copying
 * spans keeps the input's own encodings; what is inserted uses minimal LEB128 encodings.
 *
 * Inside a function with loops the counter lives in an extra i64 local `$f`, so a hot loop
 * does not store and reload the global every iteration (a loop-carried dependency through
 * memory). The local and the global are synced where other code or the host can see the
 * global:
 *
 * - entry: the entry charge reads the global, `global.get $fuel; i64.const cost; i64.sub;
 *   local.tee $f; …`;
 * - a loop or later sub-region charge: `local.get $f; i64.const cost; i64.sub; local.tee $f;
 *   i64.const 0; i64.lt_s; if; local.get $f; global.set $fuel; <refuel>; global.get $fuel;
 *   local.set $f; end`: the host's refuel function sees the negative value, and either traps
 *   or tops the global up, which the function then reloads (`sequences.ts`);
 * - "save", `local.get $f; global.set $fuel`, before every call, call_indirect, return,
 *   return_call(_indirect), throw, throw_ref, rethrow, unreachable, the body's final end, and
 *   every br/br_if/br_table that may target the function label;
 * - "load", `global.get $fuel; local.set $f`, after every call and call_indirect and at the
 *   start of every legacy catch/catch_all clause (the callee or thrower charged the global);
 * - a label that a `try_table` catch clause targets is a join of caught exceptions (global
 *   current) and ordinary control flow (local current): every ordinary edge into it saves
 *   (branches to it, the fallthrough into its end, `else`, `catch`, an `if` without else),
 *   and the join loads (after the block's end, or at the loop header before its charge).
 *   Such functions are scanned twice, the second time knowing every such label (`scan.ts`).
 *
 * `<refuel>` is `i32.const 0; call_indirect (type $void) (table $hook)`: a call of the host's
 * refuel function through the table the rewrite adds (`hook.ts`). Without the hook
 * (`InstrumentOptions.refuel: false`) it is `unreachable` instead, and nothing follows it.
 *
 * A function without loops usually has only its entry charge, so it saves right there and
 * needs no other save or load (see {@link Mode}). Either way, the value the global-only
 * scheme would hold is at every point the local of the running frame, and the global whenever
 * control is elsewhere: charges, fuel used and the trap point are exactly those of charging
 * the global directly, and the inserted instructions are not charged. The one difference is a
 * trap other than fuel exhaustion (out-of-bounds access, division by zero, …): the charges
 * the trapping frame made since its last save are missing from the global.
 *
 * A direct `call` of a small leaf (`LeafTable` in `scan.ts`: no loop, no call, no exception
 * instruction, no `unreachable`, one charge) charges the leaf's cost right before the call,
 * the way the function's other charges go (on the local, or on the global), and calls the
 * leaf's unmetered copy ({@link FuelInjector.leafCopy}) with no save before and no load after:
 * the copy neither reads nor writes the fuel, and cannot throw, so the local stays current
 * across it. The charges and the fuel a trap leaves are those of the leaf charging itself at
 * entry; only a fuel trap moves, from the leaf's entry to the call. A trap inside the copy
 * (out of bounds, …) is a trap of the caller's frame for the above: the leaf's cost and the
 * charges the caller made since its last save are then missing from the global.
 */
import * as opcodes from './opcodes.js';
import * as regions from './regions.js';
import { WasmReader } from './reader.js';
import type { ByteWriter } from './writer.js';
import { WRAP_DEPTH } from './loop-exit.js';
import type { ResolvedOptions } from './options.js';
import { BodyScanner, type IndexSpace } from './scan.js';
import type { LeafTable } from './leaves.js';
import { InstrumentError } from './errors.js';
import { REFUSED_TABLE_UNIT } from './hook.js';
import {
  Sequences, SEQ_EXIT_GLOBAL, SEQ_EXIT_LOCAL, SEQ_HEAD_GLOBAL, SEQ_HEAD_LOCAL, SEQ_LOAD, SEQ_SAVE, SEQ_SLOW_GLOBAL_HEAD, SEQ_SLOW_GLOBAL_TAIL,
  SEQ_SLOW_LOCAL_HEAD, SEQ_SLOW_LOCAL_TAIL, SEQ_TAIL_EAGER, SEQ_TAIL_GLOBAL, SEQ_TAIL_LOCAL, SEQ_POLL_LOCAL, SEQ_POLL_GLOBAL, type StopFlag,
} from './sequences.js';

// Local copies: see the note in reader.ts (imports can be getters under test runners).
const { BLOCKTYPE_EMPTY } = opcodes;
const ValType: typeof opcodes.ValType = { ...opcodes.ValType };
const Op: typeof opcodes.Op = { ...opcodes.Op };
const { EV_BR_TABLE, EV_CHARGE, EV_CHARGE_EXIT, EV_GLOBAL, EV_GROW, EV_LABEL, EV_LEAF_CALL, EV_POLL, EV_SAVE, EV_SKIP, EV_UNWRAP, EV_WRAP } = regions;

/**
 * How a function body is metered.
 *
 * - `Local`: a function with loops. The counter lives in the fuel local `$f`, with saves
 *   and loads (see the top of this file), so loop iterations touch no memory for metering.
 *   (Even a loop that calls out: its calls may be rare, and charging the global per
 *   iteration is what made tight loops ~4× slower.) Also a function without loops whose entry
 *   region has more sub-region charges and calls of small leaves (each charged on the local)
 *   than other calls and exits (each of which saves or loads).
 * - `Eager`: the other functions without loops: every charge (usually only the entry charge)
 *   reads the global and saves at once: `global.get; i64.const cost; i64.sub; local.tee $f;
 *   global.set; local.get $f; i64.const 0; i64.lt_s; if <refuel> end`. The global is then
 *   always current and no other save or load is needed: for small, call-heavy functions that
 *   is cheaper than saving and loading around every call and at every exit.
 * - `Global`: too many locals to add one (see {@link MAX_FUNCTION_LOCALS}), or the option
 *   `fuelLocal: false`: every charge works on the global alone (`global.get; i64.const cost;
 *   i64.sub; global.set; global.get; i64.const 0; i64.lt_s; if <refuel> end`), nothing
 *   else is inserted.
 *
 * All three keep the global current whenever control is outside the function, so functions
 * of different modes call each other freely.
 */
const Mode = { Local: 0, Eager: 1, Global: 2 } as const;


/**
 * V8 refuses a function with more locals than this, parameters included. A function already
 * at the limit keeps charging the global directly (no local, no saves or loads).
 */
const MAX_FUNCTION_LOCALS = 50_000;

/**
 * Rewrites function bodies: a scan records, in order, where charges, saves and loads go
 * (a charge with the static cost of its (sub-)region, known only once it closes) and which
 * global immediates change; the emit then copies the body between those points. One instance
 * rewrites a whole code section, adding up its statistics.
 *
 * @example
 * ```ts
 * const injector = new FuelInjector(input, out, importedGlobals, importedGlobals + definedGlobals, resolveOptions({}));
 * injector.body(bodyReader, paramCount); // once per body, in order
 * stats.chargePoints = injector.chargePoints;
 * ```
 */
export class FuelInjector {
  loops = 0;
  chargePoints = 0;
  fineRegions = 0;
  /** Calls of small leaves charged at the call and redirected to the leaf's copy. */
  leafCalls = 0;
  /** Loops whose refuel call was put outside them (`loop-exit.ts`). */
  exitLoops = 0;
  /** Stop-flag polls inserted (loop headers and function entries; `stop-flag.ts`). */
  polls = 0;
  /** Grows given a refusal count (EV_GROW). */
  growChecks = 0;
  /** The current function's scratch i32 local for grow results (-1: none). */
  private growLocal = -1;
  private readonly scanner: BodyScanner;
  /** The inserted sequences (`sequences.ts`), for the current function's fuel local. */
  private readonly seqs: Sequences;
  private readonly fuelLocal: boolean;

  /**
   * Bodies are read from `input` and written to `out`. `fuelIndex`: the fuel global's index
   * (the number of imported globals); `space`: the input's index spaces; `leaves`: the small
   * leaves whose direct calls are charged at the call site, if any; `hook`: the refuel hook's
   * type and table (`hook.ts`), undefined to trap on the spot instead; `refused`: the index of
   * the grow-refusal counter global (`InstrumentOptions.countGrowRefusals`; -1: none).
   */
  constructor(
    private readonly input: Uint8Array,
    private readonly out: ByteWriter,
    fuelIndex: number,
    space: IndexSpace,
    opts: ResolvedOptions,
    private readonly leaves?: LeafTable,
    hook?: { readonly type: number; readonly table: number },
    stop?: StopFlag,
    private readonly refused = -1,
  ) {
    this.scanner = new BodyScanner(fuelIndex, space, opts);
    this.scanner.leaves = leaves;
    this.fuelLocal = opts.fuelLocal ?? true;
    this.seqs = new Sequences(fuelIndex, hook, stop);
  }

  /**
   * Rewrite the body `r.buf[r.pos..r.end)` into the output, size prefix included. `params`
   * is the parameter count of its type: the fuel local's index is params + declared locals.
   */
  body(r: WasmReader, params: number): void {
    const start = r.pos;
    const groups = r.u32();
    const groupsAt = r.pos;
    let locals = params;
    for (let n = groups; n > 0; n--) {
      locals += r.u32();
      r.valType();
    }
    const code = r.pos;
    const scanner = this.scanner;
    scanner.locals = locals;
    const loops = scanner.scanFunction(r);
    this.loops += loops;
    this.fineRegions += scanner.scanFine;
    this.exitLoops += scanner.exitLoops;
    const local = loops > 0 || scanner.entryCharges + scanner.leafCalls > scanner.exits;
    // A grow's result goes through a scratch local, after the fuel local if there is one.
    const grow = scanner.grows > 0 ? 1 : 0;
    if (locals + grow > MAX_FUNCTION_LOCALS) {
      throw new InstrumentError('UNSUPPORTED', `a function with ${locals} locals grows a memory or table: the count of refused grows needs one more local than V8 allows`);
    }
    const mode = !this.fuelLocal || locals + grow >= MAX_FUNCTION_LOCALS ? Mode.Global : local ? Mode.Local : Mode.Eager;
    const fuel = mode === Mode.Global ? 0 : 1;
    const at = this.out.beginSized();
    if (fuel + grow === 0) {
      this.out.copy(this.input, start, code);
    } else {
      this.out.u32(groups + fuel + grow);
      this.out.copy(this.input, groupsAt, code);
      if (fuel) {
        this.seqs.build(locals);
        this.out.u8(1);
        this.out.u8(ValType.I64);
      }
      if (grow) {
        this.out.u8(1);
        this.out.u8(ValType.I32);
      }
    }
    this.growLocal = grow ? locals + fuel : -1;
    this.emit(code, r.end, mode);
    this.out.endSized(at);
  }

  /**
   * Write the unmetered copy of a small leaf: the body `r.buf[r.pos..r.end)` (locals included)
   * as it is, with only its global indices shifted, size prefix included. Its calls charge
   * its cost instead (see {@link emit}); it has no call, loop or exception instruction.
   */
  leafCopy(r: WasmReader): void {
    const start = r.pos;
    r.locals();
    const scanner = this.scanner;
    scanner.locals = Infinity; // the same body was range-checked when its metered version was scanned
    scanner.scanFunction(r);
    const ev = scanner.events;
    const events = scanner.eventCount * 4;
    const out = this.out;
    const at = out.beginSized();
    let from = start;
    for (let i = 0; i < events; i += 4) {
      if (ev[i] !== EV_GLOBAL) continue;
      out.copy(this.input, from, ev[i + 1]!);
      out.u32(ev[i + 2]!);
      from = ev[i + 3]!;
    }
    out.copy(this.input, from, r.end);
    out.endSized(at);
  }


  /** Append sequence `k`. */
  private put(k: number): void {
    this.seqs.put(this.out, k);
  }

  /**
   * Copy the instructions, inserting charges, saves, loads and rewritten global indices at
   * the recorded points. The first event is the entry charge: in {@link Mode.Local} it reads
   * the global (that is the entry load); later charges read the local. Saves and loads only
   * exist in {@link Mode.Local}. A call of a small leaf becomes a charge of the leaf's cost, on
   * the local or on the global as the function's other charges are, and a call of its copy.
   */
  private emit(start: number, end: number, mode: number): void {
    const ev = this.scanner.events;
    const events = this.scanner.eventCount * 4;
    const out = this.out;
    const local = mode === Mode.Local;
    let from = start;
    for (let i = 0; i < events; i += 4) {
      const kind = ev[i]!;
      if (kind === EV_SKIP || (kind >= EV_SAVE && !local)) continue; // nothing, or an insertion only Mode.Local makes
      out.copy(this.input, from, ev[i + 1]!);
      switch (kind) {
        case EV_CHARGE: {
          const head = i === 0 || !local ? SEQ_HEAD_GLOBAL : SEQ_HEAD_LOCAL;
          const tail = local ? SEQ_TAIL_LOCAL : mode === Mode.Eager ? SEQ_TAIL_EAGER : SEQ_TAIL_GLOBAL;
          this.charge(ev[i + 2]!, head, tail);
          break;
        }
        case EV_GLOBAL: case EV_LABEL: out.u32(ev[i + 2]!); break;
        case EV_CHARGE_EXIT: this.charge(ev[i + 2]!, local ? SEQ_HEAD_LOCAL : SEQ_HEAD_GLOBAL, local ? SEQ_EXIT_LOCAL : SEQ_EXIT_GLOBAL); break;
        case EV_WRAP: {
          // block bt; loop bt; block: `bt` is the loop's own block type (one byte).
          const bt = this.input[ev[i + 1]! + 1]!;
          out.u8(Op.Block);
          out.u8(bt);
          out.u8(Op.Loop);
          out.u8(bt);
          out.u8(Op.Block);
          out.u8(BLOCKTYPE_EMPTY);
          break;
        }
        case EV_UNWRAP:
          this.put(local ? SEQ_SLOW_LOCAL_HEAD : SEQ_SLOW_GLOBAL_HEAD);
          out.sleb(ev[i + 2]!);
          this.put(local ? SEQ_SLOW_LOCAL_TAIL : SEQ_SLOW_GLOBAL_TAIL);
          break;
        case EV_BR_TABLE: this.brTable(ev[i + 1]!, ev[i + 3]!, ev[i + 2]!); break;
        case EV_LEAF_CALL: {
          const slot = ev[i + 2]!;
          const leaves = this.leaves!;
          this.leafCalls++;
          this.put(local ? SEQ_HEAD_LOCAL : SEQ_HEAD_GLOBAL);
          out.sleb(leaves.cost[slot]!);
          this.put(local ? SEQ_TAIL_LOCAL : mode === Mode.Eager ? SEQ_TAIL_EAGER : SEQ_TAIL_GLOBAL);
          out.u8(Op.Call);
          out.u32(leaves.copyIndex(slot));
          break;
        }
        case EV_POLL: this.polls++; this.put(local ? SEQ_POLL_LOCAL : SEQ_POLL_GLOBAL); break;
        case EV_GROW: this.countRefusal(ev[i + 2]!); break;
        case EV_SAVE: this.put(SEQ_SAVE); break;
        default: this.put(SEQ_LOAD);
      }
      from = ev[i + 3]!;
    }
    out.copy(this.input, from, end);
  }

  /**
   * The immediates `input[start..end)` of a br_table in a wrapped loop, with every label above
   * `inside` (out of the loop) moved past the wrapper blocks.
   */
  private brTable(start: number, end: number, inside: number): void {
    const r = new WasmReader(this.input, start, end);
    const count = r.u32();
    this.out.u32(count);
    for (let i = 0; i <= count; i++) {
      const l = r.u32();
      this.out.u32(l > inside ? l + WRAP_DEPTH : l);
    }
  }

  /**
   * After a grow (`kind` 0: memory, 1: table), with its result on the stack: add to the refusal
   * counter when it is -1, and leave the result as it was.
   * `local.tee $g; i32.const -1; i32.eq; if; global.get $r; i64.const k; i64.add; global.set $r; end; local.get $g`
   */
  private countRefusal(kind: number): void {
    const out = this.out;
    const g = this.growLocal;
    this.growChecks++;
    out.u8(Op.LocalTee);
    out.u32(g);
    out.u8(Op.I32Const);
    out.u8(0x7f); // -1
    out.u8(Op.I32Eq);
    out.u8(Op.If);
    out.u8(BLOCKTYPE_EMPTY);
    out.u8(Op.GlobalGet);
    out.u32(this.refused);
    out.u8(Op.I64Const);
    out.sleb(kind === 0 ? 1 : REFUSED_TABLE_UNIT);
    out.u8(Op.I64Add);
    out.u8(Op.GlobalSet);
    out.u32(this.refused);
    out.u8(Op.End);
    out.u8(Op.LocalGet);
    out.u32(g);
  }

  private charge(cost: number, head: number, tail: number): void {
    // 0: a sub-region charge dropped (its region is charged whole) or merged into another.
    // Never the entry charge, which also initializes the local: its sub-region holds at least
    // one instruction.
    if (cost === 0) return;
    this.chargePoints++;
    this.put(head);
    this.out.sleb(cost);
    this.put(tail);
  }
}
