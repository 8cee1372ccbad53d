import { describe, expect, it } from 'vitest';
import { Gate, toolMatches } from './gate.js';
import type { AuditEvent } from './types.js';

const base = {
  capabilities: { allowed: ['read_files', 'write_files'], forbidden: ['write_files'] },
  mounts: [
    { guest: '/w', host: '/host/w', mode: 'rw' as const },
    { guest: '/w/ro', host: '/host/ro', mode: 'ro' as const },
  ],
  fileAccess: { readonly: ['/w/**/*.ts'], readwrite: ['/w/out/**'], forbidden: ['/w/**/.env'] },
};

describe('gate', () => {
  it('forbidden capability overrides allowed, and every decision is audited', () => {
    const events: AuditEvent[] = [];
    const g = new Gate(base, 'a', (e) => events.push(e));
    expect(g.file('write', '/w/out/x', 'api').allowed).toBe(false);
    expect(g.file('read', '/w/src/a.ts', 'api').allowed).toBe(true);
    expect(events.map((e) => e.outcome)).toEqual(['denied', 'allowed']);
    expect(events[0]!.reason).toMatch(/capabilities\.forbidden/);
  });

  it('forbidden paths are hidden, whatever else matches', () => {
    const g = new Gate({ ...base, fileAccess: { ...base.fileAccess, readonly: ['/w/**'] } }, 'a', () => {});
    const d = g.file('read', '/w/src/.env', 'api');
    expect(d).toMatchObject({ allowed: false, hidden: true });
  });

  it('picks the most specific mount and honours its mode', () => {
    const g = new Gate({ ...base, capabilities: { allowed: ['write_files', 'read_files'], forbidden: [] }, fileAccess: { readonly: [], readwrite: [], forbidden: [] } }, 'a', () => {});
    expect(g.mountFor('/w/ro/x')?.guest).toBe('/w/ro');
    expect(g.file('write', '/w/ro/x', 'api').reason).toMatch(/read-only/);
    expect(g.file('write', '/w/x', 'api').allowed).toBe(true);
    expect(g.file('read', '/elsewhere', 'api')).toMatchObject({ allowed: false, hidden: true });
  });

  it('directories that may contain readable files can be traversed, others cannot', () => {
    const g = new Gate(base, 'a', () => {});
    expect(g.file('read', '/w/src/deep', 'api', true).allowed).toBe(true);
    expect(g.file('read', '/w/src/deep', 'api', false).allowed).toBe(false);
    expect(g.isListable('/w/README.md', false)).toBe(false);
    expect(g.isListable('/w/src', true)).toBe(true);
  });

  it('fails closed when deciding throws', () => {
    const events: AuditEvent[] = [];
    const g = new Gate(base, 'a', (e) => events.push(e));
    const broken = { check: () => { throw new Error('boom'); } };
    const inner = g as unknown as { c: Record<string, unknown> };
    inner.c = { ...inner.c, network: broken, allowedCaps: new Set(['network_access']) };
    const d = g.http({ scheme: 'https', host: 'x', port: 443, authority: 'x' } as never, 'api');
    expect(d).toMatchObject({ allowed: false, reason: expect.stringContaining('evaluation error') });
    expect(events.at(-1)?.outcome).toBe('denied');
  });

  it('tool patterns', () => {
    expect(toolMatches('git.*', 'git.status')).toBe(true);
    expect(toolMatches('git.*', 'gitx')).toBe(false);
    expect(toolMatches('search', 'search2')).toBe(false);
    expect(toolMatches('*', 'anything')).toBe(true);
  });
});
