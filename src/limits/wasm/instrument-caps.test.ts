// The section rewrite (sections.ts): the global index shift for the fuel global, and the
// memory and table caps.
import { describe, expect, it } from 'vitest';
import { FUEL_IMPORT_FIELD, FUEL_IMPORT_MODULE, instrumentModule, REFUEL_IMPORT_FIELD } from './instrument.js';
import { WasmGlobal, wat, print, load, expectCode } from '../../../test/helpers/instrument-fixtures.js';
import { readSections } from './reader.js';

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
    expect(imports.slice(-2)).toEqual([
      { module: FUEL_IMPORT_MODULE, name: FUEL_IMPORT_FIELD, kind: 'global' },
      { module: FUEL_IMPORT_MODULE, name: REFUEL_IMPORT_FIELD, kind: 'global' },
    ]);
  });

  it('renumbers global.get in global initializers, data offsets and element expressions', async () => {
    // Node 20 cannot run defined globals in constant expressions; check the rewritten text.
    const text = `(module (global $a i32 (i32.const 1)) (global $b i32 (global.get $a)) (memory 1)
      (data (global.get $a) "x") (table 2 funcref)
      (elem (offset (global.get $b)) funcref (ref.func $f) (ref.null func)) (func $f))`;
    // Two imported globals (fuel, refuel) move the defined ones up by two; one without the hook.
    for (const [refuel, shift] of [[true, 2], [false, 1]] as const) {
      const printed = await print(instrumentModule(await wat(text), { refuel }).bytes);
      expect(printed).toMatch(new RegExp(`\\(global \\(;${1 + shift};\\) i32 global\\.get ${shift}\\)`));
      expect(printed).toMatch(new RegExp(`\\(data \\(;0;\\) \\(global\\.get ${shift}\\)`));
      expect(printed).toMatch(new RegExp(`\\(elem \\(;0;\\) \\(global\\.get ${1 + shift}\\)`));
    }
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
