import { describe, expect, it } from 'vitest';
import { growRefusalEvents } from './grow-refusals.js';

const CAPS = { maxMemory: 16 * 1024 * 1024, maxTableElements: 1000 };

describe('growRefusalEvents', () => {
  it('records nothing when nothing was refused', () => {
    expect(growRefusalEvents({ memory: 0, table: 0 }, CAPS, 'run')).toEqual([]);
  });

  it('records one limit_exceeded per kind, with the count, the cap and the size asked for when known', () => {
    const [memory, table] = growRefusalEvents({ memory: 3, table: 1, memoryRequested: 17 * 1024 * 1024, tableRequested: null }, CAPS, 'run');
    expect(memory).toMatchObject({ type: 'limit_exceeded', action: 'grow', target: 'MEMORY_LIMIT', outcome: 'denied', api: 'memory.grow', count: 3, details: { limit: 'maxMemory', allowed: CAPS.maxMemory, requested: 17 * 1024 * 1024, refusals: 3 } });
    expect(memory!.reason).toBe('memory.grow was refused 3 times during this run (the last asked for 17MiB in all): the agent may use 16MiB of linear memory; raise resourceLimits.maxMemory or --memory');
    expect(table).toMatchObject({ api: 'table.grow', count: 1, details: { limit: 'tableElements', allowed: 1000, refusals: 1 } });
    expect(table!.details).not.toHaveProperty('requested');
    expect(table!.reason).toBe('table.grow was refused once during this run: a table may hold 1000 elements');
  });

  it('names the load when the refusals came from start functions', () => {
    expect(growRefusalEvents({ memory: 1, table: 0 }, CAPS, 'load')[0]!.reason).toMatch(/during this load/);
  });
});
