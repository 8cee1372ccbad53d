import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, parsePolicyObject } from '../policy/loader.js';
import { lintPolicy, type LintFinding } from './lint.js';

const lint = (policy: Record<string, unknown>, now?: number): LintFinding[] => lintPolicy(parsePolicyObject({ version: 1, ...policy }).policy, now);
const codes = (fs: LintFinding[]): string[] => fs.map((f) => `${f.code} ${f.path}`);
const role = (permissions: unknown[], extra: Record<string, unknown> = {}) => ({ roles: ['r'], roleDefinitions: [{ name: 'r', permissions, ...extra }] });
const perm = (resource: string, action: string, effect: string, more: Record<string, unknown> = {}) => ({ resource, action, effect, ...more });
const cond = (field: string, operator: string, value: unknown) => ({ field, operator, value });

describe('allow-all', () => {
  it('flags wildcard grants', () => {
    const fs = lint({
      ...role([perm('*', '*', 'allow')]),
      accessPolicies: [{ id: 'all', effect: 'allow' }],
      capabilityPolicies: [{ policyId: 'c', allowedTools: ['search', '*'] }],
      toolAccess: { allow: ['*'] },
      fileAccess: { readwrite: ['/**'], readonly: ['/**'] },
      securityPolicies: [{ id: 's', rules: [{ id: 'open', condition: { when: { eventType: '*' } }, action: { type: 'allow' } }] }],
    });
    expect(codes(fs)).toEqual([
      'allow-all roleDefinitions[0].permissions[0]',
      'allow-all accessPolicies[0]',
      'allow-all securityPolicies[0].rules[0]',
      'allow-all capabilityPolicies[0].allowedTools[1]',
      'allow-all toolAccess.allow[0]',
      'allow-all fileAccess.readwrite[0]',
      'allow-all fileAccess.readonly[0]',
    ]);
    expect(fs.every((f) => f.severity === 'warning')).toBe(true);
  });

  it('does not flag narrowed grants', () => {
    expect(
      lint({
        ...role([perm('*', '*', 'allow', { conditions: [cond('subject.type', 'eq', 'admin')] }), perm('*', '*', 'allow', { when: { hours: { start: 9, end: 17 } } }), perm('file', '*', 'allow')]),
        accessPolicies: [{ id: 'a', effect: 'allow', condition: cond('a', 'eq', 1) }, { id: 'd', effect: 'deny', target: { resource: cond('path', 'contains', 'x') } }],
        toolAccess: { allow: ['git.*'] },
        fileAccess: { readwrite: ['/tmp/**'] },
      }),
    ).toEqual([]);
  });
});

describe('unreachable rules', () => {
  it.each([
    ['eq a and eq b', [cond('extension', 'eq', '.ts'), cond('resource.extension', 'eq', '.js')]],
    ['eq a and ne a', [cond('host', 'eq', 'a'), cond('host', 'ne', 'a')]],
    ['disjoint in lists', [cond('host', 'in', ['a', 'b']), cond('host', 'in', ['c'])]],
    ['in and a pattern none matches', [cond('path', 'in', ['/a', '/b']), cond('path', 'matches', '^/c')]],
    ['eq and contains', [cond('path', 'eq', '/a'), cond('path', 'contains', 'x')]],
  ])('contradictory permission conditions: %s (error)', (_name, conditions) => {
    const fs = lint(role([perm('file', 'read', 'allow', { conditions })]));
    expect(codes(fs)).toEqual(['unreachable-rule roleDefinitions[0].permissions[0].conditions']);
    expect(fs[0]?.severity).toBe('error');
  });

  it.each([
    ['eq false and eq null (a missing flag satisfies both)', [cond('subject.mfaVerified', 'eq', false), cond('subject.mfaVerified', 'eq', null)]],
    ['eq and a matching pattern', [cond('path', 'eq', '/c/x'), cond('path', 'matches', '^/c')]],
    ['different fields', [cond('a', 'eq', 1), cond('b', 'eq', 2)]],
    ['ne only', [cond('a', 'ne', 1), cond('a', 'ne', 2)]],
    ['overlapping in lists', [cond('a', 'in', [1, 2]), cond('a', 'in', [2, 3])]],
  ])('satisfiable conditions are not flagged: %s', (_name, conditions) => {
    expect(lint(role([perm('file', 'read', 'allow', { conditions })]))).toEqual([]);
  });

  it('an access policy whose target and condition contradict', () => {
    const fs = lint({ accessPolicies: [{ id: 'p', effect: 'deny', target: { action: { operator: 'eq', value: 'read' } }, condition: { all: [cond('action', 'eq', 'write')] } }] });
    expect(codes(fs)).toEqual(['unreachable-rule accessPolicies[0]']);
    expect(fs[0]?.message).toMatch(/action/);
  });

  it('an allow permission already denied unconditionally by the same role or a parent', () => {
    const fs = lint({
      roles: ['child'],
      roleDefinitions: [
        { name: 'base', permissions: [perm('system', '*', 'deny')] },
        { name: 'child', parentRoles: ['base'], permissions: [perm('system', 'execute', 'allow'), perm('file', 'read', 'deny'), perm('file', 'read', 'allow', { conditions: [cond('extension', 'eq', '.ts')] }), perm('net', 'connect', 'allow')] },
      ],
    });
    expect(codes(fs)).toEqual(['unreachable-rule roleDefinitions[1].permissions[0]', 'unreachable-rule roleDefinitions[1].permissions[2]']);
  });

  it('a conditional or time-limited deny does not make an allow unreachable', () => {
    expect(
      lint(role([perm('file', 'read', 'deny', { conditions: [cond('path', 'contains', 'secret')] }), perm('file', 'read', 'deny', { when: { days: ['sun'] } }), perm('file', 'read', 'allow')])),
    ).toEqual([]);
    // A parent with its own time window only denies inside it.
    expect(lint({ roles: ['c'], roleDefinitions: [{ name: 'p', when: { days: ['sun'] }, permissions: [perm('*', '*', 'deny')] }, { name: 'c', parentRoles: ['p'], permissions: [perm('file', 'read', 'allow')] }] })).toEqual([]);
  });

  it('the seed code-reviewer preset is clean', () => {
    expect(lint({ roles: ['code-reviewer', 'task-orchestrator'] })).toEqual([]);
  });

  it('an allow access policy covered by an unconditional deny, whatever the priorities', () => {
    const fs = lint({
      accessPolicies: [
        { id: 'deny-secrets', effect: 'deny', priority: 1, target: { resource: cond('path', 'contains', 'secret') } },
        { id: 'allow-secrets-read', effect: 'allow', priority: 100, target: { resource: cond('path', 'contains', 'secret'), action: { operator: 'eq', value: 'read' } } },
        { id: 'allow-other', effect: 'allow', target: { resource: cond('path', 'contains', 'public') } },
      ],
    });
    expect(codes(fs)).toEqual(['unreachable-rule accessPolicies[1]']);
    expect(fs[0]?.message).toMatch(/deny-secrets/);
  });

  it('a security exception that waives everything', () => {
    const rules = [{ id: 'r', condition: { when: { eventType: 'a' } }, action: { type: 'deny' } }];
    const fs = lint({ securityPolicies: [{ id: 's', rules, enforcement: { mode: 'enforcing', exceptions: [{ reason: 'temporary' }, { agentType: 'x' }] } }] });
    expect(codes(fs)).toEqual(['unreachable-rule securityPolicies[0].enforcement.exceptions[0]']);
  });
});

describe('shadowed rules', () => {
  it('a permission after an unconditional one with the same effect that covers it', () => {
    const fs = lint(role([perm('file', '*', 'allow'), perm('file', 'read', 'allow', { conditions: [cond('extension', 'eq', '.ts')] }), perm('file', 'read', 'deny', { conditions: [cond('path', 'contains', 'x')] })]));
    expect(codes(fs)).toEqual(['shadowed-rule roleDefinitions[0].permissions[1]']);
  });

  it('an access policy covered by one of the same effect and no lower priority', () => {
    const fs = lint({
      accessPolicies: [
        { id: 'a', effect: 'allow', priority: 5, target: { subject: cond('type', 'eq', 'reviewer') } },
        { id: 'b', effect: 'allow', priority: 5, target: { subject: cond('subject.type', 'eq', 'reviewer'), action: { operator: 'eq', value: 'read' } } },
        { id: 'c', effect: 'allow', priority: 9, target: { subject: cond('type', 'eq', 'reviewer'), action: { operator: 'eq', value: 'write' } } },
        { id: 'd', effect: 'allow', priority: 1, target: { subject: cond('type', 'eq', 'reviewer') }, condition: cond('context.environment', 'eq', 'prod') },
      ],
    });
    expect(codes(fs)).toEqual(['shadowed-rule accessPolicies[1]', 'shadowed-rule accessPolicies[3]']);
  });

  it('identical policies: only the later one is flagged', () => {
    const p = { effect: 'deny', target: { resource: cond('path', 'in', ['/a', '/b']) } };
    const q = { effect: 'deny', target: { resource: cond('path', 'in', ['/b', '/a']) } };
    expect(codes(lint({ accessPolicies: [{ id: 'x', ...p }, { id: 'y', ...q }] }))).toEqual(['shadowed-rule accessPolicies[1]']);
  });
});

describe('exceptions and roles', () => {
  it('blocking mode ignores exceptions; ended exceptions', () => {
    const rules = [{ id: 'r', condition: { when: { eventType: 'a' } }, action: { type: 'deny' } }];
    const fs = lint(
      {
        securityPolicies: [
          { id: 'b', rules, enforcement: { mode: 'blocking', exceptions: [{ ruleId: 'r' }] } },
          { id: 'e', rules, enforcement: { mode: 'enforcing', exceptions: [{ ruleId: 'r', until: '2020-01-01' }, { ruleId: 'r', until: '2030-01-01' }] } },
        ],
      },
      Date.UTC(2026, 0, 1),
    );
    expect(codes(fs)).toEqual(['ineffective-exception securityPolicies[0].enforcement.exceptions', 'ineffective-exception securityPolicies[1].enforcement.exceptions[0]']);
  });

  it('an inactive role in roles', () => {
    const fs = lint({ roles: ['old'], roleDefinitions: [{ name: 'old', status: 'deprecated', permissions: [perm('*', '*', 'allow')] }] });
    expect(codes(fs)).toEqual(['inactive-role roles[0]']);
  });

  it('paths of preset roles pulled in by name say where they came from', () => {
    const fs = lint({ roles: ['x'], roleDefinitions: [{ name: 'x', parentRoles: ['code-reviewer'], permissions: [perm('system', 'execute', 'allow')] }] });
    expect(codes(fs)).toEqual(['unreachable-rule roleDefinitions[0].permissions[0]']);
  });
});

describe('fixtures', () => {
  it('every good authz fixture lints without errors (warnings allowed)', async () => {
    const dir = fileURLToPath(new URL('../../test/fixtures/policies/authz/good/', import.meta.url));
    for (const f of (await readdir(dir)).filter((x) => /\.(ya?ml|json)$/.test(x))) {
      const { policy } = await loadPolicyFile(join(dir, f));
      const errors = lintPolicy(policy).filter((x) => x.severity === 'error');
      expect(errors, f).toEqual([]);
    }
  });
});
