/**
 * Small leaves (`InstrumentOptions.leafInlineThreshold`): functions charged once at entry that
 * call nothing, so that a direct call can pay their cost at the call site and call an
 * unmetered copy instead. {@link findLeaves} finds them before the rewrite; the body scan
 * (`scan.ts`) records their direct calls, and the emit (`body.ts`) charges and redirects them.
 */
import * as opcodes from './opcodes.js';
import { WasmFormatError, WasmReader } from './reader.js';
import { InstrumentError } from './errors.js';
import { BodyScanner } from './scan.js';
import type { ResolvedOptions } from './options.js';

// Local copies: see the note in reader.ts (imports can be getters under test runners).
const Op: typeof opcodes.Op = { ...opcodes.Op };

/**
 * Whether a function's instructions `r.buf[r.pos..r.end)` (after its locals) may be a small
 * leaf: at most `limit` instructions, none of them a loop, a call of any kind, an exception
 * instruction or `unreachable` (whose trap should find the global as current as the callee's
 * own charge leaves it), and nothing after the final `end`. Reads at most `limit` + 1
 * instructions, so the check costs little even on a large module.
 */
function leafShaped(r: WasmReader, limit: number): boolean {
  let n = 0;
  let depth = 0;
  for (;;) {
    const op = r.readInstruction();
    if (++n > limit || NOT_IN_LEAF[op] === 1) return false;
    if (op === Op.Block || op === Op.If) {
      depth++;
    } else if (op === Op.End) {
      if (depth === 0) return r.pos === r.end;
      depth--;
    }
  }
}

/** Opcodes a small leaf may not contain (1): loop, calls, exception handling, unreachable. */
const NOT_IN_LEAF = new Uint8Array(256);
for (const op of [
  Op.Loop, Op.Call, Op.CallIndirect, Op.ReturnCall, Op.ReturnCallIndirect, 0x14, 0x15, // call_ref, return_call_ref
  Op.Try, Op.Catch, Op.CatchAll, Op.Delegate, Op.Throw, Op.Rethrow, Op.ThrowRef, Op.TryTable, Op.Unreachable,
]) NOT_IN_LEAF[op] = 1;

/**
 * The small leaves of a module (see `InstrumentOptions.leafInlineThreshold`): functions charged
 * once at entry that call nothing, so that a direct call can pay their cost at the call site and
 * call an unmetered copy instead. Each leaf has a slot (in function order); its copy gets an
 * index among the copies when the first call of it is redirected ({@link redirect}), so only
 * leaves actually called directly are copied, in the order their first call appears in the code.
 *
 * @example
 * ```ts
 * const leaves = findLeaves(input, code.start, code.end, opts); // before the function section is written
 * leaves.funcImports = importedFunctions;                       // before the code section is scanned
 * leaves.checkIndex(r, calleeIndex);                             // per call, return_call, ref.func
 * leaves.redirect(calleeIndex);                                  // per `call`: its slot, or -1
 * ```
 */
export class LeafTable {
  /** The number of imported functions: the index of the first defined one. Set before any {@link redirect}. */
  funcImports = 0;
  /** Functions the rewrite appends before the copies (stop-flag mode's trap helpers). */
  before = 0;
  /** Per defined function: its slot, or -1 when it is not a small leaf. */
  private readonly slotOf: Int32Array;
  /** Per slot: the defined function's index (not counting imports), its charge, its body's input range (locals included). */
  readonly func: number[] = [];
  readonly cost: number[] = [];
  readonly bodyStart: number[] = [];
  readonly bodyEnd: number[] = [];
  /** Per slot: the index of its copy among the copies, or -1 while none was needed. */
  private readonly copyOf: number[] = [];
  /** The slots of the copies, in copy order (the order they are appended to the module). */
  readonly copies: number[] = [];

  /**
   * `functions`: functions the module defines; `maxCopies`: how many copies fit under the cap
   * on defined functions (calls of further leaves are left as they are).
   */
  constructor(
    readonly functions: number,
    private readonly maxCopies: number,
  ) {
    this.slotOf = new Int32Array(functions).fill(-1);
  }

  get size(): number {
    return this.func.length;
  }

  add(func: number, cost: number, bodyStart: number, bodyEnd: number): void {
    this.slotOf[func] = this.func.length;
    this.func.push(func);
    this.cost.push(cost);
    this.bodyStart.push(bodyStart);
    this.bodyEnd.push(bodyEnd);
    this.copyOf.push(-1);
  }

  /**
   * A direct call of function `index` (in the whole function index space): the callee's slot if
   * the call is to be charged here and redirected to the callee's copy (created now if this is
   * its first such call), or -1 to leave the call alone.
   */
  redirect(index: number): number {
    const func = index - this.funcImports;
    if (func < 0 || func >= this.functions) return -1;
    const slot = this.slotOf[func]!;
    if (slot < 0) return -1;
    if (this.copyOf[slot]! < 0) {
      if (this.copies.length >= this.maxCopies) return -1;
      this.copyOf[slot] = this.copies.length;
      this.copies.push(slot);
    }
    return slot;
  }

  /**
   * Refuse function index `index` (of a `call`, `return_call` or `ref.func`) past the last
   * function of the input: the input is invalid, but with the copies appended the index would
   * name one, and the rewrite would "repair" the module into one that reaches an unmetered copy.
   * (`sections.ts` does the same for exports, the start function and element segments.)
   */
  checkIndex(r: WasmReader, index: number): void {
    if (index >= this.funcImports + this.functions) throw r.malformed(`function index ${index} out of range`);
  }

  /** The function index of the copy of `slot` (after every function of the input, and {@link before}). */
  copyIndex(slot: number): number {
    return this.funcImports + this.functions + this.before + this.copyOf[slot]!;
  }
}

/**
 * Find the small leaves among the bodies of the code section `input[start..end)`, before
 * anything else reads it (callers may come before their callees, and the function section,
 * which must list the copies, comes before the code). Each body is checked with
 * {@link leafShaped} and, if it passes, scanned like the rewrite will scan it, for its one
 * charge. Returns undefined when there are none, or when the section cannot be read: the
 * rewrite then refuses the module on its own, with its own error.
 */
export function findLeaves(input: Uint8Array, start: number, end: number, opts: ResolvedOptions): LeafTable | undefined {
  const limit = opts.leafInlineThreshold;
  try {
    const r = new WasmReader(input, start, end);
    const count = r.u32();
    if (count > opts.limits.maxFunctions) return undefined;
    const table = new LeafTable(count, opts.limits.maxFunctions - count);
    // Indices only matter for the rewrite, which checks them: accept any here.
    const scanner = new BodyScanner(0, { globals: 2 ** 32, globalShift: 0, tables: 2 ** 32, elemSegments: 2 ** 32, functions: 2 ** 32, types: 2 ** 32 }, opts);
    const body = new WasmReader(input);
    for (let i = 0; i < count; i++) {
      const size = r.u32();
      body.pos = r.pos;
      body.end = r.pos + size;
      if (body.end > r.end) return undefined;
      body.locals();
      const code = body.pos;
      if (leafShaped(body, limit)) {
        body.pos = code;
        scanner.scanFunction(body);
        // One charge: the entry's (its sub-regions, if the body is over fineFunctionThreshold,
        // all merged into it or dead).
        const cost = scanner.events[2]!;
        // Not a function with a grow whose refusal is counted: the copy would not count it.
        if (scanner.entryCharges === 0 && cost > 0 && scanner.grows === 0) table.add(i, cost, r.pos, body.end);
      }
      r.pos = body.end;
    }
    return table.size > 0 ? table : undefined;
  } catch (e) {
    if (e instanceof WasmFormatError || e instanceof InstrumentError) return undefined;
    throw e;
  }
}
