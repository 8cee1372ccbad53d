/**
 * `CONNECT host:port`: admit (decided as https, see target.ts), dial the checked address,
 * answer `200 Connection Established`, then relay bytes both ways, metered, until either side
 * closes. The socket no longer belongs to the HTTP server at this point, so every answer is
 * written raw and every socket is closed here.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { admit, API_CONNECT } from './admission.js';
import { endThenDestroy, Meter, pump, rawResponse, refusalBody, reportRefusal, slabReader, type ProxyContext } from './relay.js';

/**
 * Handle one CONNECT request (the HTTP server's `connect` event). Never throws; the client
 * socket is always closed or handed to a tunnel that closes it.
 *
 * @example
 * ```ts
 * server.on('connect', (req, socket, head) => void handleConnect(ctx, req, socket, head));
 * ```
 */
export async function handleConnect(ctx: ProxyContext, req: IncomingMessage, duplex: Duplex, head: Buffer): Promise<void> {
  const client = duplex as Socket;
  ctx.stats.requests++;
  // Errors surface as 'close'; without a listener an EPIPE would be an uncaught exception.
  client.on('error', () => {});
  const raw = req.url ?? '';
  const a = await admit(ctx, 'connect', raw);
  if (!a.ok) {
    const what = a.port ? `${a.host}:${a.port}` : JSON.stringify(raw.slice(0, 200));
    client.end(rawResponse(a.status, refusalBody('CONNECT', what, a), { 'X-Agentos-Denied': a.rule }));
    client.once('finish', () => client.destroy());
    reportRefusal(ctx, 'CONNECT', a);
    return;
  }
  const { target, address } = a;
  const base = { host: target.host, port: target.port, scheme: target.scheme, method: 'CONNECT', allowed: true, reason: a.decision.reason, address };
  if (client.destroyed || ctx.closing()) {
    a.release();
    client.destroy();
    ctx.report({ ...base, bytesIn: 0, bytesOut: 0, error: 'the client went away before the tunnel opened' });
    return;
  }
  ctx.stats.openTunnels++;
  let established = false;
  let error: string | undefined;
  let finished = false;
  // Origin → agent is the heavy direction (downloads): read it into slabs, forward without
  // copies. Nothing queued on the client after a write means the kernel took it all, so the
  // slab can be read into again at once (see slabReader).
  const onread = slabReader((chunk, ref) => {
    if (!meter.take(chunk.length, 'in')) return false;
    ref.retain();
    if (client.write(chunk, ref.release)) return true;
    client.once('drain', () => up.resume());
    return false;
  }, () => client.writableLength === 0, ctx.slabs);
  const up = ctx.dial(address, target.port, a.family, onread);
  const meter = new Meter(ctx, `https://${target.authority}`, API_CONNECT, () => {
    client.destroy();
    up.destroy();
  });
  const finish = (): void => {
    if (finished) return;
    finished = true;
    a.release();
    ctx.stats.openTunnels--;
    ctx.report({
      ...base,
      bytesIn: meter.bytesIn,
      bytesOut: meter.bytesOut,
      ...(established ? { status: 200 } : {}),
      ...(error !== undefined ? { error } : {}),
      ...(meter.over ? { limit: meter.over } : {}),
    });
  };
  up.once('connect', () => {
    established = true;
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    // Bytes the client sent right after the CONNECT head (TLS ClientHello, often).
    if (head.length > 0 && meter.take(head.length, 'out')) up.write(head);
    if (meter.over) return;
    pump(client, up, meter, 'out');
    up.on('end', () => client.end());
  });
  up.on('error', (e: NodeJS.ErrnoException) => {
    error ??= `${e.code ?? 'error'}: ${e.message}`;
    if (!established && !client.destroyed) {
      const status = e.code === 'ETIMEDOUT' ? 504 : 502;
      const body = `agentos egress proxy: CONNECT ${target.host}:${target.port} failed: cannot connect to ${address} (${e.code ?? e.message})\n`;
      client.end(rawResponse(status, body));
      client.once('finish', () => client.destroy());
    }
  });
  up.on('close', (hadError) => {
    onread.close();
    // The origin is gone: pass on its FIN (or the error) and let the tunnel end.
    if (established && !hadError) endThenDestroy(client);
    // Not established: the 502/504 written above flushes first; without one, just close.
    else if (established || !client.writableEnded) client.destroy();
  });
  client.on('close', () => {
    // The agent is gone: nothing more can be delivered to it, so drop the origin side too.
    up.destroy();
    finish();
  });
}
