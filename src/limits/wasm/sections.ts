/**
 * The section-level rewrite of one core module: every section is copied in order, except
 * what metering and the caps must change:
 *
 * - imports: the fuel global and the refuel hook's global are appended (`hook.ts`; a module
 *   without imports gets an import section for them), and a guest import from that namespace
 *   is refused;
 * - the refuel hook's `[] -> []` type (unless the module has one), table and element segment
 *   are appended to their sections (`hook.ts`), a section the module lacks is added in its
 *   place; a table or element segment index past the input's own (in exports, element
 *   segments and code) is refused, since it would name the hook's, and so is a type index past
 *   the input's (imports, tags, block types, call_indirect), which could name the added type;
 * - a local index past the function's parameters and locals is refused: it would name the
 *   fuel local (`body.ts`);
 * - global indices: the added globals take the indices after the imported globals, so every
 *   reference to a defined global (in code, global initializers, data and element offsets,
 *   element expressions and exports) moves up by two (one without the hook); an index past
 *   the last global is refused, since shifted (or wrapped) it could name an added global;
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
 * - stop-flag mode (`stop-flag.ts`): the flag memory after the input's memories, its export,
 *   the start function exported instead of run, two trap helpers before the leaf copies (the
 *   function section is then always written after the code).
 */
import { ExternalKind, readSections, SECTION_ORDER, SectionId, WasmReader, type Limits, type Section } from './reader.js';
import { ByteWriter } from './writer.js';
import { FuelInjector } from './body.js';
import type { IndexSpace } from './scan.js';
import { findLeaves } from './leaves.js';
import { InstrumentError } from './errors.js';
import { checkV8Limit, FUEL_IMPORT_MODULE, writeHookImports, writeHookTable, writeVoidType } from './hook.js';
import { IndexRewriter } from './segments.js';
import { TRAP_FUEL, TRAP_STOPPED, writeFlagExports, writeFlagMemory, writeTrapHelper } from './stop-flag.js';
import { MAX_PAGES_32, type InstrumentResult, type InstrumentStats, type ResolvedOptions } from './options.js';

/** Bytes per WebAssembly page. */
const PAGE = 65536;

/** The sections the rewrite may have to add, in section order. */
const ADDED_SECTIONS = [SectionId.Type, SectionId.Import, SectionId.Function, SectionId.Table, SectionId.Memory, SectionId.Export, SectionId.Elem, SectionId.Code] as const;

/** Stop-flag mode's trap helpers (`stop-flag.ts`), appended after the defined functions. */
const TRAP_HELPERS = 2;

/** Custom sections describing indices or code offsets that the rewrite invalidates (code metadata such as branch hints included). */
const isStaleCustomSection = (name: string): boolean =>
  name === 'name' || name.startsWith('.debug_') || name === 'sourceMappingURL' || name === 'external_debug_info' || name.startsWith('metadata.code.');

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
export class ModuleRewriter extends IndexRewriter {
  /** Index of the `[] -> []` type the hook is called with (-1: not known yet). */
  private voidType = -1;
  /** Bit `1 << id` per section id seen in the input or added. */
  private written = 0;
  /** With leaves: the function section, written after the code section at output position `funcSectionAt`. */
  private funcSection: Section | undefined;
  private funcSectionAt = 0;
  private readonly stats: InstrumentStats = { functions: 0, loops: 0, chargePoints: 0, fineRegions: 0, leafCopies: 0, leafCalls: 0, exitLoops: 0, polls: 0, growChecks: 0, memories: [] };
  /** Stop-flag mode: the input's start function, exported instead of run (-1: none). */
  private startFunc = -1;

  constructor(input: Uint8Array, opts: ResolvedOptions) {
    super(input, new ByteWriter(input.length + (input.length >> 3) + 1024), opts);
  }

  run(): InstrumentResult {
    const sections = readSections(this.input);
    const opts = this.opts;
    const code = sections.find((s) => s.id === SectionId.Code);
    if (code && opts.fuel && opts.fuelLocal !== false && opts.leafInlineThreshold > 0) {
      this.leaves = findLeaves(this.input, code.start, code.end, opts);
    }
    const start = sections.find((s) => s.id === SectionId.Start);
    if (start && opts.stopFlag) this.startFunc = new WasmReader(this.input, start.start, start.end).u32();
    this.out.copy(this.input, 0, 8);
    for (const s of sections) {
      if (s.id !== SectionId.Custom) this.addMissing(SECTION_ORDER[s.id]!);
      this.section(s);
    }
    this.addMissing(Infinity);
    if (this.globalShift > 0) checkV8Limit('globals', this.fuelIndex + this.definedGlobals + this.globalShift);
    if (this.funcSection) this.writeFunctionSection(this.funcSection);
    return { bytes: this.out.result(), fuelGlobalImported: this.opts.fuel, refuelImported: this.hook, stopFlag: this.opts.stopFlag, refusedImported: this.opts.countGrows, stats: this.stats };
  }

  /**
   * Add the sections the rewrite needs and the input lacks (imports for the fuel global; a type,
   * a table and an element section for the hook; a type, function, memory, export and code
   * section in stop-flag mode) whose place comes before section order `order`.
   */
  private addMissing(order: number): void {
    for (const id of ADDED_SECTIONS) {
      if (SECTION_ORDER[id]! >= order || this.written & (1 << id)) continue;
      if (this.adds(id)) this.rewriteSection(id, undefined);
    }
  }

  /** Whether the rewrite adds to section `id` (so it must exist even if the input lacks it). */
  private adds(id: number): boolean {
    switch (id) {
      case SectionId.Import: return this.opts.fuel;
      case SectionId.Type: return this.hook || this.opts.stopFlag;
      case SectionId.Table: case SectionId.Elem: return this.hook;
      default: return this.opts.stopFlag; // function, memory, export, code
    }
  }

  private section(s: Section): void {
    const r = new WasmReader(this.input, s.start, s.end);
    this.written |= 1 << s.id;
    switch (s.id) {
      case SectionId.Custom: if (!isStaleCustomSection(s.name ?? '')) this.copySection(s); return;
      case SectionId.Type: {
        const types = r.funcTypes();
        this.typeParams = types.params;
        this.voidType = types.voidType;
        if (!this.adds(SectionId.Type) || types.voidType >= 0) return this.copySection(s);
        r.pos = s.start; // rewritten: the hook's type appended
        break;
      }
      case SectionId.Function:
        this.functionTypes(r);
        if (!this.leaves && !this.opts.stopFlag) return this.copySection(s);
        // Written once the code section has told which leaves need a copy.
        this.funcSection = s;
        this.funcSectionAt = this.out.len;
        return;
      case SectionId.Code: if (!this.opts.fuel) return this.copySection(s); break;
      case SectionId.Import: case SectionId.Table: case SectionId.Memory: case SectionId.Global:
      case SectionId.Export: case SectionId.Elem: case SectionId.Data: break;
      case SectionId.Start:
        this.funcIndex(r, r.u32());
        // Stop-flag mode: exported instead (see the export section).
        if (!this.opts.stopFlag) this.copySection(s);
        return;
      case SectionId.Tag:
        this.tagTypes(r);
        return this.copySection(s);
      default: return this.copySection(s); // datacount: no index in it
    }
    this.rewriteSection(s.id, r);
  }

  private copySection(s: Section): void {
    this.out.u8(s.id);
    this.out.u32(s.end - s.start);
    this.out.copy(this.input, s.start, s.end);
  }

  /** Write section `id` from `r` through its rewriter (`r` undefined: a section the input lacks, holding only what the rewrite adds). */
  private rewriteSection(id: number, r: WasmReader | undefined): void {
    this.out.u8(id);
    this.written |= 1 << id;
    const at = this.out.beginSized();
    switch (id) {
      case SectionId.Type: this.types(r); break;
      case SectionId.Import: this.imports(r); break;
      case SectionId.Table: this.tableSection(r); break;
      case SectionId.Memory: this.memorySection(r); break;
      case SectionId.Global: this.vector(r!, () => this.global(r!), (n) => (this.definedGlobals = n)); break;
      case SectionId.Export: this.exportSection(r); break;
      case SectionId.Elem: this.elemSection(r); break;
      case SectionId.Data: this.vector(r!, () => this.dataSegment(r!)); break;
      case SectionId.Function: this.addedFunctionSection(); break;
      case SectionId.Code: if (r) this.code(r); else this.addedCodeSection(); break;
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
      this.funcTypes[i] = this.typeIndex(r, r.u32(), `function ${i}`);
    }
    if (r.pos !== r.end) throw r.malformed('function section has trailing bytes');
  }

  /**
   * Insert function section `s` at its place in the output: as it is, or with the types of
   * stop-flag mode's trap helpers and of every leaf copy appended.
   */
  private writeFunctionSection(s: Section): void {
    const copies = this.leaves?.copies ?? [];
    const helpers = this.opts.stopFlag ? TRAP_HELPERS : 0;
    const w = new ByteWriter(s.end - s.start + 5 * (copies.length + helpers) + 16);
    w.u8(SectionId.Function);
    if (copies.length + helpers === 0) {
      w.u32(s.end - s.start);
      w.copy(this.input, s.start, s.end);
    } else {
      const r = new WasmReader(this.input, s.start, s.end);
      const count = r.u32();
      const at = w.beginSized();
      w.u32(count + helpers + copies.length);
      w.copy(this.input, r.pos, s.end);
      for (let i = 0; i < helpers; i++) w.u32(this.voidType);
      for (const slot of copies) w.u32(this.funcTypes[this.leaves!.func[slot]!]!);
      w.endSized(at);
    }
    this.out.insert(this.funcSectionAt, w.result());
  }

  /** The types with the hook's `[] -> []` appended (only written when the input has none). */
  private types(r: WasmReader | undefined): void {
    const count = r ? r.u32() : 0;
    checkV8Limit('types', count + 1);
    this.voidType = count;
    this.out.u32(count + 1);
    if (r) {
      this.out.copy(this.input, r.pos, r.end);
      r.pos = r.end;
    }
    writeVoidType(this.out);
  }

  /** Copy the imports, counting imported globals and tables, then append the rewrite's imports. */
  private imports(r: WasmReader | undefined): void {
    const count = r ? r.u32() : 0;
    const added = this.globalShift;
    checkV8Limit('imports', count + added);
    this.out.u32(count + added);
    for (let i = 0; i < count; i++) this.importEntry(r!);
    if (this.opts.fuel) writeHookImports(this.out, this.hook, this.opts.countGrows);
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
    if (kind === ExternalKind.Func || kind === ExternalKind.Tag) this.typeIndex(r, r.index, 'import');
    if (kind === ExternalKind.Global) this.fuelIndex++;
    else if (kind === ExternalKind.Func) this.funcImports++;
    else if (kind === ExternalKind.Table) this.tables++;
    else if (kind === ExternalKind.Memory) this.memories++;
    this.through(r, start);
  }

  /** The defined tables, capped, then the hook's table: its index is the input's table count. */
  private tableSection(r: WasmReader | undefined): void {
    const count = r ? r.u32() : 0;
    const added = this.hook ? 1 : 0;
    this.out.u32(count + added);
    for (let i = 0; i < count; i++) this.table(r!, i);
    this.tables += count;
    if (!added) return;
    checkV8Limit('tables', this.tables + 1);
    writeHookTable(this.out);
  }

  private table(r: WasmReader, index: number): void {
    if (r.pos < r.end && r.buf[r.pos] === 0x40) throw r.unsupported('table with an initializer expression');
    const start = r.pos;
    r.refType();
    this.through(r, start);
    this.writeLimits(capLimits(r.limits('table'), this.opts.maxTableElements, `table ${index}`, (n) => `${n} elements`));
  }

  /** The defined memories, capped, then stop-flag mode's flag memory: its index is the input's memory count. */
  private memorySection(r: WasmReader | undefined): void {
    const count = r ? r.u32() : 0;
    const added = this.opts.stopFlag ? 1 : 0;
    this.out.u32(count + added);
    for (let i = 0; i < count; i++) this.memory(r!, i);
    this.memories += count;
    if (added) writeFlagMemory(this.out);
  }

  /** The exports, then stop-flag mode's: the flag memory, the start function. */
  private exportSection(r: WasmReader | undefined): void {
    const count = r ? r.u32() : 0;
    const added = this.opts.stopFlag ? (this.startFunc >= 0 ? 2 : 1) : 0;
    this.out.u32(count + added);
    for (let i = 0; i < count; i++) this.exportEntry(r!);
    if (added) writeFlagExports(this.out, this.memories, this.startFunc);
  }

  /** Stop-flag mode, for a module without functions: a function section holding the trap helpers. */
  private addedFunctionSection(): void {
    this.out.u32(TRAP_HELPERS);
    for (let i = 0; i < TRAP_HELPERS; i++) this.out.u32(this.voidType);
  }

  /** Stop-flag mode, for a module without code: the trap helpers' bodies. */
  private addedCodeSection(): void {
    this.out.u32(TRAP_HELPERS);
    this.trapHelpers();
  }

  /** The bodies of stop-flag mode's trap helpers (fuel, then stop). */
  private trapHelpers(): void {
    writeTrapHelper(this.out, this.memories, this.fuelIndex, TRAP_FUEL);
    writeTrapHelper(this.out, this.memories, this.fuelIndex, TRAP_STOPPED);
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

  private code(r: WasmReader): void {
    const count = r.u32();
    this.countFunctions(count);
    if (count !== this.funcTypes.length) throw r.malformed(`code section has ${count} bodies for ${this.funcTypes.length} functions`);
    const countAt = this.out.len;
    this.out.u32(count);
    const leaves = this.leaves;
    const helpers = this.opts.stopFlag ? TRAP_HELPERS : 0;
    if (leaves) {
      leaves.funcImports = this.funcImports;
      leaves.before = helpers;
    }
    const types = this.typeParams.length;
    const space: IndexSpace = { globals: this.fuelIndex + this.definedGlobals, globalShift: this.globalShift, tables: this.tables, elemSegments: this.elemSegments, functions: this.funcImports + count, types };
    const hook = this.hook ? { type: this.voidType, table: this.tables } : undefined;
    const first = this.funcImports + count;
    const stop = this.opts.stopFlag ? { memory: this.memories, fuelTrap: first, stopTrap: first + 1 } : undefined;
    // The refusal counter is the last of the globals the rewrite imports.
    const refused = this.opts.countGrows ? this.fuelIndex + this.globalShift - 1 : -1;
    const injector = new FuelInjector(this.input, this.out, this.fuelIndex, space, this.opts, leaves, hook, stop, refused);
    const body = new WasmReader(this.input);
    if (stop) body.memories = this.memories;
    body.types = types;
    for (let i = 0; i < count; i++) {
      const size = r.u32();
      body.pos = r.pos;
      body.end = r.pos + size;
      if (body.end > r.end) throw r.malformed(`function ${i} runs past the code section`);
      injector.body(body, this.typeParams[this.funcTypes[i]!]!);
      r.pos = body.end;
    }
    if (helpers) this.trapHelpers();
    const copies = leaves?.copies.length ?? 0;
    if (leaves && copies > 0) {
      // The copies of the leaves called directly, in the order of their first calls.
      for (const slot of leaves.copies) {
        body.pos = leaves.bodyStart[slot]!;
        body.end = leaves.bodyEnd[slot]!;
        injector.leafCopy(body);
      }
      this.stats.leafCopies = copies;
    }
    if (helpers + copies > 0) this.out.replaceU32(countAt, leb128Length(count), count + helpers + copies);
    this.stats.loops = injector.loops;
    this.stats.chargePoints = injector.chargePoints;
    this.stats.fineRegions = injector.fineRegions;
    this.stats.leafCalls = injector.leafCalls;
    this.stats.exitLoops = injector.exitLoops;
    this.stats.polls = injector.polls;
    this.stats.growChecks = injector.growChecks;
  }
}

/** Bytes of the minimal unsigned LEB128 encoding of `v`. */
function leb128Length(v: number): number {
  let n = 1;
  for (let x = v; x >= 0x80; x = Math.floor(x / 0x80)) n++;
  return n;
}
