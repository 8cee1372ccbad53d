/**
 * Absolute-form plain HTTP (`GET http://host:port/path HTTP/1.1`): admit, then forward the
 * request to exactly the checked address with the canonical authority as `Host`, and stream
 * the response back. Hop-by-hop and `Proxy-*` headers are dropped both ways; redirects are
 * passed to the client, never followed (each hop is a new request, decided again). Client
 * connections are kept alive by the HTTP server, origin connections by origin.ts's pool keyed
 * by address and port. The agent's request is parsed by Node's HTTP server; the origin's
 * response is read by origin.ts straight into slabs and written to the agent as views of them
 * (Node's HTTP client would copy every body byte once more, in 64 KiB pieces): on a loopback
 * download that is about half of the proxy's CPU per byte.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { admit, API_FORWARD } from './admission.js';
import { Meter, refusalBody, reportRefusal, type ProxyContext } from './relay.js';
import { forwardableHeaders } from './target.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_TARGET = /^[\x21-\x7e\x80-\xff]+$/;

/**
 * The request head for the origin. Node's server already refused malformed heads; this checks
 * again what goes on the wire, since nothing else (no `http.request`) does any more.
 */
export function requestHead(method: string, path: string, headers: readonly string[], authority: string, chunked: boolean): string | { error: string } {
  if (!TOKEN.test(method)) return { error: 'the method is not a token' };
  if (!REQUEST_TARGET.test(path)) return { error: 'the request target has a space or a control character' };
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return { error: `header ${JSON.stringify(name.slice(0, 100))} has a character not allowed there` };
    head += `${name}: ${value}\r\n`;
  }
  head += `Host: ${authority}\r\n`;
  if (chunked) head += 'Transfer-Encoding: chunked\r\n';
  return `${head}\r\n`;
}

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
  const chunked = req.headers['transfer-encoding'] !== undefined;
  // The agent's Expect: 100-continue was answered by Node's server already.
  const head = requestHead(method, target.pathWithQuery, forwardableHeaders(req.rawHeaders, ['host', 'expect']), target.authority, chunked);
  if (typeof head !== 'string') {
    a.release();
    answer(res, 400, `agentos egress proxy: ${method} http://${target.authority} refused (bad request): ${head.error}\n`);
    ctx.report({ ...base, bytesIn: 0, bytesOut: 0, status: 400, error: head.error });
    return;
  }
  ctx.stats.openRequests++;
  let status: number | undefined;
  let error: string | undefined;
  let finished = false;
  let waiting = false;
  const meter = new Meter(ctx, `http://${target.authority}`, API_FORWARD, () => {
    ex.abort();
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
  const resumeOrigin = (): void => {
    waiting = false;
    ex.resume();
  };
  const ex = ctx.origins.exchange(address, target.port, a.family, method, head, {
    onHead: (h) => {
      status = h.status;
      if (res.headersSent || res.destroyed) {
        ex.abort();
        return;
      }
      // One Content-Length however the origin repeated it (the agent's parser may refuse two).
      const headers = forwardableHeaders(h.rawHeaders, h.framing.kind === 'length' ? ['content-length'] : []);
      if (h.framing.kind === 'length') headers.push('Content-Length', String(h.framing.length));
      try {
        res.writeHead(h.status, h.statusText, headers);
      } catch (e) {
        // Checked in response.ts already; a throw here must still not take the proxy down.
        ex.abort();
        error ??= `unusable response head: ${e instanceof Error ? e.message : String(e)}`;
        answer(res, 502, `agentos egress proxy: ${method} http://${target.authority} failed: ${error} (origin ${address})\n`);
      }
    },
    onBody: (piece, ref) => {
      if (!meter.take(piece.length, 'in')) return false;
      ref.retain();
      // Node's response corks the socket until the next tick; corking it here instead makes
      // the write reach the kernel now, so `flushed()` can let the slab be read into again.
      res.cork();
      const ok = res.write(piece, ref.release);
      res.uncork();
      if (ok) return true;
      if (!waiting) {
        waiting = true;
        res.once('drain', resumeOrigin);
      }
      return false;
    },
    onEnd: () => res.end(),
    flushed: () => res.writableLength === 0,
    onError: (e) => {
      if (meter.over) return;
      error ??= `${e.code ?? 'error'}: ${e.message}`;
      const code = e.code === 'ETIMEDOUT' ? 504 : 502;
      answer(res, code, `agentos egress proxy: ${method} http://${target.authority} failed: ${e.code === 'HPE_INVALID_RESPONSE' ? e.message : (e.code ?? e.message)} (origin ${address})\n`);
      finish();
    },
  });
  if (!chunked && req.headers['content-length'] === undefined) ex.requestDone();
  else sendBody(req, ex.socket, meter, chunked, () => ex.requestDone());
  res.on('close', () => {
    // Finished normally, or the client went away: either way the origin side is done.
    if (!res.writableFinished) {
      error ??= 'the client closed the connection before the response was complete';
      ex.abort();
    }
    finish();
  });
}

/**
 * Copy the agent's request body to the origin with backpressure, metering every chunk; a body
 * the agent sent chunked is sent chunked (Node's server hands it over decoded).
 */
function sendBody(req: IncomingMessage, up: Socket, meter: Meter, chunked: boolean, done: () => void): void {
  const resume = (): void => {
    req.resume();
  };
  req.on('data', (c: Buffer) => {
    // An empty chunk would read as the last chunk of a chunked body.
    if (c.length === 0 || !meter.take(c.length, 'out')) return;
    let ok: boolean;
    if (chunked) {
      up.cork();
      up.write(`${c.length.toString(16)}\r\n`, 'latin1');
      up.write(c);
      ok = up.write('\r\n', 'latin1');
      up.uncork();
    } else ok = up.write(c);
    // A paused source emits nothing more, so at most one 'drain' listener waits at a time.
    if (!ok) {
      req.pause();
      up.once('drain', resume);
    }
  });
  req.on('end', () => {
    if (meter.over) return;
    if (chunked) up.write('0\r\n\r\n', 'latin1');
    done();
  });
}
