/**
 * The key store: Ed25519 keys in a directory, one `<kid>.json` per key, private seeds encrypted
 * under a passphrase. Implements {@link KeyProvider} for the other identity modules.
 *
 * A key file holds the {@link KeyInfo} fields (stored status `active`, `rotated` or `revoked`;
 * `expired` is computed from `expires`), `version: 1` and, unless imported public-only,
 * `encryptedPrivateKey`: AES-256-GCM of the 32-byte seed under scrypt(NFC passphrase, salt),
 * with `["agentos-keystore/1", kid, name]` as additional data so that a blob moved into another
 * key's file, or a renamed key, does not decrypt. Files are validated strictly (zod, plus kid =
 * fingerprint prefix = file name). scrypt N=2^15, r=8, p=1: 32 MiB, ~0.12 s per derivation (twice
 * Percival's interactive setting; fast enough for a CLI, fits small CI containers). Parameters are
 * stored per file so they can be raised later; derived keys are cached per salt.
 *
 * The passphrase is checked lazily: `list`, `get`, `trust`, `importPublic` and `revoke` never need
 * it (revoking works in an emergency without it). `generate` and `rotate` first check it against a
 * verifier in `store.json` (written by the first `generate`), so a wrong passphrase fails before
 * anything is written and a store never mixes passphrases; `unlock()` checks it eagerly.
 * Writes are atomic (temp file 0600, fsync, rename, fsync of the directory) and serialized (a
 * queue in the process, `store.lock` across processes). An invalid file makes `open` fail with a
 * `USAGE` error naming it: bad input to move away or restore, not a bug (`INTERNAL`).
 *
 * @example
 * ```ts
 * const store = await KeyStore.open('.agentos/keys', { passphrase: 'correct horse' });
 * const info = await store.generate('issuer', { expiresInMs: 30 * 86_400_000 });
 * const sig = signBytes(await store.privateKey('issuer'), message);
 * store.trust(info.kid).ok; // true
 * ```
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { withFileLock } from '../util/file-lock.js';
import { b64u, fingerprint, fromB64u, generateKeyPair, publicKeyOf } from './keys.js';
import type { KeyInfo, KeyProvider, KeyTrust } from './types.js';
import { errno } from '../util/errno.js';

/** The environment variable holding the default passphrase. @example `process.env[PASSPHRASE_ENV] = 'correct horse'` */
export const PASSPHRASE_ENV = 'AGENTOS_KEY_PASSPHRASE';

/** scrypt parameters of new key files (see the module comment). @example `DEFAULT_SCRYPT.N // 32768` */
export const DEFAULT_SCRYPT = Object.freeze({ N: 2 ** 15, r: 8, p: 1 });

/** Options of {@link KeyStore.open}. @example `{ passphrase: async () => readSecret(), now: () => fakeClock }` */
export interface KeyStoreOptions {
  /** The passphrase, or a function asked once when first needed. Default: `$AGENTOS_KEY_PASSPHRASE`. */
  passphrase?: string | (() => string | Promise<string>);
  /** The clock (epoch ms); for tests. */
  now?: () => number;
  /** Create the directory when it is missing (default true); false: a missing store is a usage error. */
  create?: boolean;
}

type ScryptParams = { readonly N: number; readonly r: number; readonly p: number };
const KID_RE = /^[0-9a-f]{16}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const b64 = (len: string) => z.string().regex(new RegExp(`^[A-Za-z0-9_-]${len}$`), 'expected base64url of the right length');
const TIME = z.number().int().nonnegative();
const SealedSchema = z
  .strictObject({
    kdf: z.literal('scrypt'),
    N: z.number().int().min(2 ** 14).max(2 ** 20).refine((n) => (n & (n - 1)) === 0, 'N must be a power of two'),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
    ...{ salt: b64('{22,86}'), cipher: z.literal('aes-256-gcm'), iv: b64('{16}'), tag: b64('{22}'), ciphertext: b64('{0,88}') },
  })
  .refine((s) => s.N * s.r * s.p <= 2 ** 21, 'scrypt cost too high (N·r·p > 2^21)');
const KeyFileSchema = z.strictObject({
  ...{ version: z.literal(1), kid: z.string().regex(KID_RE), name: z.string().regex(NAME_RE) },
  ...{ publicKey: b64('{43}'), fingerprint: z.string().regex(/^[0-9a-f]{64}$/), created: TIME, expires: TIME.optional() },
  status: z.enum(['active', 'rotated', 'revoked']),
  ...{ rotatedAt: TIME.optional(), overlapUntil: TIME.optional(), successor: z.string().regex(KID_RE).optional() },
  ...{ revokedAt: TIME.optional(), revocationReason: z.string().min(1).max(1000).optional() },
  encryptedPrivateKey: SealedSchema.optional(),
});
const StoreFileSchema = z.strictObject({ version: z.literal(1), verifier: SealedSchema });
type Sealed = z.infer<typeof SealedSchema>;
type KeyFile = z.infer<typeof KeyFileSchema>;
type StoreFile = z.infer<typeof StoreFileSchema>;

const VERIFIER_AAD = Buffer.from('["agentos-keystore/1","store-verifier"]');
const aadOf = (f: KeyFile) => Buffer.from(JSON.stringify(['agentos-keystore/1', f.kid, f.name]));
const iso = (t: number | undefined) => new Date(t ?? 0).toISOString();

function deriveKey(passphrase: string, salt: Uint8Array, s: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase, salt, 32, { N: s.N, r: s.r, p: s.p, maxmem: 256 * s.N * s.r }, (e, k) => (e ? reject(e) : resolve(k))),
  );
}

function seal(key: Buffer, s: ScryptParams, salt: string, plaintext: Uint8Array, aad: Uint8Array): Sealed {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv).setAAD(aad);
  const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
  return { kdf: 'scrypt', N: s.N, r: s.r, p: s.p, salt, cipher: 'aes-256-gcm', iv: b64u(iv), tag: b64u(c.getAuthTag()), ciphertext: b64u(ciphertext) };
}

/** The plaintext, or undefined when the tag does not verify. */
function unseal(key: Buffer, s: Sealed, aad: Uint8Array): Buffer | undefined {
  try {
    const d = createDecipheriv('aes-256-gcm', key, fromB64u(s.iv)).setAAD(aad);
    d.setAuthTag(fromB64u(s.tag));
    return Buffer.concat([d.update(fromB64u(s.ciphertext)), d.final()]);
  } catch {
    return undefined;
  }
}

function writeAtomic(dir: string, file: string, data: unknown): Promise<void> {
  return writeFileAtomic(join(dir, file), JSON.stringify(data, null, 2) + '\n', 0o600);
}



/** Why a file that parsed is still not a valid key file, or undefined. */
function inconsistency(f: KeyFile, file: string): string | undefined {
  const pub = fromB64u(f.publicKey);
  if (b64u(pub) !== f.publicKey || fingerprint(pub) !== f.fingerprint) return 'the fingerprint is not the public key\'s';
  if (f.kid !== f.fingerprint.slice(0, 16)) return 'the kid is not the fingerprint\'s first 16 hex digits';
  if (file !== `${f.kid}.json`) return `a key file must be named after its kid (${f.kid}.json)`;
  if (f.status === 'rotated' && (f.rotatedAt === undefined || f.overlapUntil === undefined || f.successor === undefined)) return 'a rotated key needs rotatedAt, overlapUntil and successor';
  if (f.status === 'revoked' && (f.revokedAt === undefined || f.revocationReason === undefined)) return 'a revoked key needs revokedAt and revocationReason';
  if (f.status === 'active' && (f.rotatedAt !== undefined || f.revokedAt !== undefined)) return 'an active key cannot have rotatedAt or revokedAt';
  return undefined;
}

/** Parse one file of the store, or say why not. */
function parseFile<T>(schema: z.ZodType<T>, text: string): { ok: true; value: T } | { ok: false; message: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return { ok: false, message: `not JSON (${(e as Error).message})` };
  }
  const r = schema.safeParse(json);
  return r.success ? { ok: true, value: r.data } : { ok: false, message: r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ') };
}

function infoOf(f: KeyFile, at: number): KeyInfo {
  const { version: _v, encryptedPrivateKey: _e, ...info } = f;
  const expired = f.status === 'active' && f.expires !== undefined && f.expires <= at;
  return Object.freeze(expired ? { ...info, status: 'expired' as const } : info);
}

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name) || KID_RE.test(name)) throw new UsageError(`invalid key name ${JSON.stringify(name)}: use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit (and not 16 hex digits, which is a kid)`);
}

function keyFile(name: string, publicKey: Uint8Array, now: number, lifetimeMs: number | undefined): KeyFile {
  const fp = fingerprint(publicKey);
  return { version: 1, kid: fp.slice(0, 16), name, publicKey: b64u(publicKey), fingerprint: fp, created: now, ...(lifetimeMs !== undefined ? { expires: now + lifetimeMs } : {}), status: 'active' };
}

function checkMs(value: number | undefined, what: string, min: number): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < min)) throw new UsageError(`${what} must be a whole number of milliseconds ≥ ${min}, got ${String(value)}`);
}

/** Ed25519 keys in a directory, seeds encrypted at rest (see the module comment). @example `await (await KeyStore.open(dir)).generate('ca')` */
export class KeyStore implements KeyProvider {
  /** The store's directory. */
  readonly dir: string;
  #keys = new Map<string, KeyFile>();
  #store: StoreFile | undefined;
  #source: KeyStoreOptions['passphrase'];
  #passphrase: string | undefined;
  readonly #derived = new Map<string, Buffer>();
  readonly #now: () => number;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, options: KeyStoreOptions) {
    this.dir = dir;
    this.#source = options.passphrase ?? (process.env[PASSPHRASE_ENV] || undefined);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Open the store in `dir` (created with mode 0700 if missing) and read every file in it.
   * @throws UsageError naming any file that is not a valid key file
   * @example `const store = await KeyStore.open('.agentos/keys', { passphrase })`
   */
  static async open(dir: string, options: KeyStoreOptions = {}): Promise<KeyStore> {
    if (options.create === false && !(await stat(dir).then((s) => s.isDirectory(), () => false))) {
      throw new UsageError(`no key store at ${dir}: give the directory that \`agentos keys generate\` created (default .agentos/keys)`);
    }
    await mkdir(dirname(dir), { recursive: true });
    await mkdir(dir, { mode: 0o700 }).catch((e: unknown) => {
      if (errno(e) !== 'EEXIST') throw new UsageError(`key store ${dir}: cannot create the directory (${errno(e)})`);
    });
    const store = new KeyStore(dir, options);
    await store.reload();
    return store;
  }

  /** Re-read the directory (to see changes made by other processes). @example `await store.reload()` */
  async reload(): Promise<void> {
    const files = await readdir(this.dir).catch((e: unknown) => {
      throw new UsageError(`key store ${this.dir}: cannot read the directory (${errno(e)})`);
    });
    const keys = new Map<string, KeyFile>();
    let store: StoreFile | undefined;
    const bad: string[] = [];
    for (const file of files.filter((f) => f.endsWith('.json') && !f.startsWith('.')).sort()) {
      const text = await readFile(join(this.dir, file), 'utf8').catch((e: unknown) => ({ error: errno(e) }));
      if (typeof text !== 'string') {
        bad.push(`${file}: cannot read it (${text.error})`);
      } else if (file === 'store.json') {
        const r = parseFile(StoreFileSchema, text);
        if (r.ok) store = r.value;
        else bad.push(`${file}: ${r.message}`);
      } else {
        const r = parseFile(KeyFileSchema, text);
        const why = r.ok ? inconsistency(r.value, file) : r.message;
        if (why === undefined && r.ok) keys.set(r.value.kid, r.value);
        else bad.push(`${file}: ${why}`);
      }
    }
    if (bad.length > 0) {
      throw new UsageError(`key store ${this.dir}: invalid file${bad.length > 1 ? 's' : ''}: ${bad.join('; ')}; restore from a backup or move out of the directory`, { files: bad });
    }
    this.#keys = keys;
    this.#store = store;
  }

  /** Every key, newest first. @example `store.list().map((k) => k.kid)` */
  list(): readonly KeyInfo[] {
    const at = this.#now();
    return [...this.#keys.values()].sort((a, b) => b.created - a.created || a.kid.localeCompare(b.kid)).map((f) => infoOf(f, at));
  }

  /** A key by kid (any status), or the active, unexpired key of a name. @example `store.get('issuer')?.kid` */
  get(kidOrName: string): KeyInfo | undefined {
    const f = this.#find(kidOrName);
    return f && infoOf(f, this.#now());
  }

  /** Whether the store holds the key's private part (false for imported keys). @example `store.hasPrivateKey(kid)` */
  hasPrivateKey(kidOrName: string): boolean {
    return this.#find(kidOrName)?.encryptedPrivateKey !== undefined;
  }

  /**
   * Whether signatures by `kid` are acceptable at `at`. Refused: unknown, revoked (whatever `at`:
   * a compromised key can backdate), expired at `at`, rotated and `at` past its overlap.
   * @example `if (!store.trust(kid).ok) throw new SandboxError('SIGNATURE_INVALID', …)`
   */
  trust(kid: string, at: number = this.#now()): KeyTrust {
    const f = this.#keys.get(kid);
    if (!f) return { ok: false, reason: `unknown key ${JSON.stringify(kid)}` };
    if (f.status === 'revoked') return { ok: false, reason: `key ${kid} was revoked at ${iso(f.revokedAt)} (${f.revocationReason ?? 'no reason'})` };
    if (f.expires !== undefined && at >= f.expires) return { ok: false, reason: `key ${kid} expired at ${iso(f.expires)}` };
    if (f.status === 'rotated' && at > (f.overlapUntil ?? 0)) {
      return { ok: false, reason: `key ${kid} was rotated at ${iso(f.rotatedAt)} and its overlap ended at ${iso(f.overlapUntil)}; its successor is ${f.successor ?? '?'}` };
    }
    return { ok: true, key: infoOf(f, at) };
  }

  /** Check the passphrase now (UsageError when missing or wrong). @example `await store.unlock() // fail fast at start-up` */
  async unlock(): Promise<void> {
    await this.#checkPassphrase(false);
  }

  /**
   * The decrypted 32-byte seed (by kid, or the active key of a name); rotated and expired keys
   * decrypt, revoked and public-only keys do not. Never writes. @throws UsageError on a wrong passphrase
   * @example `signBytes(await store.privateKey('issuer'), message)`
   */
  async privateKey(kidOrName: string): Promise<Uint8Array> {
    const f = this.#require(kidOrName);
    if (f.status === 'revoked') throw new UsageError(`key ${f.kid} was revoked at ${iso(f.revokedAt)}; its private key is no longer usable`);
    return this.#decrypt(f);
  }

  /**
   * Create a key. A name has at most one active key: use {@link KeyStore.rotate} to replace it.
   * @example `await store.generate('tokens', { expiresInMs: 90 * 86_400_000 })`
   */
  async generate(name: string, options: { expiresInMs?: number } = {}): Promise<KeyInfo> {
    checkName(name);
    checkMs(options.expiresInMs, 'expiresInMs', 1);
    return this.#mutate(async () => {
      const existing = this.get(name);
      if (existing) throw new UsageError(`"${name}" already has an active key (${existing.kid}); rotate it to replace it`);
      await this.#checkPassphrase(true);
      const f = await this.#newKey(name, this.#now(), options.expiresInMs);
      await this.#write(f);
      return infoOf(f, this.#now());
    });
  }

  /**
   * Trust another issuer's public key (no private part: `privateKey` on it is a UsageError).
   * @example `await store.importPublic('partner-ca', fromB64u(theirKey), { expiresInMs: 365 * 86_400_000 })`
   */
  async importPublic(name: string, publicKey: Uint8Array, options: { expiresInMs?: number } = {}): Promise<KeyInfo> {
    checkName(name);
    checkMs(options.expiresInMs, 'expiresInMs', 1);
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) throw new UsageError('an Ed25519 public key is 32 bytes');
    return this.#mutate(async () => {
      const now = this.#now();
      const f = keyFile(name, publicKey, now, options.expiresInMs);
      const known = this.#keys.get(f.kid);
      if (known) throw new UsageError(`key ${known.kid} is already in the store (as "${known.name}")`);
      const existing = this.get(name);
      if (existing) throw new UsageError(`"${name}" already has an active key (${existing.kid}); revoke it first or use another name`);
      await this.#write(f);
      return infoOf(f, now);
    });
  }

  /**
   * Replace the active key of `name`. The old one becomes `rotated`: it still decrypts, `trust` accepts
   * it until `now + overlapMs`. The new key gets the old one's lifetime unless `expiresInMs` is given.
   * @example `const { previous, current } = await store.rotate('issuer', { overlapMs: 7 * 86_400_000 })`
   */
  async rotate(name: string, options: { overlapMs: number; expiresInMs?: number }): Promise<{ previous: KeyInfo; current: KeyInfo }> {
    checkName(name);
    if (typeof options?.overlapMs !== 'number') throw new UsageError('rotate needs { overlapMs }: how long the old key stays trusted');
    checkMs(options.overlapMs, 'overlapMs', 0);
    checkMs(options.expiresInMs, 'expiresInMs', 1);
    return this.#mutate(async () => {
      const prev = this.#find(name);
      if (!prev) throw new UsageError(`no active key named "${name}"; generate one`);
      if (!prev.encryptedPrivateKey) throw new UsageError(`key ${prev.kid} ("${name}") is public-only; import the issuer's new key instead`);
      await this.#checkPassphrase(true);
      const now = this.#now();
      const next = await this.#newKey(name, now, options.expiresInMs ?? (prev.expires !== undefined ? prev.expires - prev.created : undefined));
      const old: KeyFile = { ...prev, status: 'rotated', rotatedAt: now, overlapUntil: now + options.overlapMs, successor: next.kid };
      // The old key first: a crash in between leaves no active key (generate again), never two.
      await this.#write(old);
      await this.#write(next);
      return { previous: infoOf(old, now), current: infoOf(next, now) };
    });
  }

  /**
   * Revoke a key (by kid, or the active key of a name): `trust` refuses it from now on, at any time. No passphrase needed.
   * @example `await store.revoke('3f2a9c0d1e2b4a5f', 'laptop stolen')`
   */
  async revoke(kidOrName: string, reason: string): Promise<KeyInfo> {
    if (typeof reason !== 'string' || reason.trim() === '' || reason.length > 1000) throw new UsageError('a revocation needs a reason (1–1000 characters)');
    return this.#mutate(async () => {
      const f = this.#require(kidOrName);
      if (f.status === 'revoked') throw new UsageError(`key ${f.kid} was already revoked at ${iso(f.revokedAt)}`);
      const revoked: KeyFile = { ...f, status: 'revoked', revokedAt: this.#now(), revocationReason: reason.trim() };
      await this.#write(revoked);
      return infoOf(revoked, this.#now());
    });
  }

  #find(kidOrName: string): KeyFile | undefined {
    if (KID_RE.test(kidOrName)) return this.#keys.get(kidOrName);
    const at = this.#now();
    return [...this.#keys.values()].filter((f) => f.name === kidOrName && infoOf(f, at).status === 'active').sort((a, b) => b.created - a.created)[0];
  }

  #require(kidOrName: string): KeyFile {
    const f = this.#find(kidOrName);
    if (f) return f;
    throw new UsageError(KID_RE.test(kidOrName) ? `no key ${kidOrName} in ${this.dir}` : `no active key named ${JSON.stringify(kidOrName)} in ${this.dir}; give a kid instead`);
  }

  async #write(f: KeyFile): Promise<void> {
    await writeAtomic(this.dir, `${f.kid}.json`, f);
    this.#keys.set(f.kid, f);
  }

  /** Serialize a change: the in-process queue, the file lock, then a fresh read of the directory. */
  #mutate<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => withFileLock(join(this.dir, 'store.lock'), `key store ${this.dir}`, async () => (await this.reload(), fn())));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #pass(): Promise<string> {
    if (this.#passphrase === undefined) {
      const p = typeof this.#source === 'function' ? await this.#source() : this.#source;
      if (typeof p !== 'string' || p === '') {
        throw new UsageError(`key store ${this.dir}: this needs the key passphrase; set the environment variable ${PASSPHRASE_ENV} or pass the passphrase option (agentos keys: --passphrase-file FILE)`);
      }
      this.#passphrase = p.normalize('NFC');
    }
    return this.#passphrase;
  }

  async #derive(s: ScryptParams & { salt: string }): Promise<Buffer> {
    const id = `${s.N}.${s.r}.${s.p}.${s.salt}`;
    let key = this.#derived.get(id);
    if (!key) this.#derived.set(id, (key = await deriveKey(await this.#pass(), fromB64u(s.salt), s)));
    return key;
  }

  async #decrypt(f: KeyFile): Promise<Uint8Array> {
    const s = f.encryptedPrivateKey;
    if (!s) throw new UsageError(`key ${f.kid} ("${f.name}") is public-only (imported without its private key)`);
    const seed = unseal(await this.#derive(s), s, aadOf(f));
    if (!seed || seed.length !== 32 || !Buffer.from(publicKeyOf(seed)).equals(fromB64u(f.publicKey))) {
      seed?.fill(0);
      throw new UsageError(`wrong passphrase for key ${f.kid} (or the key file was altered)`, { kid: f.kid });
    }
    return new Uint8Array(seed);
  }

  /** Check the passphrase against store.json (without one: a stored key); with `write`, create store.json. */
  async #checkPassphrase(write: boolean): Promise<void> {
    await this.#pass();
    if (this.#store) {
      const v = this.#store.verifier;
      if (!unseal(await this.#derive(v), v, VERIFIER_AAD)) throw new UsageError(`wrong passphrase for the key store ${this.dir} (or its store.json was altered)`);
      return;
    }
    const sample = [...this.#keys.values()].find((f) => f.encryptedPrivateKey);
    if (sample) (await this.#decrypt(sample)).fill(0);
    if (!write) return;
    const salt = b64u(randomBytes(16));
    const store: StoreFile = { version: 1, verifier: seal(await this.#derive({ ...DEFAULT_SCRYPT, salt }), DEFAULT_SCRYPT, salt, randomBytes(16), VERIFIER_AAD) };
    await writeAtomic(this.dir, 'store.json', store);
    this.#store = store;
  }

  async #newKey(name: string, now: number, lifetimeMs: number | undefined): Promise<KeyFile> {
    const pair = generateKeyPair();
    const base = keyFile(name, pair.publicKey, now, lifetimeMs);
    if (this.#keys.has(base.kid)) throw new UsageError(`key id collision for ${base.kid}; try again`);
    const salt = b64u(randomBytes(16));
    const encryptedPrivateKey = seal(await this.#derive({ ...DEFAULT_SCRYPT, salt }), DEFAULT_SCRYPT, salt, pair.privateKey, aadOf(base));
    pair.privateKey.fill(0);
    return { ...base, encryptedPrivateKey };
  }
}
