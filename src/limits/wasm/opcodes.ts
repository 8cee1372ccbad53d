/**
 * Opcode tables of the WebAssembly binary format: for every opcode we accept, the shape of
 * the immediates that follow it. The instruction walker in `reader.ts` only needs to know
 * how many bytes to skip, so the tables classify opcodes by immediate *shape*, not by
 * meaning.
 *
 * Covered: MVP, sign extension, saturating float-to-int, bulk memory, reference types,
 * multi-value, tail calls, SIMD (incl. relaxed SIMD), threads/atomics, legacy exception
 * handling (try/catch/delegate/rethrow) and try_table/throw_ref. Everything else (GC 0xFB,
 * typed function references, stack switching, reserved bytes) is {@link Imm.Invalid}: the
 * walker refuses it, because skipping bytes it cannot decode could desynchronise the
 * instruction stream and let unmetered code through.
 *
 * @example
 * ```ts
 * import { Imm, SINGLE_BYTE } from './opcodes.js';
 * SINGLE_BYTE[0x41] === Imm.S32; // i32.const is followed by a signed LEB128
 * ```
 */

/** Immediate shapes. The numbers are only table entries; compare against these names. */
export const Imm = {
  /** Not an opcode we can decode: refuse the module. */
  Invalid: 0,
  /** No immediates. */
  None: 1,
  /** A block type: 0x40, a value type, or an s33 type index. */
  BlockType: 2,
  /** One u32 LEB index (label, function, local, global, table, tag, data, elem, memory). */
  Index: 3,
  /** Two u32 LEB indices (call_indirect, memory.copy, table.init, …). */
  Index2: 4,
  /** br_table: a vector of labels plus the default label. */
  BrTable: 5,
  /** memarg: alignment flags (bit 6 = a memory index follows), then the offset. */
  MemArg: 6,
  /** A signed LEB of at most 5 bytes (i32.const). */
  S32: 7,
  /** A signed LEB of at most 10 bytes (i64.const). */
  S64: 8,
  /** Four raw bytes (f32.const). */
  Bytes4: 9,
  /** Eight raw bytes (f64.const). */
  Bytes8: 10,
  /** select t*: a vector of value types. */
  SelectT: 11,
  /** ref.null: a heap type. */
  HeapType: 12,
  /** try_table: a block type and a vector of catch clauses. */
  TryTable: 13,
  /** The 0xFC prefix: a u32 sub-opcode looked up in {@link MISC_FC}. */
  PrefixFC: 14,
  /** The 0xFD prefix: a u32 sub-opcode looked up in {@link SIMD_FD}. */
  PrefixFD: 15,
  /** The 0xFE prefix: a u32 sub-opcode looked up in {@link ATOMIC_FE}. */
  PrefixFE: 16,
  /** memarg followed by a one-byte lane index (SIMD load/store lane). */
  MemArgLane: 17,
  /** One lane-index byte (SIMD extract/replace lane). */
  Lane: 18,
  /** Sixteen raw bytes (v128.const, i8x16.shuffle). */
  Bytes16: 19,
  /** One u32 LEB memory index (memory.size, memory.grow): range-checked by the reader. */
  MemIndex: 20,
  /** One reserved zero byte (atomic.fence). */
  Byte: 20,
} as const;

/** Opcodes the instrumenter reacts to or emits (control structure, calls, locals, globals, the charge). */
export const Op = {
  Unreachable: 0x00,
  Block: 0x02,
  Loop: 0x03,
  If: 0x04,
  Else: 0x05,
  Try: 0x06,
  Catch: 0x07,
  Throw: 0x08,
  Rethrow: 0x09,
  ThrowRef: 0x0a,
  End: 0x0b,
  Br: 0x0c,
  BrIf: 0x0d,
  BrTable: 0x0e,
  Return: 0x0f,
  Call: 0x10,
  CallIndirect: 0x11,
  ReturnCall: 0x12,
  ReturnCallIndirect: 0x13,
  Delegate: 0x18,
  CatchAll: 0x19,
  TryTable: 0x1f,
  LocalGet: 0x20,
  LocalSet: 0x21,
  LocalTee: 0x22,
  GlobalGet: 0x23,
  GlobalSet: 0x24,
  MemoryGrow: 0x40,
  I32Const: 0x41,
  I64Const: 0x42,
  F32Const: 0x43,
  F64Const: 0x44,
  I32Eq: 0x46,
  I64Add: 0x7c,
  I64Sub: 0x7d,
  I64LtS: 0x53,
  RefNull: 0xd0,
  RefFunc: 0xd2,
  TableGet: 0x25,
  TableSet: 0x26,
  PrefixMisc: 0xfc,
  PrefixSimd: 0xfd,
} as const;

/** Empty block type byte (0x40). */
export const BLOCKTYPE_EMPTY = 0x40;

/** Value type bytes we understand; anything else (GC reference types) is refused. */
export const ValType = {
  I32: 0x7f,
  I64: 0x7e,
  F32: 0x7d,
  F64: 0x7c,
  V128: 0x7b,
  FuncRef: 0x70,
  ExternRef: 0x6f,
  ExnRef: 0x69,
} as const;

/** Whether `b` is one of the value-type bytes in {@link ValType}. */
export function isValType(b: number): boolean {
  return (b >= ValType.V128 && b <= ValType.I32) || b === ValType.FuncRef || b === ValType.ExternRef || b === ValType.ExnRef;
}

/** Whether `b` is a heap type we understand in `ref.null` (func, extern, exn). */
export function isHeapType(b: number): boolean {
  return b === ValType.FuncRef || b === ValType.ExternRef || b === ValType.ExnRef;
}

/** Build a table of `size` entries, all Invalid, then apply `[from, to, kind]` ranges. */
function table(size: number, ranges: readonly (readonly [number, number, number])[]): Uint8Array {
  const t = new Uint8Array(size);
  for (const [from, to, kind] of ranges) t.fill(kind, from, to + 1);
  return t;
}

/** Immediate shape of every single-byte opcode. */
export const SINGLE_BYTE: Uint8Array = table(256, [
  [0x00, 0x01, Imm.None], // unreachable, nop
  [0x02, 0x04, Imm.BlockType], // block, loop, if
  [0x05, 0x05, Imm.None], // else
  [0x06, 0x06, Imm.BlockType], // try (legacy exceptions)
  [0x07, 0x09, Imm.Index], // catch tag, throw tag, rethrow label
  [0x0a, 0x0b, Imm.None], // throw_ref, end
  [0x0c, 0x0d, Imm.Index], // br, br_if
  [0x0e, 0x0e, Imm.BrTable],
  [0x0f, 0x0f, Imm.None], // return
  [0x10, 0x10, Imm.Index], // call
  [0x11, 0x11, Imm.Index2], // call_indirect type table
  [0x12, 0x12, Imm.Index], // return_call
  [0x13, 0x13, Imm.Index2], // return_call_indirect
  [0x18, 0x18, Imm.Index], // delegate label
  [0x19, 0x19, Imm.None], // catch_all
  [0x1a, 0x1b, Imm.None], // drop, select
  [0x1c, 0x1c, Imm.SelectT],
  [0x1f, 0x1f, Imm.TryTable],
  [0x20, 0x26, Imm.Index], // local.get/set/tee, global.get/set, table.get/set
  [0x28, 0x3e, Imm.MemArg], // loads and stores
  [0x3f, 0x40, Imm.MemIndex], // memory.size, memory.grow (memory index)
  [0x41, 0x41, Imm.S32],
  [0x42, 0x42, Imm.S64],
  [0x43, 0x43, Imm.Bytes4],
  [0x44, 0x44, Imm.Bytes8],
  [0x45, 0xc4, Imm.None], // numeric and sign-extension operators
  [0xd0, 0xd0, Imm.HeapType], // ref.null
  [0xd1, 0xd1, Imm.None], // ref.is_null
  [0xd2, 0xd2, Imm.Index], // ref.func
  [0xfc, 0xfc, Imm.PrefixFC],
  [0xfd, 0xfd, Imm.PrefixFD],
  [0xfe, 0xfe, Imm.PrefixFE],
]);

/** 0xFC sub-opcodes: saturating truncation (0–7), bulk memory and table operations (8–17). */
export const MISC_FC: Uint8Array = table(18, [
  [0, 7, Imm.None],
  [8, 8, Imm.Index2], // memory.init data mem
  [9, 9, Imm.Index], // data.drop
  [10, 10, Imm.Index2], // memory.copy mem mem
  [11, 11, Imm.Index], // memory.fill mem
  [12, 12, Imm.Index2], // table.init elem table
  [13, 13, Imm.Index], // elem.drop
  [14, 14, Imm.Index2], // table.copy table table
  [15, 17, Imm.Index], // table.grow, table.size, table.fill
]);

/** 0xFD sub-opcodes (SIMD and relaxed SIMD). Gaps are reserved and stay Invalid. */
export const SIMD_FD: Uint8Array = table(276, [
  [0, 11, Imm.MemArg], // v128.load*, v128.store
  [12, 13, Imm.Bytes16], // v128.const, i8x16.shuffle
  [14, 20, Imm.None], // swizzle, splats
  [21, 34, Imm.Lane], // extract_lane / replace_lane
  [35, 83, Imm.None], // comparisons, bitwise, any_true
  [84, 91, Imm.MemArgLane], // v128.load*_lane, v128.store*_lane
  [92, 93, Imm.MemArg], // v128.load32_zero, v128.load64_zero
  [94, 153, Imm.None],
  [155, 161, Imm.None],
  [163, 164, Imm.None],
  [167, 174, Imm.None],
  [177, 177, Imm.None],
  [181, 186, Imm.None],
  [188, 193, Imm.None],
  [195, 196, Imm.None],
  [199, 206, Imm.None],
  [209, 209, Imm.None],
  [213, 225, Imm.None],
  [227, 237, Imm.None],
  [239, 255, Imm.None],
  [256, 275, Imm.None], // relaxed SIMD
]);

/** 0xFE sub-opcodes (threads): wait/notify and atomic loads, stores and RMW take a memarg. */
export const ATOMIC_FE: Uint8Array = table(0x4f, [
  [0x00, 0x02, Imm.MemArg], // memory.atomic.notify, wait32, wait64
  [0x03, 0x03, Imm.Byte], // atomic.fence 0x00
  [0x10, 0x4e, Imm.MemArg], // atomic loads, stores, rmw, cmpxchg
]);

/** Instructions allowed in constant expressions (MVP, reference types, SIMD, extended-const). */
export const CONST_EXPR_OPS: ReadonlySet<number> = new Set<number>([
  Op.End, Op.GlobalGet, Op.I32Const, Op.I64Const, Op.F32Const, Op.F64Const, Op.RefNull, Op.RefFunc,
  Op.PrefixSimd, // only v128.const is constant; the validator rejects the rest
  0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e, // i32/i64 add, sub, mul (extended-const)
]);

/**
 * What a metering pass must know about an opcode; most are {@link Role.None} and only counted.
 *
 * - `Open`: block, if, try (a new label whose target is after its end); `Loop`; `TryTable`
 *   (opens a block, and its catch clauses name labels, see `WasmReader.labels`).
 * - `Close`: end, or delegate (ends a legacy try in place of end).
 * - `Global`: global.get/set (the index moves).
 * - `Call`: call, call_indirect: other code runs and returns here.
 * - `Leave`: control leaves the function for good: return, return_call(_indirect), throw,
 *   throw_ref, rethrow, and unreachable (a trap).
 * - `Br`: br, br_if (label in `WasmReader.index`); `BrTable` (labels in `WasmReader.labels`).
 * - `Else`; `Catch`: catch, catch_all of a legacy try (entered only by a caught exception).
 * - `Table`: table.get/set and the 0xFC prefix (table.init … table.fill among others): a table
 *   or element segment index past the input's own would name the refuel hook's (`hook.ts`).
 *   (call_indirect and return_call_indirect name a table too; they keep `Call` and `Leave`.)
 */
export const Role = {
  None: 0, Open: 1, Loop: 2, Close: 3, Global: 4, Call: 5, Leave: 6, Br: 7, BrTable: 8, Else: 9, Catch: 10, TryTable: 11, Table: 12,
} as const;

/** {@link Role} of every single-byte opcode. */
export const ROLE: Uint8Array = new Uint8Array(256);
for (const op of [Op.Block, Op.If, Op.Try]) ROLE[op] = Role.Open;
ROLE[Op.TryTable] = Role.TryTable;
ROLE[Op.Loop] = Role.Loop;
ROLE[Op.End] = Role.Close;
ROLE[Op.Delegate] = Role.Close;
ROLE[Op.GlobalGet] = Role.Global;
ROLE[Op.GlobalSet] = Role.Global;
for (const op of [Op.Call, Op.CallIndirect]) ROLE[op] = Role.Call;
for (const op of [Op.Return, Op.ReturnCall, Op.ReturnCallIndirect, Op.Throw, Op.ThrowRef, Op.Rethrow, Op.Unreachable]) ROLE[op] = Role.Leave;
for (const op of [Op.Br, Op.BrIf]) ROLE[op] = Role.Br;
ROLE[Op.BrTable] = Role.BrTable;
for (const op of [Op.TableGet, Op.TableSet, Op.PrefixMisc]) ROLE[op] = Role.Table;
ROLE[Op.Else] = Role.Else;
for (const op of [Op.Catch, Op.CatchAll]) ROLE[op] = Role.Catch;
