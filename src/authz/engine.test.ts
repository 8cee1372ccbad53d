import { describe, expect, it } from 'vitest';
import { compileAuthz } from './engine.js';
import type { AccessPolicy, AuthzModel, AuthzRequest, RoleDefinition, SecurityPolicy } from './types.js';

const reviewer: RoleDefinition = {
  name: 'code-reviewer',
  permissions: [
    { resource: 'file', action: 'read', effect: 'allow', conditions: [{ field: 'extension', operator: 'in', value: ['.ts', '.js'] }] },
    { resource: 'network', action: 'connect', effect: 'allow', conditions: [{ field: 'host', operator: 'in', value: ['api.github.com'] }] },
    { resource: 'system', action: 'execute', effect: 'deny' },
  ],
};

const req = (resource: AuthzRequest['resource'], action: string, subject: Partial<AuthzRequest['subject']> = {}, context: AuthzRequest['context'] = {}): AuthzRequest => ({
  subject: { id: 'agent-1', roles: ['code-reviewer'], type: 'code-reviewer', ...subject },
  resource,
  action,
  context,
});

describe('RBAC', () => {
  const e = compileAuthz({ roles: [reviewer] });
  it('allows what a permission grants when its conditions hold, and says why', () => {
    const d = e.decide(req({ type: 'file', extension: '.ts', path: '/w/a.ts' }, 'read'));
    expect(d).toMatchObject({ allowed: true, matched: ['role:code-reviewer#0'] });
    expect(d.reason).toMatch(/role code-reviewer: allow read on file when extension in/);
  });
  it('denies by default, and on an explicit deny', () => {
    expect(e.decide(req({ type: 'file', extension: '.env' }, 'read'))).toMatchObject({ allowed: false, reason: expect.stringMatching(/default deny/) });
    expect(e.decide(req({ type: 'system' }, 'execute'))).toMatchObject({ allowed: false, matched: ['role:code-reviewer#2'] });
    expect(e.decide(req({ type: 'file', extension: '.ts' }, 'read', { roles: [] })).allowed).toBe(false);
  });
  it('inherits parent permissions and a child deny overrides a parent allow in either order', () => {
    const child: RoleDefinition = { name: 'junior', parentRoles: ['code-reviewer'], permissions: [{ resource: 'network', action: 'connect', effect: 'deny' }] };
    for (const roles of [[reviewer, child], [child, reviewer]]) {
      const e2 = compileAuthz({ roles });
      expect(e2.decide(req({ type: 'file', extension: '.js' }, 'read', { roles: ['junior'] })).allowed).toBe(true);
      expect(e2.decide(req({ type: 'network', host: 'api.github.com' }, 'connect', { roles: ['junior'] })).allowed).toBe(false);
      expect(e2.decide(req({ type: 'network', host: 'api.github.com' }, 'connect', { roles: ['code-reviewer', 'junior'] })).allowed).toBe(false);
      expect(e2.decide(req({ type: 'network', host: 'api.github.com' }, 'connect', { roles: ['junior', 'code-reviewer'] })).allowed).toBe(false);
    }
  });
});

describe('operators', () => {
  const role = (cond: RoleDefinition['permissions'][number]['conditions']): AuthzModel => ({ roles: [{ name: 'r', permissions: [{ resource: 'x', action: 'do', effect: 'allow', conditions: cond! }] }] });
  const d = (m: AuthzModel, resource: Record<string, unknown>, subject: Record<string, unknown> = {}) =>
    compileAuthz(m).decide({ subject: { id: 's', roles: ['r'], ...subject }, resource: { type: 'x', ...resource }, action: 'do', context: { environment: 'prod' } }).allowed;
  it.each([
    ['eq', { field: 'a', operator: 'eq', value: 1 }, { a: 1 }, { a: 2 }],
    ['ne', { field: 'a', operator: 'ne', value: 1 }, { a: 2 }, { a: 1 }],
    ['in', { field: 'a', operator: 'in', value: ['x', 'y'] }, { a: 'y' }, { a: 'z' }],
    ['contains (string)', { field: 'a', operator: 'contains', value: 'ell' }, { a: 'hello' }, { a: 'help' }],
    ['contains (array)', { field: 'a', operator: 'contains', value: 'b' }, { a: ['a', 'b'] }, { a: ['c'] }],
    ['matches', { field: 'a', operator: 'matches', value: '^src/[a-z]+\\.ts$' }, { a: 'src/main.ts' }, { a: 'src/main.tsx' }],
  ] as const)('%s', (_n, cond, yes, no) => {
    expect(d(role([cond as never]), yes)).toBe(true);
    expect(d(role([cond as never]), no)).toBe(false);
  });
  it('reads subject and context fields, and never a prototype', () => {
    expect(d(role([{ field: 'subject.tier', operator: 'eq', value: 'gold' }]), {}, { tier: 'gold' })).toBe(true);
    expect(d(role([{ field: 'context.environment', operator: 'eq', value: 'prod' }]), {})).toBe(true);
    // Inherited properties are invisible: `constructor` and `toString` read as absent.
    expect(d(role([{ field: 'constructor', operator: 'matches', value: 'Object' }]), {})).toBe(false);
    expect(d(role([{ field: 'resource.toString', operator: 'matches', value: 'native' }]), {})).toBe(false);
    expect(d(role([{ field: 'subject.__proto__', operator: 'eq', value: null }]), {})).toBe(false);
  });
});

describe('ABAC and combining', () => {
  const pol = (id: string, effect: 'allow' | 'deny', priority: number, extra: Partial<AccessPolicy> = {}): AccessPolicy => ({
    id,
    effect,
    priority,
    target: { resource: [{ field: 'resource.type', operator: 'eq', value: 'file' }], action: [{ field: 'action', operator: 'eq', value: 'read' }] },
    ...extra,
  });
  it('deny overrides allow whatever the priority and order', () => {
    for (const list of [[pol('a', 'allow', 10), pol('d', 'deny', 1)], [pol('d', 'deny', 1), pol('a', 'allow', 10)]]) {
      const d = compileAuthz({ accessPolicies: list }).decide(req({ type: 'file' }, 'read'));
      expect(d).toMatchObject({ allowed: false, matched: ['access:d'] });
    }
  });
  it('reports the highest-priority policy of the winning effect', () => {
    const d = compileAuthz({ accessPolicies: [pol('low', 'allow', 1), pol('high', 'allow', 9)] }).decide(req({ type: 'file' }, 'read'));
    expect(d).toMatchObject({ allowed: true, matched: ['access:high'] });
  });
  it('evaluates conditions with all/any/not', () => {
    const p = pol('c', 'allow', 1, { condition: { all: [{ any: [{ field: 'path', operator: 'matches', value: '^/w/' }, { field: 'subject.type', operator: 'eq', value: 'admin' }] }, { not: { field: 'path', operator: 'contains', value: 'secret' } }] } });
    const e = compileAuthz({ accessPolicies: [p] });
    expect(e.decide(req({ type: 'file', path: '/w/a' }, 'read')).allowed).toBe(true);
    expect(e.decide(req({ type: 'file', path: '/w/secret' }, 'read')).allowed).toBe(false);
    expect(e.decide(req({ type: 'file', path: '/x' }, 'read', { type: 'admin' })).allowed).toBe(true);
  });
  it('an error while evaluating denies', () => {
    const bad = pol('boom', 'allow', 1, { condition: { field: 'path', operator: 'nope' as never, value: 1 } });
    expect(() => compileAuthz({ accessPolicies: [bad] })).toThrow();
    const e = compileAuthz({ roles: [reviewer] });
    const hostile = req({ type: 'file' }, 'read');
    Object.defineProperty(hostile.resource, 'extension', { get: () => { throw new Error('hostile getter'); }, enumerable: true });
    expect(e.decide(hostile)).toMatchObject({ allowed: false, reason: expect.stringMatching(/evaluation error/) });
  });
  it('applies time windows and reports when the decision expires', () => {
    const day = Date.UTC(2026, 10, 23, 12);
    const p = pol('office', 'allow', 1, { when: { hours: { start: 9, end: 17 } } });
    const e = compileAuthz({ accessPolicies: [p] });
    const inHours = e.decide(req({ type: 'file' }, 'read', {}, { time: day }));
    expect(inHours.allowed).toBe(true);
    expect(inHours.expiresAt).toBe(Date.UTC(2026, 10, 23, 17));
    expect(e.decide(req({ type: 'file' }, 'read', {}, { time: Date.UTC(2026, 10, 23, 20) })).allowed).toBe(false);
  });
  it('scales: 10,000 indexed policies, one match', () => {
    const many: AccessPolicy[] = Array.from({ length: 10_000 }, (_, i) => ({
      id: `p${i}`,
      effect: 'allow',
      priority: i % 7,
      target: { subject: [{ field: 'subject.type', operator: 'eq', value: `type-${i}` }], action: [{ field: 'action', operator: 'eq', value: 'read' }] },
    }));
    const e = compileAuthz({ accessPolicies: many });
    expect(e.decide(req({ type: 'file' }, 'read', { type: 'type-4242' }))).toMatchObject({ allowed: true, matched: ['access:p4242'] });
    expect(e.decide(req({ type: 'file' }, 'read', { type: 'type-none' })).allowed).toBe(false);
  });
});

describe('security, capability and data policies', () => {
  const p001: SecurityPolicy = {
    id: 'policy-001',
    name: 'Agent Network Isolation',
    scope: { agentTypes: ['code-reviewer', 'task-orchestrator'] },
    rules: [
      {
        id: 'rule-001-1',
        name: 'Block External Network Access',
        condition: { when: { eventType: 'network_connection_attempt' }, where: { destination: { notIn: ['api.github.com', 'packages.example.org'] } } },
        action: { type: 'deny', parameters: { reason: 'External network access not permitted' } },
        severity: 'high',
      },
    ],
    enforcement: { mode: 'enforcing', exceptions: [] },
  };
  const p002: SecurityPolicy = {
    id: 'policy-002',
    name: 'Data Access Classification',
    scope: { dataClassifications: ['confidential', 'restricted'] },
    rules: [
      {
        id: 'rule-002-1',
        name: 'Require MFA for Restricted Data',
        condition: { when: { eventType: 'data_access_attempt' }, where: { dataClassification: 'restricted', mfaVerified: false } },
        action: { type: 'deny', parameters: { reason: 'MFA required for restricted data access' } },
        severity: 'critical',
      },
    ],
    enforcement: { mode: 'blocking', exceptions: [{ agentId: 'agent-1' }] },
  };
  const grantAll: RoleDefinition = { name: 'code-reviewer', permissions: [{ resource: '*', action: '*', effect: 'allow' }] };

  it('policy-001 denies connections outside the approved hosts, in scope only', () => {
    const e = compileAuthz({ roles: [grantAll], securityPolicies: [p001] });
    expect(e.decide(req({ type: 'network', host: 'evil.test', port: 443, scheme: 'https' }, 'connect'))).toMatchObject({ allowed: false, matched: ['security:policy-001/rule-001-1'] });
    expect(e.decide(req({ type: 'network', host: 'api.github.com', port: 443, scheme: 'https' }, 'connect')).allowed).toBe(true);
    expect(e.decide(req({ type: 'network', host: 'evil.test' }, 'connect', { type: 'other' })).allowed).toBe(true);
  });

  it('advisory mode allows but marks the decision as a would-deny', () => {
    const e = compileAuthz({ roles: [grantAll], securityPolicies: [{ ...p001, enforcement: { mode: 'advisory', exceptions: [] } }] });
    const d = e.decide(req({ type: 'network', host: 'evil.test' }, 'connect'));
    expect(d).toMatchObject({ allowed: true, wouldDeny: { policyId: 'policy-001', ruleId: 'rule-001-1' }, auditRequired: true });
  });

  it('policy-002 with a data policy: restricted data needs MFA; blocking mode ignores exceptions', () => {
    const model: AuthzModel = {
      securityPolicies: [p002],
      dataPolicies: [
        { dataId: 'customers/*', classification: 'restricted', accessRules: { readRoles: ['code-reviewer'], writeRoles: [], deleteRoles: [] }, audit: { logReads: true, logWrites: true, logDeletes: true } },
        { dataId: 'docs/*', classification: 'public', accessRules: { readRoles: ['code-reviewer'], writeRoles: ['code-reviewer'], deleteRoles: [] } },
      ],
    };
    const e = compileAuthz(model, { requireGrant: false });
    const read = (dataId: string, action = 'read', subject = {}) => e.decide(req({ type: 'data', dataId }, action, subject));
    expect(read('customers/42')).toMatchObject({ allowed: false, matched: ['security:policy-002/rule-002-1'] });
    expect(read('customers/42', 'read', { mfaVerified: true })).toMatchObject({ allowed: true, auditRequired: true });
    expect(read('customers/42', 'write', { mfaVerified: true })).toMatchObject({ allowed: false, reason: expect.stringMatching(/requires one of the roles/) });
    expect(read('docs/readme')).toMatchObject({ allowed: true });
    expect(read('elsewhere/x')).toMatchObject({ allowed: false, reason: expect.stringMatching(/no data access policy/) });
  });

  it('capability policies grant tools and restrict network; a suspended one denies everything', () => {
    const base = { policyId: 'cap-1', agentType: 'code-reviewer', status: 'active' as const, allowedTools: ['search'], networkRules: { allowedHosts: ['*.github.com'], allowedPorts: [443], allowedProtocols: ['https'] } };
    const e = compileAuthz({ capabilityPolicies: [base] });
    expect(e.decide(req({ type: 'tool', name: 'search' }, 'invoke')).allowed).toBe(true);
    expect(e.decide(req({ type: 'tool', name: 'rm' }, 'invoke')).allowed).toBe(false);
    expect(e.decide(req({ type: 'network', host: 'api.github.com', port: 443, scheme: 'https' }, 'connect')).allowed).toBe(true);
    expect(e.decide(req({ type: 'network', host: 'api.github.com', port: 80, scheme: 'http' }, 'connect')).allowed).toBe(false);
    const s = compileAuthz({ capabilityPolicies: [{ ...base, status: 'suspended' }] });
    expect(s.decide(req({ type: 'tool', name: 'search' }, 'invoke'))).toMatchObject({ allowed: false, reason: expect.stringMatching(/suspended/) });
    const expired = compileAuthz({ capabilityPolicies: [{ ...base, effectiveTo: Date.UTC(2020, 0, 1) }] });
    expect(expired.decide(req({ type: 'tool', name: 'search' }, 'invoke')).allowed).toBe(false);
  });

  it('alert and quarantine rules become actions for the monitor', () => {
    const watch: SecurityPolicy = {
      id: 'watch',
      name: 'watch',
      scope: {},
      rules: [
        { id: 'r1', name: 'alert on env', condition: { when: { eventType: 'file_read' }, where: { path: { matches: '\\.env$' } } }, action: { type: 'alert' }, severity: 'medium' },
        { id: 'r2', name: 'quarantine on ssh', condition: { when: { eventType: 'file_read' }, where: { path: { contains: '.ssh' } } }, action: { type: 'quarantine' }, severity: 'critical' },
      ],
      enforcement: { mode: 'enforcing', exceptions: [] },
    };
    const e = compileAuthz({ roles: [grantAll], securityPolicies: [watch] });
    const a = e.decide(req({ type: 'file', path: '/w/.env' }, 'read'));
    expect(a).toMatchObject({ allowed: true, actions: [{ type: 'alert', policyId: 'watch', ruleId: 'r1' }] });
    const q = e.decide(req({ type: 'file', path: '/home/u/.ssh/id_rsa' }, 'read'));
    expect(q).toMatchObject({ allowed: false, actions: [{ type: 'quarantine', ruleId: 'r2', severity: 'critical' }] });
  });
});
