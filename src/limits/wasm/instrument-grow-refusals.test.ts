// Counting the grows the caps refuse (InstrumentOptions.countGrowRefusals): the guest sees the
// same -1 it always did, and the host reads how often through the `refused` global.
import { describe, expect, it } from 'vitest';
import { instrumentModule, REFUSED_IMPORT_FIELD, FUEL_IMPORT_MODULE, type InstrumentOptions } from './instrument.js';
import { createFuelSlicer } from '../refuel.js';
import { wat, type Fn } from '../../../test/helpers/instrument-fixtures.js';

const COUNT: InstrumentOptions = { countGrowRefusals: true, maxMemoryPages: 3, maxTableElements: 4 };

/** Instrument `text` and instantiate it behind a fuel slicer; returns its exports and the slicer. */
async function load(text: string, options: InstrumentOptions = COUNT) {
  const out = instrumentModule(await wat(text), options);
  const slicer = createFuelSlicer({ budget: 1n << 40n, check: () => true });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(out.bytes), slicer.imports);
  return { exports: instance.exports as Record<string, Fn>, slicer, out };
}

const GROWS = `(module (memory 1) (table $t 1 funcref) (global $g (mut i32) (i32.const 5))
  (func $grow (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "tgrow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0)))
  (func (export "loop") (param $n i32) (result i32) (local $last i32)
    (loop $l (local.set $last (call $grow (i32.const 1)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))
    (local.get $last))
  (func (export "g") (result i32) (global.get $g)))`;

describe('counting refused grows', () => {
  it('counts each refused memory.grow and table.grow, not the ones that succeed, and the guest sees the same results', async () => {
    const { exports, slicer, out } = await load(GROWS);
    expect(out.refusedImported).toBe(true);
    expect(out.stats.growChecks).toBe(2);
    expect(exports.grow!(1)).toBe(1);
    expect(exports.grow!(1)).toBe(2);
    expect(slicer.refusals()).toEqual({ memory: 0, table: 0 });
    expect(exports.grow!(1)).toBe(-1);
    expect(exports.grow!(1000)).toBe(-1);
    expect(exports.tgrow!(3)).toBe(1);
    expect(exports.tgrow!(1)).toBe(-1);
    expect(slicer.refusals()).toEqual({ memory: 2, table: 1 });
    slicer.reset();
    expect(slicer.refusals()).toEqual({ memory: 0, table: 0 });
    // A small function called in a loop (it would be a leaf copied unmetered): every call counts.
    expect(exports.loop!(7)).toBe(-1);
    expect(slicer.refusals()).toEqual({ memory: 7, table: 0 });
    // Defined globals moved up by three and still work.
    expect(exports.g!()).toBe(5);
  });

  it('charges the same fuel as without counting', async () => {
    const used = async (options: InstrumentOptions) => {
      const { exports, slicer } = await load(GROWS, options);
      exports.loop!(9);
      exports.tgrow!(9);
      return slicer.used();
    };
    expect(await used(COUNT)).toBe(await used({ ...COUNT, countGrowRefusals: false }));
  });

  it('keeps functions with loops and many locals intact, and adds nothing without the option', async () => {
    const text = `(module (memory 1)
      (func (export "f") (param i32 i64) (result i64) (local f32 i32 i64)
        (local.set 3 (i32.const 2))
        (loop $l (drop (memory.grow (i32.const 9))) (local.set 3 (i32.sub (local.get 3) (i32.const 1))) (br_if $l (local.get 3)))
        (i64.add (local.get 1) (i64.extend_i32_s (memory.grow (i32.const 0))))))`;
    const { exports, slicer } = await load(text);
    expect(exports.f!(0, 40n)).toBe(41n);
    expect(slicer.refusals()).toEqual({ memory: 2, table: 0 });
    const plain = instrumentModule(await wat(text), { ...COUNT, countGrowRefusals: false });
    expect(plain.refusedImported).toBe(false);
    expect(plain.stats.growChecks).toBe(0);
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(plain.bytes)).map((i) => i.name);
    expect(imports).not.toContain(REFUSED_IMPORT_FIELD);
  });

  it('imports the counter as a mutable i64 after the fuel globals, and not in stop-flag mode', async () => {
    const out = instrumentModule(await wat(GROWS), COUNT);
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(out.bytes));
    expect(imports.map((i) => `${i.module} ${i.name}`)).toEqual([`${FUEL_IMPORT_MODULE} fuel`, `${FUEL_IMPORT_MODULE} refuel`, `${FUEL_IMPORT_MODULE} ${REFUSED_IMPORT_FIELD}`]);
    const flagged = instrumentModule(await wat(GROWS), { ...COUNT, stopFlag: true });
    expect(flagged.refusedImported).toBe(false);
  });
});
