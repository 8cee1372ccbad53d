import { describe, expect, it } from 'vitest';
import { Monitor, MONITOR_API } from './monitor.js';
import type { Alert } from './types.js';
import type { AuditEvent } from '../gate/types.js';

function harness(options = {}) {
  const recorded: Alert[] = [];
  const contained: Alert[] = [];
  const emitted: Alert[] = [];
  const m = new Monitor({ record: (a) => recorded.push(a), contain: (a) => contained.push(a), emit: (a) => emitted.push(a) }, options);
  return { m, recorded, contained, emitted };
}

const authFailure = (agentId: string, time: number): AuditEvent => ({ time, agentId, type: 'authentication_failure', capability: 'read_files', resource: 'file', action: 'read', target: '/x', outcome: 'denied', reason: 'revoked', api: 'wasi' });

describe('Monitor', () => {
  it('runs the detectors later, in order, and raises one alert per burst with its evidence', () => {
    const { m, recorded, emitted } = harness();
    for (let i = 0; i < 5; i++) m.observe(authFailure('a', 1000 + i), 10 + i);
    expect(recorded).toEqual([]);
    m.drain();
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ type: 'brute_force_attack', severity: 'high', agentId: 'a', evidence: [10, 11, 12, 13, 14], contained: false });
    expect(emitted).toEqual(recorded);
  });

  it('contains at the configured severity, once per agent, and ignores the contained agent and its own events', () => {
    const { m, recorded, contained } = harness({ containAt: 'high' });
    for (let i = 0; i < 10; i++) m.observe(authFailure('a', i), i);
    m.observe({ ...authFailure('a', 20), api: MONITOR_API }, 99);
    m.drain();
    expect(contained.map((a) => a.agentId)).toEqual(['a']);
    expect(recorded).toHaveLength(1);
    expect(m.isContained('a')).toBe(true);
    m.released('a');
    for (let i = 0; i < 5; i++) m.observe(authFailure('a', 100 + i), 100 + i);
    m.drain();
    expect(contained).toHaveLength(2);
  });

  it("containAt 'never' contains only on request; a detector that throws does not stop the others", () => {
    const { m, contained } = harness({ containAt: 'never', rules: { bruteForce: { count: 1, windowMs: 1 } } });
    m.observe(authFailure('a', 0), 0);
    m.drain();
    expect(contained).toEqual([]);
    const throwing = new Monitor({ record: () => {}, contain: () => {}, emit: () => {} }, {}, [{ name: 'bad', observe: () => { throw new Error('boom'); } }]);
    throwing.observe(authFailure('a', 0), 0);
    expect(() => throwing.drain()).not.toThrow();
    expect(throwing.stats.processed).toBe(1);
  });
});
