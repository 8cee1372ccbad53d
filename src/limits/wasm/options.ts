/**
 * What `instrumentModule` takes and returns: the options with their defaults, the
 * validation caps, the result and its statistics, and the resolution of options into the
 * complete set the rewriters read (so that no rewriter repeats a default).
 *
 * `instrument.ts` re-exports the public part; the rest of the package imports it from there.
 */

/** Largest page count of a 32-bit memory (4 GiB): the most `maxMemoryPages` may be, and a memory's maximum when it declares none. */
export const MAX_PAGES_32 = 65536;

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
/** Default {@link InstrumentOptions.leafInlineThreshold}. */
export const DEFAULT_LEAF_INLINE_THRESHOLD = 64;
/** Default {@link InstrumentOptions.exitLoopThreshold}. */
export const DEFAULT_EXIT_LOOP_THRESHOLD = 64;

/** What to do to the module. Every field is optional. */
export interface InstrumentOptions {
  /** Inject fuel metering (default true). */
  fuel?: boolean;
  /**
   * Where a charge drives the fuel negative, call the host's refuel function (imported as the
   * funcref global `agentos:limits` `refuel`; see `hook.ts`) and continue, instead of
   * trapping (default true). The function tops the fuel global up or traps, so a host can hand
   * out the budget in slices and stop a guest between them (`src/limits/refuel.ts`). false:
   * trap with `unreachable` on the spot, and import the fuel global only.
   */
  refuel?: boolean;
  /**
   * Stop-flag mode, for engines whose compiler pays for any call on a loop's path even when it
   * never runs (Cranelift spills the loop's values around it; `native/src/meter.rs`): charges
   * trap as with `refuel: false`, and the host stops a guest by setting a byte that every loop
   * header, and the entry of every function that calls, polls with an atomic load (default
   * false; implies `refuel: false`). The module gets, at the end of each index space:
   * a memory `(memory 1 1)` exported as `agentos:flags` (byte 0: the host's stop flag; on a
   * trap of the rewrite's own, byte 1 says why, 1 fuel ran out or 2 stopped, and bytes 8..16
   * hold the fuel global), and two functions that write that record and trap; its start
   * function, if any, is exported as `agentos:start` instead of run at instantiation, so the
   * host can set up the flag first (`stop-flag.ts`). A memory index past the input's own (in
   * code, data segments and exports) is refused: it would name the flag memory.
   */
  stopFlag?: boolean;
  /**
   * Count the `memory.grow` and `table.grow` the caps refuse (they return -1), so the host can
   * record them (default false; only with `fuel`, not in stop-flag mode, where the engine's own
   * limiter sees them). The module then also imports
   * `(import "agentos:limits" "refused" (global (mut i64)))`, after the fuel globals: a refused
   * `memory.grow` adds 1 to it, a refused `table.grow` 2^32 ({@link REFUSED_TABLE_UNIT}). Each
   * grow gets `local.tee $g; i32.const -1; i32.eq; if; <add>; end; local.get $g` after it, with
   * an i32 local `$g` the rewrite adds to its function; functions with a grow are not copied as
   * small leaves. The guest sees the same results: the count is the host's, not the guest's.
   */
  countGrowRefusals?: boolean;
  /**
   * Keep the fuel counter in a local inside functions with loops (default true). false:
   * every charge updates the global directly, as before fuel locals: the same charges and
   * trap points, several times slower in tight loops. For comparisons and tests.
   */
  fuelLocal?: boolean;
  /**
   * A loop whose region (its body's static instruction count, nested loops' bodies excluded)
   * is larger than this is charged per sub-region (see `regions.ts`) instead of once
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
  /**
   * Direct calls of small leaf functions are charged at the call site (default
   * {@link DEFAULT_LEAF_INLINE_THRESHOLD}; 0 turns this off). A *small leaf* is a defined
   * function of at most this many instructions without loops, calls of any kind, exception
   * instructions or `unreachable`, charged once at entry (no sub-regions). It gets a copy
   * without any metering, appended to the module's functions (no index moves), and every
   * `call` of it in the module's code charges its cost where the call is and calls the copy
   * instead, without syncing the fuel local with the global around it: in a loop calling such
   * a function the counter then stays in a register. The function itself keeps its charge for
   * every other use (exports, tables, `ref.func`, start, tail calls). Fuel charged and trap
   * values are those of charging the function itself; only the place of a fuel trap moves,
   * from the callee's entry to the call. Off with `fuelLocal: false` (whose output stays the
   * global-only scheme's).
   */
  leafInlineThreshold?: number;
  /**
   * With the refuel hook: an innermost loop without calls or exception instructions, charged
   * only at its header, whose region is at most this many instructions gets the refuel call
   * of its header charge outside the loop (`loop-exit.ts`), so that V8 can still unroll it.
   * Default {@link DEFAULT_EXIT_LOOP_THRESHOLD}; 0 keeps every refuel call in its loop.
   */
  exitLoopThreshold?: number;
  /**
   * With the refuel hook: mark its branches towards the refuel function unlikely in a
   * `metadata.code.branch_hint` section (`branch-hints.ts`; default true), so that V8 keeps the
   * call's spills off the hot path. V8 reads the section only with
   * `--experimental-wasm-branch-hinting` (Node 20); elsewhere it is inert.
   */
  branchHints?: boolean;
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
  /** Functions defined by the input module (imports and {@link leafCopies} excluded). */
  functions: number;
  /** `loop` instructions seen (0 when fuel is off: bodies are then copied unread). */
  loops: number;
  /** Charge sequences injected at the start of regions and sub-regions ({@link leafCalls} excluded). */
  chargePoints: number;
  /** Regions (loop bodies and function bodies) charged per sub-region rather than whole. */
  fineRegions: number;
  /**
   * Small leaf functions copied without metering (see {@link InstrumentOptions.leafInlineThreshold}),
   * appended after the {@link functions} defined by the input.
   */
  leafCopies: number;
  /** Direct calls charged at the call site and redirected to such a copy (not in {@link chargePoints}). */
  leafCalls: number;
  /**
   * Small loops whose refuel call was put outside them, so that V8 can still unroll them
   * (`loop-exit.ts`; only with the refuel hook).
   */
  exitLoops: number;
  /** Stop-flag polls inserted (loop headers and the entries of functions that call; `stop-flag.ts`). */
  polls: number;
  /** `memory.grow` and `table.grow` given a refusal count (`InstrumentOptions.countGrowRefusals`). */
  growChecks: number;
  /** Defined memories, in order. */
  memories: MemoryStats[];
}

/** The rewritten module and what was done to it. */
export interface InstrumentResult {
  bytes: Uint8Array;
  /** True when the module now imports `agentos:limits` `fuel` and must be given that global. */
  fuelGlobalImported: boolean;
  /** True when it also imports `agentos:limits` `refuel` (a funcref global: the refuel function). */
  refuelImported: boolean;
  /** True when it polls a stop flag and exports it (`InstrumentOptions.stopFlag`). */
  stopFlag: boolean;
  /** True when it imports `agentos:limits` `refused` (`InstrumentOptions.countGrowRefusals`). */
  refusedImported: boolean;
  stats: InstrumentStats;
  /** Branch hints written (`InstrumentOptions.branchHints`; absent without the refuel hook). */
  branchHints?: number;
}

/**
 * Options with every default filled in: what the section and body rewriters read.
 *
 * @example
 * ```ts
 * const opts: ResolvedOptions = resolveOptions({ maxMemoryPages: 16 });
 * opts.fineMerge; // DEFAULT_FINE_MERGE
 * ```
 */
export type ResolvedOptions = InstrumentOptions & {
  fuel: boolean;
  refuel: boolean;
  stopFlag: boolean;
  /** {@link InstrumentOptions.countGrowRefusals}, resolved: fuel on, stop-flag mode off. */
  countGrows: boolean;
  limits: Required<InstrumentLimits>;
  fineLoopThreshold: number;
  fineFunctionThreshold: number;
  fineMerge: number;
  fineFreeBlocks: boolean;
  leafInlineThreshold: number;
  exitLoopThreshold: number;
};

/**
 * Fill in the defaults of `options` and check the numeric ones (a `RangeError` for a
 * negative, fractional or too large value: they are programming errors, not bad modules).
 * Thresholds may also be `Infinity` (charge every region whole).
 *
 * @example
 * ```ts
 * resolveOptions({}).fineLoopThreshold;                // 64 (DEFAULT_FINE_LOOP_THRESHOLD)
 * resolveOptions({ maxMemoryPages: 1.5 });             // throws RangeError
 * resolveOptions({ limits: { maxNesting: 100 } }).limits.maxFunctions; // 1_000_000
 * ```
 */
export function resolveOptions(options: InstrumentOptions): ResolvedOptions {
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
    refuel: (options.fuel ?? true) && (options.refuel ?? true) && options.stopFlag !== true,
    stopFlag: (options.fuel ?? true) && options.stopFlag === true,
    countGrows: (options.fuel ?? true) && options.countGrowRefusals === true && options.stopFlag !== true,
    limits: { ...DEFAULT_INSTRUMENT_LIMITS, ...options.limits },
    fineLoopThreshold: threshold('fineLoopThreshold', options.fineLoopThreshold, DEFAULT_FINE_LOOP_THRESHOLD),
    fineFunctionThreshold: threshold('fineFunctionThreshold', options.fineFunctionThreshold, DEFAULT_FINE_FUNCTION_THRESHOLD),
    fineMerge: options.fineMerge ?? DEFAULT_FINE_MERGE,
    fineFreeBlocks: options.fineFreeBlocks ?? true,
    leafInlineThreshold: threshold('leafInlineThreshold', options.leafInlineThreshold, DEFAULT_LEAF_INLINE_THRESHOLD),
    exitLoopThreshold: threshold('exitLoopThreshold', options.exitLoopThreshold, DEFAULT_EXIT_LOOP_THRESHOLD),
  };
}
