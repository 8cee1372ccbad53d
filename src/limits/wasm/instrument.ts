/**
 * Fuel metering and resource caps for untrusted core WebAssembly modules: the public entry
 * point. Import everything from here; the other modules of this directory are its parts.
 *
 * V8 has no instruction counter, so every core module of a component is rewritten before
 * `WebAssembly.compile`: a mutable i64 global imported from `agentos:limits` holds the
 * remaining fuel, and each function entry and each loop iteration subtracts the static
 * instruction count of its region and, once the fuel is negative, calls the host's refuel
 * function (a funcref global imported beside it), which tops the fuel up or traps: the host
 * can hand the budget out in slices and stop a guest between two of them without
 * terminating its thread (`src/limits/refuel.ts`). With `refuel: false` the charge traps
 * (`unreachable`) on the spot instead.
 * Every unbounded execution goes through a loop back-edge or a call, so it always passes a
 * charge point. A direct call of a small leaf function (no loops, no calls) is charged the
 * leaf's cost at the call site and goes to an unmetered copy of the leaf instead. Defined memories and tables get their maximum capped, so `memory.grow` and
 * `table.grow` fail (-1) instead of exceeding the budget.
 *
 * The rewrite is one pass over the sections; function bodies are scanned once (recording
 * where charges, saves and loads go and which global indices move) and then copied span by
 * span, so the output uses minimal LEB128 encodings. Anything that cannot be decoded with
 * certainty is refused: emitting an instruction stream we mis-read could leave a loop
 * unmetered. The parts:
 *
 * - `options.ts`: options, defaults, result types; `errors.ts`: {@link InstrumentError};
 * - `sections.ts`: the section-level rewrite (the added imports and sections, memory and table
 *   caps, validation caps, custom sections); `segments.ts`: index spaces, the global index
 *   shift and the entries outside code that name indices; `hook.ts`: what is added for the
 *   fuel and the refuel function, and V8's limits;
 * - `body.ts`: the per-function rewrite, and how the counter is kept in a local inside
 *   functions with loops (saves and loads); small leaves charged at the call site;
 *   `sequences.ts`: what it inserts; `loop-exit.ts`: small loops whose refuel call is put
 *   outside them, so that V8 still unrolls them; `branch-hints.ts`: the refuel branches marked
 *   unlikely;
 * - `scan.ts`: the walk over one body that records where everything goes; `leaves.ts`: the
 *   search for small leaves;
 * - `regions.ts`: regions and sub-regions, where charges go in large regions and what each
 *   costs;
 * - `reader.ts`, `opcodes.ts`: decoding; `writer.ts`: encoding.
 */
import { WasmFormatError } from './reader.js';
import { InstrumentError } from './errors.js';
import { resolveOptions, type InstrumentOptions, type InstrumentResult } from './options.js';
import { ModuleRewriter } from './sections.js';
import { addBranchHints } from './branch-hints.js';

export { InstrumentError, type InstrumentErrorCode } from './errors.js';
export {
  DEFAULT_EXIT_LOOP_THRESHOLD,
  DEFAULT_FINE_FUNCTION_THRESHOLD,
  DEFAULT_FINE_LOOP_THRESHOLD,
  DEFAULT_FINE_MERGE,
  DEFAULT_INSTRUMENT_LIMITS,
  DEFAULT_LEAF_INLINE_THRESHOLD,
  type InstrumentLimits,
  type InstrumentOptions,
  type InstrumentResult,
  type InstrumentStats,
  type MemoryStats,
} from './options.js';
export { FUEL_IMPORT_FIELD, FUEL_IMPORT_MODULE, REFUEL_IMPORT_FIELD, REFUSED_IMPORT_FIELD, REFUSED_TABLE_UNIT, V8_LIMITS } from './hook.js';
export { BRANCH_HINT_SECTION } from './branch-hints.js';

/**
 * Meter and cap one core module. Throws {@link InstrumentError} instead of ever returning
 * code it could not meter.
 *
 * @example
 * ```ts
 * const { bytes: metered } = instrumentModule(coreBytes, { maxMemoryPages: 1024 });
 * const slicer = createFuelSlicer({ budget: 1_000_000n, check: () => !cancelled }); // src/limits/refuel.ts
 * const instance = new WebAssembly.Instance(new WebAssembly.Module(metered), {
 *   ...otherImports, ...slicer.imports, // agentos:limits: { fuel, refuel, refused }
 * });
 * // After a trap: slicer.exhausted() means the fuel ran out, slicer.stopped() that check() said stop.
 * ```
 */
export function instrumentModule(bytes: Uint8Array, options: InstrumentOptions = {}): InstrumentResult {
  const resolved = resolveOptions(options);
  if (bytes.length > resolved.limits.maxModuleBytes) {
    throw new InstrumentError('COMPONENT_INVALID', `module is ${bytes.length} bytes; the limit is ${resolved.limits.maxModuleBytes}`);
  }
  try {
    const result = new ModuleRewriter(bytes, resolved).run();
    if (!result.refuelImported || options.branchHints === false) return result;
    const hinted = addBranchHints(result.bytes);
    return { ...result, bytes: hinted.bytes, branchHints: hinted.hints };
  } catch (e) {
    if (!(e instanceof WasmFormatError)) throw e;
    const code = e.kind === 'unsupported' ? 'UNSUPPORTED' : 'COMPONENT_INVALID';
    const what = e.kind === 'unsupported' ? 'cannot be metered' : 'is malformed';
    throw new InstrumentError(code, `WebAssembly module ${what}: ${e.message}`, { cause: e });
  }
}
