/**
 * The encrypted key-value store of agents (host side): values in LevelDB, each encrypted under
 * the store's data key (`protector.ts`), by namespace, with TTLs, quotas and sweeps. Key space
 * (namespaces and keys never contain NUL, so it is unambiguous): `v\0<ns>\0<key>` → a value
 * record; `m\0datakey` → the wrapped data key (JSON).
 *
 * Usage counters (key + value bytes, and keys, per namespace; expired values count until swept)
 * live in memory, computed by a scan at open and kept exact by serializing the writes of each
 * key: a write reads the old record, checks the quota and reserves its growth, then writes.
 *
 * Values are written with `sync: false` (they survive a process kill, not a power cut); the
 * data key's wrap with `sync: true`: losing it would lose every value. LevelDB is used from the
 * main thread only (a LevelDB handle on a worker thread once crashed the process with SIGBUS).
 *
 * @example
 * ```ts
 * const kv = await KvStore.open({ dir: '.agentos/kv', wrapper: keyStoreWrapper(keys) });
 * await kv.set('agent-1', 'notes/today', new TextEncoder().encode('hello'), { ttlMs: 86_400_000, limits: { maxBytes: 1 << 20 } });
 * const got = await kv.get('agent-1', 'notes/today'); // { value, createdAt, expiresAt }
 * await kv.close();
 * ```
 */
import { mkdir } from 'node:fs/promises';
import { isMainThread } from 'node:worker_threads';
import { ClassicLevel } from 'classic-level';
import { LimitError, UsageError } from '../errors.js';
import { errno } from '../util/errno.js';
import { AgentDataProtector, parseWrapped, RECORD_OVERHEAD, type KeyWrapper } from './protector.js';
import { dueReason, expired, type KvRetention, type KvSweptEntry } from './sweeper.js';

/**
 * Per-namespace limits of one write (none by default, beyond {@link KV_MAX_VALUE_BYTES});
 * `maxBytes` bounds the namespace's key bytes (UTF-8) plus value bytes.
 * @example `{ maxBytes: 10 << 20, maxKeys: 10_000, maxValueBytes: 1 << 20 }`
 */
export interface KvLimits { readonly maxBytes?: number; readonly maxKeys?: number; readonly maxValueBytes?: number }

/** One entry of {@link KvStore.list}: `size` in value bytes, times in epoch ms (`createdAt`: the last write). @example `{ key: 'notes/today', size: 5, createdAt: 1700000000000 }` */
export interface KvEntryMeta { readonly key: string; readonly size: number; readonly createdAt: number; readonly expiresAt?: number }

/** Largest value accepted whatever the limits: a LevelDB value is held whole in memory (memtable, batch, reads). @example `value.length <= KV_MAX_VALUE_BYTES` */
export const KV_MAX_VALUE_BYTES = 16 * 1024 * 1024;

/**
 * A write would take a namespace past one of its {@link KvLimits}: a `QUOTA_EXCEEDED`
 * {@link LimitError}, so hosts handle it like the sandbox's other quotas.
 * @example `catch (e) { if (e instanceof KvQuotaError) tellAgent(e.limit, e.allowed) }`
 */
export class KvQuotaError extends LimitError {
  constructor(readonly limit: 'maxBytes' | 'maxKeys' | 'maxValueBytes', readonly allowed: number, readonly requested: number) {
    super('QUOTA_EXCEEDED', `kv quota exceeded: ${limit} is ${allowed}, the write needs ${requested}`, { limit, allowed, requested });
    this.name = 'KvQuotaError';
  }
}

/**
 * Options of {@link KvStore.open}: the LevelDB directory (created 0700 if missing), the wrapper
 * of the data key, and the clock (epoch ms; for tests).
 * @example `{ dir: '.agentos/kv', wrapper: fileKeyWrapper('.agentos/kv.kek') }`
 */
export interface KvOpenOptions { readonly dir: string; readonly wrapper: KeyWrapper; readonly now?: () => number }

type DB = ClassicLevel<string, Uint8Array>;
type Usage = { bytes: number; keys: number };

const META_KEY = 'm\0datakey';
const [VALUES_LO, VALUES_HI] = ['v\0', 'v\x01'];
const [MAX_KEY_BYTES, MAX_NS_CHARS, DEFAULT_LIST, MAX_LIST] = [512, 256, 1000, 10_000];
/** Control characters (C0, DEL, C1) and lone surrogates: the latter would be stored as U+FFFD, merging distinct keys. */
const BAD_CHAR = /[\p{Cc}\p{Cs}]/u;
const noop = () => undefined;

const show = (s: string) => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s);

/** Check a name's type, length (`n`, computed by `measure`) and characters. */
function checkName(s: unknown, what: string, min: number, max: number, unit: string, measure: (s: string) => number): number {
  if (typeof s !== 'string') throw new UsageError(`${what} must be a string`);
  const n = measure(s);
  if (n < min || n > max) throw new UsageError(`invalid ${what} ${show(s)}: it must be ${min}–${max} ${unit}`);
  if (BAD_CHAR.test(s)) throw new UsageError(`invalid ${what} ${show(s)}: control characters (NUL included) and unpaired surrogates are not allowed`);
  return n;
}

/** UTF-8 bytes of a valid key (1–512 bytes; 0 allowed for a list prefix). A UTF-16 unit is at least one byte: a long string fails unmeasured. */
const keyBytes = (key: string, what: string, min = 1) =>
  checkName(key, what, min, MAX_KEY_BYTES, 'bytes of UTF-8', (k) => (k.length > MAX_KEY_BYTES ? MAX_KEY_BYTES + 1 : Buffer.byteLength(k)));
/** A namespace is 1–256 characters (code points; counted only for the long ones). */
const checkNs = (ns: string) => checkName(ns, 'kv namespace', 1, MAX_NS_CHARS, 'characters', (s) => (s.length <= MAX_NS_CHARS ? s.length : [...s].length));

function checkCount(v: number | undefined, what: string, min: number): void {
  if (v !== undefined && (!Number.isSafeInteger(v) || v < min)) throw new UsageError(`${what} must be a whole number ≥ ${min}, got ${String(v)}`);
}

/** The smallest byte string above every one that starts with `b` (never empty here): UTF-8 has no 0xFF byte, so the last byte can always grow. */
function successor(b: Buffer): Buffer {
  const s = Buffer.from(b);
  s[s.length - 1]!++;
  return s;
}

/** Order of LevelDB's keys: UTF-8 bytes, i.e. code points (JavaScript's default sort uses UTF-16 units). */
const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Stored bytes a record counts for: its key's UTF-8 bytes and its plaintext's. */
const sizeOf = (keyBytes: number, record: Uint8Array) => keyBytes + Math.max(0, record.length - RECORD_OVERHEAD);
/** Namespace and key of a value's LevelDB key. */
function split(k: string): [string, string] {
  const at = k.indexOf('\0', 2);
  return [k.slice(2, at), k.slice(at + 1)];
}

function isLocked(e: unknown): boolean {
  for (let x = e as { code?: string; cause?: unknown } | undefined; x; x = x.cause as typeof x) if (x.code === 'LEVEL_LOCKED') return true;
  return false;
}

/** The encrypted key-value store (see the module comment). @example `const kv = await KvStore.open({ dir, wrapper })` */
export class KvStore {
  readonly #usage = new Map<string, Usage>();
  /** The tail of each key's queue of writes; removed when it drains. */
  readonly #pending = new Map<string, Promise<void>>();
  #sweeping: Promise<unknown> | undefined;
  #closed = false;

  private constructor(
    /** Where the database lives. */
    readonly dir: string,
    private readonly db: DB,
    private readonly p: AgentDataProtector,
    private kid: string,
    private readonly now: () => number,
  ) {}

  /**
   * Open the store in `dir`; on first open, create it and its data key (wrapped under `wrapper`).
   * Fails closed: a wrapper of another kid, or whose KEK does not unwrap the data key, is a
   * UsageError saying which kid the store is wrapped under.
   * @example `const kv = await KvStore.open({ dir: '.agentos/kv', wrapper: fileKeyWrapper('.agentos/kv.kek') })`
   */
  static async open(o: KvOpenOptions): Promise<KvStore> {
    if (!isMainThread) throw new UsageError('the kv store must be opened on the main thread (LevelDB handles on worker threads have crashed the process)');
    if (typeof o?.dir !== 'string' || o.dir === '') throw new UsageError('KvStore.open needs { dir }');
    if (typeof o.wrapper?.kid !== 'string' || typeof o.wrapper.kek !== 'function') throw new UsageError('KvStore.open needs { wrapper }: keyStoreWrapper(keys) or fileKeyWrapper(path)');
    const now = o.now ?? Date.now;
    await mkdir(o.dir, { recursive: true, mode: 0o700 }).catch((e: unknown) => {
      throw new UsageError(`kv store ${o.dir}: cannot create the directory (${errno(e)})`);
    });
    const db: DB = new ClassicLevel<string, Uint8Array>(o.dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (e) {
      const why = isLocked(e) ? 'another process (or another KvStore in this one) has it open' : ((e as { cause?: Error }).cause?.message ?? (e as Error).message);
      throw new UsageError(`kv store ${o.dir} cannot be opened: ${why}`, { locked: isLocked(e) });
    }
    try {
      const stored = await db.get(META_KEY);
      let p: AgentDataProtector;
      if (stored === undefined) {
        // Values without their data key can never be read again; a new key would hide that.
        for await (const _ of db.keys({ gte: VALUES_LO, lt: VALUES_HI, limit: 1 })) {
          throw new UsageError(`kv store ${o.dir} holds values but its data key record is missing; restore it from a backup`);
        }
        const created = await AgentDataProtector.create(o.wrapper, now());
        await db.put(META_KEY, Buffer.from(JSON.stringify(created.wrapped)), { sync: true });
        p = created.protector;
      } else {
        p = await AgentDataProtector.unwrap(parseWrapped(stored, o.dir), o.wrapper, o.dir);
      }
      const store = new KvStore(o.dir, db, p, o.wrapper.kid, now);
      await store.#scan();
      return store;
    } catch (e) {
      await db.close().catch(noop);
      throw e;
    }
  }

  /** The kid of the KEK the data key is wrapped under now. @example `kv.wrappedBy // 'file:3f2a…'` */
  get wrappedBy(): string { return this.kid; }

  /** The id of the data key (16 hex digits), recorded in every value. @example `kv.dataKeyId` */
  get dataKeyId(): string { return this.p.dataKeyId; }

  /**
   * A value and its times; undefined when absent or expired. A value that fails its integrity
   * check (altered, copied from another key, sealed under another data key) is never returned:
   * a UsageError names the key.
   * @example `const v = await kv.get('agent-1', 'config'); if (v) use(v.value)`
   */
  async get(ns: string, key: string): Promise<{ value: Uint8Array; createdAt: number; expiresAt?: number } | undefined> {
    this.#check(ns, key);
    const k = `v\0${ns}\0${key}`;
    const record = await this.db.get(k);
    if (record === undefined) return undefined;
    const h = AgentDataProtector.header(record);
    if (expired(h, this.now())) return undefined;
    const value = h && this.p.open(ns, key, record);
    if (!h || !value) {
      throw new UsageError(`kv value ${show(key)} in namespace ${show(ns)} failed its integrity check (altered, copied from another key, or written under another data key); it is not returned`, { namespace: ns, key });
    }
    return h.expiresAt !== 0 ? { value, createdAt: h.createdAt, expiresAt: h.expiresAt } : { value, createdAt: h.createdAt };
  }

  /**
   * Store a value (replacing any), expiring after `ttlMs` if given.
   * @throws KvQuotaError when the namespace would exceed a limit (a write that does not grow the namespace is always allowed)
   * @example `await kv.set('agent-1', 'config', bytes, { ttlMs: 3_600_000, limits: { maxKeys: 100 } })`
   */
  async set(ns: string, key: string, value: Uint8Array, o: { ttlMs?: number; limits?: KvLimits } = {}): Promise<void> {
    const kb = this.#check(ns, key);
    const k = `v\0${ns}\0${key}`;
    if (!(value instanceof Uint8Array)) throw new UsageError('a kv value must be a Uint8Array');
    const { ttlMs, limits = {} } = o;
    checkCount(ttlMs, 'ttlMs', 1);
    for (const l of ['maxBytes', 'maxKeys', 'maxValueBytes'] as const) checkCount(limits[l], l, 0);
    const maxValue = Math.min(limits.maxValueBytes ?? KV_MAX_VALUE_BYTES, KV_MAX_VALUE_BYTES);
    if (value.length > maxValue) throw new KvQuotaError('maxValueBytes', maxValue, value.length);
    // Behind another write of this key the value is sealed later: copy it, since callers may
    // reuse their buffer once this returns (otherwise it is sealed before `set` returns).
    if (this.#pending.has(k)) value = Uint8Array.from(value);
    return this.#serial(k, async () => {
      // The old record's length keeps the counters exact on an overwrite. Read synchronously:
      // an async read (a hop to LevelDB's thread pool and back) made a write cost 3x a raw put;
      // a point read is served from LevelDB's caches or the OS page cache in microseconds, and
      // blocks the event loop for one disk read at worst.
      const old = this.db.getSync(k);
      const oldSize = old === undefined ? 0 : sizeOf(kb, old);
      const size = kb + value.length;
      const u = this.#usage.get(ns) ?? { bytes: 0, keys: 0 };
      const newKey = old === undefined ? 1 : 0;
      if (newKey && limits.maxKeys !== undefined && u.keys + 1 > limits.maxKeys) throw new KvQuotaError('maxKeys', limits.maxKeys, u.keys + 1);
      const bytes = u.bytes - oldSize + size;
      if (size > oldSize && limits.maxBytes !== undefined && bytes > limits.maxBytes) throw new KvQuotaError('maxBytes', limits.maxBytes, bytes);
      const now = this.now();
      const record = this.p.seal(ns, key, value, now, ttlMs === undefined ? 0 : Math.min(now + ttlMs, Number.MAX_SAFE_INTEGER));
      // Growth is reserved before the write and shrinkage applied after it: while the write is
      // in flight the counters over-count, never under-count, so concurrent writes to other keys
      // cannot slip past a quota.
      const grow = Math.max(0, size - oldSize);
      this.#account(ns, grow, newKey);
      try {
        await this.db.put(k, record, { sync: false });
      } catch (e) {
        this.#account(ns, -grow, -newKey);
        throw e;
      }
      this.#account(ns, size - oldSize - grow, 0);
    });
  }

  /**
   * Remove a value. True when a live value was removed (an expired one is removed too, but
   * reads as absent, as in {@link KvStore.get}).
   * @example `if (await kv.delete('agent-1', 'config')) log('removed')`
   */
  async delete(ns: string, key: string): Promise<boolean> {
    this.#check(ns, key);
    const k = `v\0${ns}\0${key}`;
    return (await this.#remove(ns, key, k, (old) => !expired(AgentDataProtector.header(old), this.now()))) ?? false;
  }

  /**
   * Keys of `ns` starting with `prefix`, in order of their UTF-8 bytes, without expired ones.
   * Reads only that key range (and only the records' headers: nothing is decrypted).
   * @example `for (const e of await kv.list('agent-1', 'notes/', { limit: 50 })) console.log(e.key, e.size)`
   */
  async list(ns: string, prefix: string, o: { limit?: number } = {}): Promise<KvEntryMeta[]> {
    this.#checkOpen();
    checkNs(ns);
    keyBytes(prefix, 'kv key prefix', 0);
    const limit = o.limit ?? DEFAULT_LIST;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_LIST) throw new UsageError(`list limit must be 1–${MAX_LIST}, got ${String(limit)}`);
    const base = `v\0${ns}\0`;
    const lo = Buffer.from(base + prefix);
    const skip = Buffer.byteLength(base);
    const now = this.now();
    const out: KvEntryMeta[] = [];
    for await (const [k, v] of this.#records<Buffer>(lo, successor(lo), 'buffer', Math.min(limit, 1000))) {
      const h = AgentDataProtector.header(v) ?? { createdAt: 0, expiresAt: 0, size: 0 };
      if (expired(h, now)) continue;
      const { createdAt, expiresAt, size } = h;
      out.push({ key: k.toString('utf8', skip), size, createdAt, ...(expiresAt !== 0 ? { expiresAt } : {}) });
      if (out.length === limit) break;
    }
    this.#checkOpen(); // closed meanwhile: the listing stopped early, and must not pass for complete
    return out;
  }

  /**
   * Namespaces holding at least one value (expired but unswept ones included), in byte order.
   * From the in-memory counters: no scan.
   * @example `for (const ns of await kv.namespaces()) console.log(ns, kv.usage(ns))`
   */
  async namespaces(): Promise<string[]> {
    this.#checkOpen();
    return [...this.#usage.keys()].sort(byBytes);
  }

  /** Bytes (keys + values) and keys of a namespace, from the in-memory counters. @example `kv.usage('agent-1').bytes` */
  usage(ns: string): { bytes: number; keys: number } {
    checkNs(ns);
    const u = this.#usage.get(ns);
    return { bytes: u?.bytes ?? 0, keys: u?.keys ?? 0 };
  }

  /**
   * Delete values past their TTL, and, where `retention(ns, key)` gives a rule with
   * `autoDelete`, values older than its `ms` (counted from their last write). Scans every value's
   * header; each deletion re-reads the value under its key's queue, so a value rewritten during
   * the sweep is kept.
   * @example `const gone = await kv.sweep((ns) => ns.startsWith('tmp-') ? { ms: 86_400_000, autoDelete: true } : undefined)`
   */
  async sweep(retention?: (ns: string, key: string) => KvRetention | undefined): Promise<KvSweptEntry[]> {
    this.#checkOpen();
    // One sweep at a time, and `close` waits for it (a sweep stops at the next value once closing).
    const run = (this.#sweeping ?? Promise.resolve()).catch(noop).then(() => this.#sweep(retention));
    this.#sweeping = run;
    return run;
  }

  /**
   * Re-wrap the data key under another KEK: one synced write of the key record, values
   * untouched. The new wrap is unwrapped once before it is written, so a wrapper whose KEK is
   * not reproducible cannot lock the store.
   * @example `await kv.rotateWrapping(keyStoreWrapper(keys)) // after keys.rotate('kv-data', …)`
   */
  async rotateWrapping(w: KeyWrapper): Promise<void> {
    this.#checkOpen();
    if (typeof w?.kid !== 'string' || typeof w.kek !== 'function') throw new UsageError('rotateWrapping needs a key wrapper');
    return this.#serial(META_KEY, async () => {
      const wrapped = await this.p.wrap(w, this.now());
      await AgentDataProtector.unwrap(wrapped, w, this.dir);
      await this.db.put(META_KEY, Buffer.from(JSON.stringify(wrapped)), { sync: true });
      this.kid = w.kid;
    });
  }

  /** Wait for the writes under way, then close the database. @example `await kv.close()` */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sweeping?.catch(noop);
    while (this.#pending.size > 0) await Promise.all(this.#pending.values());
    await this.db.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new UsageError(`kv store ${this.dir} is closed`);
  }

  /** Validate a namespace and key (and that the store is open); the key's UTF-8 bytes. */
  #check(ns: string, key: string): number {
    this.#checkOpen();
    checkNs(ns);
    return keyBytes(key, 'kv key');
  }

  /** Delete `k` under its key's queue if it exists and `due(record)` is not undefined; what `due` said. */
  #remove<T>(ns: string, key: string, k: string, due: (record: Uint8Array) => T | undefined): Promise<T | undefined> {
    return this.#serial(k, async () => {
      const old = await this.db.get(k);
      const why = old && due(old);
      if (!old || why === undefined) return undefined;
      await this.db.del(k, { sync: false });
      this.#account(ns, -sizeOf(Buffer.byteLength(key), old), -1);
      return why;
    });
  }

  /** Add to a namespace's counters (dropping it at zero, so `namespaces` lists only occupied ones). */
  #account(ns: string, bytes: number, keys: number): void {
    let u = this.#usage.get(ns);
    if (!u) this.#usage.set(ns, (u = { bytes: 0, keys: 0 }));
    u.bytes += bytes;
    u.keys += keys;
    if (u.keys === 0 && u.bytes === 0) this.#usage.delete(ns);
  }

  /** Run `fn` after the writes already queued for `k`. */
  #serial<T>(k: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#pending.get(k);
    const run = prev ? prev.then(fn) : fn();
    const tail = run.then(noop, noop);
    this.#pending.set(k, tail);
    void tail.then(() => {
      if (this.#pending.get(k) === tail) this.#pending.delete(k);
    });
    return run;
  }

  /** The records of a key range in key order, `batch` at a time, without filling LevelDB's cache; stops when the store closes. */
  async *#records<K = string>(gte: K, lt: K, keyEncoding: 'utf8' | 'buffer' = 'utf8', batch = 1000): AsyncGenerator<[K, Uint8Array]> {
    const it = this.db.iterator<K, Uint8Array>({ gte, lt, keyEncoding, fillCache: false });
    try {
      for (let got = await it.nextv(batch); got.length > 0 && !this.#closed; got = await it.nextv(batch)) yield* got;
    } finally {
      await it.close();
    }
  }

  /** Compute the usage counters at open: one pass over the records' lengths (nothing is decrypted). */
  async #scan(): Promise<void> {
    for await (const [k, v] of this.#records(VALUES_LO, VALUES_HI)) {
      const [ns, key] = split(k);
      this.#account(ns, sizeOf(Buffer.byteLength(key), v), 1);
    }
  }

  async #sweep(retention: ((ns: string, key: string) => KvRetention | undefined) | undefined): Promise<KvSweptEntry[]> {
    const now = this.now();
    const gone: KvSweptEntry[] = [];
    for await (const [k, v] of this.#records(VALUES_LO, VALUES_HI)) {
      if (this.#closed) break;
      const [ns, key] = split(k);
      const h = AgentDataProtector.header(v);
      const rule = h && retention?.(ns, key);
      if (!h || !dueReason(h, now, rule)) continue;
      // Decided again on the current record under the key's queue: a value rewritten since the
      // scan read it is judged by its new times.
      const reason = await this.#remove(ns, key, k, (current) => dueReason(AgentDataProtector.header(current) ?? h, now, rule));
      if (reason) gone.push({ ns, key, reason });
    }
    return gone;
  }
}
