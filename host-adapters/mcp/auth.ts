/**
 * Bearer authentication for the Streamable HTTP server, with the sandbox's own tokens (the
 * EdDSA JWTs of `agentos token issue` / `TokenService`): every request to the MCP endpoint
 * carries `Authorization: Bearer <token>`, and the token must validate under the token
 * service's trusted issuer key, not be expired or revoked, be an access or session token (never
 * a refresh token), come from this deployment (`iss`) and carry the required scopes (default
 * {@link MCP_TOKEN_SCOPE}, which acts as the MCP server's audience: every access and session
 * token has the audience `agentos-gate`, so the scope is what says a token is meant for MCP).
 *
 * Refusals follow RFC 6750: no credentials → 401 with a bare `Bearer realm=…` challenge; a token
 * that does not validate → 401 `error="invalid_token"`; a valid token without the scope → 403
 * `error="insufficient_scope"`. The description a client sees is a fixed sentence per refusal
 * code; the token service's detailed reason goes to the server's log only, and neither ever
 * holds the token.
 *
 * The tokens' key binding (`cnf.jkt`) is not checked: HTTP carries no proof that the client holds
 * that key, so whoever holds the token is its subject. Keep tokens short-lived, and put TLS (a
 * reverse proxy) in front of a server that is not on loopback.
 *
 * @example
 * ```ts
 * const keys = await KeyStore.open('.agentos/keys', { passphrase: () => '', create: false });
 * const revocations = await RevocationStore.open('.agentos/tokens/revoked.jsonl');
 * const tokens = new TokenService({ keys, issuerKey: 'tokens', revocations });
 * await serveHttp({ sandbox, config, host: '0.0.0.0', port: 8080, auth: { tokens } });
 * ```
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { TokenRefusalCode, TokenService, TokenValidation } from 'agent-os-sandbox';

/** The scope a token needs unless {@link McpHttpAuth.scopes} says otherwise. */
export const MCP_TOKEN_SCOPE = 'mcp';
/** The realm named in `WWW-Authenticate` unless {@link McpHttpAuth.realm} says otherwise. */
export const DEFAULT_AUTH_REALM = 'agentos-mcp';

/** The token kinds a client may present (a refresh token is only ever exchanged, never presented). */
export type McpTokenKind = 'access' | 'session';

/**
 * The `auth` option of `serveHttp`: bearer tokens issued by this sandbox's token service.
 *
 * @example `{ tokens: new TokenService({ keys, issuerKey: 'tokens', revocations }), scopes: ['mcp'] }`
 */
export interface McpHttpAuth {
  /**
   * Validates the tokens: a `TokenService` whose key store trusts the issuer key and whose
   * revocation list withdraws tokens (a list shared with `agentos token revoke` is re-read
   * every second by default).
   */
  readonly tokens: Pick<TokenService, 'validate'>;
  /** The kinds accepted. Default both, `['access', 'session']`. */
  readonly kinds?: readonly McpTokenKind[];
  /** Scopes a token must all carry. Default `[MCP_TOKEN_SCOPE]` (`mcp`); `[]` accepts any access or session token of the issuer. */
  readonly scopes?: readonly string[];
  /** The realm of the challenge. Default {@link DEFAULT_AUTH_REALM}. */
  readonly realm?: string;
}

/** Who a request comes from, by its token. */
export interface McpPrincipal {
  /** The token's subject (`sub`): the id it was issued to (`agentos token issue --agent-id`). */
  readonly subject: string;
  readonly agentType: string;
  /** The token's id (`jti`), to find it in the revocation list. */
  readonly tokenId: string;
  readonly kind: McpTokenKind;
  readonly scopes: readonly string[];
  /** Expiry, seconds since the epoch. */
  readonly expiresAt: number;
}

/** The answer for one request: who it is, or the refusal to send. */
export type AuthOutcome =
  | { readonly ok: true; readonly principal: McpPrincipal; readonly authInfo: AuthInfo }
  | {
      readonly ok: false;
      readonly status: 401 | 403;
      /** The `WWW-Authenticate` header. */
      readonly challenge: string;
      /** The client's message (the JSON-RPC error). */
      readonly message: string;
      /** The server's log line: the refusal code and the token service's reason, never the token. */
      readonly detail: string;
    };

/** What a client is told per refusal code: fixed text, so nothing of the token is echoed into a header. */
const DESCRIPTIONS: Readonly<Record<TokenRefusalCode, string>> = {
  MALFORMED: 'the token is malformed',
  BAD_ALG: 'the token algorithm is not accepted',
  BAD_SIGNATURE: 'the token signature does not verify',
  UNKNOWN_KEY: 'the token was not signed by a trusted issuer key',
  KEY_NOT_TRUSTED: 'the token was not signed by a trusted issuer key',
  EXPIRED: 'the token has expired',
  NOT_YET_VALID: 'the token is not valid yet',
  WRONG_AUDIENCE: 'the token is for another audience or issuer',
  WRONG_TYPE: 'the token is not an access or session token',
  REVOKED: 'the token has been revoked',
  WRONG_AGENT: 'the token is not accepted',
  KEY_MISMATCH: 'the token is not accepted',
};

/** RFC 6750 b64token, after the scheme. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
/** What may stand inside a quoted auth-param here (RFC 6749 scope-token characters: no `"` or `\`). */
const PARAM = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const KINDS: readonly McpTokenKind[] = ['access', 'session'];

/**
 * Check `auth` and return the function that authenticates one request. Throws a `TypeError`
 * for options that cannot work (no validator, a refresh kind, a scope with a space or a quote).
 */
export function createAuthenticator(auth: McpHttpAuth): (req: IncomingMessage) => Promise<AuthOutcome> {
  if (typeof auth?.tokens?.validate !== 'function') throw new TypeError('auth.tokens: expected a TokenService (new TokenService({ keys, issuerKey, revocations }))');
  const kinds = [...(auth.kinds ?? KINDS)];
  if (kinds.length === 0 || kinds.some((k) => !KINDS.includes(k))) throw new TypeError(`auth.kinds: expected a non-empty list of ${KINDS.join(', ')} (a refresh token is never presented)`);
  const scopes = [...(auth.scopes ?? [MCP_TOKEN_SCOPE])];
  for (const s of scopes) if (typeof s !== 'string' || !PARAM.test(s)) throw new TypeError(`auth.scopes: ${JSON.stringify(s)} is not a scope (printable ASCII, no space, quote or backslash)`);
  const realm = auth.realm ?? DEFAULT_AUTH_REALM;
  if (typeof realm !== 'string' || !/^[\x20\x21\x23-\x5B\x5D-\x7E]+$/.test(realm)) throw new TypeError('auth.realm: printable ASCII without quotes or backslashes');
  const tokens = auth.tokens;

  const challenge = (params: Record<string, string> = {}) =>
    ['Bearer realm="' + realm + '"', ...Object.entries(params).map(([k, v]) => `${k}="${v}"`)].join(', ');
  const invalid = (code: TokenRefusalCode, reason: string): AuthOutcome => {
    const description = `${code}: ${DESCRIPTIONS[code] ?? 'the token is not accepted'}`;
    return { ok: false, status: 401, challenge: challenge({ error: 'invalid_token', error_description: description }), message: `invalid_token: ${description}`, detail: `${code}: ${reason}` };
  };

  return async (req) => {
    const header = req.headers.authorization;
    const m = header === undefined ? null : BEARER.exec(header);
    if (!m) {
      // No credentials of this scheme: a bare challenge (RFC 6750 §3.1), saying what to send.
      const what = header === undefined ? 'no Authorization header' : 'an Authorization header of another scheme, or a malformed one';
      return { ok: false, status: 401, challenge: challenge(), message: 'authentication required: send Authorization: Bearer <token> (a token from `agentos token issue`)', detail: what };
    }
    const token = m[1]!;
    let v: TokenValidation | undefined;
    for (const kind of kinds) {
      v = await tokens.validate(token, { kind });
      // Each kind is tried in turn: a token of another kind is refused as WRONG_TYPE (verified tokens are cached, so the retry is cheap).
      if (v.ok || v.code !== 'WRONG_TYPE') break;
    }
    if (!v!.ok) return invalid(v!.code, v!.reason);
    const { claims } = v!;
    const missing = scopes.filter((s) => !claims.scope.includes(s));
    if (missing.length > 0) {
      const description = `the token lacks the scope ${missing.join(' ')}`;
      return {
        ok: false,
        status: 403,
        challenge: challenge({ error: 'insufficient_scope', error_description: description, scope: scopes.join(' ') }),
        message: `insufficient_scope: ${description} (issue it with --scope ${missing.join(',')})`,
        detail: `token ${claims.jti} of ${JSON.stringify(claims.sub)} lacks the scope ${missing.join(' ')}`,
      };
    }
    const principal: McpPrincipal = Object.freeze({ subject: claims.sub, agentType: claims.agent_type, tokenId: claims.jti, kind: v!.kind as McpTokenKind, scopes: claims.scope, expiresAt: claims.exp });
    // The SDK's shape, which its transport hands to every handler as `extra.authInfo`.
    const authInfo: AuthInfo = { token, clientId: claims.sub, scopes: [...claims.scope], expiresAt: claims.exp, extra: { subject: claims.sub, agentType: claims.agent_type, tokenId: claims.jti, kind: v!.kind } };
    return { ok: true, principal, authInfo };
  };
}

/** Whether two subjects are the same, in time that does not depend on where they differ. */
export function sameSubject(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * Whether `host` names this machine's loopback interface only (`localhost`, `127.0.0.0/8`,
 * `::1`, or IPv4-mapped loopback); `0.0.0.0`, `::` and any other name are reachable from elsewhere.
 *
 * @example `isLoopbackHost('127.0.0.1') // true`, `isLoopbackHost('0.0.0.0') // false`
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(h) || /^::ffff:127\./.test(h) || /^(0{1,4}:){5}ffff:127\./.test(h);
  return false;
}
