import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FUEL_IMPORT_FIELD, FUEL_IMPORT_MODULE, InstrumentError, instrumentModule, type InstrumentOptions } from './instrument.js';
import { readSections } from './reader.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** WebAssembly.Global is missing from the project's minimal WebAssembly typings. */
interface WasmGlobal {
  value: bigint | number;
}
type GlobalCtor = new (desc: { value: string; mutable: boolean }, init: bigint | number) => WasmGlobal;
const WasmGlobal = (WebAssembly as unknown as { Global: GlobalCtor }).Global;
type Fn = (...args: unknown[]) => unknown;

const jco = () => import('@bytecodealliance/jco');
const wat = async (text: string): Promise<Uint8Array> => (await jco()).parse(text);
const print = async (bytes: Uint8Array): Promise<string> => (await jco()).print(bytes);

/** Instrument `text`, instantiate it with `fuel` units and `imports`; return exports and the fuel global. */
async function load(text: string, fuel: bigint, options: InstrumentOptions = {}, imports: WebAssembly.Imports = {}) {
  const out = instrumentModule(await wat(text), options);
  const global = new WasmGlobal({ value: 'i64', mutable: true }, fuel);
  const instance = new WebAssembly.Instance(new WebAssembly.Module(out.bytes), { [FUEL_IMPORT_MODULE]: { [FUEL_IMPORT_FIELD]: global }, ...imports });
  return { exports: instance.exports as Record<string, Fn & WasmGlobal>, fuel: global, out };
}

/** Fuel consumed by one call of `name(...args)` on a fresh instance. */
async function fuelUsed(text: string, name: string, ...args: unknown[]): Promise<bigint> {
  const start = 1n << 40n;
  const { exports, fuel } = await load(text, start);
  exports[name]!(...args);
  return start - (fuel.value as bigint);
}

/** A module with one `() -> ()` function whose body (without locals) is `body`. */
function moduleWithBody(body: number[]): Uint8Array {
  const code = [0x00, ...body]; // no locals
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: (func)
    0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
    0x0a, code.length + 2, 0x01, code.length, ...code, // code section
  ]);
}

function expectCode(fn: () => unknown, code: InstrumentError['code'], message?: RegExp): void {
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
const SUM_SQUARES = `(module (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc i32)
  (block $done
    (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (i32.mul (local.get $i) (local.get $i))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
  (local.get $acc)))`;

describe('fuel metering', () => {
  it('traps an infinite loop with unreachable once the fuel is spent', async () => {
    const { exports, fuel, out } = await load('(module (func (export "spin") (loop $l (br $l))))', 1000n);
    expect(() => exports.spin!()).toThrow(/unreachable/);
    expect(fuel.value as bigint).toBeLessThan(0n);
    expect(out.fuelGlobalImported).toBe(true);
    expect(out.stats).toMatchObject({ functions: 1, loops: 1, chargePoints: 2 });
  });

  it('charges a finite loop exactly: entry cost + loop cost × iterations, the same every run', async () => {
    for (const n of [0, 10, 1000]) {
      const first = await fuelUsed(SUM_SQUARES, 'sum', n);
      expect(first).toBe(BigInt(5 + 16 * (n + 1)));
      expect(await fuelUsed(SUM_SQUARES, 'sum', n)).toBe(first);
    }
    const { exports } = await load(SUM_SQUARES, 1n << 40n);
    expect(exports.sum!(10)).toBe(285);
  });

  it('meters recursion at function entry (traps before the stack overflows)', async () => {
    const { exports, fuel } = await load('(module (func $f (export "f") (call $f)))', 10_000n);
    expect(() => exports.f!()).toThrow(/unreachable/);
    expect(fuel.value as bigint).toBeLessThan(0n);
  });

  it('meters tail calls', async () => {
    const text = `(module
      (func $even (export "even") (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 1)) (else (return_call $odd (i32.sub (local.get 0) (i32.const 1))))))
      (func $odd (param i32) (result i32)
        (if (result i32) (i32.eqz (local.get 0)) (then (i32.const 0)) (else (return_call $even (i32.sub (local.get 0) (i32.const 1)))))))`;
    expect((await load(text, 1n << 40n)).exports.even!(1_000_001)).toBe(0);
    const small = await load(text, 1000n);
    expect(() => small.exports.even!(1_000_000)).toThrow(/unreachable/);
  });

  it('leaves the module unmetered with fuel: false', async () => {
    const out = instrumentModule(await wat(SUM_SQUARES), { fuel: false });
    expect(out.fuelGlobalImported).toBe(false);
    expect(out.stats.chargePoints).toBe(0);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(out.bytes), {});
    expect((instance.exports.sum as Fn)(10)).toBe(285);
  });
});

/**
 * Functions that leave in every way the fuel local must be saved for, with their static costs
 * counted by hand (entry region / loop region; every instruction and every `end` counts once).
 */
const EXITS = `(module
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

/** Hand-counted static costs of the EXITS functions (see the comments there). */
const cost = {
  leaf: 4,
  brExit: (k: number) => 3 + 8 * k,
  brTable: (k: number) => 3 + 12 * k,
  ret: (k: number) => 3 + 11 * k,
  tail: (k: number) => 4 + 6 * k + 4,
  thrower: (k: number) => 4 + 6 * k,
  calls: (n: number) => 5 + 12 * (n + 1) + n * 4,
  repeat: (callee: number, n: number) => 5 + 15 * (n + 1) + n * callee,
  exceptions: (n: number) => 5 + 17 * (n + 1) + n * (4 + 6 * 3),
  catchOnce: 7 + 4 + 6 * 3,
};

/** The charges of one call of each EXITS callee with argument 2, in order: entry, then each loop iteration. */
const CHARGES_OF_2: Record<string, number[]> = {
  leaf: [4],
  brExit: [3, 8, 8],
  brTable: [3, 12, 12],
  ret: [3, 11, 11],
  tail: [4, 6, 6, 4],
};

/** Table index of each EXITS callee. */
const TABLE = { leaf: 0, brExit: 1, brTable: 2, ret: 3, tail: 4 } as const;

/** `first`, then `cycle` repeated forever. */
function charges(first: number[], cycle: number[]): Iterable<number> {
  return {
    *[Symbol.iterator]() {
      yield* first;
      for (;;) yield* cycle;
    },
  };
}

/** The fuel global after charging `budget` with `sequence` until it is negative (the trap). */
function afterExhaustion(budget: bigint, sequence: Iterable<number>): bigint {
  let v = budget;
  for (const c of sequence) {
    v -= BigInt(c);
    if (v < 0n) return v;
  }
  return v;
}

/** Instantiate compiled `module` with `budget` fuel, call `run` on it; what happened and what the global holds. */
function outcome(module: WebAssembly.Module, budget: bigint, run: (e: Record<string, Fn>) => unknown) {
  const fuel = new WasmGlobal({ value: 'i64', mutable: true }, budget);
  const exports = new WebAssembly.Instance(module, { [FUEL_IMPORT_MODULE]: { [FUEL_IMPORT_FIELD]: fuel } }).exports as Record<string, Fn>;
  try {
    return { result: run(exports), fuel: fuel.value as bigint };
  } catch (e) {
    return { error: (e as Error).message, fuel: fuel.value as bigint };
  }
}

describe('fuel kept in a local', () => {
  const BIG = 1n << 40n;
  const INFINITE = 0x7fffffff;
  let exitsBytes: Uint8Array;
  const compiled = new Map<boolean, WebAssembly.Module>();
  /** EXITS instrumented with the fuel local (true) or charging the global directly (false). */
  const exits = async (fuelLocal = true): Promise<WebAssembly.Module> => {
    exitsBytes ??= await wat(EXITS);
    let m = compiled.get(fuelLocal);
    if (!m) compiled.set(fuelLocal, (m = new WebAssembly.Module(instrumentModule(exitsBytes, { fuelLocal }).bytes)));
    return m;
  };

  it('charges exactly the hand-counted static costs, across direct and indirect calls, exits and exceptions', async () => {
    const m = await exits();
    const used = (run: (e: Record<string, Fn>) => unknown, expected: unknown) => {
      const o = outcome(m, BIG, run);
      expect(o.result).toBe(expected);
      return BIG - o.fuel;
    };
    expect(used((e) => e.leaf!(1), 2)).toBe(BigInt(cost.leaf));
    expect(used((e) => e.brExit!(5), 7)).toBe(BigInt(cost.brExit(5)));
    expect(used((e) => e.brTable!(5), 11)).toBe(BigInt(cost.brTable(5)));
    expect(used((e) => e.ret!(5), 3)).toBe(BigInt(cost.ret(5)));
    expect(used((e) => e.tail!(5), 1)).toBe(BigInt(cost.tail(5)));
    expect(used((e) => e.calls!(10), 10)).toBe(BigInt(cost.calls(10)));
    expect(used((e) => e.repeat!(TABLE.leaf, 10), 30)).toBe(BigInt(cost.repeat(cost.leaf, 10)));
    expect(used((e) => e.repeat!(TABLE.brExit, 10), 70)).toBe(BigInt(cost.repeat(cost.brExit(2), 10)));
    expect(used((e) => e.repeat!(TABLE.brTable, 10), 110)).toBe(BigInt(cost.repeat(cost.brTable(2), 10)));
    expect(used((e) => e.repeat!(TABLE.ret, 10), 30)).toBe(BigInt(cost.repeat(cost.ret(2), 10)));
    expect(used((e) => e.repeat!(TABLE.tail, 10), 10)).toBe(BigInt(cost.repeat(cost.tail(2), 10)));
    expect(used((e) => e.exceptions!(10), 50)).toBe(BigInt(cost.exceptions(10)));
    expect(used((e) => e.catchOnce!(), 5)).toBe(BigInt(cost.catchOnce));
  });

  it('runs out of fuel at the same charge as charging the global directly, leaving the same negative value', async () => {
    const cases: [string, (e: Record<string, Fn>) => unknown, Iterable<number>][] = [
      ['infinite loop', (e) => e.spin!(), charges([2], [2])],
      ['infinite recursion', (e) => e.recurse!(), charges([], [2])],
      ['infinite recursion from a loop', (e) => e.recurseLoop!(), charges([], [2, 3])],
      ['a loop calling a function', (e) => e.calls!(INFINITE), charges([5], [12, 4])],
      ['a loop calling a function that returns', (e) => e.repeat!(TABLE.ret, INFINITE), charges([5], [15, ...CHARGES_OF_2.ret!])],
      ['a loop calling a function that branches to its label', (e) => e.repeat!(TABLE.brExit, INFINITE), charges([5], [15, ...CHARGES_OF_2.brExit!])],
      ['a loop calling a function that br_tables to its label', (e) => e.repeat!(TABLE.brTable, INFINITE), charges([5], [15, ...CHARGES_OF_2.brTable!])],
      ['a loop calling a function that tail-calls', (e) => e.repeat!(TABLE.tail, INFINITE), charges([5], [15, ...CHARGES_OF_2.tail!])],
      ['indirect calls', (e) => e.repeat!(TABLE.leaf, INFINITE), charges([5], [15, 4])],
      ['exceptions thrown by a callee and caught', (e) => e.exceptions!(INFINITE), charges([5], [17, 4, 6, 6, 6])],
    ];
    const local = await exits(true);
    const global = await exits(false);
    for (const [what, run, sequence] of cases) {
      for (const budget of [0n, 1n, 999n, 1000n, 1001n, 12_345n]) {
        const expected = afterExhaustion(budget, sequence);
        const o = outcome(local, budget, run);
        expect(o, `${what}, budget ${budget}`).toEqual({ error: expect.stringMatching(/unreachable/), fuel: expected });
        expect(outcome(global, budget, run), `${what}, budget ${budget}`).toEqual(o);
      }
    }
  });

  it('matches charging the global directly at every budget: same result or trap, same fuel left', async () => {
    const local = await exits(true);
    const global = await exits(false);
    const runs: [string, (e: Record<string, Fn>) => unknown, number][] = [
      ['calls', (e) => e.calls!(6), cost.calls(6)],
      ['repeat leaf', (e) => e.repeat!(TABLE.leaf, 4), cost.repeat(cost.leaf, 4)],
      ['repeat brExit', (e) => e.repeat!(TABLE.brExit, 4), cost.repeat(cost.brExit(2), 4)],
      ['repeat brTable', (e) => e.repeat!(TABLE.brTable, 4), cost.repeat(cost.brTable(2), 4)],
      ['repeat ret', (e) => e.repeat!(TABLE.ret, 4), cost.repeat(cost.ret(2), 4)],
      ['repeat tail', (e) => e.repeat!(TABLE.tail, 4), cost.repeat(cost.tail(2), 4)],
      ['exceptions', (e) => e.exceptions!(4), cost.exceptions(4)],
      ['catchOnce', (e) => e.catchOnce!(), cost.catchOnce],
    ];
    for (const [what, run, total] of runs) {
      for (let budget = 0; budget <= total + 1; budget++) {
        const o = outcome(local, BigInt(budget), run);
        expect(outcome(global, BigInt(budget), run), `${what}, budget ${budget}`).toEqual(o);
        if (budget >= total) expect(o.fuel, `${what}, budget ${budget}`).toBe(BigInt(budget - total));
        else expect(o.fuel, `${what}, budget ${budget}`).toBeLessThan(0n);
      }
    }
  });

  it('is deterministic across runs and instances', async () => {
    const m = await exits();
    const runs = [1, 2, 3].map(() => outcome(m, BIG, (e) => [e.calls!(1000), e.repeat!(TABLE.brTable, 100), e.exceptions!(50)]));
    expect(runs[1]).toEqual(runs[0]);
    expect(runs[2]).toEqual(runs[0]);
    expect(BIG - runs[0]!.fuel).toBe(BigInt(cost.calls(1000) + cost.repeat(cost.brTable(2), 100) + cost.exceptions(50)));
  });

  it('keeps a running total in the global when the host calls exports again', async () => {
    const fuel = new WasmGlobal({ value: 'i64', mutable: true }, BIG);
    const e = new WebAssembly.Instance(await exits(), { [FUEL_IMPORT_MODULE]: { [FUEL_IMPORT_FIELD]: fuel } }).exports as Record<string, Fn>;
    expect(e.calls!(10)).toBe(10);
    expect(BIG - (fuel.value as bigint)).toBe(BigInt(cost.calls(10)));
    expect(e.calls!(10)).toBe(10);
    expect(BIG - (fuel.value as bigint)).toBe(BigInt(2 * cost.calls(10)));
    e.brExit!(3);
    expect(BIG - (fuel.value as bigint)).toBe(BigInt(2 * cost.calls(10) + cost.brExit(3)));
    // The host refills between runs: the next call starts from the new value.
    fuel.value = 1000n;
    expect(e.ret!(4)).toBe(3);
    expect(fuel.value).toBe(1000n - BigInt(cost.ret(4)));
  });

  it('appends one i64 local after the parameters and declared locals, keeping their groups', async () => {
    const text = `(module (func (export "f") (param i32 i64) (result i64) (local f64 f64) (local i64) (local i32)
      (local.set 5 (i32.wrap_i64 (local.get 1)))
      (loop $l
        (local.set 4 (i64.add (local.get 4) (i64.extend_i32_u (local.get 0))))
        (local.set 5 (i32.sub (local.get 5) (i32.const 1)))
        (br_if $l (local.get 5)))
      (local.get 4)))`;
    const { exports, fuel, out } = await load(text, BIG);
    expect(exports.f!(3, 4n)).toBe(12n);
    expect(fuel.value as bigint).toBeLessThan(BIG);
    expect(await print(out.bytes)).toMatch(/\(local f64 f64 i64 i32 i64\)/);
    expect(await print(out.bytes)).toMatch(/local\.tee 6\b/);
  });

  it('puts the loop charge on the local and saves it only around calls and exits', async () => {
    const printed = await print(instrumentModule(await wat(SUM_SQUARES)).bytes);
    const loop = printed.slice(printed.indexOf('loop'));
    expect(loop).toMatch(/^loop[^\n]*\n\s*local\.get 3\n\s*i64\.const 16\n\s*i64\.sub\n\s*local\.tee 3\n\s*i64\.const 0\n\s*i64\.lt_s\n\s*if[^\n]*\n\s*local\.get 3\n\s*global\.set 0\n\s*unreachable\n\s*end\n/);
    // The only other save: before the body's final end.
    expect(printed.match(/global\.set 0/g)).toHaveLength(3);
    expect(printed).toMatch(/local\.get 3\n\s*global\.set 0\n\s*\)\n\s*\)\s*$/);
  });

  it('try_table: every ordinary edge into a catch target saves, and the target loads', async () => {
    const text = `(module (tag $e (param i32)) (func $f (param i32))
      (func (export "tt") (param $x i32) (result i32)
        (block $h (result i32)
          (br_if $h (i32.const 9) (local.get $x))
          (loop $l (br_if $l (i32.eqz (local.get $x))))
          (try_table (catch $e $h) (call $f (local.get $x)) (throw $e (local.get $x)))
          (i32.const 0))
        (drop (i32.const 1)))
      (func (export "tl") (param $x i32)
        (loop $l
          (try_table (catch_all $l) (call $f (local.get $x)))
          (br_if $l (local.get $x)))))`;
    const bytes = await wat(text);
    const out = instrumentModule(bytes);
    expect(WebAssembly.validate(out.bytes)).toBe(WebAssembly.validate(bytes));
    const printed = (await print(out.bytes)).replace(/\s+/g, ' ');
    const save = 'local.get 1 global.set 0';
    const load = 'global.get 0 local.set 1';
    // Block target: the branch before the try_table saves, the fallthrough saves, the join loads.
    expect(printed).toContain(`i32.const 9 local.get 0 ${save} br_if 0 (;@1;)`);
    expect(printed).toContain(`i32.const 0 ${save} end ${load} i32.const 1 drop`);
    // Loop target: the fall-in and the back edge save, the header loads before its charge.
    expect(printed).toContain(`${save} loop ;; label = @1 ${load} local.get 1 i64.const 7 i64.sub`);
    expect(printed).toContain(`local.get 0 ${save} br_if 0 (;@1;)`);
  });

  it('functions without loops charge the global once at entry and need no other save or load', async () => {
    const text = '(module (func $g (param i32) (result i32) (local.get 0)) (func (export "f") (result i32) (call $g (call $g (i32.const 4)))))';
    const printed = await print(instrumentModule(await wat(text)).bytes);
    expect(printed.match(/global\.set 0/g)).toHaveLength(2); // one per function, at entry
    expect(printed.match(/global\.get 0/g)).toHaveLength(2);
    const { exports, fuel } = await load(text, 100n);
    expect(exports.f!()).toBe(4);
    expect(fuel.value).toBe(100n - 4n - 2n * 2n); // f: i32.const, call, call, end; g: local.get, end
  });

  it('keeps charging the global in a function already at V8\'s local limit', async () => {
    for (const locals of [49_998, 49_999]) {
      // With its parameter: 49,999 locals (one more fits) or 50,000 (none does).
      const text = `(module (func (export "f") (param i32) (result i32) (local ${'i32 '.repeat(locals)})
        (loop $l (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if $l (local.get 0)))
        (local.get ${locals})))`;
      const { exports, fuel, out } = await load(text, 1000n);
      expect(WebAssembly.validate(out.bytes)).toBe(true);
      expect(exports.f!(10)).toBe(0);
      // Entry: loop, local.get, end = 3. Loop: local.get, i32.const, i32.sub, local.set, local.get, br_if, end = 7.
      expect(fuel.value).toBe(1000n - 3n - 7n * 10n);
    }
  });
});

/**
 * An interpreter-shaped big loop: each iteration reads an opcode at `pc` and br_tables into one
 * of four handlers. Its region has 88 instructions (more than the default threshold of 64), so
 * it is charged per sub-region. Counted by hand; `block` is free there (fineFreeBlocks):
 * - H, the header: local.get, i32.load8_u, br_table = 3 (+ 5 blocks when blocks count);
 * - A, op0 (after `end` of $op0): local.get, i32.const, i32.add, local.set, br = 5;
 * - B, op1 up to its if: local.get, i32.const, i32.and, if = 4; T, the then arm: 6 + else = 7;
 *   E, the else arm: 8 + end = 9; J, after the if: br = 1, reached only from the ends of T and
 *   E, so charged with each of them (no charge of its own);
 * - C, op2: 40 nops, br = 41; D, halt: local.get, return = 2; N, next: 4 + br = 5.
 * The `end`s after a br or br_table are never reached by falling through, so never charged.
 * Entry region (charged whole, under the threshold): loop, unreachable, end = 3.
 */
const INTERP = `(module (memory (export "mem") 1)
  (func (export "run") (param $pc i32) (result i32) (local $acc i32)
    loop $dispatch
      block $next
        block $halt
          block $op2
            block $op1
              block $op0
                local.get $pc
                i32.load8_u
                br_table $op0 $op1 $op2 $halt
              end
              local.get $acc
              i32.const 7
              i32.add
              local.set $acc
              br $next
            end
            local.get $acc
            i32.const 1
            i32.and
            if
              local.get $acc
              i32.const 3
              i32.mul
              i32.const 1
              i32.add
              local.set $acc
            else
              local.get $acc
              i32.const 1
              i32.shr_u
              local.set $acc
              nop
              nop
              nop
              nop
            end
            br $next
          end
          ${'nop\n'.repeat(40)}
          br $next
        end
        local.get $acc
        return
      end
      local.get $pc
      i32.const 1
      i32.add
      local.set $pc
      br $dispatch
    end
    unreachable))`;

/** Per-opcode charges of INTERP (see above), in the order they are made. */
const OPS = { H: 3, A: 5, B: 4, T: 7, E: 9, J: 1, C: 41, D: 2, N: 5, ENTRY: 3, REGION: 88 };
const PATH = {
  op0: [OPS.H, OPS.A, OPS.N],
  op1odd: [OPS.H, OPS.B, OPS.T + OPS.J, OPS.N],
  op1even: [OPS.H, OPS.B, OPS.E + OPS.J, OPS.N],
  op2: [OPS.H, OPS.C, OPS.N],
  halt: [OPS.H, OPS.D],
};
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Compile INTERP with `options`; `run(program, budget)` runs a program of opcodes on a fresh instance. */
async function interp(options: InstrumentOptions = {}) {
  const out = instrumentModule(await wat(INTERP), options);
  const module = new WebAssembly.Module(out.bytes);
  const run = (program: number[], budget: bigint) =>
    outcome(module, budget, (e) => {
      new Uint8Array((e.mem as unknown as WebAssembly.Memory).buffer).set(program, 0);
      return e.run!(0);
    });
  return { out, run };
}

describe('charging large loops per sub-region', () => {
  const BIG = 1n << 40n;

  it('charges an interpreter loop the instructions each path executes, per iteration', async () => {
    const { out, run } = await interp();
    expect(out.stats).toMatchObject({ functions: 1, loops: 1, fineRegions: 1, chargePoints: 9 });
    const used = (program: number[], result: number) => {
      const o = run(program, BIG);
      expect(o.result, program.join()).toBe(result);
      return Number(BIG - o.fuel);
    };
    expect(used([0, 3], 7)).toBe(OPS.ENTRY + sum(PATH.op0) + sum(PATH.halt)); // 21
    expect(used([1, 3], 0)).toBe(OPS.ENTRY + sum(PATH.op1even) + sum(PATH.halt)); // 30
    expect(used([0, 1, 3], 22)).toBe(OPS.ENTRY + sum(PATH.op0) + sum(PATH.op1odd) + sum(PATH.halt)); // 41
    expect(used([2, 3], 0)).toBe(OPS.ENTRY + sum(PATH.op2) + sum(PATH.halt)); // 57
    expect(used([0, 1, 2, 0, 3], 29)).toBe(3 + 13 + 20 + 49 + 13 + 5);
    // Each path its own amount; charged whole, every iteration cost the whole region.
    expect(new Set([PATH.op0, PATH.op1odd, PATH.op1even, PATH.op2, PATH.halt].map(sum)).size).toBe(5);
    const whole = await interp({ fineLoopThreshold: Infinity });
    expect(whole.out.stats).toMatchObject({ fineRegions: 0, chargePoints: 2 });
    expect(Number(BIG - whole.run([0, 1, 2, 0, 3], BIG).fuel)).toBe(OPS.ENTRY + 5 * OPS.REGION);
    // fineFreeBlocks: false counts the five blocks opened at the top of every iteration.
    const blocks = await interp({ fineFreeBlocks: false });
    expect(Number(BIG - blocks.run([0, 1, 2, 0, 3], BIG).fuel)).toBe(3 + 13 + 20 + 49 + 13 + 5 + 5 * 5);
  });

  it('runs out of fuel inside the loop, at the charge of the handler, in every mode', async () => {
    const program = [...Array<number>(20).fill(2), 0, 1, 1, 3];
    const sequence = [OPS.ENTRY, ...Array.from({ length: 20 }, () => PATH.op2).flat(), ...PATH.op0, ...PATH.op1odd, ...PATH.op1even, ...PATH.halt];
    const total = sum(sequence);
    const local = await interp();
    const global = await interp({ fuelLocal: false });
    for (let budget = 0; budget <= total + 1; budget++) {
      const o = local.run(program, BigInt(budget));
      expect(global.run(program, BigInt(budget)), `budget ${budget}`).toEqual(o);
      if (budget >= total) {
        expect(o, `budget ${budget}`).toEqual({ result: 11, fuel: BigInt(budget - total) });
      } else {
        expect(o, `budget ${budget}`).toEqual({ error: expect.stringMatching(/unreachable/), fuel: afterExhaustion(BigInt(budget), sequence) });
      }
    }
    // An endless program (opcode 2 everywhere, then pc runs on) traps on fuel, not on memory.
    const endless = local.run(Array<number>(65536).fill(2), 100_000n);
    expect(endless.error).toMatch(/unreachable/);
    expect(endless.fuel).toBeLessThan(0n);
  });

  it('charges a small arm with the sub-region before it (fineMerge), never less than executed', async () => {
    // Entry region of 15 (> fineFunctionThreshold 8): local.get, if, i32.const, else, 8 nops,
    // i32.const, end, end.
    const text = `(module (func (export "f") (param i32) (result i32)
      local.get 0
      if (result i32)
        i32.const 1
      else
        ${'nop\n'.repeat(8)}
        i32.const 2
      end))`;
    const fuel = async (options: InstrumentOptions, arg: number) => {
      const { exports, fuel: g } = await load(text, BIG, { fineFunctionThreshold: 8, ...options }, {});
      exports.f!(arg);
      return Number(BIG - (g.value as bigint));
    };
    // Sub-regions: entry (local.get, if) 2; then (i32.const, else) 2; else (8 nops, i32.const, end) 10;
    // after the if: the final end 1 (charged with the arms, or on its own when an arm merged).
    expect(await fuel({ fineMerge: 0 }, 1)).toBe(2 + 2 + 1);
    expect(await fuel({ fineMerge: 0 }, 0)).toBe(2 + 10 + 1);
    // Merged (default 4): the then arm is charged at entry, also when the else arm runs.
    expect(await fuel({}, 1)).toBe(2 + 2 + 1);
    expect(await fuel({}, 0)).toBe(2 + 2 + 10 + 1);
    // Whole: 15 either way.
    expect(await fuel({ fineFunctionThreshold: Infinity }, 0)).toBe(15);
    // One charge absorbs at most fineMerge: of four nested then arms (local.get, if = 2 each),
    // the entry takes the first two; the third is charged apart (and takes the innermost).
    // Not taken, the path runs entry 2 + the final end 1 = 3, and is charged 3 + 4.
    const nested = `(module (func (export "f") (param i32)
      local.get 0 if local.get 0 if local.get 0 if local.get 0 if nop end end end end))`;
    const charged = async (options: InstrumentOptions, arg: number) => {
      const { exports, fuel: g } = await load(nested, BIG, { fineFunctionThreshold: 0, ...options }, {});
      exports.f!(arg);
      return Number(BIG - (g.value as bigint));
    };
    expect(await charged({ fineMerge: 0 }, 0)).toBe(3);
    expect(await charged({}, 0)).toBe(3 + 4);
    expect(await charged({ fineMerge: 0 }, 1)).toBe(await charged({}, 1));
  });

  it('leaves modules with only small loops and small functions byte for byte as before', async () => {
    // block; loop; i32.const 0; if; nop; else; nop; end; block; i32.const 1; br_table 0 1; end;
    // i32.const 0; br_if 0; end; end; end. Expected: the instrumenter's output before sub-regions.
    const body = [0x02, 0x40, 0x03, 0x40, 0x41, 0x00, 0x04, 0x40, 0x01, 0x05, 0x01, 0x0b, 0x02, 0x40, 0x41, 0x01, 0x0e, 0x01, 0x00, 0x01, 0x0b, 0x41, 0x00, 0x0d, 0x00, 0x0b, 0x0b, 0x0b];
    const head = '0061736d010000000104016000000218010e6167656e746f733a6c696d697473046675656c037e01030201000a';
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    expect(hex(instrumentModule(moduleWithBody(body)).bytes)).toBe(
      head + '49014701017e230042047d2200420053044020002400000b024003402000420d7d2200420053044020002400000b410004400105010b024041010e0100010b41000d000b0b200024000b',
    );
    expect(hex(instrumentModule(moduleWithBody(body), { fuelLocal: false }).bytes)).toBe(
      head + '3f013d00230042047d240023004200530440000b024003402300420d7d240023004200530440000b410004400105010b024041010e0100010b41000d000b0b0b',
    );
    const off = { fineLoopThreshold: Infinity, fineFunctionThreshold: Infinity };
    for (const text of [EXITS, SUM_SQUARES]) {
      const bytes = await wat(text);
      const out = instrumentModule(bytes);
      expect(out.stats.fineRegions).toBe(0);
      expect(hex(out.bytes)).toBe(hex(instrumentModule(bytes, off).bytes));
    }
  });

  it('refuses bad thresholds', () => {
    const m = moduleWithBody([0x0b]);
    for (const bad of [{ fineLoopThreshold: -1 }, { fineFunctionThreshold: 1.5 }, { fineMerge: Infinity }, { fineLoopThreshold: Number.NaN }]) {
      expect(() => instrumentModule(m, bad)).toThrow(RangeError);
    }
    expect(WebAssembly.validate(instrumentModule(m, { fineLoopThreshold: 0, fineFunctionThreshold: 0, fineMerge: 0 }).bytes)).toBe(true);
  });
});

/**
 * Random structured programs for the property test: two functions (`run`, exported, and
 * `leaf`, which `run` calls), made of stack-neutral statements: assignments, global updates,
 * calls, if/else, blocks, bounded loops (a counter decremented at the top, so branches to any
 * loop label terminate), br, br_if, br_table (to any label, the function's included), return,
 * br_table "switches" shaped like an interpreter's dispatch, and try/catch/catch_all with
 * throws inside the try bodies. Code after a branch is kept
 * (dead code). `oracle` is the same program counting, in plain globals, every instruction it
 * reaches: `cnt` all of them, `blk` the `block`s.
 */
function randomProgram(seed: number): { plain: string; oracle: string } {
  let state = seed >>> 0 || 1;
  const rand = (n: number): number => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % n;
  };
  type Line = { text: string; block?: boolean };
  let lines: Line[] = [];
  const op = (text: string): void => void lines.push({ text });
  const blk = (): void => void lines.push({ text: 'block', block: true });
  interface Ctx { labels: number; loops: number; tries: number; budget: number; calls: boolean; canLeave: boolean }
  const local = (): string => `$${rand(3) === 0 ? `c${rand(3)}` : `v${rand(4)}`}`;
  const target = (c: Ctx): number => rand(c.labels + (c.canLeave ? 1 : 0));
  const cond = (): void => {
    op(`local.get ${local()}`);
    op(`i32.const ${1 + rand(7)}`);
    op('i32.and');
  };
  const stmts = (c: Ctx, n: number): void => {
    for (let i = 0; i < n && c.budget > 0; i++) stmt(c);
  };
  const dead = (c: Ctx): void => stmts(c, rand(3));
  const stmt = (c: Ctx): void => {
    c.budget--;
    const nested = c.labels < 7 && c.budget > 0;
    switch (rand(16)) {
      case 0:
      case 1:
        op(`local.get ${local()}`);
        op(`i32.const ${rand(100)}`);
        op(['i32.add', 'i32.xor', 'i32.mul'][rand(3)]!);
        op(`local.set $v${rand(4)}`);
        return;
      case 2:
        op('global.get $g');
        op(`local.get ${local()}`);
        op('i32.add');
        op('global.set $g');
        return;
      case 3:
        if (!c.calls) return op('nop');
        op(`local.get ${local()}`);
        op('call $leaf');
        op(`local.set $v${rand(4)}`);
        return;
      case 4:
        if (!nested) return op('nop');
        cond();
        op('if');
        c.labels++;
        stmts(c, 1 + rand(3));
        if (rand(2)) {
          op('else');
          stmts(c, 1 + rand(3));
        }
        c.labels--;
        return op('end');
      case 5:
        if (!nested) return op('nop');
        blk();
        c.labels++;
        stmts(c, 1 + rand(3));
        c.labels--;
        return op('end');
      case 6: {
        if (!nested || c.loops >= 3) return op('nop');
        const k = `$c${c.loops}`;
        op(`i32.const ${rand(4)}`);
        op(`local.set ${k}`);
        blk();
        op('loop');
        c.labels += 2;
        c.loops++;
        op(`local.get ${k}`);
        op('i32.eqz');
        op('br_if 1');
        op(`local.get ${k}`);
        op('i32.const 1');
        op('i32.sub');
        op(`local.set ${k}`);
        stmts(c, 1 + rand(4));
        if (rand(2)) {
          op('br 0');
        } else {
          op(`local.get ${k}`);
          op('br_if 0');
        }
        c.loops--;
        c.labels -= 2;
        op('end');
        return op('end');
      }
      case 7:
        cond();
        return op(`br_if ${target(c)}`);
      case 8:
        op(`local.get ${local()}`);
        op('i32.const 3');
        op('i32.and');
        op(`br_table ${[target(c), target(c), target(c), target(c)].join(' ')}`);
        return dead(c);
      case 9:
        op(`br ${target(c)}`);
        return dead(c);
      case 10:
        if (!c.canLeave) return op('nop');
        op('return');
        return dead(c);
      case 11: {
        if (!nested) return op('nop');
        const k = 2 + rand(2);
        for (let i = 0; i <= k; i++) blk();
        c.labels += k + 1;
        op(`local.get ${local()}`);
        op('i32.const 3');
        op('i32.and');
        op(`br_table ${Array.from({ length: k + 1 }, (_, i) => i).join(' ')}`);
        for (let i = 0; i < k; i++) {
          op('end');
          c.labels--;
          stmts(c, 1 + rand(3));
          op(`br ${k - 1 - i}`);
        }
        c.labels--;
        return op('end');
      }
      case 12:
        if (!nested) return op('nop');
        op('try');
        c.labels++;
        c.tries++;
        stmts(c, 1 + rand(3));
        c.tries--;
        op('catch $e');
        stmts(c, rand(3));
        if (rand(2)) {
          op('catch_all');
          stmts(c, rand(3));
        }
        c.labels--;
        return op('end');
      case 13:
        if (c.tries === 0) return op('nop');
        cond();
        op('if');
        op('throw $e');
        return op('end');
      default:
        return op('nop');
    }
  };
  const locals = '(local $v0 i32) (local $v1 i32) (local $v2 i32) (local $v3 i32) (local $c0 i32) (local $c1 i32) (local $c2 i32)';
  const fn = (header: string, prologue: string[], body: () => void, epilogue: string[]): Line[] => {
    lines = [];
    for (const t of prologue) op(t);
    body();
    for (const t of epilogue) op(t);
    lines.push({ text: '' }); // the function's final end
    const out = lines;
    lines = [];
    out.unshift({ text: header });
    return out;
  };
  const leaf = fn(`(func $leaf (param $p0 i32) (result i32) ${locals}`, ['local.get $p0', 'local.set $v0'], () => {
    blk();
    stmts({ labels: 1, loops: 0, tries: 0, budget: 12 + rand(20), calls: false, canLeave: false }, 50);
    op('end');
  }, ['local.get $v0']);
  const run = fn(`(func $run (export "run") (param $p0 i32) (param $p1 i32) ${locals}`, ['local.get $p0', 'local.set $v0', 'local.get $p1', 'local.set $v1'], () => {
    stmts({ labels: 0, loops: 0, tries: 0, budget: 20 + rand(60), calls: true, canLeave: true }, 100);
  }, []);
  const render = (count: boolean): string => {
    const parts = ['(module (tag $e) (global $g (export "g") (mut i32) (i32.const 0))'];
    if (count) parts.push('(global $cnt (export "cnt") (mut i64) (i64.const 0)) (global $blk (export "blk") (mut i64) (i64.const 0))');
    for (const f of [leaf, run]) {
      parts.push(f[0]!.text);
      for (const l of f.slice(1)) {
        if (count) parts.push('global.get $cnt i64.const 1 i64.add global.set $cnt');
        if (count && l.block) parts.push('global.get $blk i64.const 1 i64.add global.set $blk');
        parts.push(l.text);
      }
      parts.push(')');
    }
    parts.push(')');
    return parts.join('\n');
  };
  return { plain: render(false), oracle: render(true) };
}

describe('sub-region charging on random programs', () => {
  const BIG = 1n << 40n;
  const EXACT: InstrumentOptions = { fineLoopThreshold: 0, fineFunctionThreshold: 0, fineMerge: 0, fineFreeBlocks: false };
  const EXACT_FREE: InstrumentOptions = { ...EXACT, fineFreeBlocks: true };
  const OLD: InstrumentOptions = { fineLoopThreshold: Infinity, fineFunctionThreshold: Infinity };
  const INPUTS = [[0, 0], [1, 2], [5, 3], [7, 7], [6, 1]] as const;

  /** The cost of the charge right after every `loop` (after the load of a catch-target loop), from the printed module. */
  const loopCharges = (printed: string): number[] =>
    [...printed.matchAll(/\bloop\b[^\n]*\n(?:\s*global\.get 0\n\s*local\.set \d+\n)?\s*(?:local|global)\.get \d+\n\s*i64\.const (-?\d+)\n\s*i64\.sub/g)].map((m) => Number(m[1]));

  it('charges exactly what runs, never more than whole regions, never an iteration for free', async () => {
    let fineRegions = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const { plain, oracle } = randomProgram(seed * 7919);
      const bytes = await wat(plain);
      const counter = new WebAssembly.Instance(new WebAssembly.Module(await wat(oracle)), {}).exports as Record<string, Fn & WasmGlobal>;
      const reference = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as Record<string, Fn & WasmGlobal>;
      const variants = new Map<string, WebAssembly.Module>();
      for (const [name, options] of Object.entries({ exact: EXACT, exactGlobal: { ...EXACT, fuelLocal: false }, exactFree: EXACT_FREE, default: {}, defaultGlobal: { fuelLocal: false }, old: OLD })) {
        const out = instrumentModule(bytes, options);
        if (name === 'default') fineRegions += out.stats.fineRegions;
        if (name === 'exact' || name === 'default') {
          const charges = loopCharges(await print(out.bytes));
          expect(charges, `seed ${seed} ${name}`).toHaveLength(out.stats.loops);
          for (const c of charges) expect(c, `seed ${seed} ${name}: a loop header charge`).toBeGreaterThan(0);
        }
        variants.set(name, new WebAssembly.Module(out.bytes));
      }
      for (const [a, b] of INPUTS) {
        const what = `seed ${seed} run(${a}, ${b})`;
        counter.cnt!.value = 0n;
        counter.blk!.value = 0n;
        counter.g!.value = 0;
        reference.g!.value = 0;
        counter.run!(a, b);
        reference.run!(a, b);
        const executed = Number(counter.cnt!.value as bigint);
        const blocks = Number(counter.blk!.value as bigint);
        const used = new Map<string, number>();
        for (const [name, m] of variants) {
          const o = outcome(m, BIG, (e) => {
            e.run!(a, b);
            return (e.g as unknown as WasmGlobal).value;
          });
          expect(o.result, `${what} ${name}`).toBe(reference.g!.value);
          used.set(name, Number(BIG - o.fuel));
        }
        expect(used.get('exact'), what).toBe(executed);
        expect(used.get('exactGlobal'), what).toBe(executed);
        expect(used.get('exactFree'), what).toBe(executed - blocks);
        expect(used.get('defaultGlobal'), what).toBe(used.get('default'));
        expect(used.get('default'), what).toBeGreaterThanOrEqual(executed - blocks);
        expect(used.get('default'), what).toBeLessThanOrEqual(used.get('old')!);
        expect(used.get('old'), what).toBeGreaterThanOrEqual(executed);
        // Running out: the same trap and fuel left with the local and with the global alone.
        const total = used.get('default')!;
        for (const budget of [0, 1, total >> 1, total - 1, total]) {
          const run = (e: Record<string, Fn>) => e.run!(a, b);
          const o = outcome(variants.get('default')!, BigInt(budget), run);
          expect(outcome(variants.get('defaultGlobal')!, BigInt(budget), run), `${what} budget ${budget}`).toEqual(o);
          if (budget < total) expect(o, `${what} budget ${budget}`).toMatchObject({ error: expect.stringMatching(/unreachable/) });
          expect(o.fuel < 0n, `${what} budget ${budget}`).toBe(budget < total);
        }
      }
    }
    expect(fineRegions).toBeGreaterThan(10); // the defaults split a fair share of these regions
  }, 120_000);
});

describe('global index shift', () => {
  it('keeps defined globals working in code and exports', async () => {
    const text = `(module
      (global $a (mut i32) (i32.const 7))
      (global $b (export "b") (mut i64) (i64.const 9))
      (func (export "bump") (result i32)
        (global.set $a (i32.add (global.get $a) (i32.const 1)))
        (global.set $b (i64.add (global.get $b) (i64.const 2)))
        (global.get $a)))`;
    const { exports } = await load(text, 1000n);
    expect(exports.bump!()).toBe(8);
    expect(exports.bump!()).toBe(9);
    expect(exports.b!.value).toBe(13n);
  });

  it('keeps imported globals below the fuel global and shifts only defined ones', async () => {
    const text = `(module
      (import "env" "base" (global $base i32))
      (import "env" "acc" (global $acc (mut i32)))
      (global $d (mut i32) (i32.const 40))
      (global $e (export "e") i64 (i64.const 5))
      (memory (export "mem") 1)
      (table (export "tab") 4 funcref)
      (data (global.get $base) "\\2a")
      (elem (global.get $base) $getD)
      (func $getD (result i32) (global.get $d))
      (func (export "run") (result i32)
        (global.set $d (i32.add (global.get $d) (i32.const 2)))
        (global.set $acc (i32.add (global.get $acc) (global.get $d)))
        (call_indirect (result i32) (global.get $base)))
      (export "d" (global $d)))`;
    const acc = new WasmGlobal({ value: 'i32', mutable: true }, 100);
    const env = { base: new WasmGlobal({ value: 'i32', mutable: false }, 3), acc };
    const { exports, out } = await load(text, 1000n, {}, { env });
    expect(exports.run!()).toBe(42);
    expect(acc.value).toBe(142);
    expect(exports.d!.value).toBe(42);
    expect(exports.e!.value).toBe(5n);
    expect(new Uint8Array((exports.mem as unknown as WebAssembly.Memory).buffer)[3]).toBe(42);
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(out.bytes));
    expect(imports.at(-1)).toEqual({ module: FUEL_IMPORT_MODULE, name: FUEL_IMPORT_FIELD, kind: 'global' });
  });

  it('renumbers global.get in global initializers, data offsets and element expressions', async () => {
    // Node 20 cannot run defined globals in constant expressions; check the rewritten text.
    const text = `(module (global $a i32 (i32.const 1)) (global $b i32 (global.get $a)) (memory 1)
      (data (global.get $a) "x") (table 2 funcref)
      (elem (offset (global.get $b)) funcref (ref.func $f) (ref.null func)) (func $f))`;
    const printed = await print(instrumentModule(await wat(text)).bytes);
    expect(printed).toMatch(/\(global \(;2;\) i32 global\.get 1\)/);
    expect(printed).toMatch(/\(data \(;0;\) \(global\.get 1\)/);
    expect(printed).toMatch(/\(elem \(;0;\) \(global\.get 2\)/);
  });

  it('drops the name section, whose indices no longer hold', async () => {
    const bytes = await wat('(module (global $g (mut i32) (i32.const 0)) (func $named (global.set $g (i32.const 1))))');
    expect(readSections(bytes).some((s) => s.name === 'name')).toBe(true);
    expect(readSections(instrumentModule(bytes).bytes).some((s) => s.name === 'name')).toBe(false);
  });

  it('refuses a module that imports from the reserved fuel namespace', async () => {
    const bytes = await wat(`(module (import "${FUEL_IMPORT_MODULE}" "fuel" (global (mut i64))))`);
    expectCode(() => instrumentModule(bytes), 'COMPONENT_INVALID', /reserved/);
  });
});

describe('memory and table caps', () => {
  const GROW = `(module (memory (export "mem") 1 100)
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`;

  it('caps the memory maximum so memory.grow beyond it returns -1', async () => {
    const { exports, out } = await load(GROW, 1000n, { maxMemoryPages: 3 });
    expect(out.stats.memories).toEqual([{ initial: 1, maximum: 3 }]);
    expect(exports.grow!(2)).toBe(1);
    expect(exports.grow!(1)).toBe(-1);
  });

  it('adds a maximum to an unbounded memory and keeps a smaller declared one', async () => {
    const unbounded = instrumentModule(await wat('(module (memory 1))'), { maxMemoryPages: 8 });
    expect(unbounded.stats.memories).toEqual([{ initial: 1, maximum: 8 }]);
    const small = instrumentModule(await wat('(module (memory 1 2))'), { maxMemoryPages: 8 });
    expect(small.stats.memories).toEqual([{ initial: 1, maximum: 2 }]);
  });

  it('keeps the shared flag', async () => {
    const out = instrumentModule(await wat('(module (memory 1 100 shared))'), { maxMemoryPages: 4 });
    expect(await print(out.bytes)).toMatch(/\(memory \(;0;\) 1 4 shared\)/);
    expect(WebAssembly.validate(out.bytes)).toBe(true);
  });

  it('refuses an initial memory over the cap with MEMORY_LIMIT naming both sizes in bytes', async () => {
    const bytes = await wat('(module (memory 3))');
    expectCode(() => instrumentModule(bytes, { maxMemoryPages: 2 }), 'MEMORY_LIMIT', /196608 bytes.*131072 bytes/);
  });

  it('caps table.grow', async () => {
    const text = `(module (table $t 1 funcref)
      (func (export "grow") (result i32) (table.grow $t (ref.null func) (i32.const 1))))`;
    const { exports } = await load(text, 1000n, { maxTableElements: 2 });
    expect(exports.grow!()).toBe(1);
    expect(exports.grow!()).toBe(-1);
  });

  it('refuses a table whose initial size is over the cap', async () => {
    const bytes = await wat('(module (table 10 funcref))');
    expectCode(() => instrumentModule(bytes, { maxTableElements: 5 }), 'MEMORY_LIMIT', /10 elements/);
  });
});

/** Run `name(...args)` on the plain and on the instrumented module: same result, and fuel was spent. */
async function sameResult(text: string, name: string, ...args: unknown[]): Promise<unknown> {
  const bytes = await wat(text);
  const plain = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports[name] as Fn;
  const { exports, fuel } = await load(text, 1n << 40n);
  const expected = plain(...args);
  expect(exports[name]!(...args)).toEqual(expected);
  expect(fuel.value as bigint).toBeLessThan(1n << 40n);
  return expected;
}

describe('instruction set round trips', () => {
  it('SIMD: v128.const, shuffle, lane loads/stores, extract_lane', async () => {
    const text = `(module (memory 1)
      (func (export "simd") (result i32) (local $v v128)
        (v128.store (i32.const 0) (v128.const i32x4 1 2 3 4))
        (local.set $v (i32x4.add (v128.load (i32.const 0)) (v128.const i32x4 10 20 30 40)))
        (local.set $v (i8x16.shuffle 4 5 6 7 0 1 2 3 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))
        (local.set $v (v128.load32_lane 3 (i32.const 0) (local.get $v)))
        (v128.store64_lane 1 (i32.const 32) (local.get $v))
        (i32.add (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32.mul (i32x4.extract_lane 1 (local.get $v)) (i32.const 100)))
                 (i32.add (i32.mul (i32x4.extract_lane 3 (local.get $v)) (i32.const 10000)) (i32.load (i32.const 32))))))`;
    expect(await sameResult(text, 'simd')).toBe(22 + 1100 + 10000 + 33);
  });

  it('bulk memory, table operations, sign extension and saturating truncation', async () => {
    const text = `(module (memory 1) (data $d "hello") (table 4 funcref) (elem $e func $a $b)
      (func $a (result i32) (i32.const 1)) (func $b (result i32) (i32.const 2))
      (func (export "bulk") (result i32)
        (memory.init $d (i32.const 0) (i32.const 0) (i32.const 5)) (data.drop $d)
        (memory.copy (i32.const 10) (i32.const 0) (i32.const 5))
        (memory.fill (i32.const 20) (i32.const 7) (i32.const 3))
        (table.init $e (i32.const 0) (i32.const 0) (i32.const 2)) (elem.drop $e)
        (table.copy (i32.const 2) (i32.const 0) (i32.const 2))
        (table.fill (i32.const 0) (ref.null func) (i32.const 1))
        (i32.add (i32.add (i32.load8_u (i32.const 14)) (i32.load8_u (i32.const 22)))
                 (i32.add (call_indirect (result i32) (i32.const 3)) (table.size))))
      (func (export "numeric") (result i32)
        (i32.add (i32.trunc_sat_f64_s (f64.const 1e20)) (i32.extend8_s (i32.const 0xff)))))`;
    expect(await sameResult(text, 'bulk')).toBe(111 + 7 + 2 + 4);
    expect(await sameResult(text, 'numeric')).toBe(2147483646);
  });

  it('multi-value blocks and loops with type-index block types', async () => {
    const text = `(module (func (export "tri") (param i32) (result i32)
      (i32.const 0) (local.get 0)
      (loop $l (param i32 i32) (result i32)
        (local.set 0) (local.get 0) (i32.add)
        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
        (local.get 0) (local.get 0) (br_if $l)
        (drop))))`;
    expect(await sameResult(text, 'tri', 100)).toBe(5050);
    expect(await print(await wat(text))).toMatch(/loop( \$\w+)? \(type \d+\)/);
  });

  it('reference types: ref.null, ref.func, ref.is_null, table.get/set, typed select', async () => {
    const text = `(module (table $t 2 externref) (table $f 2 funcref)
      (func $one (result i32) (i32.const 1)) (elem declare func $one)
      (func (export "refs") (param externref) (result i32)
        (table.set $t (i32.const 0) (local.get 0))
        (table.set $f (i32.const 1) (ref.func $one))
        (i32.add (ref.is_null (table.get $t (i32.const 1)))
                 (select (result i32) (i32.const 10) (i32.const 20) (ref.is_null (table.get $t (i32.const 0)))))
        (i32.add (call_indirect $f (result i32) (i32.const 1)))))`;
    expect(await sameResult(text, 'refs', {})).toBe(22);
  });

  it('legacy exceptions: try, catch, catch_all, delegate, rethrow', async () => {
    const text = `(module (tag $e (param i32))
      (func $thrower (param i32) (throw $e (local.get 0)))
      (func (export "exn") (param i32) (result i32)
        try (result i32)
          try (result i32)
            local.get 0
            call $thrower
            i32.const 0
          delegate 0
        catch $e
          i32.const 1
          i32.add
        catch_all
          i32.const -1
        end)
      (func (export "re") (result i32)
        try (result i32)
          try
            i32.const 5
            throw $e
          catch $e
            drop
            rethrow 0
          end
          i32.const 0
        catch $e
        end))`;
    expect(await sameResult(text, 'exn', 41)).toBe(42);
    expect(await sameResult(text, 're')).toBe(5);
  });

  it('try_table and throw_ref: rewritten, and valid wherever the original is', async () => {
    const text = `(module (tag $e (param i32))
      (func (export "tt") (param i32) (result i32)
        (block $h (result i32) (try_table (catch $e $h) (throw $e (local.get 0))) (i32.const 0)))
      (func (export "rethrow") (result i32)
        (block $outer (result exnref) (try_table (catch_all_ref $outer) (throw $e (i32.const 1))) (unreachable))
        (throw_ref)))`;
    const bytes = await wat(text);
    const out = instrumentModule(bytes);
    expect(out.stats.chargePoints).toBe(2);
    expect(await print(out.bytes)).toMatch(/try_table \(catch_all_ref 0/);
    expect(WebAssembly.validate(out.bytes)).toBe(WebAssembly.validate(bytes));
  });

  it('atomics on a shared memory', async () => {
    const text = `(module (memory 1 1 shared)
      (func (export "atom") (result i32)
        (atomic.fence)
        (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 5)))
        (i32.atomic.load (i32.const 0))))`;
    expect(await sameResult(text, 'atom')).toBe(5);
  });
});

describe('refusals', () => {
  it('accepts a hand-assembled body (the helper itself is sound)', () => {
    const out = instrumentModule(moduleWithBody([0x01, 0x0b]));
    expect(WebAssembly.validate(out.bytes)).toBe(true);
  });

  it.each([
    ['a reserved single-byte opcode', [0x27, 0x0b], /unknown opcode 0x27/],
    ['a GC instruction (0xFB)', [0xfb, 0x00, 0x00, 0x0b], /unknown opcode 0xfb/],
    ['call_ref (typed function references)', [0x14, 0x00, 0x0b], /unknown opcode 0x14/],
    ['a reserved SIMD opcode', [0xfd, 0x9a, 0x01, 0x0b], /0xfd 154/],
    ['an unknown 0xFC opcode', [0xfc, 0x12, 0x0b], /0xfc 18/],
    ['a GC block type', [0x02, 0x64, 0x70, 0x0b, 0x0b], /block type 0x64/],
  ])('refuses %s with UNSUPPORTED', (_what, body, message) => {
    expectCode(() => instrumentModule(moduleWithBody(body)), 'UNSUPPORTED', message);
  });

  it('refuses memory64 and GC types with UNSUPPORTED', async () => {
    expectCode(() => instrumentModule(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 5, 3, 1, 0x04, 1])), 'UNSUPPORTED', /memory64/);
    const gc = await wat('(module (type (struct (field i32))))');
    expectCode(() => instrumentModule(gc), 'UNSUPPORTED', /GC/);
  });

  it('refuses global indices past the last global (they could wrap onto the fuel global)', () => {
    const getMax = [0x23, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x1a, 0x0b]; // global.get 2^32-1; drop; end
    expectCode(() => instrumentModule(moduleWithBody(getMax)), 'COMPONENT_INVALID', /global index 4294967295 out of range/);
    expectCode(() => instrumentModule(moduleWithBody([0x42, 0x00, 0x24, 0x00, 0x0b])), 'COMPONENT_INVALID', /global index 0/);
  });

  it('refuses garbage, components and broken bodies with COMPONENT_INVALID', async () => {
    expectCode(() => instrumentModule(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9])), 'COMPONENT_INVALID', /magic/);
    const component = await wat('(component)');
    expectCode(() => instrumentModule(component), 'COMPONENT_INVALID', /component/);
    expectCode(() => instrumentModule(moduleWithBody([0x01])), 'COMPONENT_INVALID');
    expectCode(() => instrumentModule(moduleWithBody([0x0b, 0x01])), 'COMPONENT_INVALID', /after its final end/);
    expectCode(() => instrumentModule(moduleWithBody([0x18, 0x00, 0x0b])), 'COMPONENT_INVALID', /delegate/);
  });

  it('every truncation is refused or yields a module exactly as valid as the prefix', async () => {
    const bytes = await wat(SUM_SQUARES);
    for (let n = 0; n < bytes.length; n++) {
      const prefix = bytes.slice(0, n);
      try {
        expect(WebAssembly.validate(instrumentModule(prefix).bytes)).toBe(WebAssembly.validate(prefix));
      } catch (e) {
        expect((e as InstrumentError).code).toBe('COMPONENT_INVALID');
      }
    }
  });

  it('random corruption raises only InstrumentError, and the output is valid exactly when the input is', async () => {
    // Output valid but input invalid would mean the rewrite "repaired" something, e.g. an
    // out-of-range global index landing on the fuel global.
    const bytes = await wat(SUM_SQUARES.replace('(module', `(module (import "env" "g" (global $ig (mut i32)))
      (memory 1) (global $g (mut i32) (i32.const 1)) (export "g" (global $g)) (data (i32.const 0) "abc")
      (func (global.set $g (global.get $ig)))`));
    let seed = 12345;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 3000; i++) {
      const mutated = bytes.slice();
      for (let k = 1 + random(3); k > 0; k--) mutated[8 + random(mutated.length - 8)] = random(256);
      let out: Uint8Array | undefined;
      try {
        out = instrumentModule(mutated).bytes;
      } catch (e) {
        expect(e).toBeInstanceOf(InstrumentError);
      }
      if (out) expect(WebAssembly.validate(out)).toBe(WebAssembly.validate(mutated));
    }
  });

  it('enforces the validation caps', async () => {
    const nested = await wat('(module (func (block (block (block (block nop))))))');
    expectCode(() => instrumentModule(nested, { limits: { maxNesting: 3 } }), 'COMPONENT_INVALID', /nest deeper than 3/);
    expect(WebAssembly.validate(instrumentModule(nested, { limits: { maxNesting: 4 } }).bytes)).toBe(true);
    expectCode(() => instrumentModule(nested, { limits: { maxFunctions: 0 } }), 'COMPONENT_INVALID', /1 functions/);
    expectCode(() => instrumentModule(nested, { limits: { maxModuleBytes: 10 } }), 'COMPONENT_INVALID', /limit is 10/);
    const data = await wat('(module (memory 1) (data (i32.const 0) "hello"))');
    expectCode(() => instrumentModule(data, { limits: { maxDataBytes: 4 } }), 'MEMORY_LIMIT', /data/);
    expect(() => instrumentModule(data, { maxMemoryPages: 1.5 })).toThrow(RangeError);
  });
});

/** Fixture and example components (built by the vitest global setup when the toolchain is present). */
function componentFiles(): string[] {
  const dirs = [join(ROOT, 'test', 'fixtures', 'build')];
  const examples = join(ROOT, 'examples');
  if (existsSync(examples)) for (const e of readdirSync(examples)) dirs.push(join(examples, e, 'build'));
  return dirs.filter((d) => existsSync(d)).flatMap((d) => readdirSync(d).filter((f) => f.endsWith('.wasm')).map((f) => join(d, f)));
}

const coreModulesCache = new Map<string, [string, Uint8Array][]>();

/** The core modules inside a component, as jco splits them out. */
async function coreModules(file: string): Promise<[string, Uint8Array][]> {
  let cores = coreModulesCache.get(file);
  if (!cores) {
    const out = await (await jco()).transpile(readFileSync(file), { name: 'x', instantiation: 'async' });
    const files = (Array.isArray(out.files) ? out.files : Object.entries(out.files)) as [string, Uint8Array][];
    cores = files.filter(([name]) => /\.core\d*\.wasm$/.test(name));
    coreModulesCache.set(file, cores);
  }
  return cores;
}

describe('real components', () => {
  const components = componentFiles();

  it.skipIf(components.length === 0)('instruments every core module of the fixtures and examples', async () => {
    for (const file of components) {
      for (const [name, bytes] of await coreModules(file)) {
        const out = instrumentModule(bytes);
        expect(WebAssembly.validate(out.bytes), `${file} ${name}`).toBe(true);
        // Every function entry and every loop is a charge point (no region is empty), and
        // large regions have more.
        expect(out.stats.chargePoints).toBeGreaterThanOrEqual(out.stats.functions + out.stats.loops);
        const whole = instrumentModule(bytes, { fineLoopThreshold: Infinity, fineFunctionThreshold: Infinity });
        expect(WebAssembly.validate(whole.bytes), `${file} ${name}`).toBe(true);
        expect(whole.stats.chargePoints).toBe(whole.stats.functions + whole.stats.loops);
      }
    }
  }, 300_000);

  for (const rel of ['test/fixtures/build/fetchprobe.wasm', 'examples/code-review/build/agent.wasm']) {
    const file = join(ROOT, rel);
    it.skipIf(!existsSync(file))(`instruments the StarlingMonkey engine module of ${rel} in under 2 s`, async () => {
      const cores = await coreModules(file);
      const [name, engine] = cores.reduce((a, b) => (b[1].length > a[1].length ? b : a));
      const start = performance.now();
      const out = instrumentModule(engine);
      const ms = performance.now() - start;
      console.log(`${rel} ${name}: ${engine.length} -> ${out.bytes.length} bytes in ${ms.toFixed(0)} ms ` +
        `(${out.stats.functions} functions, ${out.stats.loops} loops)`);
      expect(ms).toBeLessThan(2000);
      expect(WebAssembly.validate(out.bytes)).toBe(true);
    }, 120_000);
  }
});
