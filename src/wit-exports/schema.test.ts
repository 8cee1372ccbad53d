import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { argumentsSchema, returnSchema, unsupportedReason, valueSchema } from './schema.js';
import { fromGuest, toGuest } from './values.js';
import { parseDescription } from './describe.js';
import type { WitFunction, WitType } from './types.js';

const point: WitType = { kind: 'record', name: 'point', docs: 'A point.', fields: [{ name: 'x-pos', docs: null, type: { kind: 's32' } }, { name: 'y', docs: null, type: { kind: 'option', type: { kind: 'u8' } } }] };
const shape: WitType = { kind: 'variant', name: 'shape', docs: null, cases: [{ name: 'circle', docs: null, type: { kind: 'f64' } }, { name: 'rect', docs: null, type: point }, { name: 'empty', docs: null, type: null }] };
const style: WitType = { kind: 'flags', name: 'style', docs: null, flags: [{ name: 'bold', docs: null }, { name: 'under-line', docs: null }] };
const fn: WitFunction = {
  interface: 'test:x/y@1.0.0',
  name: 'f',
  docs: null,
  params: [
    { name: 's', type: shape },
    { name: 'st', type: style },
    { name: 'u', type: { kind: 'enum', name: 'unit', docs: null, cases: [{ name: 'metric', docs: null }, { name: 'imperial', docs: null }] } },
    { name: 'r', type: { kind: 'result', ok: { kind: 'u64' }, err: null } },
    { name: 't', type: { kind: 'tuple', types: [{ kind: 'bool' }, { kind: 'char' }] } },
    { name: 'l', type: { kind: 'list', element: { kind: 'u8' } } },
  ],
  result: { kind: 'result', ok: { kind: 'string' }, err: { kind: 'string' } },
};

describe('WIT types → JSON Schema', () => {
  it('derives an object schema with one required property per parameter', () => {
    const json = z.toJSONSchema(argumentsSchema(fn)) as { type: string; required: string[]; additionalProperties: boolean; properties: Record<string, Record<string, unknown>> };
    expect(json).toMatchObject({ type: 'object', additionalProperties: false });
    expect(json.required.sort()).toEqual(['l', 'r', 's', 'st', 't', 'u']);
    expect(json.properties['u']).toMatchObject({ enum: ['metric', 'imperial'] });
    expect(json.properties['st']).toMatchObject({ type: 'array', items: { enum: ['bold', 'under-line'] } });
    expect(json.properties['t']).toMatchObject({ type: 'array', prefixItems: [{ type: 'boolean' }, { type: 'string' }] });
    expect(json.properties['l']).toMatchObject({ type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 } });
    const s = JSON.stringify(json.properties['s']);
    for (const tag of ['circle', 'rect', 'empty', 'x-pos']) expect(s).toContain(tag);
    expect(returnSchema(fn).safeParse('x').success).toBe(true);
  });

  it('leaves option fields and parameters optional, and accepts null for them', () => {
    const p = valueSchema(point);
    expect(p.safeParse({ 'x-pos': 1 }).success).toBe(true);
    expect(p.safeParse({ 'x-pos': 1, y: null }).success).toBe(true);
    expect(p.safeParse({ 'x-pos': 1, y: 300 }).success).toBe(false);
    expect(p.safeParse({ 'x-pos': 1, z: 1 }).success).toBe(false);
  });

  it('refuses option<option<T>>, resources and streams as not callable', () => {
    const f = (t: WitType): WitFunction => ({ interface: null, name: 'g', docs: null, params: [{ name: 'a', type: t }], result: null });
    expect(unsupportedReason(f({ kind: 'option', type: { kind: 'option', type: { kind: 'u8' } } }))).toMatch(/option of an option/);
    expect(unsupportedReason(f({ kind: 'list', element: { kind: 'unsupported', what: 'own<file>' } }))).toMatch(/own<file>/);
    expect(unsupportedReason(fn)).toBeUndefined();
  });
});

describe('canonical JSON ↔ jco values', () => {
  it('converts both ways', () => {
    expect(toGuest({ 'x-pos': 3, y: null }, point)).toEqual({ xPos: 3, y: undefined });
    expect(toGuest(['under-line'], style)).toEqual({ bold: false, underLine: true });
    expect(toGuest({ ok: '18446744073709551615' }, { kind: 'result', ok: { kind: 'u64' }, err: null })).toEqual({ tag: 'ok', val: 18446744073709551615n });
    expect(toGuest([1, 2], { kind: 'list', element: { kind: 'u8' } })).toEqual(new Uint8Array([1, 2]));
    expect(fromGuest({ tag: 'rect', val: { xPos: 1, y: 2 } }, shape)).toEqual({ tag: 'rect', val: { 'x-pos': 1, y: 2 } });
    expect(fromGuest({ bold: true, underLine: false }, style)).toEqual(['bold']);
    expect(fromGuest(new BigUint64Array([1n, 1n << 60n]), { kind: 'list', element: { kind: 'u64' } })).toEqual([1, '1152921504606846976']);
    expect(fromGuest(Number.NaN, { kind: 'f64' })).toBe('NaN');
  });

  it('refuses guest values that do not fit their type', () => {
    expect(() => fromGuest({ tag: 'hexagon' }, shape)).toThrow(/one of the cases/);
    expect(() => fromGuest('x', { kind: 'u32' })).toThrow(/expected a u32/);
  });
});

describe('parseDescription', () => {
  it('reads the addon JSON and marks functions it cannot call', () => {
    const fns = parseDescription({ functions: [{ interface: null, name: 'h', docs: ' Does h. ', params: [{ name: 'r', type: { kind: 'own' } }], result: { kind: 'u32' } }] });
    expect(fns[0]).toMatchObject({ id: 'h', docs: 'Does h.', unsupported: expect.stringContaining('own') });
    expect(() => parseDescription({ functions: [{ name: 3 }] })).toThrow(TypeError);
  });
});
