/**
 * The short version of `npm run soak` (soak/run.mjs): 40 agents, benign and every hostile
 * probe, on one sandbox for about 45 s while the host process is SIGKILLed at least three times
 * and restarted on the same audit log. The runner checks everything itself (chain verifies and
 * holds every acknowledged record, hostile calls denied and recorded, limits held, RSS and
 * descriptors within bounds, nothing left behind) and exits 1 naming any violation; here we
 * assert that it passed and that its figures are sane.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { TEST_CACHE_DIR } from '../helpers/sandbox.js';

interface SoakSummary {
  ok: boolean;
  agents: number;
  kinds: number;
  kills: number;
  killsBeforeWarmup: number;
  lifetimes: number;
  records: number;
  iterations: number;
  hostileIterations: number;
  refused: number;
  rss: { start?: number; end?: number; max: number; slack: number; worstGrowth: number };
  fds: { start?: number; end?: number; slack: number; worstGrowth: number };
  leftovers: { processes: number; tmp: number; cgroups: number | string };
  canaryHits: number;
  probes: Record<string, { agents: number; iterations: number; refused: number }>;
  violations: string[];
}

function runSoak(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'soak', 'run.mjs')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code, out }));
  });
}

describe('soak with faults (short)', () => {
  it('40 agents under at least 3 SIGKILLs: every check holds and the figures are sane', async () => {
    const { code, out } = await runSoak({
      SOAK_MINUTES: '0.5',
      SOAK_AGENTS: '40',
      SOAK_MIN_KILLS: '3',
      SOAK_FINAL_S: '25',
      SOAK_SEED: '19',
      // The last lifetime is short: measure it from 5 s after warm-up (the default is 30 s, when
      // the heap has stopped climbing), with room for that climb.
      SOAK_WARMUP_S: '5',
      SOAK_RSS_SLACK_MIB: '96',
      SOAK_CACHE_DIR: TEST_CACHE_DIR,
    });
    const line = out.split('\n').find((l) => l.startsWith('SOAK_RESULT '));
    expect(line, out.slice(-4000)).toBeDefined();
    const s = JSON.parse(line!.slice('SOAK_RESULT '.length)) as SoakSummary;
    expect(s.violations, out.slice(-4000)).toEqual([]);
    expect(code).toBe(0);
    expect(s.ok).toBe(true);
    expect(s.agents).toBe(40);
    expect(s.kills).toBeGreaterThanOrEqual(3);
    expect(s.killsBeforeWarmup).toBeGreaterThanOrEqual(1);
    expect(s.lifetimes).toBe(s.kills + 1);
    // Every probe kind ran and was acknowledged, hostile ones included.
    expect(Object.keys(s.probes)).toHaveLength(s.kinds);
    for (const [kind, p] of Object.entries(s.probes)) expect(p.iterations, kind).toBeGreaterThan(0);
    expect(s.iterations).toBeGreaterThan(500);
    expect(s.hostileIterations).toBeGreaterThan(100);
    expect(s.refused).toBeGreaterThan(50);
    expect(s.records).toBeGreaterThan(s.iterations / 2);
    // The last lifetime ran long enough to be measured, within the stated bounds.
    expect(s.rss.start).toBeGreaterThan(32 * 1024 * 1024);
    expect(s.rss.end).toBeLessThanOrEqual(s.rss.start! + s.rss.slack);
    expect(s.fds.start).toBeGreaterThan(0);
    expect(s.fds.end).toBeLessThanOrEqual(s.fds.start! + s.fds.slack);
    expect(s.leftovers.processes).toBe(0);
    expect(s.leftovers.tmp).toBe(0);
    if (typeof s.leftovers.cgroups === 'number') expect(s.leftovers.cgroups).toBe(0);
    expect(s.canaryHits).toBe(0);
  }, 150_000);
});
