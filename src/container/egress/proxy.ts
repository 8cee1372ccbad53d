/**
 * The per-agent egress proxy: an HTTP/1.1 proxy (CONNECT tunnels and absolute-form plain
 * HTTP) on a unix socket, and optionally on 127.0.0.1, whose every connection is decided by
 * the agent's `Gate` — the same decision code, audit record and quota ledger as the agent's
 * `wasi:http` requests would use — and then by a check of the resolved address.
 *
 * Parsing is Node's HTTP server (llhttp): request heads over `maxHeaderBytes`, bad request
 * lines and bad header syntax never reach the handlers; they are answered 400 and recorded.
 * One HTTP server per listener, sharing one state, so each keeps Node's own header timeout.
 * Origin responses to forwarded requests are read by origin.ts/response.ts (strict, heads up
 * to `maxHeaderBytes` too), so their bodies are relayed from slabs without a copy.
 */
import { chmod, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect, Socket as NetSocket, type OnReadOpts, type Socket, type TcpNetConnectOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import { API_FORWARD } from './admission.js';
import { handleConnect } from './connect.js';
import { handleForward } from './forward.js';
import { OriginPool } from './origin.js';
import { rawResponse, SlabPool, type MutableStats, type ProxyContext } from './relay.js';
import type { EgressDecision, EgressProxy, EgressProxyOptions } from './types.js';

const DEFAULT_MAX_HEADER_BYTES = 64 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/**
 * Client sockets and responses buffer up to 1 MiB before asking the relay to pause (Node's
 * default is 16–64 KiB): fewer pause/drain round trips per body.
 */
const RELAY_HIGH_WATER_MARK = 1024 * 1024;

function listen(server: Server, where: string | { host: string; port: number } | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if (typeof where === 'string') server.listen(where, done);
    else if ('fd' in where) server.listen({ fd: where.fd }, done);
    else server.listen(where.port, where.host, done);
  });
}

/**
 * Start an egress proxy for one agent.
 *
 * Decisions: a CONNECT is decided as `https` on its port (so `protocols` must include https,
 * and a port other than 443 must be in `allowedPorts`); an absolute-form request as `http` on
 * its port; absolute-form `https://` is refused (use CONNECT). After the gate allows, a host
 * name is resolved once and refused if any address is loopback, private, link-local, CGNAT,
 * unspecified, multicast or reserved; an IP literal in those ranges passes only when
 * `allowedHosts` names it exactly; metadata addresses (169.254.169.254, fd00:ec2::254) never
 * pass. The proxy connects to the checked address. A denial is answered `403` with a body that
 * names the rule and the gate's reason (which says what to change in the policy).
 *
 * Limits: `maxConnections` counts open tunnels and in-flight forwarded requests (the gate's
 * gauge, released when they end); `dataTransferLimit` counts body bytes both ways (every tunnel
 * byte), and a connection that would cross it is cut with a `limit_exceeded` record.
 *
 * @throws if neither `socketPath` nor `tcpPort` is given, or a listener cannot be opened
 * @example
 * ```ts
 * const gate = new Gate(policy, agentId, auditSink, undefined, ledger);
 * const proxy = await startEgressProxy({ gate, socketPath: join(runDir, 'egress.sock'), onDecision: (d) => log(d) });
 * // in the sandbox: HTTPS_PROXY=http://127.0.0.1:3128 (forwarded to the socket by the spawner)
 * await proxy.close();
 * ```
 */
export async function startEgressProxy(opts: EgressProxyOptions): Promise<EgressProxy> {
  if (opts.socketPath === undefined && opts.tcpPort === undefined) {
    throw new TypeError('startEgressProxy: give socketPath, tcpPort or both');
  }
  const maxHeaderBytes = opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;
  const connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const stats: MutableStats = { connections: 0, requests: 0, allowed: 0, denied: 0, dials: 0, openTunnels: 0, openRequests: 0, bytesIn: 0, bytesOut: 0, cut: 0 };
  const clients = new Set<Socket>();
  const origins = new Set<Socket>();
  let closing = false;

  const dial = (address: string, port: number, family: 4 | 6, onread?: OnReadOpts): Socket => {
    stats.dials++;
    // An IP address: net.connect does no lookup, so this is exactly the checked address.
    const options: TcpNetConnectOpts = { host: address, port, family, noDelay: true, ...(onread ? { onread } : {}) };
    let s: Socket;
    try {
      s = opts.connect ? opts.connect(options) : connect(options);
    } catch (e) {
      // A connector that throws fails this connection the ordinary way (502), not the process.
      s = new NetSocket();
      process.nextTick(() => s.destroy(e instanceof Error ? e : new Error(String(e))));
    }
    origins.add(s);
    s.once('close', () => origins.delete(s));
    s.setTimeout(connectTimeoutMs, () => s.destroy(Object.assign(new Error(`connect timeout after ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
    s.once('connect', () => s.setTimeout(0));
    if (closing) s.destroy();
    return s;
  };
  const slabs = new SlabPool();
  const originPool = new OriginPool(dial, maxHeaderBytes, slabs);
  const ctx: ProxyContext = {
    gate: opts.gate,
    lookup: opts.lookup,
    awaitAudit: opts.awaitAudit,
    stats,
    origins: originPool,
    slabs,
    dial,
    closing: () => closing,
    report(d: EgressDecision) {
      if (d.allowed) stats.allowed++;
      else stats.denied++;
      try {
        opts.onDecision?.(d);
      } catch {
        // The spawner's callback must not take the agent's network down with it.
      }
    },
  };

  const makeServer = (): Server => {
    // requestTimeout 0: a long upload is not an attack on a per-agent proxy; the header
    // timeout (Node's default 60 s) still stops a client that never finishes its head.
    const server = createServer({ maxHeaderSize: maxHeaderBytes, requestTimeout: 0, highWaterMark: RELAY_HIGH_WATER_MARK });
    server.on('connection', (s: Socket) => {
      stats.connections++;
      clients.add(s);
      s.once('close', () => clients.delete(s));
      if (closing) s.destroy();
    });
    // The handlers do not throw; the catch is the last line of defence for the process.
    server.on('request', (req, res) => void handleForward(ctx, req, res).catch(() => res.destroy()));
    server.on('connect', (req, socket: Duplex, head: Buffer) => void handleConnect(ctx, req, socket, head).catch(() => socket.destroy()));
    server.on('upgrade', (req, socket: Duplex) => {
      // Upgraded protocols (WebSocket over plain http) would be an unparsed tunnel decided as
      // http; refuse them: wss:// goes through CONNECT like any TLS.
      stats.requests++;
      const reason = 'protocol upgrades are not proxied; use wss:// (CONNECT) for WebSockets';
      opts.gate.refuse({ capability: 'network_access', resource: 'network', action: 'connect', target: String(req.url ?? '').slice(0, 512), api: API_FORWARD }, reason);
      ctx.report({ host: String(req.url ?? '').slice(0, 200), port: 0, scheme: 'http', method: req.method ?? '', allowed: false, reason, rule: 'request target', bytesIn: 0, bytesOut: 0, status: 501 });
      socket.end(rawResponse(501, `agentos egress proxy: ${reason}\n`));
    });
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // A reset or a socket already gone is a client leaving, not a request.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || !socket.writable) {
        socket.destroy();
        return;
      }
      stats.requests++;
      const reason =
        err.code === 'HPE_HEADER_OVERFLOW'
          ? `request head larger than ${maxHeaderBytes} bytes`
          : `malformed HTTP request (${err.code ?? err.message}); send "CONNECT host:port HTTP/1.1" or "GET http://host/path HTTP/1.1"`;
      opts.gate.refuse({ capability: 'network_access', resource: 'network', action: 'connect', target: '(malformed request)', api: API_FORWARD }, reason);
      ctx.report({ host: '', port: 0, scheme: '', method: '', allowed: false, reason, rule: 'request syntax', bytesIn: 0, bytesOut: 0, status: 400 });
      socket.end(rawResponse(400, `agentos egress proxy: refused (bad request): ${reason}\n`));
    });
    return server;
  };

  const servers: Server[] = [];
  let port: number | undefined;
  const close = async (): Promise<void> => {
    if (closing) return;
    closing = true;
    const stopped = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const s of clients) s.destroy();
    for (const s of origins) s.destroy();
    originPool.destroy();
    slabs.clear();
    await Promise.all(stopped);
    if (opts.socketPath !== undefined) await rm(opts.socketPath, { force: true });
  };
  try {
    if (opts.socketPath !== undefined) {
      const s = makeServer();
      servers.push(s);
      await listen(s, opts.socketPath);
      // Between listen and chmod the file has the umask's mode; the spawner creates it in a
      // directory only it can enter, so nobody else can connect in that window.
      await chmod(opts.socketPath, opts.socketMode ?? 0o600);
    }
    if (opts.tcpPort !== undefined) {
      const s = makeServer();
      servers.push(s);
      await listen(s, { host: '127.0.0.1', port: opts.tcpPort });
      const addr = s.address();
      port = typeof addr === 'object' && addr ? addr.port : undefined;
    }
  } catch (e) {
    // Do not unlink a path we failed to bind: it may be someone else's socket.
    closing = true;
    for (const s of servers) if (s.listening) s.close();
    originPool.destroy();
    throw e;
  }
  return {
    socketPath: opts.socketPath,
    port,
    stats: () => ({ ...stats }),
    close,
    async serveFd(fd: number) {
      if (closing) throw new Error('the egress proxy is closed');
      const s = makeServer();
      servers.push(s);
      await listen(s, { fd });
      return {
        close: () =>
          new Promise<void>((resolve) => {
            servers.splice(servers.indexOf(s), 1);
            s.close(() => resolve());
          }),
      };
    },
  };
}
