import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import { loadPolicyFile, parsePolicyObject, parsePolicyText } from '../policy/loader.js';
import { validatePolicy } from '../policy/normalize.js';
import { compileAuthz } from './engine.js';
import { presetRole, presetSecurityPolicy } from './presets.js';
import { accessPolicySchema, capabilityPolicySchema, roleDefinitionSchema, ROLE_SOURCES, timeWindowSchema } from './schema.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/policies/authz/', import.meta.url));

async function list(kind: 'good' | 'bad'): Promise<string[]> {
  return (await readdir(join(FIXTURES, kind))).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
}

/** `# expect: <path>` on the first line of a YAML fixture, or `<file>.expect` beside a JSON one. */
async function expectedPath(file: string): Promise<string> {
  const path = join(FIXTURES, 'bad', file);
  if (file.endsWith('.json')) return (await readFile(`${path}.expect`, 'utf8')).trim();
  const first = (await readFile(path, 'utf8')).split('\n')[0] ?? '';
  const m = /^# expect: (.+)$/.exec(first);
  if (!m) throw new Error(`${file}: the first line must be "# expect: <path>"`);
  return m[1]!.trim();
}

function problem(data: unknown): { path: unknown; message: string } {
  try {
    validatePolicy(data, { source: 'test' });
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return { path: (e as PolicyError).details.path, message: (e as PolicyError).message };
  }
  throw new Error('expected a PolicyError');
}

describe('authorization fixtures', () => {
  it('every good fixture loads', async () => {
    const files = await list('good');
    expect(files.length).toBeGreaterThanOrEqual(8);
    for (const f of files) {
      const loaded = await loadPolicyFile(join(FIXTURES, 'good', f)).catch((e: unknown) => {
        throw new Error(`${f} should load: ${String(e)}`);
      });
      expect(loaded.policy.version, f).toBe(1);
      // The model compiles (every `matches` pattern was accepted at load).
      expect(() => compileAuthz(loaded.policy.authz), f).not.toThrow();
    }
  });

  it('every bad fixture throws PolicyError at the path it names', async () => {
    const files = await list('bad');
    expect(files.length).toBeGreaterThanOrEqual(60);
    for (const f of files) {
      const path = join(FIXTURES, 'bad', f);
      const want = await expectedPath(f);
      const err = await loadPolicyFile(path).then(
        () => new Error(`${f} should have been rejected`),
        (e: unknown) => e,
      );
      expect(err, f).toBeInstanceOf(PolicyError);
      const pe = err as PolicyError;
      expect(pe.details.path, `${f}: ${pe.message}`).toBe(want);
      expect(pe.message.startsWith(`${path}: ${want}: `), `${f}: ${pe.message}`).toBe(true);
      expect(pe.message.split('\n')[0], f).toMatch(/; /);
    }
  });
});

describe('seed spellings normalize', () => {
  it('the seed roles load with constraints in ms and bytes, equal to the presets', async () => {
    const { policy } = await loadPolicyFile(join(FIXTURES, 'good', 'seed-roles.yaml'));
    const [cr, to] = policy.authz.roles;
    expect(cr?.constraints).toEqual({ timeLimit: 3_600_000, memoryLimit: 1024 ** 3 });
    expect(to?.constraints).toEqual({ maxConcurrentTasks: 10 });
    expect(cr).toEqual(presetRole('code-reviewer'));
    expect(to).toEqual(presetRole('task-orchestrator'));
  });

  it('constraints as a mapping with units', () => {
    const r = roleDefinitionSchema.parse({ name: 'r', constraints: { timeLimit: '1h', memoryLimit: '1GiB', maxConcurrentTasks: 10 } });
    expect(r).toEqual({ name: 'r', permissions: [], constraints: { timeLimit: 3_600_000, memoryLimit: 1024 ** 3, maxConcurrentTasks: 10 } });
  });

  it('the seed security policies equal the presets', async () => {
    const { policy } = await loadPolicyFile(join(FIXTURES, 'good', 'seed-security.yaml'));
    const [net, mfa, preset] = policy.authz.securityPolicies;
    expect({ ...net, id: 'policy-001' }).toEqual(presetSecurityPolicy('policy-001'));
    expect(mfa?.enforcement).toEqual({ mode: 'blocking', exceptions: [] });
    expect(mfa?.rules[0]?.condition.where).toEqual({ dataClassification: 'restricted', mfaVerified: false });
    expect(preset).toEqual(presetSecurityPolicy('policy-001'));
  });

  it('the seed capability policy: nested toolAccess, seed monitoring, ISO instants', async () => {
    const { policy } = await loadPolicyFile(join(FIXTURES, 'good', 'capability-seed.json'));
    expect(policy.authz.capabilityPolicies[0]).toEqual({
      policyId: 'cap-reviewer',
      agentInstanceId: '3f1c6d2e-0000-4000-8000-000000000001',
      agentType: 'code-reviewer',
      version: '1.2',
      allowedTools: ['search'],
      usageLimits: { search: 50 },
      networkRules: { allowedHosts: ['api.github.com'], allowedPorts: [443], allowedProtocols: ['https'], maxConnections: 10, dataTransferLimit: 100 * 1024 ** 2 },
      resourceConstraints: { maxMemory: 1024 ** 3, maxCpuTime: 1_800_000, maxFileSize: 100 * 1024 ** 2, maxProcesses: 10, maxExecutionTime: 3_600_000 },
      monitoring: { failedAuthentications: 5, resourceUsage: 90, suspiciousOperations: 3 },
      logLevel: 'warn',
      auditLevel: 'detailed',
      effectiveFrom: Date.UTC(2025, 0, 15, 10),
      effectiveTo: Date.UTC(2026, 0, 15, 9),
      status: 'active',
    });
  });

  it('dataTransferLimit accepts 10MiB; hosts are canonicalized', () => {
    const c = capabilityPolicySchema.parse({ policyId: 'c', networkRules: { dataTransferLimit: '10MiB', allowedHosts: ['API.GitHub.com.'] } });
    expect(c.networkRules).toEqual({ dataTransferLimit: 10 * 1024 ** 2, allowedHosts: ['api.github.com'] });
    expect(c.status).toBe('active');
  });

  it('access policy targets: one test or a list; bare names qualified by their part', () => {
    const p = accessPolicySchema.parse({
      id: 'p',
      effect: 'allow',
      target: { subject: { attribute: 'type', operator: 'eq', value: 'x' }, resource: [{ field: 'path', operator: 'contains', value: 's' }, { field: 'context.environment', operator: 'eq', value: 'prod' }], action: { operator: 'eq', value: 'read' } },
    });
    expect(p.target).toEqual({
      subject: [{ field: 'subject.type', operator: 'eq', value: 'x' }],
      resource: [{ field: 'resource.path', operator: 'contains', value: 's' }, { field: 'context.environment', operator: 'eq', value: 'prod' }],
      action: [{ field: 'action', operator: 'eq', value: 'read' }],
    });
    expect(p.priority).toBe(0);
  });

  it('time windows normalize to epoch ms and numeric days', () => {
    expect(timeWindowSchema.parse({ from: '2025-01-15', to: '2025-01-16T00:00:00+01:00', hours: { start: '08:30', end: 17 }, days: ['Fri', 'mon', 1, 'sunday'] })).toEqual({
      from: Date.UTC(2025, 0, 15),
      to: Date.UTC(2025, 0, 15, 23),
      hours: { start: 8.5, end: 17 },
      days: [0, 1, 5],
    });
  });

  it('the full model loads and decides with the engine', async () => {
    const { policy } = await loadPolicyFile(join(FIXTURES, 'good', 'full-model.yaml'));
    expect(policy.agent).toEqual({ type: 'code-reviewer', mfaVerified: true, environment: 'prod' });
    const names = policy.authz.roles.map((r) => r.name);
    expect(names).toEqual(['code-reviewer', 'auditor', 'task-orchestrator']);
    expect((policy.authz as unknown as Record<symbol, unknown>)[ROLE_SOURCES]).toEqual(['roleDefinitions[0]', 'roleDefinitions[1]', 'preset role "task-orchestrator" (parent of auditor)']);
    const engine = compileAuthz(policy.authz);
    const subject = { id: 'a', type: 'code-reviewer', roles: ['auditor'], mfaVerified: true };
    const read = (path: string) => engine.decide({ subject, resource: { type: 'file', path, extension: '.ts' }, action: 'read', context: { time: Date.UTC(2026, 0, 5, 12), environment: 'prod' } });
    expect(read('/workspace/a.ts').allowed).toBe(true);
    expect(read('/workspace/secret.ts').allowed).toBe(false);
    expect(engine.decide({ subject, resource: { type: 'task' }, action: 'assign', context: {} }).allowed).toBe(true); // inherited from the preset
  });
});

describe('type confusion', () => {
  it.each([
    ['priority "1"', { accessPolicies: [{ id: 'p', effect: 'allow', priority: '1' }] }, 'accessPolicies[0].priority', /remove the quotes/],
    ['effect "permit"', { accessPolicies: [{ id: 'p', effect: 'permit' }] }, 'accessPolicies[0].effect', /"allow", "deny"/],
    ['effect true', { roleDefinitions: [{ name: 'r', permissions: [{ resource: 'a', action: 'b', effect: true }] }] }, 'roleDefinitions[0].permissions[0].effect', /expected one of/],
    ['mfaVerified "true"', { agent: { mfaVerified: 'true' } }, 'agent.mfaVerified', /remove the quotes/],
    ['port "443"', { capabilityPolicies: [{ policyId: 'c', networkRules: { allowedPorts: ['443'] } }] }, 'capabilityPolicies[0].networkRules.allowedPorts[0]', /remove the quotes/],
    ['in with a string', { accessPolicies: [{ id: 'p', effect: 'allow', condition: { field: 'a', operator: 'in', value: 'x' } }] }, 'accessPolicies[0].condition.value', /needs a list/],
    ['eq with an object', { accessPolicies: [{ id: 'p', effect: 'allow', condition: { field: 'a', operator: 'eq', value: { x: 1 } } }] }, 'accessPolicies[0].condition.value', /string, number/],
    ['matches with a number', { accessPolicies: [{ id: 'p', effect: 'allow', condition: { field: 'a', operator: 'matches', value: 5 } }] }, 'accessPolicies[0].condition.value', /regular expression string/],
    ['audit flag "false"', { dataPolicies: [{ dataId: 'x', classification: 'public', audit: { logReads: 'false' } }] }, 'dataPolicies[0].audit.logReads', /remove the quotes/],
    ['rules as a mapping', { securityPolicies: [{ id: 's', rules: { id: 'r' } }] }, 'securityPolicies[0].rules', /a list/],
    ['days as a string', { accessPolicies: [{ id: 'p', effect: 'allow', when: { days: 'mon' } }] }, 'accessPolicies[0].when.days', /a list/],
    ['role entry as a number', { roleDefinitions: [5] }, 'roleDefinitions[0]', /mapping/],
  ])('%s', (_name, extra, path, message) => {
    const p = problem({ version: 1, ...extra });
    expect(p.path).toBe(path);
    expect(p.message).toMatch(message);
  });
});

describe('prototype pollution inside the new sections', () => {
  const hostile: [string, string][] = [
    ['json', '{"version": 1, "roleDefinitions": [{"name": "r", "__proto__": {"polluted": true}}]}'],
    ['json', '{"version": 1, "accessPolicies": [{"id": "p", "effect": "allow", "target": {"__proto__": [{"field": "a", "operator": "eq", "value": 1}]}}]}'],
    ['json', '{"version": 1, "accessPolicies": [{"id": "p", "effect": "allow", "condition": {"all": [{"__proto__": {"polluted": true}}]}}]}'],
    ['json', '{"version": 1, "securityPolicies": [{"id": "s", "rules": [{"id": "r", "condition": {"when": {"eventType": "a"}, "where": {"constructor": {"prototype": {"polluted": true}}}}, "action": {"type": "deny"}}]}]}'],
    ['json', '{"version": 1, "capabilityPolicies": [{"policyId": "c", "monitoring": {"__proto__": {"polluted": 1}}}]}'],
    ['yaml', 'version: 1\nsecurityPolicies:\n  - id: s\n    rules: [{ id: r, condition: { when: { eventType: a } }, action: { type: alert, parameters: { __proto__: { polluted: true } } } }]\n'],
    ['yaml', 'version: 1\nroleDefinitions: [{ name: r, constraints: { prototype: { polluted: true } } }]\n'],
    ['yaml', 'version: 1\naccessPolicies: [{ id: p, effect: allow, condition: { field: __proto__.polluted, operator: eq, value: true } }]\n'],
    ['yaml', 'version: 1\nroleDefinitions: [{ name: r, permissions: [{ resource: a, action: b, effect: allow, conditions: [{ field: constructor, operator: eq, value: 1 }] }] }]\n'],
  ];

  it.each(hostile)('%s %s is rejected and Object.prototype is untouched', (format, text) => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    expect(() => parsePolicyText(text, { format: format as 'json' | 'yaml' })).toThrow(PolicyError);
    expect(() => parsePolicyText(text, { format: format as 'json' | 'yaml' })).toThrow(/__proto__|constructor|prototype/);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('objects passed straight to validatePolicy (JSON.parse keeps "__proto__" as an own key) are rejected too', () => {
    const data = JSON.parse('{"version": 1, "securityPolicies": [{"id": "s", "rules": [], "metadata": {"__proto__": {"polluted": "x"}}}]}') as unknown;
    expect(problem(data).path).toBe('securityPolicies[0].metadata.__proto__');
    const where = JSON.parse('{"version": 1, "securityPolicies": [{"id": "s", "rules": [{"id": "r", "condition": {"when": {"eventType": "a"}, "where": {"__proto__": {"eq": 1}}}, "action": {"type": "deny", "parameters": {"constructor": 1}}}]}]}') as unknown;
    expect(problem(where).message).toMatch(/__proto__|constructor/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('the model is frozen null-prototype data', () => {
    const { policy } = parsePolicyText('version: 1\nroles: [code-reviewer]\nsecurityPolicies: [policy-001]\naccessPolicies: [{ id: p, effect: allow, condition: { all: [{ field: a, operator: eq, value: 1 }] } }]\n');
    const a = policy.authz;
    for (const o of [a, a.roles[0], a.roles[0]?.permissions[0], a.accessPolicies[0], a.accessPolicies[0]?.condition, a.securityPolicies[0]?.rules[0]?.condition.where]) {
      expect(Object.getPrototypeOf(o)).toBeNull();
      expect(Object.isFrozen(o)).toBe(true);
    }
    expect(Object.isFrozen(a.roles)).toBe(true);
  });
});

describe('role hierarchy', () => {
  it.each([
    ['2-cycle', [{ name: 'a', parentRoles: ['b'] }, { name: 'b', parentRoles: ['a'] }], 'roleDefinitions[0].parentRoles', 'cycle a → b → a'],
    ['self', [{ name: 'a', parentRoles: ['a'] }], 'roleDefinitions[0].parentRoles', 'cycle a → a'],
    ['4-cycle after a tree', [{ name: 't', parentRoles: ['a'] }, { name: 'a', parentRoles: ['b'] }, { name: 'b', parentRoles: ['c'] }, { name: 'c', parentRoles: ['d'] }, { name: 'd', parentRoles: ['b'] }], 'roleDefinitions[2].parentRoles', 'cycle b → c → d → b'],
    ['through a redefined preset name', [{ name: 'x' }, { name: 'y' }, { name: 'code-reviewer', parentRoles: ['a'] }, { name: 'a', parentRoles: ['code-reviewer'] }], 'roleDefinitions[2].parentRoles', 'cycle code-reviewer → a → code-reviewer'],
  ])('%s is rejected', (_name, defs, path, cycle) => {
    const p = problem({ version: 1, roleDefinitions: defs });
    expect(p.path).toBe(path);
    expect(p.message).toContain(cycle);
  });

  it('parents may be presets, pulled into the model', () => {
    const { policy } = validatePolicy({ version: 1, roles: ['r'], roleDefinitions: [{ name: 'r', parentRoles: ['task-orchestrator'] }] });
    expect(policy.authz.roles.map((r) => r.name)).toEqual(['r', 'task-orchestrator']);
  });

  it('unknown role names: errors with a model, warnings without one', () => {
    expect(problem({ version: 1, roles: ['x'], accessPolicies: [] }).path).toBe('roles[0]');
    const { policy, warnings } = validatePolicy({ version: 1, roles: ['x', 'code-reviewer'] }, { source: 's' });
    expect(warnings[0]).toMatch(/^s: roles\[0\]: unknown role "x".*grants nothing/);
    expect(policy.authz.roles.map((r) => r.name)).toEqual(['code-reviewer']);
  });
});

describe('ReDoS at load', () => {
  it('rejects ^(a+)+$ in every place a pattern can appear', () => {
    const bad = '^(a+)+$';
    const places = [
      { roleDefinitions: [{ name: 'r', permissions: [{ resource: 'a', action: 'b', effect: 'allow', conditions: [{ field: 'p', operator: 'matches', value: bad }] }] }] },
      { accessPolicies: [{ id: 'p', effect: 'deny', target: { resource: { field: 'p', operator: 'matches', value: bad } } }] },
      { accessPolicies: [{ id: 'p', effect: 'deny', condition: { not: { field: 'p', operator: 'matches', value: bad } } }] },
      { securityPolicies: [{ id: 's', rules: [{ id: 'r', condition: { when: { eventType: 'a' }, where: { p: { matches: bad } } }, action: { type: 'deny' } }] }] },
    ];
    for (const extra of places) expect(problem({ version: 1, ...extra }).message).toMatch(/nested quantifiers/);
  });

  it('a policy that fails to load leaves no model behind (load is all or nothing)', () => {
    expect(() => parsePolicyObject({ version: 1, roles: ['code-reviewer'], accessPolicies: [{ id: 'p', effect: 'allow', condition: { field: 'p', operator: 'matches', value: '(a|a)*$' } }] })).toThrow(PolicyError);
  });
});

describe('the authz property and round trips', () => {
  it('is always present, enumerable only when the model is not empty', () => {
    const empty = parsePolicyText('version: 1\n').policy;
    expect(empty.authz).toEqual({ roles: [], accessPolicies: [], capabilityPolicies: [], securityPolicies: [], dataPolicies: [] });
    expect(Object.keys(empty)).not.toContain('authz');
    const full = parsePolicyText('version: 1\nroles: [code-reviewer]\n').policy;
    expect(Object.keys(full)).toContain('authz');
  });

  it('a loaded policy survives JSON and structuredClone and validates again to the same policy', async () => {
    for (const f of ['full-model.yaml', 'time-windows.yaml', 'capability-seed.json', 'seed-security.yaml']) {
      const { policy } = await loadPolicyFile(join(FIXTURES, 'good', f));
      expect(parsePolicyObject(JSON.parse(JSON.stringify(policy))).policy, f).toEqual(policy);
      expect(parsePolicyObject(structuredClone(policy)).policy, f).toEqual(policy);
    }
  });

  it('a preset reference loads the preset sandbox policy', async () => {
    const { policy, warnings } = await loadPolicyFile(join(FIXTURES, 'good', 'preset-reference.yaml'));
    expect(policy.networkRules.allowedPorts).toEqual([443, 80]);
    expect(policy.allowedSyscalls).toContain('rt_sigaction');
    expect(policy.resourceLimits).toEqual({ maxMemory: 1024 ** 3, maxCpuTime: 30 * 60 * 1000, maxFileSize: 100 * 1024 ** 2, maxProcesses: 10 });
    expect(warnings.some((w) => w.includes('no mounts'))).toBe(true);
  });
});
