/**
 * The shared flag table (`src/cli/flags.ts`): aliases fold into their canonical flag, and every
 * command takes the shared definitions, so one name never means two things and one thing
 * never has two canonical names (the audit directory is --audit, the key store --keys).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AUDIT_OPTIONS } from '../../dist/cli/audit.js';
import { BUILD_OPTIONS } from '../../dist/cli/build.js';
import { DOCTOR_OPTIONS } from '../../dist/cli/doctor.js';
import { CA_OPTIONS } from '../../dist/cli/ca-options.js';
import { CONTAINER_SPEC_OPTIONS } from '../../dist/cli/container.js';
import { parse } from '../../dist/cli/common.js';
import { EXPLAIN_OPTIONS } from '../../dist/cli/explain.js';
import { FLAGS, flagLine, LEGACY_ALIASES, parseArgsOptions, resolveAliases, withAliases, type CliOption, type CliOptions } from '../../dist/cli/flags.js';
import { INSPECT_OPTIONS } from '../../dist/cli/inspect.js';
import { KEYS_OPTIONS } from '../../dist/cli/keys.js';
import { POLICY_CHECK_OPTIONS } from '../../dist/cli/policy.js';
import { RUN_OPTIONS } from '../../dist/cli/run.js';
import { SIGN_OPTIONS, VERIFY_OPTIONS } from '../../dist/cli/sign.js';
import { TOKEN_OPTIONS } from '../../dist/cli/token.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

/** Every command's options, by the command line that takes them. */
const COMMANDS: Readonly<Record<string, CliOptions>> = {
  run: RUN_OPTIONS,
  inspect: INSPECT_OPTIONS,
  build: BUILD_OPTIONS,
  'policy check': POLICY_CHECK_OPTIONS,
  'policy explain': EXPLAIN_OPTIONS,
  ...Object.fromEntries(Object.entries(AUDIT_OPTIONS).map(([sub, o]) => [`audit ${sub}`, o as CliOptions])),
  keys: KEYS_OPTIONS,
  sign: SIGN_OPTIONS,
  verify: VERIFY_OPTIONS,
  ca: CA_OPTIONS,
  token: TOKEN_OPTIONS,
  doctor: DOCTOR_OPTIONS,
  'container spec': CONTAINER_SPEC_OPTIONS,
};
const shared = FLAGS as Readonly<Record<string, CliOption & { help: string; arg?: string }>>;
const aliasesOf = (o: CliOption) => o.aliases ?? [];
/** What a flag is, apart from the older names a command accepts for it and whether it repeats. */
function withoutAliases(o: object): Record<string, unknown> {
  const { aliases: _a, multiple: _m, ...rest } = o as Record<string, unknown>;
  return rest;
}

describe('resolveAliases / parse', () => {
  const options = { audit: withAliases(FLAGS.audit, 'dir'), json: FLAGS.json, kid: withAliases({ type: 'string', multiple: true }, 'issuer') } as const;

  it('an alias comes back under the canonical name, and only there', () => {
    expect(resolveAliases({ dir: 'a' }, options, 'x')).toEqual({ audit: 'a' });
    expect(resolveAliases({ audit: 'a' }, options, 'x')).toEqual({ audit: 'a' });
    expect(resolveAliases({ audit: 'a', dir: 'a', json: true }, options, 'x')).toEqual({ audit: 'a', json: true });
    expect(resolveAliases({ issuer: ['k1', 'k2'] }, options, 'x')).toEqual({ kid: ['k1', 'k2'] });
  });

  it('an alias and its flag with different values is a usage error naming both', () => {
    expect(() => resolveAliases({ audit: 'a', dir: 'b' }, options, 'audit verify')).toThrow(/--audit "a" and --dir "b" disagree .*agentos audit verify --help/);
    expect(() => resolveAliases({ kid: ['k1'], issuer: ['k2'] }, options, 'verify')).toThrow(/--kid "k1" and --issuer "k2"/);
    let error: unknown;
    try {
      resolveAliases({ audit: 'a', dir: 'b' }, options, 'x');
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'USAGE' });
  });

  it('parse() accepts both spellings, keeps short names on the canonical flag, and still rejects unknown options', () => {
    const out = withAliases(FLAGS.out, 'output');
    expect(parse(['--dir', 'd', 'pos'], options, 'x')).toMatchObject({ values: { audit: 'd' }, positionals: ['pos'] });
    expect(parse(['-o', 'f'], { out }, 'x').values).toEqual({ out: 'f' });
    expect(parse(['--output=f'], { out }, 'x').values).toEqual({ out: 'f' });
    expect(parseArgsOptions({ out })).toEqual({ out: { type: 'string', short: 'o' }, output: { type: 'string' } });
    expect(() => parse(['--out', 'f', '--output', 'g'], { out }, 'ca issue')).toThrow(/--out "f" and --output "g" disagree/);
    expect(() => parse(['--bogus'], options, 'x')).toThrow(/bogus.*agentos x --help/);
    expect(() => parseArgsOptions({ a: withAliases({ type: 'string' }, 'b'), b: { type: 'string' } })).toThrow(/--b is both an alias/);
  });

  it('flagLine shows the canonical name and names the aliases', () => {
    expect(flagLine(withAliases(FLAGS.audit, 'dir'), undefined, 17)).toBe('  --audit DIR    the audit log directory (default .agentos/audit); --dir is an alias');
    expect(flagLine(withAliases(FLAGS.out, 'output', 'file'), 'write it', 20)).toBe('  -o, --out FILE    write it; --output and --file are aliases');
    expect(flagLine(FLAGS['passphrase-file'], 'x', 10)).toBe('  --passphrase-file FILE\n          x');
  });
});

describe('the flag table is what the commands use', () => {
  it('an option named like a shared flag is that flag (same type, value and meaning), never a redeclaration', () => {
    for (const [command, options] of Object.entries(COMMANDS)) {
      for (const [name, o] of Object.entries(options)) {
        const def = shared[name];
        if (!def) continue;
        expect(withoutAliases(o), `${command} --${name}`).toEqual(withoutAliases(def));
      }
    }
  });

  it('the audit directory is --audit and the key store --keys in every command that takes them', () => {
    const taking = (flag: string) => Object.keys(COMMANDS).filter((c) => COMMANDS[c]![flag] !== undefined).sort();
    expect(taking('audit')).toEqual(['audit checkpoint', 'audit export', 'audit proof', 'audit prune', 'audit query', 'audit tail', 'audit verify', 'doctor', 'run']);
    expect(taking('keys')).toEqual(['ca', 'keys', 'run', 'sign', 'token', 'verify']);
    expect(taking('ca')).toEqual(['ca']);
    expect(taking('policy')).toEqual(['container spec', 'inspect', 'policy check', 'policy explain', 'run']);
    for (const c of Object.keys(COMMANDS)) expect(COMMANDS[c]!['json'], c).toBeDefined();
  });

  it('no command takes an older spelling as its own option; aliases never collide within a command', () => {
    const aliases = new Set(Object.values(COMMANDS).flatMap((o) => Object.values(o).flatMap(aliasesOf)));
    expect([...aliases].sort()).toEqual(['agent', 'dir', 'expires', 'issuer', 'issuer-key', 'key', 'output', 'trust', 'ttl']);
    const retired = [...aliases].filter((a) => !LEGACY_ALIASES.includes(a));
    for (const [command, options] of Object.entries(COMMANDS)) {
      for (const name of Object.keys(options)) expect(retired, `${command} --${name}`).not.toContain(name);
      expect(() => parseArgsOptions(options), command).not.toThrow();
    }
    // The legacy aliases are exactly those whose name another command uses for something else.
    const canonical = new Set(Object.values(COMMANDS).flatMap((o) => Object.keys(o)));
    expect([...aliases].filter((a) => canonical.has(a)).sort()).toEqual([...LEGACY_ALIASES].sort());
  });

  it('no source file under src/cli declares an older spelling as an option (commands not listed above included)', () => {
    const retired = ['dir', 'trust', 'output', 'expires', 'ttl', 'issuer-key', 'audit-dir', 'key-store', 'keystore', 'ca-dir'];
    const dir = join(REPO_ROOT, 'src', 'cli');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const m of text.matchAll(/(?:'([a-z-]+)'|\b([a-z]+))\s*:\s*\{\s*type:\s*'(?:string|boolean)'/g)) {
        expect(retired, `${file}: option ${m[1] ?? m[2]}`).not.toContain(m[1] ?? m[2]);
      }
    }
  });
});
