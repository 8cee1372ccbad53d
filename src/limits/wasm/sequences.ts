/**
 * The instruction sequences the body rewriter (`body.ts`) inserts: saves and loads of the fuel
 * local, the heads and tails of charges, and the exit and slow path of loops whose refuel call
 * is outside them (`loop-exit.ts`). They are prebuilt, back to back in one buffer, and rebuilt
 * only when the function's fuel local changes, so inserting one is a single copy.
 */
import * as opcodes from './opcodes.js';
import type { ByteWriter } from './reader.js';

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
 *   reload in TAIL_LOCAL) without;
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
export const SEQ_COUNT = 13;

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
  private readonly seq = new Uint8Array(320);
  private readonly at = new Int32Array(SEQ_COUNT + 1);
  /** The fuel local the sequences name (-1: none yet). */
  private local = -1;
  private readonly fuelLeb: Uint8Array;
  /** `<refuel>` without its reload: the hook's call, or `unreachable`. */
  private readonly refuel: Uint8Array;

  /** `hook`: the refuel hook's type and table (`hook.ts`), undefined to trap on the spot instead. */
  constructor(fuelIndex: number, hook: { readonly type: number; readonly table: number } | undefined) {
    this.fuelLeb = leb(fuelIndex);
    this.refuel = hook ? Uint8Array.of(Op.I32Const, 0, Op.CallIndirect, ...leb(hook.type), ...leb(hook.table)) : Uint8Array.of(Op.Unreachable);
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
    const reload = refuel.length > 1 ? [Op.GlobalGet, g, Op.LocalSet, l] : [];
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
