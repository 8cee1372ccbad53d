/**
 * The dashboard server (`agentos dashboard`, or `startDashboard` from code): the page, its JSON
 * state, a stream of new audit records (server-sent events) and `/metrics`, read from an audit
 * directory as it grows — the one a running sandbox writes, or one left behind.
 *
 * It listens on 127.0.0.1 by default. Reading needs nothing; every action (releasing an
 * incident) needs the token (`Authorization: Bearer …`). Requests whose `Host` is not this
 * server's own address are refused (a page on another site cannot reach it through DNS
 * rebinding), as are actions from another `Origin`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exitCodeFor, toSandboxError, UsageError } from '../../errors.js';
import { IncidentStore } from '../incidents.js';
import { releaseIncident } from '../incident-release.js';
import { SandboxMetrics } from '../metrics.js';
import { dashboardPage } from './page.js';
import { DashboardFeed, riskScore, type FeedRecord } from './feed.js';

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** The audit directory to read. */
  readonly audit: string;
  /** The incident directory (default `incidents/` in the audit directory). */
  readonly incidents?: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0 (any free port). */
  readonly port?: number;
  /** The token actions need (at least 16 characters); default: 32 random bytes, hex. */
  readonly token?: string;
  /** How often the audit directory is read for new records. Default 250 ms. */
  readonly pollMs?: number;
  /** A running sandbox's metrics, served at /metrics instead of the ones counted from the records. */
  readonly metrics?: () => Promise<string>;
}

/** A running dashboard. */
export interface Dashboard {
  readonly url: string;
  readonly port: number;
  readonly token: string;
  close(): Promise<void>;
}

const SECURITY_HEADERS = (nonce?: string) => ({
  'content-security-policy': `default-src 'none'; connect-src 'self'; img-src 'self'; ${nonce ? `script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'` : ''}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
});

function send(res: ServerResponse, status: number, body: string, type = 'application/json; charset=utf-8', headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS(), ...headers });
  res.end(body);
}

const json = (res: ServerResponse, status: number, value: unknown) => send(res, status, JSON.stringify(value));

async function body(req: IncomingMessage, max = 16 * 1024): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > max) throw new UsageError('request body too large');
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new UsageError('the request body is not JSON');
  }
}

/** Start serving; resolves once listening. */
export async function startDashboard(o: DashboardOptions): Promise<Dashboard> {
  const token = o.token ?? randomBytes(32).toString('hex');
  if (token.length < 16) throw new UsageError('the dashboard token must be at least 16 characters');
  const host = o.host ?? '127.0.0.1';
  const feed = new DashboardFeed(o.audit);
  const store = new IncidentStore(o.incidents ?? join(o.audit, 'incidents'));
  const counted = new SandboxMetrics({ quarantined: () => [...feed.agents.values()].filter((a) => a.state === 'quarantined').length, monitorQueue: () => 0, auditQueue: () => 0, channelQueue: () => 0, agents: () => [...feed.agents.values()].filter((a) => a.state === 'running').length });
  feed.subscribe((records) => {
    for (const r of records) {
      if (r.type === 'security_alert' && r.action !== 'quarantine') counted.alert({ type: r.action, severity: r.severity });
      else counted.event({ time: r.time, agentId: r.agentId, type: r.type as never, capability: r.capability, resource: 'agent', action: r.action, target: r.resource, outcome: r.outcome === 'success' ? 'allowed' : 'denied', reason: r.reason, api: '' });
    }
  });
  const clients = new Set<ServerResponse>();
  feed.subscribe((records) => {
    const data = `event: records\ndata: ${JSON.stringify(records)}\n\n`;
    for (const c of clients) c.write(data);
  });
  await feed.poll();
  let polling = false;
  const timer = setInterval(() => {
    if (polling) return;
    polling = true;
    void feed.poll().finally(() => {
      polling = false;
    });
  }, o.pollMs ?? 250);
  timer.unref();
  const keepAlive = setInterval(() => {
    for (const c of clients) c.write(': keep-alive\n\n');
  }, 15_000);
  keepAlive.unref();

  let port = 0;
  const ownHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, `${host}:${port}`]);
  const authorized = (req: IncomingMessage): boolean => {
    const h = req.headers.authorization ?? '';
    const given = Buffer.from(h.startsWith('Bearer ') ? h.slice(7) : '');
    const want = Buffer.from(token);
    return given.length === want.length && timingSafeEqual(given, want);
  };

  const server = createServer((req, res) => {
    void (async () => {
      // DNS rebinding: only requests addressed to this server by its own name are served.
      if (!ownHosts().has(req.headers.host ?? '')) return json(res, 403, { ok: false, error: { code: 'USAGE', message: 'this dashboard answers only requests addressed to its own host and port' } });
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      if (req.method === 'GET' && url.pathname === '/') {
        const nonce = randomBytes(16).toString('base64');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS(nonce) });
        return res.end(dashboardPage(nonce));
      }
      if (req.method === 'GET' && url.pathname === '/api/state') {
        const now = Date.now();
        return json(res, 200, {
          dir: o.audit,
          error: feed.error,
          verification: feed.verification,
          checkpoint: feed.checkpoint,
          agents: [...feed.agents.values()].sort((a, b) => b.lastSeen - a.lastSeen).slice(0, 200).map((a) => ({ id: a.id, type: a.type, state: a.state, risk: riskScore(a, now), decisions: a.decisions, denials: a.denials.filter((t) => now - t < 3_600_000).length })),
          alerts: [...feed.alerts].reverse().slice(0, 100),
          incidents: store.list().slice(0, 100),
          timeline: feed.timeline(now),
        });
      }
      if (req.method === 'GET' && url.pathname === '/api/records') return json(res, 200, feed.records.slice(-200) satisfies FeedRecord[]);
      if (req.method === 'GET' && url.pathname === '/api/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive', ...SECURITY_HEADERS() });
        res.write(': connected\n\n');
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return;
      }
      if (req.method === 'GET' && url.pathname === '/metrics') {
        return send(res, 200, o.metrics ? await o.metrics() : await counted.text(), counted.contentType);
      }
      const m = /^\/api\/incidents\/([^/]+)\/release$/.exec(url.pathname);
      if (req.method === 'POST' && m) {
        const origin = req.headers.origin;
        if (origin !== undefined && !ownHosts().has(origin.replace(/^https?:\/\//, ''))) return json(res, 403, { ok: false, error: { code: 'USAGE', message: 'actions from another origin are refused' } });
        if (!authorized(req)) return json(res, 401, { ok: false, error: { code: 'USAGE', message: 'this action needs the dashboard token (Authorization: Bearer <token>)' } });
        const b = (await body(req)) as { reason?: unknown; by?: unknown };
        const r = await releaseIncident(store, o.audit, decodeURIComponent(m[1]!), String(b.by ?? 'dashboard'), typeof b.reason === 'string' ? b.reason : '');
        return json(res, 200, { ok: true, incident: r.incident, handedOver: r.handedOver });
      }
      return json(res, 404, { ok: false, error: { code: 'USAGE', message: `no ${req.method} ${url.pathname} here` } });
    })().catch((e: unknown) => {
      const err = toSandboxError(e);
      if (!res.headersSent) json(res, exitCodeFor[err.code] === 2 ? 400 : 500, { ok: false, error: { code: err.code, message: err.message } });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    token,
    async close() {
      clearInterval(timer);
      clearInterval(keepAlive);
      for (const c of clients) c.end();
      await new Promise((r) => server.close(r));
    },
  };
}
