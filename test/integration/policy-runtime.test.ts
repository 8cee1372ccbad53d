/**
 * Policies at runtime: swap while agents run, revoke a grant mid-run, file watch, and the
 * authorization model (roles, security policies) deciding real capability calls.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../dist/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox, settle, tempDir } from '../helpers/sandbox.js';

const { sandbox, audit } = recordingSandbox();
const tmp = tempDir('agentos-policy-rt-');
const data = join(tmp.dir, 'data');

const readPolicy = (extra: Record<string, unknown> = {}) => ({
  version: 1,
  capabilities: { allowed: ['read_files'] },
  mounts: [{ guest: '/data', host: data, mode: 'ro' }],
  toolAccess: { allow: ['revoke-me'] },
  ...extra,
});

beforeAll(() => {
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'a.ts'), 'ts file');
  writeFileSync(join(data, 'b.env'), 'env file');
});
afterAll(async () => {
  await sandbox.close();
  tmp.cleanup();
});

describe('policy swap and revocation', () => {
  let agent: Agent;
  beforeAll(async () => {
    sandbox.registerTool('revoke-me', async (_input, { agentId }) => {
      if (agentId === agent.id) await agent.revoke('read_files');
      return 'revoked';
    });
    agent = await sandbox.load(fixturePath('fsprobe'), { policy: readPolicy() });
  });
  afterAll(() => agent.close());

  it('a grant revoked in the middle of a run denies the very next call', async () => {
    const out = (await agent.run('read /data/a.ts\ntool revoke-me {}\nread /data/a.ts')).output.split('\n');
    expect(out).toEqual(['ok ts file', 'ok "revoked"', 'err EACCES']);
    await settle();
    expect(audit.some((e) => e.agentId === agent.id && e.type === 'policy_updated')).toBe(true);
    expect(agent.policy.capabilities.forbidden).toContain('read_files');
  });

  it('a new policy applies to the running agent; an invalid one is refused and the working one stays', async () => {
    await agent.updatePolicy(readPolicy());
    expect((await agent.run('read /data/a.ts')).output).toBe('ok ts file');
    await expect(agent.updatePolicy({ version: 1, capabilities: { allowed: 'read_files' } })).rejects.toMatchObject({ code: 'POLICY_INVALID' });
    expect((await agent.run('read /data/a.ts')).output).toBe('ok ts file');
    await agent.updatePolicy(readPolicy({ fileAccess: { readonly: ['/data/*.env'] } }));
    expect((await agent.run('read /data/a.ts\nread /data/b.env')).output).toBe('err EACCES\nok env file');
  });

  it('watches a policy file: valid edits apply, broken edits are rejected and audited', async () => {
    const file = join(tmp.dir, 'watched.json');
    writeFileSync(file, JSON.stringify(readPolicy()));
    const w = await sandbox.load(fixturePath('fsprobe'), { policy: file, watchPolicy: true });
    try {
      expect((await w.run('read /data/a.ts')).output).toBe('ok ts file');
      writeFileSync(file, JSON.stringify(readPolicy({ capabilities: { allowed: [] } })));
      await waitFor(() => w.policy.capabilities.allowed.length === 0);
      expect((await w.run('read /data/a.ts')).output).toBe('err EACCES');
      writeFileSync(file, '{"version": 1, "capabilities": {"allowed": "oops"}}');
      await waitFor(() => audit.some((e) => e.agentId === w.id && e.type === 'policy_rejected'));
      expect(w.policy.capabilities.allowed).toEqual([]);
    } finally {
      await w.close();
    }
  });
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the authorization model decides real calls', () => {
  it('a role grants reads of .ts files only, on top of the sandbox policy', async () => {
    const a = await sandbox.load(fixturePath('fsprobe'), { policy: readPolicy({ roles: ['code-reviewer'] }) });
    expect((await a.run('read /data/a.ts\nread /data/b.env')).output).toBe('ok ts file\nerr EACCES');
    await settle();
    const denied = audit.find((e) => e.agentId === a.id && e.target === '/data/b.env');
    expect(denied).toMatchObject({ outcome: 'denied', reason: expect.stringMatching(/default deny/) });
    const allowed = audit.find((e) => e.agentId === a.id && e.target === '/data/a.ts' && e.outcome === 'allowed');
    expect(allowed?.matched).toEqual(expect.arrayContaining(['role:code-reviewer#0']));
    await a.close();
  });

  it('an advisory security policy allows but records a would-deny; enforcing denies', async () => {
    const sec = (mode: string) => ({
      id: 'no-env',
      name: 'no env files',
      scope: {},
      rules: [{ id: 'r1', name: 'env files', condition: { when: { eventType: 'file_read' }, where: { extension: '.env' } }, action: { type: 'deny', parameters: { reason: 'env files are secrets' } }, severity: 'high' }],
      enforcement: { mode, exceptions: [] },
    });
    const adv = await sandbox.load(fixturePath('fsprobe'), { policy: readPolicy({ securityPolicies: [sec('advisory')] }) });
    expect((await adv.run('read /data/b.env')).output).toBe('ok env file');
    await settle();
    expect(audit.find((e) => e.agentId === adv.id && e.target === '/data/b.env')).toMatchObject({ outcome: 'allowed', wouldDeny: { policyId: 'no-env', ruleId: 'r1' } });
    const enf = await sandbox.load(fixturePath('fsprobe'), { policy: readPolicy({ securityPolicies: [sec('enforcing')] }) });
    expect((await enf.run('read /data/b.env\nread /data/a.ts')).output).toBe('err EACCES\nok ts file');
    await Promise.all([adv.close(), enf.close()]);
  });
});
