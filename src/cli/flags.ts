/**
 * The flags the `agentos` commands share, defined once: the same name means the same thing in
 * every command (`--audit DIR` is the audit directory everywhere, `--keys DIR` the key store).
 * Commands take these definitions instead of declaring their own, and an older spelling a
 * command used to take stays accepted as an alias (`withAliases`), folded into the canonical
 * flag by `parse()` in `./common.ts`; giving both with different values is a usage error.
 *
 * The table: canonical flag, meaning, the commands that take it, older spellings kept as aliases.
 *
 *   --audit DIR             audit log directory       run, audit *                 audit: --dir
 *   --keys DIR              key store                 run, keys *, sign, verify,   run: --trust
 *                                                     ca *, token *, mcp           keys: --dir
 *   --ca DIR                CA directory              ca *                         ca: --dir
 *   --policy FILE           policy (YAML or JSON)     run, inspect, policy explain,
 *                                                     policy check (repeatable)
 *   --cache-dir DIR         component cache           run, inspect
 *   --passphrase-file FILE  key passphrase            keys *, sign, ca *, token *
 *   --json                  machine-readable output   every command
 *   -h, --help              help                      every command
 *   -o, --out FILE          where the result goes     build, sign, audit export,   ca: --output
 *                                                     audit checkpoint, ca issue|crl
 *   --witness DIR           checkpoint witness        run, audit verify|checkpoint
 *   --key NAME              a signing key's name      sign, ca init, token, mcp    token, mcp: --issuer-key
 *                           in the key store
 *   --valid DURATION        lifetime of what is made  sign, ca init|issue, token,  keys: --expires
 *                                                     keys generate|rotate         token: --ttl
 *   --reason TEXT           why (kept with it)        keys|ca|token revoke
 *   --agent-id ID           an agent's id             token, ca issue,             audit: --agent
 *                                                     audit query|tail
 *   --agent-type TYPE       an agent's type           sign, token issue, ca issue
 *   --agent-key KEY         an agent's public key     token, ca issue
 *   --agent-key-file FILE   the same, from a file     token, ca issue
 *   --issuer NAME           the iss claim             sign, token, mcp
 *
 * Flags of one command (declared where they are used): run --task --task-file --mount --fuel
 * --memory --timeout --audit-durability --no-audit --allow-unsigned --engine; build --backend;
 * policy explain --agent JSON --request JSON; audit verify --trusted --export --deep --log-key
 * (alias --key); audit query|tail --type --outcome --severity --correlation --since --until
 * --from --to, query --limit --reverse, tail -n -f --interval; audit export --from --to; audit
 * proof --seq --size --from --to; audit prune --before --older-than; keys rotate --overlap;
 * verify --kid (alias --issuer); ca init --subject --crl-valid --force; ca verify --at; ca crl
 * --refresh; token --revocations --kind --scope --family; sign --sub --capabilities; mcp
 * --require-token --token-scope --allow-unauthenticated, and --revocations as token's.
 *
 * Three aliases keep a name another command uses for something else (kept so that existing
 * scripts work; new ones should use the canonical flag): `audit --agent` (explain's --agent is
 * a JSON description), `audit verify --key` (elsewhere a key's name), `verify --issuer`
 * (elsewhere the iss claim). `LEGACY_ALIASES` lists them for the test that guards the table.
 */
import { UsageError } from '../errors.js';
import { PASSPHRASE_ENV } from '../identity/keystore.js';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';

/** Where the key store is unless `--keys` says otherwise. */
export const DEFAULT_KEY_STORE = '.agentos/keys';
/** Where the CA is unless `--ca` says otherwise. */
export const DEFAULT_CA_DIR = '.agentos/ca';

/** A command-line option: what node:util parseArgs needs, plus the older names it is also accepted by. */
export interface CliOption {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Other long names accepted for this option (older spellings), folded into it by `parse()`. */
  readonly aliases?: readonly string[];
}

/** A shared flag: an option with its canonical name, placeholder and one line of meaning. */
export interface FlagDef extends CliOption {
  readonly name: string;
  /** The value's placeholder in help (DIR, FILE, ...); none for a boolean. */
  readonly arg?: string;
  readonly help: string;
}

/** Options by long name, as commands declare them. */
export type CliOptions = Readonly<Record<string, CliOption>>;

export const FLAGS = {
  audit: { name: 'audit', type: 'string', arg: 'DIR', help: `the audit log directory (default ${DEFAULT_AUDIT_DIR})` },
  keys: { name: 'keys', type: 'string', arg: 'DIR', help: `the key store (default ${DEFAULT_KEY_STORE})` },
  ca: { name: 'ca', type: 'string', arg: 'DIR', help: `the CA directory (default ${DEFAULT_CA_DIR})` },
  policy: { name: 'policy', type: 'string', arg: 'FILE', help: 'policy file (YAML or JSON)' },
  'cache-dir': { name: 'cache-dir', type: 'string', arg: 'DIR', help: 'transpiled (jco) and compiled (wasmtime) components\n(default: ~/.cache/agent-os-sandbox)' },
  'passphrase-file': { name: 'passphrase-file', type: 'string', arg: 'FILE', help: `the key passphrase: the first line of FILE\n(else $${PASSPHRASE_ENV}; never on the command line)` },
  json: { name: 'json', type: 'boolean', help: 'print one JSON object' },
  help: { name: 'help', type: 'boolean', short: 'h', help: 'show this help' },
  out: { name: 'out', type: 'string', short: 'o', arg: 'FILE', help: 'write the result to FILE' },
  witness: { name: 'witness', type: 'string', arg: 'DIR', help: 'a witness directory: a copy of every signed checkpoint (keep it on other storage)' },
  key: { name: 'key', type: 'string', arg: 'NAME', help: "the signing key's name in the key store" },
  valid: { name: 'valid', type: 'string', arg: 'DURATION', help: 'lifetime of what is made, e.g. 90d, 12h, 10m' },
  reason: { name: 'reason', type: 'string', arg: 'TEXT', help: 'why (required; kept with the revocation)' },
  'agent-id': { name: 'agent-id', type: 'string', arg: 'ID', help: "the agent's id" },
  'agent-type': { name: 'agent-type', type: 'string', arg: 'TYPE', help: "the agent's type" },
  'agent-key': { name: 'agent-key', type: 'string', arg: 'KEY', help: "the agent's Ed25519 public key: 32 bytes as base64url or 64 hex digits\n(write --agent-key=KEY when a base64url key starts with -)" },
  'agent-key-file': { name: 'agent-key-file', type: 'string', arg: 'FILE', help: 'a file holding it (raw 32 bytes, that text, a PEM public key, a JWK,\nor {"publicKey": …})' },
  issuer: { name: 'issuer', type: 'string', arg: 'NAME', help: "the issuer's name in the claims (iss)" },
} as const satisfies Readonly<Record<string, FlagDef>>;

/** Aliases whose name another command uses canonically for something else (see the table above). */
export const LEGACY_ALIASES: readonly string[] = ['agent', 'key', 'issuer'];

/**
 * The flag also accepted under older names.
 *
 * @example `{ audit: withAliases(FLAGS.audit, 'dir') }` accepts `--audit DIR` and `--dir DIR`.
 */
export function withAliases<F extends CliOption>(flag: F, ...aliases: string[]): F & { readonly aliases: readonly string[] } {
  return { ...flag, aliases: [...(flag.aliases ?? []), ...aliases] };
}

/**
 * The node:util parseArgs options for `options`: each alias becomes an option of the same
 * type (without the short name, which stays with the canonical flag), and the fields parseArgs
 * does not know are dropped.
 */
export function parseArgsOptions(options: CliOptions): Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> {
  const out: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(options)) {
    out[name] = { type: o.type, ...(o.short !== undefined ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
    for (const alias of o.aliases ?? []) {
      if (alias in options || alias in out) throw new Error(`flag table: --${alias} is both an alias of --${name} and another option`);
      out[alias] = { type: o.type, ...(o.multiple ? { multiple: true } : {}) };
    }
  }
  return out;
}

const shown = (v: unknown) => (Array.isArray(v) ? v.map((x) => JSON.stringify(x)).join(', ') : typeof v === 'string' ? JSON.stringify(v) : String(v));
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Fold every alias's value into its canonical flag, in place: afterwards only canonical names
 * are set. Both spellings with the same value are fine; with different values it is a usage
 * error naming both, since either choice could be the one the user did not mean.
 *
 * @example `resolveAliases({ dir: 'a' }, { audit: withAliases(FLAGS.audit, 'dir') })` → `{ audit: 'a' }`
 */
export function resolveAliases<V extends Record<string, unknown>>(values: V, options: CliOptions, command: string): V {
  const v = values as Record<string, unknown>;
  for (const [name, o] of Object.entries(options)) {
    for (const alias of o.aliases ?? []) {
      if (v[alias] === undefined) continue;
      const given = v[alias];
      delete v[alias];
      if (v[name] !== undefined && !same(v[name], given)) {
        throw new UsageError(`--${name} ${shown(v[name])} and --${alias} ${shown(given)} disagree (--${alias} is an alias of --${name}): give one of them; see \`agentos ${command} --help\``);
      }
      v[name] = given;
    }
  }
  return values;
}

/**
 * One line of help for a flag: `  -o, --out FILE    text; --output is an alias`, the text at
 * column `width` (on the next line when the flag leaves less than two spaces), its further lines indented to it.
 * `text` replaces the shared meaning where a command says more (its default, say).
 *
 * @example `flagLine(withAliases(FLAGS.audit, 'dir'), undefined, 17)`
 */
export function flagLine(flag: FlagDef, text: string = flag.help, width = 25): string {
  const head = `  ${flag.short !== undefined ? `-${flag.short}, ` : ''}--${flag.name}${flag.arg !== undefined ? ` ${flag.arg}` : ''}`;
  const lines = text.split('\n');
  const aliases = flag.aliases ?? [];
  if (aliases.length > 0) {
    const note = aliases.length === 1 ? `--${aliases[0]} is an alias` : `${aliases.map((a) => `--${a}`).join(' and ')} are aliases`;
    const last = lines.length - 1;
    if (width + lines[last]!.length + note.length + 2 <= 100) lines[last] = `${lines[last]}; ${note}`;
    else lines.push(`(${note})`);
  }
  const pad = ' '.repeat(width);
  const first = head.length + 2 <= width ? head.padEnd(width) + lines[0] : `${head}\n${pad}${lines[0]}`;
  return [first, ...lines.slice(1).map((l) => pad + l)].join('\n');
}
