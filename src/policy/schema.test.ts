import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { PolicyError } from '../errors.js';
import { describeValue, formatPath, suggest } from './issues.js';
import { validatePolicy } from './normalize.js';
import { KNOWN_CAPABILITIES, policySchema, policyShape, strictPolicy } from './schema.js';

function problem(data: unknown): { path: unknown; message: string } {
  try {
    validatePolicy(data, { source: 'test' });
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    const pe = e as PolicyError;
    return { path: pe.details.path, message: pe.message };
  }
  throw new Error('expected a PolicyError');
}

describe('normalization', () => {
  it('fills every list and converts sizes and durations', () => {
    const { policy } = validatePolicy({
      version: 1,
      networkRules: { allowedHosts: ['A.com.'], protocols: ['HTTPS:', 'http', 'https'], maxResponseBytes: '1.5KiB' },
      resourceLimits: { maxMemory: '64MiB', maxCpuTime: '5m', maxExecutionTime: 1500, maxOutputBytes: 0, maxProcesses: 0 },
      mounts: [{ guest: '/w', host: 'rel' }],
    }, { baseDir: '/base' });
    expect(policy.networkRules).toEqual({ allowedHosts: ['a.com'], protocols: ['https', 'http'], maxResponseBytes: 1536 });
    expect(policy.resourceLimits).toEqual({ maxMemory: 64 * 1024 ** 2, maxCpuTime: 300_000, maxExecutionTime: 1500, maxOutputBytes: 0, maxProcesses: 0 });
    expect(policy.mounts).toEqual([{ guest: '/w', host: '/base/rel', mode: 'ro' }]);
    expect(policy.fileAccess).toEqual({ readonly: [], readwrite: [], forbidden: [] });
    expect(policy.toolAccess.allow).toEqual([]);
  });

  it('keeps env.set in a null-prototype object', () => {
    const { policy } = validatePolicy({ version: 1, env: { set: { toString: 'x', hasOwnProperty: 'y' } } });
    expect(Object.getPrototypeOf(policy.env.set)).toBeNull();
    expect(policy.env.set.toString).toBe('x');
    expect(Object.keys(policy.env.set)).toEqual(['toString', 'hasOwnProperty']);
  });
});

describe('field checks', () => {
  it.each([
    ['mount inside another', { mounts: [{ guest: '/a', host: '/x' }, { guest: '/a/b', host: '/y' }] }, 'mounts[1].guest'],
    ['mount containing an earlier one', { mounts: [{ guest: '/a/b', host: '/x' }, { guest: '/a', host: '/y' }] }, 'mounts[1].guest'],
    ['same guest path', { mounts: [{ guest: '/a', host: '/x' }, { guest: '/b', host: '/y' }, { guest: '/a', host: '/z' }] }, 'mounts[2].guest'],
    ['empty host', { mounts: [{ guest: '/a', host: '' }] }, 'mounts[0].host'],
    ['unknown mount field', { mounts: [{ guest: '/a', host: '/x', readonly: true }] }, 'mounts[0].readonly'],
    ['bad glob', { fileAccess: { forbidden: ['/a/{b'] } }, 'fileAccess.forbidden[0]'],
    ['env name with dash', { env: { allow: ['A-B'] } }, 'env.allow[0]'],
    ['env value with NUL', { env: { set: { A: 'x\u0000y' } } }, 'env.set.A'],
    ['tool wildcard in the middle', { toolAccess: { allow: ['a*b'] } }, 'toolAccess.allow[0]'],
    ['role with space', { roles: ['code reviewer'] }, 'roles[0]'],
    ['agent unknown field', { agent: { type: 'x', name: 'y' } }, 'agent.name'],
    ['zero execution time', { resourceLimits: { maxExecutionTime: '0s' } }, 'resourceLimits.maxExecutionTime'],
    ['fuel as size string', { resourceLimits: { maxFuel: '5GiB' } }, 'resourceLimits.maxFuel'],
    ['port out of range', { networkRules: { allowedHosts: [], allowedPorts: [70000] } }, 'networkRules.allowedPorts[0]'],
    ['ipv6 with port', { networkRules: { allowedHosts: ['[::1]:80'] } }, 'networkRules.allowedHosts[0]'],
  ])('%s', (_name, extra, path) => {
    expect(problem({ version: 1, ...extra }).path).toBe(path);
  });

  it('lists every problem, one per line, first path in details', () => {
    const { path, message } = problem({ version: 2, roles: 'x', extra: true });
    expect(path).toBe('version');
    const lines = message.split('\n');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^test: \S+: .+; .+/);
  });

  it('accepts tool wildcards and a lone "*"', () => {
    const { policy } = validatePolicy({ version: 1, toolAccess: { allow: ['search', 'git.*', 'fs*', '*', 'mcp/server:tool-1'] } });
    expect(policy.toolAccess.allow).toHaveLength(5);
  });

  it('accepts unknown lowercase capabilities, with a warning', () => {
    const { policy, warnings } = validatePolicy({ version: 1, capabilities: { allowed: ['read_files', 'future_thing'] } }, { source: 's' });
    expect(policy.capabilities.allowed).toEqual(['read_files', 'future_thing']);
    expect(warnings).toEqual([expect.stringMatching(/^s: capabilities\.allowed\[1\]: "future_thing" is not a known capability/)]);
  });
});

describe('warnings', () => {
  it('a capability both allowed and forbidden: forbidden wins', () => {
    const { warnings } = validatePolicy({ version: 1, capabilities: { allowed: ['network_access'], forbidden: ['network_access'] } }, { source: 's' });
    expect(warnings).toContain('s: capabilities: "network_access" is both allowed and forbidden; forbidden wins, so the agent will not get it');
  });

  it('hosts without network_access, mounts without file capabilities, rw without write_files', () => {
    const { warnings } = validatePolicy({
      version: 1,
      networkRules: { allowedHosts: ['a.com'] },
      mounts: [{ guest: '/w', host: '/h', mode: 'rw' }],
    });
    expect(warnings.join('\n')).toMatch(/network_access is not granted/);
    expect(warnings.join('\n')).toMatch(/neither read_files nor write_files/);
    expect(warnings.join('\n')).toMatch(/mounts\[0\]\.mode: the mount is rw but write_files is not granted/);
  });

  it('a consistent policy has no warnings', () => {
    const { warnings } = validatePolicy({
      version: 1,
      capabilities: { allowed: ['read_files', 'network_access'] },
      mounts: [{ guest: '/w', host: '/h' }],
      fileAccess: { readonly: ['/w/**'] },
      networkRules: { allowedHosts: ['a.com'] },
    });
    expect(warnings).toEqual([]);
  });
});

describe('modular schema', () => {
  it('later sections extend the shape without touching it', () => {
    const extended = strictPolicy({ ...policyShape, rbac: z.strictObject({ roles: z.array(z.string()) }).optional() });
    expect(extended.safeParse({ version: 1, rbac: { roles: ['a'] } }).success).toBe(true);
    expect(policySchema.safeParse({ version: 1, rbac: { roles: ['a'] } }).success).toBe(false);
  });

  it('exports the known capability names', () => {
    expect(KNOWN_CAPABILITIES).toContain('read_files');
    expect(Object.isFrozen(KNOWN_CAPABILITIES)).toBe(true);
  });
});

describe('issue helpers', () => {
  it('formatPath', () => {
    expect(formatPath([])).toBe('(top level)');
    expect(formatPath(['networkRules', 'allowedPorts', 0])).toBe('networkRules.allowedPorts[0]');
    expect(formatPath(['env', 'set', 'A-B'])).toBe('env.set["A-B"]');
    expect(formatPath([0, 'a'])).toBe('[0].a');
  });

  it('suggest', () => {
    expect(suggest('allowedPort', ['allowedHosts', 'allowedPorts'])).toBe('allowedPorts');
    expect(suggest('ALLOWEDHOSTS', ['allowedHosts'])).toBe('allowedHosts');
    expect(suggest('network', ['networkRules', 'env'])).toBe('networkRules');
    expect(suggest('zzzzzz', ['networkRules', 'env'])).toBeUndefined();
  });

  it('describeValue', () => {
    expect(describeValue('443')).toBe('string "443"');
    expect(describeValue(443)).toBe('number 443');
    expect(describeValue(false)).toBe('false');
    expect(describeValue(null)).toBe('null');
    expect(describeValue([])).toBe('a list');
    expect(describeValue({})).toBe('a mapping');
    expect(describeValue(undefined)).toBe('nothing');
    expect(describeValue('x'.repeat(500)).length).toBeLessThan(120);
  });
});
