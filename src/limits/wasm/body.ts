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
 *   or tops the global up, which the function then reloads (see {@link SEQ_TAIL_LOCAL});
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
import type { ByteWriter, WasmReader } from './reader.js';
import type { ResolvedOptions } from './options.js';
import { BodyScanner, type IndexSpace } from './scan.js';
import type { LeafTable } from './leaves.js';

// Local copies: see the note in reader.ts (imports can be getters under test runners).
const { BLOCKTYPE_EMPTY } = opcodes;
const ValType: typeof opcodes.ValType = { ...opcodes.ValType };
const Op: typeof opcodes.Op = { ...opcodes.Op };
const { EV_CHARGE, EV_GLOBAL, EV_LEAF_CALL, EV_SAVE } = regions;

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
 * The inserted sequences (`$f` is the function's fuel local, `…` the charge's cost):
 * - SAVE `local.get $f; global.set $fuel`; LOAD `global.get $fuel; local.set $f`;
 * - a charge is a head, the cost as i64.const immediate, and a tail:
 *   HEAD_GLOBAL `global.get $fuel; i64.const`, HEAD_LOCAL `local.get $f; i64.const`;
 *   TAIL_LOCAL `i64.sub; local.tee $f; i64.const 0; i64.lt_s; if; local.get $f; global.set $fuel; <refuel>; global.get $fuel; local.set $f; end`;
 *   TAIL_EAGER `i64.sub; local.tee $f; global.set $fuel; local.get $f; i64.const 0; i64.lt_s; if; <refuel>; end`;
 *   TAIL_GLOBAL `i64.sub; global.set $fuel; global.get $fuel; i64.const 0; i64.lt_s; if; <refuel>; end`;
 *   `<refuel>` is `i32.const 0; call_indirect $void $hook` with the hook, `unreachable` (and no
 *   reload in TAIL_LOCAL) without.
 */
const SEQ_SAVE = 0;
const SEQ_LOAD = 1;
const SEQ_HEAD_GLOBAL = 2;
const SEQ_HEAD_LOCAL = 3;
const SEQ_TAIL_LOCAL = 4;
const SEQ_TAIL_EAGER = 5;
const SEQ_TAIL_GLOBAL = 6;
const SEQ_COUNT = 7;

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
  private readonly scanner: BodyScanner;
  /** LEB128 bytes of the fuel global's index. */
  private readonly fuelLeb: Uint8Array;
  /**
   * The inserted sequences, back to back: `seq[seqAt[k]..seqAt[k + 1])` is sequence k (the
   * SEQ_* constants). Those naming `$f` are rebuilt per function, in place.
   */
  private readonly seq = new Uint8Array(256);
  private readonly seqAt = new Int32Array(SEQ_COUNT + 1);
  /** The fuel local the sequences currently name (-1: none yet). */
  private seqLocal = -1;
  private readonly fuelLocal: boolean;
  /** `<refuel>` without its reload (see {@link SEQ_TAIL_LOCAL}): the hook's call, or `unreachable`. */
  private readonly refuel: Uint8Array;

  /**
   * Bodies are read from `input` and written to `out`. `fuelIndex`: the fuel global's index
   * (the number of imported globals); `space`: the input's index spaces; `leaves`: the small
   * leaves whose direct calls are charged at the call site, if any; `hook`: the refuel hook's
   * type and table (`hook.ts`), undefined to trap on the spot instead.
   */
  constructor(
    private readonly input: Uint8Array,
    private readonly out: ByteWriter,
    fuelIndex: number,
    space: IndexSpace,
    opts: ResolvedOptions,
    private readonly leaves?: LeafTable,
    hook?: { readonly type: number; readonly table: number },
  ) {
    this.scanner = new BodyScanner(fuelIndex, space, opts);
    this.scanner.leaves = leaves;
    this.fuelLocal = opts.fuelLocal ?? true;
    this.fuelLeb = leb(fuelIndex);
    this.refuel = hook ? Uint8Array.of(Op.I32Const, 0, Op.CallIndirect, ...leb(hook.type), ...leb(hook.table)) : Uint8Array.of(Op.Unreachable);
    // Mode.Global only uses the sequences that do not name $f: build them now.
    this.sequences(0);
    this.seqLocal = -1;
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
    const loops = scanner.scanFunction(r);
    this.loops += loops;
    this.fineRegions += scanner.scanFine;
    const local = loops > 0 || scanner.entryCharges + scanner.leafCalls > scanner.exits;
    const mode = !this.fuelLocal || locals >= MAX_FUNCTION_LOCALS ? Mode.Global : local ? Mode.Local : Mode.Eager;
    const at = this.out.beginSized();
    if (mode === Mode.Global) {
      this.out.copy(this.input, start, code);
    } else {
      this.sequences(locals);
      this.out.u32(groups + 1);
      this.out.copy(this.input, groupsAt, code);
      this.out.u8(1);
      this.out.u8(ValType.I64);
    }
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

  /** Build the inserted sequences for fuel local `f` (see the SEQ_* constants). */
  private sequences(f: number): void {
    if (f === this.seqLocal) return;
    this.seqLocal = f;
    const l = leb(f);
    const g = this.fuelLeb;
    const refuel = this.refuel;
    // After the hook's call, the local takes the global's new value (a trap needs nothing).
    const reload = refuel.length > 1 ? [Op.GlobalGet, g, Op.LocalSet, l] : [];
    const seq = this.seq;
    const at = this.seqAt;
    let n = 0;
    const put = (...parts: (number | Uint8Array)[]): void => {
      for (const p of parts) {
        if (typeof p === 'number') seq[n++] = p;
        else for (let i = 0; i < p.length; i++) seq[n++] = p[i]!;
      }
    };
    const next = (k: number): void => {
      at[k + 1] = n;
    };
    at[0] = 0;
    put(Op.LocalGet, l, Op.GlobalSet, g);
    next(SEQ_SAVE);
    put(Op.GlobalGet, g, Op.LocalSet, l);
    next(SEQ_LOAD);
    put(Op.GlobalGet, g, Op.I64Const);
    next(SEQ_HEAD_GLOBAL);
    put(Op.LocalGet, l, Op.I64Const);
    next(SEQ_HEAD_LOCAL);
    put(Op.I64Sub, Op.LocalTee, l, Op.I64Const, 0, Op.I64LtS, Op.If, BLOCKTYPE_EMPTY, Op.LocalGet, l, Op.GlobalSet, g, refuel, ...reload, Op.End);
    next(SEQ_TAIL_LOCAL);
    put(Op.I64Sub, Op.LocalTee, l, Op.GlobalSet, g, Op.LocalGet, l, Op.I64Const, 0, Op.I64LtS, Op.If, BLOCKTYPE_EMPTY, refuel, Op.End);
    next(SEQ_TAIL_EAGER);
    put(Op.I64Sub, Op.GlobalSet, g, Op.GlobalGet, g, Op.I64Const, 0, Op.I64LtS, Op.If, BLOCKTYPE_EMPTY, refuel, Op.End);
    next(SEQ_TAIL_GLOBAL);
  }

  /** Append sequence `k`. */
  private put(k: number): void {
    this.out.copy(this.seq, this.seqAt[k]!, this.seqAt[k + 1]!);
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
      if (kind >= EV_SAVE && !local) continue; // an insertion only Mode.Local makes
      out.copy(this.input, from, ev[i + 1]!);
      switch (kind) {
        case EV_CHARGE: {
          const head = i === 0 || !local ? SEQ_HEAD_GLOBAL : SEQ_HEAD_LOCAL;
          const tail = local ? SEQ_TAIL_LOCAL : mode === Mode.Eager ? SEQ_TAIL_EAGER : SEQ_TAIL_GLOBAL;
          this.charge(ev[i + 2]!, head, tail);
          break;
        }
        case EV_GLOBAL: out.u32(ev[i + 2]!); break;
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
        case EV_SAVE: this.put(SEQ_SAVE); break;
        default: this.put(SEQ_LOAD);
      }
      from = ev[i + 3]!;
    }
    out.copy(this.input, from, end);
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

/** Unsigned LEB128 bytes of `v` (< 2^32). */
function leb(v: number): Uint8Array {
  let n = 1;
  for (let x = v; x >= 0x80; x = Math.floor(x / 0x80)) n++;
  const b = new Uint8Array(n);
  for (let i = 0; i < n - 1; i++, v = Math.floor(v / 0x80)) b[i] = (v % 0x80) | 0x80;
  b[n - 1] = v;
  return b;
}
