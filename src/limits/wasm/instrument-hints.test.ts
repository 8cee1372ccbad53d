// Branch hints (branch-hints.ts): every branch towards the refuel function marked unlikely,
// at the right offsets, and nothing else changed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BRANCH_HINT_SECTION, instrumentModule } from './instrument.js';
import { readSections, SectionId, WasmReader } from './reader.js';
import { EXITS, SUM_SQUARES, wat, print } from '../../../test/helpers/instrument-fixtures.js';

/** The hints of `bytes`: per function index, the opcode byte each hint points at. */
function hintedOpcodes(bytes: Uint8Array): Map<number, number[]> {
  const sections = readSections(bytes);
  const hints = sections.filter((s) => s.name === BRANCH_HINT_SECTION);
  expect(hints).toHaveLength(1);
  // Before the code section.
  expect(sections.indexOf(hints[0]!)).toBeLessThan(sections.findIndex((s) => s.id === SectionId.Code));
  const r = new WasmReader(bytes, hints[0]!.start, hints[0]!.end);
  r.name();
  const code = sections.find((s) => s.id === SectionId.Code)!;
  const bodies: number[] = [];
  const c = new WasmReader(bytes, code.start, code.end);
  for (let n = c.u32(); n > 0; n--) {
    const size = c.u32();
    bodies.push(c.pos);
    c.pos += size;
  }
  const imported = WebAssembly.Module.imports(new WebAssembly.Module(bytes)).filter((i) => i.kind === 'function').length;
  const out = new Map<number, number[]>();
  let last = -1;
  for (let n = r.u32(); n > 0; n--) {
    const func = r.u32();
    expect(func).toBeGreaterThan(last); // in function order
    last = func;
    const ops: number[] = [];
    let prev = -1;
    for (let k = r.u32(); k > 0; k--) {
      const off = r.u32();
      expect(off).toBeGreaterThan(prev); // in offset order
      prev = off;
      expect(r.u32()).toBe(1);
      expect(r.u8()).toBe(0); // unlikely
      ops.push(bytes[bodies[func - imported]! + off]!);
    }
    out.set(func, ops);
  }
  return out;
}

describe('branch hints', () => {
  it('mark every branch towards the refuel function unlikely, and only those', async () => {
    for (const text of [SUM_SQUARES, EXITS]) {
      const out = instrumentModule(await wat(text));
      const ops = [...hintedOpcodes(out.bytes).values()].flat();
      expect(ops.length).toBe(out.branchHints);
      for (const op of ops) expect([0x04, 0x0d]).toContain(op); // if, br_if
      // One per refuel call: the `if`s calling it, and the exits of the loops that call it outside.
      const printed = await print(out.bytes);
      const calls = printed.match(/i32\.const 0\n\s*call_indirect[^\n]*\n/g)?.length ?? 0; // the guest's own call_indirect takes another index
      expect(out.branchHints).toBe(calls);
      expect(printed.match(/@metadata\.code\.branch_hint "\\00"\)\n\s*(if|br_if 1)/g)).toHaveLength(calls);
    }
    // SUM_SQUARES: the entry charge's if, and its loop's exit.
    expect(instrumentModule(await wat(SUM_SQUARES)).branchHints).toBe(2);
  });

  it('are left out with branchHints: false, without the hook, and replace stale ones', async () => {
    const bytes = await wat(SUM_SQUARES);
    const plain = instrumentModule(bytes, { branchHints: false });
    expect(plain.branchHints).toBeUndefined();
    expect(readSections(plain.bytes).some((s) => s.name === BRANCH_HINT_SECTION)).toBe(false);
    expect(readSections(instrumentModule(bytes, { refuel: false }).bytes).some((s) => s.name === BRANCH_HINT_SECTION)).toBe(false);
    // Everything but the hint section is the same.
    const hinted = instrumentModule(bytes);
    const without = hinted.bytes.filter(() => true);
    const section = readSections(hinted.bytes).find((s) => s.name === BRANCH_HINT_SECTION)!;
    const header = 1 + (section.end - section.start < 0x80 ? 1 : 2);
    expect(Uint8Array.from([...without.subarray(0, section.start - header), ...without.subarray(section.end)])).toEqual(plain.bytes);
    // The input's own hints point into code the rewrite moved: dropped, ours written instead.
    const stale = await wat(SUM_SQUARES.replace('(br_if $done', '(@metadata.code.branch_hint "\\01") (br_if $done'));
    expect(readSections(stale).some((s) => s.name === BRANCH_HINT_SECTION)).toBe(true);
    hintedOpcodes(instrumentModule(stale).bytes);
  });

  it('compile and run the same under V8 with branch hinting on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hints-'));
    try {
      const file = join(dir, 'sum.wasm');
      writeFileSync(file, instrumentModule(await wat(SUM_SQUARES)).bytes);
      const script = `
        const bytes = require('fs').readFileSync(${JSON.stringify(file)});
        const fuel = new WebAssembly.Global({ value: 'i64', mutable: true }, 1n << 40n);
        const tramp = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([0,97,115,109,1,0,0,0,1,4,1,96,0,0,3,2,1,0,7,5,1,1,114,0,0,10,4,1,2,0,11])));
        const refuel = new WebAssembly.Global({ value: 'anyfunc', mutable: false }, tramp.exports.r);
        const e = new WebAssembly.Instance(new WebAssembly.Module(bytes), { 'agentos:limits': { fuel, refuel } }).exports;
        process.stdout.write(String(e.sum(10)) + ' ' + String((1n << 40n) - fuel.value));`;
      const out = execFileSync(process.execPath, ['--experimental-wasm-branch-hinting', '-e', script], { encoding: 'utf8' });
      expect(out).toBe(`285 ${5 + 16 * 11}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
