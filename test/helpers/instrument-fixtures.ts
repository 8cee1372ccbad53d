/**
 * Shared fixtures of the instrumenter's tests (`instrument*.test.ts`): WAT text in and out
 * through jco, loading an instrumented module with a fuel global, and the modules several
 * test files count charges on.
 *
 */
import { expect } from 'vitest';
import { FUEL_IMPORT_FIELD, FUEL_IMPORT_MODULE, InstrumentError, instrumentModule, REFUEL_IMPORT_FIELD, type InstrumentOptions } from '../../src/limits/wasm/instrument.js';
import { readSections, SectionId, WasmReader } from '../../src/limits/wasm/reader.js';
import { createFuelSlicer, trappingRefuel } from '../../src/limits/refuel.js';

/** WebAssembly.Global is missing from the project's minimal WebAssembly typings. */
export interface WasmGlobal {
  value: bigint | number;
}
type GlobalCtor = new (desc: { value: string; mutable: boolean }, init: bigint | number) => WasmGlobal;
export const WasmGlobal = (WebAssembly as unknown as { Global: GlobalCtor }).Global;
/** An export of a test module, called with whatever the test passes. */
export type Fn = (...args: unknown[]) => unknown;

/** jco, loaded on first use: WAT text to bytes (`wat`) and back (`print`), components to core modules. */
export const jco = () => import('@bytecodealliance/jco');
export const wat = async (text: string): Promise<Uint8Array> => (await jco()).parse(text);
export const print = async (bytes: Uint8Array): Promise<string> => (await jco()).print(bytes);

/**
 * The `agentos:limits` imports with the whole budget in `fuel` and a refuel function that traps:
 * the first charge that drives the fuel negative traps there, leaving it negative.
 */
export const fuelImports = (fuel: WasmGlobal): WebAssembly.Imports => ({ [FUEL_IMPORT_MODULE]: { [FUEL_IMPORT_FIELD]: fuel, [REFUEL_IMPORT_FIELD]: trappingRefuel() } });

/** Instrument `text`, instantiate it with `fuel` units and `imports`; return exports and the fuel global. */
export async function load(text: string, fuel: bigint, options: InstrumentOptions = {}, imports: WebAssembly.Imports = {}) {
  const out = instrumentModule(await wat(text), options);
  const global = new WasmGlobal({ value: 'i64', mutable: true }, fuel);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(out.bytes), { ...fuelImports(global), ...imports });
  return { exports: instance.exports as Record<string, Fn & WasmGlobal>, fuel: global, out };
}

/** Fuel consumed by one call of `name(...args)` on a fresh instance. */
export async function fuelUsed(text: string, name: string, ...args: unknown[]): Promise<bigint> {
  const start = 1n << 40n;
  const { exports, fuel } = await load(text, start);
  exports[name]!(...args);
  return start - (fuel.value as bigint);
}

/** A module with one `() -> ()` function whose body (without locals) is `body`. */
export function moduleWithBody(body: number[]): Uint8Array {
  const code = [0x00, ...body]; // no locals
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: (func)
    0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
    0x0a, code.length + 2, 0x01, code.length, ...code, // code section
  ]);
}

/** Expect `fn` to throw an {@link InstrumentError} with `code` (and a message matching `message`). */
export function expectCode(fn: () => unknown, code: InstrumentError['code'], message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(InstrumentError);
    expect((e as InstrumentError).code).toBe(code);
    if (message) expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected InstrumentError ${code}`);
}

// sum of i*i for i < n. Entry region: block, loop, end(block), local.get, end = 5.
// Loop region (16): local.get ×2, i32.ge_u, br_if, local.get ×3, i32.mul, i32.add, local.set,
// local.get, i32.const, i32.add, local.set, br, end. The body is entered n + 1 times.
export const SUM_SQUARES = `(module (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc i32)
  (block $done
    (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
  (local.get $acc)))`;

/**
 * Functions that leave in every way the fuel local must be saved for, with their static costs
 * counted by hand (entry region / loop region; every instruction and every `end` counts once).
 */
export const EXITS = `(module
  (type $t (func (param i32) (result i32)))
  (tag $e (param i32))
  (table funcref (elem $leaf $brExit $brTable $ret $tail))

  ;; No loop. Entry 4: local.get, i32.const, i32.add, end. Returns k + 1.
  (func $leaf (export "leaf") (type $t)
    local.get 0
    i32.const 1
    i32.add)

  ;; Leaves through br to the function label from inside its loop.
  ;; Entry 3: loop, i32.const, end. Loop 8: local.get, i32.const, i32.sub, local.tee, br_if, i32.const, br, end.
  ;; brExit(k) = 3 + 8k, returns 7.
  (func $brExit (export "brExit") (type $t)
    loop $l
      local.get 0
      i32.const 1
      i32.sub
      local.tee 0
      br_if $l
      i32.const 7
      br 1
    end
    i32.const 0)

  ;; Leaves through br_table to the function label.
  ;; Entry 3: loop, i32.const, end. Loop 12: block, i32.const, local.get, i32.const, i32.sub,
  ;; local.tee, i32.eqz, br_table, end, drop, br, end. brTable(k) = 3 + 12k, returns 11.
  (func $brTable (export "brTable") (type $t)
    loop $l
      block $next (result i32)
        i32.const 11
        local.get 0
        i32.const 1
        i32.sub
        local.tee 0
        i32.eqz
        br_table $next 2
      end
      drop
      br $l
    end
    i32.const 0)

  ;; Leaves through return. Entry 3: loop, i32.const, end. Loop 11: local.get, i32.const,
  ;; i32.sub, local.tee, i32.eqz, if, i32.const, return, end, br, end. ret(k) = 3 + 11k, returns 3.
  (func $ret (export "ret") (type $t)
    loop $l
      local.get 0
      i32.const 1
      i32.sub
      local.tee 0
      i32.eqz
      if
        i32.const 3
        return
      end
      br $l
    end
    i32.const 0)

  ;; Leaves through a tail call to $leaf(0), which returns 1. Entry 4: loop, local.get,
  ;; return_call, end. Loop 6: local.get, i32.const, i32.sub, local.tee, br_if, end.
  ;; tail(k) = 4 + 6k + leaf.
  (func $tail (export "tail") (type $t)
    loop $l
      local.get 0
      i32.const 1
      i32.sub
      local.tee 0
      br_if $l
    end
    local.get 0
    return_call $leaf)

  ;; Runs its loop k times, then throws 5. Entry 4: loop, i32.const, throw, end. Loop 6:
  ;; local.get, i32.const, i32.sub, local.tee, br_if, end. thrower(k) = 4 + 6k.
  (func $thrower (param $k i32)
    loop $l
      local.get $k
      i32.const 1
      i32.sub
      local.tee $k
      br_if $l
    end
    i32.const 5
    throw $e)

  ;; Calls $leaf n times. Entry 5: block, loop, end, local.get, end. Loop 12: local.get, i32.eqz,
  ;; br_if, local.get, call, local.set, local.get, i32.const, i32.sub, local.set, br, end.
  (func (export "calls") (param $n i32) (result i32) (local $acc i32)
    block $done
      loop $l
        local.get $n
        i32.eqz
        br_if $done
        local.get $acc
        call $leaf
        local.set $acc
        local.get $n
        i32.const 1
        i32.sub
        local.set $n
        br $l
      end
    end
    local.get $acc)

  ;; Calls table[which](2) n times through call_indirect. Entry 5 (as above). Loop 15:
  ;; local.get, i32.eqz, br_if, local.get, i32.const, local.get, call_indirect, i32.add,
  ;; local.set, local.get, i32.const, i32.sub, local.set, br, end.
  (func (export "repeat") (param $which i32) (param $n i32) (result i32) (local $acc i32)
    block $done
      loop $l
        local.get $n
        i32.eqz
        br_if $done
        local.get $acc
        i32.const 2
        local.get $which
        call_indirect (type $t)
        i32.add
        local.set $acc
        local.get $n
        i32.const 1
        i32.sub
        local.set $n
        br $l
      end
    end
    local.get $acc)

  ;; Calls $thrower(3) n times and catches what it throws (legacy exceptions). Entry 5 (as
  ;; above). Loop 17: local.get, i32.eqz, br_if, try, i32.const, call, catch, local.get,
  ;; i32.add, local.set, end, local.get, i32.const, i32.sub, local.set, br, end.
  (func (export "exceptions") (param $n i32) (result i32) (local $acc i32)
    block $done
      loop $l
        local.get $n
        i32.eqz
        br_if $done
        try
          i32.const 3
          call $thrower
        catch $e
          local.get $acc
          i32.add
          local.set $acc
        end
        local.get $n
        i32.const 1
        i32.sub
        local.set $n
        br $l
      end
    end
    local.get $acc)

  ;; No loop; catches once. Entry 7: try, i32.const, call, i32.const, catch, end, end.
  (func (export "catchOnce") (result i32)
    try (result i32)
      i32.const 3
      call $thrower
      i32.const 0
    catch $e
    end)

  ;; Entry 2: loop, end. Loop 2: br, end.
  (func (export "spin")
    loop $l
      br $l
    end)

  ;; No loop. Entry 2: call, end.
  (func $recurse (export "recurse")
    call $recurse)

  ;; Entry 2: loop, end. Loop 3: call, br, end.
  (func $recurseLoop (export "recurseLoop")
    loop $l
      call $recurseLoop
      br $l
    end))`;

/** The fuel global after charging `budget` with `sequence` until it is negative (the trap). */
export function afterExhaustion(budget: bigint, sequence: Iterable<number>): bigint {
  let v = budget;
  for (const c of sequence) {
    v -= BigInt(c);
    if (v < 0n) return v;
  }
  return v;
}

/** Instantiate compiled `module` with `budget` fuel (and `imports`), call `run` on it; what happened and what the global holds. */
export function outcome(module: WebAssembly.Module, budget: bigint, run: (e: Record<string, Fn>) => unknown, imports: WebAssembly.Imports = {}) {
  const fuel = new WasmGlobal({ value: 'i64', mutable: true }, budget);
  const exports = new WebAssembly.Instance(module, { ...fuelImports(fuel), ...imports }).exports as Record<string, Fn>;
  try {
    return { result: run(exports), fuel: fuel.value as bigint };
  } catch (e) {
    return { error: (e as Error).message, fuel: fuel.value as bigint };
  }
}

/** What a run did: its result or error message, the fuel it used, and whether the fuel ran out. */
export type Ran = ({ result: unknown } | { error: string }) & { used: number; exhausted: boolean };

/**
 * Instantiate `module` (instrumented with the refuel hook) with a fuel slicer of `budget` in
 * slices of `slice` that never stops it, and call `run` on it.
 */
export function sliced(module: WebAssembly.Module, budget: bigint, slice: bigint, run: (e: Record<string, Fn>) => unknown, imports: WebAssembly.Imports = {}): Ran {
  const slicer = createFuelSlicer({ budget, slice, check: () => true });
  const exports = new WebAssembly.Instance(module, { ...imports, ...slicer.imports }).exports as Record<string, Fn>;
  try {
    const result = run(exports);
    return { result, used: slicer.used(), exhausted: slicer.exhausted() };
  } catch (e) {
    return { error: (e as Error).message, used: slicer.used(), exhausted: slicer.exhausted() };
  }
}

/** The same with the whole budget in the fuel global (the scheme before slices: `module` instrumented with `refuel: false`). */
export function whole(module: WebAssembly.Module, budget: bigint, run: (e: Record<string, Fn>) => unknown, imports: WebAssembly.Imports = {}): Ran {
  const o = outcome(module, budget, run, imports);
  const used = Number(budget - o.fuel);
  return 'error' in o ? { error: o.error!, used, exhausted: o.fuel < 0n } : { result: o.result, used, exhausted: o.fuel < 0n };
}

/** The number of functions a module defines (its function section's count; 0 without one). */
export function definedFunctions(bytes: Uint8Array): number {
  const s = readSections(bytes).find((x) => x.id === SectionId.Function);
  return s ? new WasmReader(bytes, s.start, s.end).u32() : 0;
}
