/**
 * A local certificate authority for agents: a self-signed Ed25519 CA certificate whose key lives
 * in the key store ({@link KeyProvider}), agent certificates (`CN=<agentId>, O=agentos,
 * OU=<agentType>`, SAN `urn:agentos:agent:<agentId>`), an X.509 CRL, and validation of an agent
 * certificate against the CA (chain, validity, revocation, identity shape).
 *
 * `@peculiar/x509` builds and parses the certificates and the CRL; the checks that decide trust
 * are done here: the exact signed bytes are cut out of the DER, both algorithm identifiers must
 * be Ed25519, issuer names are compared byte for byte and signatures are verified with
 * `node:crypto` under the CA key. The parsed CA certificate and CRL (with their signature
 * results) are cached by content, so a validation costs one certificate parse and one Ed25519
 * verification.
 *
 * @example
 * ```ts
 * let ca = await createCa(keys, { keyName: 'ca' });
 * const { pem, serial } = await issueAgentCertificate(ca, keys, { agentId, agentType: 'worker', publicKey });
 * (await validateAgentCertificate(pem, ca)).ok;            // true
 * ca = await revokeCertificate(ca, keys, serial, 'keyCompromise');
 * (await validateAgentCertificate(pem, ca)).ok;            // false, code 'REVOKED'
 * await saveCa('.agentos/ca', ca);
 * ```
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { writeFileAtomic } from '../util/atomic-file.js';
import { randomBytes, verify as edVerify, webcrypto, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SandboxError, UsageError } from '../errors.js';
import { fromB64u, publicKeyObject, publicKeyOf } from './keys.js';
import type { KeyProvider } from './types.js';

x509.cryptoProvider.set(webcrypto);
type CryptoKey = webcrypto.CryptoKey;

/** One revoked certificate. */
export interface RevokedEntry {
  /** Serial number, lower-case hex without leading zeros. */
  readonly serial: string;
  /** Epoch ms. */
  readonly revokedAt: number;
  /** Free text; an RFC 5280 reason name (`keyCompromise`, `superseded`, …) also becomes the CRL reason code. */
  readonly reason: string;
}

/** Everything about a CA except its private key. Persist it with {@link saveCa}. */
export interface CaState {
  readonly version: 1;
  /** Name and kid of the CA key in the key store (the kid pins the exact key across rotations). */
  readonly keyName: string;
  readonly kid: string;
  readonly certificatePem: string;
  /** The signed CRL: authoritative for revocation (entries in `revoked` are also honoured). */
  readonly crlPem: string;
  /** Monotonic CRL number (the CRL Number extension). */
  readonly crlNumber: number;
  /** CRL lifetime; absent: a CRL is valid until the CA certificate expires. */
  readonly crlValidityMs?: number;
  readonly revoked: readonly RevokedEntry[];
}

/** Why a certificate is refused. */
export type CertificateFailure = 'EXPIRED' | 'NOT_YET_VALID' | 'REVOKED' | 'UNTRUSTED' | 'MALFORMED';

/** Result of {@link validateAgentCertificate}. */
export type CertificateValidation =
  | { readonly ok: true; readonly agentId: string; readonly agentType: string; readonly publicKey: Uint8Array; readonly serial: string; readonly notAfter: number }
  | { readonly ok: false; readonly code: CertificateFailure; readonly reason: string };

const DAY = 86_400_000;
const DEFAULT_CA_VALIDITY = 5 * 365 * DAY;
const DEFAULT_AGENT_VALIDITY = DAY;
/** notBefore is backdated this much to tolerate clock skew between hosts. */
const BACKDATE_MS = 60_000;
const MAX_PEM = 16 * 1024;
const LEAF_CACHE = 1024;
const ED25519 = { name: 'Ed25519' };
const ED25519_ALG = Buffer.from('300506032b6570', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const AGENT_TYPE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const URN = 'urn:agentos:agent:';
const KNOWN_EXTENSIONS = new Set(['2.5.29.19', '2.5.29.15', '2.5.29.37', '2.5.29.17', '2.5.29.14', '2.5.29.35']);

// ---------------------------------------------------------------------------------------------
// DER and PEM: just enough to cut out the signed bytes and names of a certificate or CRL.

interface Tlv { readonly tag: number; readonly start: number; readonly hdr: number; readonly end: number }

function tlv(b: Uint8Array, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new Error('truncated DER');
  const tag = b[at]!;
  let len = b[at + 1]!;
  let hdr = 2;
  if ((tag & 0x1f) === 0x1f) throw new Error('unexpected multi-byte DER tag');
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || at + 2 + n > limit || b[at + 2] === 0) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[at + 2 + i]!;
    if (len < 0x80) throw new Error('non-minimal DER length');
    hdr += n;
  }
  const end = at + hdr + len;
  if (end > limit) throw new Error('truncated DER');
  return { tag, start: at, hdr, end };
}

function children(b: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start + t.hdr; p < t.end; ) {
    const c = tlv(b, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

interface SignedParts { readonly der: Uint8Array; readonly tbs: Uint8Array; readonly tbsAlg: Uint8Array; readonly issuer: Uint8Array; readonly subject?: Uint8Array; readonly alg: Uint8Array; readonly signature: Uint8Array }

/** The to-be-signed bytes, both algorithm identifiers, the issuer name and the signature of a certificate or CRL. */
function splitSigned(der: Uint8Array, kind: 'cert' | 'crl'): SignedParts {
  const top = tlv(der, 0, der.length);
  const parts = top.tag === 0x30 && top.end === der.length ? children(der, top) : [];
  const [tbs, alg, sig] = parts;
  if (parts.length !== 3 || tbs?.tag !== 0x30 || alg?.tag !== 0x30 || sig?.tag !== 0x03) throw new Error(`not an X.509 ${kind === 'cert' ? 'certificate' : 'CRL'}`);
  const f = children(der, tbs);
  const i = kind === 'cert' ? (f[0]?.tag === 0xa0 ? 2 : 1) : f[0]?.tag === 0x02 ? 1 : 0;
  const [tbsAlg, issuer, , subject] = f.slice(i);
  if (tbsAlg?.tag !== 0x30 || issuer?.tag !== 0x30 || (kind === 'cert' && subject?.tag !== 0x30)) throw new Error('malformed to-be-signed part');
  const bits = der.subarray(sig.start + sig.hdr, sig.end);
  if (bits[0] !== 0) throw new Error('malformed signature bit string');
  const cut = (t: Tlv) => der.subarray(t.start, t.end);
  return { der, tbs: cut(tbs), tbsAlg: cut(tbsAlg), issuer: cut(issuer), ...(kind === 'cert' ? { subject: cut(subject!) } : {}), alg: cut(alg), signature: bits.subarray(1) };
}

function pemDecode(text: unknown, labels: readonly string[]): Uint8Array {
  if (typeof text !== 'string' || text.length > MAX_PEM) throw new Error('not a PEM text of at most 16 KiB');
  const m = /^\s*-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END \1-----\s*$/.exec(text);
  if (!m || !labels.includes(m[1]!)) throw new Error(`not a PEM ${labels[0]}`);
  const body = m[2]!.replace(/[\r\n]/g, '');
  const der = Buffer.from(body, 'base64');
  if (der.toString('base64') !== body) throw new Error('bad base64 in PEM');
  return new Uint8Array(der);
}

function pemEncode(der: ArrayBuffer | Uint8Array, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.replace(/.{1,64}/g, '$&\n')}-----END ${label}-----\n`;
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);

/** A serial number as lower-case hex without leading zeros; throws on anything but 1–40 hex digits. */
export function normalizeSerial(serial: string): string {
  const s = typeof serial === 'string' ? serial.trim().toLowerCase().replace(/^0x/, '').replace(/:/g, '') : '';
  if (!/^[0-9a-f]{1,40}$/.test(s)) throw new UsageError(`serial ${JSON.stringify(serial)}: expected 1–40 hex digits`);
  return s.replace(/^0+(?=.)/, '');
}

function rawEd25519(spki: ArrayBuffer): Uint8Array {
  const der = new Uint8Array(spki);
  if (der.length !== 44 || !same(der.subarray(0, 12), SPKI_PREFIX)) throw new Error('the public key is not Ed25519');
  return der.slice(12);
}

// ---------------------------------------------------------------------------------------------
// The trust anchor: the CA certificate and its CRL, parsed and checked once per content.

interface Anchor {
  readonly cert: x509.X509Certificate;
  readonly key: KeyObject;
  readonly publicKey: Uint8Array;
  readonly subject: Uint8Array;
  readonly ski: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** Set when the CA certificate cannot anchor anything. */
  readonly problem?: string;
  readonly crl: { readonly nextUpdate: number | undefined; readonly revoked: ReadonlySet<string> } | { readonly problem: string };
  /** Agent certificates already found CA-signed and well-formed, by PEM text. */
  readonly leaves: Map<string, LeafFacts>;
}

const anchors = new Map<string, Anchor>();

function caAnchor(ca: CaState): Anchor {
  const cacheKey = `${ca.certificatePem}\u0000${ca.crlPem}`;
  const hit = anchors.get(cacheKey);
  if (hit) return hit;
  const der = pemDecode(ca.certificatePem, ['CERTIFICATE']);
  const parts = splitSigned(der, 'cert');
  const cert = new x509.X509Certificate(der);
  const publicKey = rawEd25519(cert.publicKey.rawData);
  const key = publicKeyObject(publicKey);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase() ?? '';
  const subject = parts.subject!;
  let problem: string | undefined;
  if (!same(parts.alg, ED25519_ALG) || !same(parts.tbsAlg, ED25519_ALG)) problem = 'the CA certificate is not signed with Ed25519';
  else if (!same(parts.issuer, subject) || !edVerify(null, parts.tbs, key, parts.signature)) problem = 'the CA certificate is not validly self-signed';
  else if (!bc?.ca || !bc.critical) problem = 'the CA certificate lacks a critical BasicConstraints CA:true';
  else if (!ku || !(ku.usages & x509.KeyUsageFlags.keyCertSign)) problem = 'the CA certificate may not sign certificates (KeyUsage keyCertSign)';
  else if (!ski) problem = 'the CA certificate has no SubjectKeyIdentifier';
  let crl: Anchor['crl'];
  try {
    const crlDer = pemDecode(ca.crlPem, ['X509 CRL', 'CRL']);
    const cp = splitSigned(crlDer, 'crl');
    if (!same(cp.alg, ED25519_ALG) || !same(cp.tbsAlg, ED25519_ALG)) throw new Error('the CRL is not signed with Ed25519');
    if (!same(cp.issuer, subject)) throw new Error('the CRL is issued by another CA');
    if (!ku || !(ku.usages & x509.KeyUsageFlags.cRLSign)) throw new Error('the CA may not sign CRLs');
    if (!edVerify(null, cp.tbs, key, cp.signature)) throw new Error('the CRL signature does not verify under the CA key');
    const parsed = new x509.X509Crl(crlDer);
    crl = { nextUpdate: parsed.nextUpdate?.getTime(), revoked: new Set(parsed.entries.map((e) => normalizeSerial(e.serialNumber))) };
  } catch (e) {
    crl = { problem: `CRL refused: ${(e as Error).message}` };
  }
  const anchor: Anchor = { cert, key, publicKey, subject, ski, notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime(), crl, leaves: new Map(), ...(problem ? { problem } : {}) };
  if (anchors.size >= 16) anchors.delete(anchors.keys().next().value!);
  anchors.set(cacheKey, anchor);
  return anchor;
}

function anchorOrThrow(ca: CaState): Anchor {
  let a: Anchor;
  try {
    a = caAnchor(ca);
  } catch (e) {
    throw new SandboxError('SIGNATURE_INVALID', `the CA certificate is unusable: ${(e as Error).message}`, { kid: ca.kid });
  }
  if (a.problem) throw new SandboxError('SIGNATURE_INVALID', a.problem, { kid: ca.kid });
  return a;
}

// ---------------------------------------------------------------------------------------------
// Signing with the CA key.

interface Signer { readonly privateKey: CryptoKey; readonly publicKey: CryptoKey }

async function caSigner(keys: KeyProvider, kid: string, expected: Uint8Array): Promise<Signer> {
  const trust = keys.trust(kid);
  if (!trust.ok) throw new SandboxError('SIGNATURE_INVALID', `the CA key ${kid} may not sign: ${trust.reason}`, { kid });
  const seed = await keys.privateKey(kid);
  try {
    if (!same(publicKeyOf(seed), expected)) throw new SandboxError('SIGNATURE_INVALID', `key ${kid} in the key store is not the CA certificate's key`, { kid });
    const subtle = webcrypto.subtle;
    const privateKey = await subtle.importKey('pkcs8', Buffer.concat([PKCS8_PREFIX, seed]), ED25519, false, ['sign']);
    const publicKey = await subtle.importKey('raw', expected, ED25519, true, ['verify']);
    return { privateKey, publicKey };
  } finally {
    seed.fill(0);
  }
}

function positiveMs(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new UsageError(`${field}: expected a positive whole number of milliseconds`);
  return v;
}

/** A random positive 128-bit serial (first byte 0x40–0x7f: fixed length, never negative). */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x3f) | 0x40;
  return b.toString('hex');
}

const CRL_REASONS = new Map(Object.entries(x509.X509CrlReason).filter(([k]) => isNaN(Number(k))).map(([k, v]) => [k.toLowerCase(), v as x509.X509CrlReason]));

function derInteger(n: number): Uint8Array {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) > 0x7f) hex = `00${hex}`;
  return Uint8Array.from([0x02, hex.length / 2, ...Buffer.from(hex, 'hex')]);
}

async function signCrl(state: CaState, anchor: Anchor, signer: Signer): Promise<CaState> {
  const now = Date.now();
  const crlNumber = state.crlNumber + 1;
  const nextUpdate = state.crlValidityMs === undefined ? anchor.notAfter : Math.min(anchor.notAfter, now + state.crlValidityMs);
  const crl = await x509.X509CrlGenerator.create({
    issuer: anchor.cert.subjectName,
    signingAlgorithm: ED25519,
    signingKey: signer.privateKey,
    thisUpdate: new Date(now),
    nextUpdate: new Date(nextUpdate),
    entries: state.revoked.map((r) => {
      const code = CRL_REASONS.get(r.reason.replace(/[-_ ]/g, '').toLowerCase());
      return { serialNumber: r.serial.length % 2 ? `0${r.serial}` : r.serial, revocationDate: new Date(r.revokedAt), ...(code !== undefined ? { reason: code } : {}) };
    }),
    extensions: [new x509.AuthorityKeyIdentifierExtension(anchor.ski), new x509.Extension('2.5.29.20', false, derInteger(crlNumber))],
  });
  return { ...state, crlNumber, crlPem: pemEncode(crl.rawData, 'X509 CRL') };
}

/**
 * Create a self-signed CA certificate (BasicConstraints CA:true critical, KeyUsage
 * keyCertSign|cRLSign critical, SubjectKeyIdentifier) for the key named `keyName`, and an
 * empty CRL. Throws `UsageError` for an unknown key or bad options, `SIGNATURE_INVALID` when the
 * key may not sign.
 *
 * @example
 * ```ts
 * const ca = await createCa(keys, { keyName: 'ca', validityMs: 365 * 86_400_000 });
 * ```
 */
export async function createCa(keys: KeyProvider, options: { keyName: string; subject?: string; validityMs?: number; crlValidityMs?: number }): Promise<CaState> {
  const info = keys.get(options.keyName);
  if (!info) throw new UsageError(`no key named ${JSON.stringify(options.keyName)} in the key store`);
  const validityMs = positiveMs(options.validityMs ?? DEFAULT_CA_VALIDITY, 'validityMs');
  const publicKey = fromB64u(info.publicKey);
  const signer = await caSigner(keys, info.kid, publicKey);
  let name: x509.Name;
  try {
    name = new x509.Name(options.subject ?? `CN=agentos CA ${info.kid}, O=agentos`);
  } catch (e) {
    throw new UsageError(`subject ${JSON.stringify(options.subject)}: ${(e as Error).message}`);
  }
  // The parser turns text without any TYPE=value (`garbage`) into an empty name; a CA needs a non-empty one (RFC 5280 4.1.2.6).
  const rdns = name.toJSON();
  if (rdns.length === 0 || rdns.some((rdn) => Object.values(rdn).some((values) => values.length === 0 || values.some((value) => value === '')))) {
    throw new UsageError(`subject ${JSON.stringify(options.subject)}: expected a non-empty name of TYPE=value parts such as "CN=build CA, O=example"`);
  }
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys: signer,
    signingAlgorithm: ED25519,
    serialNumber: randomSerial(),
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + validityMs),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(signer.publicKey),
    ],
  });
  const state: CaState = {
    version: 1, keyName: info.name, kid: info.kid, certificatePem: pemEncode(cert.rawData, 'CERTIFICATE'), crlPem: '', crlNumber: 0,
    ...(options.crlValidityMs !== undefined ? { crlValidityMs: positiveMs(options.crlValidityMs, 'crlValidityMs') } : {}),
    revoked: [],
  };
  const anchor = caAnchor({ ...state, crlPem: '-' });
  if (anchor.problem) throw new SandboxError('INTERNAL', `created CA certificate does not check: ${anchor.problem}`);
  return signCrl(state, anchor, signer);
}

/**
 * Issue an agent certificate: subject `CN=<agentId>, O=agentos, OU=<agentType>`, SAN URI
 * `urn:agentos:agent:<agentId>`, KeyUsage digitalSignature, ExtendedKeyUsage clientAuth and
 * serverAuth, a random 128-bit serial. The validity (default 24 h) ends no later than the CA's.
 *
 * @example
 * ```ts
 * const { pem, serial } = await issueAgentCertificate(ca, keys, { agentId: randomUUID(), agentType: 'worker', publicKey: pair.publicKey });
 * ```
 */
export async function issueAgentCertificate(
  ca: CaState,
  keys: KeyProvider,
  req: { agentId: string; agentType: string; publicKey: Uint8Array; validityMs?: number },
): Promise<{ pem: string; serial: string }> {
  const agentId = typeof req.agentId === 'string' ? req.agentId.toLowerCase() : '';
  if (!UUID.test(agentId)) throw new UsageError(`agentId ${JSON.stringify(req.agentId)}: expected a UUID`);
  if (typeof req.agentType !== 'string' || !AGENT_TYPE.test(req.agentType)) throw new UsageError(`agentType ${JSON.stringify(req.agentType)}: expected 1–64 of A-Z a-z 0-9 . _ - (starting with a letter or digit)`);
  if (!(req.publicKey instanceof Uint8Array) || req.publicKey.length !== 32) throw new UsageError('publicKey: expected a 32-byte Ed25519 public key');
  const validityMs = positiveMs(req.validityMs ?? DEFAULT_AGENT_VALIDITY, 'validityMs');
  const anchor = anchorOrThrow(ca);
  const now = Date.now();
  const notAfter = Math.min(now + validityMs, anchor.notAfter);
  if (notAfter <= now) throw new SandboxError('SIGNATURE_INVALID', 'the CA certificate has expired; create a new CA', { notAfter: anchor.notAfter });
  const signer = await caSigner(keys, ca.kid, anchor.publicKey);
  const spki = Buffer.concat([SPKI_PREFIX, req.publicKey]);
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: [agentId] }, { O: ['agentos'] }, { OU: [req.agentType] }],
    issuer: anchor.cert.subjectName,
    publicKey: spki,
    signingKey: signer.privateKey,
    signingAlgorithm: ED25519,
    serialNumber: serial,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `${URN}${agentId}` }]),
      new x509.AuthorityKeyIdentifierExtension(anchor.ski),
      await x509.SubjectKeyIdentifierExtension.create(spki),
    ],
  });
  return { pem: pemEncode(cert.rawData, 'CERTIFICATE'), serial: normalizeSerial(serial) };
}

/**
 * Revoke a certificate by serial and re-sign the CRL. Revoking a serial twice returns `ca` unchanged.
 *
 * @example
 * ```ts
 * ca = await revokeCertificate(ca, keys, serial, 'keyCompromise');
 * await saveCa(dir, ca);
 * ```
 */
export async function revokeCertificate(ca: CaState, keys: KeyProvider, serial: string, reason: string): Promise<CaState> {
  const s = normalizeSerial(serial);
  if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 256) throw new UsageError('reason: expected 1–256 characters');
  if (ca.revoked.some((r) => r.serial === s)) return ca;
  const anchor = anchorOrThrow(ca);
  const signer = await caSigner(keys, ca.kid, anchor.publicKey);
  return signCrl({ ...ca, revoked: [...ca.revoked, { serial: s, revokedAt: Date.now(), reason: reason.trim() }] }, anchor, signer);
}

/**
 * Re-sign the CRL with the same entries (a fresh thisUpdate/nextUpdate); needed before a CRL
 * with `crlValidityMs` goes stale.
 *
 * @example
 * ```ts
 * ca = await refreshCrl(ca, keys);
 * ```
 */
export async function refreshCrl(ca: CaState, keys: KeyProvider): Promise<CaState> {
  const anchor = anchorOrThrow(ca);
  return signCrl(ca, anchor, await caSigner(keys, ca.kid, anchor.publicKey));
}

const fail = (code: CertificateFailure, reason: string): CertificateValidation => ({ ok: false, code, reason });
const iso = (ms: number) => new Date(ms).toISOString();

/** What a CA-signed, well-formed agent certificate says; cached per anchor by PEM text. */
interface LeafFacts { readonly agentId: string; readonly agentType: string; readonly publicKey: Uint8Array; readonly serial: string; readonly notBefore: number; readonly notAfter: number }

/** The time-independent checks: signature by the CA over the exact bytes, extensions, identity shape. */
function leafFacts(pem: string, anchor: Anchor): LeafFacts | CertificateValidation {
  const hit = anchor.leaves.get(pem);
  if (hit) return hit;
  let parts: SignedParts;
  try {
    parts = splitSigned(pemDecode(pem, ['CERTIFICATE']), 'cert');
  } catch (e) {
    return fail('MALFORMED', `not a certificate: ${(e as Error).message}`);
  }
  if (!same(parts.alg, ED25519_ALG) || !same(parts.tbsAlg, ED25519_ALG)) return fail('UNTRUSTED', 'the certificate is not signed with Ed25519');
  if (!same(parts.issuer, anchor.subject)) return fail('UNTRUSTED', 'the certificate is issued by another CA');
  if (parts.signature.length !== 64 || !edVerify(null, parts.tbs, anchor.key, parts.signature)) return fail('UNTRUSTED', 'the certificate signature does not verify under the CA key');
  // From here on every byte was signed by this CA; only then pay for the full parse.
  try {
    const cert = new x509.X509Certificate(parts.der);
    if (cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId?.toLowerCase() !== anchor.ski) return fail('UNTRUSTED', 'the authority key identifier is not the CA key');
    const critical = cert.extensions.find((e) => e.critical && !KNOWN_EXTENSIONS.has(e.type));
    if (critical) return fail('UNTRUSTED', `unknown critical extension ${critical.type}`);
    if (cert.getExtension(x509.BasicConstraintsExtension)?.ca) return fail('UNTRUSTED', 'a CA certificate is not an agent certificate');
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    if (!ku || !(ku.usages & x509.KeyUsageFlags.digitalSignature)) return fail('UNTRUSTED', 'the certificate is not for digital signatures');
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages.map(String) ?? [];
    if (!eku.includes(x509.ExtendedKeyUsage.clientAuth) && !eku.includes(x509.ExtendedKeyUsage.serverAuth)) return fail('UNTRUSTED', 'the certificate is not for client or server authentication');
    const [cn, o, ou] = ['CN', 'O', 'OU'].map((f) => cert.subjectName.getField(f));
    const uris = (cert.getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? []).map((n) => `${n.type}:${n.value}`);
    const agentId = cn?.[0] ?? '';
    const agentType = ou?.[0] ?? '';
    if (cn?.length !== 1 || !UUID.test(agentId)) return fail('MALFORMED', 'the subject CN is not one agent id (UUID)');
    if (o?.length !== 1 || o[0] !== 'agentos' || ou?.length !== 1 || !AGENT_TYPE.test(agentType)) return fail('MALFORMED', 'the subject is not O=agentos with one OU agent type');
    if (uris.length !== 1 || uris[0] !== `url:${URN}${agentId}`) return fail('MALFORMED', `the subject alternative name is not exactly ${URN}${agentId}`);
    const facts: LeafFacts = { agentId, agentType, publicKey: rawEd25519(cert.publicKey.rawData), serial: normalizeSerial(cert.serialNumber), notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime() };
    if (anchor.leaves.size >= LEAF_CACHE) anchor.leaves.delete(anchor.leaves.keys().next().value!);
    anchor.leaves.set(pem, facts);
    return facts;
  } catch (e) {
    return fail('MALFORMED', `unreadable certificate field: ${(e as Error).message}`);
  }
}

/**
 * Validate an agent certificate against the CA at time `at`: Ed25519 signature by the CA key
 * over the exact signed bytes, issuer name and key identifier, extensions (not a CA, digital
 * signature, client/server authentication, no unknown critical one), the identity (CN, O, OU
 * and SAN agree), the certificate's and the CA certificate's validity, the CRL (its signature
 * and freshness, then the serial; `ca.revoked` entries count too). Never throws.
 *
 * @example
 * ```ts
 * const r = await validateAgentCertificate(pem, ca);
 * if (!r.ok) throw new SandboxError('SIGNATURE_INVALID', r.reason, { code: r.code });
 * r.agentId; r.agentType; r.publicKey;
 * ```
 */
export async function validateAgentCertificate(pem: string, ca: CaState, at: number = Date.now()): Promise<CertificateValidation> {
  let anchor: Anchor;
  try {
    anchor = caAnchor(ca);
  } catch (e) {
    return fail('UNTRUSTED', `the CA certificate is unusable: ${(e as Error).message}`);
  }
  if (anchor.problem) return fail('UNTRUSTED', anchor.problem);
  const f = leafFacts(pem, anchor);
  if ('ok' in f) return f;
  if (!Number.isFinite(at)) return fail('MALFORMED', 'the validation time is not a number');
  if (at < f.notBefore) return fail('NOT_YET_VALID', `not valid before ${iso(f.notBefore)}`);
  if (at > f.notAfter) return fail('EXPIRED', `expired at ${iso(f.notAfter)}`);
  if (at < anchor.notBefore || at > anchor.notAfter) return fail('UNTRUSTED', `the CA certificate is valid only from ${iso(anchor.notBefore)} to ${iso(anchor.notAfter)}`);
  if ('problem' in anchor.crl) return fail('UNTRUSTED', anchor.crl.problem);
  if (anchor.crl.nextUpdate !== undefined && at > anchor.crl.nextUpdate) return fail('UNTRUSTED', `the CRL is stale (next update was due ${iso(anchor.crl.nextUpdate)}); re-sign it`);
  const listed = ca.revoked.find((r) => r.serial === f.serial);
  if (anchor.crl.revoked.has(f.serial) || listed) return fail('REVOKED', `serial ${f.serial} is revoked${listed ? ` since ${iso(listed.revokedAt)}: ${listed.reason}` : ''}`);
  return { ok: true, agentId: f.agentId, agentType: f.agentType, publicKey: f.publicKey.slice(), serial: f.serial, notAfter: f.notAfter };
}

// ---------------------------------------------------------------------------------------------
// Persistence.

function writeAtomic(file: string, text: string): Promise<void> {
  return writeFileAtomic(file, text, 0o644);
}

/**
 * Write `ca.json` (the whole state: authoritative), then `ca.pem` and `crl.pem` (copies for
 * other tools), each by write-to-temporary, fsync and rename.
 *
 * @example
 * ```ts
 * await saveCa('.agentos/ca', ca);
 * ```
 */
export async function saveCa(dir: string, state: CaState): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeAtomic(join(dir, 'ca.json'), JSON.stringify(state, null, 2) + '\n');
  await writeAtomic(join(dir, 'ca.pem'), state.certificatePem);
  await writeAtomic(join(dir, 'crl.pem'), state.crlPem);
}

/**
 * Read the state written by {@link saveCa} (from `ca.json`). Throws `UsageError` when there is
 * no CA or `ca.json` is not one.
 *
 * @example
 * ```ts
 * const ca = await loadCa('.agentos/ca');
 * ```
 */
export async function loadCa(dir: string): Promise<CaState> {
  const file = join(dir, 'ca.json');
  let v: Partial<Record<keyof CaState, unknown>>;
  try {
    v = JSON.parse(await readFile(file, 'utf8')) as typeof v;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`no CA in ${dir}; create one with \`agentos ca init\``, { dir });
    throw new UsageError(`${file} is not readable JSON: ${(e as Error).message}`, { file });
  }
  const entryOk = (r: unknown) => typeof r === 'object' && r !== null && typeof (r as RevokedEntry).serial === 'string' && /^[0-9a-f]{1,40}$/.test((r as RevokedEntry).serial) && Number.isFinite((r as RevokedEntry).revokedAt) && typeof (r as RevokedEntry).reason === 'string';
  const ok = typeof v === 'object' && v !== null && v.version === 1 && typeof v.keyName === 'string' && typeof v.kid === 'string' && typeof v.certificatePem === 'string' && typeof v.crlPem === 'string' &&
    Number.isSafeInteger(v.crlNumber) && (v.crlValidityMs === undefined || (Number.isSafeInteger(v.crlValidityMs) && (v.crlValidityMs as number) >= 1000)) && Array.isArray(v.revoked) && v.revoked.every(entryOk);
  if (!ok) throw new UsageError(`${file} is not an agentos CA state (version 1)`, { file });
  return v as CaState;
}
