import { describe, expect, it } from 'vitest';
import { Gate, type GatePolicy } from '../gate/gate.js';
import type { AuditEvent } from '../gate/types.js';
import type { AuthzModel, CapabilityPolicy } from '../authz/types.js';
import { HOUR, QuotaLedger, quotaPolicyOf, type QuotaPolicy } from './quota.js';

const target = { scheme: 'https', host: 'api.example.com', port: 443, authority: 'api.example.com', pathWithQuery: '/' } as never;

function gateWith(q: QuotaPolicy, clock = { t: 0 }) {
  const events: AuditEvent[] = [];
  const policy: GatePolicy = {
    capabilities: { allowed: ['network_access', 'execute_tools', 'read_env'], forbidden: [] },
    mounts: [],
    networkRules: { allowedHosts: ['api.example.com'], allowedPorts: [443], protocols: ['https'] },
    env: { allow: ['LANG'], set: {} },
    toolAccess: { allow: ['search'] },
  };
  const ledger = new QuotaLedger(QuotaLedger.allocate(q), q, () => clock.t);
  const gate = new Gate(policy, 'agent-1', (e) => {
    events.push(e);
  }, undefined, ledger);
  return { gate, ledger, events, clock };
}

describe('quota ledger', () => {
  it('counts per fixed window and refuses what would go over, taking nothing', () => {
    const q: QuotaPolicy = { toolUsage: { search: 3 } };
    const clock = { t: 1000 };
    const l = new QuotaLedger(QuotaLedger.allocate(q), q, () => clock.t);
    expect(l.take('tool:search', 2, 3, HOUR, 'x')).toBeUndefined();
    expect(l.take('tool:search', 2, 3, HOUR, 'x')).toEqual({ limit: 'x', requested: 2, allowed: 3, used: 2, windowMs: HOUR });
    expect(l.take('tool:search', 1, 3, HOUR, 'x')).toBeUndefined();
    clock.t += HOUR;
    expect(l.used('tool:search', HOUR)).toBe(0);
    expect(l.take('tool:search', 3, 3, HOUR, 'x')).toBeUndefined();
    expect(() => l.take('tool:other', 1, 1, HOUR, 'x')).toThrow(RangeError);
  });

  it('a second ledger over the same memory sees the same counts (a replaced instance)', () => {
    const q: QuotaPolicy = { rates: { read_files: { calls: 2, perMs: 1000 } } };
    const shared = QuotaLedger.allocate(q);
    const a = new QuotaLedger(shared, q, () => 5);
    a.take('rate:read_files', 2, 2, 1000, 'r');
    const b = new QuotaLedger(shared, q, () => 6);
    expect(b.take('rate:read_files', 1, 2, 1000, 'r')).toMatchObject({ used: 2 });
  });

  it('combines the policy with every active capability policy that applies: the smallest limit wins', () => {
    const cp = (over: Partial<CapabilityPolicy>): CapabilityPolicy => ({ policyId: 'p', status: 'active', ...over });
    const authz = {
      capabilityPolicies: [
        cp({ agentType: 'reviewer', usageLimits: { search: 5, fetch: 9 }, networkRules: { maxConnections: 2, dataTransferLimit: 1000 } }),
        cp({ agentType: 'other', usageLimits: { search: 1 } }),
        cp({ status: 'revoked', usageLimits: { search: 0 } }),
        cp({ effectiveTo: 10, networkRules: { maxConnections: 1 } }),
      ],
    } as AuthzModel;
    const q = quotaPolicyOf({ agent: { type: 'reviewer' }, toolAccess: { usageLimits: { search: 10 } }, networkRules: { dataTransferLimit: 5000 }, authz, rateLimits: { read_files: { calls: 1, per: 60_000 } } }, 'id', 100);
    expect(q).toEqual({ maxConnections: 2, dataTransferLimit: 1000, toolUsage: { search: 5, fetch: 9 }, rates: { read_files: { calls: 1, perMs: 60_000 } } });
  });
});

describe('the gate applies quotas after the policy allows', () => {
  it('rate limit on a capability: the fourth env read in the window is refused and recorded as limit_exceeded', () => {
    const { gate, events, clock } = gateWith({ rates: { read_env: { calls: 3, perMs: 1000 } } });
    const r = [1, 2, 3, 4].map(() => gate.env('LANG', 'api').allowed);
    expect(r).toEqual([true, true, true, false]);
    expect(events[3]).toMatchObject({ type: 'limit_exceeded', outcome: 'denied', details: { limit: 'rateLimits.read_env', allowed: 3, used: 3 } });
    clock.t += 1000;
    expect(gate.env('LANG', 'api').allowed).toBe(true);
    // A call the policy denies uses none of the allowance.
    expect(gate.env('HOME', 'api')).toMatchObject({ allowed: false });
    expect(gate.env('HOME', 'api').quota).toBeUndefined();
  });

  it('maxConnections counts requests in flight; closing one makes room', () => {
    const { gate, ledger } = gateWith({ maxConnections: 2 });
    expect(gate.http(target, 'h').allowed).toBe(true);
    expect(gate.http(target, 'h').allowed).toBe(true);
    const third = gate.http(target, 'h');
    expect(third).toMatchObject({ allowed: false, quota: { limit: 'networkRules.maxConnections', allowed: 2 } });
    ledger.gauge('net:conn', -1);
    expect(gate.http(target, 'h').allowed).toBe(true);
  });

  it('dataTransferLimit refuses new requests once the hour is used up', () => {
    const { gate, ledger, clock } = gateWith({ dataTransferLimit: 100 });
    expect(gate.http(target, 'h').allowed).toBe(true);
    ledger.add('net:bytes', 100, HOUR);
    expect(gate.http(target, 'h')).toMatchObject({ allowed: false, reason: expect.stringMatching(/^QUOTA_EXCEEDED: networkRules\.dataTransferLimit/) });
    clock.t += HOUR;
    expect(gate.http(target, 'h').allowed).toBe(true);
  });

  it('tool usage limits count per tool', () => {
    const { gate } = gateWith({ toolUsage: { search: 1 } });
    expect(gate.tool('search', 't').allowed).toBe(true);
    expect(gate.tool('search', 't')).toMatchObject({ allowed: false, quota: { limit: 'toolAccess.usageLimits.search' } });
  });
});
