/**
 * Bearer authentication of the Streamable HTTP MCP server with the sandbox's own tokens, against
 * the real MCP SDK client (`StreamableHTTPClientTransport` with `requestInit` headers) and a
 * real server on 127.0.0.1, with tokens issued by the project's `TokenService` over a real key
 * store and revocation list: no token, or one that does not validate (malformed, forged,
 * expired, revoked, a refresh token, another issuer, an untrusted key) → 401 with a Bearer
 * challenge; a token without the scope → 403; a valid one lists and calls tools, and the audit
 * chain names its subject; a session cannot be used with another subject's token. Then the
 * real `agentos mcp --http --require-token`.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, KeyStore, RevocationStore, TokenService, type TokenKind } from 'agent-os-sandbox';
import { createAuthenticator, isLoopbackHost, parseMcpConfig, serveHttp, type McpHttpAuth, type McpHttpServer } from 'agent-os-sandbox/mcp';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { auditRecords, startMcpHttp } from '../helpers/mcp.js';
import { sandboxPerTest, TEST_CACHE_DIR } from '../helpers/sandbox.js';

/** Every request sets its own timeout: the SDK's default (60 s) would outlive the test. */
const REQUEST = { timeout: 15_000 };
const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'agentos-mcp-auth-'));
const KEYS = join(dir, 'keys');
const REVOKED = join(dir, 'revoked.jsonl');

const sandbox = sandboxPerTest({ prewarmWorkers: 0 });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let keys: KeyStore;
let revocations: RevocationStore;
/** The server's validator, over the key store and revocation list `agentos token` uses. */
let tokens: TokenService;
beforeAll(async () => {
  keys = await KeyStore.open(KEYS, { passphrase: 'test passphrase' });
  await keys.generate('tokens');
  await keys.generate('other');
  revocations = await RevocationStore.open(REVOKED, { pollMs: 0 });
  tokens = new TokenService({ keys, issuerKey: 'tokens', revocations });
});
afterAll(async () => {
  await revocations.close();
});

/** A token for `agentId` as `agentos token issue` makes it (default: access, scope mcp). */
function issue(agentId: string, o: { kind?: TokenKind; scope?: string[]; service?: TokenService } = {}): Promise<string> {
  return (o.service ?? tokens).issue({ agentId, agentType: 'mcp-client', publicKey: generateKeyPair().publicKey }, o.kind ?? 'access', { scope: o.scope ?? ['mcp'] });
}

async function serve(auth: Partial<McpHttpAuth> = {}): Promise<{ http: McpHttpServer; auditDir: string; logs: string[]; sandbox: ReturnType<typeof sandbox>['sandbox'] }> {
  const s = sandbox();
  const config = await parseMcpConfig({ agents: { echo: { component: fixturePath('echo') } } }, { source: 'test', baseDir: REPO_ROOT });
  const logs: string[] = [];
  const http = await serveHttp({ sandbox: s.sandbox, config, auth: { tokens, ...auth }, log: (l) => logs.push(l) });
  cleanups.push(() => http.close());
  return { http, auditDir: s.auditDir, logs, sandbox: s.sandbox };
}

/** An MCP client presenting `token` (none: no Authorization header), on an existing session if given. */
function clientFor(url: string, token?: string, sessionId?: string): { client: Client; transport: StreamableHTTPClientTransport } {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: token !== undefined ? { authorization: `Bearer ${token}` } : {} },
    ...(sessionId !== undefined ? { sessionId } : {}),
  });
  const client = new Client({ name: 'auth-test', version: '1.0.0' });
  cleanups.push(() => client.close());
  return { client, transport };
}

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

/** A raw request, to see the status, headers and body the SDK client does not show. */
function raw(url: string, headers: Record<string, string>, o: { method?: string; body?: unknown } = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolveRaw, reject) => {
    const method = o.method ?? 'POST';
    const req = httpRequest(url, { method, headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolveRaw({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? JSON.stringify(o.body ?? INITIALIZE) : undefined);
  });
}

const records = auditRecords;

const echo = async (client: Client, task: string) =>
  (await client.callTool({ name: 'echo', arguments: { task } }, undefined, REQUEST)) as CallToolResult & { structuredContent: { output: string; runId: string } };

describe('serveHttp with auth: refusals', () => {
  it('no token, or another scheme: 401 with a bare Bearer challenge and a JSON-RPC error, before any session exists', async () => {
    const { http } = await serve();
    const { client, transport } = clientFor(http.url);
    await expect(client.connect(transport, REQUEST)).rejects.toMatchObject({ code: 401 });
    expect(http.sessions).toBe(0);

    for (const headers of [{}, { authorization: 'Basic YWxpY2U6c2VjcmV0' }, { authorization: 'Bearer' }] as Record<string, string>[]) {
      const r = await raw(http.url, headers);
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer realm="agentos-mcp"');
      expect(JSON.parse(r.body)).toEqual({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringMatching(/Authorization: Bearer <token>/) }, id: null });
    }
    // The Host/Origin check still comes first (DNS rebinding is refused whatever the token).
    const valid = await issue('alice');
    const foreign = await raw(http.url, { host: 'evil.example', authorization: `Bearer ${valid}` });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatch(/DNS rebinding/);
    expect(foreign.headers['www-authenticate']).toBeUndefined();
  });

  it('a token that does not validate is 401 invalid_token naming its code; the token is never echoed or logged', async () => {
    const { http, logs } = await serve();
    const good = await issue('alice');
    const [h, p, s] = good.split('.') as [string, string, string];
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString('utf8')), sub: 'root' })).toString('base64url');
    const revoked = await issue('carol');
    await tokens.revoke(revoked, 'test: withdrawn');
    const past = new TokenService({ keys, issuerKey: 'tokens', revocations, now: () => Date.now() - 3_600_000 });
    const cases: [string, string, RegExp][] = [
      ['garbage', 'not-a-token', /MALFORMED/],
      ['forged (payload changed)', `${h}.${forgedPayload}.${s}`, /BAD_SIGNATURE/],
      ['expired', await issue('dave', { service: past }), /EXPIRED/],
      ['revoked', revoked, /REVOKED/],
      ['a refresh token', await issue('erin', { kind: 'refresh' }), /WRONG_TYPE|WRONG_AUDIENCE/],
      ['another issuer (deployment)', await issue('frank', { service: new TokenService({ keys, issuerKey: 'tokens', revocations, issuer: 'elsewhere' }) }), /WRONG_AUDIENCE/],
      ['signed by a key that is not the issuer key', await issue('grace', { service: new TokenService({ keys, issuerKey: 'other', revocations }) }), /KEY_NOT_TRUSTED/],
    ];
    for (const [what, token, code] of cases) {
      const r = await raw(http.url, { authorization: `Bearer ${token}` });
      expect(r.status, what).toBe(401);
      const challenge = r.headers['www-authenticate'] ?? '';
      expect(challenge, what).toMatch(/^Bearer realm="agentos-mcp", error="invalid_token", error_description="[A-Z_]+: [^"\\]+"$/);
      expect(challenge, what).toMatch(code);
      expect(JSON.parse(r.body).error.message, what).toMatch(/^invalid_token: /);
      expect(r.body + challenge, what).not.toContain(token);
      const { client, transport } = clientFor(http.url, token);
      await expect(client.connect(transport, REQUEST), what).rejects.toMatchObject({ code: 401 });
    }
    expect(http.sessions).toBe(0);
    expect(logs.filter((l) => /refused POST .*\(401\)/.test(l)).length).toBeGreaterThanOrEqual(cases.length);
    for (const [, token] of cases) expect(logs.join('\n')).not.toContain(token);
  });

  it('a valid token without the required scope is 403 insufficient_scope naming it', async () => {
    const { http } = await serve({ scopes: ['mcp', 'tools:call'] });
    const r = await raw(http.url, { authorization: `Bearer ${await issue('alice', { scope: ['mcp'] })}` });
    expect(r.status).toBe(403);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="agentos-mcp", error="insufficient_scope", error_description="the token lacks the scope tools:call", scope="mcp tools:call"');
    expect(JSON.parse(r.body).error.message).toMatch(/--scope tools:call/);
    expect((await raw(http.url, { authorization: `Bearer ${await issue('alice', { scope: ['mcp', 'tools:call'] })}` })).status).toBe(200);
  });
});

describe('serveHttp with auth: sessions', () => {
  it('a valid access or session token lists and calls tools, and the audit chain names its subject as the principal', async () => {
    const { http, auditDir, logs, sandbox: s } = await serve();
    const runs: string[] = [];
    for (const [agentId, kind] of [['alice', 'access'], ['bob', 'session']] as const) {
      const { client, transport } = clientFor(http.url, await issue(agentId, { kind }));
      await client.connect(transport, REQUEST);
      const { tools } = await client.listTools(undefined, REQUEST);
      expect(tools.map((t) => t.name)).toContain('echo');
      const r = await echo(client, `hello from ${agentId}`);
      expect(r.isError, JSON.stringify(r)).toBeFalsy();
      expect(r.structuredContent.output).toBe(`hello from ${agentId}`);
      runs.push(r.structuredContent.runId);
      expect(logs.some((l) => l.includes(`session ${transport.sessionId} opened for "${agentId}"`))).toBe(true);
    }
    await http.close();
    await s.close();
    for (const [i, principal] of ['alice', 'bob'].entries()) {
      const recs = (await records(auditDir, { correlationId: runs[i]! })).filter((x) => x.action !== 'close');
      expect(recs.map((x) => x.eventType)).toContain('authorization_granted');
      for (const x of recs) expect(x.details?.['provenance']).toMatchObject({ via: 'mcp', client: 'auth-test/1.0.0', tool: 'echo', principal });
    }
  });

  it("a session is bound to its token's subject: another subject's valid token is refused (403); the same subject's new token goes on", async () => {
    const { http, logs } = await serve();
    const alice = clientFor(http.url, await issue('alice'));
    await alice.client.connect(alice.transport, REQUEST);
    const session = alice.transport.sessionId!;
    expect(session).toBeDefined();

    // Bob's token is valid, but the session is Alice's: not a request, not a stream, not a DELETE.
    const bobToken = await issue('bob');
    const bob = clientFor(http.url, bobToken, session);
    await bob.client.connect(bob.transport, REQUEST); // a reconnect: the SDK sends nothing yet
    await expect(bob.client.listTools(undefined, REQUEST)).rejects.toMatchObject({ code: 403 });
    const headers = { authorization: `Bearer ${bobToken}`, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
    const post = await raw(http.url, headers, { body: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { task: 'ride' } } } });
    expect(post.status).toBe(403);
    expect(JSON.parse(post.body).error.message).toMatch(/belongs to another principal/);
    expect((await raw(http.url, headers, { method: 'DELETE' })).status).toBe(403);
    expect((await raw(http.url, headers, { method: 'GET' })).status).toBe(403);
    expect(http.sessions).toBe(1);
    expect(logs.some((l) => l.includes(`session ${session}`) && l.includes('(403)'))).toBe(true);

    // Alice's session is untouched, and goes on with a fresh token of hers (tokens are short-lived).
    expect((await echo(alice.client, 'still mine')).structuredContent.output).toBe('still mine');
    const fresh = await issue('alice', { kind: 'session' });
    const again = clientFor(http.url, fresh, session);
    await again.client.connect(again.transport, REQUEST);
    expect((await echo(again.client, 'new token')).structuredContent.output).toBe('new token');

    // Revoking the token she is using ends her access at the next request.
    await tokens.revoke(fresh, 'test: logged out');
    await expect(again.client.listTools(undefined, REQUEST)).rejects.toMatchObject({ code: 401 });
  });
});

describe('auth options', () => {
  it('options that cannot work are refused at start', () => {
    expect(() => createAuthenticator({} as McpHttpAuth)).toThrow(/auth.tokens/);
    expect(() => createAuthenticator({ tokens, kinds: ['refresh' as 'access'] })).toThrow(/auth.kinds/);
    expect(() => createAuthenticator({ tokens, kinds: [] })).toThrow(/auth.kinds/);
    expect(() => createAuthenticator({ tokens, scopes: ['two words'] })).toThrow(/auth.scopes/);
    expect(() => createAuthenticator({ tokens, realm: 'a"b' })).toThrow(/auth.realm/);
  });

  it('isLoopbackHost: loopback names and addresses only', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', 'LOCALHOST', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', 'example.com', 'localhost.example.com', '::ffff:10.0.0.1', '']) expect(isLoopbackHost(h), h).toBe(false);
  });
});

describe('agentos mcp --http --require-token', () => {
  const config = join(dir, 'agents.yaml');
  writeFileSync(config, `agents:\n  echo:\n    component: ${JSON.stringify(fixturePath('echo'))}\n`);
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, 'mcp', ...args], { cwd: dir, encoding: 'utf8', timeout: 20_000 });

  it('--help names the flags; a non-loopback address without --require-token, and misplaced flags, are usage errors (exit 2)', () => {
    const help = cli('--help');
    expect(help.status).toBe(0);
    for (const flag of ['--require-token', '--keys DIR', '--key NAME', '--issuer NAME', '--revocations FILE', '--token-scope S', '--allow-unauthenticated']) expect(help.stdout).toContain(flag);
    const open = cli('--config', config, '--http', '0.0.0.0:0', '--no-audit');
    expect(open.status).toBe(2);
    expect(open.stderr).toMatch(/not a loopback address .*--require-token.*--allow-unauthenticated/s);
    const cases: [string[], RegExp][] = [
      [['--http', '127.0.0.1:0', '--keys', KEYS], /--keys goes with --require-token/],
      [['--require-token'], /--require-token goes with --http/],
      [['--http', '0.0.0.0:0', '--require-token', '--allow-unauthenticated'], /contradict/],
      [['--http', '127.0.0.1:0', '--require-token', '--keys', KEYS, '--key', 'nope'], /no key named "nope"/],
    ];
    for (const [args, message] of cases) {
      const r = cli('--config', config, '--no-audit', ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  });

  it('serves only requests with a valid token, and the audit chain names the principal', async () => {
    const audit = join(dir, 'audit-cli');
    const started = await startMcpHttp(CLI, ['--config', config, '--http', '127.0.0.1:0', '--require-token', '--keys', KEYS, '--revocations', REVOKED, '--audit', audit, '--cache-dir', TEST_CACHE_DIR], dir);
    const { child } = started;
    children.push(child);
    const url = started.url.href;
    expect(started.stderr()).toMatch(/bearer tokens required/);
    expect((await raw(url, {})).status).toBe(401);
    const token = await issue('cli-user', { kind: 'session' });
    const { client, transport } = clientFor(url, token);
    await client.connect(transport, REQUEST);
    const r = await echo(client, 'over http with a token');
    expect(r.structuredContent.output).toBe('over http with a token');
    await client.close();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => (child.exitCode !== null ? res(child.exitCode) : child.on('exit', res)));
    expect(code, started.stderr()).toBe(0);
    expect(started.stderr()).not.toContain(token);
    const [granted] = (await records(audit, { correlationId: r.structuredContent.runId })).filter((x) => x.eventType === 'authorization_granted');
    expect(granted?.details?.['provenance']).toMatchObject({ via: 'mcp', tool: 'echo', principal: 'cli-user' });
  });
});
