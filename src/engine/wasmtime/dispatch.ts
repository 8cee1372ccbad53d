/**
 * The bridge between a native engine's component imports and our host implementation.
 *
 * The host capabilities (`src/capabilities/`, assembled by `buildHostImports`) are written to
 * jco's JavaScript conventions: an object per interface (`imports['wasi:filesystem/types']`),
 * camelCase functions, a PascalCase class per resource whose instances are the resources, and
 * for a function returning `result<T, E>` a return value for `ok` and a throw (an object with
 * `payload`, or any non-Error value) for `err`. The addon (with `jcoResults`) converts each
 * call's arguments to jco's value representation and calls {@link nativeHost}, which finds the
 * member with {@link bindImport}. So both engines run the very same gated host code: one gate,
 * one policy, one audit trail.
 *
 * Resources cross as `{ resource, rep, own }` handles: {@link ResourceTable} maps reps to the
 * host objects in both directions, wherever a handle sits, and the guest's drop of a handle
 * disposes of its object.
 *
 * @example
 * ```ts
 * const table = new ResourceTable();
 * const inst = engine.instantiateWithHost(component, limits, nativeHost(host.imports, table), { jcoResults: true });
 * ```
 */
import { unversioned } from '../../sandbox/imports.js';

/** A host member bound to one import: a function of the (already converted) arguments. */
export type BoundImport = (args: readonly unknown[]) => unknown;

/** Why an import cannot be bound: the interface or the member is missing from the host. */
export class MissingImportError extends Error {
  constructor(readonly iface: string, readonly func: string, detail: string) {
    super(`the sandbox does not provide ${iface === '' ? '' : `${iface}#`}${func}: ${detail}`);
    this.name = 'MissingImportError';
  }
}

/** `stat-at` → `statAt`; `from-list` → `fromList`. */
export function camelCase(kebab: string): string {
  return kebab.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `descriptor` → `Descriptor`; `incoming-body` → `IncomingBody`. */
export function pascalCase(kebab: string): string {
  const c = camelCase(kebab);
  return c.charAt(0).toUpperCase() + c.slice(1);
}

/** The parts of a component-model function name. */
export type ParsedName =
  | { readonly kind: 'function'; readonly func: string }
  | { readonly kind: 'method' | 'static'; readonly resource: string; readonly func: string }
  | { readonly kind: 'constructor'; readonly resource: string };

/** Parse `[method]descriptor.stat-at` and friends. */
export function parseFuncName(name: string): ParsedName {
  const m = /^\[(method|static|constructor)\]([a-z0-9-]+)(?:\.([a-z0-9-]+))?$/.exec(name);
  if (!m) return { kind: 'function', func: name };
  const [, kind, resource, func] = m as unknown as [string, 'method' | 'static' | 'constructor', string, string | undefined];
  if (kind === 'constructor') return { kind, resource: resource };
  if (func === undefined) throw new TypeError(`malformed import name ${JSON.stringify(name)}`);
  return { kind, resource: resource, func };
}

const symbolDispose: symbol = (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('dispose');

/**
 * Host resource objects by handle. Handles are small integers, reused after a drop; 0 is never
 * a handle, so a zeroed value is never mistaken for one.
 */
export class ResourceTable {
  private readonly objects: (object | undefined)[] = [undefined];
  private readonly free: number[] = [];

  /** Number of live handles. */
  get size(): number {
    return this.objects.length - 1 - this.free.length;
  }

  /** A new handle for a host object the guest now owns. */
  add(obj: object): number {
    if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function')) throw new TypeError('a resource must be a host object');
    const rep = this.free.pop() ?? this.objects.length;
    this.objects[rep] = obj;
    return rep;
  }

  /** The object of a live handle. */
  get(rep: number): object {
    const o = this.objects[rep];
    if (o === undefined) throw new RangeError(`resource handle ${rep} is not live`);
    return o;
  }

  /** The guest passed ownership to the host: forget the handle, keep the object alive. */
  take(rep: number): object {
    const o = this.get(rep);
    this.objects[rep] = undefined;
    this.free.push(rep);
    return o;
  }

  /** The guest dropped its handle: forget the object and dispose of it. */
  drop(rep: number): void {
    const o = this.get(rep);
    this.objects[rep] = undefined;
    this.free.push(rep);
    const dispose = (o as Record<symbol, unknown>)[symbolDispose];
    if (typeof dispose === 'function') (dispose as () => void).call(o);
  }

  /** Drop every live handle (the instance is gone). Disposal errors are ignored. */
  clear(): void {
    for (let rep = 1; rep < this.objects.length; rep++) {
      if (this.objects[rep] !== undefined) {
        try {
          this.drop(rep);
        } catch {
          // The instance is being torn down; nothing is left to tell.
        }
      }
    }
  }
}

/** The host member for one import: a function of its (already converted) arguments. */
export function bindImport(imports: Readonly<Record<string, Readonly<Record<string, unknown>>>>, ifaceName: string, funcName: string): BoundImport {
  const iface = unversioned(ifaceName);
  const members = iface === '' ? imports : imports[iface];
  if (!members || typeof members !== 'object') throw new MissingImportError(ifaceName, funcName, 'no such interface');
  const parsed = parseFuncName(funcName);
  if (parsed.kind === 'function') {
    const fn = members[camelCase(parsed.func)];
    if (typeof fn !== 'function') throw new MissingImportError(ifaceName, funcName, `no function ${camelCase(parsed.func)}`);
    return (args) => (fn as (...a: unknown[]) => unknown)(...args);
  }
  const cls = members[pascalCase(parsed.resource)] as (new (...a: unknown[]) => object) & Record<string, unknown>;
  if (typeof cls !== 'function') throw new MissingImportError(ifaceName, funcName, `no resource class ${pascalCase(parsed.resource)}`);
  if (parsed.kind === 'constructor') return (args) => new cls(...args);
  if (parsed.kind === 'static') {
    const fn = cls[camelCase(parsed.func)];
    if (typeof fn !== 'function') throw new MissingImportError(ifaceName, funcName, `no static ${pascalCase(parsed.resource)}.${camelCase(parsed.func)}`);
    return (args) => (fn as (...a: unknown[]) => unknown).apply(cls, args as unknown[]);
  }
  const name = camelCase(parsed.func);
  const fn = (cls.prototype as Record<string, unknown>)[name];
  if (typeof fn !== 'function') throw new MissingImportError(ifaceName, funcName, `no method ${pascalCase(parsed.resource)}.${name}`);
  // The first argument is the `self` handle, already converted to its object.
  return (args) => (fn as (...a: unknown[]) => unknown).apply(args[0], args.slice(1) as unknown[]);
}

/** A resource handle as the native bridge passes it to the host. */
interface NativeHandle {
  readonly resource: string;
  readonly rep: number;
  readonly own: boolean;
}

function isHandle(v: object): v is NativeHandle {
  const o = v as Record<string, unknown>;
  return typeof o['rep'] === 'number' && typeof o['resource'] === 'string' && typeof o['own'] === 'boolean' && Object.keys(o).length === 3;
}

/** Handles in the arguments become their host objects; an owned one leaves the table (the host now owns it). */
function argIn(v: unknown, table: ResourceTable): unknown {
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map((x) => argIn(x, table));
  if (isHandle(v)) return v.own ? table.take(v.rep) : table.get(v.rep);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = argIn(x, table);
  return out;
}

/** Host objects in a result (class instances, not plain records) get handles in the table. */
function resultOut(v: unknown, table: ResourceTable): unknown {
  if (v === null || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map((x) => resultOut(x, table));
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return table.add(v);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = resultOut(x, table);
  return out;
}

/**
 * The `host` function of the native engine's import bridge (run with `jcoResults`): every
 * import goes to the jco-convention host member {@link bindImport} finds, with resource
 * handles mapped through `table`, and a guest's drop of a handle disposes of its object.
 */
export function nativeHost(imports: Readonly<Record<string, Readonly<Record<string, unknown>>>>, table: ResourceTable): (iface: string, func: string, args: unknown[]) => unknown {
  const bound = new Map<string, BoundImport>();
  return (iface, func, args) => {
    if (func.startsWith('[resource-drop]')) {
      // The bridge passes the rep itself for a drop.
      table.drop((Array.isArray(args) ? args[0] : args) as number);
      return undefined;
    }
    const key = `${iface}#${func}`;
    let call = bound.get(key);
    if (!call) {
      call = bindImport(imports, iface, func);
      bound.set(key, call);
    }
    let value: unknown;
    try {
      value = call(args.map((a) => argIn(a, table)));
    } catch (e) {
      // An err payload may carry host objects too (stream-error's last-operation-failed(error)).
      if (e !== null && typeof e === 'object' && Object.hasOwn(e, 'payload')) throw { payload: resultOut((e as { payload: unknown }).payload, table) };
      if (e instanceof Error) throw e;
      throw resultOut(e, table);
    }
    return resultOut(value, table);
  };
}
