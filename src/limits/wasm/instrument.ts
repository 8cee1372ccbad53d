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
 * Regions and sub-regions. A function's entry region is its body without its loops' bodies; a
 * loop's region is its body without its inner loops' bodies (the `loop` instruction belongs to
 * the enclosing region). A region of at most `fineLoopThreshold` (loops) or
 * `fineFunctionThreshold` (entry) instructions is charged whole at its start, whichever path
 * runs. A larger one (an interpreter's dispatch loop holds every opcode handler: charged whole,
 * an iteration running ~30 instructions paid thousands) is charged per sub-region, where
 * control enters straight-line code:
 *
 * - the region's start (entry or loop header), up to the first point below;
 * - the start of an if's then arm and of its else arm;
 * - after the `end` of a block, if, try or try_table that something other than the fallthrough
 *   reaches (a branch, a try_table catch, an if's false path, the then arm past `else`);
 * - after a br_if (the rest runs only when it is not taken), after an inner loop's `end`;
 * - the start of each legacy catch/catch_all clause.
 *
 * Code after br, br_table, return, throw, unreachable, … up to the next such point is dead and
 * costs nothing. A join that only unconditional edges reach (the end of an if with else, a
 * tail that handlers `br` to), each from a sub-region with a charge of its own, gets no charge:
 * its cost is added to each of those, which always continue into it.
 *
 * Within one iteration control only moves forward through a region (backward only to its
 * start, or out into other regions), so each sub-region runs at most once per iteration and
 * its charge is the count of its own instructions: fuel is the number of instructions
 * executed, with three exceptions, none of which undercharges. `block` costs nothing there
 * (`fineFreeBlocks`: no machine code, and dispatch loops open hundreds per iteration); a
 * sub-region of at most `fineMerge` instructions starting an arm or following a br_if or an
 * inner loop is charged with the sub-region that leads to it (at most `fineMerge` instructions
 * per charge), which saves charge points and may charge a path for a few it skips; and what
 * follows a call is paid even if the callee throws. Per iteration this is never more than the
 * whole region, and never 0: the first sub-region holds at least the instruction that ends
 * it. Loops and functions under the thresholds are charged exactly as before.
 *
 * Inside a function with loops the counter lives in an extra i64 local `$f`, so a hot loop
 * does not store and reload the global every iteration (a loop-carried dependency through
 * memory). The local and the global are synced where other code or the host can see the
 * global:
 *
 * - entry: the entry charge reads the global, `global.get $fuel; i64.const cost; i64.sub;
 *   local.tee $f; …`;
 * - a loop or later sub-region charge: `local.get $f; i64.const cost; i64.sub; local.tee $f; i64.const 0;
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
 * A function without loops usually has only its entry charge, so it saves right there and
 * needs no other save or load (see {@link Mode}). Either way, the value the global-only scheme would
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

/** Default {@link InstrumentOptions.fineLoopThreshold}. */
export const DEFAULT_FINE_LOOP_THRESHOLD = 64;
/** Default {@link InstrumentOptions.fineFunctionThreshold}. */
export const DEFAULT_FINE_FUNCTION_THRESHOLD = 64;
/** Default {@link InstrumentOptions.fineMerge}. */
export const DEFAULT_FINE_MERGE = 4;

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
  /**
   * A loop whose region (its body's static instruction count, nested loops' bodies excluded)
   * is larger than this is charged per sub-region (see the top of the file) instead of once
   * per iteration; smaller loops keep their single charge at the header. Default
   * {@link DEFAULT_FINE_LOOP_THRESHOLD}; `Infinity` charges every loop whole.
   */
  fineLoopThreshold?: number;
  /**
   * The same for a function's entry region (its body without its loops' bodies). Default
   * {@link DEFAULT_FINE_FUNCTION_THRESHOLD}; `Infinity` charges every entry region whole.
   */
  fineFunctionThreshold?: number;
  /**
   * In a region charged per sub-region, a sub-region of at most this many instructions that
   * starts an if or else arm, follows a br_if or follows an inner loop is charged together
   * with the sub-region before it (which dominates it), as long as that charge absorbs at most
   * this many instructions in all: fewer charge points, at the price of charging a path up to
   * this much for instructions it skips. Default {@link DEFAULT_FINE_MERGE}; 0 charges every
   * sub-region separately (fuel then equals the instructions executed in such regions).
   */
  fineMerge?: number;
  /**
   * In a region charged per sub-region, `block` instructions cost nothing (default true): they
   * compile to no machine code, and an interpreter's dispatch loop opens one per opcode handler
   * at the top of every iteration (hundreds), outweighing the handler that then runs. false:
   * they count like every other instruction.
   */
  fineFreeBlocks?: boolean;
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
  /** Regions (loop bodies and function bodies) charged per sub-region rather than whole. */
  fineRegions: number;
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
 *   iteration is what made tight loops ~4× slower.) Also a function without loops whose entry
 *   region has more sub-region charges than calls and exits (each of which saves or loads).
 * - `Eager`: the other functions without loops: every charge (usually only the entry charge)
 *   reads the global and saves at once: `global.get; i64.const cost; i64.sub; local.tee $f;
 *   global.set; local.get $f; i64.const 0; i64.lt_s; if unreachable end`. The global is then
 *   always current and no other save or load is needed: for small, call-heavy functions that
 *   is cheaper than saving and loading around every call and at every exit.
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

type Resolved = InstrumentOptions & {
  fuel: boolean;
  limits: Required<InstrumentLimits>;
  fineLoopThreshold: number;
  fineFunctionThreshold: number;
  fineMerge: number;
  fineFreeBlocks: boolean;
};

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
  check('fineMerge', options.fineMerge, 0x7fffffff);
  const threshold = (name: string, v: number | undefined, fallback: number): number => {
    if (v === undefined) return fallback;
    if (v !== Infinity) check(name, v, 0x7fffffff);
    return v;
  };
  return {
    ...options,
    fuel: options.fuel ?? true,
    limits: { ...DEFAULT_INSTRUMENT_LIMITS, ...options.limits },
    fineLoopThreshold: threshold('fineLoopThreshold', options.fineLoopThreshold, DEFAULT_FINE_LOOP_THRESHOLD),
    fineFunctionThreshold: threshold('fineFunctionThreshold', options.fineFunctionThreshold, DEFAULT_FINE_FUNCTION_THRESHOLD),
    fineMerge: options.fineMerge ?? DEFAULT_FINE_MERGE,
    fineFreeBlocks: options.fineFreeBlocks ?? true,
  };
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
  private readonly stats: InstrumentStats = { functions: 0, loops: 0, chargePoints: 0, fineRegions: 0, memories: [] };

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
    const injector = new FuelInjector(this.input, this.out, this.fuelIndex, this.fuelIndex + this.definedGlobals, this.opts);
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
    this.stats.fineRegions = injector.fineRegions;
  }
}

/** Frame kinds: the low bits of a frame's info. */
const F_BLOCK = 0;
const F_IF = 1;
const F_TRY = 2;
const F_TRY_TABLE = 3;
const F_LOOP = 4;
const F_KIND = 7;
/** Info bit: the block opened in live (possibly reachable) code. */
const F_LIVE = 8;
/** Info bit: an if whose else has been seen. */
const F_ELSE = 16;
/** Info bit: a conditional edge (br_if, br_table, a try_table catch) reaches the end label. */
const F_COND = 32;

/**
 * Rewrites function bodies: a scan records, in order, where charges, saves and loads go
 * (a charge with the static cost of its (sub-)region, known only once it closes) and which
 * global immediates change; the emit then copies the body between those points.
 */
class FuelInjector {
  loops = 0;
  chargePoints = 0;
  fineRegions = 0;
  /** [kind, input position, value, input position after the replaced bytes] per event. */
  private events: Int32Array = new Int32Array(1024);
  private eventCount = 0;
  /**
   * Per open block (by depth): a loop's charge slot (-1 for other blocks); for a loop, the
   * enclosing region's count and fine-slot base, saved; the block's number (blocks are
   * numbered in the order they open); its F_* info; the sub-region current when it opened
   * (for a loop: the enclosing one, closed by the `loop`); live edges into its end label.
   */
  private frameSlot: Int32Array = new Int32Array(64);
  private frameCost: Int32Array = new Int32Array(64);
  private frameBase: Int32Array = new Int32Array(64);
  private frameBlock: Int32Array = new Int32Array(64);
  private frameInfo: Int32Array = new Int32Array(64);
  private frameSub: Int32Array = new Int32Array(64);
  private frameEdges: Int32Array = new Int32Array(64);
  /** Per open block: its list of unconditional edges into its end label (see {@link preds}), -1 if none. */
  private frameHead: Int32Array = new Int32Array(64);
  /** Per loop frame: the enclosing region's number, saved. */
  private frameRegion: Int32Array = new Int32Array(64);
  /**
   * Unconditional edges into end labels, as linked lists: the sub-region the edge leaves (it
   * ends with a br, the fallthrough before `else` or `catch`, or falls into the `end`), and the
   * next edge of the same label.
   */
  private predSub: Int32Array = new Int32Array(256);
  private predNext: Int32Array = new Int32Array(256);
  private predCount = 0;
  /** Per block number: 1 when a try_table catch clause targets the block's label. */
  private marks: Uint8Array = new Uint8Array(64);
  /** The block numbers set in {@link marks}, to clear them after the function. */
  private marked: number[] = [];
  /**
   * Sub-regions of the function, by number: the event slot of the charge that starts it, and
   * once closed the sub-region that carries its cost (itself, or the owner of a dominating
   * one it merged into) and, for an owner, how much merged cost it absorbed.
   */
  private subSlot: Int32Array = new Int32Array(256);
  private subOwner: Int32Array = new Int32Array(256);
  private subAbsorbed: Int32Array = new Int32Array(256);
  /** Per sub-region: the number of its region; for one without a charge of its own, its edge list (see {@link openPushed}). */
  private subRegion: Int32Array = new Int32Array(256);
  private subPush: Int32Array = new Int32Array(256);
  private subCount = 0;
  /** The current region's number (regions are numbered in the order they open). */
  private region = 0;
  private regions = 0;
  /** The open sub-region (meaningful while {@link live}): number, dominator, mergeable, count at its start. */
  private cur = 0;
  private curDom = -1;
  private curMerge = false;
  private curStart = 0;
  /** `block` instructions seen in the scan (when they are free), and their number when the open sub-region started. */
  private blocksSeen = 0;
  private curBlocks = 0;
  /** False in code after an unconditional transfer (br, br_table, return, …) until a join. */
  private live = true;
  /** Charge slots of the sub-regions of the open regions (except their first), innermost last. */
  private fine: Int32Array = new Int32Array(256);
  private fineTop = 0;
  /** Regions charged per sub-region in the current scan. */
  private scanFine = 0;
  /** Calls and exits (return, throw, …) in the current scan: the saves and loads Mode.Local would add. */
  private exits = 0;
  /** Sub-region charges of the entry region after the first (0: charged whole). */
  private entryCharges = 0;
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
  private readonly maxNesting: number;
  private readonly fuelLocal: boolean;
  private readonly loopThreshold: number;
  private readonly functionThreshold: number;
  private readonly mergeMax: number;
  private readonly freeBlocks: boolean;

  constructor(
    private readonly input: Uint8Array,
    private readonly out: ByteWriter,
    private readonly fuelIndex: number,
    private readonly globalCount: number,
    opts: Resolved,
  ) {
    this.maxNesting = opts.limits.maxNesting;
    this.fuelLocal = opts.fuelLocal ?? true;
    this.loopThreshold = opts.fineLoopThreshold;
    this.functionThreshold = opts.fineFunctionThreshold;
    this.mergeMax = opts.fineMerge;
    this.freeBlocks = opts.fineFreeBlocks;
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
    this.fineRegions += this.scanFine;
    const mode = !this.fuelLocal || locals >= MAX_FUNCTION_LOCALS ? Mode.Global : loops > 0 || this.entryCharges > this.exits ? Mode.Local : Mode.Eager;
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
   *
   * Costs: `total` counts every instruction of the current region (as the whole-region charge
   * needs); sub-region charge points are recorded in every region, with the count of live
   * instructions from one to the next, and dropped again (cost 0, not emitted) when the region
   * closes no larger than its threshold.
   */
  private scan(r: WasmReader, sync: boolean): number {
    this.eventCount = 0;
    this.subCount = 0;
    this.predCount = 0;
    this.regions = 0;
    this.fineTop = 0;
    this.scanFine = 0;
    this.exits = 0;
    this.entryCharges = 0;
    this.blocksSeen = 0;
    const entry = this.addEvent(EV_CHARGE, r.pos, r.pos, 0); // also loads the local: see emit
    this.openRoot(entry, 0);
    let total = 0;
    let fineBase = 0;
    let depth = 0;
    let blocks = 0;
    let loops = 0;
    for (;;) {
      const at = r.pos;
      const op = r.readInstruction();
      total++;
      const role = ROLE[op]!;
      if (role === Role.None) continue;
      switch (role) {
        case Role.Global:
          // Range check first: a bogus index like 2^32-1 would otherwise wrap onto the fuel global.
          if (r.index >= this.globalCount) throw r.malformed(`global index ${r.index} out of range`);
          if (r.index >= this.fuelIndex) this.addEvent(EV_GLOBAL, at + 1, r.pos, r.index + 1);
          break;
        case Role.Call:
          this.exits++;
          // Not a sub-region boundary: what follows runs unless the callee throws or traps.
          this.addEvent(EV_SAVE, at, at, 0);
          this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          break;
        case Role.Leave:
          this.exits++;
          this.addEvent(EV_SAVE, at, at, 0);
          this.closeSub(total);
          break;
        case Role.Br:
          if (this.branchSaves(r.index, depth, sync)) this.addEvent(EV_SAVE, at, at, 0);
          if (!this.live) break;
          this.edge(r.index, depth, op === Op.Br ? this.cur : -1);
          if (op === Op.Br) {
            this.closeSub(total);
          } else {
            // br_if: what follows runs only when the branch is not taken.
            const sub = this.cur;
            this.closeSub(total);
            this.openSub(r.pos, sub, true, total);
          }
          break;
        case Role.BrTable:
          for (let i = 0; i < r.labelCount; i++) {
            if (this.branchSaves(r.labels[i]!, depth, sync)) {
              this.addEvent(EV_SAVE, at, at, 0);
              break;
            }
          }
          if (!this.live) break;
          for (let i = 0; i < r.labelCount; i++) this.edge(r.labels[i]!, depth, -1);
          this.closeSub(total);
          break;
        case Role.Loop: {
          // The loop instruction itself belongs to the enclosing region; its body starts a new one.
          const block = blocks++;
          if (sync && this.marks[block] === 1) {
            // A catch target: fall-in saves; the header loads (exceptions arrive with the global current).
            this.addEvent(EV_SAVE, at, at, 0);
            this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          }
          const info = F_LOOP | (this.live ? F_LIVE : 0);
          const outer = this.cur;
          this.closeSub(total);
          const slot = this.addEvent(EV_CHARGE, r.pos, r.pos, 0);
          this.pushFrame(depth++, slot, info, block, outer);
          this.frameCost[depth - 1] = total;
          this.frameBase[depth - 1] = fineBase;
          this.frameRegion[depth - 1] = this.region;
          total = 0;
          fineBase = this.fineTop;
          this.openRoot(slot, 0);
          loops++;
          break;
        }
        case Role.Open: {
          const block = blocks++;
          // An if without else jumps from here past its end.
          if (sync && op === Op.If && this.marks[block] === 1) this.addEvent(EV_SAVE, at, at, 0);
          const kind = op === Op.If ? F_IF : op === Op.Block ? F_BLOCK : F_TRY;
          if (kind === F_BLOCK && this.freeBlocks) this.blocksSeen++;
          const sub = this.cur;
          this.pushFrame(depth++, -1, kind | (this.live ? F_LIVE : 0), block, sub);
          if (kind === F_IF && this.live) {
            this.closeSub(total);
            this.openSub(r.pos, sub, true, total); // the then arm
          }
          break;
        }
        case Role.TryTable:
          // Catch labels are relative to the try_table's enclosing blocks; depth means the
          // function label (a caught exception leaves the function with the global current).
          for (let i = 0; i < r.labelCount; i++) {
            const l = r.labels[i]!;
            if (l < depth) this.mark(this.frameBlock[depth - 1 - l]!);
            if (this.live) this.edge(l, depth, -1);
          }
          this.pushFrame(depth++, -1, F_TRY_TABLE | (this.live ? F_LIVE : 0), blocks++, this.cur);
          break;
        case Role.Else: {
          const d = depth - 1;
          const info = d >= 0 ? this.frameInfo[d]! : 0;
          if (d < 0 || (info & (F_KIND | F_ELSE)) !== F_IF) throw r.malformed('else outside of an if block');
          // The then-arm's fallthrough goes past the if's end.
          if (sync && this.marks[this.frameBlock[d]!] === 1) this.addEvent(EV_SAVE, at, at, 0);
          if (this.live) {
            this.frameEdges[d] = this.frameEdges[d]! + 1;
            this.pred(d, this.cur);
            this.closeSub(total);
          }
          this.frameInfo[d] = info | F_ELSE;
          if (info & F_LIVE) this.openSub(r.pos, this.frameSub[d]!, true, total); // the else arm
          break;
        }
        case Role.Catch: {
          const d = depth - 1;
          if (d < 0 || (this.frameInfo[d]! & F_KIND) !== F_TRY) throw r.malformed('catch outside of a try block');
          // The previous clause's fallthrough goes past the try's end; the clause is entered by
          // a caught exception, thrown with the global current.
          if (sync && this.marks[this.frameBlock[d]!] === 1) this.addEvent(EV_SAVE, at, at, 0);
          this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          if (this.live) {
            this.frameEdges[d] = this.frameEdges[d]! + 1;
            this.pred(d, this.cur);
            this.closeSub(total);
          }
          if (this.frameInfo[d]! & F_LIVE) this.openSub(r.pos, this.frameSub[d]!, false, total);
          break;
        }
        default: {
          // Role.Close: end (or delegate) of the innermost open block, or of the body.
          if (depth === 0) {
            if (op !== Op.End) throw r.malformed('delegate outside of a try block');
            this.addEvent(EV_SAVE, at, at, 0);
            if (r.pos !== r.end) throw r.malformed('function body continues after its final end');
            this.closeSub(total);
            this.entryCharges = this.finishRegion(entry, total, fineBase, this.functionThreshold);
            return loops;
          }
          const d = --depth;
          const info = this.frameInfo[d]!;
          if (op !== Op.End && (info & F_KIND) !== F_TRY) throw r.malformed('delegate outside of a try block');
          if ((info & F_KIND) === F_LOOP) {
            // The loop region closes: its costs are final. What follows the loop is reached
            // only by falling out of its body.
            const fallsOut = this.live;
            this.closeSub(total);
            this.finishRegion(this.frameSlot[d]!, total, fineBase, this.loopThreshold);
            total = this.frameCost[d]!;
            fineBase = this.frameBase[d]!;
            this.region = this.frameRegion[d]!;
            if (fallsOut && info & F_LIVE) this.openSub(r.pos, this.frameSub[d]!, true, total);
            break;
          }
          if (sync && this.marks[this.frameBlock[d]!] === 1) {
            this.addEvent(EV_SAVE, at, at, 0);
            this.addEvent(EV_LOAD, r.pos, r.pos, 0);
          }
          // A join: the fallthrough, branches to the label, an if's false path without else.
          const fallthrough = this.live ? 1 : 0;
          let incoming = this.frameEdges[d]! + fallthrough;
          let cond = info & F_COND;
          if ((info & (F_KIND | F_ELSE | F_LIVE)) === (F_IF | F_LIVE)) {
            incoming++; // the false path
            cond = F_COND;
          }
          if (incoming > fallthrough) {
            const from = this.live ? this.cur : -1;
            this.closeSub(total);
            if (cond === 0 && this.pushable(d, from)) this.openPushed(d, from, total);
            else this.openSub(r.pos, this.frameSub[d]!, false, total);
          }
          // Otherwise nothing reaches past the end (dead stays dead) or only the fallthrough does.
        }
      }
    }
  }

  /** A live branch to relative label `l` at nesting `depth`: one more edge into a block's end. */
  private edge(l: number, depth: number, sub: number): void {
    if (l >= depth) return; // the function label: leaves
    const d = depth - 1 - l;
    if ((this.frameInfo[d]! & F_KIND) === F_LOOP) return;
    this.frameEdges[d] = this.frameEdges[d]! + 1;
    if (sub < 0) this.frameInfo[d] = this.frameInfo[d]! | F_COND;
    else this.pred(d, sub);
  }

  /** Sub-region `sub` always continues to the end label of the block at depth `d`. */
  private pred(d: number, sub: number): void {
    const e = this.predCount++;
    if (e === this.predSub.length) {
      this.predSub = grow(this.predSub);
      this.predNext = grow(this.predNext);
    }
    this.predSub[e] = sub;
    this.predNext[e] = this.frameHead[d]!;
    this.frameHead[d] = e;
  }

  /**
   * Whether the code after the end of the block at depth `d` can be charged by the sub-regions
   * that lead there instead of a charge of its own: every edge in is unconditional (checked by
   * the caller), and comes from a sub-region of this region that has a charge of its own (not
   * merged), so that each time that charge is paid the join runs once.
   */
  private pushable(d: number, from: number): boolean {
    if (from >= 0 && !this.owns(from)) return false;
    for (let e = this.frameHead[d]!; e >= 0; e = this.predNext[e]!) if (!this.owns(this.predSub[e]!)) return false;
    return true;
  }

  private owns(sub: number): boolean {
    return this.subOwner[sub] === sub && this.subRegion[sub] === this.region;
  }

  /**
   * Start a sub-region without a charge of its own, after the end of the block at depth `d`:
   * when it closes, its cost is added to the charge of every sub-region with an edge into it
   * (`from`: the one falling into the end, or -1). It absorbs no merges and leads no such join.
   */
  private openPushed(d: number, from: number, total: number): void {
    if (from >= 0) this.pred(d, from);
    const id = this.newSub(-1);
    this.subPush[id] = this.frameHead[d]!;
    this.cur = id;
    this.curDom = -1;
    this.curMerge = false;
    this.curStart = total;
    this.curBlocks = this.blocksSeen;
    this.live = true;
  }

  /** Start the first sub-region of a region: its charge is the region's own (entry or loop header). */
  private openRoot(slot: number, total: number): void {
    this.region = this.regions++;
    const id = this.newSub(slot);
    this.cur = id;
    this.curDom = -1;
    this.curMerge = false;
    this.curStart = total;
    this.curBlocks = this.blocksSeen;
    this.live = true;
  }

  /**
   * Start a sub-region at input position `pos` (a new charge point). `dom`: the sub-region
   * every path here came through in this iteration; `merge`: whether a small one may be
   * charged with it instead.
   */
  private openSub(pos: number, dom: number, merge: boolean, total: number): void {
    const slot = this.addEvent(EV_CHARGE, pos, pos, 0);
    const id = this.newSub(slot);
    if (this.fineTop === this.fine.length) this.fine = grow(this.fine);
    this.fine[this.fineTop++] = slot;
    this.cur = id;
    this.curDom = dom;
    this.curMerge = merge;
    this.curStart = total;
    this.curBlocks = this.blocksSeen;
    this.live = true;
  }

  private newSub(slot: number): number {
    const id = this.subCount++;
    if (id === this.subSlot.length) {
      this.subSlot = grow(this.subSlot);
      this.subOwner = grow(this.subOwner);
      this.subAbsorbed = grow(this.subAbsorbed);
      this.subRegion = grow(this.subRegion);
      this.subPush = grow(this.subPush);
    }
    this.subSlot[id] = slot;
    this.subRegion[id] = this.region;
    this.subOwner[id] = -1;
    this.subAbsorbed[id] = 0;
    return id;
  }

  /** Close the open sub-region (if any): its cost is final; code after is dead until a join. */
  private closeSub(total: number): void {
    if (!this.live) return;
    this.live = false;
    const id = this.cur;
    const cost = total - this.curStart - (this.blocksSeen - this.curBlocks);
    const slot = this.subSlot[id]!;
    const ev = this.events;
    if (slot < 0) {
      for (let e = this.subPush[id]!; e >= 0; e = this.predNext[e]!) {
        const at = this.subSlot[this.predSub[e]!]! + 2;
        ev[at] = ev[at]! + cost;
      }
      return; // subOwner stays -1
    }
    if (this.curMerge && cost <= this.mergeMax) {
      const owner = this.subOwner[this.curDom]!;
      if (owner >= 0 && this.subAbsorbed[owner]! + cost <= this.mergeMax) {
        this.subAbsorbed[owner] = this.subAbsorbed[owner]! + cost;
        const at = this.subSlot[owner]! + 2;
        ev[at] = ev[at]! + cost;
        ev[slot + 2] = 0; // not emitted
        this.subOwner[id] = owner;
        return;
      }
    }
    ev[slot + 2] = cost;
    this.subOwner[id] = id;
  }

  /**
   * A region closes with `total` instructions: at most `threshold`, its first charge takes the
   * whole count and its sub-region charges go; otherwise they stay.
   */
  private finishRegion(slot: number, total: number, fineBase: number, threshold: number): number {
    const ev = this.events;
    let charges = 0;
    if (total > threshold) {
      this.scanFine++;
      for (let i = fineBase; i < this.fineTop; i++) if (ev[this.fine[i]! + 2] !== 0) charges++;
    } else {
      ev[slot + 2] = total;
      for (let i = fineBase; i < this.fineTop; i++) ev[this.fine[i]! + 2] = 0;
    }
    this.fineTop = fineBase;
    return charges;
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

  private pushFrame(depth: number, slot: number, info: number, block: number, sub: number): void {
    if (depth >= this.maxNesting) throw new InstrumentError('COMPONENT_INVALID', `blocks nest deeper than ${this.maxNesting}`);
    if (depth >= this.frameSlot.length) {
      this.frameSlot = grow(this.frameSlot);
      this.frameCost = grow(this.frameCost);
      this.frameBase = grow(this.frameBase);
      this.frameBlock = grow(this.frameBlock);
      this.frameInfo = grow(this.frameInfo);
      this.frameSub = grow(this.frameSub);
      this.frameEdges = grow(this.frameEdges);
      this.frameHead = grow(this.frameHead);
      this.frameRegion = grow(this.frameRegion);
    }
    this.frameSlot[depth] = slot;
    this.frameBlock[depth] = block;
    this.frameInfo[depth] = info;
    this.frameSub[depth] = sub;
    this.frameEdges[depth] = 0;
    this.frameHead[depth] = -1;
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

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
