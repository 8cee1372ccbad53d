/**
 * What stop-flag mode (`InstrumentOptions.stopFlag`) adds to a module, for the wasmtime engine
 * (`native/src/meter.rs` wires it into the component, `native/src/watch.rs` sets the flag):
 *
 *     (memory $flags 1 1)                       ;; after the input's memories: no index moves
 *     (export "agentos:flags" (memory $flags))
 *     (export "agentos:start" (func $start))    ;; the input's start function, no longer run by
 *                                               ;; instantiation (the host runs it after it has
 *                                               ;; registered the flag)
 *     (func $fuelTrap (type $void)              ;; after the defined functions, before the leaf
 *       (i32.store8 (memory $flags) (i32.const 1) (i32.const 1))     ;; copies: byte 1 = why
 *       (i64.store (memory $flags) (i32.const 8) (global.get $fuel))  ;; bytes 8..16 = fuel
 *       unreachable)
 *     (func $stopTrap (type $void) …the same with 2…)
 *
 * A charge that drives the fuel negative calls `$fuelTrap` where it would trap (after saving
 * the fuel local into the global), and every loop header (after its charge) and the entry of
 * every function that calls another (after its entry charge) polls
 *
 *     i32.const 0; i32.atomic.load8_u (memory $flags); if; [save]; call $stopTrap; unreachable; end
 *
 * The load is atomic because another thread sets the byte: the compiler may neither hoist it
 * out of a loop nor merge it with an earlier one. Nothing follows the calls but `unreachable`,
 * so no value is live across them and the loop's own code keeps its registers.
 *
 * The record lets the host tell its own traps from the guest's and report the fuel consumed at
 * them, without entering the component again (a trapped component instance cannot be entered).
 */
import type { ByteWriter } from './writer.js';

/** Export name of the flag memory. */
export const FLAGS_EXPORT = 'agentos:flags';
/** Export name of the input's start function. */
export const START_EXPORT = 'agentos:start';
/** Byte 1 of the flag record: why the rewrite's own code trapped. */
export const TRAP_FUEL = 1;
export const TRAP_STOPPED = 2;

/** Opcode bytes used below. */
const I32_CONST = 0x41;
const I32_STORE8 = 0x3a;
const I64_STORE = 0x37;
const GLOBAL_GET = 0x23;
const UNREACHABLE = 0x00;
const END = 0x0b;
const ATOMIC_PREFIX = 0xfe;
const I32_ATOMIC_LOAD8_U = 0x12;
/** memarg flag: a memory index follows the alignment (multi-memory). */
const MEMARG_MEMORY = 0x40;

/** Unsigned LEB128 of `v` (< 2^32). */
function leb(v: number): number[] {
  const out: number[] = [];
  do {
    const b = v % 0x80;
    v = Math.floor(v / 0x80);
    out.push(v > 0 ? b | 0x80 : b);
  } while (v > 0);
  return out;
}

/** A memarg naming memory `memory` explicitly: alignment exponent `align`, offset 0. */
function memarg(align: number, memory: number): number[] {
  return [align | MEMARG_MEMORY, ...leb(memory), 0x00];
}

/** `i32.const 0; i32.atomic.load8_u (memory $flags)`: the stop flag on the stack. */
export function pollLoad(memory: number): number[] {
  return [I32_CONST, 0x00, ATOMIC_PREFIX, I32_ATOMIC_LOAD8_U, ...memarg(0, memory)];
}

/** The memory entry `1 1`: one page that can neither grow nor move. */
export function writeFlagMemory(out: ByteWriter): void {
  out.u8(0x01); // a maximum follows
  out.u8(0x01);
  out.u8(0x01);
}

/** The export entries (`start`: the input's start function, or -1). */
export function writeFlagExports(out: ByteWriter, memory: number, start: number): void {
  out.name(FLAGS_EXPORT);
  out.u8(0x02); // memory
  out.u32(memory);
  if (start < 0) return;
  out.name(START_EXPORT);
  out.u8(0x00); // func
  out.u32(start);
}

/** The body (size prefix included) of a trap helper: record `kind` and the fuel global, trap. */
export function writeTrapHelper(out: ByteWriter, memory: number, fuelGlobal: number, kind: number): void {
  const body = [
    0x00, // no locals
    I32_CONST, 0x01, I32_CONST, kind, I32_STORE8, ...memarg(0, memory),
    I32_CONST, 0x08, GLOBAL_GET, ...leb(fuelGlobal), I64_STORE, ...memarg(3, memory),
    UNREACHABLE, END,
  ];
  out.u32(body.length);
  for (const b of body) out.u8(b);
}
