/**
 * `agentos ca`: the local certificate authority for agents (`src/identity/ca.ts`): create it,
 * issue agent certificates, revoke them, verify them, publish the CRL and show the CA. The CA
 * key lives in the key store (`src/identity/keystore.ts`); the passphrase never comes from the
 * command line.
 *
 * @example
 * ```ts
 * process.exitCode = await caCommand(['issue', '--agent-type', 'worker', '--agent-key-file', 'agent.pub', '-o', 'agent.pem']);
 * ```
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, randomUUID, X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { withFileLock } from '../util/file-lock.js';
import { createCa, issueAgentCertificate, loadCa, normalizeSerial, refreshCrl, revokeCertificate, saveCa, validateAgentCertificate, type CaState } from '../identity/ca.js';
import { b64u } from '../identity/keys.js';
import { KeyStore, PASSPHRASE_ENV } from '../identity/keystore.js';
import { durationArg, parse, readPassphraseFile, reportError, safeText, type ExitStatus } from './common.js';
import { parseAgentKey } from './token.js';
import { errno } from '../util/errno.js';

const DEFAULT_DIR = '.agentos/ca';
const DEFAULT_KEYS = '.agentos/keys';
const DEFAULT_KEY = 'ca';
const DEFAULT_CA_VALID = '365d';
const DEFAULT_CERT_VALID = '24h';
/** Largest certificate file read (a PEM certificate of the CA is well under 16 KiB). */
const MAX_INPUT = 1024 * 1024;

/**
 * Help of `agentos ca`.
 *
 * @example
 * ```ts
 * process.stdout.write(CA_HELP + '\n');
 * ```
 */
export const CA_HELP = `Usage: agentos ca <command> [options]

A local certificate authority for agents: a self-signed Ed25519 CA certificate whose key is in
the key store, X.509 agent certificates (CN=<agent id>, O=agentos, OU=<agent type>), and a
signed certificate revocation list (CRL). The CA state lives in DIR/ca.json, with copies of
the CA certificate and the CRL in DIR/ca.pem and DIR/crl.pem for other tools.

Commands:
  init                create the CA (and its key, if the key store has none of that name)
  issue               issue a certificate for an agent's Ed25519 public key
  revoke <serial|cert-file>
                      revoke a certificate (--reason TEXT) and re-sign the CRL
  verify <cert-file|->
                      check a certificate against the CA: signature, validity, revocation;
                      exit 0 valid, 1 not valid (the code and reason are printed)
  crl                 print the current CRL (re-signed first when it is stale or with --refresh)
  show                the CA's subject, key, validity and revocations

Common options:
  --dir DIR                the CA directory (default ${DEFAULT_DIR})
  --keys DIR               the key store holding the CA key (default ${DEFAULT_KEYS})
  --passphrase-file FILE   read the key passphrase from the first line of FILE
  --json                   machine-readable output (one JSON object)
  -h, --help               help for a command: agentos ca <command> --help

The passphrase comes from the environment variable ${PASSPHRASE_ENV} or from
--passphrase-file FILE; there is deliberately no option taking the passphrase itself.
init, issue, revoke and a CRL refresh need it (they sign with the CA key); verify, show
and printing a fresh CRL do not.
Durations: 365d, 24h, 90m, 45s.
Exit status: 0 ok, 1 verify: the certificate is not valid, 2 bad input (a wrong or missing
passphrase too), 5 internal error.`;

const COMMON = `  --dir DIR                the CA directory (default ${DEFAULT_DIR})
  --json                   machine-readable output (one JSON object)`;
const KEYS = `  --keys DIR               the key store holding the CA key (default ${DEFAULT_KEYS})
  --passphrase-file FILE   the key passphrase (else $${PASSPHRASE_ENV}; never on the command line)`;

const HELP: Readonly<Record<string, string>> = {
  init: `Usage: agentos ca init [--dir DIR] [--keys DIR] [--key NAME] [--subject DN] [--valid DURATION]
                      [--crl-valid DURATION] [--force] [--passphrase-file FILE] [--json]

Create a CA in DIR: a self-signed CA certificate for the key NAME of the key store (generated
there if the store has no active key of that name) and an empty signed CRL. Refuses to replace
an existing CA unless --force. Needs the passphrase.

Replacing a CA with --force keeps its revocations (carried over from CA to CA, so that going
back to an earlier key cannot bring its revoked certificates back). With the same key,
certificates the old CA issued stay valid under the new one (same key, same name); to stop
trusting every certificate issued so far, use another key (--key NAME, or 'agentos keys rotate').

Options:
  --key NAME               the CA key's name in the key store (default ${DEFAULT_KEY})
  --subject DN             the CA's name, e.g. "CN=build CA, O=example" (default "CN=agentos CA <kid>, O=agentos")
  --valid DURATION         lifetime of the CA certificate (default ${DEFAULT_CA_VALID})
  --crl-valid DURATION     lifetime of each signed CRL: a CRL older than that makes every
                           certificate fail until it is re-signed ('agentos ca crl'); default:
                           a CRL is valid as long as the CA certificate
  --force                  replace an existing CA in DIR
${KEYS}
${COMMON}`,
  issue: `Usage: agentos ca issue --agent-type TYPE (--agent-key KEY | --agent-key-file FILE) [--agent-id UUID]
                       [--valid DURATION] [-o FILE] [--dir DIR] [--keys DIR] [--passphrase-file FILE] [--json]

Issue a certificate binding an agent id and type to the agent's Ed25519 public key, signed by
the CA. Prints the PEM certificate (or writes it to FILE) and reports its serial and validity.
The certificate never outlives the CA certificate. A stale CRL (see 'agentos ca crl --help')
is re-signed first. Needs the passphrase.

Options:
  --agent-id UUID          the agent's id (default: a new random UUID v4)
  --agent-type TYPE        the agent's type: 1–64 of A-Z a-z 0-9 . _ - (required)
  --agent-key KEY          the agent's public key: 32 bytes as base64url or 64 hex digits
                           (write --agent-key=KEY when a base64url key starts with -)
  --agent-key-file FILE    a file holding it (raw 32 bytes, that text, a PEM public key, a JWK,
                           or {"publicKey": …})
  --valid DURATION         lifetime of the certificate (default ${DEFAULT_CERT_VALID}; at least 1s)
  -o, --output FILE        write the PEM certificate to FILE instead of standard output
${KEYS}
${COMMON}`,
  revoke: `Usage: agentos ca revoke <serial|cert-file|-> --reason TEXT [--dir DIR] [--keys DIR] [--passphrase-file FILE] [--json]

Revoke a certificate, by serial (hex, as 'issue' and 'verify' print it; colons and a 0x
prefix are accepted) or given the certificate itself (a file, or - for standard input), and
re-sign the CRL. A certificate given as a file must have been issued by this CA. Revoking a
serial twice changes nothing. Cannot be undone. Needs the passphrase (the CRL is signed).
An argument that is both a serial and an existing file is refused: write ./NAME for the file.

Options:
  --reason TEXT            why (required; 1–256 characters). An RFC 5280 reason name
                           (keyCompromise, superseded, cessationOfOperation, affiliationChanged,
                           privilegeWithdrawn, …) also becomes the CRL entry's reason code
${KEYS}
${COMMON}`,
  verify: `Usage: agentos ca verify <cert-file|-> [--at TIME] [--dir DIR] [--json]

Check an agent certificate (PEM or DER; - reads standard input) against the CA: signed by the
CA key, a well-formed agent certificate, within its validity and the CA's, the CRL signed by
the CA and not stale, the serial not revoked. Exit 0 valid, 1 not valid, printing the code
(EXPIRED, NOT_YET_VALID, REVOKED, UNTRUSTED, MALFORMED) and the reason. Needs no passphrase.

Options:
  --at TIME                check at TIME (ISO 8601, e.g. 2030-01-01T00:00:00Z) instead of now;
                           revocation is always the CRL's current state
${COMMON}`,
  crl: `Usage: agentos ca crl [--refresh] [-o FILE] [--dir DIR] [--keys DIR] [--passphrase-file FILE] [--json]

Print the CA's current CRL (PEM), or write it to FILE. A CRL made with 'init --crl-valid' goes
stale: every certificate then fails verification until the CRL is re-signed. A stale CRL is
re-signed (and saved) before it is printed, which needs the passphrase; --refresh re-signs it
even when it is still fresh (run it regularly, before the CRL goes stale). A fresh CRL is
printed without the passphrase.

Options:
  --refresh                re-sign the CRL now (needs the passphrase)
  -o, --output FILE        write the CRL to FILE instead of standard output
${KEYS}
${COMMON}`,
  show: `Usage: agentos ca show [--dir DIR] [--json]

Print the CA's subject, key (name and kid), certificate serial and SHA-256 fingerprint,
validity, the CRL's number and next update, and the number of revoked certificates
(--json lists them). Needs no passphrase.

Options:
${COMMON}`,
};

const OPTIONS = {
  dir: { type: 'string' },
  keys: { type: 'string' },
  'passphrase-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  key: { type: 'string' },
  subject: { type: 'string' },
  valid: { type: 'string' },
  'crl-valid': { type: 'string' },
  force: { type: 'boolean' },
  'agent-id': { type: 'string' },
  'agent-type': { type: 'string' },
  'agent-key': { type: 'string' },
  'agent-key-file': { type: 'string' },
  output: { type: 'string', short: 'o' },
  reason: { type: 'string' },
  at: { type: 'string' },
  refresh: { type: 'boolean' },
} as const;
type Flag = keyof typeof OPTIONS;
type Values = ReturnType<typeof parse<typeof OPTIONS>>['values'];
const COMMON_FLAGS: readonly Flag[] = ['dir', 'json', 'help'];
const SIGNING: readonly Flag[] = ['keys', 'passphrase-file'];
const ALLOWED: Readonly<Record<string, readonly Flag[]>> = {
  init: [...SIGNING, 'key', 'subject', 'valid', 'crl-valid', 'force'],
  issue: [...SIGNING, 'agent-id', 'agent-type', 'agent-key', 'agent-key-file', 'valid', 'output'],
  revoke: [...SIGNING, 'reason'],
  verify: ['at'],
  crl: [...SIGNING, 'refresh', 'output'],
  show: [],
};

const iso = (ms: number | undefined) => (ms === undefined ? 'never' : new Date(ms).toISOString());


const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);
const isFile = (p: string) => stat(p).then((s) => s.isFile(), () => false);


/**
 * Run `fn` holding `dir/ca.lock`, so that two processes changing the CA (two revocations at
 * once, say) cannot lose each other's change: each reads the state inside the lock.
 */
function withCaLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  return withFileLock(join(dir, 'ca.lock'), `the CA in ${dir}`, fn);
}

/** The CA in `dir`, with an error that says which option to change when there is none. */
async function openCa(dir: string): Promise<CaState> {
  if (!(await isFile(join(dir, 'ca.json')))) throw new UsageError(`no CA in ${dir}: give --dir DIR, or create one with \`agentos ca init\``, { dir });
  return loadCa(dir);
}

/** What `show` and the other commands report about the CA certificate and CRL. */
interface CaFacts {
  readonly subject: string;
  readonly serial: string;
  readonly fingerprint: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly crl?: { readonly thisUpdate: number; readonly nextUpdate: number | undefined };
}

function caFacts(ca: CaState, dir: string): CaFacts {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(ca.certificatePem);
  } catch (e) {
    throw new UsageError(`${join(dir, 'ca.json')}: the CA certificate cannot be read (${(e as Error).message}); restore the directory from a backup or run \`agentos ca init --force\``);
  }
  let crl: CaFacts['crl'];
  try {
    const c = new x509.X509Crl(ca.crlPem);
    crl = { thisUpdate: c.thisUpdate.getTime(), nextUpdate: c.nextUpdate?.getTime() };
  } catch {
    crl = undefined;
  }
  return {
    subject: cert.subject,
    serial: normalizeSerial(cert.serialNumber),
    fingerprint: createHash('sha256').update(new Uint8Array(cert.rawData)).digest('hex'),
    notBefore: cert.notBefore.getTime(),
    notAfter: cert.notAfter.getTime(),
    ...(crl ? { crl } : {}),
  };
}

const crlStale = (f: CaFacts, at: number) => f.crl?.nextUpdate !== undefined && at > f.crl.nextUpdate;

/**
 * The key store holding the CA key, opened and unlocked: a wrong or missing passphrase fails
 * here, before anything is signed or written. `mustExist`: refuse to create a missing store.
 */
async function signingStore(v: Values, mustExist: { keyName: string; kid: string } | undefined): Promise<KeyStore> {
  const dir = v.keys ?? DEFAULT_KEYS;
  if (mustExist && !(await isDir(dir))) {
    throw new UsageError(`no key store at ${dir}; the CA key "${safeText(mustExist.keyName)}" (kid ${mustExist.kid}) is in the key store the CA was created with: give --keys DIR`);
  }
  const file = v['passphrase-file'];
  const store = await KeyStore.open(dir, file !== undefined ? { passphrase: () => readPassphraseFile(file) } : {});
  if (mustExist && !store.get(mustExist.kid)) {
    throw new UsageError(`the CA key ${mustExist.kid} ("${safeText(mustExist.keyName)}") is not in the key store ${dir}; give --keys DIR (the key store the CA was created with)`);
  }
  await withPassphraseHint(v, () => store.unlock());
  return store;
}

/** Rethrow a wrong-passphrase error naming where the passphrase came from. */
async function withPassphraseHint<T>(v: Values, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UsageError && /^wrong passphrase/.test(e.message)) {
      const source = v['passphrase-file'] !== undefined ? `--passphrase-file ${v['passphrase-file']}` : `$${PASSPHRASE_ENV}`;
      throw new UsageError(`${e.message}; correct the passphrase given by ${source}`, e.details);
    }
    throw e;
  }
}

/** A certificate (PEM text, or DER bytes) from a file or `-` (standard input), at most 1 MiB. */
async function readCertificate(arg: string): Promise<{ bytes: Buffer; pem: string }> {
  let bytes: Buffer;
  if (arg === '-') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of process.stdin) {
      chunks.push(c as Buffer);
      size += (c as Buffer).length;
      if (size > MAX_INPUT) throw new UsageError('standard input: more than 1 MiB, not a certificate');
    }
    bytes = Buffer.concat(chunks);
  } else {
    const s = await stat(arg).catch((e: unknown) => {
      throw new UsageError(`${arg}: cannot read it (${errno(e)})`);
    });
    if (!s.isFile()) throw new UsageError(`${arg}: not a file`);
    if (s.size > MAX_INPUT) throw new UsageError(`${arg}: more than 1 MiB, not a certificate`);
    bytes = await readFile(arg).catch((e: unknown) => {
      throw new UsageError(`${arg}: cannot read it (${errno(e)})`);
    });
  }
  // DER (a SEQUENCE) is accepted too: wrap it as PEM for the validator.
  const pem = bytes[0] === 0x30 ? `-----BEGIN CERTIFICATE-----\n${bytes.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n` : bytes.toString('utf8');
  return { bytes, pem };
}

async function agentKey(v: Values): Promise<Uint8Array> {
  if (v['agent-key'] !== undefined && v['agent-key-file'] !== undefined) throw new UsageError('give --agent-key or --agent-key-file, not both');
  if (v['agent-key'] !== undefined) return parseAgentKey(v['agent-key'], '--agent-key');
  const file = v['agent-key-file'];
  if (file === undefined) throw new UsageError("--agent-key KEY or --agent-key-file FILE is required: the agent's Ed25519 public key the certificate is for");
  const bytes = await readFile(file).catch((e: unknown) => {
    throw new UsageError(`--agent-key-file ${file}: cannot read it (${errno(e)})`);
  });
  return bytes.length === 32 ? new Uint8Array(bytes) : parseAgentKey(bytes.toString('utf8'), `--agent-key-file ${file}`);
}

async function writeOutput(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o644 }).catch((e: unknown) => {
    throw new UsageError(`-o ${file}: cannot write it (${errno(e)})`);
  });
}

function out(json: boolean, value: Record<string, unknown>, text: string): ExitStatus {
  process.stdout.write((json ? JSON.stringify(value) : text) + '\n');
  return 0;
}

// ---------------------------------------------------------------------------------------------

async function init(v: Values, dir: string): Promise<ExitStatus> {
  return (await isDir(dir)) ? withCaLock(dir, () => initLocked(v, dir)) : initLocked(v, dir);
}

async function initLocked(v: Values, dir: string): Promise<ExitStatus> {
  const keyName = v.key ?? DEFAULT_KEY;
  if (v.subject !== undefined && v.subject.trim() === '') throw new UsageError('--subject: give a non-empty name such as "CN=build CA, O=example"');
  const validityMs = durationArg(v.valid ?? DEFAULT_CA_VALID, '--valid');
  const crlValidityMs = v['crl-valid'] !== undefined ? durationArg(v['crl-valid'], '--crl-valid') : undefined;
  const exists = await stat(join(dir, 'ca.json')).then(() => true, () => false);
  if (exists && !v.force) throw new UsageError(`a CA already exists in ${dir}; give --force to replace it (see \`agentos ca init --help\`), or another --dir DIR`);
  // The previous CA, when readable: its revocations are kept whatever the key. Serials are random
  // 128-bit numbers, so listing another CA's serials costs nothing, and a CA made again with an
  // earlier key (A, then B, then A) must not resurrect the certificates revoked under it.
  const previous = exists ? await loadCa(dir).catch(() => undefined) : undefined;
  const store = await signingStore(v, undefined);
  let generated = false;
  if (!store.get(keyName)) {
    await withPassphraseHint(v, () => store.generate(keyName));
    generated = true;
  }
  let ca = await withPassphraseHint(v, () => createCa(store, { keyName, validityMs, ...(v.subject !== undefined ? { subject: v.subject } : {}), ...(crlValidityMs !== undefined ? { crlValidityMs } : {}) }));
  const kept = previous?.revoked ?? [];
  if (kept.length > 0) {
    ca = await withPassphraseHint(v, () => refreshCrl({ ...ca, revoked: kept, crlNumber: Math.max(ca.crlNumber, previous!.crlNumber) }, store));
  }
  await saveCa(dir, ca);
  const f = caFacts(ca, dir);
  const key = store.get(ca.kid)!;
  const text = [
    `created CA in ${dir}${exists ? (previous ? ' (replacing the previous one)' : ' (replacing an unreadable ca.json: its revocations, if any, are lost)') : ''}`,
    `  subject      ${safeText(f.subject)}`,
    `  key          "${safeText(key.name)}" kid ${key.kid}${generated ? ` (generated in ${store.dir})` : ''}`,
    `  valid        ${iso(f.notBefore)} to ${iso(f.notAfter)}`,
    `  fingerprint  ${f.fingerprint}`,
    `  CRL          next update ${iso(f.crl?.nextUpdate)}${kept.length > 0 ? `; kept ${kept.length} revocation(s) of the previous CA` : ''}`,
    `  certificate  ${join(dir, 'ca.pem')} (give it to whoever verifies agent certificates)`,
  ].join('\n');
  return out(v.json ?? false, {
    ok: true, dir, subject: f.subject, keyName: key.name, kid: key.kid, keyGenerated: generated, serial: f.serial, fingerprint: f.fingerprint,
    notBefore: iso(f.notBefore), notAfter: iso(f.notAfter), crlNextUpdate: f.crl?.nextUpdate !== undefined ? iso(f.crl.nextUpdate) : null,
    revoked: ca.revoked.length, replaced: exists, certificatePem: ca.certificatePem,
  }, text);
}

async function issue(v: Values, dir: string): Promise<ExitStatus> {
  const agentType = v['agent-type'];
  if (agentType === undefined) throw new UsageError('--agent-type TYPE is required (e.g. worker); see `agentos ca issue --help`');
  const agentId = v['agent-id'] ?? randomUUID();
  const publicKey = await agentKey(v);
  const validityMs = durationArg(v.valid ?? DEFAULT_CERT_VALID, '--valid');
  let ca = await openCa(dir);
  const store = await signingStore(v, { keyName: ca.keyName, kid: ca.kid });
  const now = Date.now();
  // A stale CRL fails every certificate: re-sign it while the CA key is unlocked anyway.
  const needsCrl = (state: CaState) => {
    const f = caFacts(state, dir);
    return f.crl === undefined || crlStale(f, now);
  };
  let crlRefreshed = false;
  if (needsCrl(ca)) {
    ca = await withCaLock(dir, async () => {
      const current = await openCa(dir);
      if (!needsCrl(current)) return current;
      const next = await withPassphraseHint(v, () => refreshCrl(current, store));
      await saveCa(dir, next);
      crlRefreshed = true;
      return next;
    });
  }
  const { pem, serial } = await withPassphraseHint(v, () => issueAgentCertificate(ca, store, { agentId, agentType, publicKey, validityMs }));
  // Checked at `now`, the instant the CRL was found fresh: a short-lived CRL cannot go stale in between.
  const r = await validateAgentCertificate(pem, ca, now);
  if (!r.ok) throw new UsageError(`the certificate just issued does not validate: ${r.code}: ${r.reason}${r.code === 'UNTRUSTED' ? '; see `agentos ca verify --help`' : ''}`);
  const notBefore = new x509.X509Certificate(pem).notBefore.getTime();
  const capped = r.notAfter < now + validityMs - 1000;
  const summary = `certificate for agent ${r.agentId} (type ${safeText(r.agentType)}), serial ${serial}, valid ${iso(notBefore)} to ${iso(r.notAfter)}${capped ? ' (cut to the CA certificate\'s expiry)' : ''}${crlRefreshed ? `; the stale CRL was re-signed (number ${ca.crlNumber})` : ''}`;
  if (v.output !== undefined) await writeOutput(v.output, pem);
  const json = { ok: true, agentId: r.agentId, agentType: r.agentType, serial, publicKey: b64u(publicKey), notBefore: iso(notBefore), notAfter: iso(r.notAfter), crlRefreshed, ...(v.output !== undefined ? { file: v.output } : { pem }) };
  if (v.json) return out(true, json, '');
  if (v.output !== undefined) return out(false, json, `wrote ${v.output}: ${summary}`);
  process.stdout.write(pem);
  process.stderr.write(summary + '\n');
  return 0;
}

/** The serial to revoke: an argument that is a serial, or the serial of a certificate this CA issued. */
async function revokeTarget(arg: string, ca: CaState, dir: string): Promise<{ serial: string; from?: string }> {
  let serial: string | undefined;
  try {
    serial = normalizeSerial(arg);
  } catch {
    serial = undefined;
  }
  const pathLike = arg === '-' || /[/\\]/.test(arg) || /\.(pem|crt|cer|der)$/i.test(arg);
  const exists = !pathLike && (await stat(arg).then(() => true, () => false));
  if (serial !== undefined && !pathLike) {
    if (exists) throw new UsageError(`${JSON.stringify(arg)} is both a serial and a file: write ./${arg} to revoke the certificate in the file, or 0x${arg} for the serial`);
    return { serial };
  }
  if (!pathLike && !exists) throw new UsageError(`${JSON.stringify(arg)}: neither a serial (1–40 hex digits) nor a certificate file`);
  const what = arg === '-' ? 'the certificate on standard input' : arg;
  const { bytes } = await readCertificate(arg);
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(bytes);
  } catch {
    throw new UsageError(`${what}: not a PEM or DER certificate`);
  }
  const caCert = new X509Certificate(ca.certificatePem);
  if (!cert.checkIssued(caCert) || !cert.verify(caCert.publicKey)) throw new UsageError(`${what} was not issued by the CA in ${dir}; nothing revoked (give --dir DIR for its CA)`);
  return { serial: normalizeSerial(cert.serialNumber), from: what };
}

async function revoke(v: Values, dir: string, positionals: string[]): Promise<ExitStatus> {
  if (v.reason === undefined || v.reason.trim() === '') throw new UsageError('ca revoke needs --reason TEXT (why the certificate is no longer trusted; kept in the CA state)');
  // The argument is read before taking the lock (it may be standard input, which may take its time).
  const { serial, from } = await revokeTarget(positionals[0]!, await openCa(dir), dir);
  return withCaLock(dir, () => revokeLocked(v, dir, serial, from));
}

async function revokeLocked(v: Values, dir: string, serial: string, from: string | undefined): Promise<ExitStatus> {
  const ca = await openCa(dir);
  const listed = ca.revoked.find((r) => r.serial === serial);
  if (listed) {
    const text = `serial ${serial} was already revoked at ${iso(listed.revokedAt)}: ${safeText(listed.reason)}`;
    return out(v.json ?? false, { ok: true, serial, alreadyRevoked: true, revokedAt: iso(listed.revokedAt), reason: listed.reason }, text);
  }
  const store = await signingStore(v, { keyName: ca.keyName, kid: ca.kid });
  const next = await withPassphraseHint(v, () => revokeCertificate(ca, store, serial, v.reason!));
  await saveCa(dir, next);
  const entry = next.revoked.find((r) => r.serial === serial)!;
  const f = caFacts(next, dir);
  const text = `revoked serial ${serial}${from ? ` (${from})` : ''} at ${iso(entry.revokedAt)}: ${safeText(entry.reason)}\n  CRL number ${next.crlNumber} re-signed, ${next.revoked.length} revoked, next update ${iso(f.crl?.nextUpdate)}`;
  return out(v.json ?? false, { ok: true, serial, alreadyRevoked: false, revokedAt: iso(entry.revokedAt), reason: entry.reason, crlNumber: next.crlNumber, revoked: next.revoked.length }, text);
}

async function verify(v: Values, dir: string, positionals: string[]): Promise<ExitStatus> {
  let at = Date.now();
  if (v.at !== undefined) {
    at = /^\d{4}-\d{2}-\d{2}/.test(v.at) ? Date.parse(v.at) : NaN;
    if (!Number.isFinite(at)) throw new UsageError(`--at ${JSON.stringify(v.at)}: expected an ISO 8601 time such as 2030-01-01T00:00:00Z`);
  }
  const ca = await openCa(dir);
  const { pem } = await readCertificate(positionals[0]!);
  const r = await validateAgentCertificate(pem, ca, at);
  if (v.json) {
    process.stdout.write(JSON.stringify(r.ok ? { ok: true, agentId: r.agentId, agentType: r.agentType, serial: r.serial, publicKey: b64u(r.publicKey), notAfter: iso(r.notAfter) } : r) + '\n');
  } else if (r.ok) {
    process.stdout.write(safeText(`valid: agent ${r.agentId} (type ${r.agentType}), key ${b64u(r.publicKey)}, serial ${r.serial}, valid until ${iso(r.notAfter)}`) + '\n');
  } else {
    const facts = r.code === 'UNTRUSTED' && /\bCRL\b/.test(r.reason) ? caFacts(ca, dir) : undefined;
    const hint = facts && crlStale(facts, at) && v.at === undefined ? '; run `agentos ca crl --refresh` (needs the passphrase)' : '';
    process.stdout.write(safeText(`invalid: ${r.code}: ${r.reason}${hint}`) + '\n');
  }
  return r.ok ? 0 : 1;
}

async function crl(v: Values, dir: string): Promise<ExitStatus> {
  let ca = await openCa(dir);
  const now = Date.now();
  const before = caFacts(ca, dir);
  const stale = crlStale(before, now) || before.crl === undefined;
  let refreshed = false;
  if (stale || v.refresh) {
    if (v['passphrase-file'] === undefined && !process.env[PASSPHRASE_ENV]) {
      const why = before.crl === undefined ? 'the CRL in the CA state is unreadable' : stale ? `the CRL went stale at ${iso(before.crl.nextUpdate)}` : '--refresh was given';
      throw new UsageError(`${why}; re-signing it needs the key passphrase: set ${PASSPHRASE_ENV} or give --passphrase-file FILE`);
    }
    const store = await signingStore(v, { keyName: ca.keyName, kid: ca.kid });
    ca = await withCaLock(dir, async () => {
      const next = await withPassphraseHint(v, async () => refreshCrl(await openCa(dir), store));
      await saveCa(dir, next);
      return next;
    });
    refreshed = true;
  }
  const f = caFacts(ca, dir);
  const summary = `CRL number ${ca.crlNumber}${refreshed ? ' (re-signed now)' : ''}, ${ca.revoked.length} revoked, this update ${iso(f.crl?.thisUpdate)}, next update ${iso(f.crl?.nextUpdate)}`;
  if (v.output !== undefined) await writeOutput(v.output, ca.crlPem);
  const json = { ok: true, crlNumber: ca.crlNumber, refreshed, revoked: ca.revoked.length, thisUpdate: iso(f.crl?.thisUpdate), nextUpdate: f.crl?.nextUpdate !== undefined ? iso(f.crl.nextUpdate) : null, ...(v.output !== undefined ? { file: v.output } : { crlPem: ca.crlPem }) };
  if (v.json) return out(true, json, '');
  if (v.output !== undefined) return out(false, json, `wrote ${v.output}: ${summary}`);
  process.stdout.write(ca.crlPem);
  process.stderr.write(summary + '\n');
  return 0;
}

async function show(v: Values, dir: string): Promise<ExitStatus> {
  const ca = await openCa(dir);
  const f = caFacts(ca, dir);
  const now = Date.now();
  const status = now > f.notAfter ? 'expired' : now < f.notBefore ? 'not yet valid' : 'valid';
  const crlState = f.crl === undefined ? 'unreadable' : crlStale(f, now) ? `stale since ${iso(f.crl.nextUpdate)} (re-sign: agentos ca crl --refresh)` : `next update ${iso(f.crl.nextUpdate)}`;
  const text = [
    `CA in ${dir}`,
    `  subject      ${safeText(f.subject)}`,
    `  key          "${safeText(ca.keyName)}" kid ${ca.kid}`,
    `  serial       ${f.serial}`,
    `  fingerprint  ${f.fingerprint}`,
    `  valid        ${iso(f.notBefore)} to ${iso(f.notAfter)} (${status})`,
    `  CRL          number ${ca.crlNumber}, ${crlState}`,
    `  revoked      ${ca.revoked.length} certificate(s)`,
  ].join('\n');
  return out(v.json ?? false, {
    ok: true, dir, subject: f.subject, keyName: ca.keyName, kid: ca.kid, serial: f.serial, fingerprint: f.fingerprint,
    notBefore: iso(f.notBefore), notAfter: iso(f.notAfter), status,
    crl: { number: ca.crlNumber, thisUpdate: f.crl ? iso(f.crl.thisUpdate) : null, nextUpdate: f.crl?.nextUpdate !== undefined ? iso(f.crl.nextUpdate) : null, stale: crlStale(f, now) },
    revoked: ca.revoked.length,
    revocations: ca.revoked.map((r) => ({ serial: r.serial, revokedAt: iso(r.revokedAt), reason: r.reason })),
  }, text);
}

async function run(sub: string, argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, OPTIONS, `ca ${sub}`);
  if (values.help) {
    process.stdout.write((HELP[sub] ?? CA_HELP) + '\n');
    return 0;
  }
  for (const flag of Object.keys(OPTIONS) as Flag[]) {
    if (values[flag] !== undefined && !COMMON_FLAGS.includes(flag) && !ALLOWED[sub]?.includes(flag)) {
      throw new UsageError(`ca ${sub} has no --${flag} option; see \`agentos ca ${sub} --help\``);
    }
  }
  const wanted = sub === 'revoke' ? '<serial|cert-file>' : sub === 'verify' ? '<cert-file|->' : undefined;
  if (positionals.length !== (wanted ? 1 : 0)) {
    throw new UsageError(`ca ${sub} takes ${wanted ? `one argument (${wanted})` : 'no arguments'}; see \`agentos ca ${sub} --help\``);
  }
  const dir = values.dir ?? DEFAULT_DIR;
  switch (sub) {
    case 'init':
      return init(values, dir);
    case 'issue':
      return issue(values, dir);
    case 'revoke':
      return revoke(values, dir, positionals);
    case 'verify':
      return verify(values, dir, positionals);
    case 'crl':
      return crl(values, dir);
    default:
      return show(values, dir);
  }
}

/**
 * Run `agentos ca …`; returns the exit status (0 ok, 1 verify: not valid, 2 bad input, 5 internal error).
 *
 * @example
 * ```ts
 * const status = await caCommand(['verify', 'agent.pem', '--json']);
 * ```
 */
export async function caCommand(argv: string[]): Promise<ExitStatus> {
  const [sub, ...rest] = argv;
  const json = argv.includes('--json');
  try {
    switch (sub) {
      case 'init':
      case 'issue':
      case 'revoke':
      case 'verify':
      case 'crl':
      case 'show':
        return await run(sub, rest);
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(CA_HELP + '\n');
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown ca command ${JSON.stringify(sub)}; see \`agentos ca --help\``);
    }
  } catch (e) {
    return reportError(e, json);
  }
}
