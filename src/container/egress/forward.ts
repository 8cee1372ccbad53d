/**
 * Absolute-form plain HTTP (`GET http://host:port/path HTTP/1.1`): admit, then forward the
 * request to exactly the checked address with the canonical authority as `Host`, and stream
 * the response back. Hop-by-hop and `Proxy-*` headers are dropped both ways; redirects are
 * passed to the client, never followed (each hop is a new request, decided again). Client
 * connections are kept alive by the HTTP server and origin connections by a keep-alive agent
 * keyed by address and port, so a request on a warm connection costs one gate decision and a
 * few buffer copies.
 */
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { admit, API_FORWARD } from './admission.js';
import { Meter, pump, refusalBody, reportRefusal, type ProxyContext } from './relay.js';
import { forwardableHeaders } from './target.js';

/** Answer a refusal on a connection the HTTP server still owns (it stays usable: keep-alive). */
function answer(res: ServerResponse, status: number, body: string, rule?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(rule !== undefined ? { 'x-agentos-denied': rule.replace(/[\r\n]/g, ' ') } : {}),
  });
  res.end(body);
}

/**
 * Handle one request the HTTP server parsed (its `request` event). Never throws.
 *
 * @example
 * ```ts
 * server.on('request', (req, res) => void handleForward(ctx, req, res));
 * ```
 */
export async function handleForward(ctx: ProxyContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  ctx.stats.requests++;
  const method = req.method ?? 'GET';
  const raw = req.url ?? '';
  const a = await admit(ctx, 'forward', raw);
  if (!a.ok) {
    const what = a.port ? `http://${a.host}:${a.port}` : JSON.stringify(raw.slice(0, 200));
    answer(res, a.status, refusalBody(method, what, a), a.failed ? undefined : a.rule);
    reportRefusal(ctx, method, a);
    return;
  }
  const { target, address } = a;
  const base = { host: target.host, port: target.port, scheme: target.scheme, method, allowed: true, reason: a.decision.reason, address };
  if (res.destroyed || ctx.closing()) {
    a.release();
    res.destroy();
    ctx.report({ ...base, bytesIn: 0, bytesOut: 0, error: 'the client went away before the request was sent' });
    return;
  }
  ctx.stats.openRequests++;
  let status: number | undefined;
  let error: string | undefined;
  let finished = false;
  const headers = forwardableHeaders(req.rawHeaders, ['host']);
  headers.push('Host', target.authority);
  const up = httpRequest({
    host: address,
    family: a.family,
    port: target.port,
    method,
    path: target.pathWithQuery,
    headers,
    setHost: false,
    agent: ctx.agent,
  });
  const meter = new Meter(ctx, `http://${target.authority}`, API_FORWARD, () => {
    up.destroy();
    if (res.headersSent) res.destroy();
    else answer(res, 403, `agentos egress proxy: ${method} http://${target.authority} cut: networkRules.dataTransferLimit reached\n`, 'networkRules.dataTransferLimit');
  });
  const finish = (): void => {
    if (finished) return;
    finished = true;
    a.release();
    ctx.stats.openRequests--;
    ctx.report({
      ...base,
      bytesIn: meter.bytesIn,
      bytesOut: meter.bytesOut,
      ...(status !== undefined ? { status } : {}),
      ...(error !== undefined ? { error } : {}),
      ...(meter.over ? { limit: meter.over } : {}),
    });
  };
  pump(req, up, meter, 'out');
  up.on('response', (ures: IncomingMessage) => {
    status = ures.statusCode ?? 502;
    if (res.headersSent || res.destroyed) {
      ures.destroy();
      return;
    }
    res.writeHead(status, ures.statusMessage, forwardableHeaders(ures.rawHeaders));
    pump(ures, res, meter, 'in', () => res.end());
    ures.on('error', () => res.destroy());
  });
  up.on('error', (e: NodeJS.ErrnoException) => {
    if (meter.over) return;
    error ??= `${e.code ?? 'error'}: ${e.message}`;
    const code = e.code === 'ETIMEDOUT' ? 504 : 502;
    answer(res, code, `agentos egress proxy: ${method} http://${target.authority} failed: ${e.code ?? e.message} (origin ${address})\n`);
    finish();
  });
  res.on('close', () => {
    // Finished normally, or the client went away: either way the origin side is done.
    if (!res.writableFinished) {
      error ??= 'the client closed the connection before the response was complete';
      up.destroy();
    }
    finish();
  });
}
