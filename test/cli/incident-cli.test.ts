/**
 * Incidents end to end: a real agent trips a quarantine rule in a real sandbox; the incident,
 * its forensic snapshot (an audit slice `agentos audit verify --export` accepts offline) and
 * `agentos incident list|show|export|release` through the built CLI — a release handed to the
 * running sandbox, and one recorded directly once no sandbox holds the audit log.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createSandbox, type Alert } from '../../dist/index.js';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';
import { tripwire } from '../helpers/tripwire.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-incident-cli-');
afterAll(() => tmp.cleanup());

function agentos(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: tmp.dir, timeout: 60_000, env: { ...process.env, XDG_CACHE_HOME: join(TEST_CACHE_DIR, 'xdg') } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const auditDir = join(tmp.dir, 'audit');
writeFileSync(join(tmp.dir, 'a.txt'), 'a');
const policy = {
  version: 1,
  capabilities: { allowed: ['read_files'] },
  mounts: [{ guest: '/w', host: tmp.dir, mode: 'ro' }],
  securityPolicies: [tripwire('/w/a.txt')],
};

describe('incidents', () => {
  it('containment opens an incident with a forensic snapshot; the CLI shows, exports and releases it (handed to the running sandbox)', async () => {
    const s = createSandbox({ cacheDir: TEST_CACHE_DIR, audit: { dir: auditDir }, prewarmWorkers: 0 });
    try {
      const alerts: Alert[] = [];
      s.on('alert', (a) => alerts.push(a));
      const bad = await s.load(fixturePath('fsprobe'), { policy });
      await bad.run('read /w/a.txt').catch(() => {});
      await vi.waitFor(() => expect(s.monitor.incidents()).toHaveLength(1));
      const [inc] = s.monitor.incidents();
      expect(inc).toMatchObject({ state: 'contained', agentId: bad.id, componentHash: bad.componentHash, classification: { severity: 'critical' } });
      expect(inc!.timeline.map((t) => t.step)).toEqual(['detected', 'alert', 'contained']);
      const dir = join(auditDir, 'incidents', inc!.id);
      await vi.waitFor(() => expect(existsSync(join(dir, 'forensics', 'manifest.json'))).toBe(true));
      const proofs = JSON.parse(readFileSync(join(dir, 'forensics', 'proofs.json'), 'utf8')) as { checkpoint: { size: number }; proofs: { seq: number }[] };
      expect(proofs.proofs.map((p) => p.seq)).toEqual(inc!.relatedSeqs.filter((q) => q < proofs.checkpoint.size));
      expect(JSON.parse(readFileSync(join(dir, 'forensics', 'policy.json'), 'utf8'))).toMatchObject({ capabilities: { allowed: ['read_files'] } });
      expect(JSON.parse(readFileSync(join(dir, 'forensics', 'component.json'), 'utf8'))).toMatchObject({ hash: bad.componentHash });

      const list = agentos(['incident', 'list', '--audit', auditDir, '--json']);
      expect(list.status, list.stderr).toBe(0);
      expect(JSON.parse(list.stdout).incidents).toEqual([expect.objectContaining({ id: inc!.id, state: 'contained' })]);
      const show = agentos(['incident', 'show', inc!.id, '--audit', auditDir]);
      expect(show.stdout).toContain('contained');
      expect(show.stdout).toContain('policy_quarantine');

      // The exported bundle's audit slice verifies offline.
      const bundle = join(tmp.dir, 'bundle');
      expect(agentos(['incident', 'export', inc!.id, '--audit', auditDir, '-o', bundle]).status).toBe(0);
      const verified = agentos(['audit', 'verify', '--export', join(bundle, 'forensics', 'audit-slice.jsonl'), '--json']);
      expect(verified.status, verified.stdout + verified.stderr).toBe(0);
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });

      // The sandbox holds the audit log: the release is handed to it, and it records it.
      expect(agentos(['incident', 'release', inc!.id, '--audit', auditDir]).status).toBe(2);
      const rel = agentos(['incident', 'release', inc!.id, '--audit', auditDir, '--reason', 'the canary was a drill', '--by', 'bob', '--json']);
      expect(rel.status, rel.stderr).toBe(0);
      expect(JSON.parse(rel.stdout)).toMatchObject({ handedOver: true });
      await vi.waitFor(() => expect(s.monitor.quarantined()).toEqual([]), { timeout: 5000 });
      expect(s.monitor.incidents()[0]).toMatchObject({ state: 'resolved' });
      expect(s.monitor.incidents()[0]!.timeline.at(-1)).toMatchObject({ step: 'released', by: 'bob', note: 'the canary was a drill', seq: expect.any(Number) });
      const again = await s.load(fixturePath('fsprobe'), { policy: { ...policy, securityPolicies: [] } });
      expect((await again.run('read /w/a.txt')).output).toBe('ok a');
    } finally {
      await s.close();
    }
  });

  it('a quarantine outlives its sandbox: a new one refuses the component until the CLI releases it (recorded directly)', async () => {
    const first = createSandbox({ cacheDir: TEST_CACHE_DIR, audit: { dir: auditDir }, prewarmWorkers: 0 });
    let id = '';
    try {
      const bad = await first.load(fixturePath('fsprobe'), { policy });
      await bad.run('read /w/a.txt').catch(() => {});
      await vi.waitFor(() => expect(first.monitor.quarantined()).toHaveLength(1));
      id = first.monitor.incidents().find((i) => i.state === 'contained')!.id;
    } finally {
      await first.close();
    }
    const second = createSandbox({ cacheDir: TEST_CACHE_DIR, audit: { dir: auditDir }, prewarmWorkers: 0 });
    try {
      await expect(second.load(fixturePath('fsprobe'), { policy })).rejects.toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'quarantined', incident: id } });
    } finally {
      await second.close();
    }
    // No sandbox holds the log now: the CLI records the release itself.
    const rel = agentos(['incident', 'release', id, '--audit', auditDir, '--reason', 'reviewed', '--by', 'carol', '--json']);
    expect(rel.status, rel.stderr).toBe(0);
    expect(JSON.parse(rel.stdout)).toMatchObject({ recorded: true, incident: { state: 'resolved' } });
    const third = createSandbox({ cacheDir: TEST_CACHE_DIR, audit: { dir: auditDir }, prewarmWorkers: 0 });
    try {
      await expect(third.load(fixturePath('fsprobe'), { policy: { ...policy, securityPolicies: [] } })).resolves.toBeDefined();
    } finally {
      await third.close();
    }
    const q = agentos(['audit', 'query', '--audit', auditDir, '--json']);
    const released = q.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>).filter((r) => r['action'] === 'release');
    expect(released.map((r) => r['details']['by'])).toEqual(['bob', 'carol']);
  });
});

describe('agentos run and the monitor', () => {
  it('--indicators refuses a listed component (exit 4) and the alert goes to stderr; --no-monitor with --indicators is a usage error', () => {
    const hash = createHash('sha256').update(readFileSync(fixturePath('echo'))).digest('hex');
    const intel = join(tmp.dir, 'intel.yaml');
    writeFileSync(intel, `components: [${hash}]\n`);
    const r = agentos(['run', fixturePath('echo'), '--task', 'hi', '--audit', join(tmp.dir, 'audit-run'), '--indicators', intel, '--json']);
    expect(r.status, r.stderr).toBe(4);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, error: { code: 'CAPABILITY_DENIED' } });
    expect(r.stderr).toContain('alert critical blocked_indicator');
    expect(agentos(['run', fixturePath('echo'), '--indicators', intel, '--no-monitor']).status).toBe(2);
    const ok = agentos(['run', fixturePath('echo'), '--task', 'hi', '--audit', join(tmp.dir, 'audit-run'), '--json']);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, output: 'hi' });
  });
});
