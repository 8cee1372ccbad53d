/**
 * `agentos keys | sign | verify | token` and `agentos run --trust` end to end, through the
 * built CLI, on a real key store on disk.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-identity-cli-');
afterAll(() => tmp.cleanup());
const PASS = 'correct horse battery staple';

function agentos(args: string[], env: Record<string, string | undefined> = { AGENTOS_KEY_PASSPHRASE: PASS }, input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    cwd: tmp.dir,
    timeout: 60_000,
    env: { ...process.env, AGENTOS_KEY_PASSPHRASE: undefined, ...env, XDG_CACHE_HOME: join(TEST_CACHE_DIR, 'xdg') },
    ...(input !== undefined ? { input } : {}),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const json = (r: { stdout: string }) => JSON.parse(r.stdout) as Record<string, any>;
/** Every file of a directory with its bytes. */
const snapshot = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));

const component = join(tmp.dir, 'echo.wasm');
beforeAll(() => {
  writeFileSync(component, readFileSync(fixturePath('echo')));
  expect(agentos(['keys', 'generate', 'publisher']).status).toBe(0);
  expect(agentos(['keys', 'generate', 'tokens']).status).toBe(0);
});

describe('agentos keys', () => {
  it('generate, list, export: public data only, private keys encrypted at rest', () => {
    const list = json(agentos(['keys', 'list', '--json'], {}));
    expect(list['keys'].map((k: { name: string }) => k.name).sort()).toEqual(['publisher', 'tokens']);
    const pub = list['keys'].find((k: { name: string }) => k.name === 'publisher');
    expect(pub).toMatchObject({ status: 'active', publicOnly: false });
    const exported = json(agentos(['keys', 'export', 'publisher', '--json'], {}));
    expect(exported).toMatchObject({ kid: pub.kid, publicKey: pub.publicKey, jwk: { kty: 'OKP', crv: 'Ed25519', x: pub.publicKey } });
    const file = readFileSync(join(tmp.dir, '.agentos', 'keys', `${pub.kid}.json`), 'utf8');
    expect(file).toContain('scrypt');
    expect(file).not.toMatch(/"(d|seed|privateKey)"\s*:/);
  });

  it('a missing or wrong passphrase fails cleanly (exit 2) and leaves the key store byte-identical', () => {
    const dir = join(tmp.dir, '.agentos', 'keys');
    const before = snapshot(dir);
    const missing = agentos(['keys', 'rotate', 'publisher', '--overlap', '1h'], {});
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('AGENTOS_KEY_PASSPHRASE');
    const wrong = agentos(['keys', 'rotate', 'publisher', '--overlap', '1h'], { AGENTOS_KEY_PASSPHRASE: 'wrong' });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/wrong passphrase/);
    expect(agentos(['keys', 'generate', 'other'], { AGENTOS_KEY_PASSPHRASE: 'wrong' }).status).toBe(2);
    expect(snapshot(dir)).toEqual(before);
    // The passphrase from a file works; the command line never takes it.
    writeFileSync(join(tmp.dir, 'pass.txt'), `${PASS}\n`);
    expect(agentos(['keys', 'generate', 'from-file', '--passphrase-file', 'pass.txt'], {}).status).toBe(0);
    expect(agentos(['keys', 'generate', 'x', '--passphrase', PASS]).status).toBe(2);
  });

  it('rotate keeps the old key trusted for the overlap; revoke ends trust at once, without the passphrase', () => {
    expect(agentos(['keys', 'generate', 'rot']).status).toBe(0);
    const signed = join(tmp.dir, 'rot.wasm');
    expect(agentos(['sign', component, '--key', 'rot', '--agent-type', 'echo', '--capabilities', '', '-o', signed]).status).toBe(0);
    const r = json(agentos(['keys', 'rotate', 'rot', '--overlap', '1h', '--json']));
    expect(r['previous']['status']).toBe('rotated');
    expect(r['current']['status']).toBe('active');
    expect(agentos(['verify', signed]).status).toBe(0); // within the overlap
    expect(agentos(['keys', 'revoke', r['previous']['kid'], '--reason', 'leaked'], {}).status).toBe(0);
    const v = agentos(['verify', signed, '--json'], {});
    expect(v.status).toBe(1);
    expect(json(v)).toMatchObject({ ok: false, code: 'UNTRUSTED_ISSUER' });
    expect(agentos(['keys', 'revoke', r['previous']['kid'], '--reason', 'again'], {}).status).toBe(2);
  });

  it('refuses odd arguments with exit 2 and a message', () => {
    for (const args of [['keys'], ['keys', 'frobnicate'], ['keys', 'generate'], ['keys', 'generate', '../evil'], ['keys', 'generate', 'k', '--expires', 'soon'], ['keys', 'rotate', 'nope', '--overlap', '1h'], ['keys', 'revoke', 'nope', '--reason', 'x']]) {
      const r = agentos(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect((r.stderr + r.stdout).length, args.join(' ')).toBeGreaterThan(0);
    }
  });
});

describe('agentos sign | verify | run --trust', () => {
  it('a signed component verifies and runs under --trust; its claims are printed', () => {
    const signed = join(tmp.dir, 'signed.wasm');
    const s = agentos(['sign', component, '--key', 'publisher', '--agent-type', 'echo', '--capabilities', 'read_files', '-o', signed, '--json']);
    expect(s.status, s.stderr).toBe(0);
    expect(json(s)['claims']).toMatchObject({ iss: 'publisher', agentType: 'echo', capabilities: ['read_files'] });
    const v = agentos(['verify', signed, '--json'], {});
    expect(v.status).toBe(0);
    expect(json(v)).toMatchObject({ ok: true, claims: { sub: 'echo' } });
    const run = agentos(['run', signed, '--trust', '.agentos/keys', '--task', 'signed hello', '--json'], {});
    expect(run.status, run.stderr).toBe(0);
    expect(json(run)).toMatchObject({ ok: true, output: 'signed hello' });
  });

  it('flipped bytes, an unsigned component and an untrusted issuer are refused with SIGNATURE_INVALID', () => {
    const signed = join(tmp.dir, 'signed2.wasm');
    expect(agentos(['sign', component, '--key', 'publisher', '--agent-type', 'echo', '--capabilities', '', '-o', signed]).status).toBe(0);
    const bytes = readFileSync(signed);
    for (const at of [0, 9, Math.floor(bytes.length / 2), bytes.length - 1]) {
      const bad = Buffer.from(bytes);
      bad[at]! ^= 0x01;
      const file = join(tmp.dir, `flip-${at}.wasm`);
      writeFileSync(file, bad);
      expect(agentos(['verify', file], {}).status, `byte ${at}`).toBe(1);
      const r = agentos(['run', file, '--trust', '.agentos/keys', '--task', 'x', '--json'], {});
      expect(r.status, `byte ${at}`).toBe(2);
      expect(json(r)['error']['code'], `byte ${at}`).toMatch(/SIGNATURE_INVALID|COMPONENT_INVALID/);
    }
    const unsigned = agentos(['run', component, '--trust', '.agentos/keys', '--task', 'x', '--json'], {});
    expect(unsigned.status).toBe(2);
    expect(json(unsigned)['error']).toMatchObject({ code: 'SIGNATURE_INVALID' });
    expect(json(unsigned)['error']['message']).toMatch(/agentos sign/);
    expect(agentos(['run', component, '--trust', '.agentos/keys', '--allow-unsigned', '--task', 'x']).stdout.trim()).toBe('x');
    // Another key store does not trust the publisher.
    expect(agentos(['keys', 'generate', 'someone', '--dir', 'other-keys']).status).toBe(0);
    const foreign = agentos(['run', signed, '--trust', 'other-keys', '--task', 'x', '--json'], {});
    expect(foreign.status).toBe(2);
    expect(json(foreign)['error']['code']).toBe('SIGNATURE_INVALID');
    expect(agentos(['run', component, '--allow-unsigned', '--task', 'x']).status).toBe(2);
  });

  it('refuses to sign what is not a component, and never creates a key store it was only asked to read', () => {
    writeFileSync(join(tmp.dir, 'garbage.wasm'), 'not wasm at all');
    const g = agentos(['sign', 'garbage.wasm', '--key', 'publisher', '--agent-type', 'echo', '--capabilities', '']);
    expect(g.status).toBe(2);
    expect(g.stderr).toMatch(/not a WebAssembly component/);
    expect(readFileSync(join(tmp.dir, 'garbage.wasm'), 'utf8')).toBe('not wasm at all');
    const v = agentos(['verify', 'garbage.wasm', '--json'], {});
    expect(v.status).toBe(1);
    expect(json(v)).toMatchObject({ ok: false, code: 'MALFORMED' });
    for (const args of [['run', component, '--trust', 'no-such-store', '--task', 'x'], ['verify', component, '--keys', 'no-such-store'], ['token', 'verify', 'a.b.c', '--keys', 'no-such-store']]) {
      const r = agentos(args, {});
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/no key store at no-such-store/);
    }
    expect(readdirSync(tmp.dir)).not.toContain('no-such-store');
  });
});

describe('agentos token', () => {
  const agentKey = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;
  const otherKey = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;

  it('issue, verify bound to the agent key, revoke persistently (by token or jti)', () => {
    const issued = agentos(['token', 'issue', '--agent-id', 'agent-1', '--agent-type', 'echo', `--agent-key=${agentKey}`, '--scope', 'read_files', '--json']);
    expect(issued.status, issued.stderr).toBe(0);
    const { token, claims } = json(issued);
    expect(claims).toMatchObject({ sub: 'agent-1', agent_type: 'echo', scope: ['read_files'] });
    expect(agentos(['token', 'verify', token, `--agent-key=${agentKey}`, '--agent-id', 'agent-1'], {}).status).toBe(0);
    // From standard input, too.
    const stdin = agentos(['token', 'verify', '-', `--agent-key=${agentKey}`], {}, token);
    expect(stdin.status, stdin.stdout + stdin.stderr).toBe(0);
    // Another agent's key: refused.
    const other = agentos(['token', 'verify', token, `--agent-key=${otherKey}`, '--json'], {});
    expect(other.status).toBe(1);
    expect(json(other)).toMatchObject({ ok: false, code: 'KEY_MISMATCH' });
    expect(json(agentos(['token', 'verify', token, `--agent-key=${agentKey}`, '--agent-id', 'agent-2', '--json'], {}))).toMatchObject({ ok: false, code: 'WRONG_AGENT' });
    expect(agentos(['token', 'revoke', token, '--reason', 'test'], {}).status).toBe(0);
    const revoked = agentos(['token', 'verify', token, `--agent-key=${agentKey}`, '--json'], {});
    expect(revoked.status).toBe(1);
    expect(json(revoked)['code']).toBe('REVOKED');
    const second = json(agentos(['token', 'issue', '--agent-id', 'agent-1', '--agent-type', 'echo', `--agent-key=${agentKey}`, '--kind', 'session', '--ttl', '10m', '--json']));
    expect(agentos(['token', 'revoke', second['claims']['jti'], '--reason', 'by id'], {}).status).toBe(0);
    expect(json(agentos(['token', 'verify', second['token'], '--json'], {}))['code']).toBe('REVOKED');
  });

  it('alg none and HS256 keyed with the public key are refused with BAD_ALG', async () => {
    const { createHmac } = await import('node:crypto');
    const issued = json(agentos(['token', 'issue', '--agent-id', 'agent-1', '--agent-type', 'echo', `--agent-key=${agentKey}`, '--json']));
    const payload = (issued['token'] as string).split('.')[1]!;
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${enc({ alg: 'none', typ: 'at+jwt', kid: issued['kid'] })}.${payload}.`;
    const issuerPub = json(agentos(['keys', 'export', 'tokens', '--json'], {}))['publicKey'] as string;
    const head = enc({ alg: 'HS256', typ: 'at+jwt', kid: issued['kid'] });
    const hs = `${head}.${payload}.${createHmac('sha256', Buffer.from(issuerPub, 'base64url')).update(`${head}.${payload}`).digest('base64url')}`;
    for (const t of [none, hs]) {
      const r = agentos(['token', 'verify', t, `--agent-key=${agentKey}`, '--json'], {});
      expect(r.status).toBe(1);
      expect(json(r)).toMatchObject({ ok: false, code: 'BAD_ALG' });
    }
    expect(json(agentos(['token', 'verify', 'not.a.token', '--json'], {}))).toMatchObject({ ok: false, code: 'MALFORMED' });
  });
});

describe('help', () => {
  it('every identity command has --help', () => {
    for (const args of [['keys', '--help'], ['keys', 'generate', '--help'], ['keys', 'rotate', '--help'], ['keys', 'revoke', '--help'], ['keys', 'list', '--help'], ['sign', '--help'], ['verify', '--help'], ['token', '--help']]) {
      const r = agentos(args, {});
      expect(r.status, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toMatch(/^Usage: agentos /);
    }
    expect(agentos(['--help'], {}).stdout).toMatch(/keys <command>[\s\S]*sign <agent.wasm>[\s\S]*token <command>/);
  });
});
