// Stop-flag mode (stop-flag.ts), the wasmtime engine's: what the rewrite adds and where, the
// polls, the start function exported instead of run, and the indices that would reach the flag
// memory. Node 20's V8 cannot run these modules (no multi-memory); they run on wasmtime in
// src/engine/wasmtime/metered.test.ts and in the suites run on both engines.
import { beforeAll, describe, expect, it } from 'vitest';
import { instrumentModule } from './instrument.js';
import { readSections, SectionId, WasmReader } from './reader.js';
import { FLAGS_EXPORT, START_EXPORT } from './stop-flag.js';
import { wat, print, expectCode, SUM_SQUARES } from '../../../test/helpers/instrument-fixtures.js';

const stopFlag = { stopFlag: true } as const;

/** Section ids of `bytes`, in order (custom sections left out). */
const sectionIds = (bytes: Uint8Array): number[] => readSections(bytes).filter((s) => s.id !== SectionId.Custom).map((s) => s.id);

/** The vector length at the start of section `id` (0 when there is none). */
function count(bytes: Uint8Array, id: number): number {
  const s = readSections(bytes).find((x) => x.id === id);
  return s ? new WasmReader(bytes, s.start, s.end).u32() : 0;
}

const occurrences = (text: string, needle: string): number => text.split(needle).length - 1;

const bytes: Record<string, Uint8Array> = {};
beforeAll(async () => {
  for (const text of [
    '(module (memory 1) (func (drop (i32.load 1 (i32.const 0)))))',
    '(module (func (drop (memory.size))))',
    '(module (memory 1) (func (drop (memory.size 1))))',
    '(module (memory 1) (func (memory.fill 1 (i32.const 0) (i32.const 0) (i32.const 0))))',
    '(module (memory 1) (data (memory 1) (i32.const 0) "x"))',
    '(module (memory 1) (export "m" (memory 1)))',
    '(module (func (export "f") (call 1)))',
    '(module (func (export "f") (return_call 2)))',
  ]) bytes[text] = await wat(text);
  bytes.flags = await wat(`(module (memory (export "${FLAGS_EXPORT}") 1))`);
});

describe('stop-flag mode', () => {
  it('traps instead of calling a refuel hook, and polls at loop headers and the entries of functions that call', async () => {
    const input = await wat(`(module
      (memory 1)
      (func $leaf (result i32) (i32.const 1))
      (func $caller (export "caller") (result i32) (call $leaf) (call $spin) (i32.const 0) drop)
      (func $spin (loop $l (br $l)))
      ${SUM_SQUARES.slice('(module'.length, -1)})`);
    const out = instrumentModule(input, stopFlag);
    expect(out).toMatchObject({ fuelGlobalImported: true, refuelImported: false, stopFlag: true });
    const text = await print(out.bytes);
    // Loops: $spin's and sum's; calls: $caller only ($leaf is a small leaf, charged at the call).
    expect(out.stats.polls).toBe(out.stats.loops + 1);
    expect(occurrences(text, 'i32.atomic.load8_u 1')).toBe(out.stats.polls);
    // Imports: the fuel global only; the flag memory after the input's one, exported.
    expect(text).toContain('(import "agentos:limits" "fuel" (global (;0;) (mut i64)))');
    expect(text).not.toContain('refuel');
    expect(text).toContain('(memory (;1;) 1 1)');
    expect(text).toContain(`(export "${FLAGS_EXPORT}" (memory 1))`);
    // Every charge that can run out calls the fuel trap helper, then traps.
    expect(occurrences(text, 'unreachable')).toBeGreaterThan(out.stats.chargePoints);
  });

  it('exports the start function instead of running it, and adds the sections a bare module lacks', async () => {
    const out = instrumentModule(await wat('(module (func $init) (start $init))'), stopFlag);
    const text = await print(out.bytes);
    expect(sectionIds(out.bytes)).not.toContain(SectionId.Start);
    expect(text).toContain(`(export "${START_EXPORT}" (func 0))`);
    // The input's function, then the two trap helpers; a memory and exports it did not have.
    expect(count(out.bytes, SectionId.Function)).toBe(3);
    expect(count(out.bytes, SectionId.Code)).toBe(3);
    expect(count(out.bytes, SectionId.Memory)).toBe(1);

    const bare = instrumentModule(await wat('(module)'), stopFlag);
    expect(sectionIds(bare.bytes)).toEqual([SectionId.Type, SectionId.Import, SectionId.Function, SectionId.Memory, SectionId.Export, SectionId.Code]);
    expect(await print(bare.bytes)).toContain(`(export "${FLAGS_EXPORT}" (memory 0))`);
  });

  it('keeps the charges of the other modes: the same fuel figures on both engines', async () => {
    const input = await wat(SUM_SQUARES);
    const charges = (bytes: Uint8Array) => (async () => (await print(bytes)).match(/i64\.const \d+\n\s*i64\.sub/g)!.join())();
    const trapping = instrumentModule(input, { refuel: false });
    const flagged = instrumentModule(input, stopFlag);
    expect(flagged.stats).toMatchObject({ chargePoints: trapping.stats.chargePoints, loops: trapping.stats.loops, leafCalls: trapping.stats.leafCalls });
    expect(await charges(flagged.bytes)).toBe(await charges(trapping.bytes));
  });

  it('refuses indices that would name the flag memory or a trap helper, and the names it adds', async () => {
    // Each is invalid input, valid only if the index named something the input has.
    for (const text of [
      '(module (memory 1) (func (drop (i32.load 1 (i32.const 0)))))',
      '(module (func (drop (memory.size))))',
      '(module (memory 1) (func (drop (memory.size 1))))',
      '(module (memory 1) (func (memory.fill 1 (i32.const 0) (i32.const 0) (i32.const 0))))',
      '(module (memory 1) (data (memory 1) (i32.const 0) "x"))',
      '(module (memory 1) (export "m" (memory 1)))',
      '(module (func (export "f") (call 1)))',
      '(module (func (export "f") (return_call 2)))',
    ]) {
      expectCode(() => instrumentModule(bytes[text]!, stopFlag), 'COMPONENT_INVALID', /out of range/);
    }
    expectCode(() => instrumentModule(bytes.flags!, stopFlag), 'UNSUPPORTED', /adds/);
  });
});
