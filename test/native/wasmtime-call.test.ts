/**
 * The wasmtime addon's typed exports, directly: `describeComponent` (the component's WIT,
 * decoded in Rust, as JSON; doc comments from the WIT source) and `Engine.call` (any exported
 * function, arguments and result in jco's conventions, under the same fuel and trap handling as
 * `run`). The component is the `typed` fixture (its own world: `run`, `add` and the interface
 * `test:typed/shapes@0.1.0`), on the same gated host as the wasmtime engine uses.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { DEFAULT_CAPS, type HostContext } from '../../dist/capabilities/context.js';
import { buildHostImports } from '../../dist/engine/jco/host.js';
import { nativeHost, ResourceTable } from '../../dist/engine/wasmtime/dispatch.js';
import { Gate } from '../../dist/gate/gate.js';
import { resolvePolicy } from '../../dist/sandbox/policy-input.js';
import { writeUleb } from '../../dist/util/leb128.js';
import { loadWasmtimeAddon, type NativeComponent, type NativeComponentDescription, type NativeEngine, type NativeInstance } from '../../src/engine/wasmtime/addon.js';
import { FIXTURE_SOURCES_DIR, fixturePath } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { describeNeeds } from '../helpers/skip.js';

const SHAPES = 'test:typed/shapes@0.1.0';
const hasCargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status === 0;

/** A custom section (id 0) named `name` holding `payload`. */
function customSection(name: string, payload: Buffer): Buffer {
  const leb = writeUleb;
  const nameBytes = Buffer.from(name);
  const body = Buffer.concat([Buffer.from(leb(nameBytes.length)), nameBytes, payload]);
  return Buffer.concat([Buffer.from([0]), Buffer.from(leb(body.length)), body]);
}

describeNeeds(hasCargo ? [] : [needs.wasmtimeAddon()], 'wasmtime addon: describeComponent and Engine.call', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0).reverse()) c();
  });

  let compiled: { engine: NativeEngine; component: NativeComponent } | undefined;

  /** A `typed` instance on the real host (nothing allowed but what every agent gets). */
  async function typed(limits: { fuel?: number } = {}): Promise<{ engine: NativeEngine; inst: NativeInstance }> {
    const policy = await resolvePolicy({ version: 1 });
    const gate = new Gate(policy as never, 'agent-typed', () => true);
    const ctx: HostContext = { agentId: 'agent-typed', gate, caps: DEFAULT_CAPS, env: [], rpc: undefined, emit: () => {}, flush: () => {}, count: () => {} };
    const host = buildHostImports(ctx, []);
    const table = new ResourceTable();
    // One engine and one compilation for the file (the StarlingMonkey component takes seconds).
    // No epoch ticker thread in the test runner's own process (calls are bounded by fuel).
    compiled ??= (() => {
      const engine = new (loadWasmtimeAddon().Engine)({ epochTickMs: 0, maxInstances: 4, maxMemoryBytes: 256 << 20 });
      return { engine, component: engine.compileComponent(readFileSync(fixturePath('typed'))) };
    })();
    const { engine, component } = compiled;
    const inst = engine.instantiateWithHost(component, { fuel: limits.fuel ?? 10_000_000_000 }, nativeHost(host.imports, table), { jcoResults: true });
    cleanups.push(() => {
      inst.dispose();
      table.clear();
      host.close();
    });
    return { engine, inst };
  }

  it('describes the exported functions with their WIT types (docs from the WIT source)', () => {
    const bytes = readFileSync(fixturePath('typed'));
    const d = JSON.parse(loadWasmtimeAddon().describeComponent(bytes)) as NativeComponentDescription;
    // Everything the world exports (a QuickJS build would add `init`), nothing it imports.
    const ids = d.functions.map((f) => (f.interface === null ? f.name : `${f.interface}#${f.name}`)).filter((id) => id !== 'init');
    expect(ids.sort()).toEqual(['add', 'run', `${SHAPES}#area`, `${SHAPES}#big`, `${SHAPES}#describe`, `${SHAPES}#flip`, `${SHAPES}#move-point`, `${SHAPES}#spin`].sort());
    const fn = (name: string) => d.functions.find((f) => f.name === name)!;
    expect(fn('add')).toEqual({ interface: null, name: 'add', docs: null, params: [{ name: 'a', type: { kind: 'u32' } }, { name: 'b', type: { kind: 'u32' } }], result: { kind: 'u32' } });
    const point = { kind: 'record', name: 'point', fields: [{ name: 'x', type: { kind: 's32' } }, { name: 'y', type: { kind: 's32' } }] };
    expect(fn('move-point')).toMatchObject({
      interface: SHAPES,
      params: [{ name: 'p', type: point }, { name: 'dx', type: { kind: 's32' } }, { name: 'dy', type: { kind: 'option', type: { kind: 's32' } } }],
      result: point,
    });
    expect(fn('area').params.map((p) => p.type)).toMatchObject([
      { kind: 'variant', name: 'shape', cases: [{ name: 'circle', type: { kind: 'f64' } }, { name: 'rect', type: point }, { name: 'empty', type: null }] },
      { kind: 'enum', name: 'unit', cases: [{ name: 'metric' }, { name: 'imperial' }] },
    ]);
    expect(fn('describe')).toMatchObject({
      params: [
        { name: 'tags', type: { kind: 'list', element: { kind: 'string' } } },
        { name: 'st', type: { kind: 'flags', name: 'style', flags: [{ name: 'bold' }, { name: 'italic' }, { name: 'under-line' }] } },
        { name: 'pair', type: { kind: 'tuple', types: [{ kind: 'u8' }, { kind: 'string' }] } },
      ],
      result: { kind: 'result', ok: { kind: 'string' }, err: { kind: 'string' } },
    });
    expect(fn('big').params.map((p) => p.type.kind)).toEqual(['u64', 'char', 'bool', 'f32']);
    expect(fn('big').result).toEqual({ kind: 'list', element: { kind: 'u64' } });
    expect(fn('spin')).toMatchObject({ params: [], result: null });

    // The component carries no doc comments; the WIT it was built from does.
    const withDocs = JSON.parse(loadWasmtimeAddon().describeComponent(bytes, join(FIXTURE_SOURCES_DIR, 'typed.wit'))) as NativeComponentDescription;
    const move = withDocs.functions.find((f) => f.name === 'move-point')!;
    expect(move.docs).toBe('Moves a point; `dy` defaults to 0.');
    expect(move.params[0]!.type).toMatchObject({ docs: 'A point on the integer grid.', fields: [{ name: 'x', docs: 'Distance from the left edge.' }, { name: 'y', docs: null }] });
    expect(withDocs.functions.find((f) => f.name === 'add')!.docs).toBe('Adds two numbers.');
  });

  it('reads doc comments a component does carry (a package-docs section), and refuses bytes that are not a component', () => {
    const docs = { worlds: { root: { funcs: { add: 'Adds, from the section.' } } } };
    const bytes = Buffer.concat([readFileSync(fixturePath('typed')), customSection('package-docs', Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify(docs))]))]);
    const d = JSON.parse(loadWasmtimeAddon().describeComponent(bytes)) as NativeComponentDescription;
    expect(d.functions.find((f) => f.name === 'add')!.docs).toBe('Adds, from the section.');
    expect(() => loadWasmtimeAddon().describeComponent(Buffer.from('not wasm'))).toThrow(expect.objectContaining({ code: 'COMPONENT_INVALID', message: expect.stringContaining('not a component') }));
    expect(() => loadWasmtimeAddon().describeComponent(readFileSync(fixturePath('typed')), '/nonexistent/typed.wit')).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('calls exported functions with records, variants, enums, options, flags, tuples and results', async () => {
    const { engine, inst } = await typed();
    const add = engine.call(inst, null, 'add', [2, 3]);
    expect(add.value).toBe(5);
    expect(add.fuelConsumed).toBeGreaterThan(0);
    expect(engine.call(inst, SHAPES, 'move-point', [{ x: 1, y: 2 }, 3, undefined]).value).toEqual({ x: 4, y: 2 });
    expect(engine.call(inst, SHAPES, 'move-point', [{ x: 1, y: 2 }, 3, -5]).value).toEqual({ x: 4, y: -3 });
    expect(engine.call(inst, SHAPES, 'area', [{ tag: 'rect', val: { x: 3, y: 4 } }, 'metric']).value).toBe(12);
    expect(engine.call(inst, SHAPES, 'area', [{ tag: 'empty' }, 'imperial']).value).toBe(0);
    // A result comes back whole, err included.
    expect(engine.call(inst, SHAPES, 'describe', [[], {}, [0, '']]).value).toEqual({ tag: 'err', val: 'no tags' });
    expect(engine.call(inst, SHAPES, 'describe', [['a', 'b'], { bold: true, underLine: true }, [7, 'x']]).value).toEqual({ tag: 'ok', val: 'a,b [bold+underLine] 7:x' });
    expect(engine.call(inst, SHAPES, 'flip', [{ tag: 'ok', val: 7 }]).value).toEqual({ tag: 'ok', val: '7' });
    expect(engine.call(inst, SHAPES, 'flip', [{ tag: 'err', val: 'four' }]).value).toEqual({ tag: 'err', val: 4 });
    // u64 in as a bigint (or an integral number), out as bigints; a char is one code point.
    expect(engine.call(inst, SHAPES, 'big', [18446744073709551615n, '😀', true, 2.5]).value).toEqual([18446744073709551615n, 0x1f600n, 1n, 3n]);
    // `run` still works beside them.
    expect(engine.run(inst, 'hello')).toMatchObject({ ok: 'hello' });
  }, 60_000);

  it('refuses a missing export, a wrong argument count and an argument that does not convert (USAGE), and the instance stays usable', async () => {
    const { engine, inst } = await typed();
    const usage = (fn: () => unknown, message: string | RegExp) => expect(fn).toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringMatching(message) }));
    usage(() => engine.call(inst, SHAPES, 'move-point', [{ x: 'one', y: 2 }, 3, undefined]), /parameter `p`.*p\.x/);
    usage(() => engine.call(inst, SHAPES, 'area', [{ tag: 'triangle' }, 'metric']), /parameter `s`.*triangle/);
    usage(() => engine.call(inst, SHAPES, 'area', [{ tag: 'empty' }, 'furlongs']), /parameter `u`/);
    usage(() => engine.call(inst, null, 'add', [-1, 3]), /parameter `a`.*out of range/);
    usage(() => engine.call(inst, null, 'add', [1]), /expects 2 argument\(s\) \(a, b\), got 1/);
    usage(() => engine.call(inst, null, 'nope', []), /no function `nope`/);
    usage(() => engine.call(inst, 'test:typed/nope@0.1.0', 'area', []), /no interface/);
    usage(() => engine.call(inst, SHAPES, 'nope', []), /no function `test:typed\/shapes@0\.1\.0#nope`/);
    expect(engine.call(inst, null, 'add', [40, 2]).value).toBe(42);
  }, 60_000);

  it('a trap in a call throws as in run (here FUEL_EXHAUSTED with fuelConsumed), and the instance refuses further calls', async () => {
    const { engine, inst } = await typed({ fuel: 50_000_000 });
    expect(() => engine.call(inst, SHAPES, 'spin', [])).toThrow(expect.objectContaining({ code: 'FUEL_EXHAUSTED', fuelConsumed: 50_000_000 }));
    expect(() => engine.call(inst, null, 'add', [1, 2])).toThrow(expect.objectContaining({ code: 'AGENT_ERROR', message: expect.stringContaining('trapped') }));
  }, 60_000);
});
