/**
 * A component that exports functions besides `run` (the `typed` fixture: its own world with
 * `add` and the interface `test:typed/shapes@0.1.0`): `agent.exports()` describes them with their
 * WIT types, `agent.call` validates canonical JSON arguments before the guest sees them, converts
 * records, variants, enums, flags, options, results, tuples, lists and 64-bit integers both ways,
 * and runs under the same limits and audit as `run`. Runs on both engines (vitest.config.ts).
 */
import { expect, it } from 'vitest';
import { queryAuditLog, type AuditRecord, type PolicyInput } from '../../dist/index.js';
import { join } from 'node:path';
import { FIXTURE_SOURCES_DIR, fixturePath } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { sandboxPerTest } from '../helpers/sandbox.js';
import { describeNeeds } from '../helpers/skip.js';

const SHAPES = 'test:typed/shapes@0.1.0';
const sandbox = sandboxPerTest();

/** The WIT the fixture was built from: its doc comments (built components carry none). */
const TYPED_WIT = join(FIXTURE_SOURCES_DIR, 'typed.wit');

async function typed(policy?: PolicyInput) {
  const s = sandbox();
  const agent = await s.sandbox.load(fixturePath('typed'), { wit: TYPED_WIT, ...(policy ? { policy } : {}) });
  return { ...s, agent };
}

// Describing a component's exports decodes its WIT in the wasmtime addon.
describeNeeds(needs.wasmtimeAddon(), 'typed exports', () => {
  it('describes every exported function with its WIT types and doc comments', async () => {
    const { agent } = await typed();
    const ids = agent.exports().map((f) => f.id).sort();
    expect(ids).toEqual(['add', 'run', `${SHAPES}#area`, `${SHAPES}#big`, `${SHAPES}#describe`, `${SHAPES}#flip`, `${SHAPES}#move-point`, `${SHAPES}#spin`].sort());
    const move = agent.exports().find((f) => f.name === 'move-point')!;
    expect(move.docs).toBe('Moves a point; `dy` defaults to 0.');
    expect(move.params.map((p) => [p.name, p.type.kind])).toEqual([['p', 'record'], ['dx', 's32'], ['dy', 'option']]);
    expect(move.params[0]!.type).toMatchObject({ kind: 'record', name: 'point', fields: [{ name: 'x', docs: 'Distance from the left edge.', type: { kind: 's32' } }, { name: 'y' }] });
    const area = agent.exports().find((f) => f.name === 'area')!;
    expect(area.params[0]!.type).toMatchObject({ kind: 'variant', cases: [{ name: 'circle', type: { kind: 'f64' } }, { name: 'rect', type: { kind: 'record' } }, { name: 'empty', type: null }] });
    expect(area.params[1]!.type).toMatchObject({ kind: 'enum', cases: [{ name: 'metric' }, { name: 'imperial' }] });
    expect(agent.exportsUnavailable).toBeUndefined();
  });

  it('calls functions with records, variants, enums, options, flags, tuples, lists, results and 64-bit integers', async () => {
    const { agent } = await typed();
    expect((await agent.call('add', { a: 2, b: 40 })).value).toBe(42);
    expect((await agent.call(`${SHAPES}#move-point`, { p: { x: 1, y: 2 }, dx: 3, dy: null })).value).toEqual({ x: 4, y: 2 });
    // An option parameter may be left out.
    expect((await agent.call(`${SHAPES}#move-point`, { p: { x: 1, y: 2 }, dx: 0 })).value).toEqual({ x: 1, y: 2 });
    expect((await agent.call(`${SHAPES}#move-point`, { p: { x: 1, y: 2 }, dx: 0, dy: -5 })).value).toEqual({ x: 1, y: -3 });
    expect((await agent.call(`${SHAPES}#area`, { s: { tag: 'rect', val: { x: 3, y: 4 } }, u: 'metric' })).value).toBe(12);
    expect((await agent.call(`${SHAPES}#area`, { s: { tag: 'empty' }, u: 'imperial' })).value).toBe(0);
    expect((await agent.call(`${SHAPES}#describe`, { tags: ['a', 'b'], st: ['bold', 'under-line'], pair: [7, 'x'] })).value).toBe('a,b [bold+underLine] 7:x');
    // u64 beyond 2^53 goes in and comes back as a decimal string; a char is one code point.
    const big = await agent.call(`${SHAPES}#big`, { n: '18446744073709551615', c: '😀', b: true, f: 2.5 });
    expect(big.value).toEqual(['18446744073709551615', 0x1f600, 1, 3]);
    expect((await agent.call(`${SHAPES}#flip`, { r: { ok: 7 } })).value).toBe('7');
    expect(big.fuelUsed).toBeGreaterThan(0);
  });

  it('reports a returned err as AGENT_ERROR with the error value', async () => {
    const { agent } = await typed();
    await expect(agent.call(`${SHAPES}#describe`, { tags: [], st: [], pair: [0, ''] })).rejects.toMatchObject({ code: 'AGENT_ERROR', message: expect.stringContaining('no tags'), details: { err: 'no tags' } });
    await expect(agent.call(`${SHAPES}#flip`, { r: { err: 'four' } })).rejects.toMatchObject({ code: 'AGENT_ERROR', details: { err: 4 } });
    // Not fatal: the same instance answers the next call.
    expect((await agent.call('add', { a: 1, b: 1 })).value).toBe(2);
  });

  it('refuses arguments that do not fit the WIT types with USAGE naming the argument, before the guest runs', async () => {
    const { agent, audit } = await typed();
    const before = audit.length;
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['add', { a: 1 }, /b: /],
      ['add', { a: -1, b: 1 }, /a: /],
      ['add', { a: 1.5, b: 1 }, /a: /],
      ['add', { a: 4294967296, b: 1 }, /a: /],
      ['add', { a: 1, b: 2, c: 3 }, /c|Unrecognized/],
      [`${SHAPES}#area`, { s: { tag: 'triangle' }, u: 'metric' }, /s/],
      [`${SHAPES}#area`, { s: { tag: 'circle' }, u: 'metric' }, /s/],
      [`${SHAPES}#area`, { s: { tag: 'empty' }, u: 'furlongs' }, /u: /],
      [`${SHAPES}#describe`, { tags: ['a'], st: ['bold', 'bold'], pair: [1, 'x'] }, /st: .*twice/],
      [`${SHAPES}#describe`, { tags: ['a'], st: [], pair: [256, 'x'] }, /pair.0: /],
      [`${SHAPES}#big`, { n: '18446744073709551616', c: 'a', b: true, f: 1 }, /n: .*out of range/],
      [`${SHAPES}#big`, { n: 1, c: 'ab', b: true, f: 1 }, /c: .*one Unicode character/],
      [`${SHAPES}#move-point`, { p: { x: 1 }, dx: 0 }, /p\.y: /],
      [`${SHAPES}#flip`, { r: { ok: 1, err: 'x' } }, /r/],
    ];
    for (const [fn, args, message] of cases) {
      await expect(agent.call(fn, args), `${fn} ${JSON.stringify(args)}`).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(message) });
    }
    await expect(agent.call('nope', {})).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('exports no function "nope"') });
    await expect(agent.call('run', { task: 'x' })).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('agent.run') });
    // Refused before the call began: nothing was decided or recorded for any of them.
    expect(audit.slice(before)).toEqual([]);
    expect((await agent.call('add', { a: 1, b: 2 })).value).toBe(3);
  });

  it('holds a call to the run limits: fuel and time end a runaway function, and the next call gets a fresh instance', async () => {
    const { agent } = await typed({ version: 1, resourceLimits: { maxFuel: 50_000_000 } });
    await expect(agent.call(`${SHAPES}#spin`, {})).rejects.toMatchObject({ code: 'FUEL_EXHAUSTED' });
    expect((await agent.call('add', { a: 2, b: 2 })).value).toBe(4);
    const { agent: slow } = await typed();
    await expect(slow.call(`${SHAPES}#spin`, {}, { timeout: 300 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    const ac = new AbortController();
    const pending = slow.call(`${SHAPES}#spin`, {}, { signal: ac.signal, timeout: 30_000 });
    setTimeout(() => ac.abort(), 200);
    await expect(pending).rejects.toMatchObject({ code: 'CANCELLED' });
    expect((await slow.call('add', { a: 3, b: 3 })).value).toBe(6);
  });

  it('records each call in the audit chain with its function and provenance', async () => {
    const { sandbox: s, agent, auditDir } = await typed();
    const r = await agent.call('add', { a: 5, b: 6 }, { provenance: { via: 'test', tool: 'typed_add' } });
    await expect(agent.call(`${SHAPES}#describe`, { tags: [], st: [], pair: [0, ''] }, { provenance: { via: 'test' } })).rejects.toMatchObject({ code: 'AGENT_ERROR' });
    await s.close();
    const recs: AuditRecord[] = [];
    for await (const x of queryAuditLog(auditDir, { correlationId: r.runId })) recs.push(x);
    const granted = recs.find((x) => x.eventType === 'authorization_granted');
    expect(granted).toMatchObject({ action: 'call', resource: 'add' });
    expect(JSON.stringify(granted)).toContain('typed_add');
    const errors: AuditRecord[] = [];
    for await (const x of queryAuditLog(auditDir, { eventType: 'agent_error' })) errors.push(x);
    expect(errors.some((x) => JSON.stringify(x).includes('no tags'))).toBe(true);
  });
});
