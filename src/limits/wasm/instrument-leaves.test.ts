// Direct calls of small leaf functions charged at the call site and redirected to an unmetered
// copy (InstrumentOptions.leafInlineThreshold): the same fuel and trap values as charging the
// callee itself, in every caller mode, and the callee still charging for every other use.
import { describe, expect, it } from 'vitest';
import { instrumentModule, type InstrumentOptions } from './instrument.js';
import { WasmGlobal, type Fn, wat, print, outcome, definedFunctions, expectCode, fuelImports } from '../../../test/helpers/instrument-fixtures.js';

const BIG = 1n << 40n;
const OFF: InstrumentOptions = { leafInlineThreshold: 0 };

/**
 * A small leaf $f called from callers of every mode. $f(x) = 3x + (++g); its cost is 10:
 * global.get, i32.const, i32.add, global.set, local.get, i32.const, i32.mul, global.get,
 * i32.add, end. A function import comes first, so the copy of $f is function 1 + 7 + 0 = 8.
 */
const LEAF = `(module
  (type $t (func (param i32) (result i32)))
  (import "env" "host" (func $host (param i32) (result i32)))
  (global $g (mut i32) (i32.const 0))
  (tag $e (param i32))

  (func $f (type $t)
    global.get $g
    i32.const 1
    i32.add
    global.set $g
    local.get 0
    i32.const 3
    i32.mul
    global.get $g
    i32.add)

  ;; Not a leaf (a loop). Entry 3: loop, local.get, end. Loop 4: i32.const, i32.eqz, br_if, end. Cost 7.
  (func $other (type $t)
    loop $l
      i32.const 1
      i32.eqz
      br_if $l
    end
    local.get 0)

  ;; Sum of f(n), f(n-1), …, f(1): the counter in a local (Mode.Local). Entry 5: block, loop,
  ;; end, local.get, end. Loop 14: local.get, i32.eqz, br_if, local.get, local.get, call,
  ;; i32.add, local.set, local.get, i32.const, i32.sub, local.set, br, end.
  ;; loop(n) = 5 + 14 (n + 1) + 10 n.
  (func (export "loop") (param $n i32) (result i32) (local $acc i32)
    block $done
      loop $l
        local.get $n
        i32.eqz
        br_if $done
        local.get $acc
        local.get $n
        call $f
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

  ;; No loop, as many other calls as leaf calls: charges the global (Mode.Eager).
  ;; 5 (local.get, call, call, call, end) + 7 + 10 + 7.
  (func (export "eager") (param i32) (result i32)
    local.get 0
    call $other
    call $f
    call $other)

  ;; No loop, two leaf calls and an import call.
  ;; 6 (local.get, call, call, call, call, end) + 10 + 10 + host (uncharged) + 10.
  (func (export "mixed") (param i32) (result i32)
    local.get 0
    call $f
    call $f
    call $host
    call $f)

  ;; Calls of $f inside a try whose body then calls a thrower; the catch adds the payload.
  ;; Entry 5: block, loop, end, local.get, end. Loop 21: local.get, i32.eqz, br_if, try,
  ;; local.get, call, drop, local.get, call, drop, catch, local.get, i32.add, local.set, end,
  ;; local.get, i32.const, i32.sub, local.set, br, end. Per iteration also f 10 + thrower 5.
  (func (export "tries") (param $n i32) (result i32) (local $acc i32)
    block $done
      loop $l
        local.get $n
        i32.eqz
        br_if $done
        try
          local.get $n
          call $f
          drop
          local.get $n
          call $thrower
          drop
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

  ;; Throws its argument. Cost 4: local.get, throw, i32.const (dead, but charged whole), end.
  (func $thrower (type $t)
    local.get 0
    throw $e
    i32.const 0)

)`;

/** The same leaf called from a function with so many locals that it gets no fuel local (Mode.Global). */
const MANY_LOCALS = `(module
  (global $g (mut i32) (i32.const 0))
  (func $f (param i32) (result i32)
    global.get $g i32.const 1 i32.add global.set $g local.get 0 i32.const 3 i32.mul global.get $g i32.add)
  (func (export "many") (param i32) (result i32) (local ${'i32 '.repeat(49_999)})
    local.get 0
    call $f
    call $f))`;

const host = { env: { host: (x: number) => x + 1 } };

/** Run `calls` in order on one instance with `budget` fuel: each result or error, and the fuel after it. */
function session(module: WebAssembly.Module, budget: bigint, calls: [string, ...unknown[]][]) {
  const fuel = new WasmGlobal({ value: 'i64', mutable: true }, budget);
  const exports = new WebAssembly.Instance(module, { ...fuelImports(fuel), ...host }).exports as Record<string, Fn>;
  const seen: unknown[] = [];
  for (const [name, ...args] of calls) {
    try {
      seen.push({ result: exports[name]!(...args), fuel: fuel.value });
    } catch (e) {
      seen.push({ error: (e as Error).message, fuel: fuel.value });
      break; // a trapped instance is not used again
    }
  }
  return seen;
}

/** The text of `bytes` with whitespace runs as one space, without comments and branch hints. */
const flat = async (bytes: Uint8Array): Promise<string> =>
  (await print(bytes)).replace(/;;[^\n]*|\(@metadata\.code\.branch_hint "[^"]*"\)/g, '').replace(/\s+/g, ' ');

describe('small leaves charged at the call site', () => {
  it('copies the leaf, charges its cost at each direct call and calls the copy without syncing the global', async () => {
    const bytes = await wat(LEAF);
    const out = instrumentModule(bytes);
    expect(out.stats).toMatchObject({ functions: 7, leafCopies: 1, leafCalls: 6 });
    expect(definedFunctions(out.bytes)).toBe(8);
    const text = await flat(out.bytes);
    // The copy: $f's body with the global index shifted (g is global 2 after the fuel and
    // refuel globals), nothing else.
    expect(text).toMatch(/\(func \(;8;\) \(type 0\) \(param i32\) \(result i32\) global\.get 2 i32\.const 1 i32\.add global\.set 2 local\.get 0 i32\.const 3 i32\.mul global\.get 2 i32\.add \)/);
    // In the loop: the charge on the local (the refuel call, type 2 = the hook's `(func)`, on
    // its cold path), then the copy, with no save before nor load after.
    const refuel = 'i32.const 0 call_indirect (type 2)';
    expect(text).toContain(`local.get 1 local.get 0 local.get 2 i64.const 10 i64.sub local.tee 2 i64.const 0 i64.lt_s if local.get 2 global.set 0 ${refuel} global.get 0 local.set 2 end call 8 i32.add`);
    // Mode.Eager: the global charged as the leaf's own entry charge does it.
    expect(text).toContain(`call 2 global.get 0 i64.const 10 i64.sub local.tee 1 global.set 0 local.get 1 i64.const 0 i64.lt_s if ${refuel} end call 8 call 2`);
    // $f itself keeps its charge.
    expect(text).toMatch(/\(func \(;1;\) \(type 0\) \(param i32\) \(result i32\) \(local i64\) global\.get 0 i64\.const 10 i64\.sub/);
    expect(WebAssembly.validate(out.bytes)).toBe(true);
    // Off: as before, no copy.
    const off = instrumentModule(bytes, OFF);
    expect(off.stats).toMatchObject({ leafCopies: 0, leafCalls: 0 });
    expect(definedFunctions(off.bytes)).toBe(7);
  });

  it('charges exactly as the callee charging itself at every budget, in every caller mode', async () => {
    const bytes = await wat(LEAF);
    const on = new WebAssembly.Module(instrumentModule(bytes).bytes);
    const off = new WebAssembly.Module(instrumentModule(bytes, OFF).bytes);
    const global = new WebAssembly.Module(instrumentModule(bytes, { fuelLocal: false }).bytes);
    const runs: [string, (e: Record<string, Fn>) => unknown, number | undefined][] = [
      ['loop', (e) => e.loop!(4), 5 + 14 * 5 + 10 * 4],
      ['eager', (e) => e.eager!(2), 5 + 7 + 10 + 7],
      ['mixed', (e) => e.mixed!(2), 6 + 30],
      ['tries', (e) => e.tries!(3), undefined],
    ];
    for (const [what, run, expected] of runs) {
      const full = outcome(off, BIG, run, host);
      const total = Number(BIG - full.fuel);
      if (expected !== undefined) expect(total, what).toBe(expected);
      expect(outcome(on, BIG, run, host), what).toEqual(full);
      for (let budget = 0; budget <= total + 1; budget++) {
        const o = outcome(on, BigInt(budget), run, host);
        expect(o, `${what}, budget ${budget}`).toEqual(outcome(off, BigInt(budget), run, host));
        expect(o, `${what}, budget ${budget}`).toEqual(outcome(global, BigInt(budget), run, host));
        expect(o.fuel < 0n, `${what}, budget ${budget}`).toBe(budget < total);
      }
    }
  });

  it('leaves the fuel the same after every export call of a session', async () => {
    const bytes = await wat(LEAF);
    const on = new WebAssembly.Module(instrumentModule(bytes).bytes);
    const off = new WebAssembly.Module(instrumentModule(bytes, OFF).bytes);
    const calls: [string, ...unknown[]][] = [['loop', 3], ['eager', 1], ['mixed', 4], ['tries', 2], ['loop', 6]];
    const full = session(off, BIG, calls);
    expect(full).toHaveLength(calls.length);
    const total = Number(BIG - (full.at(-1) as { fuel: bigint }).fuel);
    for (let budget = 0; budget <= total + 1; budget += 1) {
      expect(session(on, BigInt(budget), calls), `budget ${budget}`).toEqual(session(off, BigInt(budget), calls));
    }
  });

  it('charges the global at the call in a function with no room for a fuel local', async () => {
    const bytes = await wat(MANY_LOCALS);
    const out = instrumentModule(bytes);
    expect(out.stats).toMatchObject({ leafCopies: 1, leafCalls: 2 });
    const text = await flat(out.bytes);
    expect(text).toContain('global.get 0 i64.const 10 i64.sub global.set 0 global.get 0 i64.const 0 i64.lt_s if i32.const 0 call_indirect (type 1) end call 2');
    const on = new WebAssembly.Module(out.bytes);
    const off = new WebAssembly.Module(instrumentModule(bytes, OFF).bytes);
    const run = (e: Record<string, Fn>) => e.many!(5);
    const total = 4 + 10 + 10; // local.get, call, call, end + f twice
    expect(outcome(on, BIG, run)).toEqual({ result: 3 * (3 * 5 + 1) + 2, fuel: BIG - BigInt(total) });
    for (let budget = 0; budget <= total + 1; budget++) {
      expect(outcome(on, BigInt(budget), run), `budget ${budget}`).toEqual(outcome(off, BigInt(budget), run));
    }
  });

  it('keeps the leaf charging for exports, tables, ref.func, tail calls and the start function', async () => {
    const text = `(module
      (type $t (func (param i32) (result i32)))
      (global $g (mut i32) (i32.const 0))
      (table $tab 1 funcref) (elem (table $tab) (i32.const 0) func $f)
      (elem declare func $f)
      ;; Cost 3: i32.const, global.set, end.
      (func $s (global.set $g (i32.const 100)))
      (start $s)
      ;; Cost 4: local.get, i32.const, i32.add, end.
      (func $f (export "f") (type $t) (i32.add (local.get 0) (i32.const 1)))
      ;; 4 + f: local.get, i32.const, call_indirect, end.
      (func (export "viaTable") (type $t) (call_indirect $tab (type $t) (local.get 0) (i32.const 0)))
      ;; 2: ref.func, end.
      (func (export "viaRef") (result funcref) (ref.func $f))
      ;; 3 + f: local.get, return_call, end.
      (func (export "tail") (type $t) (return_call $f (local.get 0)))
      ;; 4 + s + f: call, local.get, call, end; the callees charged at the calls.
      (func (export "direct") (type $t) (call $s) (call $f (local.get 0))))`;
    const out = instrumentModule(await wat(text));
    expect(out.stats).toMatchObject({ functions: 6, leafCopies: 2, leafCalls: 2 });
    const fuel = new WasmGlobal({ value: 'i64', mutable: true }, 1000n);
    const e = new WebAssembly.Instance(new WebAssembly.Module(out.bytes), fuelImports(fuel)).exports as Record<string, Fn>;
    let left = 1000n - 3n; // the start function
    const expectUsed = (n: number) => {
      left -= BigInt(n);
      expect(fuel.value).toBe(left);
    };
    expectUsed(0);
    expect(e.f!(1)).toBe(2);
    expectUsed(4);
    expect(e.viaTable!(1)).toBe(2);
    expectUsed(4 + 4);
    const ref = e.viaRef!() as Fn;
    expectUsed(2);
    expect(ref(5)).toBe(6);
    expectUsed(4);
    expect(e.tail!(1)).toBe(2);
    expectUsed(3 + 4);
    expect(e.direct!(1)).toBe(2);
    expectUsed(4 + 4 + 3);
  });

  it('copies only small leaves that are called directly', async () => {
    const copies = async (callee: string, options: InstrumentOptions = {}, prelude = '') => {
      const text = `(module ${prelude} (global $g (mut i32) (i32.const 0)) (tag $e) (table 1 funcref)
        (func $x ${callee})
        (func (export "main") (call $x)))`;
      const bytes = await wat(text);
      const out = instrumentModule(bytes, options);
      expect(definedFunctions(out.bytes)).toBe(definedFunctions(bytes) + out.stats.leafCopies);
      // Node 20 does not know try_table: valid exactly when the input is.
      expect(WebAssembly.validate(out.bytes)).toBe(WebAssembly.validate(bytes));
      return out.stats.leafCopies;
    };
    const nops = (n: number) => 'nop '.repeat(n);
    expect(await copies(nops(63))).toBe(1); // 64 instructions with its end
    expect(await copies(nops(64))).toBe(0);
    expect(await copies(nops(9), { leafInlineThreshold: 10 })).toBe(1);
    expect(await copies(nops(10), { leafInlineThreshold: 10 })).toBe(0);
    expect(await copies(nops(1000), { leafInlineThreshold: Infinity })).toBe(1);
    expect(await copies('(global.set $g (i32.const 1))', OFF)).toBe(0);
    expect(await copies('(global.set $g (i32.const 1))', { fuelLocal: false })).toBe(0);
    // Calls, loops, exception handling and traps.
    expect(await copies('(call $y)', {}, '(func $y)')).toBe(1); // $y is a leaf, $x is not
    expect(await copies('(call_indirect (i32.const 0))')).toBe(0);
    expect(await copies('(return_call $y)', {}, '(func $y)')).toBe(0);
    expect(await copies('(loop)')).toBe(0);
    expect(await copies('(throw $e)')).toBe(0);
    expect(await copies('try nop catch_all end')).toBe(0);
    expect(await copies('try_table nop end')).toBe(0);
    expect(await copies('unreachable')).toBe(0);
    // Charged per sub-region (over fineFunctionThreshold, with branches): not a leaf; straight-line
    // code over it still has one charge.
    const branchy = '(if (global.get $g) (then nop nop) (else nop nop nop))';
    expect(await copies(branchy)).toBe(1);
    expect(await copies(branchy, { fineFunctionThreshold: 4, fineMerge: 0 })).toBe(0);
    expect(await copies(nops(20), { fineFunctionThreshold: 4 })).toBe(1);
    // A leaf that nothing calls directly gets no copy.
    const uncalled = instrumentModule(await wat('(module (func (export "f") nop) (func (export "g") (call_indirect (i32.const 0))) (table 1 funcref))'));
    expect(uncalled.stats.leafCopies).toBe(0);
  });

  it('keeps the module under maxFunctions, and counts past 127 functions in minimal LEB128', async () => {
    const two = await wat('(module (func $f) (func (export "main") (call $f) (call $f)))');
    expect(instrumentModule(two, { limits: { maxFunctions: 2 } }).stats).toMatchObject({ leafCopies: 0, leafCalls: 0 });
    expect(instrumentModule(two, { limits: { maxFunctions: 3 } }).stats).toMatchObject({ leafCopies: 1, leafCalls: 2 });
    // 100 leaves called by a 101st function: up to 201 functions, the count growing to two bytes.
    const n = 100;
    const text = `(module (global $g (mut i32) (i32.const 0))
      ${Array.from({ length: n }, (_, i) => `(func $l${i} (global.set $g (i32.add (global.get $g) (i32.const ${i}))))`).join('\n')}
      (func (export "main") (result i32) ${Array.from({ length: n }, (_, i) => `(call $l${i})`).join(' ')} (global.get $g)))`;
    const bytes = await wat(text);
    for (const limit of [n + 1 + 26, n + 1 + 27, n + 1 + n]) {
      const out = instrumentModule(bytes, { limits: { maxFunctions: limit } });
      expect(out.stats.leafCopies).toBe(limit - n - 1);
      expect(definedFunctions(out.bytes)).toBe(limit);
      const { result, fuel } = outcome(new WebAssembly.Module(out.bytes), BIG, (e) => e.main!());
      expect(result).toBe((n * (n - 1)) / 2);
      // main: n calls, global.get, end; each leaf: global.get, i32.const, i32.add, global.set, end.
      expect(BIG - fuel).toBe(BigInt(n + 2 + 5 * n));
    }
  });

  it('refuses a function index past the last function, which would name a copy', () => {
    // Two functions of type () -> (): 0 a leaf (nop), 1 calling it, so a copy of 0 becomes
    // function 2. Each variant names function `k` in one more place; with k = 2 the input is
    // invalid, and appending the copy would make the output valid, reaching the unmetered copy
    // from an export, the start function, a table, a global, or the code without the charge.
    const sec = (id: number, ...body: number[]) => [id, body.length, ...body];
    const code = (main: number[]) => sec(10, 2, 3, 0, 0x01, 0x0b, main.length + 2, 0, ...main, 0x0b);
    const module = (...sections: number[][]) => Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...sections.flat()]);
    const head = [sec(1, 1, 0x60, 0, 0), sec(3, 2, 0, 0)];
    const table = sec(4, 1, 0x70, 0, 1);
    const variants: Record<string, (k: number) => Uint8Array> = {
      export: (k) => module(...head, sec(7, 1, 1, 0x78, 0, k), code([0x10, 0])),
      start: (k) => module(...head, sec(8, k), code([0x10, 0])),
      elem: (k) => module(...head, table, sec(9, 1, 0, 0x41, 0, 0x0b, 1, k), code([0x10, 0])),
      elemExpr: (k) => module(...head, table, sec(9, 1, 4, 0x41, 0, 0x0b, 1, 0xd2, k, 0x0b), code([0x10, 0])),
      global: (k) => module(...head, sec(6, 1, 0x70, 0, 0xd2, k, 0x0b), sec(9, 1, 3, 0, 1, k), code([0x10, 0])),
      call: (k) => module(...head, code([0x10, 0, 0x10, k])),
      returnCall: (k) => module(...head, code([0x10, 0, 0x12, k])),
      refFunc: (k) => module(...head, sec(9, 1, 3, 0, 1, k), code([0x10, 0, 0xd2, k, 0x1a])),
    };
    for (const [where, make] of Object.entries(variants)) {
      const valid = make(1);
      expect(WebAssembly.validate(valid), where).toBe(true);
      const out = instrumentModule(valid);
      expect(out.stats.leafCopies, where).toBe(1);
      expect(WebAssembly.validate(out.bytes), where).toBe(true);
      const invalid = make(2);
      expect(WebAssembly.validate(invalid), where).toBe(false);
      expectCode(() => instrumentModule(invalid), 'COMPONENT_INVALID', /function index 2 out of range/);
      // Without copies nothing can be "repaired": the output stays invalid like the input.
      expect(WebAssembly.validate(instrumentModule(invalid, OFF).bytes), where).toBe(false);
    }
  });

  it('is deterministic, and with fuelLocal: false identical to turning it off', async () => {
    const bytes = await wat(LEAF);
    expect(instrumentModule(bytes).bytes).toEqual(instrumentModule(bytes).bytes);
    expect(instrumentModule(bytes, { fuelLocal: false }).bytes).toEqual(instrumentModule(bytes, { fuelLocal: false, leafInlineThreshold: 0 }).bytes);
    expect(() => instrumentModule(bytes, { leafInlineThreshold: -1 })).toThrow(RangeError);
  });
});
