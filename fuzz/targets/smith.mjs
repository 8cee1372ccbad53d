/**
 * Fuzz target: loading and instrumenting core modules, differentially (issue 19).
 *
 * Modules come from `wasm-smith` (fuzz/smith/, a helper process): a swarm configuration drawn
 * from the seed (SIMD, relaxed SIMD, bulk memory, reference types, multi-value, tail calls,
 * exceptions, threads, extended-const... on or off), no imports, everything exported, NaNs
 * canonical, a termination counter (`ensure_termination`) so the plain module always ends.
 * Each is rewritten the ways the runtime rewrites guests' core modules: `meterFor` (the jco
 * engine: refuel hook, memory and table caps) and `instrumentStopFlag` (the wasmtime engine).
 * The properties:
 * - a refusal is a typed error (`COMPONENT_INVALID`/`MEMORY_LIMIT`), and for a module V8
 *   accepts only on a proposal the instrumenter documents as unsupported (the `exotic`
 *   swarm: GC, memory64, multi-memory, custom page sizes, wide arithmetic);
 * - returned bytes validate exactly when the input does (V8's validator);
 * - run plain and instrumented, every export with the same arguments, the two agree: same
 *   results, same trap kinds, same exported globals and memory contents after every call
 *   (on V8 here, and on wasmtime through fuzz/smith/wasmtime); a stack overflow ends the
 *   comparison (the rewrite makes frames larger, so the depth legitimately differs);
 * - fuel is deterministic (a second instance consumes the same per call) and the same on
 *   both engines where a call returns on both.
 * Mutated inputs (bytes flipped, set, inserted, deleted, truncated) test the same properties
 * on modules that are often invalid.
 *
 * Needs the helpers built (`node fuzz/smith/build.mjs`, cargo); without them every input
 * passes unchecked and {@link unavailable} says why (the suite reports the skip).
 */
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { SandboxError } from '../../dist/errors.js';
import { instrumentStopFlag, meterFor } from '../../dist/limits/meter.js';
import { GENERATOR, RUNNER } from '../smith/build.mjs';
import { FrameProcess, runV8 } from '../lib/smith-engines.mjs';

export const name = 'smith';

/**
 * Fuel for an instrumented run on V8: far more than the termination counter lets a module
 * spend, and little enough (about 0.1 s) to stop a mutated module whose counter was broken
 * before its plain twin (which nothing could interrupt) runs.
 */
const FUEL = 1n << 30n;
/** Refusal codes of the runtime's metering (`meteringError` in src/limits/meter.ts). */
const REFUSALS = new Set(['COMPONENT_INVALID', 'MEMORY_LIMIT']);

const mutation = fc.record({
  op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'truncate'),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
});
export const arbitrary = fc.record({
  // wasm-smith's seed bytes, base64 (fixtures are JSON).
  seed: fc.uint8Array({ minLength: 64, maxLength: 3000, size: 'max' }).map((b) => Buffer.from(b).toString('base64')),
  exotic: fc.integer({ min: 0, max: 7 }).map((n) => n === 0),
  mutations: fc.oneof(fc.constant([]), fc.array(mutation, { minLength: 1, maxLength: 4 })),
});

let generator;
let runner;
let reason;
let announced = false;

/** How to make it available (the suite prints it with a skip). */
export const enable = 'node fuzz/smith/build.mjs (needs cargo from rustup)';

/** Why the target cannot run here (undefined when it can). */
export function unavailable() {
  if (!existsSync(GENERATOR)) return `the wasm-smith helper is not built (${GENERATOR.replace(process.cwd() + '/', '')} is missing)`;
  return undefined;
}

export async function setup() {
  reason = unavailable();
  if (reason) {
    if (!announced) process.stdout.write(`smith: skipped: ${reason} — enable with: ${enable}\n`);
    announced = true;
    return;
  }
  generator ??= new FrameProcess(GENERATOR);
  // wasmtime is optional on top (it needs the addon's compiled dependencies).
  if (!runner && existsSync(RUNNER)) runner = new FrameProcess(RUNNER);
}

export async function teardown() {
  generator?.close();
  runner?.close();
  generator = runner = undefined;
}

/** Ask the generator for a module (flags byte + seed). */
async function generate(seed, exotic) {
  const frame = await generator.request(Buffer.concat([Buffer.from('g'), Buffer.from([exotic ? 1 : 0]), seed]));
  if (frame[0] !== 0) throw new Error(`wasm-smith: ${frame.subarray(1).toString()}`);
  return new Uint8Array(frame.subarray(1));
}

/** The module in the text format, for failure messages. */
async function wat(bytes) {
  const frame = await generator.request(Buffer.concat([Buffer.from('p'), bytes]));
  const text = frame.subarray(1).toString();
  return text.length > 6000 ? `${text.slice(0, 6000)}\n...` : text;
}

function mutate(bytes, mutations) {
  const b = [...bytes];
  for (const { op, at, byte } of mutations) {
    const i = b.length === 0 ? 0 : at % b.length;
    if (op === 'flip') b[i] ^= 1 << (byte % 8);
    else if (op === 'set') b[i] = byte;
    else if (op === 'insert') b.splice(i, 0, byte);
    else if (op === 'delete') b.splice(i, 1);
    else b.length = i;
  }
  return new Uint8Array(b);
}

/** Instrument; a refusal must be the runtime's typed error. Returns bytes or undefined (refused). */
function instrument(how, bytes, refusals) {
  try {
    return how(bytes);
  } catch (e) {
    if (e instanceof SandboxError && REFUSALS.has(e.code)) {
      refusals.push(`${e.code}: ${e.message}`);
      return undefined;
    }
    throw new Error(`instrumenter threw an untyped error: ${e instanceof Error ? e.stack : String(e)}`);
  }
}

/** Compare two runs' outcomes, call by call, up to the first one after which they may differ. */
function compare(label, plain, metered) {
  if (Boolean(plain.compile) !== Boolean(metered.compile)) return `${label}: compile differs: plain ${plain.compile ?? 'ok'}, instrumented ${metered.compile ?? 'ok'}`;
  if (plain.compile) return undefined;
  const n = Math.min(plain.outcomes.length, metered.outcomes.length);
  for (let i = 0; i < n; i++) {
    const p = plain.outcomes[i];
    const m = metered.outcomes[i];
    if (inconclusive(p) || inconclusive(m)) return undefined;
    const keys = ['what', 'trap', 'result', 'state'];
    for (const k of keys) {
      if (JSON.stringify(p[k] ?? null) !== JSON.stringify(m[k] ?? null)) {
        return `${label}: ${p.what} differs in ${k}: plain ${JSON.stringify(p[k] ?? null)}, instrumented ${JSON.stringify(m[k] ?? null)}`;
      }
    }
  }
  if (plain.outcomes.length !== metered.outcomes.length) return `${label}: plain made ${plain.outcomes.length} calls, instrumented ${metered.outcomes.length}`;
  return undefined;
}

/** A call whose outcome depends on stack size or an engine budget, not on the module. */
function inconclusive(o) {
  return o.exhausted || o.trap === 'stack-overflow' || o.trap === 'trap:StackOverflow' || o.trap === 'trap:OutOfFuel';
}

/** Fuel of every call of two runs of the same instrumented module (until one is inconclusive). */
function fuelDiff(label, a, b) {
  const n = Math.min(a.outcomes.length, b.outcomes.length);
  for (let i = 0; i < n; i++) {
    const x = a.outcomes[i];
    const y = b.outcomes[i];
    if (inconclusive(x) || inconclusive(y) || x.what !== y.what) return undefined;
    if (x.trap || y.trap) continue; // a trap's fuel depends on where each rewrite charges
    if (x.fuel !== y.fuel) return `${label}: ${x.what} used ${x.fuel} fuel, then ${y.fuel}`;
  }
  return undefined;
}

export async function check(input) {
  await setup();
  if (reason) return;
  const smith = await generate(Buffer.from(input.seed, 'base64'), input.exotic);
  const bytes = input.mutations.length > 0 ? mutate(smith, input.mutations) : smith;
  const valid = WebAssembly.validate(bytes);
  const refusals = [];
  const jco = meterFor({}).transform;
  const forV8 = instrument((b) => jco.apply('core0', b), bytes, refusals);
  const forWasmtime = instrument((b) => instrumentStopFlag('core0', b), bytes, refusals);
  const problems = [];
  const exotic = input.exotic || input.mutations.length > 0;
  if (refusals.length > 0 && valid && !exotic) problems.push(`refused a module V8 accepts: ${refusals.join('; ')}`);
  // The stop-flag rewrite is for wasmtime only (its flag memory needs multi-memory, which
  // Node 20's V8 lacks): wasmtime's compile judges it, below.
  if (forV8 && WebAssembly.validate(forV8) !== valid) problems.push(`jco rewrite: input ${valid ? 'valid' : 'invalid'}, output ${valid ? 'invalid' : 'valid'}`);
  let metered;
  if (valid && forV8 && problems.length === 0) {
    // Instrumented first: when it finishes within its fuel, the plain module finishes too.
    metered = runV8(forV8, FUEL);
    if (!metered.outcomes.some(inconclusive)) {
      const plain = runV8(bytes);
      const again = runV8(forV8, FUEL);
      for (const p of [compare('V8', plain, metered), fuelDiff('V8 fuel (two instances)', metered, again)]) if (p) problems.push(p);
    }
  }
  if (runner && forWasmtime && problems.length === 0) {
    {
      const ask = async (mode, b) => JSON.parse((await runner.request(Buffer.concat([Buffer.from([mode]), b]))).toString());
      const wPlain = await ask(0, bytes);
      const wMetered = await ask(1, forWasmtime);
      const p = compare('wasmtime', wPlain, wMetered);
      if (p) problems.push(p);
      // The same charges on both engines (src/limits/meter.ts), where both ran the same calls.
      if (metered && !wMetered.compile && !metered.compile) {
        // Only up to the first call V8 could not make (a function with a v128 parameter or
        // result cannot be called from JS): that call may change the state the next ones see.
        const names = new Set(metered.outcomes.map((o) => o.what));
        const shared = [];
        for (const o of wMetered.outcomes) {
          if (!names.has(o.what)) break;
          shared.push(o);
        }
        const f = fuelDiff('fuel V8 vs wasmtime', { outcomes: metered.outcomes }, { outcomes: shared });
        if (f) problems.push(f);
      }
    }
  }
  if (problems.length > 0) throw new Error(`${problems.join('\n')}\nmodule (${input.mutations.length > 0 ? 'mutated; smith original' : 'smith'}):\n${await wat(smith)}`);
}
