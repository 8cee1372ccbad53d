/**
 * Identity in the sandbox: signed components checked against trusted issuers, capabilities
 * narrowed to the signed claims, and each agent's own identity authenticated by the gate
 * before every decision.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { queryAuditLog } from '../../dist/index.js';
import type { Sandbox } from '../../dist/index.js';
import { b64u, fingerprint, generateKeyPair, type RawKeyPair } from '../../dist/identity/keys.js';
import { readClaims, signComponent, unsignedBytes } from '../../dist/identity/signature.js';
import { KeyStore } from '../../dist/identity/keystore.js';
import { RevocationStore } from '../../dist/identity/revocations.js';
import { TokenService } from '../../dist/identity/tokens.js';
import type { KeyProvider, KeyInfo } from '../../dist/identity/types.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox, tempDir } from '../helpers/sandbox.js';

/** A key provider over in-memory keys (the key store's trust rules, minus the files). */
function keysOf(...pairs: { name: string; pair: RawKeyPair; revoked?: boolean }[]): Pick<KeyProvider, 'trust'> & { kid(name: string): string } {
  const infos = new Map<string, KeyInfo>();
  for (const p of pairs) {
    const fp = fingerprint(p.pair.publicKey);
    infos.set(fp.slice(0, 16), { kid: fp.slice(0, 16), name: p.name, publicKey: b64u(p.pair.publicKey), fingerprint: fp, created: 0, status: p.revoked ? 'revoked' : 'active' });
  }
  return {
    kid: (name) => [...infos.values()].find((k) => k.name === name)!.kid,
    trust: (kid) => {
      const k = infos.get(kid);
      if (!k) return { ok: false, reason: 'unknown key' };
      if (k.status === 'revoked') return { ok: false, reason: 'revoked' };
      return { ok: true, key: k };
    },
  };
}

const issuer = generateKeyPair();
const revokedIssuer = generateKeyPair();
const stranger = generateKeyPair();
const keys = keysOf({ name: 'issuer', pair: issuer }, { name: 'old', pair: revokedIssuer, revoked: true });
const fsprobe = readFileSync(fixturePath('fsprobe'));

function sign(bytes: Uint8Array, pair = issuer, over: Partial<Parameters<typeof signComponent>[2]> = {}) {
  const kid = fingerprint(pair.publicKey).slice(0, 16);
  return signComponent(bytes, pair.privateKey, { iss: 'acme', kid, sub: 'fsprobe', agentType: 'prober', capabilities: ['read_files', 'execute_tools'], ...over });
}

const open: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
function sandbox(options: Parameters<typeof recordingSandbox>[0] = {}) {
  const s = recordingSandbox({ trust: { keys }, ...options });
  open.push(s.sandbox);
  return s;
}

describe('signed components', () => {
  it('a component signed by a trusted issuer loads; its policy is narrowed to the signed capabilities', async () => {
    const ws = tempDir('id-ws-');
    writeFileSync(join(ws.dir, 'a.txt'), 'a');
    const { sandbox: s, auditDir } = sandbox();
    const policy = { version: 1, capabilities: { allowed: ['read_files', 'read_env'] }, mounts: [{ guest: '/w', host: ws.dir, mode: 'ro' }], env: { allow: ['HOME'] } };
    const agent = await s.load(sign(fsprobe), { policy });
    expect(agent.policy.capabilities.allowed).toEqual(['read_files']); // read_env was not claimed
    expect((await agent.run('read /w/a.txt')).output).toBe('ok a');
    await s.close();
    const recs = [];
    for await (const r of queryAuditLog(auditDir, { agentId: agent.id, eventType: 'authentication_success' })) recs.push(r);
    expect(recs.map((r) => r.action)).toEqual(['verify-signature', 'identity']);
    expect(recs[0]!.details).toMatchObject({ issuer: 'acme', kid: keys.kid('issuer'), capabilities: ['execute_tools', 'read_files'] });
    ws.cleanup();
  });

  it('flipping any byte of a signed component gets it refused with SIGNATURE_INVALID', async () => {
    const { sandbox: s } = sandbox();
    const signed = sign(fsprobe);
    const sigStart = unsignedBytes(signed).length;
    for (const at of [0, 9, 1000, Math.floor(fsprobe.length / 2), fsprobe.length - 1, sigStart + 20, signed.length - 10]) {
      const bad = signed.slice();
      bad[at]! ^= 0x01;
      await expect(s.load(bad), `byte ${at}`).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    }
  });

  it('unsigned, stripped, appended-to, expired, untrusted, revoked-issuer and wrong-type components are refused', async () => {
    const { sandbox: s, auditDir } = sandbox();
    const cases: [Uint8Array, RegExp, Record<string, unknown>?][] = [
      [fsprobe, /no agentos-signature section/],
      [unsignedBytes(sign(fsprobe)), /no agentos-signature section/],
      [Uint8Array.from([...sign(fsprobe), 0, 3, 1, 0x41, 0x42]), /not the last section/],
      [sign(fsprobe, issuer, { now: Date.now() - 10 * 86_400_000, validityMs: 86_400_000 }), /expired/],
      [sign(fsprobe, issuer, { notBefore: Date.now() + 86_400_000 }), /valid from/],
      [sign(fsprobe, stranger), /unknown key/],
      [sign(fsprobe, revokedIssuer), /revoked/],
    ];
    for (const [bytes, message] of cases) await expect(s.load(bytes)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID', message });
    await expect(s.load(sign(fsprobe), { policy: { version: 1, agent: { type: 'other-type' } } })).rejects.toMatchObject({ code: 'SIGNATURE_INVALID', message: /signed for agent type "prober"/ });
    await s.close();
    let failures = 0;
    for await (const r of queryAuditLog(auditDir, { eventType: 'authentication_failure' })) failures += r.action === 'verify-signature' ? 1 : 0;
    expect(failures).toBe(cases.length + 1);
  });

  it('a revoked signature is refused while its key stays trusted', async () => {
    const dir = tempDir('id-rev-');
    const revoked = await RevocationStore.open(join(dir.dir, 'revoked.jsonl'));
    const { sandbox: s } = sandbox({ trust: { keys, revoked } });
    const withdrawn = sign(fsprobe);
    const jti = readClaims(withdrawn)!.jti;
    await revoked.add(jti, Date.now() + 86_400_000, 'withdrawn build');
    await expect(s.load(withdrawn)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID', message: /revoked/ });
    const fresh = await s.load(sign(fsprobe));
    expect(fresh.identity.status).toBe('active');
    await revoked.close();
  });

  it('requireSignature: false lets unsigned components in but still refuses bad signatures', async () => {
    const { sandbox: s } = sandbox({ trust: { keys, requireSignature: false } });
    await expect(s.load(fsprobe)).resolves.toBeDefined();
    await expect(s.load(sign(fsprobe, stranger))).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('issuers limits the trusted keys to those listed', async () => {
    const { sandbox: s } = sandbox({ trust: { keys, issuers: ['0000000000000000'] } });
    await expect(s.load(sign(fsprobe))).rejects.toMatchObject({ code: 'SIGNATURE_INVALID', message: /not among the trusted issuers/ });
  });
});

describe('agent identities', () => {
  it('every agent has its own identity: instance id, type, version, key, fingerprint, validity, status', async () => {
    const { sandbox: s } = sandbox({ trust: undefined });
    const a = await s.load(fixturePath('echo'), { policy: { version: 1, agent: { type: 'echoer', version: '2.1' } } });
    const b = await s.load(fixturePath('echo'));
    expect(a.identity).toMatchObject({ instanceId: a.id, agentType: 'echoer', version: '2.1', status: 'active' });
    expect(a.identity.fingerprint).toBe(fingerprint(Buffer.from(a.identity.publicKey, 'base64url')));
    expect(a.identity.expires - a.identity.created).toBe(86_400_000);
    expect(b.identity.fingerprint).not.toBe(a.identity.fingerprint);
  });

  it('a revoked identity is refused at its very next call, even mid-run, and recorded as authentication_failure', async () => {
    const { sandbox: s, auditDir } = sandbox({ trust: undefined });
    const ref: { agent?: { revokeIdentity(o?: { reason?: string }): void } } = {};
    s.registerTool('betray', () => {
      ref.agent!.revokeIdentity({ reason: 'test' });
      return 'done';
    });
    const agent = await s.load(fixturePath('fsprobe'), { policy: { version: 1, toolAccess: { allow: ['betray', 'other'] } } });
    ref.agent = agent;
    const out = (await agent.run('tool betray {}\ntool other {}\ntool betray {}')).output.split('\n');
    expect(out[0]).toBe('ok "done"');
    expect(out[1]).toMatch(/^err denied AUTHENTICATION_FAILED: agent identity .* was revoked/);
    expect(out[2]).toMatch(/^err denied AUTHENTICATION_FAILED/);
    expect(agent.identity.status).toBe('revoked');
    await s.close();
    const recs = [];
    for await (const r of queryAuditLog(auditDir, { agentId: agent.id, eventType: ['authentication_failure', 'security_alert'] })) recs.push(r);
    expect(recs.map((r) => r.eventType)).toEqual(['security_alert', 'authentication_failure', 'authentication_failure']);
    expect(recs[1]).toMatchObject({ outcome: 'failure', source: 'identity' });
  });

  it('an expired identity is refused', async () => {
    const { sandbox: s } = sandbox({ trust: undefined, identityTtl: '3s' });
    s.registerTool('t', () => 1);
    const agent = await s.load(fixturePath('fsprobe'), { policy: { version: 1, toolAccess: { allow: ['t'] } } });
    expect((await agent.run('tool t {}')).output).toBe('ok 1');
    await new Promise((r) => setTimeout(r, Math.max(0, agent.identity.expires - Date.now()) + 100));
    expect((await agent.run('tool t {}')).output).toMatch(/^err denied AUTHENTICATION_FAILED: agent identity .* expired/);
    expect(agent.identity.status).toBe('expired');
  });
});

describe('session tokens', () => {
  /** A real key store, revocation list and token service in a temp dir. */
  async function tokenService(dir: string) {
    const keys = await KeyStore.open(join(dir, 'keys'), { passphrase: 'correct horse' });
    await keys.generate('tokens');
    const revocations = await RevocationStore.open(join(dir, 'revoked.jsonl'));
    return { keys, revocations, service: new TokenService({ keys, issuerKey: 'tokens', revocations }) };
  }

  it("each agent gets a session token bound to its own key, recorded at load; another agent's token does not validate for it", async () => {
    const dir = tempDir('id-tok-');
    const { service } = await tokenService(dir.dir);
    const { sandbox: s, auditDir } = sandbox({ trust: undefined, tokens: { service } });
    const a = await s.load(fixturePath('echo'), { policy: { version: 1, agent: { type: 'echoer' } } });
    const b = await s.load(fixturePath('echo'));
    const keyOf = (x: typeof a) => new Uint8Array(Buffer.from(x.identity.publicKey, 'base64url'));
    const va = await service.validate(a.token!, { kind: 'session', agentPublicKey: keyOf(a), agentId: a.id });
    expect(va).toMatchObject({ ok: true, claims: { sub: a.id, agent_type: 'echoer' } });
    expect(await service.validate(b.token!, { kind: 'session', agentPublicKey: keyOf(a), agentId: a.id })).toMatchObject({ ok: false });
    expect(await service.validate(a.token!, { kind: 'session', agentPublicKey: keyOf(b) })).toMatchObject({ ok: false, code: 'KEY_MISMATCH' });
    expect((await a.run('hi')).output).toBe('hi');
    await s.close();
    const recs = [];
    for await (const r of queryAuditLog(auditDir, { agentId: a.id, eventType: ['authentication_success'] })) recs.push(r);
    expect(recs).toHaveLength(1);
    const details = recs[0]!.details as { token: { jti: string; exp: number } };
    expect(details.token.jti).toBe(va.ok ? va.claims.jti : '');
    expect(JSON.stringify(recs[0])).not.toContain(a.token!); // the token itself is never logged
  });

  it('revoking the token — through another process sharing the revocation list — refuses the running agent, recorded as authentication_failure', async () => {
    const dir = tempDir('id-tok-');
    const { service } = await tokenService(dir.dir);
    const { sandbox: s, auditDir } = sandbox({ trust: undefined, tokens: { service, checkInterval: '20ms' } });
    s.registerTool('t', () => 1);
    const agent = await s.load(fixturePath('fsprobe'), { policy: { version: 1, toolAccess: { allow: ['t'] } } });
    expect((await agent.run('tool t {}')).output).toBe('ok 1');
    // A second list on the same file (as another process would hold): the revocation lands in the file.
    const other = await RevocationStore.open(join(dir.dir, 'revoked.jsonl'));
    const jti = (JSON.parse(Buffer.from(agent.token!.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
    await other.add(jti, Date.now() + 3_600_000, 'stolen');
    await other.close();
    let out = '';
    for (let i = 0; i < 100 && !out.includes('AUTHENTICATION_FAILED'); i++) {
      out = (await agent.run('tool t {}')).output;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(out).toMatch(/^err denied AUTHENTICATION_FAILED: the session token of agent identity .* no longer validates/);
    await s.close();
    const recs = [];
    for await (const r of queryAuditLog(auditDir, { agentId: agent.id, eventType: ['authentication_failure'] })) recs.push(r);
    expect(recs[0]).toMatchObject({ action: 'validate-token', details: { code: 'REVOKED' } });
    expect(recs.length).toBeGreaterThanOrEqual(2);
  });

  it("revoking the agent's identity revokes its token for every verifier", async () => {
    const dir = tempDir('id-tok-');
    const { service, revocations } = await tokenService(dir.dir);
    const { sandbox: s } = sandbox({ trust: undefined, tokens: { service } });
    const agent = await s.load(fixturePath('echo'));
    const token = agent.token!;
    agent.revokeIdentity({ reason: 'key leaked' });
    await vi.waitFor(() => expect(revocations.size.jti).toBe(1));
    expect(await service.validate(token, { kind: 'session' })).toMatchObject({ ok: false, code: 'REVOKED' });
  });

  it('renews the token in its family before it expires, while the identity holds', async () => {
    const dir = tempDir('id-tok-');
    const { service } = await tokenService(dir.dir);
    const { sandbox: s } = sandbox({ trust: undefined, tokens: { service, ttl: '4s', checkInterval: '50ms' } });
    const agent = await s.load(fixturePath('echo'));
    const first = agent.token!;
    const claims = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { jti: string; fam: string; exp: number };
    await vi.waitFor(() => expect(agent.token).not.toBe(first), { timeout: 6000, interval: 50 });
    expect(claims(agent.token!).fam).toBe(claims(first).fam);
    expect(claims(agent.token!).exp).toBeGreaterThan(claims(first).exp);
    expect((await agent.run('still here')).output).toBe('still here');
  });
});
