/**
 * The authentication flags of `agentos mcp --http`: `--require-token` makes every request carry
 * a bearer token of the sandbox's own (`agentos token issue`), validated against the same key
 * store, issuer key, issuer name and revocation list that `agentos token verify` uses (the same
 * flags, with the same defaults). Serving on an address other than loopback without it is a
 * usage error unless `--allow-unauthenticated` says that is meant.
 */
import { KeyStore } from '../identity/keystore.js';
import { RevocationStore } from '../identity/revocations.js';
import { TokenService } from '../identity/tokens.js';
import { UsageError } from '../errors.js';
import { DEFAULT_KEY_STORE, FLAGS, flagLine } from './flags.js';
import { DEFAULT_REVOCATIONS, TOKEN_OPTIONS } from './token.js';

/** How often the key store is re-read, so a key rotated or revoked by `agentos keys` counts (ms). */
export const KEY_RELOAD_MS = 5000;
/** The scope a token needs unless `--token-scope` says otherwise (the adapter's MCP_TOKEN_SCOPE). */
const DEFAULT_SCOPE = 'mcp';

/** The options of `agentos mcp` about authentication; the trust flags are those of `agentos token`. */
export const MCP_AUTH_OPTIONS = {
  'require-token': { type: 'boolean' },
  keys: FLAGS.keys,
  key: TOKEN_OPTIONS.key,
  issuer: FLAGS.issuer,
  revocations: TOKEN_OPTIONS.revocations,
  'token-scope': { type: 'string', multiple: true },
  'allow-unauthenticated': { type: 'boolean' },
} as const;

/** The flags that only mean something with --require-token. */
const TRUST_FLAGS = ['keys', 'key', 'issuer', 'revocations', 'token-scope'] as const;

/** Their help, for MCP_HELP. */
export const MCP_AUTH_HELP = `  --require-token        with --http: every request needs 'Authorization: Bearer TOKEN', a token
                         from 'agentos token issue' (kind access or session, with the scope
                         mcp); others get 401 (403 without the scope), and a session stays
                         bound to the subject (--agent-id) of the token that opened it
${flagLine(MCP_AUTH_OPTIONS.keys, `with --require-token: the key store that trusts the issuer key\n(default ${DEFAULT_KEY_STORE}; no passphrase needed; re-read every ${KEY_RELOAD_MS / 1000} s)`)}
${flagLine(MCP_AUTH_OPTIONS.key, "with --require-token: the issuer key's name (default tokens)")}
${flagLine(MCP_AUTH_OPTIONS.issuer, 'with --require-token: the iss claim tokens must carry (default agentos)')}
  --revocations FILE     with --require-token: the revocation list ('agentos token revoke' adds to
                         it; re-read every second; default ${DEFAULT_REVOCATIONS})
  --token-scope S        with --require-token: a scope tokens must carry instead of mcp;
                         repeatable or comma-separated (all are required)
  --allow-unauthenticated
                         with --http on an address other than loopback: serve without
                         --require-token anyway (anyone who can reach it can run the agents)`;

/** The parsed values of MCP_AUTH_OPTIONS. */
interface AuthValues {
  readonly 'require-token'?: boolean;
  readonly keys?: string;
  readonly key?: string;
  readonly issuer?: string;
  readonly revocations?: string;
  readonly 'token-scope'?: string[];
  readonly 'allow-unauthenticated'?: boolean;
}

/**
 * Usage errors of the authentication flags, given where the server listens (none: stdio) and
 * the adapter's loopback test.
 */
export function checkAuthFlags(v: AuthValues, listen: { host: string; port: number } | undefined, isLoopback: (host: string) => boolean): void {
  if (listen === undefined) {
    const given = (['require-token', 'allow-unauthenticated'] as const).find((f) => v[f] !== undefined);
    if (given) throw new UsageError(`--${given} goes with --http (over stdio, the client that starts the server is the only one talking to it)`);
  }
  if (!v['require-token']) {
    const given = TRUST_FLAGS.find((f) => v[f] !== undefined);
    if (given) throw new UsageError(`--${given} goes with --require-token`);
  } else if (v['allow-unauthenticated']) {
    throw new UsageError('--allow-unauthenticated and --require-token contradict each other: give one of them');
  }
  if (listen && !v['require-token'] && !v['allow-unauthenticated'] && !isLoopback(listen.host)) {
    throw new UsageError(
      `--http ${listen.host}:${listen.port} is not a loopback address and nothing authenticates the requests: add --require-token ` +
        "(bearer tokens from 'agentos token issue'), or --allow-unauthenticated to serve anyone who can reach it",
    );
  }
}

/** The scopes of --token-scope (repeatable, comma-separated), or the default. */
export function scopesOf(v: AuthValues): string[] {
  const scopes = (v['token-scope'] ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  if (v['token-scope'] !== undefined && scopes.length === 0) throw new UsageError('--token-scope: give a scope (tokens must carry at least one)');
  return scopes.length > 0 ? scopes : [DEFAULT_SCOPE];
}

/** The `auth` option of serveHttp, and what closes it. */
export interface TokenAuth {
  readonly auth: { readonly tokens: TokenService; readonly scopes: readonly string[] };
  close(): Promise<void>;
}

/**
 * With --require-token: open the key store (read-only: no passphrase) and the revocation list,
 * checking that the issuer key is there and trusted, so a typo fails at start, not at the
 * first request. Undefined without --require-token.
 */
export async function openTokenAuth(v: AuthValues, log: (line: string) => void): Promise<TokenAuth | undefined> {
  if (!v['require-token']) return undefined;
  const scopes = scopesOf(v);
  const dir = v.keys ?? DEFAULT_KEY_STORE;
  const issuerKey = v.key ?? 'tokens';
  const keys = await KeyStore.open(dir, { passphrase: () => '', create: false });
  const named = keys.list().filter((k) => k.name === issuerKey);
  if (named.length === 0) {
    throw new UsageError(`--require-token: the key store ${dir} has no key named ${JSON.stringify(issuerKey)} to check tokens with; give --keys DIR and --key NAME as for 'agentos token issue'`);
  }
  if (!named.some((k) => keys.trust(k.kid).ok)) throw new UsageError(`--require-token: every key named ${JSON.stringify(issuerKey)} in ${dir} is revoked or expired; no token could validate`);
  const revocations = await RevocationStore.open(v.revocations ?? DEFAULT_REVOCATIONS, { onError: (e) => log(`revocation list: ${(e as Error).message}`) });
  const reload = setInterval(() => void keys.reload().catch((e: unknown) => log(`key store ${dir}: ${(e as Error).message} (keeping the keys read before)`)), KEY_RELOAD_MS);
  reload.unref();
  const tokens = new TokenService({ keys, issuerKey, revocations, ...(v.issuer !== undefined ? { issuer: v.issuer } : {}) });
  log(`bearer tokens required: issuer key ${JSON.stringify(issuerKey)} in ${dir}, revocations in ${revocations.file}, scope ${scopes.join(' ')}`);
  return {
    auth: { tokens, scopes },
    close: async () => {
      clearInterval(reload);
      await revocations.close();
    },
  };
}
