/**
 * The engines of the `smith` fuzz target (fuzz/targets/smith.mjs): a long-lived helper process
 * spoken to in length-prefixed frames (the wasm-smith generator and the wasmtime runner of
 * fuzz/smith/), and the V8 side, which runs a core module in this process and reports what
 * each export did in the same shape as the wasmtime runner:
 * `{ compile: null | string, outcomes: [{ what, result?, trap?, fuel, state }] }`.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { createFuelSlicer } from '../../dist/limits/refuel.js';

// Proposals wasm-smith generates that Node 20's V8 (11.3) keeps behind flags; set before the
// first compile (V8 flags are per process). Later V8s ship them and ignore the flags.
// Type reflection gives the exports' signatures (`WebAssembly.Module.exports(m)[i].type`).
for (const flag of ['--experimental-wasm-type-reflection', '--experimental-wasm-return-call', '--experimental-wasm-extended-const', '--experimental-wasm-relaxed-simd']) setFlagsFromString(flag);

/** A helper process answering one frame per request, in order. */
export class FrameProcess {
  constructor(path) {
    this.child = spawn(path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.pending = [];
    this.buffer = Buffer.alloc(0);
    this.dead = undefined;
    this.child.stdout.on('data', (chunk) => this.#receive(chunk));
    const fail = (why) => {
      this.dead ??= why;
      for (const p of this.pending.splice(0)) p.reject(new Error(`${path}: ${why}`));
    };
    this.child.on('error', (e) => fail(e.message));
    this.child.on('exit', (code, signal) => fail(`exited (${signal ?? code})`));
    this.child.stdin.on('error', (e) => fail(e.message));
    // Keeps the host alive only while a request is pending: when the host exits, the
    // helper's stdin closes and it ends by itself.
    this.child.unref();
    this.#hold(false);
  }

  #hold(on) {
    for (const s of [this.child.stdout, this.child.stdin]) (on ? s.ref : s.unref)?.call(s);
  }

  #receive(chunk) {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const len = this.buffer.readUInt32LE(0);
      if (this.buffer.length < 4 + len) break;
      const frame = this.buffer.subarray(4, 4 + len);
      this.buffer = this.buffer.subarray(4 + len);
      this.pending.shift()?.resolve(Buffer.from(frame));
      if (this.pending.length === 0) this.#hold(false);
    }
  }

  /** Send one request (bytes), get its response frame. */
  request(payload) {
    if (this.dead) return Promise.reject(new Error(`helper process ${this.dead}`));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.#hold(true);
      const head = Buffer.alloc(4);
      head.writeUInt32LE(payload.length);
      this.child.stdin.write(Buffer.concat([head, payload]));
    });
  }

  close() {
    this.child.stdin.end();
    this.child.kill();
  }
}

/** Arguments after all-zero ones: the same as the wasmtime runner's `ARGS` (keep in step). */
const ARGS = [
  { i32: 1, i64: 1n, f32: 1.5, f64: -2.25 },
  { i32: -7, i64: 1n << 40n, f32: -0, f64: 1e300 },
];
const ZERO = { i32: 0, i64: 0n, f32: 0, f64: 0 };

/** A JS value the way the runner prints a wasm value (exactly; NaNs are canonical). */
function show(v) {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isNaN(v) ? 'nan' : Object.is(v, -0) ? '-0' : String(v);
  if (v === null) return 'null';
  return 'ref';
}

/** What a throw from a wasm call was: its kind, as V8 names it (the message is the kind). */
function failure(e) {
  if (e instanceof WebAssembly.Exception) return 'exception';
  if (e instanceof RangeError && /call stack/i.test(e.message)) return 'stack-overflow';
  return e instanceof Error ? `${e.constructor.name}: ${e.message}` : `throw: ${String(e)}`;
}

/** Exported globals' values and a hash of each exported memory (the observable state). */
function state(exports) {
  const out = [];
  for (const [name, x] of Object.entries(exports)) {
    if (x instanceof WebAssembly.Global) {
      let value;
      try {
        value = show(x.value);
      } catch {
        value = 'v128'; // not readable from JS
      }
      out.push([name, value]);
    } else if (x instanceof WebAssembly.Memory) {
      const bytes = new Uint8Array(x.buffer);
      out.push([name, `${bytes.length}:${createHash('sha1').update(bytes).digest('hex')}`]);
    } else if (x instanceof WebAssembly.Table) {
      out.push([name, `table:${x.length}`]);
    }
  }
  return out;
}

/**
 * Run a module on V8: instantiate (with a fuel slicer when `fuel` is a budget, for an
 * instrumented module), then call every exported function that has no v128 in its type (JS
 * cannot pass or receive those) with each argument set, in export order.
 */
export function runV8(bytes, fuel) {
  let module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (e) {
    return { compile: failure(e), outcomes: [] };
  }
  const types = new Map(WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => [e.name, { params: e.type.parameters, results: e.type.results }]));
  const slicer = fuel === undefined ? undefined : createFuelSlicer({ budget: fuel, check: () => true });
  const used = () => (slicer ? slicer.used() : null);
  const outcomes = [];
  let instance;
  try {
    instance = new WebAssembly.Instance(module, slicer ? slicer.imports : {});
  } catch (e) {
    outcomes.push({ what: 'instantiate', trap: failure(e), fuel: used(), exhausted: slicer?.exhausted() ?? false });
    return { compile: null, outcomes };
  }
  outcomes.push({ what: 'instantiate', trap: null, fuel: used(), state: state(instance.exports) });
  for (const [name, fn] of Object.entries(instance.exports)) {
    if (typeof fn !== 'function') continue;
    const type = types.get(name);
    if (!type || [...type.params, ...type.results].some((t) => t === 'v128' || t === 'exnref')) continue;
    for (let set = 0; set <= ARGS.length; set++) {
      const values = set === 0 ? ZERO : ARGS[set - 1];
      const args = type.params.map((t) => (t in values ? values[t] : null));
      const before = used();
      const o = { what: `${name}/${set}` };
      try {
        const r = fn(...args);
        o.result = type.results.length === 1 ? [show(r)] : type.results.length === 0 ? [] : [...r].map(show);
      } catch (e) {
        o.trap = failure(e);
      }
      o.fuel = slicer ? used() - before : null;
      if (slicer?.exhausted()) o.exhausted = true;
      o.state = state(instance.exports);
      outcomes.push(o);
      if (o.exhausted) return { compile: null, outcomes };
    }
  }
  return { compile: null, outcomes };
}
