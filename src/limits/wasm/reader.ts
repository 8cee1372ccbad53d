/**
 * Binary codec for core WebAssembly modules: a cursor-style {@link WasmReader} (LEB128,
 * sections, value types, limits, and an instruction walker that knows every immediate of the
 * proposals listed in `opcodes.ts`); the output side is `writer.ts`.
 *
 * Built for a 12–17 MB module in tens of milliseconds: no per-instruction allocation, plain
 * numbers instead of BigInt (64-bit immediates are skipped, never decoded), and the
 * instruction walker returns the opcode and leaves the interesting index in a field.
 *
 * @example
 * ```ts
 * import { Op } from './opcodes.js';
 * for (const s of readSections(bytes)) console.log(s.id, s.end - s.start, s.name ?? '');
 * const r = new WasmReader(bytes, instrStart, instrEnd); // instructions of one body, after its locals
 * while (r.pos < r.end) {
 *   const op = r.readInstruction();
 *   if (op === Op.GlobalGet) console.log('reads global', r.index);
 * }
 * ```
 */
import * as opcodes from './opcodes.js';

// Read-once local copies of the opcode tables: module transforms of test runners (vitest)
// turn every use of an import into a getter call, which tripled the per-instruction cost.
const { ATOMIC_FE, BLOCKTYPE_EMPTY, isHeapType, isValType, MISC_FC, SIMD_FD, SINGLE_BYTE } = opcodes;
const Imm: typeof opcodes.Imm = { ...opcodes.Imm };

/** `malformed`: not a valid module. `unsupported`: valid, but uses something we cannot decode. */
export type WasmFormatErrorKind = 'malformed' | 'unsupported';

/** Thrown by the reader; `offset` is the byte position in the module where decoding stopped. */
export class WasmFormatError extends Error {
  readonly kind: WasmFormatErrorKind;
  readonly offset: number;

  constructor(kind: WasmFormatErrorKind, message: string, offset: number) {
    super(`${message} (at byte ${offset})`);
    this.name = 'WasmFormatError';
    this.kind = kind;
    this.offset = offset;
  }
}

const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Section ids of the core module format. */
export const SectionId = {
  Custom: 0, Type: 1, Import: 2, Function: 3, Table: 4, Memory: 5, Global: 6,
  Export: 7, Start: 8, Elem: 9, Code: 10, Data: 11, DataCount: 12, Tag: 13,
} as const;

/** Kinds of imports and exports. */
export const ExternalKind = { Func: 0, Table: 1, Memory: 2, Global: 3, Tag: 4 } as const;

/** Required position of each section id (tag 13 sits before global, datacount 12 before code). */
export const SECTION_ORDER: readonly number[] = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 11, 6];

/** One top-level section: `start`..`end` is its payload (after id and size). */
export interface Section {
  readonly id: number;
  readonly start: number;
  readonly end: number;
  /** Custom sections (id 0) only: the section name. */
  readonly name?: string;
}

/** The two encodings of a table or memory size: `max` undefined when absent. */
export interface Limits {
  readonly flags: number;
  readonly min: number;
  readonly max: number | undefined;
}

/**
 * A cursor over `buf[pos..end)`. Every read checks bounds and throws {@link WasmFormatError}.
 *
 * @example
 * ```ts
 * const r = new WasmReader(bytes, section.start, section.end);
 * const count = r.u32(); // vector length
 * ```
 */
export class WasmReader {
  readonly buf: Uint8Array;
  pos: number;
  end: number;
  /**
   * The index immediate of the last {@link readInstruction} whose shape is {@link Imm.Index}, or
   * the first of two ({@link Imm.Index2}), prefixed instructions included; after
   * {@link importDesc}, a function or tag import's type index.
   */
  index = 0;
  /** The second index of the last instruction of shape {@link Imm.Index2} (call_indirect: the table). */
  index2 = 0;
  /** The sub-opcode of the last prefixed (0xFC, 0xFD, 0xFE) instruction. */
  sub = 0;
  /**
   * The memories code may name (imported and defined); a larger memory index is refused, so
   * that stop-flag mode's memory, added after them, cannot be named. Infinity: no check.
   */
  memories = Infinity;
  /**
   * The types code may name (the input's type section); a larger type index in a block type is
   * refused, so that the `[] -> []` type the rewrite may append cannot be named. Infinity: no check.
   */
  types = Infinity;
  /**
   * The label immediates of the last `br_table` (its targets, then the default) or
   * `try_table` (one per catch clause): `labels[0..labelCount)`. Other instructions leave
   * them alone.
   */
  labels: Uint32Array = new Uint32Array(16);
  labelCount = 0;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
  }

  malformed(message: string): WasmFormatError {
    return new WasmFormatError('malformed', message, this.pos);
  }

  unsupported(message: string): WasmFormatError {
    return new WasmFormatError('unsupported', message, this.pos);
  }

  u8(): number {
    if (this.pos >= this.end) throw this.malformed('unexpected end of data');
    return this.buf[this.pos++]!;
  }

  /** Unsigned LEB128, at most 5 bytes, value < 2^32. */
  u32(): number {
    const b = this.buf;
    let p = this.pos;
    let byte = p < this.end ? b[p++]! : -1;
    if (byte >= 0 && byte < 0x80) {
      this.pos = p; // the common single-byte case
      return byte;
    }
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      if (byte < 0) throw this.malformed('unexpected end of data in LEB128');
      if (shift === 28 && byte > 0x0f) throw this.malformed('u32 LEB128 too long or too large');
      result += (byte & 0x7f) * 2 ** shift; // multiply: bitwise ops would wrap at 2^31
      if (byte < 0x80) break;
      byte = p < this.end ? b[p++]! : -1;
    }
    this.pos = p;
    return result;
  }

  /** Skip a LEB128 of at most `maxBytes` bytes (s32: 5, s33: 5, s64/u64: 10). */
  skipLeb(maxBytes: number): void {
    const b = this.buf;
    let p = this.pos;
    const limit = Math.min(p + maxBytes, this.end);
    for (;;) {
      if (p >= limit) throw this.malformed('LEB128 too long or truncated');
      if (b[p++]! < 0x80) break;
    }
    this.pos = p;
  }

  skip(n: number): void {
    if (this.pos + n > this.end) throw this.malformed('unexpected end of data');
    this.pos += n;
  }

  /** A length-prefixed UTF-8 name. */
  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    try {
      return utf8.decode(this.buf.subarray(start, start + len));
    } catch {
      throw this.malformed('name is not valid UTF-8');
    }
  }

  /**
   * A type section: only plain function types; GC rec/sub/struct/array types are refused.
   * Returns the parameter count of each type, and the index of the first `[] -> []` type (-1:
   * none).
   */
  funcTypes(): { params: number[]; voidType: number } {
    const params: number[] = [];
    let voidType = -1;
    for (let n = this.u32(); n > 0; n--) {
      const form = this.u8();
      if (form !== 0x60) throw this.unsupported(`type form ${hex(form)} (GC types are not supported)`);
      let arity = 0;
      for (let k = 0; k < 2; k++) {
        const count = this.u32();
        if (k === 0) params.push(count);
        arity += count;
        for (let m = count; m > 0; m--) this.valType();
      }
      if (arity === 0 && voidType < 0) voidType = params.length - 1;
    }
    return { params, voidType };
  }

  /** A value type; GC reference types (0x63/0x64 + heap type, abstract GC types) are refused. */
  valType(): void {
    const b = this.u8();
    if (!isValType(b)) throw this.unsupported(`value type ${hex(b)} (GC / typed references are not supported)`);
  }

  /** A reference type (table element type, elem segment type). */
  refType(): void {
    const b = this.u8();
    if (!isHeapType(b)) throw this.unsupported(`reference type ${hex(b)} is not supported`);
  }

  /** Table or memory limits. Flags beyond max/shared (bit 2 = 64-bit, bit 3 = page size) are refused. */
  limits(what: 'memory' | 'table'): Limits {
    const flags = this.u8();
    if (flags & 0x04) throw this.unsupported(`${what}64 is not supported`);
    if (flags > (what === 'memory' ? 0x03 : 0x01)) throw this.unsupported(`${what} limits flags ${hex(flags)}`);
    const min = this.u32();
    const max = flags & 0x01 ? this.u32() : undefined;
    return { flags, min, max };
  }

  /** A global type: value type and mutability flag. */
  globalType(): void {
    this.valType();
    if (this.u8() > 1) throw this.malformed('global mutability flag');
  }

  /** An import descriptor (after module and field names); returns its {@link ExternalKind}. */
  importDesc(): number {
    const kind = this.u8();
    switch (kind) {
      case ExternalKind.Func: this.index = this.u32(); break; // type index
      case ExternalKind.Table: this.refType(); this.limits('table'); break;
      case ExternalKind.Memory: this.limits('memory'); break;
      case ExternalKind.Global: this.globalType(); break;
      case ExternalKind.Tag: this.u8(); this.index = this.u32(); break; // attribute, type index
      default: throw this.malformed(`import kind ${kind}`);
    }
    return kind;
  }

  /** A block type: 0x40, one value type byte, or a non-negative s33 type index. */
  blockType(): void {
    const b = this.pos < this.end ? this.buf[this.pos]! : -1;
    if (b === BLOCKTYPE_EMPTY || isValType(b)) {
      this.pos++;
    } else if (b >= 0x40 && b < 0x80) {
      // A one-byte negative s33 that is not a type we know: a GC value type or garbage.
      throw this.unsupported(`block type ${hex(b)} is not supported`);
    } else {
      // A type index (multi-value): a non-negative s33. A negative one (a value type in a
      // redundant encoding) is left to the validator, as before.
      const index = this.s33();
      if (index >= this.types) throw this.malformed(`block type index ${index} out of range`);
    }
  }

  /** Signed LEB128 of 33 bits (at most 5 bytes), as a number. */
  private s33(): number {
    const b = this.buf;
    let p = this.pos;
    const limit = Math.min(p + 5, this.end);
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      if (p >= limit) throw this.malformed('s33 LEB128 too long or truncated');
      byte = b[p++]!;
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte >= 0x80);
    this.pos = p;
    // Sign-extend from the last byte's bit 6 (shift is at most 35: exact in a double).
    return byte & 0x40 ? result - 2 ** shift : result;
  }

  /** The function locals: a vector of (count, value type). Returns how many it declares. */
  locals(): number {
    let total = 0;
    for (let n = this.u32(); n > 0; n--) {
      total += this.u32();
      this.valType();
    }
    return total;
  }

  /** memarg: flags (bit 6: a memory index follows, multi-memory), then a u64 offset. */
  private memArg(): void {
    const flags = this.u32();
    this.memory(flags & 0x40 ? this.u32() : 0);
    this.skipLeb(10);
  }

  /** Refuse memory index `m` past {@link memories}. */
  private memory(m: number): void {
    if (m >= this.memories) throw this.malformed(`memory index ${m} out of range`);
  }

  /**
   * Read one instruction: return its first opcode byte and leave {@link pos} after its
   * immediates. For single-index instructions (global.get, call, br, …) the index is in
   * {@link index}. Unknown opcodes throw `unsupported`.
   */
  readInstruction(): number {
    if (this.pos >= this.end) throw this.malformed('unexpected end of code');
    const op = this.buf[this.pos++]!;
    const kind = SINGLE_BYTE[op]!;
    if (kind === Imm.None) return op; // most instructions: nothing to skip
    if (kind === Imm.Index) {
      this.index = this.u32();
      return op;
    }
    this.immediates(kind, op);
    return op;
  }

  /** Skip the immediates of shape `kind` that follow opcode `op`. */
  private immediates(kind: number, op: number): void {
    switch (kind) {
      case Imm.BlockType: return this.blockType();
      case Imm.Index2: this.index = this.u32(); this.index2 = this.u32(); return;
      case Imm.MemArg: return this.memArg();
      case Imm.S32: return this.skipLeb(5);
      case Imm.S64: return this.skipLeb(10);
      case Imm.Bytes4: return this.skip(4);
      case Imm.Bytes8: return this.skip(8);
      case Imm.BrTable: return this.brTable();
      case Imm.SelectT: for (let n = this.u32(); n > 0; n--) this.valType(); return;
      case Imm.HeapType: return this.refType();
      case Imm.TryTable: return this.tryTable();
      case Imm.PrefixFC: return this.prefixed(MISC_FC, op);
      case Imm.PrefixFD: return this.prefixed(SIMD_FD, op);
      case Imm.PrefixFE: return this.prefixed(ATOMIC_FE, op);
      case Imm.MemIndex: return this.memory((this.index = this.u32()));
      default: this.pos--; throw this.unsupported(`unknown opcode ${hex(op)}`);
    }
  }

  private brTable(): void {
    this.labelCount = 0;
    for (let n = this.u32(); n > 0; n--) this.label(this.u32());
    this.label(this.u32());
  }

  /** try_table: block type, then catch clauses (0/1: tag + label, 2/3: label). */
  private tryTable(): void {
    this.blockType();
    this.labelCount = 0;
    for (let n = this.u32(); n > 0; n--) {
      const clause = this.u8();
      if (clause > 3) throw this.malformed(`try_table catch kind ${clause}`);
      if (clause < 2) this.u32();
      this.label(this.u32());
    }
  }

  private label(l: number): void {
    if (this.labelCount === this.labels.length) {
      const grown = new Uint32Array(this.labels.length * 2);
      grown.set(this.labels);
      this.labels = grown;
    }
    this.labels[this.labelCount++] = l;
  }

  /** A prefixed instruction: u32 sub-opcode, immediates per `subTable`. */
  private prefixed(subTable: Uint8Array, prefix: number): void {
    const at = this.pos - 1;
    const sub = this.u32();
    this.sub = sub;
    const kind = sub < subTable.length ? subTable[sub]! : Imm.Invalid;
    switch (kind) {
      case Imm.None: return;
      case Imm.Index:
        this.index = this.u32();
        if (prefix === 0xfc && sub === 11) this.memory(this.index); // memory.fill mem
        return;
      case Imm.Index2:
        this.index = this.u32();
        this.index2 = this.u32();
        // memory.init data mem, memory.copy dst src
        if (prefix === 0xfc && (sub === 8 || sub === 10)) {
          this.memory(this.index2);
          if (sub === 10) this.memory(this.index);
        }
        return;
      case Imm.MemArg: return this.memArg();
      case Imm.MemArgLane: this.memArg(); this.skip(1); return;
      case Imm.Lane: case Imm.Byte: return this.skip(1);
      case Imm.Bytes16: return this.skip(16);
      default:
        this.pos = at;
        throw this.unsupported(`unknown opcode ${hex(prefix)} ${sub}`);
    }
  }
}

/** Check the 8-byte header of a core module (magic + version 1); components are refused. */
export function checkHeader(bytes: Uint8Array): void {
  const magic = bytes.length >= 8 && bytes[0] === 0x00 && bytes[1] === 0x61 && bytes[2] === 0x73 && bytes[3] === 0x6d;
  if (!magic) throw new WasmFormatError('malformed', 'not a WebAssembly binary (bad magic)', 0);
  const version = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
  if (version !== 1) {
    const what = version === 0x1000d ? 'a component, not a core module' : `version ${version}`;
    throw new WasmFormatError('malformed', `unsupported WebAssembly binary: ${what}`, 4);
  }
}

/**
 * Split a core module into its sections (header, sizes and section order checked).
 *
 * @example
 * ```ts
 * const hasNames = readSections(bytes).some((s) => s.name === 'name');
 * ```
 */
export function readSections(bytes: Uint8Array): Section[] {
  checkHeader(bytes);
  const r = new WasmReader(bytes, 8);
  const sections: Section[] = [];
  let lastOrder = 0;
  while (r.pos < r.end) {
    const id = r.u8();
    const size = r.u32();
    const start = r.pos;
    if (start + size > r.end) throw r.malformed(`section ${id} runs past the end of the module`);
    const order = SECTION_ORDER[id];
    if (order === undefined) throw r.malformed(`unknown section id ${id}`);
    if (id !== SectionId.Custom && order <= lastOrder) throw r.malformed(`section ${id} is out of order or repeated`);
    if (id !== SectionId.Custom) lastOrder = order;
    if (id === 0) {
      // `start` stays at the payload start, so a kept custom section is copied whole.
      const name = new WasmReader(bytes, start, start + size).name();
      sections.push({ id, start, end: start + size, name });
    } else {
      sections.push({ id, start, end: start + size });
    }
    r.pos = start + size;
  }
  return sections;
}
