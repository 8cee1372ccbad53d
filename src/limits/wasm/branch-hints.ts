/**
 * Branch hints for the refuel hook's cold paths: the `metadata.code.branch_hint` custom section
 * (the branch-hinting proposal) marking as unlikely every branch the rewrite adds towards the
 * refuel function. V8 does not know these branches are cold: with a call behind them (the
 * refuel call, which runs once per slice) its register allocator spills the values live across
 * that call on the hot path too, which cost up to 13% more instructions in the compute suite's
 * loops with several charges (nbody, sha). Marked unlikely, the call's block is deferred and the
 * spills move into it. V8 reads the section from Node 20 on behind
 * `--experimental-wasm-branch-hinting` (by default from V8 13.7); without the flag, and in
 * engines that ignore the section, it is inert.
 *
 * Written after the rewrite, from its output: the branches are recognized by what only the
 * rewrite emits — a call through the hook's table (the guest cannot name it: `hook.ts`) and
 * the fuel global (the guest cannot name it either):
 *
 * - `if` whose body starts `[local.get $f; global.set $fuel;] i32.const 0; call_indirect … $hook`;
 * - `br_if` after `global.get $fuel` or `local.tee`, then `i64.const 0; i64.lt_s` (the header
 *   charge of a loop whose refuel call is outside it, `loop-exit.ts`; a guest branch of that
 *   shape gets a harmless hint too).
 *
 * Offsets are relative to the start of each function body (its locals), as the proposal says.
 */
import * as opcodes from './opcodes.js';
import { ExternalKind, readSections, SectionId, WasmReader } from './reader.js';
import { ByteWriter } from './writer.js';

// Local copies: see the note in reader.ts (imports can be getters under test runners).
const Op: typeof opcodes.Op = { ...opcodes.Op };

/** The custom section's name. */
export const BRANCH_HINT_SECTION = 'metadata.code.branch_hint';

/** A branch hint's value: the branch is unlikely to be taken. */
const UNLIKELY = 0x00;

/**
 * `bytes` (a module the rewrite produced with the refuel hook) with a branch hint section before
 * its code section, and the number of hints; the bytes as they are when there is nothing to hint.
 *
 * @example
 * ```ts
 * const { bytes } = addBranchHints(instrumentModule(core).bytes);
 * ```
 */
export function addBranchHints(bytes: Uint8Array): { bytes: Uint8Array; hints: number } {
  const sections = readSections(bytes);
  let funcImports = 0;
  let globalImports = 0;
  let tables = 0;
  for (const s of sections) {
    const r = new WasmReader(bytes, s.start, s.end);
    if (s.id === SectionId.Import) {
      for (let n = r.u32(); n > 0; n--) {
        r.name();
        r.name();
        const kind = r.importDesc();
        if (kind === ExternalKind.Func) funcImports++;
        else if (kind === ExternalKind.Global) globalImports++;
        else if (kind === ExternalKind.Table) tables++;
      }
    } else if (s.id === SectionId.Table) {
      tables += r.u32();
    }
  }
  const code = sections.find((s) => s.id === SectionId.Code);
  // The fuel and refuel globals are the last imported globals; the hook's table is the last table.
  if (!code || globalImports < 2 || tables < 1) return { bytes, hints: 0 };
  const fuel = globalImports - 2;
  const table = tables - 1;

  const entries = new ByteWriter(1024);
  let functions = 0;
  let hints = 0;
  const offsets: number[] = [];
  const r = new WasmReader(bytes, code.start, code.end);
  const body = new WasmReader(bytes);
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const size = r.u32();
    const start = r.pos;
    body.pos = start;
    body.end = start + size;
    body.locals();
    offsets.length = 0;
    findBranches(body, start, fuel, table, offsets);
    if (offsets.length > 0) {
      entries.u32(funcImports + i);
      entries.u32(offsets.length);
      for (const off of offsets) {
        entries.u32(off);
        entries.u32(1); // the hint's size
        entries.u8(UNLIKELY);
      }
      functions++;
      hints += offsets.length;
    }
    r.pos = start + size;
  }
  if (hints === 0) return { bytes, hints: 0 };

  const section = new ByteWriter(entries.len + 64);
  section.u8(SectionId.Custom);
  const at = section.beginSized();
  section.name(BRANCH_HINT_SECTION);
  section.u32(functions);
  section.copy(entries.buf, 0, entries.len);
  section.endSized(at);
  const hintBytes = section.result();
  // Before the code section: engines compiling while they download need the hints first.
  let sizeBytes = 1;
  for (let v = code.end - code.start; v >= 0x80; v = Math.floor(v / 0x80)) sizeBytes++;
  const codeAt = code.start - 1 - sizeBytes;
  const out = new Uint8Array(bytes.length + hintBytes.length);
  out.set(bytes.subarray(0, codeAt), 0);
  out.set(hintBytes, codeAt);
  out.set(bytes.subarray(codeAt), codeAt + hintBytes.length);
  return { bytes: out, hints };
}

/**
 * The offsets (from `start`, the body's first byte) of the refuel branches in the instructions
 * `r.buf[r.pos..r.end)`, in order.
 */
function findBranches(r: WasmReader, start: number, fuel: number, table: number, offsets: number[]): void {
  const buf = r.buf;
  // The three instructions before the current one: opcode, where it starts, its index immediate.
  let op1 = -1;
  let op2 = -1;
  let op3 = -1;
  let at2 = 0;
  let index2 = -1;
  let index3 = -1;
  let at1 = 0;
  let index1 = -1;
  while (r.pos < r.end) {
    const at = r.pos;
    const op = r.readInstruction();
    if (op === Op.If) {
      if (buf[at + 1] === 0x40 && callsRefuel(r, fuel, table)) offsets.push(at - start);
    } else if (op === Op.BrIf && op1 === Op.I64LtS && op2 === Op.I64Const && at1 === at2 + 2 && buf[at2 + 1] === 0x00) {
      // `i64.const 0; i64.lt_s; br_if` after `global.get $fuel` or `local.tee`
      if ((op3 === Op.GlobalGet && index3 === fuel) || op3 === Op.LocalTee) offsets.push(at - start);
    }
    op3 = op2;
    index3 = index2;
    op2 = op1;
    at2 = at1;
    index2 = index1;
    op1 = op;
    at1 = at;
    index1 = op === Op.GlobalGet || op === Op.LocalTee ? r.index : -1;
  }
}

/** Whether the instructions at `r.pos` (just inside an `if`) are the refuel call, `r.pos` left unchanged. */
function callsRefuel(r: WasmReader, fuel: number, table: number): boolean {
  const pos = r.pos;
  try {
    let op = r.readInstruction();
    if (op === Op.LocalGet) {
      if (r.readInstruction() !== Op.GlobalSet || r.index !== fuel) return false;
      op = r.readInstruction();
    }
    if (op !== Op.I32Const || r.buf[r.pos - 1] !== 0x00) return false;
    return r.readInstruction() === Op.CallIndirect && r.index2 === table;
  } finally {
    r.pos = pos;
  }
}
