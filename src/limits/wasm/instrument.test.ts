// The instrumenter end to end: metering basics, every instruction family round-tripped,
// refusals, and the real components. The other instrument-*.test.ts files cover the fuel
// local, sub-region charging and the caps; shared fixtures are in test/helpers/instrument-fixtures.ts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { enableWasmFeatures } from '../../engine/jco/wasm-features.js';
import { InstrumentError, instrumentModule } from './instrument.js';
import { type Fn, jco, wat, print, load, fuelUsed, moduleWithBody, expectCode, SUM_SQUARES } from '../../../test/helpers/instrument-fixtures.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

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

  it('instruments every core module of the fixtures and examples', async () => {
    enableWasmFeatures(); // CPython (pyprobe, the python example) uses extended-const
    expect(components.length, 'the global setup builds the fixtures').toBeGreaterThan(0);
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
    it(`instruments the StarlingMonkey engine module of ${rel} in under 2 s`, async () => {
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
