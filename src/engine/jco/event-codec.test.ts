import { describe, expect, it } from 'vitest';
import type { InstanceEvent } from '../../capabilities/context.js';
import { decodeEvents, encodeEvents } from './event-codec.js';

describe('event codec', () => {
  it('round-trips audit and log events in order, interning repeated strings', () => {
    const events: InstanceEvent[] = [
      {
        kind: 'audit',
        event: { time: 1.5, agentId: 'a', type: 'capability_used', capability: 'read_files', resource: 'file', action: 'read', target: '/w/x', outcome: 'allowed', reason: 'ok', api: 'open-at', matched: ['p1', 'p2'] },
      },
      { kind: 'log', event: { time: 2, agentId: 'a', stream: 'stdout', level: 'info', message: 'hi\u0000there' } },
      {
        kind: 'audit',
        event: { time: 3, agentId: 'a', type: 'usage_summary', capability: 'compute', resource: 'clock', action: 'use', target: 'now', outcome: 'allowed', reason: 'ambient', api: 'now', count: 7 },
      },
    ];
    const enc = encodeEvents(events);
    expect(enc.strings.filter((s) => s === 'a')).toHaveLength(1);
    expect(decodeEvents(structuredClone(enc))).toEqual(events);
  });
});
