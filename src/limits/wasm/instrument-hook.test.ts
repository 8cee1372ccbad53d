// The refuel hook (hook.ts): what the rewrite adds so that a charge can call the host's refuel
// function, where it goes in modules of every shape, the indices that would reach it, and
// V8's limits. The slicing itself is tested in src/limits/refuel.test.ts.
import { describe, expect, it } from 'vitest';
import { FUEL_IMPORT_FIELD, FUEL_IMPORT_MODULE, instrumentModule, REFUEL_IMPORT_FIELD, V8_LIMITS } from './instrument.js';
import { checkV8Limit } from './hook.js';
import { readSections, SectionId, WasmReader } from './reader.js';
import { createFuelSlicer } from '../refuel.js';
import { type Fn, wat, print, expectCode, fuelImports, WasmGlobal } from '../../../test/helpers/instrument-fixtures.js';

/** `WebAssembly.Table` (the TypeScript lib this project uses leaves it out). */
const WasmTable = (WebAssembly as unknown as { Table: new (d: { element: 'anyfunc'; initial: number }) => object }).Table;

/** Section ids of `bytes`, in order (custom sections left out). */
const sectionIds = (bytes: Uint8Array): number[] => readSections(bytes).filter((s) => s.id !== SectionId.Custom).map((s) => s.id);

/** The vector length at the start of section `id` (0 when there is none). */
function count(bytes: Uint8Array, id: number): number {
  const s = readSections(bytes).find((x) => x.id === id);
  return s ? new WasmReader(bytes, s.start, s.end).u32() : 0;
}

const SPIN = '(func (export "spin") (loop $l (br $l)))';

/** Run `name` of `bytes` with a slicer of `slice` units that stops at its `stopAt`-th check: the slicer. */
function spinUntilStopped(bytes: Uint8Array, name: string, imports: WebAssembly.Imports = {}, stopAt = 3) {
  let checks = 0;
  const slicer = createFuelSlicer({ budget: (1n << 63n) - 1n, slice: 1000n, check: () => ++checks < stopAt });
  const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { ...imports, ...slicer.imports }).exports as Record<string, Fn>;
  expect(() => exports[name]!()).toThrow(/unreachable/);
  expect(slicer.stopped()).toBe(true);
  expect(checks).toBe(stopAt);
  return slicer;
}

describe('the refuel hook', () => {
  it('adds the type, imports, table and element segment a module without them lacks, in section order', async () => {
    const out = instrumentModule(await wat(`(module ${SPIN})`));
    expect(out).toMatchObject({ fuelGlobalImported: true, refuelImported: true });
    expect(WebAssembly.validate(out.bytes)).toBe(true);
    // The input has type, function, export, code; the rewrite adds import, table, elem.
    expect(sectionIds(out.bytes)).toEqual([SectionId.Type, SectionId.Import, SectionId.Function, SectionId.Table, SectionId.Export, SectionId.Elem, SectionId.Code]);
    expect(WebAssembly.Module.imports(new WebAssembly.Module(out.bytes))).toEqual([
      { module: FUEL_IMPORT_MODULE, name: FUEL_IMPORT_FIELD, kind: 'global' },
      { module: FUEL_IMPORT_MODULE, name: REFUEL_IMPORT_FIELD, kind: 'global' },
    ]);
    const printed = await print(out.bytes);
    expect(printed).toContain('(table (;0;) 1 1 funcref)');
    expect(printed).toContain('(elem (;0;) (table 0) (i32.const 0) funcref (global.get 1))');
    spinUntilStopped(out.bytes, 'spin');

    // An empty module: every section is new.
    const empty = instrumentModule(await wat('(module)')).bytes;
    expect(sectionIds(empty)).toEqual([SectionId.Type, SectionId.Import, SectionId.Table, SectionId.Elem]);
    expect(WebAssembly.validate(empty)).toBe(true);
  });

  it('reuses a `(func)` type the module has, and appends one otherwise', async () => {
    const withVoid = await wat(`(module (type (func (param i32))) (type (func)) (type (func (result i32))) ${SPIN})`);
    const a = instrumentModule(withVoid).bytes;
    expect(count(a, SectionId.Type)).toBe(3);
    expect(await print(a)).toContain('call_indirect (type 1)');
    const without = await wat(`(module (func (export "f") (param i32) (result i32) (loop $l (br_if $l (local.get 0))) (local.get 0)))`);
    const b = instrumentModule(without).bytes;
    expect(count(b, SectionId.Type)).toBe(2);
    expect(await print(b)).toMatch(/\(type \(;1;\) \(func\)\)[\s\S]*call_indirect \(type 1\)/);
    expect(WebAssembly.validate(b)).toBe(true);
  });

  it('puts its table after imported and defined tables and its segment after every segment, so no index moves', async () => {
    const text = `(module
      (import "env" "t" (table $it 2 funcref))
      (type $r (func (result i32)))
      (table $a 2 funcref) (table $b 3 funcref)
      (memory 1)
      (elem (table $a) (i32.const 0) func $one $two)
      (elem $p func $two $one)
      (elem declare func $three)
      (data $d "\\07")
      (func $one (result i32) (i32.const 1))
      (func $two (result i32) (i32.const 2))
      (func $three (result i32) (i32.const 3))
      (func (export "run") (result i32)
        (table.init $b $p (i32.const 0) (i32.const 0) (i32.const 2))
        (elem.drop $p)
        (memory.init $d (i32.const 0) (i32.const 0) (i32.const 1))
        (data.drop $d)
        (table.set $it (i32.const 1) (ref.func $three))
        (i32.add (i32.load8_u (i32.const 0))
          (i32.add (call_indirect $a (type $r) (i32.const 1))
            (i32.add (call_indirect $b (type $r) (i32.const 1)) (call_indirect $it (type $r) (i32.const 1))))))
      ${SPIN})`;
    const bytes = await wat(text);
    expect(sectionIds(bytes)).toContain(SectionId.DataCount); // memory.init needs it
    const out = instrumentModule(bytes).bytes;
    expect(WebAssembly.validate(out)).toBe(true);
    expect(count(out, SectionId.Table)).toBe(3);
    expect(count(out, SectionId.Elem)).toBe(4);
    const printed = await print(out);
    expect(printed).toContain('(elem (;3;) (table 3) (i32.const 0) funcref (global.get 1))');
    const t = new WasmTable({ element: 'anyfunc', initial: 2 });
    const fuel = new WasmGlobal({ value: 'i64', mutable: true }, 1n << 40n);
    const e = new WebAssembly.Instance(new WebAssembly.Module(out), { env: { t }, ...fuelImports(fuel) }).exports as Record<string, Fn>;
    expect(e.run!()).toBe(7 + 2 + 1 + 3);
    spinUntilStopped(out, 'spin', { env: { t: new WasmTable({ element: 'anyfunc', initial: 2 }) } });
  });

  it('is left out with refuel: false (the charge traps on the spot) and with fuel: false', async () => {
    const bytes = await wat(`(module ${SPIN})`);
    const trapping = instrumentModule(bytes, { refuel: false });
    expect(trapping).toMatchObject({ fuelGlobalImported: true, refuelImported: false });
    expect(sectionIds(trapping.bytes)).toEqual([SectionId.Type, SectionId.Import, SectionId.Function, SectionId.Export, SectionId.Code]);
    expect(await print(trapping.bytes)).not.toContain('call_indirect');
    expect(instrumentModule(bytes, { fuel: false, refuel: true })).toMatchObject({ fuelGlobalImported: false, refuelImported: false });
  });

  it('stops a guest calling through its own tables, or another module, at every charge kind', async () => {
    // Eager (no loop), Local (loop), Global (fuelLocal: false) and the leaf pre-charge all call
    // the hook; a stop unwinds through an import and a call_indirect too.
    const text = `(module
      (import "env" "ping" (func $ping))
      (type $v (func))
      (table 1 funcref) (elem (i32.const 0) $inner)
      (func $leaf (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
      (func $inner (drop (call $leaf (i32.const 1))))
      (func (export "spin") (local $i i32)
        (loop $l (call_indirect (type $v) (i32.const 0)) (call $ping) (local.set $i (call $leaf (local.get $i))) (br $l))))`;
    const bytes = await wat(text);
    for (const options of [{}, { fuelLocal: false }, { leafInlineThreshold: 0 }]) {
      const out = instrumentModule(bytes, options).bytes;
      spinUntilStopped(out, 'spin', { env: { ping: () => {} } }, 5);
    }
  });
});

describe('indices that would name the hook', () => {
  // Each input is invalid (the index is one past the module's own), and the hook's table or
  // segment would make it valid: a guest could then replace the refuel function.
  const cases: [string, string][] = [
    ['table.set', '(table 1 funcref) (func (table.set 1 (i32.const 0) (ref.null func)))'],
    ['table.get', '(table 1 funcref) (func (drop (table.get 1 (i32.const 0))))'],
    ['table.grow', '(table 1 funcref) (func (drop (table.grow 1 (ref.null func) (i32.const 1))))'],
    ['table.size', '(table 1 funcref) (func (drop (table.size 1)))'],
    ['table.fill', '(table 1 funcref) (func (table.fill 1 (i32.const 0) (ref.null func) (i32.const 1)))'],
    ['table.copy into', '(table 1 funcref) (func (table.copy 1 0 (i32.const 0) (i32.const 0) (i32.const 1)))'],
    ['table.copy from', '(table 1 funcref) (func (table.copy 0 1 (i32.const 0) (i32.const 0) (i32.const 1)))'],
    ['table.init', '(table 1 funcref) (elem func) (func (table.init 1 0 (i32.const 0) (i32.const 0) (i32.const 0)))'],
    ['table.init segment', '(table 1 funcref) (elem func) (func (table.init 0 1 (i32.const 0) (i32.const 0) (i32.const 0)))'],
    ['elem.drop', '(elem func) (func (elem.drop 1))'],
    ['call_indirect', '(type (func)) (table 1 funcref) (func (call_indirect 1 (type 0) (i32.const 0)))'],
    ['call_indirect, no table', '(type (func)) (func (call_indirect (type 0) (i32.const 0)))'],
    ['return_call_indirect', '(type (func)) (table 1 funcref) (func (return_call_indirect 1 (type 0) (i32.const 0)))'],
    ['export', '(table 1 funcref) (export "t" (table 1))'],
    ['active segment', '(table 1 funcref) (func $f) (elem (table 1) (i32.const 0) func $f)'],
    ['active segment, no table', '(func $f) (elem (i32.const 0) func $f)'],
  ];
  for (const [what, body] of cases) {
    it(`refuses ${what}`, async () => {
      const bytes = await wat(`(module ${body})`);
      expect(WebAssembly.validate(bytes)).toBe(false);
      for (const refuel of [true, false]) expectCode(() => instrumentModule(bytes, { refuel }), 'COMPONENT_INVALID', /(table|element segment) index \d+ out of range/);
    });
  }

  it('accepts the same instructions on the module own tables and segments', async () => {
    const bytes = await wat(`(module (type (func)) (table 2 funcref) (table 1 funcref) (elem func) (func
      (table.set 1 (i32.const 0) (ref.null func)) (drop (table.get 1 (i32.const 0))) (drop (table.grow 1 (ref.null func) (i32.const 1)))
      (drop (table.size 1)) (table.fill 1 (i32.const 0) (ref.null func) (i32.const 1)) (table.copy 0 1 (i32.const 0) (i32.const 0) (i32.const 1))
      (table.init 1 0 (i32.const 0) (i32.const 0) (i32.const 0)) (elem.drop 0) (call_indirect 1 (type 0) (i32.const 0)))
      (export "t" (table 1)))`);
    expect(WebAssembly.validate(instrumentModule(bytes).bytes)).toBe(true);
  });
});

describe("V8's limits", () => {
  /** A module of `n` entries `entry` in section `id` (plus the sections `extra` before it). */
  function moduleOf(id: number, n: number, entry: number[], extra: number[] = []): Uint8Array {
    const payload = new Uint8Array(5 + n * entry.length);
    let p = 0;
    for (let v = n; ; v = Math.floor(v / 0x80)) {
      payload[p++] = (v % 0x80) | (v >= 0x80 ? 0x80 : 0);
      if (v < 0x80) break;
    }
    for (let i = 0; i < n; i++) payload.set(entry, p + i * entry.length);
    const body = payload.subarray(0, p + n * entry.length);
    const size: number[] = [];
    for (let v = body.length; ; v = Math.floor(v / 0x80)) {
      size.push((v % 0x80) | (v >= 0x80 ? 0x80 : 0));
      if (v < 0x80) break;
    }
    return Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...extra, id, ...size, ...body]);
  }

  it('refuses a module whose tables, types, imports or globals are at the limit, and takes one just below', () => {
    const table = [0x70, 0x00, 0x00];
    expectCode(() => instrumentModule(moduleOf(SectionId.Table, V8_LIMITS.tables, table)), 'UNSUPPORTED', /tables/);
    const tables = instrumentModule(moduleOf(SectionId.Table, V8_LIMITS.tables - 1, table)).bytes;
    expect(WebAssembly.validate(tables)).toBe(true);
    // Types: only when the hook's has to be appended; a module with a `(func)` keeps its count.
    const i32Type = [0x60, 0x01, 0x7f, 0x00];
    expectCode(() => instrumentModule(moduleOf(SectionId.Type, V8_LIMITS.types, i32Type)), 'UNSUPPORTED', /types/);
    expect(WebAssembly.validate(instrumentModule(moduleOf(SectionId.Type, V8_LIMITS.types - 1, i32Type)).bytes)).toBe(true);
    const withVoid = moduleOf(SectionId.Type, V8_LIMITS.types, [0x60, 0x00, 0x00]);
    expect(count(instrumentModule(withVoid).bytes, SectionId.Type)).toBe(V8_LIMITS.types);
    // Imports: two are added (one with refuel: false).
    const globalImport = [0x01, 0x65, 0x01, 0x67, 0x03, 0x7f, 0x00]; // "e" "g" (global i32)
    expectCode(() => instrumentModule(moduleOf(SectionId.Import, V8_LIMITS.imports - 1, globalImport)), 'UNSUPPORTED', /imports/);
    expect(WebAssembly.validate(instrumentModule(moduleOf(SectionId.Import, V8_LIMITS.imports - 2, globalImport)).bytes)).toBe(true);
    expect(WebAssembly.validate(instrumentModule(moduleOf(SectionId.Import, V8_LIMITS.imports - 1, globalImport), { refuel: false }).bytes)).toBe(true);
    // Globals: imported and defined, plus the two added.
    const global = [0x7f, 0x00, 0x41, 0x00, 0x0b]; // i32 immutable, i32.const 0
    expectCode(() => instrumentModule(moduleOf(SectionId.Global, V8_LIMITS.globals - 1, global)), 'UNSUPPORTED', /globals/);
    expect(WebAssembly.validate(instrumentModule(moduleOf(SectionId.Global, V8_LIMITS.globals - 2, global)).bytes)).toBe(true);
  }, 60_000);

  it('checks element segments the same way', () => {
    expect(() => checkV8Limit('elemSegments', V8_LIMITS.elemSegments)).not.toThrow();
    expectCode(() => checkV8Limit('elemSegments', V8_LIMITS.elemSegments + 1), 'UNSUPPORTED', /elemSegments/);
  });
});
