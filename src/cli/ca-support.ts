/**
 * What the `agentos ca` commands (`./ca.ts`) share: opening the CA and its key store, reading
 * certificates and agent keys, writing results.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { loadCa, normalizeSerial, type CaState } from '../identity/ca.js';
import { KeyStore, PASSPHRASE_ENV } from '../identity/keystore.js';
import { errno } from '../util/errno.js';
import { withFileLock } from '../util/file-lock.js';
import type { CaValues as Values } from './ca-options.js';
import { readPassphraseFile, safeText, type ExitStatus } from './common.js';
import { DEFAULT_KEY_STORE } from './flags.js';
import { parseAgentKey } from './token.js';

/** Largest certificate file read (a PEM certificate of the CA is well under 16 KiB). */
const MAX_INPUT = 1024 * 1024;

export const iso = (ms: number | undefined) => (ms === undefined ? 'never' : new Date(ms).toISOString());


export const isDir = (p: string) => stat(p).then((s) => s.isDirectory(), () => false);
export const isFile = (p: string) => stat(p).then((s) => s.isFile(), () => false);


/**
 * Run `fn` holding `dir/ca.lock`, so that two processes changing the CA (two revocations at
 * once, say) cannot lose each other's change: each reads the state inside the lock.
 */
export function withCaLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  return withFileLock(join(dir, 'ca.lock'), `the CA in ${dir}`, fn);
}

/** The CA in `dir`, with an error that says which option to change when there is none. */
export async function openCa(dir: string): Promise<CaState> {
  if (!(await isFile(join(dir, 'ca.json')))) throw new UsageError(`no CA in ${dir}: give --ca DIR, or create one with \`agentos ca init\``, { dir });
  return loadCa(dir);
}

/** What `show` and the other commands report about the CA certificate and CRL. */
export interface CaFacts {
  readonly subject: string;
  readonly serial: string;
  readonly fingerprint: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly crl?: { readonly thisUpdate: number; readonly nextUpdate: number | undefined };
}

export function caFacts(ca: CaState, dir: string): CaFacts {
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

export const crlStale = (f: CaFacts, at: number) => f.crl?.nextUpdate !== undefined && at > f.crl.nextUpdate;

/**
 * The key store holding the CA key, opened and unlocked: a wrong or missing passphrase fails
 * here, before anything is signed or written. `mustExist`: refuse to create a missing store.
 */
export async function signingStore(v: Values, mustExist: { keyName: string; kid: string } | undefined): Promise<KeyStore> {
  const dir = v.keys ?? DEFAULT_KEY_STORE;
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
export async function withPassphraseHint<T>(v: Values, fn: () => Promise<T>): Promise<T> {
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
export async function readCertificate(arg: string): Promise<{ bytes: Buffer; pem: string }> {
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

export async function agentKey(v: Values): Promise<Uint8Array> {
  if (v['agent-key'] !== undefined && v['agent-key-file'] !== undefined) throw new UsageError('give --agent-key or --agent-key-file, not both');
  if (v['agent-key'] !== undefined) return parseAgentKey(v['agent-key'], '--agent-key');
  const file = v['agent-key-file'];
  if (file === undefined) throw new UsageError("--agent-key KEY or --agent-key-file FILE is required: the agent's Ed25519 public key the certificate is for");
  const bytes = await readFile(file).catch((e: unknown) => {
    throw new UsageError(`--agent-key-file ${file}: cannot read it (${errno(e)})`);
  });
  return bytes.length === 32 ? new Uint8Array(bytes) : parseAgentKey(bytes.toString('utf8'), `--agent-key-file ${file}`);
}

export async function writeOutput(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o644 }).catch((e: unknown) => {
    throw new UsageError(`--out ${file}: cannot write it (${errno(e)})`);
  });
}

export function out(json: boolean, value: Record<string, unknown>, text: string): ExitStatus {
  process.stdout.write((json ? JSON.stringify(value) : text) + '\n');
  return 0;
}
