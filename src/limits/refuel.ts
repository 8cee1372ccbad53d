/**
 * The host side of the instrumented fuel (`wasm/hook.ts`): a run's budget handed to the guest in
 * slices, with a chance to stop the guest between two of them.
 *
 * Instrumented code keeps the remaining fuel in the imported global `agentos:limits` `fuel`, and
 * when a charge drives it negative calls the function in `agentos:limits` `refuel` (a funcref
 * global). {@link createFuelSlicer} provides both: the global holds at most one slice of the
 * budget; each time a charge overdraws it, the slicer first asks `check()` whether the guest
 * may go on (a deadline, a cancellation cell) and then grants the next slice out of what is
 * left. A guest stopped that way stops with a trap of its own, in its own thread, so a host can
 * run many guests on one thread and stop any of them without terminating it.
 *
 * The refuel function is a wasm function (a tiny trampoline module, {@link TRAMPOLINE_WAT}), not
 * the JS function itself: a JS exception thrown from an import can be caught by the guest's
 * `catch_all`, a trap cannot. The trampoline calls the slicer and executes `unreachable` when
 * told to stop.
 *
 * Fuel exhaustion is exactly what it was with the whole budget in the global: the trap comes at
 * the first charge that takes consumption past the budget (the slicer refuses to grant at
 * that charge, whatever `check()` would say), and {@link FuelSlicer.used} is the same figure.
 * Only the run's first charge past each slice costs a call to the host (once per slice: about
 * 1–2 ms of compute with the default slice).
 */
import { FUEL_IMPORT_FIELD, FUEL_IMPORT_MODULE, REFUEL_IMPORT_FIELD, REFUSED_IMPORT_FIELD, REFUSED_TABLE_UNIT } from './wasm/hook.js';

/** Fuel per slice by default: 16 M units, about 1–2 ms of compute (see `FUEL_PER_MS` in meter.ts). */
export const DEFAULT_FUEL_SLICE = 16_000_000n;

/** The largest i64: the most fuel a budget may hold (the engine's "unlimited"). */
const MAX_BUDGET = (1n << 63n) - 1n;

/** A mutable i64 `WebAssembly.Global`. */
export interface FuelGlobal extends WebAssembly.Global {
  value: bigint;
}

/**
 * The imports an instrumented module needs: `{ "agentos:limits": { fuel, refuel, refused } }`
 * (`refused` only with `InstrumentOptions.countGrowRefusals`; an extra field is ignored).
 */
export type FuelImports = Record<typeof FUEL_IMPORT_MODULE, { [FUEL_IMPORT_FIELD]: FuelGlobal; [REFUEL_IMPORT_FIELD]: WebAssembly.Global; [REFUSED_IMPORT_FIELD]: FuelGlobal }>;

/** Grows the caps refused inside the guest since the last reset (it saw -1). */
export interface GrowRefusals {
  readonly memory: number;
  readonly table: number;
}

/** Options of {@link createFuelSlicer}. */
export interface FuelSlicerOptions {
  /** Fuel for the first run (and instantiation); {@link FuelSlicer.reset} sets another. 0..2^63-1. */
  budget: bigint;
  /** The most fuel the global holds at once (default {@link DEFAULT_FUEL_SLICE}); > 0. */
  slice?: bigint;
  /**
   * Called once per slice, when the guest has used up the previous one: false stops the guest
   * now (it traps; {@link FuelSlicer.stopped} is then true). Not called when the budget is spent.
   * A throw counts as false. It runs inside the guest's call: it must not call into the guest.
   */
  check: () => boolean;
}

/** A run's fuel, handed out in slices. */
export interface FuelSlicer {
  /** The `agentos:limits` `fuel` global: what is left of the current slice. */
  readonly fuel: FuelGlobal;
  /** The `agentos:limits` `refuel` global: a funcref to the trampoline. */
  readonly refuel: WebAssembly.Global;
  /** The `agentos:limits` `refused` global: the count of refused grows (`InstrumentOptions.countGrowRefusals`). */
  readonly refused: FuelGlobal;
  /** All three, as an import namespace to spread into an instance's imports. */
  readonly imports: FuelImports;
  /** The `memory.grow` and `table.grow` the caps refused since the last reset (or since creation). */
  refusals(): GrowRefusals;
  /** Start over with a full `budget` (default: the last one): before each run. Clears {@link stopped} and {@link refusals}. */
  reset(budget?: bigint): void;
  /** Fuel consumed since the last reset (past the budget after exhaustion, as the global-only scheme reported). */
  used(): number;
  /** Whether the guest was stopped because consumption went past the budget. */
  exhausted(): boolean;
  /** Whether the guest was stopped by `check()` (not by fuel). */
  stopped(): boolean;
  /**
   * End the current slice now (from a host call of the guest): its next charge asks for the
   * next slice, and so calls `check()`. Consumption is unchanged. For a guest that spends its
   * time in host calls, whose slices would otherwise last long.
   */
  preempt(): void;
}

/**
 * The trampoline, in the text format (the bytes are {@link trampolineBytes}): the refuel function
 * the guest calls, and the host function it asks.
 */
export const TRAMPOLINE_WAT = `(module
  (import "host" "grant" (func $grant (result i32)))
  (func (export "refuel") (if (i32.eqz (call $grant)) (then unreachable))))`;

/** {@link TRAMPOLINE_WAT}, assembled by hand (a WAT parser is not a runtime dependency). */
export function trampolineBytes(): Uint8Array {
  const str = (s: string): number[] => [s.length, ...Buffer.from(s, 'latin1')];
  const section = (id: number, payload: number[]): number[] => [id, payload.length, ...payload];
  const body = [0x00, 0x10, 0x00, 0x45, 0x04, 0x40, 0x00, 0x0b, 0x0b]; // no locals; call 0; i32.eqz; if; unreachable; end; end
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x02, 0x60, 0x00, 0x01, 0x7f, 0x60, 0x00, 0x00]), // types: [] -> [i32], [] -> []
    ...section(2, [0x01, ...str('host'), ...str('grant'), 0x00, 0x00]), // import func host.grant, type 0
    ...section(3, [0x01, 0x01]), // one function of type 1
    ...section(7, [0x01, ...str('refuel'), 0x00, 0x01]), // export func 1
    ...section(10, [0x01, body.length, ...body]),
  ]);
}

let trampoline: WebAssembly.Module | undefined;

/** A funcref global whose function calls `grant` and traps when it returns 0. */
function refuelFunction(grant: () => number): WebAssembly.Global {
  trampoline ??= new WebAssembly.Module(trampolineBytes());
  const instance = new WebAssembly.Instance(trampoline, { host: { grant } });
  return new WebAssembly.Global({ value: 'anyfunc', mutable: false }, instance.exports.refuel);
}

let trapping: WebAssembly.Global | undefined;

/**
 * A refuel function that always traps: the first charge that drives the fuel negative traps
 * there, with the global left negative (the scheme before slices). For hosts that put the whole
 * budget in the global themselves, and for tests.
 *
 * @example
 * ```ts
 * const fuel = new WebAssembly.Global({ value: 'i64', mutable: true }, budget);
 * new WebAssembly.Instance(module, { [FUEL_IMPORT_MODULE]: { fuel, refuel: trappingRefuel() } });
 * ```
 */
export function trappingRefuel(): WebAssembly.Global {
  trapping ??= refuelFunction(() => 0);
  return trapping;
}

function checkBudget(budget: bigint): bigint {
  if (typeof budget !== 'bigint' || budget < 0n || budget > MAX_BUDGET) throw new RangeError(`fuel budget must be a bigint in 0..2^63-1, got ${String(budget)}`);
  return budget;
}

/**
 * A fuel global and refuel function for the instances of one guest (every core module of a
 * component shares them), holding `budget` in slices of `slice`.
 *
 * @example
 * ```ts
 * const slicer = createFuelSlicer({ budget, check: () => Atomics.load(interrupt, 0) === 0 && performance.now() < deadline });
 * const instance = new WebAssembly.Instance(module, { ...imports, ...slicer.imports });
 * slicer.reset(); // before each run
 * try { instance.exports.run(); } catch (e) {
 *   if (slicer.exhausted()) // FUEL_EXHAUSTED, slicer.used() consumed
 *   else if (slicer.stopped()) // TIMEOUT or CANCELLED, as check() decided
 * }
 * ```
 */
export function createFuelSlicer(options: FuelSlicerOptions): FuelSlicer {
  const slice = options.slice ?? DEFAULT_FUEL_SLICE;
  if (typeof slice !== 'bigint' || slice <= 0n || slice > MAX_BUDGET) throw new RangeError(`fuel slice must be a bigint in 1..2^63-1, got ${String(slice)}`);
  const check = options.check;
  let budget = checkBudget(options.budget);
  /** Fuel put into the global since the last reset: consumption = granted - global. */
  let granted = 0n;
  let stop = false;
  const fuel = new WebAssembly.Global({ value: 'i64', mutable: true }, 0n) as FuelGlobal;
  const refused = new WebAssembly.Global({ value: 'i64', mutable: true }, 0n) as FuelGlobal;

  /** Called by the trampoline when a charge left the global negative: 1 to go on, 0 to trap. */
  const grant = (): number => {
    if (stop) return 0;
    const value = fuel.value;
    // Past the budget: the charge the global-only scheme trapped at. No check, no grant.
    if (granted - value > budget) return 0;
    let go: boolean;
    try {
      go = check() === true;
    } catch {
      go = false;
    }
    if (!go) {
      stop = true;
      return 0;
    }
    // Cover what the charge overdrew, and at most one slice beyond it (value < 0; the budget
    // covers the overdraft, checked above).
    const left = budget - granted;
    const more = slice - value < left ? slice - value : left;
    granted += more;
    fuel.value = value + more;
    return 1;
  };

  const refuel = refuelFunction(grant);
  const reset = (next?: bigint): void => {
    if (next !== undefined) budget = checkBudget(next);
    granted = budget < slice ? budget : slice;
    fuel.value = granted;
    refused.value = 0n;
    stop = false;
  };
  reset();
  return {
    fuel,
    refuel,
    refused,
    imports: { [FUEL_IMPORT_MODULE]: { [FUEL_IMPORT_FIELD]: fuel, [REFUEL_IMPORT_FIELD]: refuel, [REFUSED_IMPORT_FIELD]: refused } },
    refusals: () => {
      // Memory refusals count in the low 32 bits, table refusals above them (`hook.ts`).
      const n = BigInt.asUintN(64, refused.value);
      const unit = BigInt(REFUSED_TABLE_UNIT);
      return { memory: Number(n % unit), table: Number(n / unit) };
    },
    reset,
    used: () => Number(granted - fuel.value),
    exhausted: () => granted - fuel.value > budget,
    stopped: () => stop,
    preempt: () => {
      const value = fuel.value;
      if (value <= 0n) return;
      granted -= value;
      fuel.value = 0n;
    },
  };
}
