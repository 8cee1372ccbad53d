// The fuel slicer (refuel.ts) with instrumented modules: fuel exhaustion exactly where the
// whole budget in the global put it, across slice boundaries; stops that the guest cannot
// catch; the trampoline. The hook's placement is tested in wasm/instrument-hook.test.ts.
import { describe, expect, it } from 'vitest';
import { createFuelSlicer, DEFAULT_FUEL_SLICE, TRAMPOLINE_WAT, trampolineBytes, trappingRefuel } from './refuel.js';
import { instrumentModule, type InstrumentOptions } from './wasm/instrument.js';
import { readSections } from './wasm/reader.js';
import { type Fn, wat, EXITS, SUM_SQUARES, sliced, whole } from '../../test/helpers/instrument-fixtures.js';

const UNLIMITED = (1n << 63n) - 1n;
const BIG = 1n << 40n;

/** The module of `text` with the hook (`refuel`) and without it (`trapping`, the scheme before slices). */
async function both(text: string, options: InstrumentOptions = {}) {
  const bytes = await wat(text);
  return {
    refuel: new WebAssembly.Module(instrumentModule(bytes, options).bytes),
    trapping: new WebAssembly.Module(instrumentModule(bytes, { ...options, refuel: false }).bytes),
  };
}

/**
 * For every budget from 0 to a little past what `run` uses, and every slice: the same result or
 * trap, the same fuel used, and exhaustion reported exactly when the global went negative.
 */
function sameAsWhole(m: { refuel: WebAssembly.Module; trapping: WebAssembly.Module }, run: (e: Record<string, Fn>) => unknown, what: string, step = 1): void {
  const total = whole(m.trapping, BIG, run).used;
  for (let budget = 0; budget <= total + 2; budget += budget < 40 ? 1 : step) {
    const expected = whole(m.trapping, BigInt(budget), run);
    expect(expected.exhausted, `${what} budget ${budget}`).toBe(budget < total);
    for (const slice of [1n, 2n, 3n, 7n, 16n, BigInt(Math.max(1, total >> 2)), BigInt(total + 5), DEFAULT_FUEL_SLICE]) {
      expect(sliced(m.refuel, BigInt(budget), slice, run), `${what} budget ${budget} slice ${slice}`).toEqual(expected);
    }
  }
}

/**
 * A guest that spins forever inside `catch_all`, and tries again whenever something is caught
 * (`caught` counts). `$spin` is a loop, or with `IMPORTED` replaced, an import.
 */
const IMPORTED = ';; imported';
const CATCHER = `(module
  ${IMPORTED}
  (global $caught (export "caught") (mut i32) (i32.const 0))
  (func $spin (loop $l (br $l)))
  (func (export "run")
    (loop $again
      try
        call $spin
      catch_all
        (global.set $caught (i32.add (global.get $caught) (i32.const 1)))
      end
      br $again)))`;

describe('fuel slices', () => {
  it('the trampoline is the module its text says', async () => {
    // The parser adds a name section; the rest is byte for byte the same.
    const parsed = await wat(TRAMPOLINE_WAT);
    const named = readSections(parsed).find((x) => x.name === 'name')!;
    const header = 1 + (named.end - named.start < 0x80 ? 1 : 2); // id, size
    const unnamed = Uint8Array.from([...parsed.subarray(0, named.start - header), ...parsed.subarray(named.end)]);
    expect(trampolineBytes()).toEqual(unnamed);
    expect(WebAssembly.validate(trampolineBytes())).toBe(true);
  });

  it('run out exactly where the whole budget did: same trap, same fuel used, at every budget and slice', async () => {
    const sum = await both(SUM_SQUARES);
    sameAsWhole(sum, (e) => e.sum!(12), 'sum(12)');
    const exits = await both(EXITS);
    const runs: [string, (e: Record<string, Fn>) => unknown][] = [
      ['brExit(5)', (e) => e.brExit!(5)], ['brTable(4)', (e) => e.brTable!(4)], ['ret(4)', (e) => e.ret!(4)],
      ['tail(5)', (e) => e.tail!(5)], ['calls(6)', (e) => e.calls!(6)], ['repeat', (e) => e.repeat!(2, 5)],
      ['exceptions(3)', (e) => e.exceptions!(3)], ['catchOnce', (e) => e.catchOnce!()],
    ];
    for (const [what, run] of runs) sameAsWhole(exits, run, what);
    // Charges on the global alone, and without leaf pre-charges.
    sameAsWhole(await both(EXITS, { fuelLocal: false }), (e) => e.exceptions!(3), 'exceptions(3), global only');
    sameAsWhole(await both(EXITS, { leafInlineThreshold: 0 }), (e) => e.calls!(6), 'calls(6), no leaf pre-charge');
  }, 120_000);

  it('keep used() right across runs of one instance, and across modules sharing the slicer', async () => {
    const sum = await both(SUM_SQUARES);
    const slicer = createFuelSlicer({ budget: 10_000n, slice: 7n, check: () => true });
    const e = new WebAssembly.Instance(sum.refuel, slicer.imports).exports as Record<string, Fn>;
    let expected = 0;
    for (const n of [0, 3, 10, 1]) {
      expect(e.sum!(n)).toBe((n * (n - 1) * (2 * n - 1)) / 6);
      expected += 5 + 16 * (n + 1);
      expect(slicer.used()).toBe(expected);
    }
    slicer.reset();
    expect(slicer.used()).toBe(0);
    e.sum!(2);
    expect(slicer.used()).toBe(5 + 16 * 3);
    // Two modules, one calling the other, charge one budget.
    const callee = new WebAssembly.Instance(sum.refuel, slicer.imports).exports;
    const caller = new WebAssembly.Module(
      instrumentModule(await wat('(module (import "m" "sum" (func $sum (param i32) (result i32))) (func (export "twice") (param i32) (result i32) (i32.add (call $sum (local.get 0)) (call $sum (local.get 0)))))')).bytes,
    );
    slicer.reset(1000n);
    const twice = (new WebAssembly.Instance(caller, { m: { sum: callee.sum }, ...slicer.imports }).exports as Record<string, Fn>).twice!;
    expect(twice(4)).toBe(28);
    expect(slicer.used()).toBe(6 + 2 * (5 + 16 * 5)); // the caller: local.get, call, local.get, call, i32.add, end
    slicer.reset(100n);
    expect(() => twice(4)).toThrow(/unreachable/);
    expect(slicer.exhausted()).toBe(true);
    expect(slicer.stopped()).toBe(false);
    expect(slicer.used()).toBeGreaterThan(100);
  });

  it('stop an infinite loop with an unlimited budget at the first slice after check() says so', async () => {
    const bytes = instrumentModule(await wat('(module (func (export "spin") (loop $l (br $l))))')).bytes;
    for (const slice of [1n, 5n, 1000n, 123_457n]) {
      let checks = 0;
      const slicer = createFuelSlicer({ budget: UNLIMITED, slice, check: () => ++checks < 4 });
      const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), slicer.imports).exports as Record<string, Fn>;
      expect(() => e.spin!()).toThrow(/unreachable/);
      expect(checks).toBe(4);
      expect(slicer.stopped()).toBe(true);
      expect(slicer.exhausted()).toBe(false);
      // Four slices handed out (the first at reset), each used up; a charge costs 2 here.
      expect(slicer.used()).toBeGreaterThanOrEqual(4 * Number(slice));
      expect(slicer.used()).toBeLessThanOrEqual(4 * (Number(slice) + 2));
      // Stopped stays stopped (a later charge traps without asking) until reset.
      expect(() => e.spin!()).toThrow(/unreachable/);
      expect(checks).toBe(4);
      slicer.reset();
      expect(slicer.stopped()).toBe(false);
      checks = 0;
      expect(() => e.spin!()).toThrow(/unreachable/);
      expect(checks).toBe(4);
    }
  });

  it('stop a spinning guest within a few milliseconds of a deadline, with the default slice', async () => {
    const bytes = instrumentModule(await wat('(module (func (export "spin") (loop $l (br $l))))')).bytes;
    let deadline = 0;
    const slicer = createFuelSlicer({ budget: UNLIMITED, check: () => performance.now() < deadline });
    const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), slicer.imports).exports as Record<string, Fn>;
    deadline = performance.now() + 50;
    expect(() => e.spin!()).toThrow(/unreachable/);
    const late = performance.now() - deadline;
    expect(slicer.stopped()).toBe(true);
    expect(late).toBeLessThan(50); // one slice is about 1–2 ms of compute
  });

  it('cannot be caught by the guest: not a stop, not the fuel running out, not a throwing check()', async () => {
    const bytes = instrumentModule(await wat(CATCHER)).bytes;
    const cases: [string, bigint, () => boolean, 'stopped' | 'exhausted'][] = [
      ['stop', UNLIMITED, () => false, 'stopped'],
      ['fuel', 10_000n, () => true, 'exhausted'],
      [
        'throwing check',
        UNLIMITED,
        () => {
          throw new Error('host bug');
        },
        'stopped',
      ],
    ];
    for (const [what, budget, check, how] of cases) {
      const slicer = createFuelSlicer({ budget, slice: 100n, check });
      const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), slicer.imports).exports as Record<string, Fn & { value: number }>;
      expect(() => e.run!(), what).toThrow(WebAssembly.RuntimeError);
      expect(e.caught!.value, what).toBe(0);
      expect(slicer[how](), what).toBe(true);
    }
    // Whereas a JS exception from an import is caught: why the refuel function is a wasm trampoline.
    const importThrows = await wat(CATCHER.replace('(func $spin (loop $l (br $l)))', '').replace(IMPORTED, '(import "env" "f" (func $spin))'));
    let calls = 0;
    const f = () => {
      if (++calls < 5) throw new Error('caught by the guest');
    };
    const slicer = createFuelSlicer({ budget: UNLIMITED, slice: 50n, check: () => calls < 5 });
    const e = new WebAssembly.Instance(new WebAssembly.Module(instrumentModule(importThrows).bytes), { env: { f }, ...slicer.imports }).exports as Record<string, Fn & { value: number }>;
    expect(() => e.run!()).toThrow(/unreachable/);
    expect(e.caught!.value).toBe(4);
  });

  it('stop a start function during instantiation', async () => {
    const bytes = instrumentModule(await wat('(module (func $s (loop $l (br $l))) (start $s))')).bytes;
    const slicer = createFuelSlicer({ budget: UNLIMITED, slice: 1000n, check: () => false });
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(bytes), slicer.imports)).toThrow(/unreachable/);
    expect(slicer.stopped()).toBe(true);
  });

  it('hold at most one slice in the global, and the whole budget when it is smaller', () => {
    expect(createFuelSlicer({ budget: UNLIMITED, check: () => true }).fuel.value).toBe(DEFAULT_FUEL_SLICE);
    expect(createFuelSlicer({ budget: 5n, slice: 10n, check: () => true }).fuel.value).toBe(5n);
    const s = createFuelSlicer({ budget: 0n, slice: 10n, check: () => true });
    expect(s.fuel.value).toBe(0n);
    s.reset(UNLIMITED);
    expect(s.fuel.value).toBe(10n);
    for (const bad of [{ budget: -1n }, { budget: 1n << 63n }, { budget: 1n, slice: 0n }, { budget: 1 as unknown as bigint }]) {
      expect(() => createFuelSlicer({ check: () => true, ...bad })).toThrow(RangeError);
    }
    expect(() => s.reset(-5n)).toThrow(RangeError);
  });

  it('preempt() ends the slice: the next charge asks check(), and consumption is unchanged', async () => {
    // A guest that calls the host in a loop; the host preempts on every call.
    const text = `(module (import "env" "ping" (func $ping))
      (func (export "run") (param $n i32)
        (loop $l (call $ping) (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))))`;
    const bytes = instrumentModule(await wat(text)).bytes;
    const run = (preempting: boolean, stopAt: number) => {
      let checks = 0;
      const slicer = createFuelSlicer({ budget: UNLIMITED, check: () => ++checks < stopAt });
      const ping = () => {
        if (preempting) slicer.preempt();
      };
      const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { ping }, ...slicer.imports }).exports as Record<string, Fn>;
      let error: string | undefined;
      try {
        e.run!(10);
      } catch (x) {
        error = (x as Error).message;
      }
      return { checks, used: slicer.used(), stopped: slicer.stopped(), error };
    };
    const plain = run(false, Infinity);
    expect(plain.checks).toBe(0); // one default slice covers it all
    const preempted = run(true, Infinity);
    expect(preempted.checks).toBe(9); // at the next charge after every ping but the last (none follows it)
    expect(preempted.used).toBe(plain.used);
    expect(run(true, 3)).toMatchObject({ checks: 3, stopped: true, error: 'unreachable' });
  });

  it('trappingRefuel traps at the first charge that drives the fuel negative, leaving it negative', async () => {
    const bytes = instrumentModule(await wat('(module (func (export "spin") (loop $l (br $l))))')).bytes;
    const fuel = new WebAssembly.Global({ value: 'i64', mutable: true }, 99n);
    const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { 'agentos:limits': { fuel, refuel: trappingRefuel() } }).exports as Record<string, Fn>;
    expect(() => e.spin!()).toThrow(/unreachable/);
    expect(fuel.value).toBe(-1n); // 2 (entry) + 2 per iteration: 99 → … → 1 → -1
  });
});
