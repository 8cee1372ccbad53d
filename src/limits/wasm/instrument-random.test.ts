// Sub-region charging (regions.ts) on random structured programs, against an oracle that
// counts every instruction it runs.
import { describe, expect, it } from 'vitest';
import { instrumentModule, type InstrumentOptions } from './instrument.js';
import { WasmGlobal, type Fn, wat, print, outcome, sliced, whole } from '../../../test/helpers/instrument-fixtures.js';

/**
 * Random structured programs for the property test: four functions (`run`, exported, and
 * `leaf`, `tiny0` and `tiny1`, which `run` calls; the two tiny ones without loops or
 * exception handling, often small leaves that `run` charges at the call site), made of
 * stack-neutral statements: assignments, global updates,
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
  interface Ctx { labels: number; loops: number; tries: number; budget: number; calls: boolean; canLeave: boolean; tryOk: boolean }
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
        op(`call ${['$leaf', '$tiny0', '$tiny1'][rand(3)]}`);
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
        if (!nested || !c.tryOk) return op('nop');
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
    stmts({ labels: 1, loops: 0, tries: 0, budget: 12 + rand(20), calls: false, canLeave: false, tryOk: true }, 50);
    op('end');
  }, ['local.get $v0']);
  // No loops (the counters are taken), no try.
  const tiny = (name: string): Line[] => fn(`(func ${name} (param $p0 i32) (result i32) ${locals}`, ['local.get $p0', 'local.set $v0'], () => {
    blk();
    stmts({ labels: 1, loops: 3, tries: 0, budget: 1 + rand(8), calls: false, canLeave: false, tryOk: false }, 50);
    op('end');
  }, ['local.get $v0']);
  const tiny0 = tiny('$tiny0');
  const tiny1 = tiny('$tiny1');
  const run = fn(`(func $run (export "run") (param $p0 i32) (param $p1 i32) ${locals}`, ['local.get $p0', 'local.set $v0', 'local.get $p1', 'local.set $v1'], () => {
    stmts({ labels: 0, loops: 0, tries: 0, budget: 20 + rand(60), calls: true, canLeave: true, tryOk: true }, 100);
  }, []);
  const render = (count: boolean): string => {
    const parts = ['(module (tag $e) (global $g (export "g") (mut i32) (i32.const 0))'];
    if (count) parts.push('(global $cnt (export "cnt") (mut i64) (i64.const 0)) (global $blk (export "blk") (mut i64) (i64.const 0))');
    for (const f of [leaf, tiny0, tiny1, run]) {
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
  const NO_LEAF: InstrumentOptions = { leafInlineThreshold: 0 };
  const INPUTS = [[0, 0], [1, 2], [5, 3], [7, 7], [6, 1]] as const;

  /** The cost of the charge right after every `loop` (after the load of a catch-target loop), from the printed module. */
  const loopCharges = (printed: string): number[] =>
    [...printed.matchAll(/\bloop\b[^\n]*\n(?:\s*global\.get 0\n\s*local\.set \d+\n)?\s*(?:local|global)\.get \d+\n\s*i64\.const (-?\d+)\n\s*i64\.sub/g)].map((m) => Number(m[1]));

  it('charges exactly what runs, never more than whole regions, never an iteration for free', async () => {
    let fineRegions = 0;
    let leafCopies = 0;
    let leafCalls = 0;
    for (let seed = 1; seed <= 60; seed++) {
      const { plain, oracle } = randomProgram(seed * 7919);
      const bytes = await wat(plain);
      const counter = new WebAssembly.Instance(new WebAssembly.Module(await wat(oracle)), {}).exports as Record<string, Fn & WasmGlobal>;
      const reference = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as Record<string, Fn & WasmGlobal>;
      const variants = new Map<string, WebAssembly.Module>();
      const variantOptions = {
        exact: EXACT, exactGlobal: { ...EXACT, fuelLocal: false }, exactNoLeaf: { ...EXACT, ...NO_LEAF }, exactFree: EXACT_FREE,
        default: {}, defaultGlobal: { fuelLocal: false }, defaultNoLeaf: NO_LEAF, old: OLD,
      };
      for (const [name, options] of Object.entries(variantOptions)) {
        const out = instrumentModule(bytes, options);
        if (name === 'default') {
          fineRegions += out.stats.fineRegions;
          leafCopies += out.stats.leafCopies;
          leafCalls += out.stats.leafCalls;
        }
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
        expect(used.get('exactNoLeaf'), what).toBe(executed);
        expect(used.get('defaultNoLeaf'), what).toBe(used.get('default'));
        expect(used.get('exactFree'), what).toBe(executed - blocks);
        expect(used.get('defaultGlobal'), what).toBe(used.get('default'));
        expect(used.get('default'), what).toBeGreaterThanOrEqual(executed - blocks);
        expect(used.get('default'), what).toBeLessThanOrEqual(used.get('old')!);
        expect(used.get('old'), what).toBeGreaterThanOrEqual(executed);
        // Running out: the same trap and fuel left with the local, with the global alone, and
        // with small leaves charged at the call site or not.
        const total = used.get('default')!;
        for (const budget of [0, 1, total >> 2, total >> 1, (3 * total) >> 2, total - 1, total]) {
          const run = (e: Record<string, Fn>) => e.run!(a, b);
          const o = outcome(variants.get('default')!, BigInt(budget), run);
          expect(outcome(variants.get('defaultGlobal')!, BigInt(budget), run), `${what} budget ${budget}`).toEqual(o);
          expect(outcome(variants.get('defaultNoLeaf')!, BigInt(budget), run), `${what} budget ${budget}`).toEqual(o);
          if (budget < total) expect(o, `${what} budget ${budget}`).toMatchObject({ error: expect.stringMatching(/unreachable/) });
          expect(o.fuel < 0n, `${what} budget ${budget}`).toBe(budget < total);
        }
      }
    }
    expect(fineRegions).toBeGreaterThan(10); // the defaults split a fair share of these regions
    expect(leafCopies).toBeGreaterThan(30); // and find small leaves in many of them
    expect(leafCalls).toBeGreaterThan(leafCopies);
  }, 120_000);

  it('runs out at the same charge with the budget in slices as with all of it in the global', async () => {
    // The refuel hook (default) under a fuel slicer, against the scheme before it (refuel:
    // false, the whole budget in the global): same result or trap, same fuel used, exhaustion
    // reported alike, whatever the slice; try/catch_all in the programs catches none of it.
    for (let seed = 1; seed <= 30; seed++) {
      const bytes = await wat(randomProgram(seed * 104_729).plain);
      for (const options of [{}, { fuelLocal: false }, EXACT]) {
        const hooked = new WebAssembly.Module(instrumentModule(bytes, options).bytes);
        const trapping = new WebAssembly.Module(instrumentModule(bytes, { ...options, refuel: false }).bytes);
        for (const [a, b] of INPUTS) {
          const run = (e: Record<string, Fn>) => {
            e.run!(a, b);
            return (e.g as unknown as WasmGlobal).value;
          };
          const total = whole(trapping, BIG, run).used;
          for (const budget of [0, 1, total >> 2, total >> 1, total - 1, total, total + 1]) {
            const expected = whole(trapping, BigInt(budget), run);
            for (const slice of [1n, 3n, 17n, BigInt((total >> 3) + 1)]) {
              expect(sliced(hooked, BigInt(budget), slice, run), `seed ${seed} run(${a}, ${b}) budget ${budget} slice ${slice}`).toEqual(expected);
            }
          }
        }
      }
    }
  }, 120_000);
});
