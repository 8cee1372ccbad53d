/**
 * `agentos keys`: generate, list, rotate, revoke and export the Ed25519 keys of the key store
 * (`src/identity/keystore.ts`). The passphrase never comes from the command line.
 *
 * @example
 * ```ts
 * process.exitCode = await keysCommand(['generate', 'issuer', '--valid', '90d', '--json']);
 * ```
 */
import { stat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { fromB64u, publicJwk } from '../identity/keys.js';
import { KeyStore, PASSPHRASE_ENV } from '../identity/keystore.js';
import type { KeyInfo } from '../identity/types.js';
import { durationArg, parse, readPassphraseFile, reportError, safeText, type ExitStatus, out, print } from './common.js';
import { DEFAULT_KEY_STORE, FLAGS, flagLine, withAliases } from './flags.js';

/**
 * The options of `agentos keys` (each command takes those of ALLOWED besides the common ones).
 * `--dir DIR` and `--expires DURATION` were the first names of --keys and --valid here.
 */
export const KEYS_OPTIONS = {
  keys: withAliases(FLAGS.keys, 'dir'),
  'passphrase-file': FLAGS['passphrase-file'],
  json: FLAGS.json,
  help: FLAGS.help,
  valid: withAliases(FLAGS.valid, 'expires'),
  overlap: { type: 'string' },
  reason: FLAGS.reason,
} as const;
const DEFAULT_OVERLAP = '24h';

/**
 * Help of `agentos keys`.
 *
 * @example
 * ```ts
 * process.stdout.write(KEYS_HELP + '\n');
 * ```
 */
export const KEYS_HELP = `Usage: agentos keys <command> [options]

Manage the Ed25519 keys that sign components, certificates and tokens. Each key is one file
of the key store, <kid>.json, holding its public key and its private key encrypted under a
passphrase (scrypt + AES-256-GCM).

Commands:
  generate <name>     create a key (--valid DURATION); a name has one active key at a time
  list                every key, newest first, with its status (active, rotated, revoked, expired)
  rotate <name>       replace a name's active key; the old one stays trusted for --overlap
  revoke <name|kid>   stop trusting a key at once (--reason TEXT)
  export <name|kid>   print the public key, kid and fingerprint (never the private key)

Common options:
${flagLine(KEYS_OPTIONS.keys, undefined, 27)}
${flagLine(KEYS_OPTIONS['passphrase-file'], 'read the passphrase from the first line of FILE', 27)}
${flagLine(KEYS_OPTIONS.json, 'machine-readable output (one JSON object)', 27)}
${flagLine(KEYS_OPTIONS.help, 'help for a command: agentos keys <command> --help', 27)}

The passphrase comes from the environment variable ${PASSPHRASE_ENV} or from
--passphrase-file FILE. There is deliberately no option taking the passphrase itself:
command lines are visible to other users (ps, /proc) and kept in shell history.
generate and rotate need it; list, revoke and export do not.
Durations: 30d, 12h, 90m, 45s.
Exit status: 0 ok, 2 bad input (a wrong or missing passphrase too), 5 internal error.`;

const COMMON = [
  flagLine(KEYS_OPTIONS.keys, undefined, 27),
  flagLine(KEYS_OPTIONS['passphrase-file'], `the passphrase (else $${PASSPHRASE_ENV}; never on the command line)`, 27),
  flagLine(KEYS_OPTIONS.json, 'machine-readable output', 27),
].join('\n');

const HELP: Readonly<Record<string, string>> = {
  generate: `Usage: agentos keys generate <name> [--valid DURATION] [--keys DIR] [--passphrase-file FILE] [--json]

Create an Ed25519 key named <name> (letters, digits, '.', '_', '-'). A name has at most one
active key: to replace it, use 'agentos keys rotate'. Needs the passphrase; the first key
sets the passphrase of a new store.

Options:
${flagLine(KEYS_OPTIONS.valid, 'the key expires DURATION from now (e.g. 90d); default: never', 27)}
${COMMON}`,
  list: `Usage: agentos keys list [--keys DIR] [--json]

Print every key, newest first: kid, name, status, creation and expiry times, and for rotated
and revoked keys when and why. Needs no passphrase.

Options:
${COMMON}`,
  rotate: `Usage: agentos keys rotate <name> [--overlap DURATION] [--valid DURATION] [--keys DIR] [--passphrase-file FILE] [--json]

Generate a new active key for <name>. The old key becomes 'rotated': it is still trusted for
--overlap (so that what it signed keeps verifying while the new key is rolled out), then
refused. Needs the passphrase.

Options:
  --overlap DURATION       how long the old key stays trusted (default ${DEFAULT_OVERLAP}; 0 for not at all)
${flagLine(KEYS_OPTIONS.valid, "lifetime of the new key (default: the old key's lifetime)", 27)}
${COMMON}`,
  revoke: `Usage: agentos keys revoke <name|kid> --reason TEXT [--keys DIR] [--json]

Revoke a key (by kid, or the active key of a name): it is refused from now on, whatever
time a signature claims. Cannot be undone. Needs no passphrase, so a stolen key can be
revoked at once.

Options:
${flagLine(KEYS_OPTIONS.reason, 'why (required; shown whenever the key is refused)', 27)}
${COMMON}`,
  export: `Usage: agentos keys export <name|kid> [--keys DIR] [--json]

Print a key's public key (raw 32 bytes, base64url), kid and SHA-256 fingerprint, to give to
whoever verifies its signatures; --json adds the JWK. Never prints the private key.

Options:
${COMMON}`,
};

type Flag = keyof typeof KEYS_OPTIONS;
const ALLOWED: Readonly<Record<string, readonly Flag[]>> = { generate: ['valid'], list: [], rotate: ['overlap', 'valid'], revoke: ['reason'], export: [] };

const when = (t: number | undefined) => (t === undefined ? 'never' : new Date(t).toISOString());

function describeKey(k: KeyInfo, publicOnly: boolean): string {
  const notes: string[] = [];
  if (publicOnly) notes.push('public only');
  if (k.status === 'rotated') notes.push(`rotated ${when(k.rotatedAt)}, trusted until ${when(k.overlapUntil)}, successor ${k.successor}`);
  if (k.status === 'revoked') notes.push(`revoked ${when(k.revokedAt)}: ${safeText(k.revocationReason ?? '')}`);
  return `${k.kid}  ${safeText(k.name).padEnd(16)} ${k.status.padEnd(8)} created ${when(k.created)}  expires ${when(k.expires)}${notes.length ? `  (${notes.join('; ')})` : ''}`;
}

async function run(sub: string, argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, KEYS_OPTIONS, `keys ${sub}`);
  if (values.help) return print(HELP[sub] ?? KEYS_HELP);
  for (const flag of ['valid', 'overlap', 'reason'] as const) {
    if (values[flag] !== undefined && !ALLOWED[sub]?.includes(flag)) throw new UsageError(`keys ${sub} has no --${flag} option; see \`agentos keys ${sub} --help\``);
  }
  const wanted = sub === 'list' ? 0 : 1;
  if (positionals.length !== wanted) {
    throw new UsageError(`keys ${sub} takes ${wanted === 0 ? 'no arguments' : `one argument (${sub === 'generate' || sub === 'rotate' ? '<name>' : '<name|kid>'})`}; see \`agentos keys ${sub} --help\``);
  }
  const target = positionals[0] ?? '';
  const dir = values.keys ?? DEFAULT_KEY_STORE;
  const json = values.json ?? false;
  const file = values['passphrase-file'];
  if (sub !== 'generate' && sub !== 'rotate' && !(await stat(dir).then((s) => s.isDirectory(), () => false))) {
    if (sub === 'list') return out(json, { ok: true, keys: [] }, `no keys (no key store at ${dir})`);
    throw new UsageError(`no key store at ${dir}; see \`agentos keys generate --help\``);
  }
  const store = await KeyStore.open(dir, file !== undefined ? { passphrase: () => readPassphraseFile(file) } : {});
  switch (sub) {
    case 'generate': {
      const key = await store.generate(target, values.valid !== undefined ? { expiresInMs: durationArg(values.valid, '--valid', 1) } : {});
      return out(json, { ok: true, key }, `generated key ${key.kid} "${key.name}"\n  fingerprint ${key.fingerprint}\n  expires ${when(key.expires)}`);
    }
    case 'list': {
      const keys = store.list().map((k) => ({ ...k, publicOnly: !store.hasPrivateKey(k.kid) }));
      return out(json, { ok: true, keys }, keys.length === 0 ? `no keys in ${dir}` : keys.map((k) => describeKey(k, k.publicOnly)).join('\n'));
    }
    case 'rotate': {
      const overlapMs = durationArg(values.overlap ?? DEFAULT_OVERLAP, '--overlap', 0);
      const r = await store.rotate(target, { overlapMs, ...(values.valid !== undefined ? { expiresInMs: durationArg(values.valid, '--valid', 1) } : {}) });
      const text = `rotated "${r.current.name}": ${r.previous.kid} -> ${r.current.kid}\n  ${r.previous.kid} stays trusted until ${when(r.previous.overlapUntil)}\n  new fingerprint ${r.current.fingerprint}\n  expires ${when(r.current.expires)}`;
      return out(json, { ok: true, ...r }, text);
    }
    case 'revoke': {
      if (values.reason === undefined || values.reason.trim() === '') throw new UsageError('keys revoke needs --reason TEXT (why the key is no longer trusted)');
      const key = await store.revoke(target, values.reason);
      return out(json, { ok: true, key }, `revoked key ${key.kid} "${key.name}" at ${when(key.revokedAt)}: ${safeText(key.revocationReason ?? '')}`);
    }
    default: {
      const key = store.get(target);
      if (!key) throw new UsageError(`no key ${JSON.stringify(target)} in ${dir} (a name selects its active key; give a kid for another one)`);
      const text = `kid          ${key.kid}\nname         ${safeText(key.name)}\nstatus       ${key.status}\npublicKey    ${key.publicKey}\nfingerprint  ${key.fingerprint}`;
      return out(json, { ok: true, kid: key.kid, name: key.name, status: key.status, publicKey: key.publicKey, fingerprint: key.fingerprint, jwk: publicJwk(fromB64u(key.publicKey)) }, text);
    }
  }
}

/**
 * Run `agentos keys …`; returns the exit status (0 ok, 2 bad input, 5 internal error).
 *
 * @example
 * ```ts
 * const status = await keysCommand(['list', '--keys', '.agentos/keys', '--json']);
 * ```
 */
export async function keysCommand(argv: string[]): Promise<ExitStatus> {
  const [sub, ...rest] = argv;
  const json = argv.includes('--json');
  try {
    switch (sub) {
      case 'generate':
      case 'list':
      case 'rotate':
      case 'revoke':
      case 'export':
        return await run(sub, rest);
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(KEYS_HELP + '\n');
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown keys command ${JSON.stringify(sub)}; see \`agentos keys --help\``);
    }
  } catch (e) {
    return reportError(e, json);
  }
}
