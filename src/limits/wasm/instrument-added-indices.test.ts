// Indices one past the input's own, in the index spaces the rewrite appends to: the fuel local
// (body.ts) and the `[] -> []` type of the refuel hook and the stop-flag trap helpers
// (sections.ts). Each input is invalid; without the range check the rewrite would make it valid,
// and a guest could then write its own fuel counter. The smith fuzz target found the local case
// (fuzz/regressions/smith/).
import { describe, expect, it } from 'vitest';
import { instrumentModule } from './instrument.js';
import { expectCode, load, wat } from '../../../test/helpers/instrument-fixtures.js';

/** Every rewrite the engines apply: jco with and without the hook, wasmtime's stop flag. */
const REWRITES = [{}, { refuel: false }, { stopFlag: true }] as const;

describe('indices that would name what the rewrite adds', () => {
  // No `[] -> []` type in the type-index cases (every function takes a parameter, so the text
  // format adds none), so the rewrite appends one at the next index.
  const cases: [string, string, RegExp][] = [
    ['local.get', '(func (param i32) (local i64) (drop (local.get 2)))', /local index 2 out of range/],
    ['local.tee', '(func (param i32) (drop (local.tee 1 (i64.const 1))))', /local index 1 out of range/],
    ['a block type', '(type (func (param i32))) (func (param i32) (block (type 1)))', /block type index 1 out of range/],
    ['a loop type', '(type (func (param i32))) (func (param i32) (loop (type 1)))', /block type index 1 out of range/],
    ['call_indirect', '(type (func (param i32))) (table 1 funcref) (func (param i32) (call_indirect (type 1) (i32.const 0)))', /type index 1 out of range/],
    ['return_call_indirect', '(type (func (param i32))) (table 1 funcref) (func (param i32) (return_call_indirect (type 1) (i32.const 0)))', /type index 1 out of range/],
    ['a function import', '(type (func (param i32))) (import "m" "f" (func (type 1)))', /import has type 1/],
    ['a tag import', '(type (func (param i32))) (import "m" "t" (tag (type 1)))', /import has type 1/],
    ['a tag', '(type (func (param i32))) (tag (type 1))', /tag has type 1/],
  ];
  for (const [what, body, message] of cases) {
    it(`refuses ${what}`, async () => {
      const bytes = await wat(`(module ${body})`);
      expect(WebAssembly.validate(bytes)).toBe(false);
      for (const options of REWRITES) expectCode(() => instrumentModule(bytes, options), 'COMPONENT_INVALID', message);
    });
  }

  it('refuses an invalid module that would write its own fuel counter', async () => {
    // Local 0 does not exist; after the rewrite it would be the fuel local of this loop.
    const bytes = await wat('(module (func (export "spin") (loop (local.set 0 (i64.const 0x7fffffffffffffff)) (br 0))))');
    expect(WebAssembly.validate(bytes)).toBe(false);
    for (const options of REWRITES) expectCode(() => instrumentModule(bytes, options), 'COMPONENT_INVALID', /local index 0 out of range/);
  });

  it("accepts the same constructs on the function's and module's own indices", async () => {
    const bytes = await wat(`(module (type (func (param i32))) (type (func (result i32)))
      (import "m" "f" (func (type 0))) (import "m" "t" (tag (type 0))) (table 1 funcref) (tag (type 0))
      (func (param i32) (local i64)
        (drop (local.get 0)) (local.set 1 (i64.const 1)) (drop (local.tee 1 (i64.const 2)))
        (drop (block (type 1) (i32.const 3))) (loop $l (br_if $l (i32.const 0)))
        (call_indirect (type 0) (i32.const 4) (i32.const 0))))`);
    expect(WebAssembly.validate(bytes)).toBe(true);
    for (const options of [{}, { refuel: false }] as const) expect(WebAssembly.validate(instrumentModule(bytes, options).bytes)).toBe(true);
  });

  it('leaves functions with many locals their own indices', async () => {
    const { exports } = await load(`(module (func (export "last") (param i32) (result i32) (local i32 i64 i32)
      (local.set 3 (i32.const 7)) (loop $l (br_if $l (i32.eqz (local.get 3)))) (local.get 3)))`, 1000n);
    expect(exports.last!(0)).toBe(7);
  });
});
