/**
 * The encrypted key-value store on a real LevelDB in temporary directories, checked from the
 * outside too: a raw classic-level handle reads and tampers with what the store wrote.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterAll, describe, expect, it } from 'vitest';
import { SandboxError, UsageError } from '../errors.js';
import { KeyStore } from '../identity/keystore.js';
import { fileKeyWrapper, keyStoreWrapper, KvQuotaError, KvStore, startKvSweeper, type KeyWrapper } from './index.js';

const root = mkdtempSync(join(tmpdir(), 'agentos-kv-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (what = 'kv') => join(root, `${what}-${n++}`);
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

/** A store in a fresh directory, with a fresh file key and a settable clock. */
async function setup(o: { now?: () => number } = {}) {
  const dir = fresh();
  const wrapper = fileKeyWrapper(fresh('kek'));
  const kv = await KvStore.open({ dir, wrapper, ...o });
  return { dir, wrapper, kv };
}

/** Every value record the store wrote, read with a raw LevelDB handle (the store must be closed). */
async function rawValues(dir: string): Promise<Map<string, Buffer>> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  try {
    const out = new Map<string, Buffer>();
    for await (const [k, v] of db.iterator()) out.set(k, Buffer.from(v));
    return out;
  } finally {
    await db.close();
  }
}

/** Apply `fn` to the database with a raw handle (the store must be closed). */
async function raw(dir: string, fn: (db: ClassicLevel<string, Uint8Array>) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

async function rejection(p: Promise<unknown>): Promise<SandboxError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SandboxError);
  return e as SandboxError;
}

describe('KvStore', () => {
  it('round-trips values, overwrites and deletes them', async () => {
    let t = 1_700_000_000_000;
    const { kv } = await setup({ now: () => t });
    expect(kv.dataKeyId).toMatch(/^[0-9a-f]{16}$/);
    expect(await kv.get('ns', 'k')).toBeUndefined();
    await kv.set('ns', 'k', enc('hello'));
    expect(await kv.get('ns', 'k')).toEqual({ value: expect.any(Uint8Array), createdAt: t });
    expect(dec((await kv.get('ns', 'k'))?.value)).toBe('hello');
    t += 5;
    await kv.set('ns', 'k', enc('bye'));
    expect((await kv.get('ns', 'k'))?.createdAt).toBe(t);
    expect(dec((await kv.get('ns', 'k'))?.value)).toBe('bye');
    await kv.set('ns', 'empty', new Uint8Array(0));
    expect((await kv.get('ns', 'empty'))?.value.length).toBe(0);
    expect(await kv.delete('ns', 'k')).toBe(true);
    expect(await kv.delete('ns', 'k')).toBe(false);
    expect(await kv.get('ns', 'k')).toBeUndefined();
    await kv.close();
    await expect(kv.get('ns', 'empty')).rejects.toThrow(/closed/);
  });

  it('keeps no plaintext on disk', async () => {
    const { dir, kv } = await setup();
    const secret = 'PLAINTEXT-SECRET-'.repeat(20);
    for (let i = 0; i < 50; i++) await kv.set('ns', `k${i}`, enc(`${secret}${i}`));
    await kv.close();
    const values = await rawValues(dir);
    expect(values.size).toBe(51); // 50 values and the wrapped data key
    for (const v of values.values()) expect(v.includes(Buffer.from('PLAINTEXT-SECRET-'))).toBe(false);
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f)).includes(Buffer.from('PLAINTEXT-SECRET-'))).toBe(false);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('fails closed on a value copied under another key or namespace, or altered', async () => {
    const { dir, wrapper, kv } = await setup();
    await kv.set('ns', 'a', enc('value of a'), { ttlMs: 60_000 });
    await kv.set('ns', 'c', enc('value of c'));
    await kv.close();
    await raw(dir, async (db) => {
      const a = Buffer.from((await db.get('v\0ns\0a'))!);
      const c = Buffer.from((await db.get('v\0ns\0c'))!);
      await db.put('v\0ns\0b', a);
      await db.put('v\0other\0a', a);
      c[c.length - 1]! ^= 1; // one ciphertext bit
      await db.put('v\0ns\0c', c);
      a[20]! ^= 1; // expiresAt, pushed later
      await db.put('v\0ns\0a', a);
    });
    const again = await KvStore.open({ dir, wrapper });
    for (const [ns, key] of [['ns', 'b'], ['other', 'a'], ['ns', 'c'], ['ns', 'a']] as const) {
      const e = await rejection(again.get(ns, key));
      expect(e).toBeInstanceOf(UsageError);
      expect(e.message).toContain(`"${key}"`);
      expect(e.message).toContain('integrity');
    }
    await again.close();
  });

  it('refuses a wrong key-encryption key at open, naming the kid the store is wrapped under', async () => {
    const { dir, wrapper, kv } = await setup();
    await kv.set('ns', 'k', enc('v'));
    await kv.close();
    const other = fileKeyWrapper(fresh('kek'));
    const e = await rejection(KvStore.open({ dir, wrapper: other }));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toContain(wrapper.kid);
    // Same kid, other bytes: the GCM check of the wrap fails.
    const impostor: KeyWrapper = { kid: wrapper.kid, kek: async () => new Uint8Array(32).fill(7) };
    const e2 = await rejection(KvStore.open({ dir, wrapper: impostor }));
    expect(e2.message).toMatch(new RegExp(`wrapped under key ${wrapper.kid}.*do not unwrap`));
    const ok = await KvStore.open({ dir, wrapper });
    expect(dec((await ok.get('ns', 'k'))?.value)).toBe('v');
    await ok.close();
  });

  it('refuses a store whose data key record is missing', async () => {
    const { dir, wrapper, kv } = await setup();
    await kv.set('ns', 'k', enc('v'));
    await kv.close();
    await raw(dir, (db) => db.del('m\0datakey'));
    expect((await rejection(KvStore.open({ dir, wrapper }))).message).toContain('data key record is missing');
  });

  it('refuses a second handle on an open store', async () => {
    const { dir, wrapper, kv } = await setup();
    expect((await rejection(KvStore.open({ dir, wrapper }))).message).toContain('has it open');
    await kv.close();
  });

  it('rotates the wrapping without touching the values', async () => {
    const { dir, wrapper, kv } = await setup();
    const id = kv.dataKeyId;
    for (let i = 0; i < 10; i++) await kv.set('ns', `k${i}`, enc(`v${i}`));
    await kv.close();
    const before = await rawValues(dir);
    const next = fileKeyWrapper(fresh('kek'));
    const s = await KvStore.open({ dir, wrapper });
    await s.rotateWrapping(next);
    expect(s.wrappedBy).toBe(next.kid);
    expect(dec((await s.get('ns', 'k3'))?.value)).toBe('v3');
    await s.close();
    const after = await rawValues(dir);
    for (const [k, v] of before) if (k.startsWith('v\0')) expect(after.get(k)?.equals(v)).toBe(true);
    expect(after.get('m\0datakey')?.equals(before.get('m\0datakey')!)).toBe(false);
    expect((await rejection(KvStore.open({ dir, wrapper }))).message).toContain(next.kid);
    const reopened = await KvStore.open({ dir, wrapper: next });
    expect(reopened.dataKeyId).toBe(id);
    expect(dec((await reopened.get('ns', 'k9'))?.value)).toBe('v9');
    // A wrapper whose KEK changes between calls would lock the store: refused before writing.
    let flip = 0;
    const unstable: KeyWrapper = { kid: 'unstable', kek: async () => new Uint8Array(32).fill(flip++) };
    await rejection(reopened.rotateWrapping(unstable));
    expect(reopened.wrappedBy).toBe(next.kid);
    await reopened.close();
    await (await KvStore.open({ dir, wrapper: next })).close();
  });

  it('wraps under a key of the key store, and follows its rotation', async () => {
    const keys = await KeyStore.open(fresh('keys'), { passphrase: 'correct horse battery staple' });
    expect(() => keyStoreWrapper(keys)).toThrow(/agentos keys generate kv-data/);
    const first = await keys.generate('kv-data');
    const w1 = keyStoreWrapper(keys);
    expect(w1.kid).toBe(first.kid);
    const dir = fresh();
    const kv = await KvStore.open({ dir, wrapper: w1 });
    await kv.set('ns', 'k', enc('under the key store'));
    const { current } = await keys.rotate('kv-data', { overlapMs: 0 });
    const w2 = keyStoreWrapper(keys);
    expect(w2.kid).toBe(current.kid);
    await kv.rotateWrapping(w2);
    await kv.close();
    expect((await rejection(KvStore.open({ dir, wrapper: w1 }))).message).toContain(current.kid);
    const again = await KvStore.open({ dir, wrapper: w2 });
    expect(again.wrappedBy).toBe(current.kid);
    expect(dec((await again.get('ns', 'k'))?.value)).toBe('under the key store');
    await again.close();
  });

  it('expires values after their TTL (injected clock), and sweeps them', async () => {
    let t = 1_000_000;
    const { kv } = await setup({ now: () => t });
    await kv.set('ns', 'short', enc('x'), { ttlMs: 100 });
    await kv.set('ns', 'gone', enc('z'), { ttlMs: 100 });
    await kv.set('ns', 'forever', enc('y'));
    expect(await kv.get('ns', 'short')).toMatchObject({ createdAt: 1_000_000, expiresAt: 1_000_100 });
    t += 99;
    expect(await kv.get('ns', 'short')).toBeDefined();
    t += 1;
    expect(await kv.get('ns', 'short')).toBeUndefined();
    expect(await kv.delete('ns', 'gone')).toBe(false); // removed, but it had already expired
    expect((await kv.list('ns', '')).map((e) => e.key)).toEqual(['forever']);
    expect(kv.usage('ns')).toEqual({ bytes: 'short'.length + 1 + 'forever'.length + 1, keys: 2 }); // counted until swept
    expect(await kv.sweep()).toEqual([{ ns: 'ns', key: 'short', reason: 'ttl' }]);
    expect(kv.usage('ns')).toEqual({ bytes: 'forever'.length + 1, keys: 1 });
    expect(await kv.sweep()).toEqual([]);
    await kv.close();
  });

  it('sweeps by retention: autoDelete deletes, otherwise keeps', async () => {
    let t = 5_000;
    const { kv } = await setup({ now: () => t });
    await kv.set('auto', 'old', enc('1'));
    await kv.set('manual', 'old', enc('2'));
    t += 1000;
    await kv.set('auto', 'young', enc('3'));
    t += 600;
    const rule = (ns: string) => (ns === 'auto' ? { ms: 1000, autoDelete: true } : ns === 'manual' ? { ms: 1000, autoDelete: false } : undefined);
    expect(await kv.sweep(rule)).toEqual([{ ns: 'auto', key: 'old', reason: 'retention' }]);
    expect(await kv.get('auto', 'old')).toBeUndefined();
    expect(await kv.get('auto', 'young')).toBeDefined();
    expect(await kv.get('manual', 'old')).toBeDefined();
    await kv.close();
  });

  it('runs sweeps in the background sweeper', async () => {
    let t = 0;
    const { kv } = await setup({ now: () => t });
    await kv.set('ns', 'k', enc('v'), { ttlMs: 10 });
    t = 10;
    const seen: unknown[] = [];
    const sweeper = startKvSweeper(kv, { intervalMs: 3_600_000, onSwept: (g) => seen.push(...g) });
    expect(await sweeper.sweepNow()).toEqual([{ ns: 'ns', key: 'k', reason: 'ttl' }]);
    expect(seen).toHaveLength(1);
    await sweeper.stop();
    await kv.close();
  });

  it('enforces quotas and keeps usage exact through overwrites and deletes', async () => {
    const { dir, wrapper, kv } = await setup();
    const e = await rejection(kv.set('q', 'k', new Uint8Array(11), { limits: { maxValueBytes: 10 } }));
    expect(e).toBeInstanceOf(KvQuotaError);
    expect(e.code).toBe('QUOTA_EXCEEDED');
    expect(e).toMatchObject({ limit: 'maxValueBytes', allowed: 10, requested: 11 });

    const limits = { maxBytes: 20 };
    await kv.set('q', 'k1', new Uint8Array(8), { limits });
    await kv.set('q', 'k2', new Uint8Array(8), { limits });
    expect(kv.usage('q')).toEqual({ bytes: 20, keys: 2 });
    expect(await rejection(kv.set('q', 'k3', new Uint8Array(1), { limits }))).toMatchObject({ limit: 'maxBytes', allowed: 20, requested: 23 });
    await kv.set('q', 'k1', new Uint8Array(2), { limits }); // overwrite: 8 → 2
    expect(kv.usage('q')).toEqual({ bytes: 14, keys: 2 });
    expect(await kv.delete('q', 'k2')).toBe(true);
    expect(kv.usage('q')).toEqual({ bytes: 4, keys: 1 });
    // Lowered below the usage: a write that shrinks the namespace still goes through.
    await kv.set('q', 'k1', new Uint8Array(1), { limits: { maxBytes: 1 } });

    // Concurrent writes of distinct keys: exactly maxKeys of them succeed.
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => kv.set('c', `key${i}`, new Uint8Array(4), { limits: { maxKeys: 5 } })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof KvQuotaError && r.reason.limit === 'maxKeys')).toHaveLength(15);
    const written = results.findIndex((r) => r.status === 'fulfilled');
    await kv.set('c', `key${written}`, new Uint8Array(9), { limits: { maxKeys: 5 } }); // an overwrite adds no key
    expect(kv.usage('c').keys).toBe(5);
    // Concurrent writes of one key run in call order: the counters follow the last one.
    await Promise.all(Array.from({ length: 10 }, (_, i) => kv.set('same', 'k', new Uint8Array(i))));
    expect(kv.usage('same')).toEqual({ bytes: 1 + 9, keys: 1 });
    expect((await kv.get('same', 'k'))?.value.length).toBe(9);
    const before = { q: kv.usage('q'), c: kv.usage('c') };
    await kv.close();
    const again = await KvStore.open({ dir, wrapper });
    expect({ q: again.usage('q'), c: again.usage('c') }).toEqual(before); // the scan at open agrees
    expect(await again.namespaces()).toEqual(['c', 'q', 'same']);
    await again.close();
  });

  it('isolates namespaces', async () => {
    const { kv } = await setup();
    await kv.set('a', 'k', enc('in a'));
    await kv.set('b', 'k', enc('in b'));
    expect(dec((await kv.get('a', 'k'))?.value)).toBe('in a');
    expect(dec((await kv.get('b', 'k'))?.value)).toBe('in b');
    await kv.delete('a', 'k');
    expect(await kv.get('a', 'k')).toBeUndefined();
    expect(dec((await kv.get('b', 'k'))?.value)).toBe('in b');
    expect(await kv.namespaces()).toEqual(['b']);
    expect(kv.usage('a')).toEqual({ bytes: 0, keys: 0 });
    await kv.close();
  });

  it('rejects invalid namespaces, keys, prefixes and limits', async () => {
    const { kv } = await setup();
    const v = enc('v');
    for (const key of ['', 'a\0b', 'tab\there', 'del\x7f', 'c1\u0085', 'lone\uD800', 'é'.repeat(257), 'x'.repeat(513)]) {
      expect(await rejection(kv.set('ns', key, v))).toBeInstanceOf(UsageError);
      expect(await rejection(kv.get('ns', key))).toBeInstanceOf(UsageError);
    }
    for (const ns of ['', 'a\0', 'line\n', 'n'.repeat(257)]) expect(await rejection(kv.set(ns, 'k', v))).toBeInstanceOf(UsageError);
    await kv.set('😀'.repeat(256), 'é'.repeat(256), v); // 256 characters, 512 bytes: the maxima
    expect(await kv.get('😀'.repeat(256), 'é'.repeat(256))).toBeDefined();
    await rejection(kv.list('ns', 'a\0'));
    await rejection(kv.list('ns', '', { limit: 0 }));
    await rejection(kv.list('ns', '', { limit: 10_001 }));
    await rejection(kv.set('ns', 'k', v, { ttlMs: 0 }));
    await rejection(kv.set('ns', 'k', v, { limits: { maxKeys: -1 } }));
    await rejection(kv.set('ns', 'k', 'text' as unknown as Uint8Array));
    await kv.close();
  });

  it('lists by prefix within one namespace only', async () => {
    const { kv } = await setup();
    for (const k of ['b1', 'a2', 'a1', 'ab', 'é1', 'a']) await kv.set('a', k, enc(k.repeat(2)));
    await kv.set('ab', 'a9', enc('other namespace'));
    await kv.set('a\u00ff', 'a8', enc('a namespace above "a" in byte order'));
    expect((await kv.list('a', 'a')).map((e) => e.key)).toEqual(['a', 'a1', 'a2', 'ab']);
    expect((await kv.list('a', '')).map((e) => e.key)).toEqual(['a', 'a1', 'a2', 'ab', 'b1', 'é1']);
    expect((await kv.list('a', 'é')).map((e) => e.key)).toEqual(['é1']);
    expect((await kv.list('a', 'c')).map((e) => e.key)).toEqual([]);
    expect((await kv.list('ab', '')).map((e) => e.key)).toEqual(['a9']);
    expect((await kv.list('a', 'a', { limit: 2 })).map((e) => e.key)).toEqual(['a', 'a1']);
    expect((await kv.list('a', 'a1'))[0]).toMatchObject({ key: 'a1', size: 4 });
    await kv.close();
  });
});

describe('fileKeyWrapper', () => {
  it('creates a private key file and refuses one others may read', () => {
    const path = join(fresh('kekdir'), 'sub', 'kv.kek');
    const w = fileKeyWrapper(path);
    expect(w.kid).toMatch(/^file:[0-9a-f]{16}$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(fileKeyWrapper(path).kid).toBe(w.kid); // read again, not recreated
    if (process.platform !== 'win32') {
      chmodSync(path, 0o644);
      expect(() => fileKeyWrapper(path)).toThrow(/chmod 600/);
    }
    const short = fresh('kek');
    writeFileSync(short, Buffer.alloc(31), { mode: 0o600 });
    expect(() => fileKeyWrapper(short)).toThrow(/exactly 32 bytes/);
  });

  it('notices a key file replaced after the wrapper was built', async () => {
    const path = fresh('kek');
    const w = fileKeyWrapper(path);
    writeFileSync(path, Buffer.alloc(32, 1));
    await expect(w.kek()).rejects.toThrow(/changed/);
  });
});
