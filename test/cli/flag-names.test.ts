/**
 * One flag name per meaning, through the built CLI: `--audit DIR` is the audit directory of
 * `agentos run` and of every `agentos audit` command, `--keys DIR` the key store of keys, sign,
 * verify, run, ca and token; the older spellings (`--dir`, `--trust`, …) still work, and an
 * alias given with its flag but another value is a usage error (exit 2) naming both.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-flag-names-');
afterAll(() => tmp.cleanup());
const PASS = 'correct horse battery staple';

function agentos(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    cwd: tmp.dir,
    timeout: 60_000,
    env: { ...process.env, AGENTOS_KEY_PASSPHRASE: PASS, XDG_CACHE_HOME: join(TEST_CACHE_DIR, 'xdg') },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const json = (r: { stdout: string }) => JSON.parse(r.stdout) as Record<string, any>;
const lines = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

/** Exit 2 with a usage error that names both spellings. */
function expectConflict(args: string[], flag: string, alias: string): void {
  const r = agentos(args);
  expect(r.status, `${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(2);
  expect(r.stderr).toMatch(/USAGE/);
  expect(r.stderr).toContain(`--${flag} `);
  expect(r.stderr).toContain(`--${alias} `);
  const j = agentos([...args, '--json']);
  expect(j.status).toBe(2);
  expect(json(j)).toMatchObject({ ok: false, error: { code: 'USAGE', message: expect.stringContaining(`--${alias} is an alias of --${flag}`) } });
}

const audit = join(tmp.dir, 'audit');
const keys = join(tmp.dir, 'keys');
const component = join(tmp.dir, 'echo.wasm');
const signed = join(tmp.dir, 'echo-signed.wasm');
let agentId = '';

beforeAll(() => {
  writeFileSync(component, readFileSync(fixturePath('echo')));
  const r = agentos(['run', component, '--task', 'hello', '--audit', audit, '--json']);
  expect(r.status, r.stdout + r.stderr).toBe(0);
  agentId = json(r)['agentId'] as string;
});

describe('--audit DIR: the audit directory of run and of every audit command', () => {
  it('audit verify --audit DIR checks the log agentos run --audit DIR wrote; --dir still works', () => {
    const canonical = agentos(['audit', 'verify', '--audit', audit, '--json']);
    expect(canonical.status, canonical.stdout + canonical.stderr).toBe(0);
    expect(json(canonical)).toMatchObject({ ok: true });
    expect(json(canonical)['size']).toBeGreaterThan(0);
    const alias = agentos(['audit', 'verify', '--dir', audit, '--json']);
    expect(alias.status).toBe(0);
    const same = (r: { stdout: string }) => ({ ...json(r), durationMs: 0 });
    expect(same(alias)).toEqual(same(canonical));
    // Both spellings with the same value are fine.
    expect(agentos(['audit', 'verify', '--audit', audit, '--dir', audit]).status).toBe(0);
    // Nothing was read from the default directory.
    const missing = agentos(['audit', 'verify', '--json']);
    expect(missing.status).toBe(5);
  });

  it('an alias and its flag with different values: exit 2 naming both, in every audit command', () => {
    expectConflict(['audit', 'verify', '--audit', audit, '--dir', join(tmp.dir, 'elsewhere')], 'audit', 'dir');
    for (const sub of ['tail', 'query', 'export', 'checkpoint', 'proof', 'prune']) {
      const r = agentos(['audit', sub, '--dir', 'x', '--audit', audit, ...(sub === 'prune' ? ['--before', '1'] : sub === 'proof' ? ['--seq', '0'] : [])]);
      expect(r.status, sub).toBe(2);
      expect(r.stderr, sub).toMatch(/--audit ".*" and --dir "x" disagree/);
    }
  });

  it('the other audit commands take --audit DIR; query filters by --agent-id (--agent still works)', () => {
    const mine = lines(agentos(['audit', 'query', '--audit', audit, '--agent-id', agentId, '--json']).stdout);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r['agentId'] === agentId)).toBe(true);
    expect(lines(agentos(['audit', 'query', '--dir', audit, '--agent', agentId, '--json']).stdout)).toEqual(mine);
    expectConflict(['audit', 'query', '--audit', audit, '--agent-id', agentId, '--agent', 'someone-else'], 'agent-id', 'agent');
    expect(lines(agentos(['audit', 'tail', '--audit', audit, '-n', '1', '--json']).stdout)).toHaveLength(1);
    const cp = agentos(['audit', 'checkpoint', '--audit', audit, '-o', join(tmp.dir, 'cp.json'), '--json']);
    expect(cp.status, cp.stderr).toBe(0);
    const publicKey = json(cp)['publicKey'] as string;
    expect(agentos(['audit', 'verify', '--audit', audit, '--trusted', join(tmp.dir, 'cp.json'), '--log-key', publicKey]).status).toBe(0);
    expect(agentos(['audit', 'verify', '--audit', audit, '--key', publicKey]).status).toBe(0);
    expect(agentos(['audit', 'proof', '--audit', audit, '--seq', '0', '--json']).status).toBe(0);
  });
});

describe('--keys DIR: the key store of keys, sign, verify, run, ca and token', () => {
  it('keys generate|list --keys DIR, with --dir as an alias and a conflict refused', () => {
    const g = agentos(['keys', 'generate', 'publisher', '--keys', keys, '--valid', '30d', '--json']);
    expect(g.status, g.stderr).toBe(0);
    const listed = json(agentos(['keys', 'list', '--keys', keys, '--json']));
    expect(listed['keys'].map((k: { name: string }) => k.name)).toEqual(['publisher']);
    expect(json(agentos(['keys', 'list', '--dir', keys, '--json']))).toEqual(listed);
    expectConflict(['keys', 'list', '--keys', keys, '--dir', join(tmp.dir, 'other-keys')], 'keys', 'dir');
    expectConflict(['keys', 'generate', 'x', '--keys', keys, '--valid', '1d', '--expires', '2d'], 'valid', 'expires');
    // Nothing was generated by the refused command.
    expect(json(agentos(['keys', 'list', '--keys', keys, '--json']))['keys']).toHaveLength(1);
  });

  it('sign --keys DIR, verify --keys DIR and run --keys DIR (run --trust is the alias) use the same store', () => {
    const s = agentos(['sign', component, '--keys', keys, '--key', 'publisher', '--agent-type', 'echo', '--capabilities', '', '-o', signed, '--json']);
    expect(s.status, s.stderr).toBe(0);
    const kid = json(s)['claims']['kid'] as string;
    expect(agentos(['verify', signed, '--keys', keys, '--json']).status).toBe(0);
    expect(agentos(['verify', signed, '--keys', keys, '--kid', kid]).status).toBe(0);
    expect(agentos(['verify', signed, '--keys', keys, '--issuer', kid]).status).toBe(0);
    expect(agentos(['verify', signed, '--keys', keys, '--kid', 'not-that-one']).status).toBe(1);
    expectConflict(['verify', signed, '--keys', keys, '--kid', kid, '--issuer', 'other'], 'kid', 'issuer');
    // The default key store (the working directory's) does not know the key.
    expect(agentos(['verify', signed]).status).not.toBe(0);
    for (const flag of ['--keys', '--trust']) {
      const r = agentos(['run', signed, flag, keys, '--task', 'signed', '--audit', audit, '--json']);
      expect(r.status, `${flag}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(json(r)).toMatchObject({ ok: true, output: 'signed' });
    }
    const unsigned = agentos(['run', component, '--keys', keys, '--task', 'x', '--audit', audit, '--json']);
    expect(json(unsigned)['error']['code']).toBe('SIGNATURE_INVALID');
    expectConflict(['run', signed, '--keys', keys, '--trust', join(tmp.dir, 'other-keys'), '--task', 'x'], 'keys', 'trust');
  });

  it('ca --ca DIR (alias --dir) and --keys DIR; token --key/--valid (aliases --issuer-key/--ttl)', () => {
    const ca = join(tmp.dir, 'ca');
    const init = agentos(['ca', 'init', '--ca', ca, '--keys', keys, '--json']);
    expect(init.status, init.stderr).toBe(0);
    const shown = json(agentos(['ca', 'show', '--ca', ca, '--json']));
    expect(shown).toMatchObject({ ok: true, dir: ca, kid: json(init)['kid'] });
    expect(json(agentos(['ca', 'show', '--dir', ca, '--json']))['fingerprint']).toBe(shown['fingerprint']);
    expectConflict(['ca', 'show', '--ca', ca, '--dir', join(tmp.dir, 'other-ca')], 'ca', 'dir');
    expectConflict(['ca', 'crl', '--ca', ca, '-o', 'a.pem', '--output', 'b.pem'], 'out', 'output');
    expectConflict(['token', 'issue', '--keys', keys, '--key', 'tokens', '--issuer-key', 'publisher'], 'key', 'issuer-key');
    expectConflict(['token', 'issue', '--keys', keys, '--valid', '1m', '--ttl', '2m'], 'valid', 'ttl');
  });
});

describe('help shows the canonical names and the aliases', () => {
  it('every command and subcommand names its aliases', () => {
    const cases: [string[], RegExp[]][] = [
      [['run', '--help'], [/--keys DIR/, /--trust is an alias/, /--audit DIR/]],
      [['audit', '--help'], [/--audit DIR .*--dir is an alias/]],
      ...['verify', 'tail', 'query', 'export', 'checkpoint', 'proof', 'prune'].map((sub): [string[], RegExp[]] => [['audit', sub, '--help'], [/Usage: agentos audit .*--audit DIR/, /--dir is an alias/]]),
      [['keys', '--help'], [/--keys DIR .*--dir is an alias/]],
      [['keys', 'generate', '--help'], [/--valid DURATION/, /--expires is an alias/]],
      [['verify', '--help'], [/--keys DIR/, /--kid KID .*--issuer is an alias/]],
      [['ca', '--help'], [/--ca DIR .*--dir is an alias/, /--keys DIR/]],
      [['ca', 'issue', '--help'], [/-o, --out FILE/, /--output is an alias/]],
      [['token', '--help'], [/--keys DIR/, /--key NAME/, /--issuer-key is an alias/, /--ttl is an alias/]],
      [['policy', '--help'], [/--policy FILE/]],
    ];
    for (const [args, patterns] of cases) {
      const r = agentos(args);
      expect(r.status, args.join(' ')).toBe(0);
      for (const p of patterns) expect(r.stdout, args.join(' ')).toMatch(p);
      expect(r.stdout, args.join(' ')).not.toMatch(/\[--dir DIR\]|^ {2}--dir DIR/m);
    }
  });

  it('policy check reads files given as --policy FILE too', () => {
    const file = join(tmp.dir, 'p.yaml');
    writeFileSync(file, 'version: 1\ncapabilities: { allowed: [] }\n');
    const r = agentos(['policy', 'check', '--policy', file, '--json']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(json(r)['results']).toEqual([expect.objectContaining({ file, ok: true })]);
  });
});
