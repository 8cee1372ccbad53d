/**
 * The section-level rewrite of one core module: every section is copied in order, except
 * what metering and the caps must change:
 *
 * - imports: the fuel global import `(import "agentos:limits" "fuel" (global (mut i64)))` is
 *   appended (a module without imports gets an import section for it), and a guest import
 *   from that namespace is refused;
 * - global indices: the fuel global takes the index after the imported globals, so every
 *   reference to a defined global (in code, global initializers, data and element offsets,
 *   element expressions and exports) moves up by one; an index past the last global is
 *   refused, since shifted (or wrapped) it could name the fuel global;
 * - defined memories and tables: their maximum is capped (`maxMemoryPages`,
 *   `maxTableElements`), so `memory.grow` and `table.grow` fail (-1) instead of exceeding the
 *   budget; an initial size over the cap is `MEMORY_LIMIT`;
 * - validation caps: function count, total data segment bytes;
 * - custom sections naming indices or code offsets (`name`, DWARF, source maps) are dropped;
 * - the code section goes to the body rewriter (`body.ts`);
 * - small leaf functions (`InstrumentOptions.leafInlineThreshold`) called directly get an
 *   unmetered copy each, appended after the defined functions (the function section lists
 *   their types, the code section their bodies; no index moves). The leaves are found before
 *   the function section is written (`findLeaves`, `scan.ts`), but which of them are called is
 *   only known once the code is rewritten: the function section is written then, and inserted
 *   where it belongs. A function index past the last function (in exports, the start section,
 *   element segments, constant expressions and code) is then refused: it would name a copy.
 */
import * as opcodes from './opcodes.js';
import { ByteWriter, ExternalKind, readSections, SECTION_ORDER, SectionId, WasmReader, type Limits, type Section } from './reader.js';
import { FuelInjector } from './body.js';
import { findLeaves, type LeafTable } from './scan.js';
import { InstrumentError } from './errors.js';
import { MAX_PAGES_32, type InstrumentResult, type InstrumentStats, type ResolvedOptions } from './options.js';

/** Module name of the fuel global import. Guest modules may not import from it themselves. */
export const FUEL_IMPORT_MODULE = 'agentos:limits';
/** Field name of the fuel global import: `(import "agentos:limits" "fuel" (global (mut i64)))`. */
export const FUEL_IMPORT_FIELD = 'fuel';

// Local copies: see the note in reader.ts (imports can be getters under test runners).
const { CONST_EXPR_OPS } = opcodes;
const Op: typeof opcodes.Op = { ...opcodes.Op };

/** Bytes per WebAssembly page. */
const PAGE = 65536;

/** Custom sections describing indices or code offsets that the rewrite invalidates. */
const isStaleCustomSection = (name: string): boolean =>
  name === 'name' || name.startsWith('.debug_') || name === 'sourceMappingURL' || name === 'external_debug_info';

/** Cap `lim` at `cap`: throws MEMORY_LIMIT when the initial size alone is over it. */
function capLimits(lim: Limits, cap: number | undefined, what: string, describe: (n: number) => string): Limits {
  if (cap === undefined) return lim;
  if (lim.min > cap) {
    throw new InstrumentError('MEMORY_LIMIT', `${what} needs ${describe(lim.min)} initially; the limit allows ${describe(cap)}`, { requested: lim.min, allowed: cap });
  }
  return { flags: lim.flags | 0x01, min: lim.min, max: lim.max === undefined ? cap : Math.min(lim.max, cap) };
}

/**
 * One rewrite of one module: walks the sections in order, writing the result to `out`.
 * Throws {@link InstrumentError} for a module over a cap, and `WasmFormatError` for one it
 * cannot decode (`instrumentModule` turns those into `InstrumentError`s).
 *
 * @example
 * ```ts
 * const { bytes, stats } = new ModuleRewriter(input, resolveOptions({ maxMemoryPages: 256 })).run();
 * ```
 */
export class ModuleRewriter {
  private readonly out: ByteWriter;
  /** Number of imported globals = index of the fuel global; defined globals at or above shift by one. */
  private fuelIndex = 0;
  private definedGlobals = 0;
  private importsWritten = false;
  private dataBytes = 0;
  /** Parameter count of each type in the type section. */
  private typeParams: number[] = [];
  /** Type index of each defined function (function section). */
  private funcTypes: Uint32Array = new Uint32Array(0);
  /** Number of imported functions: the index of the first defined one. */
  private funcImports = 0;
  /** The small leaves of the module (undefined: none, or the optimization is off). */
  private leaves: LeafTable | undefined;
  /** With leaves: the function section, written after the code section at output position `funcSectionAt`. */
  private funcSection: Section | undefined;
  private funcSectionAt = 0;
  private readonly stats: InstrumentStats = { functions: 0, loops: 0, chargePoints: 0, fineRegions: 0, leafCopies: 0, leafCalls: 0, memories: [] };

  constructor(
    private readonly input: Uint8Array,
    private readonly opts: ResolvedOptions,
  ) {
    this.out = new ByteWriter(input.length + (input.length >> 3) + 1024);
  }

  run(): InstrumentResult {
    const sections = readSections(this.input);
    const opts = this.opts;
    const code = sections.find((s) => s.id === SectionId.Code);
    if (code && opts.fuel && opts.fuelLocal !== false && opts.leafInlineThreshold > 0) {
      this.leaves = findLeaves(this.input, code.start, code.end, opts);
    }
    this.out.copy(this.input, 0, 8);
    for (const s of sections) {
      // A module without imports still needs an import section for the fuel global.
      if (!this.importsWritten && this.opts.fuel && SECTION_ORDER[s.id]! > SECTION_ORDER[SectionId.Import]!) this.rewriteSection(SectionId.Import, undefined);
      this.section(s);
    }
    if (!this.importsWritten && this.opts.fuel) this.rewriteSection(SectionId.Import, undefined);
    if (this.funcSection) this.writeFunctionSection(this.funcSection);
    return { bytes: this.out.result(), fuelGlobalImported: this.opts.fuel, stats: this.stats };
  }

  private section(s: Section): void {
    const r = new WasmReader(this.input, s.start, s.end);
    switch (s.id) {
      case SectionId.Custom: if (!isStaleCustomSection(s.name ?? '')) this.copySection(s); return;
      case SectionId.Type: this.typeParams = r.funcTypes(); return this.copySection(s);
      case SectionId.Function:
        this.functionTypes(r);
        if (!this.leaves) return this.copySection(s);
        // Written once the code section has told which leaves need a copy.
        this.funcSection = s;
        this.funcSectionAt = this.out.len;
        return;
      case SectionId.Code: if (!this.opts.fuel) return this.copySection(s); break;
      case SectionId.Import: case SectionId.Table: case SectionId.Memory: case SectionId.Global:
      case SectionId.Export: case SectionId.Elem: case SectionId.Data: break;
      case SectionId.Start:
        if (this.leaves) this.funcIndex(r, r.u32());
        return this.copySection(s);
      default: return this.copySection(s); // datacount, tag: no global or size in them
    }
    this.rewriteSection(s.id, r);
  }

  private copySection(s: Section): void {
    this.out.u8(s.id);
    this.out.u32(s.end - s.start);
    this.out.copy(this.input, s.start, s.end);
  }

  /** Write section `id` from `r` through its rewriter (`r` undefined: a new, empty import section). */
  private rewriteSection(id: number, r: WasmReader | undefined): void {
    this.out.u8(id);
    const at = this.out.beginSized();
    switch (id) {
      case SectionId.Import: this.imports(r); break;
      case SectionId.Table: this.vector(r!, (i) => this.table(r!, i)); break;
      case SectionId.Memory: this.vector(r!, (i) => this.memory(r!, i)); break;
      case SectionId.Global: this.vector(r!, () => this.global(r!), (n) => (this.definedGlobals = n)); break;
      case SectionId.Export: this.vector(r!, () => this.exportEntry(r!)); break;
      case SectionId.Elem: this.vector(r!, () => this.elemSegment(r!)); break;
      case SectionId.Data: this.vector(r!, () => this.dataSegment(r!)); break;
      case SectionId.Code: this.code(r!); break;
    }
    if (r && r.pos !== r.end) throw r.malformed(`section ${id} has trailing bytes`);
    this.out.endSized(at);
  }

  /** A vector: copy its count (telling `onCount`), then rewrite each entry. */
  private vector(r: WasmReader, entry: (index: number) => void, onCount?: (count: number) => void): void {
    const count = r.u32();
    onCount?.(count);
    this.out.u32(count);
    for (let i = 0; i < count; i++) entry(i);
  }

  /** Copy `input[start..r.pos)` unchanged. */
  private through(r: WasmReader, start: number): void {
    this.out.copy(this.input, start, r.pos);
  }

  private countFunctions(count: number): void {
    if (count > this.opts.limits.maxFunctions) {
      throw new InstrumentError('COMPONENT_INVALID', `module defines ${count} functions; the limit is ${this.opts.limits.maxFunctions}`);
    }
    this.stats.functions = count;
  }

  /** Read the function section: the type index of every defined function. */
  private functionTypes(r: WasmReader): void {
    const count = r.u32();
    this.countFunctions(count);
    this.funcTypes = new Uint32Array(count);
    for (let i = 0; i < count; i++) {
      const type = r.u32();
      if (type >= this.typeParams.length) throw r.malformed(`function ${i} has type ${type}, past the type section`);
      this.funcTypes[i] = type;
    }
    if (r.pos !== r.end) throw r.malformed('function section has trailing bytes');
  }

  /**
   * Insert function section `s` at its place in the output: as it is, or with the type of
   * every leaf copy appended.
   */
  private writeFunctionSection(s: Section): void {
    const copies = this.leaves?.copies ?? [];
    const w = new ByteWriter(s.end - s.start + 5 * copies.length + 16);
    w.u8(SectionId.Function);
    if (copies.length === 0) {
      w.u32(s.end - s.start);
      w.copy(this.input, s.start, s.end);
    } else {
      const r = new WasmReader(this.input, s.start, s.end);
      const count = r.u32();
      const at = w.beginSized();
      w.u32(count + copies.length);
      w.copy(this.input, r.pos, s.end);
      for (const slot of copies) w.u32(this.funcTypes[this.leaves!.func[slot]!]!);
      w.endSized(at);
    }
    this.out.insert(this.funcSectionAt, w.result());
  }

  /** Copy the imports, count imported globals, then append the fuel global import. */
  private imports(r: WasmReader | undefined): void {
    this.importsWritten = true;
    const count = r ? r.u32() : 0;
    this.out.u32(count + (this.opts.fuel ? 1 : 0));
    for (let i = 0; i < count; i++) this.importEntry(r!);
    if (this.opts.fuel) {
      this.out.name(FUEL_IMPORT_MODULE);
      this.out.name(FUEL_IMPORT_FIELD);
      this.out.copy(Uint8Array.of(0x03, 0x7e, 0x01), 0, 3); // global, i64, mutable
    }
  }

  private importEntry(r: WasmReader): void {
    const start = r.pos;
    const module = r.name();
    if (module === FUEL_IMPORT_MODULE) {
      throw new InstrumentError('COMPONENT_INVALID', `module imports from "${FUEL_IMPORT_MODULE}", which is reserved for the host`);
    }
    r.name();
    // Imported memories and tables are left alone: the module defining them is capped.
    const kind = r.importDesc();
    if (kind === ExternalKind.Global) this.fuelIndex++;
    else if (kind === ExternalKind.Func) this.funcImports++;
    this.through(r, start);
  }

  private table(r: WasmReader, index: number): void {
    if (r.pos < r.end && r.buf[r.pos] === 0x40) throw r.unsupported('table with an initializer expression');
    const start = r.pos;
    r.refType();
    this.through(r, start);
    this.writeLimits(capLimits(r.limits('table'), this.opts.maxTableElements, `table ${index}`, (n) => `${n} elements`));
  }

  private memory(r: WasmReader, index: number): void {
    const lim = capLimits(r.limits('memory'), this.opts.maxMemoryPages, `memory ${index}`, (n) => `${n * PAGE} bytes (${n} pages)`);
    this.stats.memories.push({ initial: lim.min, maximum: lim.max ?? MAX_PAGES_32 });
    this.writeLimits(lim);
  }

  private writeLimits(lim: Limits): void {
    this.out.u8(lim.flags);
    this.out.u32(lim.min);
    if (lim.max !== undefined) this.out.u32(lim.max);
  }

  private global(r: WasmReader): void {
    const start = r.pos;
    r.globalType();
    this.through(r, start);
    this.constExpr(r);
  }

  /**
   * Whether global index `idx` moves up by one to make room for the fuel global. An index
   * past the last global is refused here: shifted (or wrapped) it could name the fuel global.
   */
  private shifts(r: WasmReader, idx: number): boolean {
    if (idx >= this.fuelIndex + this.definedGlobals) throw r.malformed(`global index ${idx} out of range`);
    return this.opts.fuel && idx >= this.fuelIndex;
  }

  /**
   * Refuse function index `idx` past the last function when leaf copies may be appended: the
   * input is invalid, but the index would name a copy, and the output would be a valid module
   * reaching an unmetered function (the code's calls and `ref.func`: `LeafTable.checkIndex`).
   */
  private funcIndex(r: WasmReader, idx: number): void {
    if (this.leaves && idx >= this.funcImports + this.funcTypes.length) throw r.malformed(`function index ${idx} out of range`);
  }

  /** Copy a constant expression, renumbering `global.get` of defined globals. */
  private constExpr(r: WasmReader): void {
    let from = r.pos;
    for (;;) {
      const at = r.pos;
      const op = r.readInstruction();
      if (!CONST_EXPR_OPS.has(op)) throw r.unsupported(`instruction 0x${op.toString(16)} in a constant expression`);
      if (op === Op.GlobalGet && this.shifts(r, r.index)) {
        this.out.copy(this.input, from, at + 1);
        this.out.u32(r.index + 1);
        from = r.pos;
      }
      if (op === Op.RefFunc) this.funcIndex(r, r.index);
      if (op === Op.End) break;
    }
    this.through(r, from);
  }

  private exportEntry(r: WasmReader): void {
    const start = r.pos;
    r.skip(r.u32()); // name
    const kind = r.u8();
    const idxAt = r.pos;
    const idx = r.u32();
    if (kind === ExternalKind.Func) this.funcIndex(r, idx);
    if (kind === ExternalKind.Global && this.shifts(r, idx)) {
      this.out.copy(this.input, start, idxAt);
      this.out.u32(idx + 1);
    } else {
      this.through(r, start);
    }
  }

  /** Element segment, flags 0–7: bit 0 passive/declarative, bit 1 table index or declarative, bit 2 expressions. */
  private elemSegment(r: WasmReader): void {
    const flags = r.u32();
    if (flags > 7) throw r.malformed(`element segment flags ${flags}`);
    this.out.u32(flags);
    const active = (flags & 1) === 0;
    const exprs = (flags & 4) !== 0;
    let start = r.pos;
    if (active && flags & 2) r.u32(); // table index
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
  private dataSegment(r: WasmReader): void {
    const flags = r.u32();
    if (flags > 2) throw r.malformed(`data segment flags ${flags}`);
    this.out.u32(flags);
    let start = r.pos;
    if (flags === 2) r.u32();
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

  private code(r: WasmReader): void {
    const count = r.u32();
    this.countFunctions(count);
    if (count !== this.funcTypes.length) throw r.malformed(`code section has ${count} bodies for ${this.funcTypes.length} functions`);
    const countAt = this.out.len;
    this.out.u32(count);
    const leaves = this.leaves;
    if (leaves) leaves.funcImports = this.funcImports;
    const injector = new FuelInjector(this.input, this.out, this.fuelIndex, this.fuelIndex + this.definedGlobals, this.opts, leaves);
    const body = new WasmReader(this.input);
    for (let i = 0; i < count; i++) {
      const size = r.u32();
      body.pos = r.pos;
      body.end = r.pos + size;
      if (body.end > r.end) throw r.malformed(`function ${i} runs past the code section`);
      injector.body(body, this.typeParams[this.funcTypes[i]!]!);
      r.pos = body.end;
    }
    if (leaves && leaves.copies.length > 0) {
      // The copies of the leaves called directly, in the order of their first calls.
      for (const slot of leaves.copies) {
        body.pos = leaves.bodyStart[slot]!;
        body.end = leaves.bodyEnd[slot]!;
        injector.leafCopy(body);
      }
      this.out.replaceU32(countAt, leb128Length(count), count + leaves.copies.length);
      this.stats.leafCopies = leaves.copies.length;
    }
    this.stats.loops = injector.loops;
    this.stats.chargePoints = injector.chargePoints;
    this.stats.fineRegions = injector.fineRegions;
    this.stats.leafCalls = injector.leafCalls;
  }
}

/** Bytes of the minimal unsigned LEB128 encoding of `v`. */
function leb128Length(v: number): number {
  let n = 1;
  for (let x = v; x >= 0x80; x = Math.floor(x / 0x80)) n++;
  return n;
}
