import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxError } from '../errors.js';
import {
  createCa, issueAgentCertificate, loadCa, normalizeSerial, refreshCrl, revokeCertificate, saveCa, validateAgentCertificate, type CaState,
} from './ca.js';
import { b64u, fingerprint, generateKeyPair } from './keys.js';
import type { KeyInfo, KeyProvider } from './types.js';

/** A tiny in-memory KeyProvider: enough of the key store for the CA. */
function memoryKeys(): KeyProvider & { add(name: string): KeyInfo; setStatus(kid: string, status: KeyInfo['status']): void } {
  const keys = new Map<string, { info: KeyInfo; seed: Uint8Array }>();
  const find = (k: string) => keys.get(k) ?? [...keys.values()].find((e) => e.info.name === k && e.info.status === 'active');
  return {
    add(name) {
      const pair = generateKeyPair();
      const fp = fingerprint(pair.publicKey);
      const info: KeyInfo = { kid: fp.slice(0, 16), name, publicKey: b64u(pair.publicKey), fingerprint: fp, created: Date.now(), status: 'active' };
      keys.set(info.kid, { info, seed: pair.privateKey });
      return info;
    },
    setStatus(kid, status) {
      const e = keys.get(kid)!;
      keys.set(kid, { ...e, info: { ...e.info, status } });
    },
    list: () => [...keys.values()].map((e) => e.info).reverse(),
    get: (k) => find(k)?.info,
    privateKey: async (k) => {
      const e = find(k);
      if (!e) throw new Error(`no key ${k}`);
      return e.seed.slice();
    },
    trust: (kid) => {
      const e = keys.get(kid);
      return e && e.info.status === 'active' ? { ok: true, key: e.info } : { ok: false, reason: e ? `key is ${e.info.status}` : 'unknown key' };
    },
  };
}

const fromPem = (pem: string) => Buffer.from(pem.replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64');
const toPem = (der: Uint8Array, label: string) => `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
const HOUR = 3_600_000;

describe('local CA', () => {
  const keys = memoryKeys();
  let ca: CaState;
  const agent = generateKeyPair();
  const agentId = randomUUID();
  let pem: string;
  let serial: string;
  let dir: string;

  beforeAll(async () => {
    keys.add('ca');
    ca = await createCa(keys, { keyName: 'ca' });
    ({ pem, serial } = await issueAgentCertificate(ca, keys, { agentId, agentType: 'worker', publicKey: agent.publicKey }));
    dir = await mkdtemp(join(tmpdir(), 'agentos-ca-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a CA certificate with the CA extensions and an empty signed CRL', async () => {
    const cert = new x509.X509Certificate(ca.certificatePem);
    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    const ku = cert.getExtension(x509.KeyUsagesExtension)!;
    expect([bc.ca, bc.critical]).toEqual([true, true]);
    expect([ku.usages, ku.critical]).toEqual([x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true]);
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(await cert.verify({ signatureOnly: true })).toBe(true);
    expect(ca.crlPem).toMatch(/^-----BEGIN X509 CRL-----/);
    const crl = new x509.X509Crl(ca.crlPem);
    expect(crl.entries).toHaveLength(0);
    expect(await crl.verify({ publicKey: cert })).toBe(true);
    expect(ca.kid).toBe(keys.get('ca')!.kid);
  });

  it('issues an agent certificate that validates', async () => {
    const r = await validateAgentCertificate(pem, ca);
    expect(r).toMatchObject({ ok: true, agentId, agentType: 'worker', serial });
    if (r.ok) expect(Buffer.from(r.publicKey).equals(agent.publicKey)).toBe(true);
    const cert = new x509.X509Certificate(pem);
    expect(cert.subject).toBe(`CN=${agentId}, O=agentos, OU=worker`);
    expect(cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON()).toEqual([{ type: 'url', value: `urn:agentos:agent:${agentId}` }]);
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]);
    expect(cert.getExtension(x509.KeyUsagesExtension)!.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(cert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(new x509.X509Certificate(ca.certificatePem).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    // Serial: 16 random bytes, positive (first byte 0x40–0x7f), different every time.
    expect(serial).toMatch(/^[4-7][0-9a-f]{31}$/);
    const again = await issueAgentCertificate(ca, keys, { agentId, agentType: 'worker', publicKey: agent.publicKey });
    expect(again.serial).not.toBe(serial);
  });

  it('refuses an expired and a not-yet-valid certificate', async () => {
    const short = await issueAgentCertificate(ca, keys, { agentId, agentType: 'worker', publicKey: agent.publicKey, validityMs: 1000 });
    expect(await validateAgentCertificate(short.pem, ca)).toMatchObject({ ok: true });
    expect(await validateAgentCertificate(short.pem, ca, Date.now() + 10_000)).toMatchObject({ ok: false, code: 'EXPIRED' });
    expect(await validateAgentCertificate(pem, ca, Date.now() + 2 * 24 * HOUR)).toMatchObject({ ok: false, code: 'EXPIRED' });
    expect(await validateAgentCertificate(pem, ca, Date.now() - HOUR)).toMatchObject({ ok: false, code: 'NOT_YET_VALID' });
  });

  it('refuses a revoked certificate, and a tampered or foreign CRL', async () => {
    const victim = await issueAgentCertificate(ca, keys, { agentId, agentType: 'worker', publicKey: agent.publicKey });
    const revoked = await revokeCertificate(ca, keys, victim.serial, 'keyCompromise');
    expect(revoked.crlNumber).toBe(ca.crlNumber + 1);
    expect(await validateAgentCertificate(victim.pem, revoked)).toMatchObject({ ok: false, code: 'REVOKED' });
    expect(await validateAgentCertificate(pem, revoked)).toMatchObject({ ok: true });
    expect(new x509.X509Crl(revoked.crlPem).findRevoked(victim.serial)?.reason).toBe(x509.X509CrlReason.keyCompromise);
    expect(await revokeCertificate(revoked, keys, victim.serial.toUpperCase(), 'again')).toBe(revoked);
    // The signed CRL is authoritative: dropping the entry from the JSON list does not un-revoke.
    expect(await validateAgentCertificate(victim.pem, { ...revoked, revoked: [] })).toMatchObject({ ok: false, code: 'REVOKED' });
    // An old, empty CRL with the JSON entry still revokes (either list suffices).
    expect(await validateAgentCertificate(victim.pem, { ...revoked, crlPem: ca.crlPem })).toMatchObject({ ok: false, code: 'REVOKED' });
    // Any byte of the CRL changed: refused, for every certificate.
    const crl = fromPem(revoked.crlPem);
    for (const at of [20, crl.length - 10]) {
      const bad = Buffer.from(crl);
      bad[at]! ^= 0x01;
      const r = await validateAgentCertificate(pem, { ...revoked, crlPem: toPem(bad, 'X509 CRL') });
      expect(r).toMatchObject({ ok: false, code: 'UNTRUSTED' });
      if (!r.ok) expect(r.reason).toMatch(/CRL/);
    }
    const other = memoryKeys();
    other.add('ca');
    const foreign = await createCa(other, { keyName: 'ca' });
    expect(await validateAgentCertificate(pem, { ...ca, crlPem: foreign.crlPem })).toMatchObject({ ok: false, code: 'UNTRUSTED' });
  });

  it('refuses a stale CRL', async () => {
    const short = await createCa(keys, { keyName: 'ca', crlValidityMs: 5000 });
    const c = await issueAgentCertificate(short, keys, { agentId, agentType: 'worker', publicKey: agent.publicKey });
    expect(await validateAgentCertificate(c.pem, short)).toMatchObject({ ok: true });
    expect(await validateAgentCertificate(c.pem, short, Date.now() + 60_000)).toMatchObject({ ok: false, code: 'UNTRUSTED', reason: expect.stringMatching(/stale/) });
    const fresh = await refreshCrl(short, keys);
    expect(fresh.crlNumber).toBe(short.crlNumber + 1);
  });

  it('refuses a certificate signed by another CA, even one with the same name', async () => {
    const other = memoryKeys();
    other.add('ca');
    const subject = new x509.X509Certificate(ca.certificatePem).subject;
    for (const options of [{ keyName: 'ca' }, { keyName: 'ca', subject }]) {
      const ca2 = await createCa(other, options);
      const foreign = await issueAgentCertificate(ca2, other, { agentId, agentType: 'worker', publicKey: agent.publicKey });
      expect(await validateAgentCertificate(foreign.pem, ca2)).toMatchObject({ ok: true });
      const r = await validateAgentCertificate(foreign.pem, ca);
      expect(r).toMatchObject({ ok: false, code: 'UNTRUSTED' });
    }
  });

  it('refuses the certificate with any one byte changed', async () => {
    const der = fromPem(pem);
    for (let i = 0; i < der.length; i++) {
      const bad = Buffer.from(der);
      bad[i]! ^= 0x04;
      const r = await validateAgentCertificate(toPem(bad, 'CERTIFICATE'), ca);
      expect(r.ok, `byte ${i}`).toBe(false);
      if (!r.ok) expect(['UNTRUSTED', 'MALFORMED']).toContain(r.code);
    }
    for (const junk of ['', 'hello', pem.replace('CERTIFICATE', 'PUBLIC KEY'), pem + pem, `${pem.slice(0, 100)}!${pem.slice(101)}`]) {
      expect(await validateAgentCertificate(junk, ca)).toMatchObject({ ok: false, code: 'MALFORMED' });
    }
  });

  it('refuses the CA certificate itself as an agent certificate', async () => {
    expect(await validateAgentCertificate(ca.certificatePem, ca)).toMatchObject({ ok: false, code: 'UNTRUSTED' });
  });

  it('refuses bad requests and a CA key that may not sign', async () => {
    const req = { agentId, agentType: 'worker', publicKey: agent.publicKey };
    await expect(issueAgentCertificate(ca, keys, { ...req, agentId: 'not-a-uuid' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(issueAgentCertificate(ca, keys, { ...req, agentType: 'a, O=evil' })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(issueAgentCertificate(ca, keys, { ...req, publicKey: new Uint8Array(31) })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(issueAgentCertificate(ca, keys, { ...req, validityMs: -1 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(revokeCertificate(ca, keys, 'xyz', 'r')).rejects.toMatchObject({ code: 'USAGE' });
    await expect(createCa(keys, { keyName: 'nope' })).rejects.toMatchObject({ code: 'USAGE' });
    // The key store holds another key under the CA's kid's name: the kid pins the CA key.
    const other = memoryKeys();
    other.add('ca');
    await expect(issueAgentCertificate({ ...ca, kid: other.get('ca')!.kid }, other, req)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
    const k2 = memoryKeys();
    const info = k2.add('ca');
    const ca2 = await createCa(k2, { keyName: 'ca' });
    k2.setStatus(info.kid, 'revoked');
    await expect(issueAgentCertificate(ca2, k2, req)).rejects.toBeInstanceOf(SandboxError);
    await expect(issueAgentCertificate(ca2, k2, req)).rejects.toMatchObject({ code: 'SIGNATURE_INVALID' });
  });

  it('normalizes serial numbers', () => {
    expect(normalizeSerial('00:0A:bC')).toBe('abc');
    expect(normalizeSerial('0x0')).toBe('0');
    expect(() => normalizeSerial('g1')).toThrow(/hex/);
  });

  it('saves and loads the state', async () => {
    const state = await revokeCertificate(ca, keys, serial, 'superseded');
    await saveCa(dir, state);
    expect(await loadCa(dir)).toEqual(state);
    expect(await readFile(join(dir, 'ca.pem'), 'utf8')).toBe(state.certificatePem);
    expect(await readFile(join(dir, 'crl.pem'), 'utf8')).toBe(state.crlPem);
    await expect(loadCa(join(dir, 'missing'))).rejects.toMatchObject({ code: 'USAGE', message: expect.stringMatching(/agentos ca init/) });
    await writeFile(join(dir, 'ca.json'), '{"version":2}');
    await expect(loadCa(dir)).rejects.toMatchObject({ code: 'USAGE' });
  });
});
