import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { capText, CAPS, decodeRecord, encodeRecord, peekHeader, RECORD_VERSION, TRUNCATION_MARK, type AuditRecordInput } from './record.js';

const PREV = 'ab'.repeat(32);
const base: AuditRecordInput = { eventType: 'capability_used', agentId: 'agent-1', source: 'gate', action: 'read', resource: '/workspace/a.ts', outcome: 'success' };

describe('canonical record encoding', () => {
  it('puts the top-level members in the fixed order, prevHash last (version 2), and sorts nested members', () => {
    const json = encodeRecord(7, PREV, { ...base, details: { z: 1, a: { y: 'b', b: [true, null] } }, provenance: { correlationId: 'run-1', causationId: 'c' } }, 1000);
    expect(RECORD_VERSION).toBe(2);
    expect(json).toBe(
      `{"v":2,"seq":7,"timestamp":1000,"eventType":"capability_used","severity":"low","agentId":"agent-1","source":"gate","action":"read",` +
        `"resource":"/workspace/a.ts","outcome":"success","provenance":{"causationId":"c","correlationId":"run-1"},"details":{"a":{"b":[true,null],"y":"b"},"z":1},"prevHash":"${PREV}"}`,
    );
    // Same event, members given in another order: the same bytes.
    expect(encodeRecord(7, PREV, { ...base, provenance: { causationId: 'c', correlationId: 'run-1' }, details: { a: { b: [true, null], y: 'b' }, z: 1 } }, 1000)).toBe(json);
    const r = decodeRecord(json, 'h');
    expect(r).toMatchObject({ v: 2, seq: 7, prevHash: PREV, timestamp: 1000, severity: 'low', details: { z: 1 }, hash: 'h' });
  });

  it('sorts the members of details the same way whatever order, and however often, their keys come in', () => {
    // More distinct key lists than the encoder remembers sorted, each seen repeatedly.
    const names = ['kind', 'api', 'reason', 'capability', 'matched', 'count', 'b', 'a', 'z'];
    const sortedJson = (o: Record<string, number>) => JSON.stringify(Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]])));
    for (let round = 0; round < 3; round++) {
      for (let r = 0; r < 40; r++) {
        const keys = names.slice(0, 2 + (r % 7)).sort((x, y) => ((x.charCodeAt(0) * (r + 3)) % 11) - ((y.charCodeAt(0) * (r + 3)) % 11));
        const details = Object.fromEntries(keys.map((k, i) => [k, i]));
        expect(encodeRecord(1, PREV, { ...base, details }, 1000)).toContain(`"details":${sortedJson(details)},`);
      }
    }
  });

  it('still encodes version 1 (prevHash third) byte for byte as logs written before version 2 hold it', () => {
    const json = encodeRecord(7, PREV, { ...base, details: { z: 1, a: { y: 'b', b: [true, null] } }, provenance: { correlationId: 'run-1', causationId: 'c' } }, 1000, 1);
    expect(json).toBe(
      `{"v":1,"seq":7,"prevHash":"${PREV}","timestamp":1000,"eventType":"capability_used","severity":"low","agentId":"agent-1","source":"gate","action":"read",` +
        `"resource":"/workspace/a.ts","outcome":"success","provenance":{"causationId":"c","correlationId":"run-1"},"details":{"a":{"b":[true,null],"y":"b"},"z":1}}`,
    );
    expect(decodeRecord(json, 'h')).toMatchObject({ v: 1, seq: 7, prevHash: PREV });
    // Every record of an export written by the version-1 encoder re-encodes to the same bytes.
    const file = readFileSync(fileURLToPath(new URL('./testdata/v1-export.jsonl', import.meta.url)), 'utf8').trimEnd().split('\n');
    const records = file.filter((l) => l.startsWith('{"v":1,'));
    expect(records).toHaveLength(100);
    for (const line of records) {
      const r = decodeRecord(line, '');
      const again = encodeRecord(r.seq, r.prevHash, { ...r, eventType: r.eventType as AuditRecordInput['eventType'] }, 0, 1);
      expect(again).toBe(line);
    }
  });

  it('reads the version, seq and the prevHash position from the bytes without parsing', () => {
    for (const version of [1, 2] as const) {
      const json = encodeRecord(1234567, PREV, { ...base, details: { reason: `"prevHash":"${'cd'.repeat(32)}"}` } }, 5, version);
      const bytes = Buffer.from('\u0000' + json);
      const h = peekHeader(bytes, 1)!;
      expect(h).toMatchObject({ version, seq: 1234567 });
      expect(bytes.subarray(h.prevAt, h.prevAt + 64).toString()).toBe(PREV);
    }
    expect(peekHeader(Buffer.from('\u0000{"v":2,"seq":1,"prevHash":"' + PREV + '"}'), 1)).toBeUndefined();
    expect(peekHeader(Buffer.from('\u0000{"v":1,"seq":01,"prevHash":"' + PREV + '"}'), 1)).toBeUndefined();
    expect(peekHeader(Buffer.from('\u0000{"v":3,"seq":1,"prevHash":"' + PREV + '"}'), 1)).toBeUndefined();
    // Version 2: the link must be the last member, right before the closing brace.
    const v2 = encodeRecord(1, PREV, base, 5);
    expect(peekHeader(Buffer.from(v2), 0)).toBeDefined();
    expect(peekHeader(Buffer.from(v2 + ' '), 0)).toBeUndefined();
    expect(peekHeader(Buffer.from(v2.replace(',"prevHash":', ',"prevHasH":')), 0)).toBeUndefined();
    expect(peekHeader(Buffer.from(v2.replace(',"timestamp":', ',"timestamq":')), 0)).toBeUndefined();
    expect(peekHeader(Buffer.from('{"v":2,"seq":1,"prevHash":"' + PREV + '"}'), 0)).toBeUndefined();
    expect(peekHeader(Buffer.from('\u0000' + 'x'.repeat(200)), 1)).toBeUndefined();
  });

  it('keeps hostile text as escaped JSON fields: newlines, quotes, ANSI escapes, NUL, lone surrogates', () => {
    const evil = 'a"},"outcome":"success\n\u001b[31mred\u0000\ud800';
    const json = encodeRecord(0, PREV, { ...base, resource: evil, agentId: evil, details: { reason: evil, [evil]: 1 } }, 1);
    expect(json).not.toMatch(/[\u0000-\u001f]/);
    expect(json.split('\n')).toHaveLength(1);
    const r = decodeRecord(json, '');
    expect(r.resource).toBe(evil);
    expect(r.agentId).toBe(evil);
    expect(r.outcome).toBe('success');
    expect(r.details?.['reason']).toBe(evil);
    expect(Buffer.from(json).toString('utf8')).toBe(json); // well-formed UTF-8 round trip
  });

  it('caps long strings with a visible marker, never splitting a surrogate pair', () => {
    const long = 'x'.repeat(CAPS.resource + 500);
    const r = decodeRecord(encodeRecord(0, PREV, { ...base, resource: long }, 1), '');
    expect(r.resource.length).toBeLessThanOrEqual(CAPS.resource);
    expect(r.resource).toContain(TRUNCATION_MARK);
    expect(r.resource).toMatch(/…\[truncated [0-9]+ chars\]$/);
    const emoji = '😀'.repeat(200);
    const cut = capText(emoji, 101);
    expect(cut).toContain(TRUNCATION_MARK);
    expect(Buffer.from(cut, 'utf8').toString('utf8')).toBe(cut);
    expect(cut.includes('\ufffd')).toBe(false);
  });

  it('bounds hostile details: depth, members, total size; no prototype tricks', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 50; i++) deep = { d: deep };
    const wide = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, 'v'.repeat(1000)]));
    const proto = JSON.parse('{"__proto__":{"polluted":true},"constructor":1}') as Record<string, unknown>;
    const json = encodeRecord(0, PREV, { ...base, details: { deep, wide, list: Array.from({ length: 1000 }, (_, i) => i), proto, n: Number.NaN, big: 10n, bytes: new Uint8Array([1, 2]) } }, 1);
    expect(json.length).toBeLessThan(CAPS.details + 2000);
    const r = decodeRecord(json, '');
    expect(JSON.stringify(r.details)).toContain('truncated');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('rejects unknown event types, outcomes and severities', () => {
    expect(() => encodeRecord(0, PREV, { ...base, eventType: 'made_up' as never }, 1)).toThrow(TypeError);
    expect(() => encodeRecord(0, PREV, { ...base, outcome: 'maybe' as never }, 1)).toThrow(TypeError);
    expect(() => encodeRecord(0, PREV, { ...base, severity: 'urgent' as never }, 1)).toThrow(TypeError);
  });

  it('assigns severities by type when none is given', () => {
    const sev = (eventType: AuditRecordInput['eventType'], outcome: AuditRecordInput['outcome'] = 'success') => decodeRecord(encodeRecord(0, PREV, { ...base, eventType, outcome }, 1), '').severity;
    expect(sev('capability_used')).toBe('low');
    expect(sev('capability_denied', 'blocked')).toBe('medium');
    expect(sev('authentication_failure', 'failure')).toBe('high');
    expect(sev('limit_exceeded', 'blocked')).toBe('high');
  });

  it('decodeRecord refuses JSON that is not a record of a known version', () => {
    expect(() => decodeRecord('[]', '')).toThrow(TypeError);
    expect(() => decodeRecord('{"v":1}', '')).toThrow(TypeError);
    expect(() => decodeRecord(encodeRecord(0, PREV, base, 1).replace('"v":2', '"v":3'), '')).toThrow(TypeError);
    expect(() => decodeRecord(encodeRecord(0, PREV, base, 1).replace('"success"', '"fine"'), '')).toThrow(TypeError);
  });
});
