/**
 * `agentos policy explain` and the lint half of `agentos policy check`.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/sandbox.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-explain-');
afterAll(() => tmp.cleanup());
const agentos = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

const policyFile = join(tmp.dir, 'policy.yaml');
writeFileSync(
  policyFile,
  `version: 1
agent: { type: code-reviewer }
roles: [code-reviewer]
capabilities: { allowed: [read_files, network_access] }
networkRules: { allowedHosts: [api.github.com, evil.test], protocols: [https] }
securityPolicies: [policy-001, policy-002]
dataPolicies:
  - { dataId: 'customers/*', classification: restricted, accessRules: { readRoles: [code-reviewer], writeRoles: [], deleteRoles: [] } }
`,
);

const explain = (agent: object, request: object) => {
  const r = agentos(['policy', 'explain', '--policy', policyFile, '--agent', JSON.stringify(agent), '--request', JSON.stringify(request), '--json']);
  return { status: r.status, body: JSON.parse(r.stdout) as { decision: { allowed: boolean; reason: string; matched: string[] } }, stderr: r.stderr };
};

describe('agentos policy explain', () => {
  it('explains an allow with the rules that made it', () => {
    const { status, body } = explain({}, { resource: 'network', action: 'connect', attributes: { url: 'https://api.github.com/zen' } });
    expect(status).toBe(0);
    expect(body.decision.allowed).toBe(true);
    expect(body.decision.matched).toEqual(expect.arrayContaining(['capabilities.allowed:network_access', 'role:code-reviewer#1']));
  });

  it('explains a security-policy deny (policy-001) even when the sandbox rules allow the host', () => {
    const { status, body } = explain({}, { resource: 'network', action: 'connect', attributes: { url: 'https://evil.test/' } });
    expect(status).toBe(4);
    expect(body.decision.reason).toMatch(/policy-001/);
  });

  it('decides data access with policy-002: MFA needed for restricted data', () => {
    expect(explain({ mfaVerified: false }, { resource: 'data', action: 'read', attributes: { dataId: 'customers/1' } }).body.decision).toMatchObject({ allowed: false, matched: ['security:policy-002/rule-002-1'] });
    expect(explain({ mfaVerified: true }, { resource: 'data', action: 'read', attributes: { dataId: 'customers/1' } }).body.decision.allowed).toBe(true);
  });

  it('prints a readable explanation and rejects bad input', () => {
    const r = agentos(['policy', 'explain', '--policy', policyFile, '--request', '{"resource":"system","action":"execute"}']);
    expect(r.status).toBe(4);
    expect(r.stdout).toMatch(/^DENY {2}system execute/);
    expect(r.stdout).toMatch(/role code-reviewer: deny execute on system/);
    expect(agentos(['policy', 'explain', '--policy', policyFile, '--request', 'not json']).status).toBe(2);
    expect(agentos(['policy', 'explain', '--policy', policyFile]).status).toBe(2);
    expect(agentos(['policy', 'explain', '--help']).stdout).toMatch(/Usage: agentos policy explain/);
  });
});

describe('agentos policy check lint', () => {
  it('reports allow-all grants and shadowed rules with their paths', () => {
    const f = join(tmp.dir, 'lint.yaml');
    writeFileSync(
      f,
      `version: 1
roles: [everything]
roleDefinitions:
  - name: everything
    permissions:
      - { resource: '*', action: '*', effect: allow }
accessPolicies:
  - { id: broad, target: { action: { field: action, operator: eq, value: read } }, effect: deny, priority: 10 }
  - { id: narrow, target: { action: { field: action, operator: eq, value: read }, resource: { field: resource.type, operator: eq, value: file } }, effect: allow, priority: 1 }
`,
    );
    const r = agentos(['policy', 'check', f]);
    expect(r.stdout + r.stderr).toMatch(/allow-all/);
    expect(r.stdout + r.stderr).toMatch(/accessPolicies\[1\]/);
  });

  it('rejects a ReDoS pattern and a role cycle at load, naming the field', () => {
    const redos = join(tmp.dir, 'redos.yaml');
    writeFileSync(redos, `version: 1\naccessPolicies:\n  - { id: x, target: {}, condition: { field: path, operator: matches, value: '^(a+)+$' }, effect: allow, priority: 1 }\n`);
    const r1 = agentos(['policy', 'check', redos]);
    expect(r1.status).toBe(2);
    expect(r1.stderr).toMatch(/accessPolicies\[0\]\.condition/);
    const cycle = join(tmp.dir, 'cycle.yaml');
    writeFileSync(cycle, `version: 1\nroleDefinitions:\n  - { name: a, parentRoles: [b], permissions: [] }\n  - { name: b, parentRoles: [a], permissions: [] }\n`);
    const r2 = agentos(['policy', 'check', cycle]);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/cycle/);
  });
});
