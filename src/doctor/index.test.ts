// The whole report on this machine, and the runner's promise: a check that throws is `error`
// for itself only.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { guarded, runDoctor } from './index.js';

const tmp = mkdtempSync(join(tmpdir(), 'agentos-doctor-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('runDoctor', () => {
  it('every check, in order, with a status; the core is ready here', async () => {
    const report = await runDoctor({ cacheDir: join(tmp, 'cache'), auditDir: join(tmp, 'audit') });
    expect(report.checks.map((c) => c.id)).toEqual([
      'node', 'jco', 'cache-dir', 'audit-dir', 'mount-paths', 'wasmtime-addon', 'engine-advisories', 'c-toolchain', 'componentize-py', 'bubblewrap', 'runc', 'cgroups', 'userns', 'landlock',
    ]);
    for (const c of report.checks) {
      expect(['ready', 'missing', 'unavailable', 'warning', 'error'], c.id).toContain(c.status);
      expect(c.detail, c.id).not.toBe('');
      if (c.status === 'missing') expect(c.fix, c.id).toBeTruthy();
    }
    expect(report.checks.filter((c) => c.core).map((c) => c.id)).toEqual(['node', 'jco', 'cache-dir', 'audit-dir', 'mount-paths']);
    expect(report.core).toBe(true);
    expect(report.ok).toBe(report.checks.every((c) => c.status === 'ready'));
  });

  it('a core check that fails makes core false', async () => {
    const report = await runDoctor({ cacheDir: join(tmp, 'bad\0dir'), auditDir: join(tmp, 'audit') });
    expect(report.core).toBe(false);
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.id === 'cache-dir')?.status).toBe('missing');
  });

  it('a check that throws is an error for that check only', async () => {
    const spec = { id: 'runc' as const, feature: 'runc', core: false, run: () => { throw new Error('boom'); } };
    expect(await guarded(spec)).toEqual({ id: 'runc', feature: 'runc', status: 'error', core: false, detail: 'the check failed: boom' });
    const rejects = { ...spec, run: () => Promise.reject(new Error('later')) };
    expect((await guarded(rejects)).detail).toBe('the check failed: later');
  });
});
