// The fuel counter kept in a local (body.ts): exact charges across calls, exits and
// exceptions, and the same trap points and fuel left as charging the global directly.
import { describe, expect, it } from 'vitest';
import { instrumentModule } from './instrument.js';
import { WasmGlobal, type Fn, wat, print, load, SUM_SQUARES, EXITS, afterExhaustion, outcome, fuelImports } from '../../../test/helpers/instrument-fixtures.js';

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
    const e = new WebAssembly.Instance(await exits(), fuelImports(fuel)).exports as Record<string, Fn>;
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
    const printed = await print(instrumentModule(await wat(SUM_SQUARES), { branchHints: false }).bytes);
    // The loop is wrapped (loop-exit.ts): fuel negative leaves it for the slow path after it,
    // which saves, calls the refuel function (the hook's table, after the module's own type),
    // reloads with the loop's cost added back and re-enters the loop through its header.
    expect(printed).toMatch(/block[^\n]*\n\s*block[^\n]*\n\s*loop[^\n]*\n\s*block[^\n]*\n\s*loop[^\n]*\n\s*local\.get 3\n\s*i64\.const 16\n\s*i64\.sub\n\s*local\.tee 3\n\s*i64\.const 0\n\s*i64\.lt_s\n\s*br_if 1 /);
    expect(printed).toMatch(
      /br 2 [^\n]*\n\s*end\n\s*local\.get 3\n\s*global\.set 0\n\s*i32\.const 0\n\s*call_indirect \(type 1\)\n\s*global\.get 0\n\s*i64\.const 16\n\s*i64\.add\n\s*local\.set 3\n\s*br 0 /,
    );
    // The other saves: in the entry charge's cold path, and before the body's final end.
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
    // Without charging the calls of the small leaf $g at the call site (instrument-leaves.test.ts).
    const text = '(module (func $g (param i32) (result i32) (local.get 0)) (func (export "f") (result i32) (call $g (call $g (i32.const 4)))))';
    const printed = await print(instrumentModule(await wat(text), { leafInlineThreshold: 0 }).bytes);
    expect(printed.match(/global\.set 0/g)).toHaveLength(2); // one per function, at entry
    expect(printed.match(/global\.get 0/g)).toHaveLength(2);
    const { exports, fuel } = await load(text, 100n); // the same charges either way
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
