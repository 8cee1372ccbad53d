/**
 * What the rewrite adds to a module besides its charges: the fuel global and the refuel hook,
 * through which a charge that drives the fuel negative reaches the host without any function
 * index moving (a function import would shift every defined function, and with it every call,
 * export, table entry, `ref.func` and the start function).
 *
 * The module imports, after its own imports,
 *
 *     (import "agentos:limits" "fuel" (global $fuel (mut i64)))
 *     (import "agentos:limits" "refuel" (global $refuel funcref))
 *
 * (imported globals come first in the global index space, so defined globals move up by two;
 * by three with `(import "agentos:limits" "refused" (global (mut i64)))`, the count of grows the
 * caps refused, `InstrumentOptions.countGrowRefusals`)
 * and gets, each at the end of its index space, so that nothing else moves:
 *
 *     (type $void (func))                         ;; or the first such type it has already
 *     (table $hook 1 1 funcref)
 *     (elem (table $hook) (i32.const 0) funcref (global.get $refuel))
 *
 * A charge then calls `i32.const 0; call_indirect (type $void) (table $hook)` (`body.ts`). The
 * host's refuel function tops the fuel global up and returns, or traps (`src/limits/refuel.ts`):
 * a trap, unlike a JS exception thrown from an import, cannot be caught by the guest's own
 * exception handlers. The call sits on the charge's cold path (fuel negative), so a running
 * loop pays nothing for it but code size.
 *
 * The hook holds only if the guest cannot reach it: code, exports and element segments naming
 * a table or an element segment past the input's own are refused (`scan.ts`, `sections.ts`),
 * as global indices past the input's already are: in an invalid input they would name the
 * hook's and could, for example, `table.set` another function in place of the refuel one.
 *
 * Every addition must fit V8's limits (`wasm-limits.h`): a module already at one is refused
 * with `UNSUPPORTED` rather than rewritten into one that V8 will not compile.
 */
import type { ByteWriter } from './writer.js';
import { InstrumentError } from './errors.js';

/** Module name of the imports the rewrite adds. Guest modules may not import from it themselves. */
export const FUEL_IMPORT_MODULE = 'agentos:limits';
/** Field name of the fuel global import: `(import "agentos:limits" "fuel" (global (mut i64)))`. */
export const FUEL_IMPORT_FIELD = 'fuel';
/** Field name of the refuel function, imported as a global: `(import "agentos:limits" "refuel" (global funcref))`. */
export const REFUEL_IMPORT_FIELD = 'refuel';

/**
 * Field name of the grow-refusal counter: `(import "agentos:limits" "refused" (global (mut i64)))`
 * (`InstrumentOptions.countGrowRefusals`).
 */
export const REFUSED_IMPORT_FIELD = 'refused';
/** What a refused `table.grow` adds to the counter (a refused `memory.grow` adds 1). */
export const REFUSED_TABLE_UNIT = 2 ** 32;

/** V8's limits on what a module declares (`src/wasm/wasm-limits.h`; Node 20, checked there). */
export const V8_LIMITS = Object.freeze({
  types: 1_000_000,
  imports: 100_000,
  globals: 1_000_000,
  tables: 100_000,
  elemSegments: 10_000_000,
});

/** Refuse a module that would declare `count` of `what` after the rewrite, over V8's limit. */
export function checkV8Limit(what: keyof typeof V8_LIMITS, count: number): void {
  const limit = V8_LIMITS[what];
  if (count > limit) {
    throw new InstrumentError('UNSUPPORTED', `module cannot be metered: it declares too many ${what} to add the fuel hook's (${count} with it; V8 allows ${limit})`);
  }
}

/**
 * The import entries the rewrite appends: the fuel global, with `refuel` the refuel funcref
 * global, and with `refused` the grow-refusal counter.
 */
export function writeHookImports(out: ByteWriter, refuel: boolean, refused: boolean): void {
  out.name(FUEL_IMPORT_MODULE);
  out.name(FUEL_IMPORT_FIELD);
  out.u8(0x03); // global
  out.u8(0x7e); // i64
  out.u8(0x01); // mutable
  if (refuel) {
    out.name(FUEL_IMPORT_MODULE);
    out.name(REFUEL_IMPORT_FIELD);
    out.u8(0x03); // global
    out.u8(0x70); // funcref
    out.u8(0x00); // immutable: the guest cannot replace it (nor export a mutable alias)
  }
  if (refused) {
    out.name(FUEL_IMPORT_MODULE);
    out.name(REFUSED_IMPORT_FIELD);
    out.u8(0x03); // global
    out.u8(0x7e); // i64
    out.u8(0x01); // mutable
  }
}

/** The type entry `(func)`: no parameters, no results. */
export function writeVoidType(out: ByteWriter): void {
  out.u8(0x60);
  out.u8(0x00);
  out.u8(0x00);
}

/** The table entry `1 1 funcref`: one element, and it cannot grow. */
export function writeHookTable(out: ByteWriter): void {
  out.u8(0x70); // funcref
  out.u8(0x01); // a maximum follows
  out.u8(0x01);
  out.u8(0x01);
}

/** The element segment `(elem (table $table) (i32.const 0) funcref (global.get $refuel))`. */
export function writeHookSegment(out: ByteWriter, table: number, refuelGlobal: number): void {
  out.u8(0x06); // active, explicit table index, element expressions
  out.u32(table);
  out.u8(0x41); // i32.const 0
  out.u8(0x00);
  out.u8(0x0b); // end
  out.u8(0x70); // funcref
  out.u8(0x01); // one element
  out.u8(0x23); // global.get $refuel
  out.u32(refuelGlobal);
  out.u8(0x0b); // end
}
