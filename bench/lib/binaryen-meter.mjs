/**
 * A second implementation of our fuel-metering scheme, on binaryen's IR, as the benchmark's
 * baseline for `instrumentModule` (src/limits/wasm/instrument.ts).
 *
 * The scheme is the same: the module imports one mutable i64 global
 * `(import "agentos:limits" "fuel" (global (mut i64)))`; every defined function charges at
 * its entry, every loop at the start of its body (so once per iteration), and a charge is
 *
 *     (global.set $fuel (i64.sub (global.get $fuel) (i64.const cost)))
 *     (if (i64.lt_s (global.get $fuel) (i64.const 0)) (then unreachable))
 *
 * where `cost` is the static size of the region the charge point starts: the function body
 * without the bodies of its loops, or a loop body without the bodies of its inner loops (a
 * loop node itself belongs to the enclosing region). The inserted code is not charged.
 *
 * How it differs from ours:
 * - Cost unit. Ours counts wasm instructions as they appear in the binary (including `end`,
 *   `else`, `block`, `nop`); here the unit is binaryen expression nodes: `end`/`else` do not
 *   exist, an `if` arm of several instructions is one extra Block node, stacky code binaryen
 *   cannot express as a tree is rewritten through scratch locals (more nodes), and code
 *   after an `unreachable` that binaryen drops while reading is not counted. The totals are
 *   close but not equal; the benchmark prints both per run.
 * - Where the counter lives. This version charges the global directly at every charge
 *   point (two global.get and one global.set each). Ours keeps the counter in a local and
 *   syncs it with the global around calls, returns and traps (see instrument.ts).
 * - What is emitted. Binaryen parses the module into its IR and writes it back out: locals
 *   are regrouped by type, blocks it considers redundant disappear, unreachable code is
 *   dropped, custom sections it does not know are dropped (no debug info here). Ours copies
 *   every byte it does not change. No optimization pass runs unless `optimize` is given
 *   (then binaryen's default pipeline at that level, after instrumenting: a reference point,
 *   not the same thing as the uninstrumented or our module).
 *
 * The walk uses binaryen's per-kind accessors (`binaryen.Block.getChildAt`,
 * `binaryen.If.getIfTrue`, …): `binaryen.getExpressionInfo` gives the same children but builds
 * an object with every field for every node, which is several times slower on a 15 MB module.
 * Expression kinds with children that the JS API cannot reach (e.g. `try_table`,
 * `table.fill`) are refused rather than walked past: a loop under them would go unmetered.
 */
import binaryen from 'binaryen';

export const FUEL_MODULE = 'agentos:limits';
export const FUEL_FIELD = 'fuel';
export const REFUEL_FIELD = 'refuel';

// Children of every expression kind, as accessor lists: `[getter]` for one child (a 0 ref
// means absent, e.g. a `br` without a value), `[count, at]` for a list of children.
const B = binaryen;
const one = (...getters) => getters.map((g) => ({ g }));
const many = (count, at) => [{ count, at }];
const CHILDREN = new Map([
  [B.BlockId, many(B.Block.getNumChildren, B.Block.getChildAt)],
  [B.IfId, one(B.If.getCondition, B.If.getIfTrue, B.If.getIfFalse)],
  [B.LoopId, one(B.Loop.getBody)],
  [B.BreakId, one(B.Break.getValue, B.Break.getCondition)],
  [B.SwitchId, one(B.Switch.getValue, B.Switch.getCondition)],
  [B.CallId, many(B.Call.getNumOperands, B.Call.getOperandAt)],
  [B.CallIndirectId, [...many(B.CallIndirect.getNumOperands, B.CallIndirect.getOperandAt), ...one(B.CallIndirect.getTarget)]],
  [B.LocalGetId, []],
  [B.LocalSetId, one(B.LocalSet.getValue)],
  [B.GlobalGetId, []],
  [B.GlobalSetId, one(B.GlobalSet.getValue)],
  [B.LoadId, one(B.Load.getPtr)],
  [B.StoreId, one(B.Store.getPtr, B.Store.getValue)],
  [B.ConstId, []],
  [B.UnaryId, one(B.Unary.getValue)],
  [B.BinaryId, one(B.Binary.getLeft, B.Binary.getRight)],
  [B.SelectId, one(B.Select.getIfTrue, B.Select.getIfFalse, B.Select.getCondition)],
  [B.DropId, one(B.Drop.getValue)],
  [B.ReturnId, one(B.Return.getValue)],
  [B.MemorySizeId, []],
  [B.MemoryGrowId, one(B.MemoryGrow.getDelta)],
  [B.NopId, []],
  [B.UnreachableId, []],
  [B.AtomicRMWId, one(B.AtomicRMW.getPtr, B.AtomicRMW.getValue)],
  [B.AtomicCmpxchgId, one(B.AtomicCmpxchg.getPtr, B.AtomicCmpxchg.getExpected, B.AtomicCmpxchg.getReplacement)],
  [B.AtomicWaitId, one(B.AtomicWait.getPtr, B.AtomicWait.getExpected, B.AtomicWait.getTimeout)],
  [B.AtomicNotifyId, one(B.AtomicNotify.getPtr, B.AtomicNotify.getNotifyCount)],
  [B.AtomicFenceId, []],
  [B.SIMDExtractId, one(B.SIMDExtract.getVec)],
  [B.SIMDReplaceId, one(B.SIMDReplace.getVec, B.SIMDReplace.getValue)],
  [B.SIMDShuffleId, one(B.SIMDShuffle.getLeft, B.SIMDShuffle.getRight)],
  [B.SIMDTernaryId, one(B.SIMDTernary.getA, B.SIMDTernary.getB, B.SIMDTernary.getC)],
  [B.SIMDShiftId, one(B.SIMDShift.getVec, B.SIMDShift.getShift)],
  [B.SIMDLoadId, one(B.SIMDLoad.getPtr)],
  [B.SIMDLoadStoreLaneId, one(B.SIMDLoadStoreLane.getPtr, B.SIMDLoadStoreLane.getVec)],
  [B.MemoryInitId, one(B.MemoryInit.getDest, B.MemoryInit.getOffset, B.MemoryInit.getSize)],
  [B.DataDropId, []],
  [B.MemoryCopyId, one(B.MemoryCopy.getDest, B.MemoryCopy.getSource, B.MemoryCopy.getSize)],
  [B.MemoryFillId, one(B.MemoryFill.getDest, B.MemoryFill.getValue, B.MemoryFill.getSize)],
  [B.PopId, []],
  [B.RefNullId, []],
  [B.RefIsNullId, one(B.RefIsNull.getValue)],
  [B.RefFuncId, []],
  [B.RefEqId, one(B.RefEq.getLeft, B.RefEq.getRight)],
  [B.RefAsId, one(B.RefAs.getValue)],
  [B.TableGetId, one(B.TableGet.getIndex)],
  [B.TableSetId, one(B.TableSet.getIndex, B.TableSet.getValue)],
  [B.TableSizeId, []],
  [B.TableGrowId, one(B.TableGrow.getValue, B.TableGrow.getDelta)],
  [B.TryId, [...one(B.Try.getBody), ...many(B.Try.getNumCatchBodies, B.Try.getCatchBodyAt)]],
  [B.ThrowId, many(B.Throw.getNumOperands, B.Throw.getOperandAt)],
  [B.RethrowId, []],
  [B.TupleMakeId, many(B.TupleMake.getNumOperands, B.TupleMake.getOperandAt)],
  [B.TupleExtractId, one(B.TupleExtract.getTuple)],
]);

const idNames = new Map(Object.entries(B).filter(([k, v]) => k.endsWith('Id') && typeof v === 'number').map(([k, v]) => [v, k]));

/** Unused internal name for the fuel global. */
function freshGlobalName(mod) {
  for (let i = 0; ; i++) {
    const name = i === 0 ? 'agentos$fuel' : `agentos$fuel${i}`;
    if (!mod.getGlobal(name)) return name;
  }
}

/**
 * The engine's refuel hook (src/limits/wasm/hook.ts), built the binaryen way: the funcref global
 * `agentos:limits` `refuel` is imported, a start function puts it into a table of one, and an
 * overdrawn charge calls it through `call_indirect` (the host tops the fuel up, or traps). The
 * engine hands every instance a fuel slicer, so a module without the hook would trap at the end
 * of the first slice. Returns the expression builder for the overdrawn branch.
 */
function refuelHook(mod, fuel) {
  const global = `${fuel}$refuel`;
  const table = `${fuel}$hook`;
  mod.addGlobalImport(global, FUEL_MODULE, REFUEL_FIELD, B.funcref, false);
  mod.addTable(table, 1, 1);
  const install = [mod.table.set(table, mod.i32.const(0), mod.global.get(global, B.funcref))];
  const start = mod.getStart();
  if (start) install.push(mod.call(B.getFunctionInfo(start).name, [], B.none));
  mod.setStart(mod.addFunction(`${fuel}$start`, B.none, B.none, [], mod.block(null, install, B.none)));
  return () => mod.call_indirect(table, mod.i32.const(0), [], B.none, B.none);
}

/**
 * Count the nodes of the region rooted at `root` (not descending into loop bodies) and
 * append every loop found to `loops`. An explicit stack instead of recursion: expression
 * trees of real modules nest deeper than the JS call stack allows (long `br_table` block
 * chains in interpreters).
 */
function countRegion(root, loops, stack) {
  let cost = 0;
  stack.length = 0;
  stack.push(root);
  while (stack.length > 0) {
    const e = stack.pop();
    cost++;
    const id = B.getExpressionId(e);
    if (id === B.LoopId) {
      loops.push(e); // its body is a region of its own
      continue;
    }
    const kids = CHILDREN.get(id);
    if (kids === undefined) throw new Error(`binaryen-meter: cannot walk ${idNames.get(id) ?? `expression id ${id}`}`);
    for (const k of kids) {
      if (k.g) {
        const c = k.g(e);
        if (c) stack.push(c);
      } else {
        for (let i = 0, n = k.count(e); i < n; i++) stack.push(k.at(e, i));
      }
    }
  }
  return cost;
}

/**
 * Binaryen prints its warnings (e.g. "unknown name subsection") with `console.log`; send them
 * to stderr while it runs so they do not mix into the benchmark's tables on stdout.
 */
function stdoutToStderr(fn) {
  const write = process.stdout.write;
  process.stdout.write = (...args) => process.stderr.write(...args);
  try {
    return fn();
  } finally {
    process.stdout.write = write;
  }
}

/**
 * Instrument a core module's bytes; returns the new bytes, counts, and the time (ms) spent
 * reading, instrumenting (and optimizing) and emitting.
 * `optimize`: run binaryen's default optimization pipeline at this level after
 * instrumenting (e.g. 2 for `-O2`); default none.
 */
export function binaryenMeter(bytes, { optimize, refuel = false } = {}) {
  const t0 = performance.now();
  const mod = stdoutToStderr(() => B.readBinary(bytes));
  const t1 = performance.now();
  try {
    // Keep every feature the module was read with and allow the ones a charge needs (none
    // beyond MVP + mutable globals, which imports of mutable globals need).
    mod.setFeatures(mod.getFeatures() | B.Features.MutableGlobals | (refuel ? B.Features.ReferenceTypes : 0));
    const fuel = freshGlobalName(mod);
    mod.addGlobalImport(fuel, FUEL_MODULE, FUEL_FIELD, B.i64, true);
    const overdrawn = refuel ? refuelHook(mod, fuel) : () => mod.unreachable();

    const charge = (cost) => [
      mod.global.set(fuel, mod.i64.sub(mod.global.get(fuel, B.i64), mod.i64.const(BigInt(cost)))),
      mod.if(mod.i64.lt_s(mod.global.get(fuel, B.i64), mod.i64.const(0n)), overdrawn()),
    ];
    // `(block charge… body)`, typed like the body so the parent stays valid.
    const charged = (cost, body) => mod.block(null, [...charge(cost), body], B.getExpressionType(body));

    const stats = { functions: 0, loops: 0, chargePoints: 0, cost: 0 };
    const loops = [];
    const stack = [];
    for (let f = 0, n = mod.getNumFunctions(); f < n; f++) {
      const fn = mod.getFunctionByIndex(f);
      if (B.Function.getBody(fn) === 0) continue; // an import
      stats.functions++;
      const body = B.Function.getBody(fn);
      loops.length = 0;
      const entry = countRegion(body, loops, stack);
      B.Function.setBody(fn, charged(entry, body));
      stats.cost += entry;
      stats.chargePoints++;
      // `loops` grows while it is walked: inner loops are found in their parent's body.
      for (let i = 0; i < loops.length; i++) {
        const loop = loops[i];
        const inner = B.Loop.getBody(loop);
        const cost = countRegion(inner, loops, stack);
        B.Loop.setBody(loop, charged(cost, inner));
        stats.cost += cost;
        stats.chargePoints++;
        stats.loops++;
      }
    }
    if (optimize !== undefined) {
      const [level, shrink] = [B.getOptimizeLevel(), B.getShrinkLevel()];
      B.setOptimizeLevel(optimize);
      B.setShrinkLevel(0);
      try {
        mod.optimize();
      } finally {
        B.setOptimizeLevel(level);
        B.setShrinkLevel(shrink);
      }
    }
    const t2 = performance.now();
    const out = mod.emitBinary();
    return { bytes: out, stats, times: { read: t1 - t0, instrument: t2 - t1, emit: performance.now() - t2 } };
  } finally {
    mod.dispose();
  }
}
