/**
 * The index spaces of the section rewrite, and the parts of a module outside code that name
 * indices: constant expressions (global initializers, segment offsets, element expressions),
 * exports, element and data segments. `ModuleRewriter` (`sections.ts`) extends
 * {@link IndexRewriter} with the walk over the sections.
 *
 * Every index is range-checked against the input's own index space before it is copied: an
 * index past it is invalid input, and after the rewrite it could name what the rewrite added
 * (the fuel and refuel globals, the hook's table, a leaf's unmetered copy, an appended type), turning an invalid
 * module into a valid one that reaches them.
 */
import * as opcodes from './opcodes.js';
import { ExternalKind, type WasmReader } from './reader.js';
import type { ByteWriter } from './writer.js';
import type { LeafTable } from './leaves.js';
import { InstrumentError } from './errors.js';
import { checkV8Limit, writeHookSegment } from './hook.js';
import { FLAGS_EXPORT, START_EXPORT } from './stop-flag.js';
import type { ResolvedOptions } from './options.js';

// Local copies: see the note in reader.ts (imports can be getters under test runners).
const { CONST_EXPR_OPS } = opcodes;
const Op: typeof opcodes.Op = { ...opcodes.Op };

/**
 * What the section rewrite knows of the module's index spaces, and the rewrite of the
 * entries that name indices outside code.
 *
 * @example
 * ```ts
 * class ModuleRewriter extends IndexRewriter {
 *   // … after the import, table and global sections have set the counts:
 *   private exports(r: WasmReader) { for (let n = r.u32(); n > 0; n--) this.exportEntry(r); }
 * }
 * ```
 */
export abstract class IndexRewriter {
  /** Whether the refuel hook is added (`hook.ts`). */
  protected readonly hook: boolean;
  /** How far defined globals move: the globals the rewrite imports (fuel, refuel). */
  protected readonly globalShift: number;
  /** Number of imported globals = index of the fuel global (the refuel global's is the next). */
  protected fuelIndex = 0;
  protected definedGlobals = 0;
  /** The input's tables (imported and defined) = the index of the hook's table. */
  protected tables = 0;
  /** The input's element segments = the index of the hook's. */
  protected elemSegments = 0;
  /** The input's memories (imported and defined) = the index of stop-flag mode's flag memory. */
  protected memories = 0;
  protected dataBytes = 0;
  /** Number of imported functions: the index of the first defined one. */
  protected funcImports = 0;
  /** Parameter count of each type in the type section. */
  protected typeParams: number[] = [];
  /** Type index of each defined function (function section). */
  protected funcTypes: Uint32Array = new Uint32Array(0);
  /** The small leaves of the module (undefined: none, or the optimization is off). */
  protected leaves: LeafTable | undefined;

  constructor(
    protected readonly input: Uint8Array,
    protected readonly out: ByteWriter,
    protected readonly opts: ResolvedOptions,
  ) {
    this.hook = opts.fuel && opts.refuel;
    this.globalShift = opts.fuel ? 1 + (this.hook ? 1 : 0) + (opts.countGrows ? 1 : 0) : 0;
  }

  /** Copy `input[start..r.pos)` unchanged. */
  protected through(r: WasmReader, start: number): void {
    this.out.copy(this.input, start, r.pos);
  }

  /**
   * Whether global index `idx` moves up (by {@link globalShift}) to make room for the added
   * globals. An index past the last global is refused here: shifted (or wrapped) it could name
   * the fuel or the refuel global.
   */
  protected shifts(r: WasmReader, idx: number): boolean {
    if (idx >= this.fuelIndex + this.definedGlobals) throw r.malformed(`global index ${idx} out of range`);
    return this.globalShift > 0 && idx >= this.fuelIndex;
  }

  /** Refuse table index `idx` past the input's tables: it would name the hook's. */
  protected tableIndex(r: WasmReader, idx: number): void {
    if (idx >= this.tables) throw r.malformed(`table index ${idx} out of range`);
  }

  /**
   * Refuse function index `idx` past the last function when leaf copies may be appended: the
   * input is invalid, but the index would name a copy, and the output would be a valid module
   * reaching an unmetered function (the code's calls and `ref.func`: `LeafTable.checkIndex`).
   */
  protected funcIndex(r: WasmReader, idx: number): void {
    // Stop-flag mode appends its trap helpers: the same holds for them.
    if ((this.leaves || this.opts.stopFlag) && idx >= this.funcImports + this.funcTypes.length) throw r.malformed(`function index ${idx} out of range`);
  }

  /** In stop-flag mode, refuse memory index `idx` past the input's memories: it would name the flag memory. */
  protected memoryIndex(r: WasmReader, idx: number): void {
    if (this.opts.stopFlag && idx >= this.memories) throw r.malformed(`memory index ${idx} out of range`);
  }

  /** Copy a constant expression, renumbering `global.get` of defined globals. */
  /**
   * Range-check type index `idx` of `what` (a function, an import, a tag): one past the input's
   * types could name the `[] -> []` type the rewrite may append. Returns it.
   */
  protected typeIndex(r: WasmReader, idx: number, what: string): number {
    if (idx >= this.typeParams.length) throw r.malformed(`${what} has type ${idx}, past the type section`);
    return idx;
  }

  /** Check the tag section's type indices. */
  protected tagTypes(r: WasmReader): void {
    for (let n = r.u32(); n > 0; n--) {
      r.u8(); // attribute
      this.typeIndex(r, r.u32(), 'tag');
    }
    if (r.pos !== r.end) throw r.malformed('tag section has trailing bytes');
  }

  protected constExpr(r: WasmReader): void {
    let from = r.pos;
    for (;;) {
      const at = r.pos;
      const op = r.readInstruction();
      if (!CONST_EXPR_OPS.has(op)) throw r.unsupported(`instruction 0x${op.toString(16)} in a constant expression`);
      if (op === Op.GlobalGet && this.shifts(r, r.index)) {
        this.out.copy(this.input, from, at + 1);
        this.out.u32(r.index + this.globalShift);
        from = r.pos;
      }
      if (op === Op.RefFunc) this.funcIndex(r, r.index);
      if (op === Op.End) break;
    }
    this.through(r, from);
  }

  protected exportEntry(r: WasmReader): void {
    const start = r.pos;
    const name = r.name();
    if (this.opts.stopFlag && (name === FLAGS_EXPORT || name === START_EXPORT)) {
      throw new InstrumentError('UNSUPPORTED', `module cannot be metered: it exports "${name}", a name stop-flag mode adds`);
    }
    const kind = r.u8();
    const idxAt = r.pos;
    const idx = r.u32();
    if (kind === ExternalKind.Func) this.funcIndex(r, idx);
    if (kind === ExternalKind.Memory) this.memoryIndex(r, idx);
    if (kind === ExternalKind.Table) this.tableIndex(r, idx);
    if (kind === ExternalKind.Global && this.shifts(r, idx)) {
      this.out.copy(this.input, start, idxAt);
      this.out.u32(idx + this.globalShift);
    } else {
      this.through(r, start);
    }
  }

  /** The element segments, then the hook's (no segment index moves). */
  protected elemSection(r: WasmReader | undefined): void {
    const count = r ? r.u32() : 0;
    this.elemSegments = count;
    const added = this.hook ? 1 : 0;
    this.out.u32(count + added);
    for (let i = 0; i < count; i++) this.elemSegment(r!);
    if (!added) return;
    checkV8Limit('elemSegments', count + 1);
    writeHookSegment(this.out, this.tables, this.fuelIndex + 1);
  }

  /** Element segment, flags 0–7: bit 0 passive/declarative, bit 1 table index or declarative, bit 2 expressions. */
  protected elemSegment(r: WasmReader): void {
    const flags = r.u32();
    if (flags > 7) throw r.malformed(`element segment flags ${flags}`);
    this.out.u32(flags);
    const active = (flags & 1) === 0;
    const exprs = (flags & 4) !== 0;
    let start = r.pos;
    if (active) this.tableIndex(r, flags & 2 ? r.u32() : 0);
    this.through(r, start);
    if (active) this.constExpr(r); // offset
    start = r.pos;
    if (flags & 3) {
      if (exprs) r.refType();
      else if (r.u8() !== 0) throw r.malformed('element kind');
    }
    const count = r.u32();
    if (!exprs) for (let i = 0; i < count; i++) this.funcIndex(r, r.u32()); // function indices
    this.through(r, start);
    if (exprs) for (let i = 0; i < count; i++) this.constExpr(r);
  }

  /** Data segment, flags 0 (active, memory 0), 1 (passive), 2 (active, explicit memory). */
  protected dataSegment(r: WasmReader): void {
    const flags = r.u32();
    if (flags > 2) throw r.malformed(`data segment flags ${flags}`);
    this.out.u32(flags);
    let start = r.pos;
    if (flags === 2) this.memoryIndex(r, r.u32());
    else if (flags === 0) this.memoryIndex(r, 0);
    this.through(r, start);
    if (flags !== 1) this.constExpr(r);
    start = r.pos;
    const len = r.u32();
    r.skip(len);
    this.through(r, start);
    this.dataBytes += len;
    if (this.dataBytes > this.opts.limits.maxDataBytes) {
      throw new InstrumentError('MEMORY_LIMIT', `data segments hold more than ${this.opts.limits.maxDataBytes} bytes`);
    }
  }
}
