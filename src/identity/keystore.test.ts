/**
 * The key store on real files in temporary directories.
 */
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SandboxError, UsageError } from '../errors.js';
import { fingerprint, fromB64u, publicKeyOf, signBytes, verifyBytes, generateKeyPair } from './keys.js';
import { DEFAULT_SCRYPT, KeyStore, PASSPHRASE_ENV } from './keystore.js';

const root = mkdtempSync(join(tmpdir(), 'agentos-keystore-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `store-${n++}`);
const PASS = 'correct horse battery staple';

/** Every file of a directory and its bytes. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}
const readJson = (dir: string, kid: string) => JSON.parse(readFileSync(join(dir, `${kid}.json`), 'utf8')) as Record<string, any>;
const writeJson = (dir: string, kid: string, v: unknown) => writeFileSync(join(dir, `${kid}.json`), JSON.stringify(v));

async function rejection(p: Promise<unknown>): Promise<SandboxError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SandboxError);
  return e as SandboxError;
}

let savedEnv: string | undefined;
beforeEach(() => {
  savedEnv = process.env[PASSPHRASE_ENV];
  delete process.env[PASSPHRASE_ENV];
});
afterEach(() => {
  if (savedEnv === undefined) delete process.env[PASSPHRASE_ENV];
  else process.env[PASSPHRASE_ENV] = savedEnv;
});

describe('KeyStore generate / list / get / privateKey', () => {
  it('creates keys whose kid and fingerprint derive from the public key, and decrypts their seeds', async () => {
    const dir = freshDir();
    const store = await KeyStore.open(dir, { passphrase: PASS });
    expect(statSync(dir).isDirectory()).toBe(true);
    const info = await store.generate('issuer', { expiresInMs: 86_400_000 });
    const pub = fromB64u(info.publicKey);
    expect(pub).toHaveLength(32);
    expect(info).toMatchObject({ name: 'issuer', status: 'active', fingerprint: fingerprint(pub), kid: fingerprint(pub).slice(0, 16) });
    expect(info.expires! - info.created).toBe(86_400_000);
    expect(store.get('issuer')).toEqual(info);
    expect(store.get(info.kid)).toEqual(info);
    expect(store.get('nobody')).toBeUndefined();

    const seed = await store.privateKey('issuer');
    expect(seed).toHaveLength(32);
    expect(publicKeyOf(seed)).toEqual(pub);
    const msg = new TextEncoder().encode('hello');
    expect(verifyBytes(pub, msg, signBytes(seed, msg))).toBe(true);

    const other = await store.generate('tokens');
    expect(store.list().map((k) => k.name).sort()).toEqual(['issuer', 'tokens']);
    expect(other.expires).toBeUndefined();
    const e = await rejection(store.generate('issuer'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toMatch(/already has an active key .*rotate/);

    // A second instance (another process) reads the same keys and decrypts them.
    const again = await KeyStore.open(dir, { passphrase: PASS });
    expect(again.list()).toEqual(store.list());
    expect(await again.privateKey(info.kid)).toEqual(seed);
  });

  it('reads the passphrase from AGENTOS_KEY_PASSPHRASE, or asks a function once, when first needed', async () => {
    const dir = freshDir();
    process.env[PASSPHRASE_ENV] = PASS;
    const info = await (await KeyStore.open(dir)).generate('a');
    delete process.env[PASSPHRASE_ENV];
    let asked = 0;
    const store = await KeyStore.open(dir, { passphrase: async () => (asked++, PASS) });
    expect(asked).toBe(0);
    await store.privateKey(info.kid);
    await store.privateKey('a');
    expect(asked).toBe(1);
  });

  it('refuses bad names and arguments with usage errors', async () => {
    const store = await KeyStore.open(freshDir(), { passphrase: PASS });
    for (const bad of ['', '-x', 'a b', 'x'.repeat(65), '0123456789abcdef', 'a/b']) {
      expect((await rejection(store.generate(bad))).code, bad).toBe('USAGE');
    }
    expect(await rejection(store.generate('a', { expiresInMs: -5 }))).toBeInstanceOf(UsageError);
    expect(await rejection(store.rotate('a', {} as { overlapMs: number }))).toBeInstanceOf(UsageError);
    expect(await rejection(store.revoke('a', ' '))).toBeInstanceOf(UsageError);
    expect(await rejection(store.importPublic('p', new Uint8Array(31)))).toBeInstanceOf(UsageError);
  });
});

describe('KeyStore at rest', () => {
  it('keeps the seed encrypted: it appears in no encoding in the file; files are 0600 in a 0700 directory', async () => {
    const dir = freshDir();
    const store = await KeyStore.open(dir, { passphrase: PASS });
    const info = await store.generate('issuer');
    const seed = Buffer.from(await store.privateKey('issuer'));
    const bytes = readFileSync(join(dir, `${info.kid}.json`));
    const text = bytes.toString('utf8');
    for (const enc of ['hex', 'base64', 'base64url'] as const) expect(text).not.toContain(seed.toString(enc).replace(/=+$/, ''));
    expect(bytes.includes(seed)).toBe(false);
    expect(text).not.toContain(PASS);
    const file = readJson(dir, info.kid);
    expect(Object.keys(file).sort()).toEqual(['created', 'encryptedPrivateKey', 'fingerprint', 'kid', 'name', 'publicKey', 'status', 'version']);
    expect(file['encryptedPrivateKey']).toMatchObject({ kdf: 'scrypt', ...DEFAULT_SCRYPT, cipher: 'aes-256-gcm' });
    expect(fromB64u(file['encryptedPrivateKey'].iv)).toHaveLength(12);
    expect(fromB64u(file['encryptedPrivateKey'].ciphertext)).toHaveLength(32);
    if (process.platform !== 'win32') {
      expect(statSync(join(dir, `${info.kid}.json`)).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'store.json')).mode & 0o777).toBe(0o600);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    }
    expect(readdirSync(dir).sort()).toEqual([`${info.kid}.json`, 'store.json']); // no temp or lock file left
  });

  it('a wrong passphrase fails cleanly and leaves every file byte-identical', async () => {
    const dir = freshDir();
    const good = await KeyStore.open(dir, { passphrase: PASS });
    const info = await good.generate('issuer');
    await good.generate('tokens');
    const before = snapshot(dir);
    const bad = await KeyStore.open(dir, { passphrase: 'Tr0ub4dor&3' });
    expect(bad.list()).toHaveLength(2); // public operations need no passphrase
    const e = await rejection(bad.privateKey('issuer'));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.code).toBe('USAGE');
    expect(e.message).toBe(`wrong passphrase for key ${info.kid} (or the key file was altered)`);
    expect((await rejection(bad.generate('third'))).message).toMatch(/^wrong passphrase for the key store/);
    expect((await rejection(bad.rotate('issuer', { overlapMs: 1000 }))).message).toMatch(/^wrong passphrase/);
    expect((await rejection(bad.unlock())).message).toMatch(/^wrong passphrase/);
    expect(snapshot(dir)).toEqual(before);
    await good.unlock();
  });

  it('without a passphrase: public operations work; private ones name the variable', async () => {
    const dir = freshDir();
    await (await KeyStore.open(dir, { passphrase: PASS })).generate('issuer');
    const store = await KeyStore.open(dir);
    expect(store.get('issuer')?.status).toBe('active');
    expect(store.trust(store.get('issuer')!.kid).ok).toBe(true);
    const e = await rejection(store.privateKey('issuer'));
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain(PASSPHRASE_ENV);
    expect((await rejection(store.generate('other'))).message).toContain(PASSPHRASE_ENV);
  });

  it('detects blobs swapped between key files, renamed keys and moved files', async () => {
    const dir = freshDir();
    const store = await KeyStore.open(dir, { passphrase: PASS });
    const a = await store.generate('alpha');
    const b = await store.generate('beta');
    const fa = readJson(dir, a.kid);
    const fb = readJson(dir, b.kid);
    writeJson(dir, a.kid, { ...fa, encryptedPrivateKey: fb['encryptedPrivateKey'] });
    writeJson(dir, b.kid, { ...fb, encryptedPrivateKey: fa['encryptedPrivateKey'] });
    const swapped = await KeyStore.open(dir, { passphrase: PASS });
    expect((await rejection(swapped.privateKey(a.kid))).message).toBe(`wrong passphrase for key ${a.kid} (or the key file was altered)`);
    expect((await rejection(swapped.privateKey(b.kid))).message).toBe(`wrong passphrase for key ${b.kid} (or the key file was altered)`);

    writeJson(dir, a.kid, { ...fa, name: 'gamma' }); // the name is authenticated too
    expect((await rejection((await KeyStore.open(dir, { passphrase: PASS })).privateKey(a.kid))).message).toMatch(/^wrong passphrase for key/);

    writeJson(dir, a.kid, fa);
    renameSync(join(dir, `${b.kid}.json`), join(dir, 'ffffffffffffffff.json'));
    const e = await rejection(KeyStore.open(dir));
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('ffffffffffffffff.json');
  });

  it('reports a truncated, garbage or altered file by name, and refuses extra fields and wrong types', async () => {
    const dir = freshDir();
    const store = await KeyStore.open(dir, { passphrase: PASS });
    const info = await store.generate('issuer');
    const good = readFileSync(join(dir, `${info.kid}.json`), 'utf8');
    const file = JSON.parse(good) as Record<string, unknown>;
    const cases: [string, string | RegExp][] = [
      [good.slice(0, good.length / 2), /not JSON/],
      ['\u0000\u0001garbage', /not JSON/],
      [JSON.stringify({ ...file, extra: true }), /extra/],
      [JSON.stringify({ ...file, created: 'yesterday' }), /created/],
      [JSON.stringify({ ...file, status: 'expired' }), /status/],
      [JSON.stringify({ ...file, status: 'revoked' }), /revokedAt/],
      [JSON.stringify({ ...file, fingerprint: 'a'.repeat(64) }), /fingerprint/],
      [JSON.stringify({ ...file, encryptedPrivateKey: { ...(file['encryptedPrivateKey'] as object), N: 2 ** 30 } }), /encryptedPrivateKey\.N/],
    ];
    for (const [content, why] of cases) {
      writeFileSync(join(dir, `${info.kid}.json`), content);
      const e = await rejection(KeyStore.open(dir));
      expect(e.code).toBe('USAGE');
      expect(e.message).toContain(`${info.kid}.json`);
      expect(e.message).toMatch(why);
      expect((await rejection(store.generate('another'))).message).toContain(`${info.kid}.json`); // writes re-read first
    }
    writeFileSync(join(dir, `${info.kid}.json`), good);
    expect((await KeyStore.open(dir)).get('issuer')).toEqual(info);
  });
});

describe('KeyStore lifecycle', () => {
  it('rotation: the new key is active, the old one decrypts and is trusted until its overlap ends', async () => {
    let t = 1_700_000_000_000;
    const dir = freshDir();
    const store = await KeyStore.open(dir, { passphrase: PASS, now: () => t });
    const first = await store.generate('issuer', { expiresInMs: 30 * 86_400_000 });
    t += 1000;
    const { previous, current } = await store.rotate('issuer', { overlapMs: 5000 });
    expect(previous).toMatchObject({ kid: first.kid, status: 'rotated', rotatedAt: t, overlapUntil: t + 5000, successor: current.kid });
    expect(current).toMatchObject({ name: 'issuer', status: 'active', created: t, expires: t + 30 * 86_400_000 });
    expect(store.get('issuer')?.kid).toBe(current.kid);
    expect(store.list().map((k) => k.kid)).toEqual([current.kid, first.kid]);
    expect(publicKeyOf(await store.privateKey(first.kid))).toEqual(fromB64u(first.publicKey));
    expect(store.trust(first.kid)).toMatchObject({ ok: true, key: { status: 'rotated' } });
    t += 5000;
    expect(store.trust(first.kid).ok).toBe(true);
    t += 1;
    const refused = store.trust(first.kid);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.reason).toMatch(/rotated at .* overlap ended at .*successor is/);
    expect(store.trust(first.kid, t - 10).ok).toBe(true); // a signature checked at its own time
    expect(store.trust(current.kid).ok).toBe(true);
    expect((await KeyStore.open(dir, { now: () => t })).trust(first.kid).ok).toBe(false); // persisted
    expect((await rejection(store.rotate('nobody', { overlapMs: 0 }))).message).toMatch(/no active key/);
  });

  it('revocation is persisted, refuses trust at any time, needs no passphrase and cannot be repeated', async () => {
    const dir = freshDir();
    const info = await (await KeyStore.open(dir, { passphrase: PASS })).generate('issuer');
    const store = await KeyStore.open(dir); // no passphrase
    const revoked = await store.revoke('issuer', 'laptop stolen');
    expect(revoked).toMatchObject({ kid: info.kid, status: 'revoked', revocationReason: 'laptop stolen' });
    const again = await KeyStore.open(dir, { passphrase: PASS });
    const t = again.trust(info.kid, info.created);
    expect(t.ok).toBe(false);
    expect(!t.ok && t.reason).toMatch(/revoked at \d{4}-.*\(laptop stolen\)/);
    expect(again.get(info.kid)?.status).toBe('revoked');
    expect(again.get('issuer')).toBeUndefined();
    expect((await rejection(again.privateKey(info.kid))).message).toMatch(/revoked/);
    expect((await rejection(again.revoke(info.kid, 'again'))).message).toMatch(/already revoked/);
    expect((await again.generate('issuer')).status).toBe('active'); // the name is free again
    expect(again.trust('0000000000000000')).toEqual({ ok: false, reason: 'unknown key "0000000000000000"' });
  });

  it('expired keys: status computed from the clock, trust refused, the name free for a new key', async () => {
    let t = 1_000_000;
    const store = await KeyStore.open(freshDir(), { passphrase: PASS, now: () => t });
    const info = await store.generate('short', { expiresInMs: 1000 });
    expect(store.trust(info.kid).ok).toBe(true);
    t += 1000;
    expect(store.get(info.kid)?.status).toBe('expired');
    expect(store.get('short')).toBeUndefined();
    const r = store.trust(info.kid);
    expect(!r.ok && r.reason).toMatch(/expired at/);
    expect(store.trust(info.kid, t - 1).ok).toBe(true);
    expect((await store.generate('short')).kid).not.toBe(info.kid);
  });

  it('public-only keys: trusted, no private key, cannot rotate; importing a known key is refused', async () => {
    const dir = freshDir();
    const store = await KeyStore.open(dir); // importing needs no passphrase
    const theirs = generateKeyPair();
    const info = await store.importPublic('partner-ca', theirs.publicKey, { expiresInMs: 86_400_000 });
    expect(info).toMatchObject({ name: 'partner-ca', status: 'active', fingerprint: fingerprint(theirs.publicKey) });
    expect(store.trust(info.kid).ok).toBe(true);
    expect(store.hasPrivateKey(info.kid)).toBe(false);
    expect(readJson(dir, info.kid)['encryptedPrivateKey']).toBeUndefined();
    const withPass = await KeyStore.open(dir, { passphrase: PASS });
    expect((await rejection(withPass.privateKey('partner-ca'))).message).toMatch(/public-only/);
    expect((await rejection(withPass.rotate('partner-ca', { overlapMs: 0 }))).message).toMatch(/public-only/);
    expect((await rejection(store.importPublic('again', theirs.publicKey))).message).toMatch(/already in the store/);
    await withPass.revoke('partner-ca', 'issuer compromised');
    expect(withPass.trust(info.kid).ok).toBe(false);
  });

  it('concurrent writes: different names all land; the same name only once', async () => {
    const dir = freshDir();
    const store = await KeyStore.open(dir, { passphrase: PASS });
    const names = ['a', 'b', 'c', 'd', 'e'];
    const infos = await Promise.all(names.map((name) => store.generate(name)));
    expect(new Set(infos.map((i) => i.kid)).size).toBe(5);
    const other = await KeyStore.open(dir, { passphrase: PASS });
    expect(other.list().map((k) => k.name).sort()).toEqual(names);
    // Two instances (as two processes would) racing for one name: the lock and re-read let one win.
    const results = await Promise.allSettled([store.generate('same'), other.generate('same'), store.generate('same')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(readdirSync(dir).filter((f) => f.endsWith('.json'))).toHaveLength(7); // 6 keys + store.json
    expect(readdirSync(dir).filter((f) => f.startsWith('.') || f.endsWith('.lock'))).toEqual([]);
  });
});
