// Small loops whose refuel call is put outside them (loop-exit.ts): which loops, the wrapper
// blocks, the labels of branches out of them, and the same results, traps and fuel as the
// refuel call inside the loop and as the whole budget in the global.
import { describe, expect, it } from 'vitest';
import { instrumentModule, type InstrumentOptions } from './instrument.js';
import { type Fn, wat, print, sliced, whole } from '../../../test/helpers/instrument-fixtures.js';

/** Loops of every kind the wrapping handles or leaves alone; the comments say which. */
const LOOPS = `(module
  (func $id (param i32) (result i32) (local.get 0))

  ;; Wrapped: counts down, leaving through br_if to the block around it.
  (func (export "down") (param $n i32) (result i32) (local $acc i32)
    (block $out
      (loop $l
        (br_if $out (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc))

  ;; Wrapped: returns from inside, takes a br_table to a label outside, to itself or to a
  ;; block inside, or falls out.
  (func (export "mixed") (param $n i32) (param $k i32) (result i32) (local $r i32)
    (block $far
      (loop $l
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (if (i32.eq (local.get $n) (local.get $k)) (then (return (i32.const -1))))
        (local.set $r (i32.add (local.get $r) (local.get $n)))
        (block $near
          (br_table $near $l $far $l (i32.and (local.get $n) (i32.const 3))))
        (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))))
    (local.get $r))

  ;; Wrapped, with a result: the wrappers take the loop's block type.
  (func (export "value") (param $n i32) (result i32)
    (i32.add (i32.const 1)
      (loop $l (result i32)
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $l (i32.gt_s (local.get $n) (i32.const 0)))
        (i32.mul (local.get $n) (i32.const 3)))))

  ;; Nested: only the inner loop is wrapped (innermost). Dead code after br keeps valid labels.
  (func (export "nested") (param $n i32) (result i32) (local $i i32) (local $j i32) (local $acc i32)
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $j (i32.const 0))
        (block $inner_done
          (loop $inner
            (br_if $inner_done (i32.ge_u (local.get $j) (local.get $i)))
            (local.set $acc (i32.add (local.get $acc) (local.get $j)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $inner)
            (br_if $done (i32.const 1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (local.get $acc))

  ;; Not wrapped: a call in the loop.
  (func (export "calls") (param $n i32) (result i32) (local $acc i32)
    (block $out
      (loop $l
        (br_if $out (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (call $id (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $l)))
    (local.get $acc))

  ;; Not wrapped: a type-index block type (a parameter).
  (func (export "params") (param $n i32) (result i32)
    local.get $n
    loop $l (param i32) (result i32)
      i32.const 1
      i32.sub
      local.tee $n
      local.get $n
      br_if $l
    end)

  ;; Not wrapped: exception handling in the loop.
  (tag $e)
  (func (export "tries") (param $n i32) (result i32)
    (loop $l
      try
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      catch_all
      end
      (br_if $l (local.get $n)))
    (local.get $n)))`;

describe('loops with the refuel call outside', () => {
  it('wraps small innermost loops without calls, and only those', async () => {
    const bytes = await wat(LOOPS);
    const out = instrumentModule(bytes);
    expect(WebAssembly.validate(out.bytes)).toBe(true);
    expect(out.stats).toMatchObject({ loops: 8, exitLoops: 4 }); // down, mixed, value, nested's inner
    expect(instrumentModule(bytes, { exitLoopThreshold: 0 }).stats.exitLoops).toBe(0);
    expect(instrumentModule(bytes, { refuel: false }).stats.exitLoops).toBe(0);
    expect(instrumentModule(bytes, { fuelLocal: false }).stats.exitLoops).toBe(4);
    // A loop larger than the threshold keeps its call (value: 11 instructions, down 13, nested's
    // inner 16, mixed 24), and so does one with charges besides its header's.
    expect(instrumentModule(bytes, { exitLoopThreshold: 13 }).stats.exitLoops).toBe(2);
    expect(instrumentModule(bytes, { fineLoopThreshold: 4, fineMerge: 0 }).stats.exitLoops).toBe(0);
  });

  it('puts the slow path after the loop and moves the labels of branches out of it', async () => {
    const text = (await print(instrumentModule(await wat(LOOPS), { branchHints: false }).bytes)).replace(/;;[^\n]*|\(;[^;]*;\)/g, '').replace(/\s+/g, ' ');
    // down: block $out; [block; loop; block; loop $l]; charge; br_if 1 (the slow block);
    // br_if $out was 1, now 4; br $l stays 0; after the loop: br 2; end; save, call, reload
    // with the cost added back; br 0; end; end.
    expect(text).toContain('block block loop block loop local.get 2 i64.const 13 i64.sub local.tee 2 i64.const 0 i64.lt_s br_if 1 local.get 0 i32.eqz br_if 4');
    expect(text).toContain(
      'br 0 end br 2 end local.get 2 global.set 0 i32.const 0 call_indirect (type 2) global.get 0 i64.const 13 i64.add local.set 2 br 0 end end end local.get 1',
    );
    // mixed: br_table labels out of the loop move (far: 2 → 5), those inside stay (near 0, the
    // loop 1). value: the wrappers take the loop's block type.
    expect(text).toContain('br_table 0 1 5 1');
    expect(text).toContain('block (result i32) loop (result i32) block loop (result i32)');
  });

  it('runs, traps and charges as the refuel call inside the loop and as the whole budget did', async () => {
    const bytes = await wat(LOOPS);
    const variants: InstrumentOptions[] = [{}, { fuelLocal: false }];
    const runs: [string, (e: Record<string, Fn>) => unknown][] = [
      ['down(9)', (e) => e.down!(9)],
      ['mixed(13, 99)', (e) => e.mixed!(13, 99)],
      ['mixed(13, 5)', (e) => e.mixed!(13, 5)],
      ['mixed(6, 99)', (e) => e.mixed!(6, 99)],
      ['value(7)', (e) => e.value!(7)],
      ['nested(6)', (e) => e.nested!(6)],
      ['calls(5)', (e) => e.calls!(5)],
      ['params(4)', (e) => e.params!(4)],
      ['tries(4)', (e) => e.tries!(4)],
    ];
    const plain = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as Record<string, Fn>;
    for (const options of variants) {
      const outside = new WebAssembly.Module(instrumentModule(bytes, options).bytes);
      const inside = new WebAssembly.Module(instrumentModule(bytes, { ...options, exitLoopThreshold: 0 }).bytes);
      const trapping = new WebAssembly.Module(instrumentModule(bytes, { ...options, refuel: false }).bytes);
      for (const [what, run] of runs) {
        const total = whole(trapping, 1n << 40n, run);
        expect(total, what).toMatchObject({ result: run(plain), exhausted: false });
        for (let budget = 0; budget <= total.used + 1; budget++) {
          const expected = whole(trapping, BigInt(budget), run);
          for (const slice of [1n, 2n, 5n, 64n]) {
            const label = `${what} ${JSON.stringify(options)} budget ${budget} slice ${slice}`;
            expect(sliced(outside, BigInt(budget), slice, run), label).toEqual(expected);
            expect(sliced(inside, BigInt(budget), slice, run), label).toEqual(expected);
          }
        }
      }
    }
  });
});
