/**
 * Fuel metering and resource caps for untrusted core WebAssembly modules.
 *
 * V8 has no instruction counter, so every core module of a component is rewritten before
 * `WebAssembly.compile`: a mutable i64 global imported from `agentos:limits` holds the
 * remaining fuel, and each function entry and each loop iteration subtracts the static
 * instruction count of its region and traps (`unreachable`) once the fuel is negative.
 * Every unbounded execution goes through a loop back-edge or a call, so it always passes a
 * charge point. Defined memories and tables get their maximum capped, so `memory.grow` and
 * `table.grow` fail (-1) instead of exceeding the budget.
 *
 * Inside a function with loops the counter lives in an extra i64 local `$f`, so a hot loop
 * does not store and reload the global every iteration (a loop-carried dependency through
 * memory). The local and the global are synced where other code or the host can see the
 * global:
 *
 * - entry: the entry charge reads the global, `global.get $fuel; i64.const cost; i64.sub;
 *   local.tee $f; …`;
 * - a loop charge: `local.get $f; i64.const cost; i64.sub; local.tee $f; i64.const 0;
 *   i64.lt_s; if; local.get $f; global.set $fuel; unreachable; end` (the host sees the
 *   negative value after the trap);
 * - "save", `local.get $f; global.set $fuel`, before every call, call_indirect, return,
 *   return_call(_indirect), throw, throw_ref, rethrow, unreachable, the body's final end, and
 *   every br/br_if/br_table that may target the function label;
 * - "load", `global.get $fuel; local.set $f`, after every call and call_indirect and at the
 *   start of every legacy catch/catch_all clause (the callee or thrower charged the global);
 * - a label that a `try_table` catch clause targets is a join of caught exceptions (global
 *   current) and ordinary control flow (local current): every ordinary edge into it saves
 *   (branches to it, the fallthrough into its end, `else`, `catch`, an `if` without else),
 *   and the join loads (after the block's end, or at the loop header before its charge).
 *   Such functions are scanned twice, the second time knowing every such label.
 *
 * A function without loops has only its entry charge, so it saves right there and needs no
 * other save or load (see {@link Mode}). Either way, the value the global-only scheme would
 * hold is at every point the local of the running frame, and the global whenever control is
 * elsewhere: charges, fuel used and the trap point are exactly those of charging the global
 * directly, and the inserted instructions are not charged. The one difference is a trap other
 * than fuel exhaustion (out-of-bounds access, division by zero, …): the charges the trapping
 * frame made since its last save are missing from the global.
 *
 * The rewrite is one pass over the sections; function bodies are scanned once (recording
 * where charges, saves and loads go and which global indices move) and then copied span by
 * span, so the output uses minimal LEB128 encodings. Anything that cannot be decoded with
 * certainty is refused: emitting an instruction stream we mis-read could leave a loop
 * unmetered.
 */
import * as opcodes from './opcodes.js';
import { ByteWriter, ExternalKind, readSections, SECTION_ORDER, SectionId, WasmFormatError, WasmReader, type Limits, type Section } from './reader.js';

/** Module name of the fuel global import. Guest modules may not import from it themselves. */
export const FUEL_IMPORT_MODULE = 'agentos:limits';
/** Field name of the fuel global import: `(import "agentos:limits" "fuel" (global (mut i64)))`. */
export const FUEL_IMPORT_FIELD = 'fuel';

// Local copies: see the note in reader.ts (imports can be getters under test runners).
const { BLOCKTYPE_EMPTY, CONST_EXPR_OPS, ROLE } = opcodes;
const ValType: typeof opcodes.ValType = { ...opcodes.ValType };
const Op: typeof opcodes.Op = { ...opcodes.Op };
const Role: typeof opcodes.Role = { ...opcodes.Role };

/** Bytes per WebAssembly page. */
const PAGE = 65536;
/** Largest page count of a 32-bit memory (4 GiB). */
const MAX_PAGES_32 = 65536;

/**
 * `MEMORY_LIMIT`: the module needs more than the caps allow. `COMPONENT_INVALID`: malformed or
 * too large. `UNSUPPORTED`: uses something the instrumenter cannot meter (unknown opcode, GC
 * types, memory64).
 */
export type InstrumentErrorCode = 'MEMORY_LIMIT' | 'COMPONENT_INVALID' | 'UNSUPPORTED';

/**
 * Why a module was refused.
 *
 * @example
 * ```ts
 * try { instrumentModule(bytes, { maxMemoryPages: 256 }) }
 * catch (e) { if (e instanceof InstrumentError && e.code === 'MEMORY_LIMIT') console.error(e.message) }
 * ```
 */
export class InstrumentError extends Error {
  readonly code: InstrumentErrorCode;

  constructor(code: InstrumentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'InstrumentError';
    this.code = code;
  }
}

/** Validation caps; defaults in {@link DEFAULT_INSTRUMENT_LIMITS}. */
export interface InstrumentLimits {
  /** Largest accepted module, in bytes. */
  maxModuleBytes?: number;
  /** Most functions a module may define. */
  maxFunctions?: number;
  /** Most bytes all data segments together may hold (more is `MEMORY_LIMIT`). */
  maxDataBytes?: number;
  /** Deepest block/loop/if/try nesting inside one function. */
  maxNesting?: number;
}

/**
 * Default validation caps: 128 MiB module, 1,000,000 functions, 64 MiB data, nesting 10,000.
 *
 * @example
 * ```ts
 * instrumentModule(bytes, { limits: { ...DEFAULT_INSTRUMENT_LIMITS, maxDataBytes: 1 << 20 } });
 * ```
 */
export const DEFAULT_INSTRUMENT_LIMITS: Readonly<Required<InstrumentLimits>> = Object.freeze({
  maxModuleBytes: 128 * 1024 * 1024,
  maxFunctions: 1_000_000,
  maxDataBytes: 64 * 1024 * 1024,
  maxNesting: 10_000,
});

/** What to do to the module. Every field is optional. */
export interface InstrumentOptions {
  /** Inject fuel metering (default true). */
  fuel?: boolean;
  /**
   * Keep the fuel counter in a local inside functions with loops (default true). false:
   * every charge updates the global directly, as before fuel locals: the same charges and
   * trap points, several times slower in tight loops. For comparisons and tests.
   */
  fuelLocal?: boolean;
  /** Cap every defined memory at this many 64 KiB pages. */
  maxMemoryPages?: number;
  /** Cap every defined table at this many elements. */
  maxTableElements?: number;
  /** Validation caps. */
  limits?: InstrumentLimits;
}

/** Size of one defined memory after capping, in pages (no maximum is reported as 65536). */
export interface MemoryStats {
  initial: number;
  maximum: number;
}

/** Counts describing the instrumented module. */
export interface InstrumentStats {
  /** Functions defined by the module (imports excluded). */
  functions: number;
  /** `loop` instructions seen (0 when fuel is off: bodies are then copied unread). */
  loops: number;
  /** Charge sequences injected. */
  chargePoints: number;
  /** Defined memories, in order. */
  memories: MemoryStats[];
}

/** The rewritten module and what was done to it. */
export interface InstrumentResult {
  bytes: Uint8Array;
  /** True when the module now imports `agentos:limits` `fuel` and must be given that global. */
  fuelGlobalImported: boolean;
  stats: InstrumentStats;
}

/** Custom sections describing indices or code offsets that the rewrite invalidates. */
const isStaleCustomSection = (name: string): boolean =>
  name === 'name' || name.startsWith('.debug_') || name === 'sourceMappingURL' || name === 'external_debug_info';

/** Event kinds recorded by the scan, replayed by the emit (4 int32 per event). */
const EV_CHARGE = 0;
const EV_GLOBAL = 1;
/** `local.get $f; global.set $fuel`. */
const EV_SAVE = 2;
/** `global.get $fuel; local.set $f`. */
const EV_LOAD = 3;

/**
 * How a function body is metered.
 *
 * - `Local`: a function with loops. The counter lives in the fuel local `$f`, with saves
 *   and loads (see the top of the file), so loop iterations touch no memory for metering.
 *   (Even a loop that calls out: its calls may be rare, and charging the global per
 *   iteration is what made tight loops ~4× slower.)
 * - `Eager`: a function without loops: the entry charge is its only charge, so it reads the
 *   global and saves at once: `global.get; i64.const cost; i64.sub; local.tee $f; global.set;
 *   local.get $f; i64.const 0; i64.lt_s; if unreachable end`. The global is then always
 *   current and no other save or load is needed: for small, call-heavy functions that is
 *   cheaper than saving and loading around every call and at every exit.
 * - `Global`: too many locals to add one (see {@link MAX_FUNCTION_LOCALS}), or the option
 *   `fuelLocal: false`: every charge works on the global alone (`global.get; i64.const cost;
 *   i64.sub; global.set; global.get; i64.const 0; i64.lt_s; if unreachable end`), nothing
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
 *   TAIL_LOCAL `i64.sub; local.tee $f; i64.const 0; i64.lt_s; if; local.get $f; global.set $fuel; unreachable; end`;
 *   TAIL_EAGER `i64.sub; local.tee $f; global.set $fuel; local.get $f; i64.const 0; i64.lt_s; if; unreachable; end`;
 *   TAIL_GLOBAL `i64.sub; global.set $fuel; global.get $fuel; i64.const 0; i64.lt_s; if; unreachable; end`.
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

type Resolved = InstrumentOptions & { fuel: boolean; limits: Required<InstrumentLimits> };

/**
 * Meter and cap one core module. Throws {@link InstrumentError} instead of ever returning
 * code it could not meter.
 *
 * @example
 * ```ts
 * const { bytes: metered } = instrumentModule(coreBytes, { maxMemoryPages: 1024 });
 * const fuel = new WebAssembly.Global({ value: 'i64', mutable: true }, 1_000_000n);
 * const instance = new WebAssembly.Instance(new WebAssembly.Module(metered), {
 *   [FUEL_IMPORT_MODULE]: { [FUEL_IMPORT_FIELD]: fuel }, ...otherImports,
 * });
 * // fuel.value < 0n after an `unreachable` trap means the fuel ran out.
 * ```
 */
export function instrumentModule(bytes: Uint8Array, options: InstrumentOptions = {}): InstrumentResult {
  const resolved = resolveOptions(options);
  if (bytes.length > resolved.limits.maxModuleBytes) {
    throw new InstrumentError('COMPONENT_INVALID', `module is ${bytes.length} bytes; the limit is ${resolved.limits.maxModuleBytes}`);
  }
  try {
    return new ModuleRewriter(bytes, resolved).run();
  } catch (e) {
    if (!(e instanceof WasmFormatError)) throw e;
    const code = e.kind === 'unsupported' ? 'UNSUPPORTED' : 'COMPONENT_INVALID';
    const what = e.kind === 'unsupported' ? 'cannot be metered' : 'is malformed';
    throw new InstrumentError(code, `WebAssembly module ${what}: ${e.message}`, { cause: e });
  }
}

function resolveOptions(options: InstrumentOptions): Resolved {
  const check = (name: string, v: number | undefined, max: number): void => {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > max)) throw new RangeError(`${name} must be an integer in 0..${max}`);
  };
  check('maxMemoryPages', options.maxMemoryPages, MAX_PAGES_32);
  check('maxTableElements', options.maxTableElements, 0xffffffff);
  return { ...options, fuel: options.fuel ?? true, limits: { ...DEFAULT_INSTRUMENT_LIMITS, ...options.limits } };
}

/** Cap `lim` at `cap`: throws MEMORY_LIMIT when the initial size alone is over it. */
function capLimits(lim: Limits, cap: number | undefined, what: string, describe: (n: number) => string): Limits {
  if (cap === undefined) return lim;
  if (lim.min > cap) {
    throw new InstrumentError('MEMORY_LIMIT', `${what} needs ${describe(lim.min)} initially; the limit allows ${describe(cap)}`);
  }
  return { flags: lim.flags | 0x01, min: lim.min, max: lim.max === undefined ? cap : Math.min(lim.max, cap) };
}

/** One rewrite of one module: walks the sections in order, writing the result to `out`. */
class ModuleRewriter {
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
  private readonly stats: InstrumentStats = { functions: 0, loops: 0, chargePoints: 0, memories: [] };

  constructor(
    private readonly input: Uint8Array,
    private readonly opts: Resolved,
  ) {
    this.out = new ByteWriter(input.length + (input.length >> 3) + 1024);
  }

  run(): InstrumentResult {
    const sections = readSections(this.input);
    this.out.copy(this.input, 0, 8);
    for (const s of sections) {
      // A module without imports still needs an import section for the fuel global.
      if (!this.importsWritten && this.opts.fuel && SECTION_ORDER[s.id]! > SECTION_ORDER[SectionId.Import]!) this.rewriteSection(SectionId.Import, undefined);
      this.section(s);
    }
    if (!this.importsWritten && this.opts.fuel) this.rewriteSection(SectionId.Import, undefined);
    return { bytes: this.out.result(), fuelGlobalImported: this.opts.fuel, stats: this.stats };
  }

  private section(s: Section): void {
    const r = new WasmReader(this.input, s.start, s.end);
    switch (s.id) {
      case SectionId.Custom: if (!isStaleCustomSection(s.name ?? '')) this.copySection(s); return;
      case SectionId.Type: this.typeParams = r.funcTypes(); return this.copySection(s);
      case SectionId.Function: this.functionTypes(r); return this.copySection(s);
      case SectionId.Code: if (!this.opts.fuel) return this.copySection(s); break;
      case SectionId.Import: case SectionId.Table: case SectionId.Memory: case SectionId.Global:
      case SectionId.Export: case SectionId.Elem: case SectionId.Data: break;
      default: return this.copySection(s); // start, datacount, tag: no global or size in them
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
    if (r.importDesc() === ExternalKind.Global) this.fuelIndex++;
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
    if (!exprs) for (let i = 0; i < count; i++) r.u32(); // function indices
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
    this.out.u32(count);
    const injector = new FuelInjector(this.input, this.out, this.fuelIndex, this.fuelIndex + this.definedGlobals, this.opts.limits.maxNesting, this.opts.fuelLocal ?? true);
    const body = new WasmReader(this.input);
    for (let i = 0; i < count; i++) {
      const size = r.u32();
      body.pos = r.pos;
      body.end = r.pos + size;
      if (body.end > r.end) throw r.malformed(`function ${i} runs past the code section`);
      injector.body(body, this.typeParams[this.funcTypes[i]!]!);
      r.pos = body.end;
    }
    this.stats.loops = injector.loops;
    this.stats.chargePoints = injector.chargePoints;
  }
}

/**
 * Rewrites function bodies: a scan records, in order, where charges, saves and loads go
 * (a charge with the region's static cost, known only once the region closes) and which
 * global immediates change; the emit then copies the body between those points.
 */
class FuelInjector {
  loops = 0;
  chargePoints = 0;
  /** [kind, input position, value, input position after the replaced bytes] per event. */
  private events: Int32Array = new Int32Array(1024);
  private eventCount = 0;
  /**
   * Per open block: event slot of its charge (loops) or -1, the enclosing region's running
   * cost, and the block's number (blocks are numbered in the order they open).
   */
  private frameSlot: Int32Array = new Int32Array(64);
  private frameCost: Int32Array = new Int32Array(64);
  private frameBlock: Int32Array = new Int32Array(64);
  /** Per block number: 1 when a try_table catch clause targets the block's label. */
  private marks: Uint8Array = new Uint8Array(64);
  /** The block numbers set in {@link marks}, to clear them after the function. */
  private marked: number[] = [];
  /** LEB128 bytes of the fuel global's index. */
  private readonly fuelLeb: Uint8Array;
  /**
   * The inserted sequences, back to back: `seq[seqAt[k]..seqAt[k + 1])` is sequence k (the
   * SEQ_* constants). Those naming `$f` are rebuilt per function, in place.
   */
  private readonly seq = new Uint8Array(160);
  private readonly seqAt = new Int32Array(SEQ_COUNT + 1);
  /** The fuel local the sequences currently name (-1: none yet). */
  private seqLocal = -1;

  constructor(
    private readonly input: Uint8Array,
    private readonly out: ByteWriter,
    private readonly fuelIndex: number,
    private readonly globalCount: number,
    private readonly maxNesting: number,
    private readonly fuelLocal: boolean,
  ) {
    this.fuelLeb = leb(fuelIndex);
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
    let loops = this.scan(r, false);
    if (this.marked.length > 0) {
      // A try_table catches into an enclosing label: branches to it seen before the
      // try_table must save too, so scan again knowing every such label.
      r.pos = code;
      loops = this.scan(r, true);
      for (const b of this.marked) this.marks[b] = 0;
      this.marked.length = 0;
    }
    this.loops += loops;
    const mode = !this.fuelLocal || locals >= MAX_FUNCTION_LOCALS ? Mode.Global : loops > 0 ? Mode.Local : Mode.Eager;
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
   * Walk the instructions once, recording charge points with their costs, saves, loads and
   * global renumberings. `sync`: {@link marks} is complete, so the edges into try_table catch
   * targets get their saves and loads. Returns the number of loops.
   */
  private scan(r: WasmReader, sync: boolean): number {
    this.eventCount = 0;
    const entry = this.addEvent(EV_CHARGE, r.pos, r.pos, 0); // also loads the local: see emit
    let cost = 0;
    let depth = 0;
    let blocks = 0;
    let loops = 0;
    for (;;) {
      const at = r.pos;
      const op = r.readInstruction();
      cost++;
      const role = ROLE[op]!;
      if (role === Role.None) continue;
      switch (role) {
        case Role.Global:
          // Range check first: a bogus index like 2^32-1 would otherwise wrap onto the fuel global.
          if (r.index >= this.globalCount) throw r.malformed(`global index ${r.index} out of range`);
          if (r.index >= this.fuelIndex) this.addEvent(EV_GLOBAL, at + 1, r.pos, r.index + 1);
          break;
        case Role.Call:
          this.addEvent(EV_SAVE, at, at, 0);
          this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          break;
        case Role.Leave:
          this.addEvent(EV_SAVE, at, at, 0);
          break;
        case Role.Br:
          if (this.branchSaves(r.index, depth, sync)) this.addEvent(EV_SAVE, at, at, 0);
          break;
        case Role.BrTable:
          for (let i = 0; i < r.labelCount; i++) {
            if (this.branchSaves(r.labels[i]!, depth, sync)) {
              this.addEvent(EV_SAVE, at, at, 0);
              break;
            }
          }
          break;
        case Role.Loop: {
          // The loop instruction itself belongs to the enclosing region; its body starts a new one.
          const block = blocks++;
          if (sync && this.marks[block] === 1) {
            // A catch target: fall-in saves; the header loads (exceptions arrive with the global current).
            this.addEvent(EV_SAVE, at, at, 0);
            this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          }
          this.pushFrame(depth++, this.addEvent(EV_CHARGE, r.pos, r.pos, 0), cost, block);
          cost = 0;
          loops++;
          break;
        }
        case Role.Open: {
          const block = blocks++;
          // An if without else jumps from here past its end.
          if (sync && op === Op.If && this.marks[block] === 1) this.addEvent(EV_SAVE, at, at, 0);
          this.pushFrame(depth++, -1, 0, block);
          break;
        }
        case Role.TryTable:
          // Catch labels are relative to the try_table's enclosing blocks; depth means the
          // function label (a caught exception leaves the function with the global current).
          for (let i = 0; i < r.labelCount; i++) {
            const l = r.labels[i]!;
            if (l < depth) this.mark(this.frameBlock[depth - 1 - l]!);
          }
          this.pushFrame(depth++, -1, 0, blocks++);
          break;
        case Role.Else:
          // The then-arm's fallthrough goes past the if's end.
          if (sync && depth > 0 && this.marks[this.frameBlock[depth - 1]!] === 1) this.addEvent(EV_SAVE, at, at, 0);
          break;
        case Role.Catch:
          // The previous clause's fallthrough goes past the try's end; the clause is entered by
          // a caught exception, thrown with the global current.
          if (sync && depth > 0 && this.marks[this.frameBlock[depth - 1]!] === 1) this.addEvent(EV_SAVE, at, at, 0);
          this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          break;
        default: {
          // Role.Close: end (or delegate) of the innermost open block, or of the body.
          if (depth === 0) {
            if (op !== Op.End) throw r.malformed('delegate outside of a try block');
            this.addEvent(EV_SAVE, at, at, 0);
            if (r.pos !== r.end) throw r.malformed('function body continues after its final end');
            this.events[entry + 2] = cost;
            return loops;
          }
          const slot = this.frameSlot[--depth]!;
          if (slot >= 0) {
            this.events[slot + 2] = cost; // the loop region closes: its cost is final
            cost = this.frameCost[depth]!;
          } else if (sync && this.marks[this.frameBlock[depth]!] === 1) {
            this.addEvent(EV_SAVE, at, at, 0);
            this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          }
        }
      }
    }
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

  private pushFrame(depth: number, slot: number, savedCost: number, block: number): void {
    if (depth >= this.maxNesting) throw new InstrumentError('COMPONENT_INVALID', `blocks nest deeper than ${this.maxNesting}`);
    if (depth >= this.frameSlot.length) {
      this.frameSlot = grow(this.frameSlot);
      this.frameCost = grow(this.frameCost);
      this.frameBlock = grow(this.frameBlock);
    }
    this.frameSlot[depth] = slot;
    this.frameCost[depth] = savedCost;
    this.frameBlock[depth] = block;
  }

  private addEvent(kind: number, pos: number, end: number, value: number): number {
    const slot = this.eventCount * 4;
    if (slot + 4 > this.events.length) this.events = grow(this.events);
    const ev = this.events;
    ev[slot] = kind;
    ev[slot + 1] = pos;
    ev[slot + 2] = value;
    ev[slot + 3] = end;
    this.eventCount++;
    return slot;
  }

  /** Build the inserted sequences for fuel local `f` (see the SEQ_* constants). */
  private sequences(f: number): void {
    if (f === this.seqLocal) return;
    this.seqLocal = f;
    const l = leb(f);
    const g = this.fuelLeb;
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
    put(Op.I64Sub, Op.LocalTee, l, Op.I64Const, 0, Op.I64LtS, Op.If, BLOCKTYPE_EMPTY, Op.LocalGet, l, Op.GlobalSet, g, Op.Unreachable, Op.End);
    next(SEQ_TAIL_LOCAL);
    put(Op.I64Sub, Op.LocalTee, l, Op.GlobalSet, g, Op.LocalGet, l, Op.I64Const, 0, Op.I64LtS, Op.If, BLOCKTYPE_EMPTY, Op.Unreachable, Op.End);
    next(SEQ_TAIL_EAGER);
    put(Op.I64Sub, Op.GlobalSet, g, Op.GlobalGet, g, Op.I64Const, 0, Op.I64LtS, Op.If, BLOCKTYPE_EMPTY, Op.Unreachable, Op.End);
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
   * exist in {@link Mode.Local}.
   */
  private emit(start: number, end: number, mode: number): void {
    const ev = this.events;
    const out = this.out;
    const local = mode === Mode.Local;
    let from = start;
    for (let i = 0; i < this.eventCount * 4; i += 4) {
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
        case EV_SAVE: this.put(SEQ_SAVE); break;
        default: this.put(SEQ_LOAD);
      }
      from = ev[i + 3]!;
    }
    out.copy(this.input, from, end);
  }

  private charge(cost: number, head: number, tail: number): void {
    if (cost === 0) return; // cannot happen (every region holds at least its end), kept for safety
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

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
