/**
 * `agentos token`: issue, verify and revoke the short-lived agent tokens (EdDSA JWTs bound to
 * the agent's key; see `src/identity/tokens.ts`).
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { decodeProtectedHeader } from 'jose';
import { UsageError } from '../errors.js';
import { rawPublicKey } from '../identity/keys.js';
import { KeyStore } from '../identity/keystore.js';
import { RevocationStore } from '../identity/revocations.js';
import { TOKEN_TYPES, TokenService, type TokenKind } from '../identity/tokens.js';
import { durationArg, parse, readPassphraseFile, reportError, safeText, type ExitStatus } from './common.js';
import { DEFAULT_KEY_STORE, FLAGS, flagLine, withAliases } from './flags.js';

/** Where `agentos token` keeps its revocation list unless told otherwise. */
export const DEFAULT_REVOCATIONS = '.agentos/tokens/revoked.jsonl';

/**
 * The options of `agentos token` (one set for its three commands). `--issuer-key NAME` and
 * `--ttl DURATION` were the first names of --key and --valid here.
 */
export const TOKEN_OPTIONS = {
  keys: FLAGS.keys,
  'passphrase-file': FLAGS['passphrase-file'],
  key: withAliases(FLAGS.key, 'issuer-key'),
  issuer: FLAGS.issuer,
  revocations: { type: 'string' },
  'agent-id': FLAGS['agent-id'],
  'agent-type': FLAGS['agent-type'],
  'agent-key': FLAGS['agent-key'],
  'agent-key-file': FLAGS['agent-key-file'],
  kind: { type: 'string' },
  valid: withAliases(FLAGS.valid, 'ttl'),
  scope: { type: 'string', multiple: true },
  reason: FLAGS.reason,
  family: { type: 'boolean' },
  json: FLAGS.json,
  help: FLAGS.help,
} as const;
type Values = ReturnType<typeof parse<typeof TOKEN_OPTIONS>>['values'];

export const TOKEN_HELP = `Usage: agentos token <command> [options]

Short-lived tokens for agents: JWTs signed with an Ed25519 key from the key store (EdDSA),
bound to the agent's own public key (cnf.jkt), with a persistent revocation list.

Commands:
  issue     issue a token:   --agent-id ID --agent-type TYPE (--agent-key KEY | --agent-key-file FILE)
                             [--kind access|refresh|session] [--valid DURATION] [--scope S]...
  verify    check a token:   verify <token|-> [--agent-key KEY | --agent-key-file FILE] [--agent-id ID]
                             [--kind KIND]; exit 0 valid, 1 not valid (the code and reason are printed)
  revoke    revoke a token:  revoke <token|jti> --reason TEXT [--family]

Options:
${flagLine(TOKEN_OPTIONS.keys, `the key store (default ${DEFAULT_KEY_STORE}); 'issue' needs the passphrase`)}
${flagLine(TOKEN_OPTIONS['passphrase-file'])}
${flagLine(TOKEN_OPTIONS.key, "the signing key's name in the key store (default tokens)")}
${flagLine(TOKEN_OPTIONS.issuer, 'the iss claim (default agentos)')}
  --revocations FILE     the revocation list (default ${DEFAULT_REVOCATIONS})
${flagLine(TOKEN_OPTIONS['agent-id'], "the agent's id (the sub claim)")}
${flagLine(TOKEN_OPTIONS['agent-type'])}
${flagLine(TOKEN_OPTIONS['agent-key'])}
${flagLine(TOKEN_OPTIONS['agent-key-file'], 'a file holding it (that text, a PEM public key, a JWK, or {"publicKey": …})')}
  --kind KIND            access (default for issue; 5 min), refresh (24 h) or session (8 h);
                         verify defaults to the kind the token's header names
${flagLine(TOKEN_OPTIONS.valid, 'lifetime, e.g. 90s, 10m, 2h (at most 24h)')}
  --scope S              a scope to grant; repeatable or comma-separated
${flagLine(TOKEN_OPTIONS.reason, 'revoke: why (required; kept in the revocation list)')}
  --family               revoke: also revoke every token of the token's family
${flagLine(TOKEN_OPTIONS.json)}
${flagLine(TOKEN_OPTIONS.help)}`;

/** A raw 32-byte Ed25519 public key from base64url, hex, PEM, a JWK or `{ "publicKey": … }`. */
export function parseAgentKey(text: string, what: string): Uint8Array {
  const t = text.trim();
  const fail = (): never => {
    throw new UsageError(`${what}: expected an Ed25519 public key (32 bytes as base64url or 64 hex digits, a PEM public key, or a JWK)`);
  };
  if (/^[0-9a-fA-F]{64}$/.test(t)) return new Uint8Array(Buffer.from(t, 'hex'));
  if (/^[A-Za-z0-9_-]{43}$/.test(t)) return new Uint8Array(Buffer.from(t, 'base64url'));
  try {
    if (t.startsWith('-----BEGIN')) {
      const k = createPublicKey(t);
      if (k.asymmetricKeyType === 'ed25519') return rawPublicKey(k);
    } else if (t.startsWith('{')) {
      const o = JSON.parse(t) as { kty?: string; crv?: string; x?: string; publicKey?: string };
      if (o.kty === 'OKP' && o.crv === 'Ed25519' && typeof o.x === 'string') return parseAgentKey(o.x, what);
      if (typeof o.publicKey === 'string') return parseAgentKey(o.publicKey, what);
    }
  } catch {
    // fall through to the usage error
  }
  return fail();
}

async function agentKey(v: Values, required: boolean): Promise<Uint8Array | undefined> {
  if (v['agent-key'] !== undefined && v['agent-key-file'] !== undefined) throw new UsageError('give --agent-key or --agent-key-file, not both');
  if (v['agent-key'] !== undefined) return parseAgentKey(v['agent-key'], '--agent-key');
  const file = v['agent-key-file'];
  if (file !== undefined) {
    const bytes = await readFile(file).catch((e: unknown) => {
      throw new UsageError(`--agent-key-file ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    });
    return bytes.length === 32 ? new Uint8Array(bytes) : parseAgentKey(bytes.toString('utf8'), `--agent-key-file ${file}`);
  }
  if (required) throw new UsageError("--agent-key KEY or --agent-key-file FILE is required: the agent's public key the token is bound to");
  return undefined;
}

function kindOf(text: string | undefined, dflt: TokenKind | undefined): TokenKind | undefined {
  if (text === undefined) return dflt;
  if (!(text in TOKEN_TYPES)) throw new UsageError(`--kind ${JSON.stringify(text)}: expected access, refresh or session`);
  return text as TokenKind;
}

function ttlOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  return durationArg(text, '--valid');
}

async function readToken(arg: string | undefined): Promise<string> {
  if (arg === undefined) throw new UsageError('give the token (or - to read it from standard input)');
  if (arg !== '-') return arg.trim();
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}


/** Open the key store and revocation list, run `fn` with a TokenService, close. */
async function withService<T>(v: Values, needSecret: boolean, fn: (s: TokenService) => Promise<T>): Promise<T> {
  const passphrase = needSecret ? v['passphrase-file'] !== undefined ? await readPassphraseFile(v['passphrase-file']) : undefined : undefined;
  const keys = await KeyStore.open(v.keys ?? DEFAULT_KEY_STORE, needSecret ? (passphrase !== undefined ? { passphrase } : {}) : { passphrase: () => '', create: false });
  const revocations = await RevocationStore.open(v.revocations ?? DEFAULT_REVOCATIONS, { pollMs: 0 });
  try {
    const service = new TokenService({ keys, issuerKey: v.key ?? 'tokens', revocations, ...(v.issuer !== undefined ? { issuer: v.issuer } : {}) });
    return await fn(service);
  } finally {
    await revocations.close();
  }
}

const iso = (sec: number): string => new Date(sec * 1000).toISOString();

async function issue(v: Values, positionals: string[]): Promise<ExitStatus> {
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; see \`agentos token --help\``);
  if (v['agent-id'] === undefined) throw new UsageError('--agent-id ID is required');
  if (v['agent-type'] === undefined) throw new UsageError('--agent-type TYPE is required');
  const publicKey = (await agentKey(v, true))!;
  const kind = kindOf(v.kind, 'access')!;
  const ttlMs = ttlOf(v.valid);
  const scope = (v.scope ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  return withService(v, true, async (s) => {
    const token = await s.issue({ agentId: v['agent-id']!, agentType: v['agent-type']!, publicKey }, kind, { scope, ...(ttlMs !== undefined ? { ttlMs } : {}) });
    const r = await s.validate(token, { kind, agentPublicKey: publicKey });
    if (!r.ok) throw new UsageError(`the token just issued does not validate: ${r.code}: ${r.reason}`);
    if (v.json) process.stdout.write(JSON.stringify({ ok: true, token, kind, kid: r.kid, claims: r.claims }) + '\n');
    else {
      process.stdout.write(token + '\n');
      process.stderr.write(safeText(`${kind} token for agent ${r.claims.sub} (jti ${r.claims.jti}), expires ${iso(r.claims.exp)}`) + '\n');
    }
    return 0;
  });
}

async function verify(v: Values, positionals: string[]): Promise<ExitStatus> {
  if (positionals.length > 1) throw new UsageError('agentos token verify takes one token; see `agentos token --help`');
  const token = await readToken(positionals[0]);
  let typ: unknown;
  try {
    typ = decodeProtectedHeader(token).typ;
  } catch {
    typ = undefined;
  }
  const byHeader = (Object.keys(TOKEN_TYPES) as TokenKind[]).find((k) => TOKEN_TYPES[k] === typ);
  const kind = kindOf(v.kind, byHeader ?? 'access')!;
  const agentPublicKey = await agentKey(v, false);
  const r = await withService(v, false, (s) => s.validate(token, { kind, ...(agentPublicKey ? { agentPublicKey } : {}), ...(v['agent-id'] !== undefined ? { agentId: v['agent-id'] } : {}) }));
  if (v.json) process.stdout.write(JSON.stringify(r.ok ? { ok: true, kind: r.kind, kid: r.kid, claims: r.claims } : r) + '\n');
  else if (r.ok) {
    const c = r.claims;
    process.stdout.write(safeText(`valid: ${r.kind} token for agent ${c.sub} (type ${c.agent_type}), scope [${c.scope.join(', ')}], bound to key ${c.cnf.jkt}${agentPublicKey ? ' (matches)' : ''}, valid ${iso(c.nbf)} to ${iso(c.exp)}, signed by ${r.kid}, jti ${c.jti}`) + '\n');
  } else process.stdout.write(safeText(`invalid: ${r.code}: ${r.reason}`) + '\n');
  return r.ok ? 0 : 1;
}

async function revoke(v: Values, positionals: string[]): Promise<ExitStatus> {
  if (positionals.length > 1) throw new UsageError('agentos token revoke takes one token or jti; see `agentos token --help`');
  const target = await readToken(positionals[0]);
  if (v.reason === undefined || v.reason.trim() === '') throw new UsageError('--reason TEXT is required (it is kept in the revocation list)');
  const r = await withService(v, false, (s) => s.revoke(target, v.reason!, { family: v.family ?? false }));
  if (v.json) process.stdout.write(JSON.stringify({ ok: true, ...r }) + '\n');
  else {
    const what = r.expired ? `token ${r.jti} had already expired` : r.alreadyRevoked ? `token ${r.jti} was already revoked` : `revoked token ${r.jti} (kept until ${new Date(r.expiresAt).toISOString()})`;
    process.stdout.write(safeText(what + (r.fam !== undefined ? `; revoked its family ${r.fam}` : '')) + '\n');
  }
  return 0;
}

/**
 * Run `agentos token …`.
 *
 * @example
 * ```ts
 * process.exitCode = await tokenCommand(['verify', token, '--agent-key', keyB64u]);
 * ```
 */
export async function tokenCommand(argv: string[]): Promise<ExitStatus> {
  const [sub, ...rest] = argv;
  const json = argv.includes('--json');
  try {
    if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
      process.stdout.write(TOKEN_HELP + '\n');
      return sub === undefined ? 2 : 0;
    }
    if (sub !== 'issue' && sub !== 'verify' && sub !== 'revoke') throw new UsageError(`unknown token command ${JSON.stringify(sub)}; see \`agentos token --help\``);
    const { values, positionals } = parse(rest, TOKEN_OPTIONS, `token ${sub}`);
    if (values.help) {
      process.stdout.write(TOKEN_HELP + '\n');
      return 0;
    }
    return sub === 'issue' ? await issue(values, positionals) : sub === 'verify' ? await verify(values, positionals) : await revoke(values, positionals);
  } catch (e) {
    return reportError(e, json);
  }
}
