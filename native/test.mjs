#!/usr/bin/env node
// Smoke test and micro-benchmarks of the wasmtime addon (plain Node, no vitest).
//
//   node native/build.mjs && node native/test.mjs [--quick] [--no-timing]
//
// Fixtures: the WAT agents of test/fixtures/agents are built with the project's CLI
// (`dist/cli/main.js build`, so run `npm run build` first) into a temporary directory; fsprobe
// (C, needs wasi-sdk) is taken from test/fixtures/build when the vitest setup has built it.
// Exit status 1 when a check fails.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..');
const quick = process.argv.includes('--quick');
// --no-timing: checks only (for the test suite); the figures belong to benchmarks.
const timing = !process.argv.includes('--no-timing');
const require = createRequire(import.meta.url);
const addonPath = join(here, `agentos-wasmtime.${process.platform}-${process.arch}.node`);
if (!existsSync(addonPath)) {
  console.error(`${addonPath} is missing: run node native/build.mjs`);
  process.exit(1);
}
const { Engine } = require(addonPath);

let failures = 0;
function check(name, ok, detail = '') {
  if (!ok) failures++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
}
function expectThrow(name, fn, code, match) {
  try {
    const v = fn();
    check(name, false, `expected ${code}, got ${JSON.stringify(v)}`);
  } catch (e) {
    const ok = e?.code === code && (!match || match.test(e.message));
    check(name, ok, `${e?.code}: ${String(e?.message).slice(0, 220)}${e?.fuelConsumed !== undefined ? ` (fuelConsumed ${e.fuelConsumed})` : ''}`);
    return e;
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const us = (ns) => `${(ns / 1000).toFixed(2)} µs`;

// ---------------------------------------------------------------- fixtures
const work = mkdtempSync(join(tmpdir(), 'agentos-native-test-'));
const fixtures = {};
for (const name of ['echo', 'fail', 'trap', 'loop', 'bigmem', 'log', 'hostile', 'start-loop', 'realloc-loop']) {
  const out = join(work, `${name}.wasm`);
  execFileSync(process.execPath, [join(repo, 'dist/cli/main.js'), 'build', join(repo, 'test/fixtures/agents', `${name}.wat`), '-o', out], {
    stdio: 'pipe',
  });
  fixtures[name] = readFileSync(out);
}
const fsprobePath = join(repo, 'test/fixtures/build/fsprobe.wasm');
if (existsSync(fsprobePath)) fixtures.fsprobe = readFileSync(fsprobePath);

// ---------------------------------------------------------------- 1. engine
const MiB = 1024 * 1024;
const engine = new Engine({ epochTickMs: 10, maxInstances: 1000, maxMemoryBytes: 256 * MiB });
check('engine: created', true, `wasmtime ${engine.wasmtimeVersion}, pooling=${engine.pooling}, maxInstances=${engine.maxInstances}, epochTickMs=${engine.epochTickMs}, fingerprint ${engine.fingerprint}`);

// ---------------------------------------------------------------- 2. compile + cache
const cacheDir = join(work, 'cache');
const c1 = engine.compileComponent(fixtures.echo, cacheDir);
const c2 = engine.compileComponent(fixtures.echo, cacheDir);
check('compile: first compile is a miss', c1.cacheHit === false, `${c1.compileMs.toFixed(2)} ms, key ${c1.key.slice(0, 16)}…`);
check('compile: second compile is a hit', c2.cacheHit === true, `${c2.compileMs.toFixed(2)} ms`);
const other = new Engine({ epochTickMs: 0, pooling: false });
const c3 = other.compileComponent(fixtures.echo, cacheDir);
// The allocator and ticker do not change generated code, so the artifact is shared; the pool's
// limits are checked again when the artifact is loaded.
check('compile: a non-pooling engine shares the artifact (same fingerprint)', c3.cacheHit === true && other.fingerprint === engine.fingerprint, `fingerprint ${other.fingerprint}`);
const big = engine.compileComponent(fixtures.fsprobe ?? fixtures.hostile, cacheDir);
const bigHit = engine.compileComponent(fixtures.fsprobe ?? fixtures.hostile, cacheDir);
check('compile: a larger component (fsprobe) compiles and caches', !big.cacheHit && bigHit.cacheHit, `cold ${big.compileMs.toFixed(1)} ms, from cache ${bigHit.compileMs.toFixed(2)} ms`);
expectThrow('compile: garbage is COMPONENT_INVALID', () => engine.compileComponent(Buffer.from('not wasm'), cacheDir), 'COMPONENT_INVALID');
expectThrow('compile: a core module is COMPONENT_INVALID', () => engine.compileComponent(Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]), cacheDir), 'COMPONENT_INVALID');
expectThrow('compile: bigmem (4 GiB minimum) is MEMORY_LIMIT at load (pool slot 256 MiB)', () => engine.compileComponent(fixtures.bigmem, cacheDir), 'MEMORY_LIMIT');

// ---------------------------------------------------------------- 3+4. instantiate + run
const echo = c2;
{
  const inst = engine.instantiate(echo, { fuel: 1_000_000, memoryBytes: 16 * MiB, timeoutMs: 1000 });
  const r = engine.run(inst, 'hello wasmtime');
  check('run: echo returns ok(task)', r.ok === 'hello wasmtime' && r.err === undefined, JSON.stringify(r));
  const r2 = engine.run(inst, 'é ✓ 🎉');
  check('run: echo round-trips UTF-8, same instance again', r2.ok === 'é ✓ 🎉', JSON.stringify(r2));
  const long = 'x'.repeat(200_000);
  const r3 = engine.run(inst, long);
  check('run: 200 kB task (guest grows its memory)', r3.ok === long, `fuelConsumed ${r3.fuelConsumed}, instance memory ${inst.memoryBytes} bytes`);
  inst.dispose();
  check('dispose: instance reports disposed', inst.disposed === true);
  expectThrow('dispose: run after dispose fails', () => engine.run(inst, 'x'), 'INTERNAL', /disposed/);
}
{
  const c = engine.compileComponent(fixtures.fail, cacheDir);
  const r = engine.run(engine.instantiate(c, { fuel: 1e6 }), 'anything');
  check('run: fail returns err(...)', r.err === 'bad task' && r.ok === undefined, JSON.stringify(r));
}
{
  const c = engine.compileComponent(fixtures.trap, cacheDir);
  const inst = engine.instantiate(c, { fuel: 1e6 });
  expectThrow('trap: unreachable → AGENT_ERROR', () => engine.run(inst, 'x'), 'AGENT_ERROR', /unreachable/);
  expectThrow('trap: the instance refuses to run again', () => engine.run(inst, 'x'), 'AGENT_ERROR', /cannot run again/);
}
{
  const c = engine.compileComponent(fixtures.loop, cacheDir);
  const e = expectThrow('fuel: loop with fuel 5e6 → FUEL_EXHAUSTED', () => engine.run(engine.instantiate(c, { fuel: 5_000_000 }), 'x'), 'FUEL_EXHAUSTED');
  check('fuel: fuelConsumed is reported on the error', e?.fuelConsumed === 5_000_000, `fuelConsumed ${e?.fuelConsumed}`);
  const t0 = Date.now();
  expectThrow('epoch: loop with timeoutMs 200 (no fuel cap) → TIMEOUT', () => engine.run(engine.instantiate(c, { timeoutMs: 200 }), 'x'), 'TIMEOUT');
  const took = Date.now() - t0;
  // Never before the deadline; the upper bound only catches a deadline that never fires (the machine may be loaded).
  check('epoch: fired at or after 200 ms, well before 10 s', took >= 200 && took < 10_000, `${took} ms`);
  const manual = new Engine({ epochTickMs: 0 });
  const mc = manual.compileComponent(fixtures.loop);
  expectThrow('epoch: epochDeadline 0 without a ticker interrupts at once', () => manual.run(manual.instantiate(mc, { epochDeadline: 0 }), 'x'), 'TIMEOUT');
  const bigFuel = 2n ** 62n;
  const e2 = expectThrow('fuel: bigint fuel accepted (2^62) + timeout', () => engine.run(engine.instantiate(c, { fuel: bigFuel, timeoutMs: 50 }), 'x'), 'TIMEOUT');
  void e2;
  // The interrupt cell (another thread sets it; see the worker checks): left at 0 it changes
  // nothing, the deadline still ends the run with TIMEOUT; set, the run ends with CANCELLED.
  const noHost = () => undefined;
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const t1 = Date.now();
  expectThrow('interrupt: a cell left at 0, loop with timeoutMs 200 → TIMEOUT', () => engine.run(engine.instantiateWithHost(c, { timeoutMs: 200 }, noHost, { interrupt: cell }), 'x'), 'TIMEOUT');
  const took1 = Date.now() - t1;
  check('interrupt: the deadline still fired at or after 200 ms', took1 >= 200 && took1 < 10_000, `${took1} ms`);
  const fuelFirst = engine.instantiateWithHost(c, { fuel: 5_000_000, timeoutMs: 10_000 }, noHost, { interrupt: cell });
  expectThrow('interrupt: and fuel still runs out with FUEL_EXHAUSTED', () => engine.run(fuelFirst, 'x'), 'FUEL_EXHAUSTED');
  const cancelled = engine.instantiateWithHost(c, { timeoutMs: 10_000 }, noHost, { interrupt: cell });
  Atomics.store(cell, 0, 1);
  const t2 = Date.now();
  expectThrow('interrupt: a set cell ends the run with CANCELLED', () => engine.run(cancelled, 'x'), 'CANCELLED', /cancelled by its caller/);
  check('interrupt: at the next epoch tick, not at the 10 s deadline', Date.now() - t2 < 1_000, `${Date.now() - t2} ms`);
  expectThrow('interrupt: on a plain ArrayBuffer it is refused', () => engine.instantiateWithHost(c, {}, noHost, { interrupt: new Int32Array(1) }), 'INTERNAL', /SharedArrayBuffer/);
}
{
  const c = engine.compileComponent(fixtures['start-loop'], cacheDir);
  expectThrow('fuel: start function that loops → FUEL_EXHAUSTED at instantiate', () => engine.instantiate(c, { fuel: 1_000_000 }), 'FUEL_EXHAUSTED');
  const c2 = engine.compileComponent(fixtures['realloc-loop'], cacheDir);
  expectThrow('fuel: cabi_realloc that loops → FUEL_EXHAUSTED in run', () => engine.run(engine.instantiate(c2, { fuel: 1_000_000 }), 'task'), 'FUEL_EXHAUSTED');
}
{
  const plain = new Engine({ epochTickMs: 0, pooling: false });
  const c = plain.compileComponent(fixtures.bigmem);
  expectThrow('memory: bigmem without pooling → MEMORY_LIMIT at instantiate (StoreLimits 64 MiB)', () => plain.instantiate(c, { memoryBytes: 64 * MiB, epochDeadline: 1e9 }), 'MEMORY_LIMIT');
}
{
  const c = engine.compileComponent(fixtures.hostile, cacheDir);
  // hostile imports wasi:random/clocks/poll (never called for G, T, R, C): a host that refuses.
  const noHost = (iface, fn) => {
    throw new Error(`unexpected host call ${iface}#${fn}`);
  };
  const h = (limits) => engine.instantiateWithHost(c, limits, noHost);
  const g = engine.run(h({ fuel: 1e9, memoryBytes: 1 * MiB }), 'G');
  check('memory: hostile G grows until refused, memory.grow returns -1 (1 MiB cap = 16 pages)', g.ok === 'pages 16', JSON.stringify(g));
  const t = engine.run(h({ fuel: 1e9, tableElements: 5000 }), 'T');
  check('table: hostile T grows until refused', t.ok === 'table 1', JSON.stringify(t));
  expectThrow('stack: hostile R (unbounded recursion) → AGENT_ERROR stack overflow', () => engine.run(h({ fuel: 1e12 }), 'R'), 'AGENT_ERROR', /stack/i);
  expectThrow('imports: hostile (imports wasi) cannot instantiate without a host', () => engine.instantiate(c, {}), 'COMPONENT_INVALID', /wasi:io\/poll@0\.2\.12#pollable/);
  // deterministic fuel: the same compute twice uses the same fuel
  const inst = h({ fuel: 1e12 });
  const a = engine.run(inst, 'C100000');
  const b = engine.run(inst, 'C100000');
  check('fuel: deterministic (C100000 twice)', a.ok === b.ok && a.fuelConsumed === b.fuelConsumed && a.fuelConsumed > 0, `${a.ok}, fuel ${a.fuelConsumed}`);
}

// ---------------------------------------------------------------- 5. imports
{
  const c = engine.compileComponent(fixtures.log, cacheDir);
  check('imports: log.wat lists its imports', c.imports.join(',') === 'agent-os:sandbox/log@0.1.0#emit', c.imports.join(', '));
  expectThrow('imports: instantiate without host names the first missing import', () => engine.instantiate(c, {}), 'COMPONENT_INVALID', /agent-os:sandbox\/log@0\.1\.0#emit/);
  const logs = [];
  const inst = engine.instantiateWithHost(c, { fuel: 1e6 }, (iface, fn, args) => {
    logs.push([iface, fn, ...args]);
  });
  const r = engine.run(inst, 'hello from the guest');
  check('bridge: log.wat runs with a JS host', r.ok === 'logged', JSON.stringify(r));
  check(
    'bridge: enum + string arguments reach JS',
    JSON.stringify(logs) === JSON.stringify([['agent-os:sandbox/log@0.1.0', 'emit', 'info', 'hello from the guest'], ['agent-os:sandbox/log@0.1.0', 'emit', 'debug', 'log.wat done']]),
    JSON.stringify(logs),
  );
  const boom = new Error('denied by policy');
  const thrower = engine.instantiateWithHost(c, { fuel: 1e6 }, () => {
    throw boom;
  });
  try {
    engine.run(thrower, 'x');
    check('bridge: a host throw traps the guest and is rethrown as-is', false);
  } catch (e) {
    check('bridge: a host throw traps the guest and is rethrown as-is', e === boom, String(e?.message));
  }
  const bad = engine.instantiateWithHost(c, { fuel: 1e6 }, () => 42);
  const okIgnored = engine.run(bad, 'x');
  check('bridge: a return value for a function without results is ignored', okIgnored.ok === 'logged');
}

{
  // A host function may run ANOTHER instance (agent-to-agent calls later); re-entering the same
  // instance is refused.
  const c = engine.compileComponent(fixtures.log, cacheDir);
  const inner = engine.instantiate(echo, { fuel: 1e6 });
  const seen = [];
  let self;
  self = engine.instantiateWithHost(c, { fuel: 1e6 }, (iface, fn, args) => {
    if (args[0] === 'info') seen.push(engine.run(inner, `inner:${args[1]}`).ok);
    if (args[0] === 'debug') {
      try {
        engine.run(self, 'again');
      } catch (e) {
        seen.push(e.code);
      }
    }
  });
  const r = engine.run(self, 'outer');
  check('bridge: a host function can run another instance; re-entry into the same one is refused', r.ok === 'logged' && seen[0] === 'inner:outer' && seen[1] === 'INTERNAL', JSON.stringify(seen));
}

if (fixtures.fsprobe) {
  const c = engine.compileComponent(fixtures.fsprobe, cacheDir);
  check('fsprobe: imports listed', c.imports.length > 20, `${c.imports.length} imports, e.g. ${c.imports.slice(0, 4).join(', ')}`);
  // A toy WASI: just enough for fsprobe's log/tools/random/clock/getenv commands; everything else
  // is reported and answered with an error. Resources are small integers in a JS table.
  const calls = new Map();
  const streams = new Map(); // rep → name
  let nextRep = 1;
  const newStream = (name) => {
    const rep = nextRep++;
    streams.set(rep, name);
    return rep;
  };
  const stdout = [];
  const host = (iface, fn, args) => {
    const k = `${iface}#${fn}`;
    calls.set(k, (calls.get(k) ?? 0) + 1);
    switch (k) {
      case 'wasi:cli/environment@0.2.12#get-environment':
        return [['AGENT', 'fsprobe'], ['LANG', 'C']];
      case 'wasi:cli/environment@0.2.12#get-arguments':
        return [];
      case 'wasi:cli/environment@0.2.12#initial-cwd':
        return undefined;
      case 'wasi:filesystem/preopens@0.2.12#get-directories':
        return [];
      case 'wasi:cli/stdout@0.2.12#get-stdout':
        return newStream('stdout');
      case 'wasi:cli/stderr@0.2.12#get-stderr':
        return newStream('stderr');
      case 'wasi:cli/stdin@0.2.12#get-stdin':
        return newStream('stdin');
      case 'wasi:cli/terminal-stdin@0.2.12#get-terminal-stdin':
      case 'wasi:cli/terminal-stdout@0.2.12#get-terminal-stdout':
      case 'wasi:cli/terminal-stderr@0.2.12#get-terminal-stderr':
        return undefined;
      case 'wasi:io/streams@0.2.12#[method]output-stream.check-write':
        return { tag: 'ok', val: 65536n };
      case 'wasi:io/streams@0.2.12#[method]output-stream.write':
      case 'wasi:io/streams@0.2.12#[method]output-stream.blocking-write-and-flush':
        stdout.push(Buffer.from(args[1]).toString());
        return { tag: 'ok' };
      case 'wasi:io/streams@0.2.12#[method]output-stream.blocking-flush':
      case 'wasi:io/streams@0.2.12#[method]output-stream.flush':
        return { tag: 'ok' };
      case 'wasi:io/streams@0.2.12#[resource-drop]output-stream':
      case 'wasi:io/streams@0.2.12#[resource-drop]input-stream':
        streams.delete(args[0]);
        return undefined;
      case 'wasi:random/random@0.2.12#get-random-bytes':
        return Buffer.alloc(Number(args[0]), 7);
      case 'wasi:random/random@0.2.12#get-random-u64':
        return 42n;
      case 'wasi:clocks/wall-clock@0.2.12#now':
        return { seconds: 1_700_000_000n, nanoseconds: 5 };
      case 'wasi:clocks/monotonic-clock@0.2.12#now':
        return 123_456_789n;
      case 'agent-os:sandbox/log@0.1.0#emit':
        logs.push(args);
        return undefined;
      case 'agent-os:sandbox/tools@0.1.0#available':
        return ['probe', 'search'];
      case 'agent-os:sandbox/tools@0.1.0#call':
        if (args[0] === 'probe') return { tag: 'ok', val: JSON.stringify({ echoed: JSON.parse(args[1]) }) };
        return { tag: 'err', val: { tag: 'not-found', val: `no tool ${args[0]}` } };
      default:
        throw new Error(`toy WASI does not implement ${k}`);
    }
  };
  const logs = [];
  const inst = engine.instantiateWithHost(c, { fuel: 1e10, memoryBytes: 64 * MiB, timeoutMs: 5000 }, host);
  const script = ['log info hello from C', 'tools', 'tool probe {"a":1}', 'tool nope {}', 'random 4', 'clock', 'getenv AGENT', 'print to stdout'].join('\n');
  try {
    const r = engine.run(inst, script);
    const lines = (r.ok ?? '').split('\n');
    check('fsprobe: runs a script through the bridge', r.ok !== undefined, JSON.stringify(r));
    check('fsprobe: log.emit (enum, string)', JSON.stringify(logs) === JSON.stringify([['info', 'hello from C']]) && lines[0] === 'ok', JSON.stringify(logs));
    check('fsprobe: tools.available (list<string>)', lines[1] === 'ok probe search', lines[1]);
    check('fsprobe: tools.call ok (result<string, variant>)', lines[2] === 'ok {"echoed":{"a":1}}', lines[2]);
    check('fsprobe: tools.call err (variant case with payload)', lines[3] === 'err not-found no tool nope', lines[3]);
    check('fsprobe: random (u64 → list<u8>)', lines[4] === 'ok 07070707', lines[4]);
    check('fsprobe: clock (record with u64/u32 fields, u64)', lines[5] === 'ok 1700000000000000005 123456789', lines[5]);
    check('fsprobe: getenv (list<tuple<string,string>>)', lines[6] === 'ok fsprobe', lines[6]);
    check('fsprobe: print (resources: own output-stream, borrow in methods, list<u8>)', lines[7]?.startsWith('ok') && stdout.join('') === 'to stdout\n', `${lines[7]}; stdout ${JSON.stringify(stdout.join(''))}`);
  } catch (e) {
    check('fsprobe: runs a script through the bridge', false, `${e?.code ?? ''} ${e?.message}`);
  }
  console.log(`     host calls: ${[...calls].map(([k, n]) => `${k.replace(/@0\.\d+\.\d+/, '')}×${n}`).join(', ')}`);

  // jco's host convention for results (opt-in): return = ok, throw = err (jco's getErrorPayload).
  // The toy WASI's result-typed functions are adapted (ok → the bare payload, or a junk value for
  // result<_, E>, which must be ignored); tools.call is answered per tool name.
  const resultFns = new Set(['check-write', 'write', 'blocking-write-and-flush', 'blocking-flush', 'flush'].map((m) => `wasi:io/streams@0.2.12#[method]output-stream.${m}`));
  const boom = new Error('boom');
  const jcoHost = (iface, fn, args) => {
    const k = `${iface}#${fn}`;
    if (k === 'agent-os:sandbox/tools@0.1.0#call') {
      switch (args[0]) {
        case 'probe':
          return JSON.stringify({ echoed: JSON.parse(args[1]) });
        case 'nope':
          throw { payload: { tag: 'not-found', val: 'x' } };
        case 'plain':
          throw { tag: 'not-found', val: 'thrown as is' };
        case 'boom':
          throw boom;
        default:
          throw { payload: 42 }; // not a tool-error: a conversion failure
      }
    }
    const r = host(iface, fn, args);
    if (!resultFns.has(k)) return r;
    if (r.tag === 'err') throw { payload: r.val };
    return 'val' in r ? r.val : 'ignored';
  };
  const jcoLimits = { fuel: 1e10, memoryBytes: 64 * MiB, timeoutMs: 5000 };
  stdout.length = 0;
  try {
    const inst = engine.instantiateWithHost(c, jcoLimits, jcoHost, { jcoResults: true });
    const r = engine.run(inst, ['tool probe {"a":1}', 'tool nope {}', 'tool plain {}', 'print via jco'].join('\n'));
    const lines = (r.ok ?? '').split('\n');
    check('jco: tools.call host returns a plain string → ok', lines[0] === 'ok {"echoed":{"a":1}}', lines[0] ?? JSON.stringify(r));
    check('jco: host throws { payload: variant } → err not-found', lines[1] === 'err not-found x', lines[1]);
    check('jco: host throws a plain value (the variant itself) → err', lines[2] === 'err not-found thrown as is', lines[2]);
    check('jco: stream write, result<_, E>: the return value is ignored', lines[3]?.startsWith('ok') && stdout.join('') === 'via jco\n', `${lines[3]}; stdout ${JSON.stringify(stdout.join(''))}`);
  } catch (e) {
    check('jco: tools.call host returns a plain string → ok', false, `${e?.code ?? ''} ${e?.message}`);
  }
  try {
    engine.run(engine.instantiateWithHost(c, jcoLimits, jcoHost, { jcoResults: true }), 'tool boom {}');
    check('jco: host throws new Error → the run throws that same Error', false);
  } catch (e) {
    check('jco: host throws new Error → the run throws that same Error', e === boom, String(e?.message));
  }
  expectThrow('jco: a thrown payload that is not a tool-error traps naming the import', () => engine.run(engine.instantiateWithHost(c, jcoLimits, jcoHost, { jcoResults: true }), 'tool bad {}'), 'AGENT_ERROR', /agent-os:sandbox\/tools@0\.1\.0#call/);
  expectThrow('jco: off by default (a plain string for result<string, E> traps)', () => engine.run(engine.instantiateWithHost(c, jcoLimits, jcoHost), 'tool probe {}'), 'AGENT_ERROR', /agent-os:sandbox\/tools@0\.1\.0#call/);
}

// ---------------------------------------------------------------- V8's own wasm still traps properly
{
  // A tiny core module that reads far out of bounds: V8's trap handler (signals) must still work
  // next to wasmtime's handlers.
  const bytes = new Uint8Array([
    0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 5, 3, 1, 0, 1, 7, 5, 1, 1, 102, 0, 0, 10, 13, 1, 11, 0, 65,
    128, 128, 128, 128, 4, 40, 2, 0, 11,
  ]);
  let msg = '';
  try {
    new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.f();
  } catch (e) {
    msg = `${e.constructor.name}: ${e.message}`;
  }
  check('coexistence: a V8 wasm out-of-bounds trap is still a RuntimeError', /RuntimeError/.test(msg), msg);
  const c = engine.compileComponent(fixtures.trap, cacheDir);
  expectThrow('coexistence: and a wasmtime trap after it still maps', () => engine.run(engine.instantiate(c, { fuel: 1e6 }), 'x'), 'AGENT_ERROR');
}

// ---------------------------------------------------------------- in a worker thread
/** Run `code` (CommonJS, given `workerData.addonPath` and `.bytes`) in a worker; its first message, or the error. */
async function inWorker(code, bytes) {
  const { Worker } = await import('node:worker_threads');
  return new Promise((resolve) => {
    const w = new Worker(code, { eval: true, workerData: { addonPath, bytes } });
    w.once('message', (m) => resolve(m));
    w.once('error', (e) => resolve(`error: ${e.message}`));
  });
}

{
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { Engine } = require(workerData.addonPath);
    const engine = new Engine({ epochTickMs: 10, maxInstances: 10 });
    const c = engine.compileComponent(workerData.bytes);
    const r = engine.run(engine.instantiate(c, { fuel: 1e6 }), 'from a worker');
    parentPort.postMessage(r.ok);
  `;
  const result = await inWorker(code, fixtures.echo);
  check('worker: the addon loads and runs in a worker_thread too', result === 'from a worker', String(result));
}
{
  // What cancelling an agent does: the guest spins in a worker, the host sets its interrupt cell
  // and terminates the worker, which exits at the next epoch tick (terminate() alone waits for
  // the napi call, i.e. the deadline).
  const { Worker } = await import('node:worker_threads');
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { Engine } = require(workerData.addonPath);
    const engine = new Engine({ epochTickMs: 10, maxInstances: 10 });
    const c = engine.compileComponent(workerData.bytes);
    const inst = engine.instantiateWithHost(c, { timeoutMs: 20000 }, () => undefined, { interrupt: new Int32Array(workerData.cell) });
    parentPort.postMessage('running');
    try { engine.run(inst, 'x'); } catch (e) { parentPort.postMessage(e.code); }
  `;
  const w = new Worker(code, { eval: true, workerData: { addonPath, bytes: fixtures.loop, cell: cell.buffer } });
  const codes = [];
  w.on('message', (m) => codes.push(m));
  const exited = new Promise((resolve) => w.once('exit', resolve));
  while (!codes.includes('running')) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 100));
  const t = Date.now();
  Atomics.store(cell, 0, 1);
  await Promise.race([exited, w.terminate()]);
  const took = Date.now() - t;
  check('worker: setting the interrupt cell, then terminate(), frees a spinning worker at once', took < 1_000, `${took} ms`);
}

// ---------------------------------------------------------------- shared engines
{
  const a = new Engine({ epochTickMs: 0, pooling: false, shared: true });
  const b = new Engine({ epochTickMs: 0, pooling: false, shared: true });
  const lone = new Engine({ epochTickMs: 0, pooling: false });
  const first = a.compileComponent(fixtures.echo);
  const again = b.compileComponent(fixtures.echo);
  check('shared: a second shared Engine takes the compiled component from memory (no cache dir)', !first.cacheHit && again.cacheHit, `${first.compileMs.toFixed(2)} ms, then ${again.compileMs.toFixed(3)} ms`);
  check('shared: an Engine that is not shared compiles its own', lone.compileComponent(fixtures.echo).cacheHit === false);
  const r = b.run(b.instantiate(first, { fuel: 1e6, epochDeadline: 1e6 }), 'x');
  check('shared: a component compiled by one shared Engine runs on another of the same options', r.ok === 'x', JSON.stringify(r));
  const { createHash } = await import('node:crypto');
  const key = createHash('sha256').update(fixtures.echo).digest('hex');
  check('shared: the caller may give the bytes\' SHA-256 as the key (a hit then hashes nothing)', b.compileComponent(fixtures.echo, undefined, key).cacheHit === true);
  expectThrow('shared: a key that is not the SHA-256 of the bytes is refused before compiling', () => b.compileComponent(fixtures.fail, undefined, 'ab'.repeat(32)), 'INTERNAL', /not the SHA-256/);
  expectThrow('shared: a key that is not 64 hex digits is refused', () => b.compileComponent(fixtures.echo, undefined, 'nope'), 'INTERNAL', /lowercase hex/);
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const { Engine } = require(workerData.addonPath);
    const c = new Engine({ epochTickMs: 0, pooling: false, shared: true }).compileComponent(workerData.bytes);
    parentPort.postMessage(c.cacheHit);
  `;
  const hit = await inWorker(code, fixtures.echo);
  check('shared: a worker thread finds the component another thread compiled', hit === true, String(hit));
}

// ---------------------------------------------------------------- pool exhaustion
{
  const small = new Engine({ epochTickMs: 0, maxInstances: 4, maxMemoryBytes: 16 * MiB });
  const c = small.compileComponent(fixtures.echo);
  const live = [];
  for (let i = 0; i < 4; i++) live.push(small.instantiate(c, { epochDeadline: 1e9 }));
  expectThrow('pool: the 5th concurrent instance is QUOTA_EXCEEDED', () => small.instantiate(c, { epochDeadline: 1e9 }), 'QUOTA_EXCEEDED');
  live[0].dispose();
  let ok = false;
  try {
    small.instantiate(c, { epochDeadline: 1e9 });
    ok = true;
  } catch (e) {
    console.log(`     ${e.code}: ${e.message}`);
  }
  check('pool: dispose frees a slot', ok);
}

// ---------------------------------------------------------------- timing
if (timing) {
  const N = quick ? 200 : 1000;
  const limits = { fuel: 1e9, memoryBytes: 16 * MiB, timeoutMs: 1000 };
  for (let i = 0; i < 50; i++) engine.instantiate(echo, limits).dispose();
  const js = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    const inst = engine.instantiate(echo, limits);
    js.push(Number(process.hrtime.bigint() - t));
    inst.dispose();
  }
  const rust = engine.benchInstantiate(echo, N);
  console.log(`time warm instantiate (echo, InstancePre, pooling) over ${N}: JS→addon median ${us(median(js))} (p90 ${us(pct(js, 0.9))}); Rust-side median ${us(median(rust))}`);

  const inst = engine.instantiate(echo, limits);
  const M = quick ? 2000 : 20000;
  for (let i = 0; i < 1000; i++) engine.run(inst, 'ping');
  const calls = [];
  for (let i = 0; i < M; i++) {
    const t = process.hrtime.bigint();
    engine.run(inst, 'ping');
    calls.push(Number(process.hrtime.bigint() - t));
  }
  const rustCalls = engine.benchRun(inst, 'ping', M);
  console.log(`time run('ping') on echo over ${M}: JS→addon median ${us(median(calls))} (p90 ${us(pct(calls, 0.9))}); Rust-side func.call median ${us(median(rustCalls))}`);

  const logC = engine.compileComponent(fixtures.log, cacheDir);
  const logInst = engine.instantiateWithHost(logC, limits, () => undefined);
  for (let i = 0; i < 1000; i++) engine.run(logInst, 'ping');
  const hc = [];
  for (let i = 0; i < M; i++) {
    const t = process.hrtime.bigint();
    engine.run(logInst, 'ping');
    hc.push(Number(process.hrtime.bigint() - t));
  }
  const perHostCall = (median(hc) - median(calls)) / 2;
  console.log(`time run('ping') on log.wat (2 bridged host calls each) median ${us(median(hc))} → ≈ ${us(perHostCall)} per host call through the bridge`);

  const fetchprobe = join(repo, 'test/fixtures/build/fetchprobe.wasm');
  if (existsSync(fetchprobe)) {
    const bytes = readFileSync(fetchprobe);
    const e2 = new Engine({ epochTickMs: 0 });
    const dir = join(work, 'cache-fetchprobe');
    const a = e2.compileComponent(bytes, dir);
    const b = e2.compileComponent(bytes, dir);
    console.log(`time fetchprobe (StarlingMonkey, ${(bytes.length / MiB).toFixed(1)} MiB): cold compile ${a.compileMs.toFixed(0)} ms, from cache ${b.compileMs.toFixed(1)} ms (hit=${b.cacheHit}), ${a.imports.length} imports`);
  }
  const cold = new Engine({ epochTickMs: 0 });
  const t0 = process.hrtime.bigint();
  cold.compileComponent(fixtures.echo);
  const t1 = process.hrtime.bigint();
  console.log(`time cold compile echo (no cache) ${((Number(t1 - t0)) / 1e6).toFixed(2)} ms`);
}

rmSync(work, { recursive: true, force: true });
console.log(failures === 0 ? 'all checks passed' : `${failures} check(s) FAILED`);
process.exit(failures === 0 ? 0 : 1);
