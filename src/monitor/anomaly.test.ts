import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AnomalyDetector, dirOf, robustScore } from './anomaly.js';
import type { AlertDraft, MonitorEvent } from './types.js';

const read = (agentId: string, path: string, seq: number): MonitorEvent => ({ seq, event: { time: 0, agentId, type: 'capability_used', capability: 'read_files', resource: 'file', action: 'read', target: path, outcome: 'allowed', reason: '', api: '' } });
const run = { agentType: 'reviewer', ok: true, fuelUsed: 1000, durationMs: 5 };

describe('robustScore', () => {
  it('is zero at or below the median and grows with the distance above it, with a floor on the scale', () => {
    expect(robustScore(5, [5, 5, 5])).toBe(0);
    expect(robustScore(4, [5, 6, 7])).toBe(0);
    expect(robustScore(11, [10, 10, 10])).toBe(1);
    expect(robustScore(100, [10, 11, 9, 10, 12])).toBeGreaterThan(6);
  });
});

describe('AnomalyDetector', () => {
  it('learns a type during warm-up, then flags what departs from it, and two kinds at once as potential_compromise', () => {
    const d = new AnomalyDetector(undefined, { warmupRuns: 5 });
    const raised: AlertDraft[] = [];
    for (let i = 0; i < 5; i++) {
      d.observe(read('a', '/w/docs/x.md', i));
      d.runEnded('a', run, (x) => raised.push(x));
    }
    expect(raised).toEqual([]);
    // The same behaviour from another agent of the type: nothing.
    d.observe(read('b', '/w/docs/y.md', 10));
    d.runEnded('b', run, (x) => raised.push(x));
    expect(raised).toEqual([]);
    // Fifty times the fuel and a directory the type never touched.
    d.observe(read('b', '/etc/secrets/key', 11));
    d.runEnded('b', { ...run, fuelUsed: 50_000 }, (x) => raised.push(x));
    expect(raised.map((x) => x.type).sort()).toEqual(['abnormal_task_patterns', 'potential_compromise', 'unusual_resource_usage']);
    expect(raised.find((x) => x.type === 'potential_compromise')).toMatchObject({ severity: 'critical', agentId: 'b' });
    expect(raised.find((x) => x.type === 'abnormal_task_patterns')!.evidence.map((e) => e.seq)).toEqual([11]);
    // The anomalous run was not learned.
    expect(d.runsOf('reviewer')).toBe(6);
  });

  it('keeps its baselines in a file across restarts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentos-anomaly-'));
    try {
      const file = join(dir, 'baselines.json');
      const first = new AnomalyDetector(file, { warmupRuns: 3 });
      for (let i = 0; i < 3; i++) first.runEnded('a', run, () => {});
      first.save();
      const second = new AnomalyDetector(file, { warmupRuns: 3 });
      expect(second.runsOf('reviewer')).toBe(3);
      const raised: AlertDraft[] = [];
      second.runEnded('a', { ...run, durationMs: 5000 }, (x) => raised.push(x));
      expect(raised.map((x) => x.type)).toEqual(['unusual_resource_usage']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dirOf', () => {
  it('keeps at most two segments of the directory', () => {
    expect(dirOf('/workspace/src/a.ts')).toBe('/workspace/src');
    expect(dirOf('/workspace/src/deep/a.ts')).toBe('/workspace/src');
    expect(dirOf('/w/a.txt')).toBe('/w');
    expect(dirOf('/a.txt')).toBe('/a.txt');
  });
});
