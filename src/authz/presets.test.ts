import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PolicyError } from '../errors.js';
import { parsePolicyObject, parsePolicyText } from '../policy/loader.js';
import { compileAuthz } from './engine.js';
import {
  PRESET_ROLE_NAMES,
  PRESET_SANDBOX_POLICY_NAMES,
  PRESET_SECURITY_POLICY_IDS,
  presetRole,
  presetSandboxPolicy,
  presetSecurityPolicy,
} from './presets.js';

describe('preset roles', () => {
  it('lists the seed roles', () => {
    expect(PRESET_ROLE_NAMES).toEqual(['code-reviewer', 'task-orchestrator']);
  });

  it('code-reviewer is the seed role with constraints normalized', () => {
    expect(presetRole('code-reviewer')).toEqual({
      name: 'code-reviewer',
      description: 'Agent specialized in code review and analysis',
      permissions: [
        { resource: 'file', action: 'read', effect: 'allow', conditions: [{ field: 'extension', operator: 'in', value: ['.ts', '.js', '.jsx', '.tsx'] }] },
        { resource: 'network', action: 'connect', effect: 'allow', conditions: [{ field: 'host', operator: 'in', value: ['api.github.com', 'packages.example.org'] }] },
        { resource: 'system', action: 'execute', effect: 'deny' },
      ],
      constraints: { timeLimit: 3_600_000, memoryLimit: 1024 ** 3 },
    });
  });

  it('task-orchestrator is the seed role', () => {
    const r = presetRole('task-orchestrator');
    expect(r.permissions.map((p) => `${p.effect} ${p.action} ${p.resource}`)).toEqual(['allow read agent', 'allow assign task', 'allow monitor system']);
    expect(r.constraints).toEqual({ maxConcurrentTasks: 10 });
  });

  it('are frozen and shared', () => {
    const r = presetRole('code-reviewer');
    expect(Object.isFrozen(r)).toBe(true);
    expect(Object.isFrozen(r.permissions[0]?.conditions?.[0]?.value)).toBe(true);
    expect(presetRole('code-reviewer')).toBe(r);
  });

  it('unknown names throw a PolicyError listing the known ones', () => {
    expect(() => presetRole('admin')).toThrow(PolicyError);
    expect(() => presetRole('admin')).toThrow(/code-reviewer, task-orchestrator/);
    expect(() => presetRole('__proto__')).toThrow(PolicyError);
    expect(() => presetRole('toString')).toThrow(PolicyError);
  });

  it('decide as the seed says', () => {
    const engine = compileAuthz({ roles: [presetRole('code-reviewer')] });
    const subject = { id: 'a', roles: ['code-reviewer'] };
    expect(engine.decide({ subject, resource: { type: 'file', extension: '.ts' }, action: 'read', context: {} }).allowed).toBe(true);
    expect(engine.decide({ subject, resource: { type: 'file', extension: '.env' }, action: 'read', context: {} }).allowed).toBe(false);
    expect(engine.decide({ subject, resource: { type: 'system' }, action: 'execute', context: {} }).allowed).toBe(false);
  });
});

describe('preset security policies', () => {
  it('policy-001: network isolation, enforcing', () => {
    const p = presetSecurityPolicy('policy-001');
    expect(PRESET_SECURITY_POLICY_IDS).toEqual(['policy-001', 'policy-002']);
    expect(p.name).toBe('Agent Network Isolation');
    expect(p.scope).toEqual({ agentTypes: ['code-reviewer', 'task-orchestrator'] });
    expect(p.enforcement).toEqual({ mode: 'enforcing', exceptions: [] });
    expect(p.rules[0]?.condition).toEqual({ when: { eventType: 'network_connection_attempt' }, where: { destination: { notIn: ['api.github.com', 'packages.example.org'] } } });
    expect(p.rules[0]?.action).toEqual({ type: 'deny', parameters: { reason: 'External network access not permitted' } });
    expect(p.metadata).toEqual({ createdBy: 'security-admin', createdAt: '2025-01-15T10:00:00Z' });
  });

  it('policy-002: MFA for restricted data, blocking', () => {
    const p = presetSecurityPolicy('policy-002');
    expect(p.scope).toEqual({ dataClassifications: ['confidential', 'restricted'] });
    expect(p.enforcement.mode).toBe('blocking');
    expect(p.rules[0]?.condition.where).toEqual({ dataClassification: 'restricted', mfaVerified: false });
    expect(p.rules[0]?.severity).toBe('critical');
  });

  it('decide as the seed says', () => {
    const engine = compileAuthz(
      {
        securityPolicies: [presetSecurityPolicy('policy-001'), presetSecurityPolicy('policy-002')],
        dataPolicies: [{ dataId: 'x', classification: 'restricted', accessRules: { readRoles: ['analyst'], writeRoles: [], deleteRoles: [] } }],
      },
      { requireGrant: false },
    );
    const reviewer = { id: 'a', type: 'code-reviewer', roles: ['analyst'] };
    const net = (host: string) => engine.decide({ subject: reviewer, resource: { type: 'network', host, port: 443, scheme: 'https' }, action: 'connect', context: {} });
    expect(net('api.github.com').allowed).toBe(true);
    expect(net('evil.example').allowed).toBe(false);
    const data = (mfaVerified: boolean) => engine.decide({ subject: { ...reviewer, mfaVerified }, resource: { type: 'data', dataId: 'x' }, action: 'read', context: {} });
    expect(data(false).allowed).toBe(false);
    expect(data(true).allowed).toBe(true);
  });

  it('unknown ids throw', () => {
    expect(() => presetSecurityPolicy('policy-003')).toThrow(/policy-001, policy-002/);
  });
});

describe('preset sandbox policy', () => {
  it('codeReviewerPolicy is raw policy data that validates like a file', () => {
    expect(PRESET_SANDBOX_POLICY_NAMES).toEqual(['codeReviewerPolicy']);
    const raw = presetSandboxPolicy('codeReviewerPolicy');
    const { policy, warnings } = parsePolicyObject(raw);
    expect(policy.capabilities).toEqual({ allowed: ['read_files', 'write_files', 'network_access'], forbidden: ['system_admin', 'file_system_admin', 'network_admin'] });
    expect(policy.fileAccess.readwrite).toEqual(['/tmp/**', '/workspace/.agent-workspace/**']);
    expect(policy.networkRules).toEqual({ allowedHosts: ['api.github.com', 'packages.example.org'], allowedPorts: [443, 80], protocols: ['https', 'http'] });
    expect(policy.mounts).toEqual([]);
    expect(warnings.some((w) => w.includes('no mounts'))).toBe(true);
    // The same data as YAML text.
    expect(parsePolicyText(stringify(raw)).policy).toEqual(policy);
  });

  it('returns a fresh copy each time', () => {
    const a = presetSandboxPolicy('codeReviewerPolicy');
    (a['fileAccess'] as { readonly: string[] }).readonly.push('/**');
    expect((presetSandboxPolicy('codeReviewerPolicy')['fileAccess'] as { readonly: string[] }).readonly).not.toContain('/**');
  });

  it('a policy file can be just a preset reference', () => {
    const direct = parsePolicyObject(presetSandboxPolicy('codeReviewerPolicy')).policy;
    expect(parsePolicyText('preset: codeReviewerPolicy\n').policy).toEqual(direct);
    expect(parsePolicyText('{"version": 1, "preset": "codeReviewerPolicy"}').policy).toEqual(direct);
    expect(() => parsePolicyText('preset: codeReviewerPolicy\nversion: 2\n')).toThrow(/version/);
    expect(() => parsePolicyText('preset: [codeReviewerPolicy]\n')).toThrow(/preset/);
  });
});
