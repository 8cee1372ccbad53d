/**
 * The instruction sequences the body rewriter (`body.ts`) inserts: saves and loads of the fuel
 * local, the heads and tails of charges, and the exit and slow path of loops whose refuel call
 * is outside them (`loop-exit.ts`). They are prebuilt, back to back in one buffer, and rebuilt
 * only when the function's fuel local changes, so inserting one is a single copy.
 */
import * as opcodes from './opcodes.js';
import type { ByteWriter } from './writer.js';
import { pollLoad } from './stop-flag.js';

// Local copies: see the note in reader.ts (imports can be getters under test runners).
const { BLOCKTYPE_EMPTY } = opcodes;
const Op: typeof opcodes.Op = { ...opcodes.Op };

/**
 * The inserted sequences (`$f` is the function's fuel local, `…` the charge's cost):
 * - SAVE `local.get $f; global.set $fuel`; LOAD `global.get $fuel; local.set $f`;
 * - a charge is a head, the cost as i64.const immediate, and a tail:
 *   HEAD_GLOBAL `global.get $fuel; i64.const`, HEAD_LOCAL `local.get $f; i64.const`;
 *   TAIL_LOCAL `i64.sub; local.tee $f; i64.const 0; i64.lt_s; if; local.get $f; global.set $fuel; <refuel>; global.get $fuel; local.set $f; end`;
 *   TAIL_EAGER `i64.sub; local.tee $f; global.set $fuel; local.get $f; i64.const 0; i64.lt_s; if; <refuel>; end`;
 *   TAIL_GLOBAL `i64.sub; global.set $fuel; global.get $fuel; i64.const 0; i64.lt_s; if; <refuel>; end`;
 *   `<refuel>` is `i32.const 0; call_indirect $void $hook` with the hook, `unreachable` (and no
 *   reload in TAIL_LOCAL) without, `call $fuelTrap; unreachable` in stop-flag mode;
 * - stop-flag mode (`stop-flag.ts`): the poll of a loop header or function entry, POLL_LOCAL
 *   `<load flag>; if; local.get $f; global.set $fuel; call $stopTrap; unreachable; end` or
 *   POLL_GLOBAL `<load flag>; if; call $stopTrap; unreachable; end`;
 * - a loop whose refuel call is outside it (`loop-exit.ts`): its header charge's tail is
 *   EXIT_LOCAL `i64.sub; local.tee $f; i64.const 0; i64.lt_s; br_if 1` or EXIT_GLOBAL
 *   `i64.sub; global.set $fuel; global.get $fuel; i64.const 0; i64.lt_s; br_if 1`, and after its
 *   `end` comes a slow path, a head, the cost, a tail: SLOW_LOCAL `br 2; end; local.get $f;
 *   global.set $fuel; <refuel>; global.get $fuel; i64.const` … `i64.add; local.set $f; br 0; end;
 *   end`, or SLOW_GLOBAL `br 2; end; <refuel>; global.get $fuel; i64.const` … `i64.add;
 *   global.set $fuel; br 0; end; end`.
 */
export const SEQ_SAVE = 0;
export const SEQ_LOAD = 1;
export const SEQ_HEAD_GLOBAL = 2;
export const SEQ_HEAD_LOCAL = 3;
export const SEQ_TAIL_LOCAL = 4;
export const SEQ_TAIL_EAGER = 5;
export const SEQ_TAIL_GLOBAL = 6;
export const SEQ_EXIT_LOCAL = 7;
export const SEQ_EXIT_GLOBAL = 8;
export const SEQ_SLOW_LOCAL_HEAD = 9;
export const SEQ_SLOW_LOCAL_TAIL = 10;
export const SEQ_SLOW_GLOBAL_HEAD = 11;
export const SEQ_SLOW_GLOBAL_TAIL = 12;
export const SEQ_POLL_LOCAL = 13;
export const SEQ_POLL_GLOBAL = 14;
export const SEQ_COUNT = 15;

/** Stop-flag mode: the flag memory and the trap helpers (`stop-flag.ts`). */
export interface StopFlag {
  readonly memory: number;
  readonly fuelTrap: number;
  readonly stopTrap: number;
}

/**
 * The sequences for one fuel global and refuel hook, for the fuel local of the function being
 * rewritten.
 *
 * @example
 * ```ts
 * const seqs = new Sequences(fuelIndex, { type: voidType, table: hookTable });
 * seqs.build(fuelLocal);          // per function (cheap when the local is the same)
 * seqs.put(out, SEQ_HEAD_LOCAL);  // then the cost, then a tail
 * ```
 */
export class Sequences {
  /** Sequence k is `seq[at[k]..at[k + 1])`. */
  private readonly seq = new Uint8Array(400);
  private readonly at = new Int32Array(SEQ_COUNT + 1);
  /** The fuel local the sequences name (-1: none yet). */
  private local = -1;
  private readonly fuelLeb: Uint8Array;
  /** `<refuel>` without its reload: the hook's call, `unreachable`, or the fuel trap helper's call. */
  private readonly refuel: Uint8Array;
  /** Stop-flag mode: the flag load, and the stop trap helper's call with its `unreachable`. */
  private readonly poll: Uint8Array;
  private readonly stopTrap: Uint8Array;
  /** Whether `<refuel>` returns (the hook) rather than trapping. */
  private readonly reloads: boolean;

  /**
   * `hook`: the refuel hook's type and table (`hook.ts`), undefined to trap on the spot
   * instead; `stop`: stop-flag mode's memory and trap helpers (then no hook).
   */
  constructor(fuelIndex: number, hook: { readonly type: number; readonly table: number } | undefined, stop?: StopFlag) {
    this.fuelLeb = leb(fuelIndex);
    this.reloads = hook !== undefined;
    this.refuel = hook
      ? Uint8Array.of(Op.I32Const, 0, Op.CallIndirect, ...leb(hook.type), ...leb(hook.table))
      : stop
        ? Uint8Array.of(Op.Call, ...leb(stop.fuelTrap), Op.Unreachable)
        : Uint8Array.of(Op.Unreachable);
    this.poll = Uint8Array.from(stop ? pollLoad(stop.memory) : []);
    this.stopTrap = stop ? Uint8Array.of(Op.Call, ...leb(stop.stopTrap), Op.Unreachable) : new Uint8Array(0);
    // Functions without a fuel local use only the sequences that do not name it: build them now.
    this.build(0);
    this.local = -1;
  }

  /** Append sequence `k` (a SEQ_* constant) to `out`. */
  put(out: ByteWriter, k: number): void {
    out.copy(this.seq, this.at[k]!, this.at[k + 1]!);
  }

  /** Build the sequences for fuel local `f`. */
  build(f: number): void {
    if (f === this.local) return;
    this.local = f;
    const l = leb(f);
    const g = this.fuelLeb;
    const refuel = this.refuel;
    // After the hook's call, the local takes the global's new value (a trap needs nothing).
    const reload = this.reloads ? [Op.GlobalGet, g, Op.LocalSet, l] : [];
    const seq = this.seq;
    const at = this.at;
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
    put(Op.I64Sub, Op.LocalTee, l, Op.I64Const, 0, Op.I64LtS, Op.BrIf, 1);
    next(SEQ_EXIT_LOCAL);
    put(Op.I64Sub, Op.GlobalSet, g, Op.GlobalGet, g, Op.I64Const, 0, Op.I64LtS, Op.BrIf, 1);
    next(SEQ_EXIT_GLOBAL);
    put(Op.Br, 2, Op.End, Op.LocalGet, l, Op.GlobalSet, g, refuel, Op.GlobalGet, g, Op.I64Const);
    next(SEQ_SLOW_LOCAL_HEAD);
    put(Op.I64Add, Op.LocalSet, l, Op.Br, 0, Op.End, Op.End);
    next(SEQ_SLOW_LOCAL_TAIL);
    put(Op.Br, 2, Op.End, refuel, Op.GlobalGet, g, Op.I64Const);
    next(SEQ_SLOW_GLOBAL_HEAD);
    put(Op.I64Add, Op.GlobalSet, g, Op.Br, 0, Op.End, Op.End);
    next(SEQ_SLOW_GLOBAL_TAIL);
    put(this.poll, Op.If, BLOCKTYPE_EMPTY, Op.LocalGet, l, Op.GlobalSet, g, this.stopTrap, Op.End);
    next(SEQ_POLL_LOCAL);
    put(this.poll, Op.If, BLOCKTYPE_EMPTY, this.stopTrap, Op.End);
    next(SEQ_POLL_GLOBAL);
  }
}

/** Unsigned LEB128 bytes of `v` (< 2^32). */
export function leb(v: number): Uint8Array {
  let n = 1;
  for (let x = v; x >= 0x80; x = Math.floor(x / 0x80)) n++;
  const b = new Uint8Array(n);
  for (let i = 0; i < n - 1; i++, v = Math.floor(v / 0x80)) b[i] = (v % 0x80) | 0x80;
  b[n - 1] = v;
  return b;
}
