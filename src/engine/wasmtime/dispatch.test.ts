// The native engine's import bridge: component-model names to jco-convention host members,
// results as { tag, val }, resources by handle.
import { describe, expect, it } from 'vitest';
import { bindImports, camelCase, MissingImportError, parseFuncName, pascalCase, ResourceTable, unversioned } from './dispatch.js';

class Thing {
  static made = 0;
  disposed = false;
  constructor(readonly n: number) {
    Thing.made++;
  }
  static fromNumber(n: number): Thing {
    return new Thing(n * 10);
  }
  statAt(path: string): { size: bigint; path: string } {
    if (path === 'missing') throw { payload: 'no-entry' };
    if (path === 'bug') throw new TypeError('host bug');
    return { size: BigInt(this.n), path };
  }
  [Symbol.dispose](): void {
    this.disposed = true;
  }
}

const imports = {
  'wasi:cli/environment': { getEnvironment: () => [['A', '1']] },
  'test:pkg/things': { Thing, thingErrorCode: (t: Thing) => (t.n > 1 ? 'big' : undefined), fail: () => { throw 'plain'; } },
};

describe('names', () => {
  it('parses component-model function names and converts case like jco', () => {
    expect(parseFuncName('get-environment')).toEqual({ kind: 'function', func: 'get-environment' });
    expect(parseFuncName('[method]descriptor.stat-at')).toEqual({ kind: 'method', resource: 'descriptor', func: 'stat-at' });
    expect(parseFuncName('[static]fields.from-list')).toEqual({ kind: 'static', resource: 'fields', func: 'from-list' });
    expect(parseFuncName('[constructor]fields')).toEqual({ kind: 'constructor', resource: 'fields' });
    expect(camelCase('read-via-stream')).toBe('readViaStream');
    expect(pascalCase('incoming-body')).toBe('IncomingBody');
    expect(unversioned('wasi:io/streams@0.2.12')).toBe('wasi:io/streams');
  });
});

describe('bindImports', () => {
  it('calls functions, constructors, statics and methods with self first', () => {
    const [env, ctor, stat, method] = bindImports(imports, [
      { iface: 'wasi:cli/environment@0.2.12', name: 'get-environment', result: false },
      { iface: 'test:pkg/things', name: '[constructor]thing', result: false },
      { iface: 'test:pkg/things', name: '[static]thing.from-number', result: false },
      { iface: 'test:pkg/things', name: '[method]thing.stat-at', result: true },
    ]);
    expect(env!([])).toEqual([['A', '1']]);
    const t = ctor!([2]) as Thing;
    expect(t).toBeInstanceOf(Thing);
    expect((stat!([3]) as Thing).n).toBe(30);
    expect(method!([t, 'x'])).toEqual({ tag: 'ok', val: { size: 2n, path: 'x' } });
  });

  it("turns a host throw into err as jco does: payload, or a non-Error value; an Error traps", () => {
    const [method, fail] = bindImports(imports, [
      { iface: 'test:pkg/things', name: '[method]thing.stat-at', result: true },
      { iface: 'test:pkg/things', name: 'fail', result: true },
    ]);
    const t = new Thing(1);
    expect(method!([t, 'missing'])).toEqual({ tag: 'err', val: 'no-entry' });
    expect(fail!([])).toEqual({ tag: 'err', val: 'plain' });
    expect(() => method!([t, 'bug'])).toThrow(TypeError);
  });

  it('refuses imports the host does not provide, naming them', () => {
    expect(() => bindImports(imports, [{ iface: 'wasi:nope/x', name: 'f', result: false }])).toThrow(MissingImportError);
    expect(() => bindImports(imports, [{ iface: 'test:pkg/things', name: '[method]thing.chmod', result: false }])).toThrow(/no method Thing.chmod/);
    expect(() => bindImports(imports, [{ iface: 'test:pkg/things', name: '[constructor]widget', result: false }])).toThrow(/no resource class Widget/);
    expect(() => bindImports(imports, [{ iface: 'wasi:cli/environment', name: 'get-arguments', result: false }])).toThrow(/wasi:cli\/environment#get-arguments/);
  });
});

describe('ResourceTable', () => {
  it('hands out non-zero handles, reuses dropped ones, disposes on drop and clear', () => {
    const table = new ResourceTable();
    const a = new Thing(1);
    const b = new Thing(2);
    const ra = table.add(a);
    const rb = table.add(b);
    expect(ra).toBeGreaterThan(0);
    expect(rb).not.toBe(ra);
    expect(table.get(ra)).toBe(a);
    table.drop(ra);
    expect(a.disposed).toBe(true);
    expect(() => table.get(ra)).toThrow(/not live/);
    expect(() => table.drop(ra)).toThrow(/not live/);
    const c = new Thing(3);
    expect(table.add(c)).toBe(ra);
    expect(table.size).toBe(2);
    table.clear();
    expect(b.disposed && c.disposed).toBe(true);
    expect(table.size).toBe(0);
    expect(() => table.get(0)).toThrow();
    expect(() => table.add(null as unknown as object)).toThrow(TypeError);
  });
});
