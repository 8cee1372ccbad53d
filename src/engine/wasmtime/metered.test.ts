// Components metered by our instrumenter on the wasmtime addon (native/src/meter.rs, metered.rs,
// watch.rs): what meterComponent refuses, that an instrumented engine compiles nothing else,
// and how a metered guest stops: fuel, its deadline, its interrupt cell, in a start function.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { watToComponent } from '../../build/wat.js';
import { instrumentStopFlag, STOP_FLAG_METER_KEY } from '../../limits/meter.js';
import { loadWasmtimeAddon, type NativeEngine, type NativeMeteredComponent, type WasmtimeAddon } from './addon.js';
import { fixtureSourcePath } from '../../../test/helpers/fixtures.js';
import { needs } from '../../../test/helpers/requirements.js';
import { describeNeeds } from '../../../test/helpers/skip.js';

const cache = mkdtempSync(join(tmpdir(), 'agentos-metered-'));
// Background compiles may still be writing (tiers): retry.
afterAll(() => rmSync(cache, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 }));

describeNeeds([needs.wasmtimeAddon()], 'metered components on the wasmtime addon', () => {
  let addon: WasmtimeAddon;
  let engine: NativeEngine;
  const bytes: Record<string, Uint8Array> = {};
  const meter = (b: Uint8Array): NativeMeteredComponent => addon.meterComponent!(b, (i, core) => instrumentStopFlag(`core${i}`, core));
  const compile = (name: string) => engine.compileMetered!(meter(bytes[name]!), cache);
  /** The error `fn` throws (the addon throws Errors with `code` and `fuelConsumed`). */
  const thrown = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return e as { code: string; fuelConsumed: number; message: string };
    }
    throw new Error('expected a throw');
  };

  beforeAll(async () => {
    addon = loadWasmtimeAddon();
    engine = new addon.Engine({ meter: 'instrumented', meterKey: STOP_FLAG_METER_KEY, pooling: false, epochTickMs: 5, tiered: false });
    for (const name of ['echo', 'loop', 'start-loop']) bytes[name] = await watToComponent(readFileSync(fixtureSourcePath(name), 'utf8'));
  });

  it('refuses what it cannot meter, and names a module the instrumenter refused', async () => {
    expect(thrown(() => meter(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0))).code).toBe('COMPONENT_INVALID');
    // The instrumenter's own error comes through as it was thrown.
    expect(() => addon.meterComponent!(bytes.echo!, () => { throw new RangeError('no'); })).toThrow(RangeError);
    expect(thrown(() => addon.meterComponent!(bytes.echo!, (_, core) => core)).message).toMatch(/agentos:limits/);
    // A component using the names the rewrite adds (here: metered twice) is refused.
    expect(thrown(() => meter(meter(bytes.echo!).bytes())).message).toMatch(/reserved for the host/);
  });

  it('compiles only metered components: plain bytes find what was metered before, or nothing', async () => {
    const fresh = new addon.Engine({ meter: 'instrumented', meterKey: `${STOP_FLAG_METER_KEY}-other`, pooling: false });
    expect(thrown(() => fresh.compileComponent(bytes.echo!, cache)).message).toMatch(/has not compiled this one/);
    expect((await fresh.inspectComponent(bytes.echo!, cache)).errorCode).toBe('NOT_PREPARED');
    const metered = meter(bytes.echo!);
    expect(fresh.compileMetered!(metered, cache).cacheHit).toBe(false);
    // Another engine of the same settings finds the artifact under the plain bytes' hash.
    const again = new addon.Engine({ meter: 'instrumented', meterKey: `${STOP_FLAG_METER_KEY}-other`, pooling: false });
    expect(again.compileComponent(bytes.echo!, cache).cacheHit).toBe(true);
    expect(() => new addon.Engine({ meter: 'instrumented' })).toThrow(/meterKey/);
  });

  it('counts fuel exactly, run after run, and stops at the budget with the fuel used', () => {
    const c = compile('echo');
    const inst = engine.instantiate(c, { fuel: 1_000_000 });
    const runs = [engine.run(inst, 'hello'), engine.run(inst, 'hello')];
    expect(runs[0]).toMatchObject({ ok: 'hello' });
    expect(runs[1]!.fuelConsumed).toBe(runs[0]!.fuelConsumed);
    const spin = engine.instantiate(compile('loop'), { fuel: 5_000_000 });
    const e = thrown(() => engine.run(spin, 'x'));
    expect(e.code).toBe('FUEL_EXHAUSTED');
    expect(e.fuelConsumed).toBeGreaterThan(5_000_000);
    expect(e.fuelConsumed).toBeLessThan(5_000_100);
  });

  it('tiers: a cache miss is compiled by Winch now and by Cranelift in the background, which later loads find', async () => {
    const dir = mkdtempSync(join(cache, 'tiers-'));
    const tiered = new addon.Engine({ meter: 'instrumented', meterKey: `${STOP_FLAG_METER_KEY}-tiers`, pooling: false, shared: true, epochTickMs: 5 });
    const metered = meter(bytes.echo!);
    expect(tiered.compileMetered!(metered, dir)).toMatchObject({ tier: 'baseline', cacheHit: false });
    expect(engine.run(engine.instantiate(engine.compileMetered!(metered), {}), 'x')).toMatchObject({ ok: 'x' });
    let later = tiered.compileComponent(bytes.echo!, dir);
    // Up to 60 s: the background compile runs at nice 19, behind everything else on a busy machine.
    for (let i = 0; i < 1200 && later.tier !== 'optimized'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      later = tiered.compileComponent(bytes.echo!, dir);
    }
    expect(later.tier).toBe('optimized');
    expect(tiered.run(tiered.instantiate(later, {}), 'y')).toMatchObject({ ok: 'y' });
    // The baseline artifact gives way to the optimized one; `optimized` compiles it at once.
    expect(readdirSync(dir).filter((f) => f.endsWith('.cwasm'))).toHaveLength(1);
    const other = mkdtempSync(join(cache, 'tiers-'));
    expect(tiered.compileMetered!(meter(bytes.loop!), other, true).tier).toBe('optimized');
  });

  it("falls back to wasmtime's own fuel and epochs for what the rewrite cannot meter: nested components that define core modules", () => {
    // echo inside an outer component that instantiates it and exports its `run`.
    const leb = (n: number) => { const out: number[] = []; do { out.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0)); n >>>= 7; } while (n > 0); return out; };
    const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
    const run = [0x03, ...Buffer.from('run')];
    const nested = Uint8Array.from([
      0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00,
      ...section(4, [...bytes.echo!]), // the nested component
      ...section(5, [0x01, 0x00, 0x00, 0x00]), // instantiate it, no arguments
      ...section(6, [0x01, 0x01, 0x00, 0x00, ...run]), // alias its `run`
      ...section(11, [0x01, 0x00, ...run, 0x01, 0x00, 0x00]), // export it
    ]);
    expect(thrown(() => meter(nested)).code).toBe('UNSUPPORTED');
    const dir = mkdtempSync(join(cache, 'fallback-'));
    const c = engine.compileFallback!(nested, dir);
    const r = engine.run(engine.instantiate(c, { fuel: 1_000_000 }), 'hi');
    expect(r).toMatchObject({ ok: 'hi' });
    expect(r.fuelConsumed).toBeGreaterThan(0);
    expect(thrown(() => engine.run(engine.instantiate(c, { fuel: 10 }), 'hi')).code).toBe('FUEL_EXHAUSTED');
    expect(engine.compileComponent(nested, dir).cacheHit).toBe(true);
  });

  it('stops a spinning guest at its deadline, when its interrupt cell is set, and in a start function', () => {
    const c = compile('loop');
    const t0 = performance.now();
    const timed = thrown(() => engine.run(engine.instantiate(c, { timeoutMs: 100 }), 'x'));
    expect(timed.code).toBe('TIMEOUT');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(timed.fuelConsumed).toBeGreaterThan(0);
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const inst = engine.instantiateWithHost(c, {}, () => undefined, { interrupt: cell });
    Atomics.store(cell, 0, 1);
    expect(thrown(() => engine.run(inst, 'x')).code).toBe('CANCELLED');
    // The flag is registered before the module's start function runs.
    expect(thrown(() => engine.instantiate(compile('start-loop'), { timeoutMs: 50 })).code).toBe('TIMEOUT');
  });
});
