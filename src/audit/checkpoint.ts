/**
 * The log's signing key and signed checkpoints.
 *
 * A log is identified by its `logId`: the hex SHA-256 of its raw ed25519 public key. A
 * checkpoint commits to `{logId, size, rootHash, lastHash, timestamp}`; the signature covers a
 * fixed text form that starts with a domain string and the log id, so a checkpoint signed for
 * one log never verifies for another (and a signature over anything else never verifies as a
 * checkpoint).
 *
 * The key is kept in a PKCS#8 PEM file created with mode 0600 (default `<audit dir>/log-key.pem`).
 *
 * @example
 * ```ts
 * const key = await loadOrCreateLogKey('.agentos/audit/log-key.pem');
 * const cp = signCheckpoint(key, { size: 10, rootHash, lastHash, timestamp: Date.now() });
 * verifyCheckpoint(cp, key.publicKey); // { ok: true }
 * ```
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { mkdir, open, readFile, rename, appendFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SandboxError } from '../errors.js';
import { fromHex, isHashHex, sha256, toHex } from './hash.js';

/** First line of the signed checkpoint text. */
export const CHECKPOINT_DOMAIN = 'agentos-audit-checkpoint/v1';

/** A log signing key. */
export interface LogKey {
  readonly logId: string;
  /** Raw 32-byte ed25519 public key. */
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

/** A signed checkpoint as stored and exported. Hashes are hex; `signature` is base64. */
export interface Checkpoint {
  readonly logId: string;
  readonly size: number;
  readonly rootHash: string;
  /** Hash of record `size - 1` (what record `size` will chain to). */
  readonly lastHash: string;
  readonly timestamp: number;
  readonly signature: string;
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** The log id of a raw public key. */
export function logIdOf(publicKey: Uint8Array): string {
  return toHex(sha256(publicKey));
}

/** A KeyObject for a raw ed25519 public key. */
export function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError('an ed25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
}

function rawPublic(key: KeyObject): Uint8Array {
  const der = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

function keyFrom(privateKey: KeyObject): LogKey {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new TypeError('the audit log key must be an ed25519 key');
  const publicKey = rawPublic(privateKey);
  return { logId: logIdOf(publicKey), publicKey, privateKey };
}

/** A fresh key (not stored). */
export function generateLogKey(): LogKey {
  return keyFrom(generateKeyPairSync('ed25519').privateKey);
}

/**
 * Load the key in `file`, or create one there (mode 0600, never overwriting a file that
 * appeared meanwhile). Throws `AUDIT_UNAVAILABLE` when the file exists but is not an ed25519
 * private key, or cannot be read or written.
 */
export async function loadOrCreateLogKey(file: string): Promise<LogKey> {
  try {
    return keyFrom(createPrivateKey(await readFile(file, 'utf8')));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new SandboxError('AUDIT_UNAVAILABLE', `audit log key ${file} is unusable: ${(e as Error).message}; restore it from a backup (a new key would start a different log)`, { file }, { cause: e });
    }
  }
  const key = generateLogKey();
  const pem = key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  try {
    await mkdir(dirname(file), { recursive: true });
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.writeFile(pem);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return key;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateLogKey(file);
    throw new SandboxError('AUDIT_UNAVAILABLE', `cannot create the audit log key ${file}: ${(e as Error).message}`, { file }, { cause: e });
  }
}

/** The exact bytes a checkpoint signature covers. */
export function checkpointMessage(cp: Omit<Checkpoint, 'signature'>): Buffer {
  return Buffer.from(`${CHECKPOINT_DOMAIN}\nlog ${cp.logId}\nsize ${cp.size}\nroot ${cp.rootHash}\nlast ${cp.lastHash}\ntime ${cp.timestamp}\n`);
}

/** Sign a checkpoint of this log. */
export function signCheckpoint(key: LogKey, body: { size: number; rootHash: Uint8Array; lastHash: Uint8Array; timestamp: number }): Checkpoint {
  const unsigned = { logId: key.logId, size: body.size, rootHash: toHex(body.rootHash), lastHash: toHex(body.lastHash), timestamp: Math.trunc(body.timestamp) };
  const signature = sign(null, checkpointMessage(unsigned), key.privateKey).toString('base64');
  return { ...unsigned, signature };
}

/** Why a checkpoint is not acceptable, or ok. */
export type CheckpointCheck = { ok: true } | { ok: false; code: 'CHECKPOINT_MALFORMED' | 'CHECKPOINT_FOREIGN' | 'CHECKPOINT_SIGNATURE'; reason: string };

/**
 * Check a checkpoint's shape, that it names the log of `publicKey`, and its signature.
 * A checkpoint copied from another log fails with `CHECKPOINT_FOREIGN` (or, if its log id was
 * edited to match, `CHECKPOINT_SIGNATURE`).
 */
export function verifyCheckpoint(cp: unknown, publicKey: Uint8Array): CheckpointCheck {
  const c = cp as Partial<Checkpoint> | null;
  if (
    typeof c !== 'object' ||
    c === null ||
    !isHashHex(c.logId) ||
    !Number.isSafeInteger(c.size) ||
    (c.size as number) < 0 ||
    !isHashHex(c.rootHash) ||
    !isHashHex(c.lastHash) ||
    !Number.isSafeInteger(c.timestamp) ||
    typeof c.signature !== 'string'
  ) {
    return { ok: false, code: 'CHECKPOINT_MALFORMED', reason: 'not a checkpoint {logId, size, rootHash, lastHash, timestamp, signature}' };
  }
  const ours = logIdOf(publicKey);
  if (c.logId !== ours) return { ok: false, code: 'CHECKPOINT_FOREIGN', reason: `checkpoint belongs to log ${c.logId.slice(0, 16)}…, not this log (${ours.slice(0, 16)}…)` };
  let good = false;
  try {
    good = verify(null, checkpointMessage(c as Checkpoint), publicKeyObject(publicKey), Buffer.from(c.signature, 'base64'));
  } catch {
    good = false;
  }
  return good ? { ok: true } : { ok: false, code: 'CHECKPOINT_SIGNATURE', reason: `checkpoint signature for size ${c.size} does not verify under this log's key` };
}

/** Parse a checkpoint from JSON text (no signature check; see {@link verifyCheckpoint}). */
export function parseCheckpoint(text: string): Checkpoint {
  const v = JSON.parse(text) as Record<string, unknown>;
  const c = (v && typeof v === 'object' && 'checkpoint' in v ? v['checkpoint'] : v) as Checkpoint;
  return c;
}

/** Hash bytes of a checkpoint's root. */
export function rootOf(cp: Checkpoint): Uint8Array {
  return fromHex(cp.rootHash);
}

/**
 * A witness: a directory outside the audit store that receives every checkpoint, so that a
 * rollback or a deleted tail of the store can be detected against it. Keeps
 * `<logId>.latest.json` (atomically replaced) and appends to `<logId>.checkpoints.jsonl`.
 */
export class Witness {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly dir: string) {}

  /** Path of the latest checkpoint file for a log. */
  latestFile(logId: string): string {
    return join(this.dir, `${logId}.latest.json`);
  }

  /**
   * Record a checkpoint: append it to the history and make it the latest unless the witness
   * already holds a larger one (the latest never moves backwards).
   */
  publish(cp: Checkpoint): Promise<void> {
    const run = async () => {
      await mkdir(this.dir, { recursive: true });
      const text = JSON.stringify(cp) + '\n';
      await appendFile(join(this.dir, `${cp.logId}.checkpoints.jsonl`), text);
      const current = await this.latest(cp.logId).catch(() => undefined);
      if (current && Number.isSafeInteger(current.size) && current.size > cp.size) return;
      const tmp = this.latestFile(cp.logId) + `.${process.pid}.tmp`;
      const fh = await open(tmp, 'w', 0o644);
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.latestFile(cp.logId));
    };
    this.chain = this.chain.then(run, run);
    return this.chain;
  }

  /** The latest checkpoint this witness holds for `logId`, if any. */
  async latest(logId: string): Promise<Checkpoint | undefined> {
    try {
      return parseCheckpoint(await readFile(this.latestFile(logId), 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }
}
