// Large regions charged per sub-region (regions.ts), on a hand-counted interpreter loop.
import { describe, expect, it } from 'vitest';
import { instrumentModule, type InstrumentOptions } from './instrument.js';
import { wat, load, moduleWithBody, SUM_SQUARES, EXITS, afterExhaustion, outcome } from '../../../test/helpers/instrument-fixtures.js';

/**
 * An interpreter-shaped big loop: each iteration reads an opcode at `pc` and br_tables into one
 * of four handlers. Its region has 88 instructions (more than the default threshold of 64), so
 * it is charged per sub-region. Counted by hand; `block` is free there (fineFreeBlocks):
 * - H, the header: local.get, i32.load8_u, br_table = 3 (+ 5 blocks when blocks count);
 * - A, op0 (after `end` of $op0): local.get, i32.const, i32.add, local.set, br = 5;
 * - B, op1 up to its if: local.get, i32.const, i32.and, if = 4; T, the then arm: 6 + else = 7;
 *   E, the else arm: 8 + end = 9; J, after the if: br = 1, reached only from the ends of T and
 *   E, so charged with each of them (no charge of its own);
 * - C, op2: 40 nops, br = 41; D, halt: local.get, return = 2; N, next: 4 + br = 5.
 * The `end`s after a br or br_table are never reached by falling through, so never charged.
 * Entry region (charged whole, under the threshold): loop, unreachable, end = 3.
 */
const INTERP = `(module (memory (export "mem") 1)
  (func (export "run") (param $pc i32) (result i32) (local $acc i32)
    loop $dispatch
      block $next
        block $halt
          block $op2
            block $op1
              block $op0
                local.get $pc
                i32.load8_u
                br_table $op0 $op1 $op2 $halt
              end
              local.get $acc
              i32.const 7
              i32.add
              local.set $acc
              br $next
            end
            local.get $acc
            i32.const 1
            i32.and
            if
              local.get $acc
              i32.const 3
              i32.mul
              i32.const 1
              i32.add
              local.set $acc
            else
              local.get $acc
              i32.const 1
              i32.shr_u
              local.set $acc
              nop
              nop
              nop
              nop
            end
            br $next
          end
          ${'nop\n'.repeat(40)}
          br $next
        end
        local.get $acc
        return
      end
      local.get $pc
      i32.const 1
      i32.add
      local.set $pc
      br $dispatch
    end
    unreachable))`;

/** Per-opcode charges of INTERP (see above), in the order they are made. */
const OPS = { H: 3, A: 5, B: 4, T: 7, E: 9, J: 1, C: 41, D: 2, N: 5, ENTRY: 3, REGION: 88 };
const PATH = {
  op0: [OPS.H, OPS.A, OPS.N],
  op1odd: [OPS.H, OPS.B, OPS.T + OPS.J, OPS.N],
  op1even: [OPS.H, OPS.B, OPS.E + OPS.J, OPS.N],
  op2: [OPS.H, OPS.C, OPS.N],
  halt: [OPS.H, OPS.D],
};
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/** Compile INTERP with `options`; `run(program, budget)` runs a program of opcodes on a fresh instance. */
async function interp(options: InstrumentOptions = {}) {
  const out = instrumentModule(await wat(INTERP), options);
  const module = new WebAssembly.Module(out.bytes);
  const run = (program: number[], budget: bigint) =>
    outcome(module, budget, (e) => {
      new Uint8Array((e.mem as unknown as WebAssembly.Memory).buffer).set(program, 0);
      return e.run!(0);
    });
  return { out, run };
}

describe('charging large loops per sub-region', () => {
  const BIG = 1n << 40n;

  it('charges an interpreter loop the instructions each path executes, per iteration', async () => {
    const { out, run } = await interp();
    expect(out.stats).toMatchObject({ functions: 1, loops: 1, fineRegions: 1, chargePoints: 9 });
    const used = (program: number[], result: number) => {
      const o = run(program, BIG);
      expect(o.result, program.join()).toBe(result);
      return Number(BIG - o.fuel);
    };
    expect(used([0, 3], 7)).toBe(OPS.ENTRY + sum(PATH.op0) + sum(PATH.halt)); // 21
    expect(used([1, 3], 0)).toBe(OPS.ENTRY + sum(PATH.op1even) + sum(PATH.halt)); // 30
    expect(used([0, 1, 3], 22)).toBe(OPS.ENTRY + sum(PATH.op0) + sum(PATH.op1odd) + sum(PATH.halt)); // 41
    expect(used([2, 3], 0)).toBe(OPS.ENTRY + sum(PATH.op2) + sum(PATH.halt)); // 57
    expect(used([0, 1, 2, 0, 3], 29)).toBe(3 + 13 + 20 + 49 + 13 + 5);
    // Each path its own amount; charged whole, every iteration cost the whole region.
    expect(new Set([PATH.op0, PATH.op1odd, PATH.op1even, PATH.op2, PATH.halt].map(sum)).size).toBe(5);
    const whole = await interp({ fineLoopThreshold: Infinity });
    expect(whole.out.stats).toMatchObject({ fineRegions: 0, chargePoints: 2 });
    expect(Number(BIG - whole.run([0, 1, 2, 0, 3], BIG).fuel)).toBe(OPS.ENTRY + 5 * OPS.REGION);
    // fineFreeBlocks: false counts the five blocks opened at the top of every iteration.
    const blocks = await interp({ fineFreeBlocks: false });
    expect(Number(BIG - blocks.run([0, 1, 2, 0, 3], BIG).fuel)).toBe(3 + 13 + 20 + 49 + 13 + 5 + 5 * 5);
  });

  it('runs out of fuel inside the loop, at the charge of the handler, in every mode', async () => {
    const program = [...Array<number>(20).fill(2), 0, 1, 1, 3];
    const sequence = [OPS.ENTRY, ...Array.from({ length: 20 }, () => PATH.op2).flat(), ...PATH.op0, ...PATH.op1odd, ...PATH.op1even, ...PATH.halt];
    const total = sum(sequence);
    const local = await interp();
    const global = await interp({ fuelLocal: false });
    for (let budget = 0; budget <= total + 1; budget++) {
      const o = local.run(program, BigInt(budget));
      expect(global.run(program, BigInt(budget)), `budget ${budget}`).toEqual(o);
      if (budget >= total) {
        expect(o, `budget ${budget}`).toEqual({ result: 11, fuel: BigInt(budget - total) });
      } else {
        expect(o, `budget ${budget}`).toEqual({ error: expect.stringMatching(/unreachable/), fuel: afterExhaustion(BigInt(budget), sequence) });
      }
    }
    // An endless program (opcode 2 everywhere, then pc runs on) traps on fuel, not on memory.
    const endless = local.run(Array<number>(65536).fill(2), 100_000n);
    expect(endless.error).toMatch(/unreachable/);
    expect(endless.fuel).toBeLessThan(0n);
  });

  it('charges a small arm with the sub-region before it (fineMerge), never less than executed', async () => {
    // Entry region of 15 (> fineFunctionThreshold 8): local.get, if, i32.const, else, 8 nops,
    // i32.const, end, end.
    const text = `(module (func (export "f") (param i32) (result i32)
      local.get 0
      if (result i32)
        i32.const 1
      else
        ${'nop\n'.repeat(8)}
        i32.const 2
      end))`;
    const fuel = async (options: InstrumentOptions, arg: number) => {
      const { exports, fuel: g } = await load(text, BIG, { fineFunctionThreshold: 8, ...options }, {});
      exports.f!(arg);
      return Number(BIG - (g.value as bigint));
    };
    // Sub-regions: entry (local.get, if) 2; then (i32.const, else) 2; else (8 nops, i32.const, end) 10;
    // after the if: the final end 1 (charged with the arms, or on its own when an arm merged).
    expect(await fuel({ fineMerge: 0 }, 1)).toBe(2 + 2 + 1);
    expect(await fuel({ fineMerge: 0 }, 0)).toBe(2 + 10 + 1);
    // Merged (default 4): the then arm is charged at entry, also when the else arm runs.
    expect(await fuel({}, 1)).toBe(2 + 2 + 1);
    expect(await fuel({}, 0)).toBe(2 + 2 + 10 + 1);
    // Whole: 15 either way.
    expect(await fuel({ fineFunctionThreshold: Infinity }, 0)).toBe(15);
    // One charge absorbs at most fineMerge: of four nested then arms (local.get, if = 2 each),
    // the entry takes the first two; the third is charged apart (and takes the innermost).
    // Not taken, the path runs entry 2 + the final end 1 = 3, and is charged 3 + 4.
    const nested = `(module (func (export "f") (param i32)
      local.get 0 if local.get 0 if local.get 0 if local.get 0 if nop end end end end))`;
    const charged = async (options: InstrumentOptions, arg: number) => {
      const { exports, fuel: g } = await load(nested, BIG, { fineFunctionThreshold: 0, ...options }, {});
      exports.f!(arg);
      return Number(BIG - (g.value as bigint));
    };
    expect(await charged({ fineMerge: 0 }, 0)).toBe(3);
    expect(await charged({}, 0)).toBe(3 + 4);
    expect(await charged({ fineMerge: 0 }, 1)).toBe(await charged({}, 1));
  });

  it('leaves modules with only small loops and small functions byte for byte as before', async () => {
    // block; loop; i32.const 0; if; nop; else; nop; end; block; i32.const 1; br_table 0 1; end;
    // i32.const 0; br_if 0; end; end; end. Expected: the instrumenter's output before sub-regions.
    const body = [0x02, 0x40, 0x03, 0x40, 0x41, 0x00, 0x04, 0x40, 0x01, 0x05, 0x01, 0x0b, 0x02, 0x40, 0x41, 0x01, 0x0e, 0x01, 0x00, 0x01, 0x0b, 0x41, 0x00, 0x0d, 0x00, 0x0b, 0x0b, 0x0b];
    // Without the refuel hook: the charges trap on the spot (`unreachable`).
    const head = '0061736d010000000104016000000218010e6167656e746f733a6c696d697473046675656c037e01030201000a';
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    expect(hex(instrumentModule(moduleWithBody(body), { refuel: false }).bytes)).toBe(
      head + '49014701017e230042047d2200420053044020002400000b024003402000420d7d2200420053044020002400000b410004400105010b024041010e0100010b41000d000b0b200024000b',
    );
    expect(hex(instrumentModule(moduleWithBody(body), { fuelLocal: false, refuel: false }).bytes)).toBe(
      head + '3f013d00230042047d240023004200530440000b024003402300420d7d240023004200530440000b410004400105010b024041010e0100010b41000d000b0b0b',
    );
    // With it: the refuel import, table and segment (the type `(func)` is reused); the entry
    // charge calls `i32.const 0; call_indirect (type 0) (table 0)` (41 00 11 00 00) and reloads
    // the local (23 00 21 00); the loop (small, no calls) is wrapped (02 40 02 40 03 40 02 40:
    // block, block, loop, block), its charge leaves it (0d 01: br_if 1) for the slow path after
    // it (0c 02 0b: br 2, end; save, call, reload + 13 (42 0d 7c); 0c 00 0b 0b: br 0, end, end).
    const hooked =
      '0061736d010000000104016000000231020e6167656e746f733a6c696d697473046675656c037e010e6167656e746f733a6c696d6974730672656675656c0370000302010004050170010101090b01060041000b700123010b0a';
    expect(hex(instrumentModule(moduleWithBody(body), { branchHints: false }).bytes)).toBe(
      hooked + '68016601017e230042047d22004200530440200024004100110000230021000b024002400340024003402000420d7d22004200530d01410004400105010b024041010e0100010b41000d000b0c020b2000240041001100002300420d7c21000c000b0b0b200024000b',
    );
    expect(hex(instrumentModule(moduleWithBody(body), { fuelLocal: false, branchHints: false }).bytes)).toBe(
      hooked + '5a015800230042047d24002300420053044041001100000b024002400340024003402300420d7d240023004200530d01410004400105010b024041010e0100010b41000d000b0c020b41001100002300420d7c24000c000b0b0b0b',
    );
    const off = { fineLoopThreshold: Infinity, fineFunctionThreshold: Infinity };
    for (const text of [EXITS, SUM_SQUARES]) {
      const bytes = await wat(text);
      const out = instrumentModule(bytes);
      expect(out.stats.fineRegions).toBe(0);
      expect(hex(out.bytes)).toBe(hex(instrumentModule(bytes, off).bytes));
    }
  });

  it('refuses bad thresholds', () => {
    const m = moduleWithBody([0x0b]);
    for (const bad of [{ fineLoopThreshold: -1 }, { fineFunctionThreshold: 1.5 }, { fineMerge: Infinity }, { fineLoopThreshold: Number.NaN }]) {
      expect(() => instrumentModule(m, bad)).toThrow(RangeError);
    }
    expect(WebAssembly.validate(instrumentModule(m, { fineLoopThreshold: 0, fineFunctionThreshold: 0, fineMerge: 0 }).bytes)).toBe(true);
  });
});
