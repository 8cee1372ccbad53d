/**
 * Serving the agents over MCP's Streamable HTTP transport on a node `http` server. Each MCP
 * session gets its own `McpServer` and its own loaded agents (so one client's runs never share
 * an instance with another's), freed when the session ends (DELETE, or the server closing).
 *
 * Against DNS rebinding (a web page whose name resolves to 127.0.0.1 talking to this server),
 * every request's `Host` must be the bound host:port or a localhost spelling of the port, and
 * an `Origin`, when sent, must be `http://` one of those; anything else is refused with 403
 * before the MCP layer sees it. Then, with `auth`, every request needs a bearer token of the
 * sandbox's own (`agentos token issue`; see ./auth.ts), refused with 401/403 before the MCP
 * layer sees it, and a session stays bound to the subject of the token that opened it: a
 * request for it with another subject's token is refused (403), so a client cannot ride
 * another's session. The subject reaches each tool call as `extra.authInfo` (the audit records
 * it as the run's `principal`). Without authentication, bind to loopback only (the default).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Sandbox } from 'agent-os-sandbox';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { loadPeer } from '../shared/peer.js';
import { createAuthenticator, isLoopbackHost, sameSubject, type McpHttpAuth } from './auth.js';
import { loadConfiguredAgents, type McpConfig } from './config.js';
import { createMcpServer } from './server.js';
import { MCP_PEER_RANGE } from './types.js';
import type { Approver } from './approval.js';

/** The path the MCP endpoint is served on. */
export const MCP_HTTP_PATH = '/mcp';
/** Largest request body accepted (a task and its JSON-RPC envelope). */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Sessions open at once unless `maxSessions` says otherwise. */
export const DEFAULT_MAX_SESSIONS = 32;
/** A session with no request for this long is ended (its agents freed) unless `sessionIdleMs` says otherwise. */
export const DEFAULT_SESSION_IDLE_MS = 15 * 60 * 1000;

/** Options of {@link serveHttp}. */
export interface McpHttpOptions {
  readonly sandbox: Sandbox;
  readonly config: McpConfig;
  /** Interface to bind. Default `127.0.0.1`. */
  readonly host?: string;
  /** Port; 0 (the default) picks a free one (see `port` of the result). */
  readonly port?: number;
  readonly name?: string;
  readonly version?: string;
  /** Where to say what happens (stderr in the CLI). Default: nothing. */
  readonly log?: (line: string) => void;
  /**
   * Sessions open at once (each holds its own agents); a new one past it is refused with 503
   * until another ends. Default {@link DEFAULT_MAX_SESSIONS}.
   */
  readonly maxSessions?: number;
  /**
   * End a session that has had no request for this long (none under way either), freeing its
   * agents: a client that goes away without DELETE must not hold them forever. Default
   * {@link DEFAULT_SESSION_IDLE_MS}.
   */
  readonly sessionIdleMs?: number;
  /**
   * Decides capability requests out of band; when given, `agentos_request_capability` is
   * offered (see createMcpServer). A grant widens only the agents of the session that asked.
   */
  readonly approve?: Approver;
  /**
   * Require a bearer token of this sandbox's token service on every request (see
   * {@link McpHttpAuth}). Default: none, which is for loopback only (a server on another
   * interface without it logs a warning).
   */
  readonly auth?: McpHttpAuth;
}

/** A running Streamable HTTP server. */
export interface McpHttpServer {
  /** The endpoint, e.g. `http://127.0.0.1:8080/mcp`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Sessions open now. */
  readonly sessions: number;
  /** Stop accepting requests, end every session (closing its agents), close the listener. */
  close(): Promise<void>;
}

interface Session {
  readonly transport: StreamableHTTPServerTransport;
  end(): Promise<void>;
  /** When its last request ended (ms, `Date.now()`), and how many are under way. */
  lastUsed: number;
  active: number;
  /** With auth: the subject of the token that opened it; every later request must be theirs. */
  readonly principal?: string;
}

/** `host:port` as a Host header spells it (IPv6 in brackets). */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The Host header values this server answers to. */
export function allowedHosts(host: string, port: number): Set<string> {
  return new Set([hostPort(host, port), `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`].map((h) => h.toLowerCase()));
}

function refuse(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { ...headers, 'content-type': 'application/json' });
  // A JSON-RPC error without an id: what the SDK's transport answers for its own refusals.
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw Object.assign(new Error(`request body over ${MAX_BODY_BYTES} bytes`), { status: 413 });
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw Object.assign(new Error('request body is not JSON'), { status: 400 });
  }
}

const isInitialize = (body: unknown): boolean =>
  (Array.isArray(body) ? body : [body]).some((m) => typeof m === 'object' && m !== null && (m as { method?: unknown }).method === 'initialize');

/**
 * Load nothing yet; listen on `host:port` and serve MCP at `/mcp`, loading the config's agents
 * for each new session.
 *
 * @example
 * ```ts
 * const http = await serveHttp({ sandbox, config: await loadMcpConfig('agents.yaml'), port: 8080 });
 * console.error(`MCP at ${http.url}`);
 * ```
 */
export async function serveHttp(options: McpHttpOptions): Promise<McpHttpServer> {
  const { StreamableHTTPServerTransport } = await loadPeer<typeof import('@modelcontextprotocol/sdk/server/streamableHttp.js')>(
    '@modelcontextprotocol/sdk/server/streamableHttp.js',
    MCP_PEER_RANGE,
    'agent-os-sandbox/mcp',
    '@modelcontextprotocol/sdk',
  );
  const bindHost = options.host ?? '127.0.0.1';
  const sessions = new Map<string, Session>();
  let allowed = new Set<string>();
  let closing = false;
  const log = options.log ?? (() => {});
  const authenticate = options.auth !== undefined ? createAuthenticator(options.auth) : undefined;

  async function open(req: IncomingMessage, res: ServerResponse, body: unknown, principal: string | undefined): Promise<void> {
    const loaded = await loadConfiguredAgents(options.sandbox, options.config);
    let ended = false;
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, session);
        log(`session ${id} opened${principal !== undefined ? ` for ${JSON.stringify(principal)}` : ''}`);
      },
    });
    const session: Session = {
      transport,
      lastUsed: Date.now(),
      active: 0,
      ...(principal !== undefined ? { principal } : {}),
      end: async () => {
        if (ended) return;
        ended = true;
        if (transport.sessionId) sessions.delete(transport.sessionId);
        await server.close().catch(() => {});
        await loaded.close();
        log(`session ${transport.sessionId ?? '(not initialized)'} ended; its agents are closed`);
      },
    };
    // Set before connect: the server chains its own close handler onto this one.
    transport.onclose = () => void session.end();
    const server = await createMcpServer({
      sandbox: options.sandbox,
      agents: loaded.agents,
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.version !== undefined ? { version: options.version } : {}),
      ...(options.approve !== undefined ? { approve: options.approve } : {}),
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    // An initialize the transport refused leaves no session behind: free its agents.
    if (!transport.sessionId || !sessions.has(transport.sessionId)) await session.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!allowed.has(host)) return refuse(res, 403, `Host ${JSON.stringify(req.headers.host ?? '')} is not this server (DNS rebinding protection)`);
    const origin = req.headers.origin;
    if (origin !== undefined && !(origin.toLowerCase().startsWith('http://') && allowed.has(origin.toLowerCase().slice('http://'.length)))) {
      return refuse(res, 403, `Origin ${JSON.stringify(origin)} is not allowed (DNS rebinding protection)`);
    }
    if (new URL(req.url ?? '/', 'http://x').pathname !== MCP_HTTP_PATH) return refuse(res, 404, `the MCP endpoint is ${MCP_HTTP_PATH}`);
    // Authentication before anything that tells a caller about the server's state (sessions, capacity).
    let principal: string | undefined;
    if (authenticate) {
      const a = await authenticate(req);
      if (!a.ok) {
        log(`refused ${req.method ?? '?'} from ${req.socket.remoteAddress ?? '?'} (${a.status}): ${a.detail}`);
        return refuse(res, a.status, a.message, { 'www-authenticate': a.challenge });
      }
      principal = a.principal.subject;
      // The SDK's transport passes req.auth on to every handler as extra.authInfo.
      (req as IncomingMessage & { auth?: AuthInfo }).auth = a.authInfo;
    }
    if (closing) return refuse(res, 503, 'the server is shutting down');
    const id = req.headers['mcp-session-id'];
    if (typeof id === 'string') {
      const session = sessions.get(id);
      if (!session) return refuse(res, 404, 'no such session (it ended or never existed); initialize a new one');
      if (session.principal !== undefined && (principal === undefined || !sameSubject(session.principal, principal))) {
        log(`refused ${req.method ?? '?'} for session ${id} from ${req.socket.remoteAddress ?? '?'} (403): a token of ${JSON.stringify(principal)}, not of the session's subject`);
        return refuse(res, 403, 'this session belongs to another principal: open your own session');
      }
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      session.active++;
      try {
        return await session.transport.handleRequest(req, res, body);
      } finally {
        session.active--;
        session.lastUsed = Date.now();
      }
    }
    if (req.method !== 'POST') return refuse(res, 400, 'no mcp-session-id: initialize a session with a POST first');
    const body = await readJson(req);
    if (!isInitialize(body)) return refuse(res, 400, 'no mcp-session-id: the first request of a session must be initialize');
    // Each session loads its own agents: bound them, so clients cannot exhaust the host.
    if (sessions.size >= (options.maxSessions ?? DEFAULT_MAX_SESSIONS)) return refuse(res, 503, `too many sessions open (${sessions.size}); end one (DELETE) and retry`);
    return open(req, res, body, principal);
  }

  const http: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = (e as { status?: number }).status ?? 500;
      if (status === 500) log(`request failed: ${e instanceof Error ? e.message : String(e)}`);
      refuse(res, status, status === 500 ? 'internal error' : (e as Error).message);
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    http.once('error', reject);
    http.listen(options.port ?? 0, bindHost, () => {
      http.off('error', reject);
      resolveListen();
    });
  });
  // Sessions idle past sessionIdleMs end: checked a few times per idle period.
  const idleMs = options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, s] of sessions) {
      if (s.active > 0 || now - s.lastUsed < idleMs) continue;
      log(`session ${id} idle for ${Math.round((now - s.lastUsed) / 1000)} s: ending it`);
      void s.transport.close().then(() => s.end(), () => s.end());
    }
  }, Math.max(50, Math.min(30_000, Math.floor(idleMs / 4))));
  sweep.unref();
  const port = (http.address() as AddressInfo).port;
  allowed = allowedHosts(bindHost, port);
  const url = `http://${hostPort(bindHost, port)}${MCP_HTTP_PATH}`;
  log(`serving ${Object.keys(options.config.agents).join(', ')} at ${url} (${options.config.source})${authenticate ? '; every request needs a bearer token' : ''}`);
  if (!authenticate && !isLoopbackHost(bindHost)) log(`warning: ${bindHost} is not a loopback address and no authentication is configured: anyone who can reach it can run the agents`);
  return {
    url,
    host: bindHost,
    port,
    get sessions() {
      return sessions.size;
    },
    async close() {
      closing = true;
      clearInterval(sweep);
      await Promise.allSettled([...sessions.values()].map((s) => s.transport.close().then(() => s.end())));
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
