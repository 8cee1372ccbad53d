// The native engine's import bridge: component-model names to jco-convention host members,
// jco's throw convention for results, resources by handle.
import { describe, expect, it } from 'vitest';
import { unversioned } from '../../sandbox/imports.js';
import { bindImport, camelCase, MissingImportError, nativeHost, parseFuncName, pascalCase, ResourceTable } from './dispatch.js';

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

describe('bindImport', () => {
  it('calls functions, constructors, statics and methods with self first', () => {
    const [env, ctor, stat, method] = [
      bindImport(imports, 'wasi:cli/environment@0.2.12', 'get-environment'),
      bindImport(imports, 'test:pkg/things', '[constructor]thing'),
      bindImport(imports, 'test:pkg/things', '[static]thing.from-number'),
      bindImport(imports, 'test:pkg/things', '[method]thing.stat-at'),
    ];
    expect(env([])).toEqual([['A', '1']]);
    const t = ctor([2]) as Thing;
    expect(t).toBeInstanceOf(Thing);
    expect((stat([3]) as Thing).n).toBe(30);
    expect(method([t, 'x'])).toEqual({ size: 2n, path: 'x' });
  });

  it("passes a host throw on as jco's convention has it: a payload, or a non-Error value, is the err; an Error traps", () => {
    const table = new ResourceTable();
    const host = nativeHost(imports, table);
    const self = { resource: 'test:pkg/things#thing', rep: table.add(new Thing(1)), own: false };
    expect(() => host('test:pkg/things', '[method]thing.stat-at', [self, 'missing'])).toThrow(expect.objectContaining({ payload: 'no-entry' }));
    expect(() => host('test:pkg/things', 'fail', [])).toThrow('plain');
    expect(() => host('test:pkg/things', '[method]thing.stat-at', [self, 'bug'])).toThrow(TypeError);
  });

  it('refuses imports the host does not provide, naming them', () => {
    expect(() => bindImport(imports, 'wasi:nope/x', 'f')).toThrow(MissingImportError);
    expect(() => bindImport(imports, 'test:pkg/things', '[method]thing.chmod')).toThrow(/no method Thing.chmod/);
    expect(() => bindImport(imports, 'test:pkg/things', '[constructor]widget')).toThrow(/no resource class Widget/);
    expect(() => bindImport(imports, 'wasi:cli/environment', 'get-arguments')).toThrow(/wasi:cli\/environment#get-arguments/);
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
