/**
 * The cryptography of the key-value store (the seed's `AgentDataProtector`): one random data key
 * per store encrypts every value with AES-256-GCM; the data key itself is kept only wrapped
 * (AES-256-GCM again) under a key-encryption key (KEK) that a {@link KeyWrapper} supplies.
 *
 * Two levels so that changing the KEK (a rotated key, a file key moved into the key store) is
 * one small write: the values never need re-encrypting.
 *
 * A value record is binary, laid out for a cheap header read (sweeps and listings read only
 * the header, never decrypt):
 *
 * | bytes  | field                                                               |
 * |--------|---------------------------------------------------------------------|
 * | 0      | format version (1 = AES-256-GCM, 12-byte IV, 16-byte tag)           |
 * | 1–8    | data key id (first 8 bytes of SHA-256 of a random id)               |
 * | 9–16   | createdAt, u64 big-endian epoch ms (the last write)                 |
 * | 17–24  | expiresAt, u64 big-endian epoch ms, 0 = never                       |
 * | 25–36  | IV, fresh for every write                                           |
 * | 37–52  | GCM tag                                                             |
 * | 53–    | ciphertext (as long as the plaintext)                               |
 *
 * The additional data is `"agentos-kv/1\0" ‖ namespace ‖ "\0" ‖ key ‖ "\0" ‖ bytes 0–24`: a
 * record copied under another key or namespace does not decrypt, and neither does one whose
 * timestamps were edited on disk (moving expiresAt forward would otherwise keep a value alive
 * past its TTL, unnoticed).
 *
 * @example
 * ```ts
 * const { protector, wrapped } = await AgentDataProtector.create(fileKeyWrapper('.agentos/kv.kek'), Date.now());
 * const record = protector.seal('ns', 'greeting', new TextEncoder().encode('hi'), Date.now(), 0);
 * protector.open('ns', 'greeting', record); // the bytes of 'hi'
 * ```
 */
import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';
import { closeSync, fstatSync, linkSync, mkdirSync, openSync, readSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { dirname } from 'node:path';
import * as z from 'zod';
import { UsageError } from '../errors.js';
import type { KeyProvider } from '../identity/types.js';
import { errno } from '../util/errno.js';

/**
 * Supplies the key-encryption key that wraps a store's data key. `kid` names the KEK and is
 * stored beside the wrap, so a wrong wrapper is refused by name. `kek()` returns the 32 bytes as
 * a fresh array on each call: the store zeroes it once the data key is (un)wrapped.
 * @example `const w: KeyWrapper = { kid: 'hsm:42', kek: async () => await hsm.deriveKek(42) }`
 */
export interface KeyWrapper {
  readonly kid: string;
  kek(): Promise<Uint8Array>;
}

/**
 * What {@link AgentDataProtector.header} reads from a record without decrypting it: epoch ms
 * (`expiresAt` 0 = never) and the plaintext's bytes.
 * @example `if (h.expiresAt && now >= h.expiresAt) …`
 */
export interface RecordHeader { readonly createdAt: number; readonly expiresAt: number; readonly size: number }

/** The HKDF `info` of {@link keyStoreWrapper}; a new version means new KEKs. @example `hkdfSync('sha256', seed, kid, KEK_INFO, 32)` */
export const KEK_INFO = 'agentos-kv-kek/1';

const VERSION = 1;
// Offsets of the record's fields (see the table above).
const [ID, CREATED, EXPIRES, IV, TAG] = [1, 9, 17, 25, 37];
/** Bytes before the ciphertext: the store computes value sizes from record lengths. @example `record.length - RECORD_OVERHEAD` */
export const RECORD_OVERHEAD = 53;
const AAD_PREFIX = 'agentos-kv/1\0';
const WRAP_AAD = 'agentos-kv-wrap/1\0';

const B64U = z.string().regex(/^[A-Za-z0-9_-]*$/);
const WrappedSchema = z.strictObject({
  ...{ version: z.literal(1), alg: z.literal('aes-256-gcm'), kid: z.string().min(1).max(200), dataKeyId: z.string().regex(/^[0-9a-f]{16}$/) },
  ...{ iv: B64U.length(16), tag: B64U.length(22), wrapped: B64U.length(43), created: z.number().int().nonnegative() },
});

/** The data key as stored: wrapped under the KEK named `kid`. @example `JSON.stringify(wrapped)` */
export type WrappedDataKey = z.infer<typeof WrappedSchema>;

const b64u = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
const fromB64u = (s: string) => Buffer.from(s, 'base64url');
const wrapAad = (kid: string, dataKeyId: string) => Buffer.from(`${WRAP_AAD}${kid}\0${dataKeyId}`);

function checkKek(kek: Uint8Array, kid: string): void {
  if (!(kek instanceof Uint8Array) || kek.length !== 32) throw new UsageError(`key wrapper ${kid} returned a key-encryption key of ${kek?.length ?? 0} bytes; it must be 32`);
}

/** u64 big-endian, exact below 2^53 (epoch ms stay far below). */
function putU64(b: Buffer, at: number, n: number): void {
  b.writeUInt32BE(Math.floor(n / 2 ** 32), at);
  b.writeUInt32BE(n >>> 0, at + 4);
}

function getU64(b: Uint8Array, at: number): number {
  const hi = ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  const lo = ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
  return hi * 2 ** 32 + lo;
}

/**
 * Encrypts and decrypts the values of one store under its data key. Holds the key only as a
 * `KeyObject` (created once: building one per value would cost more than the encryption).
 *
 * @example
 * ```ts
 * const p = await AgentDataProtector.unwrap(parseWrapped(bytes, dir), wrapper, dir);
 * const bytes = p.open(ns, key, record); // undefined when the record does not verify
 * ```
 */
export class AgentDataProtector {
  /** The data key id, 16 hex digits. */
  readonly dataKeyId: string;
  readonly #id: Buffer;
  readonly #key: KeyObject;

  private constructor(key: Uint8Array, dataKeyId: string) {
    this.#key = createSecretKey(key);
    this.dataKeyId = dataKeyId;
    this.#id = Buffer.from(dataKeyId, 'hex');
  }

  /**
   * A new random data key, and its wrap under `wrapper`'s KEK.
   * @example `const { protector, wrapped } = await AgentDataProtector.create(wrapper, Date.now())`
   */
  static async create(wrapper: KeyWrapper, now: number): Promise<{ protector: AgentDataProtector; wrapped: WrappedDataKey }> {
    const key = randomBytes(32);
    // The id is a hash of a random value, not of the key: it must name the key without
    // revealing anything about it.
    const id = createHash('sha256').update(randomBytes(16)).digest().subarray(0, 8).toString('hex');
    try {
      const protector = new AgentDataProtector(key, id);
      return { protector, wrapped: await wrapKey(key, id, wrapper, now) };
    } finally {
      key.fill(0);
    }
  }

  /**
   * The protector of a stored wrap. Fails closed: a wrapper of another kid, or a KEK that does
   * not pass the GCM check, is a UsageError naming the kid the store is wrapped under.
   * @example `await AgentDataProtector.unwrap(parseWrapped(bytes, dir), wrapper, dir)`
   */
  static async unwrap(w: WrappedDataKey, wrapper: KeyWrapper, where: string): Promise<AgentDataProtector> {
    if (w.kid !== wrapper.kid) {
      throw new UsageError(`kv store ${where} is wrapped under key ${w.kid}, not ${wrapper.kid}: open it with the key it is wrapped under`, { wrappedBy: w.kid, given: wrapper.kid });
    }
    const kek = await wrapper.kek();
    checkKek(kek, wrapper.kid);
    let key: Buffer | undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', kek, fromB64u(w.iv), { authTagLength: 16 }).setAAD(wrapAad(w.kid, w.dataKeyId));
      d.setAuthTag(fromB64u(w.tag));
      key = Buffer.concat([d.update(fromB64u(w.wrapped)), d.final()]);
    } catch {
      throw new UsageError(`kv store ${where} is wrapped under key ${w.kid}, and that key's bytes do not unwrap its data key (a different key under the same name, or an altered store)`, { wrappedBy: w.kid });
    } finally {
      kek.fill(0);
    }
    try {
      return new AgentDataProtector(key, w.dataKeyId);
    } finally {
      key.fill(0);
    }
  }

  /** The data key wrapped under another KEK (for rotation). @example `await p.wrap(newWrapper, Date.now())` */
  wrap(wrapper: KeyWrapper, now: number): Promise<WrappedDataKey> {
    const key = this.#key.export();
    return wrapKey(key, this.dataKeyId, wrapper, now).finally(() => key.fill(0));
  }

  /**
   * The record of `value` stored under `ns`/`key` (see the module comment for the layout).
   * @example `db.put(k, p.seal(ns, key, value, Date.now(), 0))`
   */
  seal(ns: string, key: string, value: Uint8Array, createdAt: number, expiresAt: number): Buffer {
    const r = Buffer.allocUnsafe(RECORD_OVERHEAD + value.length);
    r[0] = VERSION;
    this.#id.copy(r, ID);
    putU64(r, CREATED, createdAt);
    putU64(r, EXPIRES, expiresAt);
    nextIv().copy(r, IV);
    const c = createCipheriv('aes-256-gcm', this.#key, r.subarray(IV, TAG), { authTagLength: 16 });
    c.setAAD(aad(ns, key, r));
    r.set(c.update(value), RECORD_OVERHEAD);
    c.final();
    r.set(c.getAuthTag(), TAG);
    return r;
  }

  /**
   * The plaintext of a record, or undefined when it does not verify (altered, moved from
   * another key, or sealed under another data key). Never returns unverified bytes.
   * @example `const value = p.open(ns, key, record) ?? failClosed()`
   */
  open(ns: string, key: string, record: Uint8Array): Buffer | undefined {
    if (record.length < RECORD_OVERHEAD || record[0] !== VERSION || !this.#ownId(record)) return undefined;
    let plain: Buffer | undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', this.#key, record.subarray(IV, TAG), { authTagLength: 16 });
      d.setAAD(aad(ns, key, record));
      d.setAuthTag(record.subarray(TAG, RECORD_OVERHEAD));
      plain = d.update(record.subarray(RECORD_OVERHEAD));
      d.final(); // throws when the tag does not verify
      return plain;
    } catch {
      plain?.fill(0); // unverified bytes never leave, nor linger
      return undefined;
    }
  }

  /**
   * The unauthenticated header of a record (undefined when it is not one). Good for sweeping
   * and listing; a forged header only makes `open` fail.
   * @example `AgentDataProtector.header(record)?.expiresAt`
   */
  static header(record: Uint8Array): RecordHeader | undefined {
    if (record.length < RECORD_OVERHEAD || record[0] !== VERSION) return undefined;
    return { createdAt: getU64(record, CREATED), expiresAt: getU64(record, EXPIRES), size: record.length - RECORD_OVERHEAD };
  }

  #ownId(record: Uint8Array): boolean {
    for (let i = 0; i < 8; i++) if (record[ID + i] !== this.#id[i]) return false;
    return true;
  }
}

/**
 * Random IVs drawn from a pool: one call into the system's CSPRNG costs about 3 µs, a third of
 * sealing a small value; the pool spreads it over 1024 IVs. Each slice is used once. Random
 * 96-bit IVs bound a data key to about 2^32 writes (NIST SP 800-38D), far above a store's life.
 */
const IV_POOL = Buffer.alloc(12 * 1024);
let ivAt = IV_POOL.length;
function nextIv(): Buffer {
  if (ivAt === IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivAt = 0;
  }
  ivAt += 12;
  return IV_POOL.subarray(ivAt - 12, ivAt);
}

function aad(ns: string, key: string, record: Uint8Array): Buffer {
  const s = `${AAD_PREFIX}${ns}\0${key}\0`;
  const n = Buffer.byteLength(s);
  const a = Buffer.allocUnsafe(n + IV);
  a.write(s, 0);
  a.set(record.subarray(0, IV), n);
  return a;
}

async function wrapKey(key: Uint8Array, dataKeyId: string, wrapper: KeyWrapper, now: number): Promise<WrappedDataKey> {
  const kek = await wrapper.kek();
  checkKek(kek, wrapper.kid);
  try {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: 16 }).setAAD(wrapAad(wrapper.kid, dataKeyId));
    const wrapped = Buffer.concat([c.update(key), c.final()]);
    return { version: 1, alg: 'aes-256-gcm', kid: wrapper.kid, dataKeyId, iv: b64u(iv), tag: b64u(c.getAuthTag()), wrapped: b64u(wrapped), created: now };
  } finally {
    kek.fill(0);
  }
}

/**
 * Parse the stored wrap record; an invalid one is a UsageError (restore the store from a backup).
 * @example `parseWrapped(await db.get('m\0datakey'), dir)`
 */
export function parseWrapped(bytes: Uint8Array, where: string): WrappedDataKey {
  let json: unknown = undefined;
  try { json = JSON.parse(Buffer.from(bytes).toString('utf8')); } catch { /* not JSON: the schema says so */ }
  const r = WrappedSchema.safeParse(json);
  if (!r.success) throw new UsageError(`kv store ${where}: its data key record is not valid (${r.error.issues[0]?.message ?? 'not JSON'}); restore the store from a backup`);
  return r.data;
}

/**
 * A KEK derived from a key of the key store: HKDF-SHA256 of the key's private seed, salted with
 * its kid. The recommended wrapper: the KEK exists on disk only under the key store's passphrase,
 * and rotating the key store's key (then {@link KvStore.rotateWrapping}) changes it.
 *
 * The wrapper is bound to the kid that `name` has now, so a later rotation of the key does not
 * silently change the KEK under an open store.
 * @throws UsageError when the key store has no such key
 * @example
 * ```ts
 * const keys = await KeyStore.open('.agentos/keys', { passphrase });
 * const kv = await KvStore.open({ dir: '.agentos/kv', wrapper: keyStoreWrapper(keys) });
 * ```
 */
export function keyStoreWrapper(keys: Pick<KeyProvider, 'get' | 'privateKey'>, name = 'kv-data'): KeyWrapper {
  const info = keys.get(name);
  if (!info) throw new UsageError(`the key store has no active key "${name}" to protect the kv store; create it with \`agentos keys generate ${name}\``);
  const kid = info.kid;
  return {
    kid,
    async kek() {
      const seed = await keys.privateKey(kid);
      try {
        return new Uint8Array(hkdfSync('sha256', seed, Buffer.from(kid), KEK_INFO, 32));
      } finally {
        seed.fill(0);
      }
    },
  };
}

/** The kid of a file KEK: names it without revealing it. */
const fileKid = (kek: Uint8Array) => `file:${createHash('sha256').update(kek).digest('hex').slice(0, 16)}`;

/**
 * A 32-byte KEK in a file, created (mode 0600, its directory 0700) when missing. The development
 * default: anyone who can read the file can read the store, so it is weaker than
 * {@link keyStoreWrapper}, whose KEK sits under a passphrase. Refuses a file that group or others
 * may read. The file is read here (for the kid) and again in `kek()`, which checks that it still
 * holds the same key; the KEK is not kept in memory between the two.
 * @throws UsageError when the file is not 32 bytes, not a regular file, or readable by others
 * @example `const kv = await KvStore.open({ dir: '.agentos/kv', wrapper: fileKeyWrapper('.agentos/kv.kek') })`
 */
export function fileKeyWrapper(path: string): KeyWrapper {
  let kek: Uint8Array | undefined = readKekFile(path, true);
  const kid = fileKid(kek);
  kek.fill(0);
  kek = undefined;
  return {
    kid,
    async kek() {
      const k = readKekFile(path, false);
      if (fileKid(k) !== kid) {
        k.fill(0);
        throw new UsageError(`key file ${path} changed since it was opened (it was ${kid}); open the store again`);
      }
      return k;
    },
  };
}

/**
 * The 32 bytes of a KEK file, creating it when allowed. Synchronous on purpose: the kid is
 * needed when the wrapper is built, and this runs once per open or rotation.
 */
function readKekFile(path: string, create: boolean): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if (!create || errno(e) !== 'ENOENT') throw new UsageError(`key file ${path} cannot be read (${errno(e)})`);
    createKekFile(path);
    return readKekFile(path, false);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new UsageError(`key file ${path} is not a regular file`);
    // Windows has no such mode bits; there the directory's ACL has to protect the file.
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new UsageError(`key file ${path} may be read by other users (mode ${(st.mode & 0o777).toString(8)}); restrict it with \`chmod 600 ${path}\``);
    }
    const buf = Buffer.alloc(33);
    const n = readSync(fd, buf, 0, 33, 0);
    if (n !== 32) {
      buf.fill(0);
      throw new UsageError(`key file ${path} must hold exactly 32 bytes, it holds ${st.size}`);
    }
    return buf.subarray(0, 32);
  } finally {
    closeSync(fd);
  }
}

/** fsync a directory, where the platform and file system allow it (not on Windows). */
function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // unsupported here: the rename-free link is still atomic, only its durability is the OS's
  }
}

/** Write a fresh key beside the target, then link it into place: two racing creators end up with one key, and a crash never leaves a short file. */
function createKekFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new UsageError(`key file ${path}: cannot create its directory (${errno(e)})`);
  }
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const key = randomBytes(32);
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      writeSync(fd, key);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e; // another process created it first: use theirs
    }
    syncDir(dirname(path)); // a store wrapped under a key whose file a power cut took would be lost
  } catch (e) {
    throw new UsageError(`key file ${path} cannot be created (${errno(e)})`);
  } finally {
    key.fill(0);
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to remove when the temporary file was never created
    }
  }
}

