/**
 * `agentos ca init | issue | revoke | verify | crl | show` end to end, through the built CLI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const PASSPHRASE_ENV = 'AGENTOS_KEY_PASSPHRASE';
const PASSPHRASE = 'correct horse battery staple';
const tmp = tempDir('agentos-ca-cli-');
afterAll(() => tmp.cleanup());

/** Run the CLI in the temporary directory; the passphrase comes from the environment unless `passphrase` is null. */
function agentos(args: string[], options: { passphrase?: string | null; input?: string | Buffer } = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: join(TEST_CACHE_DIR, 'xdg') };
  delete env[PASSPHRASE_ENV];
  const passphrase = options.passphrase === undefined ? PASSPHRASE : options.passphrase;
  if (passphrase !== null) env[PASSPHRASE_ENV] = passphrase;
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: tmp.dir, timeout: 60_000, env, ...(options.input !== undefined ? { input: options.input } : {}) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** The same, asynchronously: for processes that run at the same time. */
function agentosAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_CACHE_HOME: join(TEST_CACHE_DIR, 'xdg'), [PASSPHRASE_ENV]: PASSPHRASE };
  const child = spawn(process.execPath, [CLI, ...args], { cwd: tmp.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}
const json = (s: string) => JSON.parse(s) as Record<string, any>;
const at = (...p: string[]) => join(tmp.dir, ...p);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every file under the directories, by path, with its bytes. */
function snapshot(...dirs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of dirs) {
    for (const f of readdirSync(d, { recursive: true }) as string[]) {
      const p = join(d, f);
      if (statSync(p).isFile()) out[p] = readFileSync(p).toString('base64');
    }
  }
  return out;
}

function agentKey(): { b64u: string; pem: string } {
  const { publicKey } = generateKeyPairSync('ed25519');
  return { b64u: publicKey.export({ format: 'jwk' }).x!, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

const agent = agentKey();
let initReport: Record<string, any>;

beforeAll(() => {
  writeFileSync(at('agent.pub'), agent.pem);
  const r = agentos(['ca', 'init', '--json']);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  initReport = json(r.stdout);
});

describe('agentos ca help', () => {
  it('prints the help of the group and of every subcommand with exit 0', () => {
    expect(agentos(['--help']).stdout).toContain('ca <command>');
    const group = agentos(['ca', '--help']);
    expect(group.status).toBe(0);
    expect(group.stdout).toMatch(/^Usage: agentos ca <command>/);
    expect(agentos(['ca']).status).toBe(2);
    for (const [sub, flag] of [['init', '--help'], ['issue', '-h'], ['revoke', '--help'], ['verify', '-h'], ['crl', '--help'], ['show', '--help']] as const) {
      const r = agentos(['ca', sub, flag], { passphrase: null });
      expect(r.status, `${sub} ${flag}`).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: agentos ca ${sub}`));
    }
    expect(agentos(['ca', 'init', '--help']).stdout).toContain(PASSPHRASE_ENV);
    expect(agentos(['ca', 'bogus', '--json'])).toMatchObject({ status: 2 });
    expect(json(agentos(['ca', 'bogus', '--json']).stdout).error.code).toBe('USAGE');
  });
});

describe('agentos ca init | issue | verify | show', () => {
  it('creates the CA state, generating the CA key in the key store', () => {
    expect(initReport).toMatchObject({ ok: true, keyName: 'ca', keyGenerated: true, revoked: 0, replaced: false });
    expect(initReport.kid).toMatch(/^[0-9a-f]{16}$/);
    const ca = new X509Certificate(readFileSync(at('.agentos', 'ca', 'ca.pem')));
    expect(ca.ca).toBe(true);
    expect(ca.subject).toContain(initReport.kid);
    expect(readFileSync(at('.agentos', 'ca', 'crl.pem'), 'utf8')).toMatch(/^-----BEGIN X509 CRL-----/);
    // The default lifetime is 365 days.
    const days = (Date.parse(initReport.notAfter) - Date.parse(initReport.notBefore)) / 86_400_000;
    expect(Math.round(days)).toBe(365);
    expect(json(agentos(['keys', 'list', '--json']).stdout).keys.map((k: { name: string }) => k.name)).toEqual(['ca']);
  });

  it('refuses to replace a CA without --force (exit 2), changing nothing', () => {
    const before = snapshot(at('.agentos'));
    const r = agentos(['ca', 'init']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--force');
    expect(snapshot(at('.agentos'))).toEqual(before);
  });

  it('issues a certificate that verifies (exit 0), from a key file or a key argument, with a generated or given agent id', () => {
    const r = agentos(['ca', 'issue', '--agent-type', 'worker', '--agent-key-file', 'agent.pub', '-o', 'worker.pem', '--json']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const issued = json(r.stdout);
    expect(issued).toMatchObject({ ok: true, agentType: 'worker', publicKey: agent.b64u, file: 'worker.pem' });
    expect(issued.agentId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Date.parse(issued.notAfter) - Date.now()).toBeGreaterThan(23 * 3_600_000); // default 24 h
    const v = agentos(['ca', 'verify', 'worker.pem', '--json'], { passphrase: null });
    expect(v.status, v.stdout + v.stderr).toBe(0);
    expect(json(v.stdout)).toMatchObject({ ok: true, agentId: issued.agentId, agentType: 'worker', serial: issued.serial, publicKey: agent.b64u });
    expect(agentos(['ca', 'verify', 'worker.pem'], { passphrase: null }).stdout).toMatch(/^valid: agent /);

    const id = '3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b';
    const text = agentos(['ca', 'issue', '--agent-id', id, '--agent-type', 'reviewer', `--agent-key=${agent.b64u}`, '--valid', '2h']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]*-----END CERTIFICATE-----\n$/);
    expect(text.stderr).toMatch(new RegExp(`certificate for agent ${id} \\(type reviewer\\), serial [0-9a-f]+, valid `));
    const fromStdin = agentos(['ca', 'verify', '-', '--json'], { input: text.stdout, passphrase: null });
    expect(fromStdin.status).toBe(0);
    expect(json(fromStdin.stdout)).toMatchObject({ ok: true, agentId: id, agentType: 'reviewer' });
    // DER is accepted too.
    writeFileSync(at('reviewer.der'), new X509Certificate(text.stdout).raw);
    expect(agentos(['ca', 'verify', 'reviewer.der'], { passphrase: null }).status).toBe(0);
  });

  it('shows the CA, as text and as one JSON object', () => {
    const r = agentos(['ca', 'show', '--json'], { passphrase: null });
    expect(r.status).toBe(0);
    expect(json(r.stdout)).toMatchObject({ ok: true, kid: initReport.kid, keyName: 'ca', subject: initReport.subject, fingerprint: initReport.fingerprint, status: 'valid', crl: { stale: false } });
    const text = agentos(['ca', 'show'], { passphrase: null });
    expect(text.stdout).toContain(`kid ${initReport.kid}`);
    expect(text.stdout).toMatch(/revoked\s+\d+ certificate/);
  });
});

describe('agentos ca revoke | crl', () => {
  it('revokes by certificate file or serial; verify then fails with REVOKED (exit 1)', () => {
    const issued = json(agentos(['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '-o', 'revoked.pem', '--json']).stdout);
    expect(agentos(['ca', 'verify', 'revoked.pem'], { passphrase: null }).status).toBe(0);
    const r = agentos(['ca', 'revoke', 'revoked.pem', '--reason', 'keyCompromise', '--json']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(json(r.stdout)).toMatchObject({ ok: true, serial: issued.serial, alreadyRevoked: false, reason: 'keyCompromise' });
    const v = agentos(['ca', 'verify', 'revoked.pem'], { passphrase: null });
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(/^invalid: REVOKED: serial [0-9a-f]+ is revoked/);
    expect(json(agentos(['ca', 'verify', 'revoked.pem', '--json'], { passphrase: null }).stdout)).toMatchObject({ ok: false, code: 'REVOKED' });
    // Revoking again, by serial in another spelling, changes nothing and needs no passphrase.
    const colons = (issued.serial as string).toUpperCase().replace(/(..)(?=.)/g, '$1:');
    const again = agentos(['ca', 'revoke', colons, '--reason', 'again', '--json'], { passphrase: null });
    expect(again.status, again.stdout + again.stderr).toBe(0);
    expect(json(again.stdout)).toMatchObject({ alreadyRevoked: true, reason: 'keyCompromise' });
    // By serial: a certificate never seen by the CLI.
    const other = json(agentos(['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '-o', 'by-serial.pem', '--json']).stdout);
    expect(agentos(['ca', 'revoke', other.serial, '--reason', 'superseded']).status).toBe(0);
    expect(json(agentos(['ca', 'verify', 'by-serial.pem', '--json'], { passphrase: null }).stdout).code).toBe('REVOKED');
    // The CRL lists both; show counts them.
    const crl = agentos(['ca', 'crl', '--json'], { passphrase: null });
    expect(crl.status).toBe(0);
    expect(json(crl.stdout)).toMatchObject({ ok: true, refreshed: false, revoked: 2 });
    expect(json(crl.stdout).crlPem).toMatch(/^-----BEGIN X509 CRL-----/);
    expect(agentos(['ca', 'crl'], { passphrase: null }).stdout).toBe(readFileSync(at('.agentos', 'ca', 'crl.pem'), 'utf8'));
    expect(json(agentos(['ca', 'show', '--json']).stdout).revoked).toBe(2);
  });

  it('two revocations at the same time both land in the CRL (the CA is locked while it changes)', async () => {
    const serials = [1, 2, 3].map((i) => json(agentos(['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '-o', `race${i}.pem`, '--json']).stdout).serial as string);
    const before = json(agentos(['ca', 'show', '--json']).stdout).revoked as number;
    const results = await Promise.all(serials.map((serial) => agentosAsync(['ca', 'revoke', serial, '--reason', 'race'])));
    for (const r of results) expect(r.status, r.stdout + r.stderr).toBe(0);
    const shown = json(agentos(['ca', 'show', '--json']).stdout);
    expect(shown.revoked).toBe(before + 3);
    expect(shown.revocations.map((r: { serial: string }) => r.serial)).toEqual(expect.arrayContaining(serials));
    for (const i of [1, 2, 3]) expect(json(agentos(['ca', 'verify', `race${i}.pem`, '--json']).stdout).code).toBe('REVOKED');
    expect(readdirSync(at('.agentos', 'ca')).sort()).toEqual(['ca.json', 'ca.pem', 'crl.pem']);
  });

  it('prints a revocation reason with control characters escaped', () => {
    const issued = json(agentos(['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '-o', 'escape.pem', '--json']).stdout);
    const r = agentos(['ca', 'revoke', issued.serial, '--reason', 'stolen \u001b[2J laptop']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('\\u001b[2J');
    expect(r.stdout).not.toContain('\u001b');
    const v = agentos(['ca', 'verify', 'escape.pem']);
    expect(v.status).toBe(1);
    expect(v.stdout).toContain('\\u001b');
    expect(v.stdout).not.toContain('\u001b');
  });

  it('re-signs the CRL with --refresh, and --force keeps the revocations', () => {
    const before = json(agentos(['ca', 'show', '--json']).stdout);
    const r = agentos(['ca', 'crl', '--refresh', '-o', 'crl.pem', '--json']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(json(r.stdout)).toMatchObject({ refreshed: true, crlNumber: before.crl.number + 1, file: 'crl.pem' });
    expect(readFileSync(at('crl.pem'), 'utf8')).toBe(readFileSync(at('.agentos', 'ca', 'crl.pem'), 'utf8'));
    expect(agentos(['ca', 'crl', '--refresh'], { passphrase: null }).status).toBe(2);

    const forced = agentos(['ca', 'init', '--force', '--dir', 'forced', '--json']);
    expect(forced.status).toBe(0);
    expect(json(forced.stdout)).toMatchObject({ replaced: false });
    const replaced = agentos(['ca', 'init', '--force', '--json']);
    expect(replaced.status, replaced.stdout + replaced.stderr).toBe(0);
    expect(json(replaced.stdout)).toMatchObject({ replaced: true, keyGenerated: false, kid: initReport.kid, revoked: before.revoked });
    expect(json(replaced.stdout).fingerprint).not.toBe(initReport.fingerprint);
    expect(agentos(['ca', 'verify', 'revoked.pem']).status).toBe(1);
    expect(agentos(['ca', 'verify', 'worker.pem']).status).toBe(0);
  });
});

describe('agentos ca verify refusals', () => {
  it('refuses an expired certificate (EXPIRED) and a stale CRL (UNTRUSTED), and re-signs a stale CRL on demand', async () => {
    const short = agentos(['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '--valid', '1s', '-o', 'short.pem']);
    expect(short.status, short.stderr).toBe(0);
    expect(agentos(['ca', 'init', '--dir', 'stale', '--crl-valid', '2s']).status).toBe(0);
    const staleCert = agentos(['ca', 'issue', '--dir', 'stale', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '-o', 'stale.pem']);
    // Had the CRL already gone stale, issue would have re-signed it first; either way it wrote a certificate.
    expect(staleCert.status, staleCert.stderr).toBe(0);
    // Until then, a time given with --at decides.
    const later = new Date(Date.now() + 2 * 86_400_000).toISOString();
    const future = agentos(['ca', 'verify', 'worker.pem', '--at', later, '--json']);
    expect(future.status).toBe(1);
    expect(json(future.stdout)).toMatchObject({ ok: false, code: 'EXPIRED' });
    expect(agentos(['ca', 'verify', 'worker.pem', '--at', 'tomorrow']).status).toBe(2);

    await sleep(2500);
    const expired = agentos(['ca', 'verify', 'short.pem'], { passphrase: null });
    expect(expired.status).toBe(1);
    expect(expired.stdout).toMatch(/^invalid: EXPIRED: expired at /);

    const stale = agentos(['ca', 'verify', 'stale.pem', '--dir', 'stale'], { passphrase: null });
    expect(stale.status).toBe(1);
    expect(stale.stdout).toMatch(/^invalid: UNTRUSTED: the CRL is stale/);
    expect(stale.stdout).toContain('agentos ca crl --refresh');
    expect(json(agentos(['ca', 'show', '--dir', 'stale', '--json']).stdout).crl.stale).toBe(true);
    const locked = agentos(['ca', 'crl', '--dir', 'stale'], { passphrase: null });
    expect(locked.status).toBe(2);
    expect(locked.stderr).toMatch(/stale.*passphrase.*AGENTOS_KEY_PASSPHRASE.*--passphrase-file/);
    const refreshed = agentos(['ca', 'crl', '--dir', 'stale', '--json']);
    expect(refreshed.status, refreshed.stdout + refreshed.stderr).toBe(0);
    expect(json(refreshed.stdout)).toMatchObject({ ok: true, refreshed: true });
  });

  it('refuses a certificate from another CA (exit 1), and will not revoke it (exit 2)', () => {
    expect(agentos(['ca', 'init', '--dir', 'other-ca', '--keys', 'other-keys', '--key', 'other']).status).toBe(0);
    const r = agentos(['ca', 'issue', '--dir', 'other-ca', '--keys', 'other-keys', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '-o', 'foreign.pem']);
    expect(r.status, r.stderr).toBe(0);
    expect(agentos(['ca', 'verify', 'foreign.pem', '--dir', 'other-ca']).status).toBe(0);
    const v = agentos(['ca', 'verify', 'foreign.pem', '--json']);
    expect(v.status).toBe(1);
    expect(json(v.stdout)).toMatchObject({ ok: false, code: 'UNTRUSTED' });
    const before = snapshot(at('.agentos'));
    const revoke = agentos(['ca', 'revoke', 'foreign.pem', '--reason', 'not ours']);
    expect(revoke.status).toBe(2);
    expect(revoke.stderr).toContain('not issued by the CA');
    expect(snapshot(at('.agentos'))).toEqual(before);
  });

  it('reports a file that is not a certificate as MALFORMED (exit 1)', () => {
    writeFileSync(at('junk.pem'), 'not a certificate\n');
    const r = agentos(['ca', 'verify', 'junk.pem', '--json']);
    expect(r.status).toBe(1);
    expect(json(r.stdout)).toMatchObject({ ok: false, code: 'MALFORMED' });
  });
});

describe('agentos ca bad input', () => {
  it('a wrong or missing passphrase fails with exit 2 and leaves the CA and the key store byte for byte as they were', () => {
    writeFileSync(at('wrong.txt'), 'not the passphrase\n');
    const before = snapshot(at('.agentos'));
    const attempts: string[][] = [
      ['ca', 'init', '--force'],
      ['ca', 'init', '--force', '--key', 'fresh'],
      ['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '-o', 'never.pem'],
      ['ca', 'revoke', 'worker.pem', '--reason', 'test'],
      ['ca', 'crl', '--refresh'],
    ];
    attempts.forEach((args, i) => {
      const env = agentos(args, { passphrase: 'not the passphrase' });
      expect(env.status, `${args.join(' ')}: ${env.stdout}${env.stderr}`).toBe(2);
      expect(env.stderr).toMatch(/wrong passphrase.*AGENTOS_KEY_PASSPHRASE/);
      // Each other way of failing on a few of the commands (every process costs a start-up).
      if (i % 2 === 0) {
        const file = agentos([...args, '--passphrase-file', 'wrong.txt'], { passphrase: null });
        expect(file.status).toBe(2);
        expect(file.stderr).toMatch(/wrong passphrase.*--passphrase-file wrong\.txt/);
      } else {
        const none = agentos(args, { passphrase: null });
        expect(none.status).toBe(2);
        expect(none.stderr).toContain(PASSPHRASE_ENV);
      }
    });
    const asJson = agentos([...attempts[2]!, '--json'], { passphrase: 'not the passphrase' });
    expect(asJson.status).toBe(2);
    expect(json(asJson.stdout)).toMatchObject({ ok: false, error: { code: 'USAGE', message: expect.stringContaining('wrong passphrase') } });
    expect(snapshot(at('.agentos'))).toEqual(before);
    expect(() => statSync(at('never.pem'))).toThrow();
    // The right passphrase from a file works.
    writeFileSync(at('right.txt'), `${PASSPHRASE}\n`);
    expect(agentos(['ca', 'crl', '--refresh', '--passphrase-file', 'right.txt'], { passphrase: null }).status).toBe(0);
  });

  it('names what to change for a missing CA, a bad serial, bad durations and bad options (exit 2)', () => {
    const cases: [string[], RegExp][] = [
      [['ca', 'show', '--dir', 'nowhere'], /no CA in nowhere: give --ca DIR, or create one with `agentos ca init`/],
      [['ca', 'verify', 'worker.pem', '--dir', 'nowhere'], /no CA in nowhere/],
      [['ca', 'revoke', 'xyz', '--reason', 'r'], /neither a serial \(1–40 hex digits\) nor a certificate file/],
      [['ca', 'revoke', 'f'.repeat(41), '--reason', 'r'], /neither a serial/],
      [['ca', 'revoke', 'worker.pem'], /--reason TEXT/],
      [['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '--valid', 'forever'], /--valid "forever": expected a duration/],
      [['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '--valid', '500ms'], /at least 1s/],
      [['ca', 'init', '--dir', 'x', '--valid', '-1d'], /--valid/],
      [['ca', 'init', '--dir', 'x', '--crl-valid', '1y'], /--crl-valid "1y"/],
      [['ca', 'init', '--dir', 'x', '--subject', 'garbage'], /subject "garbage"/],
      [['ca', 'issue', `--agent-key=${agent.b64u}`], /--agent-type TYPE is required/],
      [['ca', 'issue', '--agent-type', 'worker'], /--agent-key KEY or --agent-key-file FILE is required/],
      [['ca', 'issue', '--agent-type', 'worker', '--agent-key', 'nope'], /--agent-key: expected an Ed25519 public key/],
      [['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '--agent-id', 'nope'], /agentId "nope": expected a UUID/],
      [['ca', 'issue', '--agent-type', 'two words', `--agent-key=${agent.b64u}`], /agentType "two words"/],
      [['ca', 'issue', '--agent-type', 'worker', `--agent-key=${agent.b64u}`, '--keys', 'no-keys'], /no key store at no-keys/],
      [['ca', 'verify', 'missing.pem'], /missing\.pem: cannot read it \(ENOENT\)/],
      [['ca', 'verify'], /one argument/],
      [['ca', 'show', '--reason', 'x'], /ca show has no --reason option/],
      [['ca', 'verify', 'worker.pem', '--passphrase', 'x'], /--passphrase/],
    ];
    for (const [args, message] of cases) {
      const r = agentos(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
    expect(() => statSync(at('x'))).toThrow();
  });
});
