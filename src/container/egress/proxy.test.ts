/**
 * The egress proxy against real servers on 127.0.0.1 (an HTTP origin and a TCP echo server as
 * the CONNECT target), with clients on the unix socket and on TCP. Every other address in
 * these tests is refused before any connection is attempted (`stats().dials` stays 0).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Gate, type GatePolicy } from '../../gate/gate.js';
import type { AuditEvent } from '../../gate/types.js';
import { QuotaLedger, quotaPolicyOf } from '../../limits/quota.js';
import { compileIndicators, indicatorData } from '../../monitor/indicators.js';
import { startEgressProxy, type EgressDecision, type EgressProxy, type LookupAddress } from './index.js';

type Via = { path: string } | { port: number };

let dir: string;
let origin: http.Server;
let originPort: number;
let echo: net.Server;
let echoPort: number;
const echoSockets = new Set<net.Socket>();
const started: EgressProxy[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'egress-'));
  origin = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('n'));
      res.writeHead(200, { 'content-length': n });
      res.end(Buffer.alloc(n, 0x61));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url, method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  originPort = (origin.address() as net.AddressInfo).port;
  echo = net.createServer((s) => {
    echoSockets.add(s);
    s.on('close', () => echoSockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as net.AddressInfo).port;
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.close()));
  expect(dialed.splice(0).filter((a) => a !== '127.0.0.1')).toEqual([]);
});

afterAll(async () => {
  origin.closeAllConnections();
  await new Promise((r) => origin.close(r));
  for (const s of echoSockets) s.destroy();
  await new Promise((r) => echo.close(r));
  await rm(dir, { recursive: true, force: true });
});

interface Setup {
  proxy: EgressProxy;
  events: AuditEvent[];
  decisions: EgressDecision[];
  lookups: string[];
  unix: Via;
  tcp: Via;
}

/** The tests' origin connector: loopback only, so no regression can ever reach another address. */
const dialed: string[] = [];
function loopbackOnly(o: net.TcpNetConnectOpts): net.Socket {
  dialed.push(String(o.host));
  if (o.host !== '127.0.0.1') throw new Error(`test guard: the proxy tried to connect to ${o.host}:${o.port}`);
  return net.connect(o);
}

let n = 0;
async function setup(
  networkRules: NonNullable<GatePolicy['networkRules']>,
  o: { quota?: { maxConnections?: number; dataTransferLimit?: number }; resolve?: Record<string, string>; indicators?: { ipRanges: string[] } } = {},
): Promise<Setup> {
  const policy: GatePolicy = { capabilities: { allowed: ['network_access'], forbidden: [] }, mounts: [], networkRules };
  const q = quotaPolicyOf({ networkRules: o.quota }, 'agent-1');
  const events: AuditEvent[] = [];
  const gate = new Gate(policy, 'agent-1', (e) => void events.push(e), undefined, new QuotaLedger(QuotaLedger.allocate(q), q));
  if (o.indicators) gate.setIndicators(compileIndicators(indicatorData(o.indicators, 'intel.yaml')));
  const decisions: EgressDecision[] = [];
  const lookups: string[] = [];
  // Names in `resolve` answer as given; everything else goes to the real resolver (localhost).
  const lookup = o.resolve
    ? async (h: string): Promise<LookupAddress[]> => {
        lookups.push(h);
        const a = o.resolve![h];
        if (a === undefined) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
        return [{ address: a, family: net.isIP(a) }];
      }
    : undefined;
  const socketPath = join(dir, `p${n++}.sock`);
  const proxy = await startEgressProxy({ gate, socketPath, tcpPort: 0, connect: loopbackOnly, onDecision: (d) => decisions.push(d), ...(lookup ? { lookup } : {}) });
  started.push(proxy);
  return { proxy, events, decisions, lookups, unix: { path: socketPath }, tcp: { port: proxy.port! } };
}

const local = (ports: number[], protocols = ['http', 'https']) => ({ allowedHosts: ['127.0.0.1'], allowedPorts: ports, protocols });
const dialVia = (via: Via): net.Socket => ('path' in via ? net.connect(via.path) : net.connect(via.port, '127.0.0.1'));

/** Write `text`, read everything until the proxy closes the connection. */
async function exchange(via: Via, text: string | Buffer): Promise<string> {
  const s = dialVia(via);
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  s.write(text);
  await once(s, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

/** Open a tunnel; resolves with the status line and the socket (data after the head is kept). */
async function tunnel(via: Via, authority: string): Promise<{ status: number; text: string; socket: net.Socket }> {
  const socket = dialVia(via);
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  let buf = Buffer.alloc(0);
  for (;;) {
    const r = await Promise.race([once(socket, 'data'), once(socket, 'close').then(() => undefined)]);
    if (r) buf = Buffer.concat([buf, r[0] as Buffer]);
    const end = buf.indexOf('\r\n\r\n');
    if (end >= 0 || !r) {
      const text = buf.toString('latin1');
      if (end >= 0 && text.startsWith('HTTP/1.1 200')) return { status: 200, text, socket };
      if (r) await once(socket, 'close');
      return { status: Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0), text: text + '', socket };
    }
  }
}

/** Write through a tunnel and read the echo back. */
async function roundTrip(socket: net.Socket, data: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve) => {
    const on = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= data.length) {
        socket.off('data', on);
        resolve();
      }
    };
    socket.on('data', on);
  });
  socket.write(data);
  await done;
  return Buffer.concat(chunks);
}

function get(via: Via, url: string, agent?: http.Agent): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const where = 'path' in via ? { socketPath: via.path } : { host: '127.0.0.1', port: via.port };
    const req = http.request({ ...where, path: url, agent: agent ?? false, headers: { host: new URL(url).host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const until = async (cond: () => boolean, ms = 2000): Promise<void> => {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('egress proxy: allowed (positive controls)', () => {
  it.each(['unix', 'tcp'] as const)('forwards an absolute-form GET over %s, with the canonical Host and no proxy headers', async (kind) => {
    const s = await setup(local([originPort]));
    const via = s[kind];
    const r = await get(via, `http://127.0.0.1:${originPort}/hello?x=1`);
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    expect(body.url).toBe('/hello?x=1');
    expect(body.headers['host']).toBe(`127.0.0.1:${originPort}`);
    await until(() => s.decisions.length === 1);
    expect(s.decisions[0]).toMatchObject({ host: '127.0.0.1', port: originPort, scheme: 'http', method: 'GET', allowed: true, status: 200, address: '127.0.0.1' });
    expect(s.decisions[0]!.bytesIn).toBe(Buffer.byteLength(r.body));
    // The audit record is the gate's, in the shape of a wasi:http decision.
    expect(s.events).toEqual([
      expect.objectContaining({ type: 'capability_used', capability: 'network_access', resource: 'network', action: 'connect', target: `http://127.0.0.1:${originPort}`, outcome: 'allowed', api: 'agentos:egress-proxy#forward' }),
    ]);
  });

  it.each(['unix', 'tcp'] as const)('tunnels CONNECT over %s and relays bytes both ways', async (kind) => {
    const s = await setup(local([echoPort]));
    const t = await tunnel(s[kind], `127.0.0.1:${echoPort}`);
    expect(t.status).toBe(200);
    const data = Buffer.from('ping through the tunnel');
    expect((await roundTrip(t.socket, data)).toString()).toBe(data.toString());
    t.socket.destroy();
    await until(() => s.decisions.length === 1);
    expect(s.decisions[0]).toMatchObject({ method: 'CONNECT', scheme: 'https', allowed: true, bytesIn: data.length, bytesOut: data.length, status: 200 });
    expect(s.events[0]).toMatchObject({ target: `https://127.0.0.1:${echoPort}`, outcome: 'allowed', api: 'agentos:egress-proxy#connect' });
  });

  it('relays a large random payload through a tunnel unchanged (slab reads never overwrite queued chunks)', async () => {
    const s = await setup(local([echoPort]));
    const t = await tunnel(s.tcp, `127.0.0.1:${echoPort}`);
    const data = randomBytes(6 * 1024 * 1024);
    const back = await roundTrip(t.socket, data);
    expect(back.length).toBe(data.length);
    expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    t.socket.destroy();
  });

  it('keeps client and origin connections alive across requests', async () => {
    const s = await setup(local([originPort]));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) expect((await get(s.tcp, `http://127.0.0.1:${originPort}/${i}`, agent)).status).toBe(200);
    agent.destroy();
    expect(s.proxy.stats()).toMatchObject({ connections: 1, dials: 1, requests: 3, allowed: 3 });
  });

  it.each(['127.1', '2130706433', '0x7f000001', '[::ffff:127.0.0.1]'])('%s is the allowed 127.0.0.1', async (spelling) => {
    const s = await setup(local([echoPort, originPort]));
    const t = await tunnel(s.unix, `${spelling}:${echoPort}`);
    expect(t.status).toBe(200);
    t.socket.destroy();
    const r = await get(s.tcp, `http://${spelling}:${originPort}/`);
    expect(r.status).toBe(200);
    expect(s.events.map((e) => e.target)).toEqual([`https://127.0.0.1:${echoPort}`, `http://127.0.0.1:${originPort}`]);
  });
});

describe('egress proxy: denied', () => {
  it('a host not in allowedHosts: 403 naming the rule and the change, and no DNS lookup', async () => {
    const s = await setup(local([443, originPort]), { resolve: {} });
    const t = await tunnel(s.unix, 'evil.example:443');
    expect(t.status).toBe(403);
    expect(t.text).toMatch(/X-Agentos-Denied: networkRules\.allowedHosts/);
    expect(t.text).toMatch(/host "evil\.example" is not in networkRules\.allowedHosts \(add it to allow this request\)/);
    const r = await get(s.tcp, 'http://evil.example/');
    expect(r.status).toBe(403);
    expect(r.headers['x-agentos-denied']).toBe('networkRules.allowedHosts');
    expect(s.lookups).toEqual([]);
    expect(s.events.map((e) => [e.type, e.outcome])).toEqual([['capability_denied', 'denied'], ['capability_denied', 'denied']]);
    expect(s.proxy.stats()).toMatchObject({ denied: 2, dials: 0 });
  });

  it('a port not in allowedPorts', async () => {
    const s = await setup(local([originPort]));
    const t = await tunnel(s.tcp, `127.0.0.1:${echoPort}`);
    expect(t.status).toBe(403);
    expect(t.text).toMatch(new RegExp(`port ${echoPort} is not in networkRules\\.allowedPorts`));
    expect(s.proxy.stats().dials).toBe(0);
  });

  it('a tunnel is https: CONNECT needs https in protocols, whatever the port', async () => {
    const s = await setup(local([echoPort, originPort], ['http']));
    const t = await tunnel(s.tcp, `127.0.0.1:${echoPort}`);
    expect(t.status).toBe(403);
    expect(t.text).toMatch(/scheme https is not in networkRules\.protocols/);
    expect((await get(s.tcp, `http://127.0.0.1:${originPort}/`)).status).toBe(200);
  });

  it('a name that resolves to loopback is refused when only the name is allowed', async () => {
    const s = await setup({ allowedHosts: ['localhost'], allowedPorts: [echoPort, originPort], protocols: ['http', 'https'] });
    const t = await tunnel(s.unix, `localhost:${echoPort}`);
    expect(t.status).toBe(403);
    expect(t.text).toMatch(/X-Agentos-Denied: resolved address/);
    expect(t.text).toMatch(/host "localhost" resolves to (127\.0\.0\.1|::1), a loopback address/);
    expect((await get(s.tcp, `http://localhost:${originPort}/`)).status).toBe(403);
    // The policy allowed the name (one record), the address check refused it (another).
    expect(s.events.map((e) => e.outcome)).toEqual(['allowed', 'denied', 'allowed', 'denied']);
    expect(s.proxy.stats()).toMatchObject({ dials: 0, denied: 2 });
  });

  it('privateRanges: a name that resolves inside a named range is connected, outside it refused; metadata never', async () => {
    const s = await setup(
      { allowedHosts: ['svc.test', 'other.test', 'meta.test'], allowedPorts: [echoPort], protocols: ['http', 'https'], privateRanges: ['127.0.0.0/8', '169.254.0.0/16'] },
      { resolve: { 'svc.test': '127.0.0.1', 'other.test': '10.0.0.7', 'meta.test': '169.254.169.254' } },
    );
    const ok = await tunnel(s.unix, `svc.test:${echoPort}`);
    expect(ok.status).toBe(200);
    expect(dialed.at(-1)).toBe('127.0.0.1');
    const outside = await tunnel(s.unix, `other.test:${echoPort}`);
    expect(outside.status).toBe(403);
    expect(outside.text).toMatch(/resolves to 10\.0\.0\.7, a private address .*networkRules\.privateRanges/);
    expect((await tunnel(s.unix, `meta.test:${echoPort}`)).text).toMatch(/cloud metadata address/);
    expect(s.proxy.stats()).toMatchObject({ dials: 1, denied: 2 });
  });

  it('169.254.169.254 is refused before connecting, even when the policy names it', async () => {
    const s = await setup(
      { allowedHosts: ['169.254.169.254', 'metadata.internal.test', 'intranet.test'], allowedPorts: [80, 443], protocols: ['http', 'https'] },
      { resolve: { 'metadata.internal.test': '169.254.169.254', 'intranet.test': '10.0.0.7' } },
    );
    const t = await tunnel(s.unix, '169.254.169.254:80');
    expect(t.status).toBe(403);
    expect(t.text).toMatch(/cloud metadata address/);
    expect((await get(s.tcp, 'http://169.254.169.254/latest/meta-data/')).status).toBe(403);
    expect((await get(s.tcp, 'http://[::ffff:a9fe:a9fe]/')).status).toBe(403);
    expect((await tunnel(s.tcp, 'metadata.internal.test:443')).status).toBe(403);
    const priv = await tunnel(s.tcp, 'intranet.test:443');
    expect(priv.text).toMatch(/resolves to 10\.0\.0\.7, a private address/);
    expect(s.proxy.stats().dials).toBe(0);
  });

  it('an allowed name that resolves into a range of the threat-intelligence list is refused before connecting, and so is the address itself', async () => {
    const s = await setup(
      { allowedHosts: ['*.example.com', '8.8.4.4'], allowedPorts: [80, 443], protocols: ['http', 'https'] },
      { resolve: { 'cdn.example.com': '8.8.4.4' }, indicators: { ipRanges: ['8.8.4.0/24'] } },
    );
    const t = await tunnel(s.unix, 'cdn.example.com:443');
    expect(t.status).toBe(403);
    expect(t.text).toMatch(/blocked indicator: cdn\.example\.com resolved to 8\.8\.4\.4, in 8\.8\.4\.0\/24 of the threat-intelligence list intel\.yaml/);
    expect(t.text).toMatch(/X-Agentos-Denied: threat-intelligence list/);
    expect((await get(s.tcp, 'http://cdn.example.com/')).status).toBe(403);
    // The policy allowed the name, the list refused where it led: one record each, the denial naming the indicator.
    expect(s.events.filter((e) => e.outcome === 'denied').map((e) => e.matched)).toEqual([['indicator:8.8.4.0/24'], ['indicator:8.8.4.0/24']]);
    // An IP literal the policy names exactly is still screened (the gate refuses it by its own check first).
    expect((await tunnel(s.tcp, '8.8.4.4:443')).status).toBe(403);
    expect(s.proxy.stats().dials).toBe(0);
    expect(dialed).not.toContain('8.8.4.4');
  });

  it('without network_access nothing passes', async () => {
    const events: AuditEvent[] = [];
    const gate = new Gate({ capabilities: { allowed: [], forbidden: [] }, mounts: [], networkRules: local([echoPort]) }, 'a', (e) => void events.push(e));
    const proxy = await startEgressProxy({ gate, tcpPort: 0, connect: loopbackOnly });
    started.push(proxy);
    const t = await tunnel({ port: proxy.port! }, `127.0.0.1:${echoPort}`);
    expect(t.status).toBe(403);
    expect(t.text).toMatch(/rule: capabilities\.allowed/);
  });
});

describe('egress proxy: limits', () => {
  it('maxConnections counts open tunnels and frees the slot when one closes', async () => {
    const s = await setup(local([echoPort]), { quota: { maxConnections: 1 } });
    const first = await tunnel(s.unix, `127.0.0.1:${echoPort}`);
    expect(first.status).toBe(200);
    const second = await tunnel(s.tcp, `127.0.0.1:${echoPort}`);
    expect(second.status).toBe(403);
    expect(second.text).toMatch(/X-Agentos-Denied: networkRules\.maxConnections/);
    expect(s.events.at(-1)).toMatchObject({ type: 'limit_exceeded', details: expect.objectContaining({ limit: 'networkRules.maxConnections' }) });
    first.socket.destroy();
    await until(() => s.proxy.stats().openTunnels === 0);
    const third = await tunnel(s.tcp, `127.0.0.1:${echoPort}`);
    expect(third.status).toBe(200);
    third.socket.destroy();
  });

  it('dataTransferLimit counts tunnel bytes both ways and cuts the connection that would cross it', async () => {
    const s = await setup(local([echoPort]), { quota: { dataTransferLimit: 1000 } });
    const t = await tunnel(s.unix, `127.0.0.1:${echoPort}`);
    expect((await roundTrip(t.socket, Buffer.alloc(400, 1))).length).toBe(400); // 800 used
    t.socket.write(Buffer.alloc(300, 2)); // would be 1100
    await once(t.socket, 'close');
    await until(() => s.decisions.length === 1);
    expect(s.decisions[0]).toMatchObject({ allowed: true, bytesIn: 400, bytesOut: 400, limit: { limit: 'networkRules.dataTransferLimit', allowed: 1000, used: 800 } });
    expect(s.events.at(-1)).toMatchObject({ type: 'limit_exceeded', action: 'transfer', outcome: 'denied', reason: expect.stringMatching(/dataTransferLimit allows 1000/) });
    expect(s.proxy.stats().cut).toBe(1);
  });

  it('dataTransferLimit cuts a forwarded response body mid-stream', async () => {
    const s = await setup(local([originPort]), { quota: { dataTransferLimit: 4096 } });
    await expect(get(s.tcp, `http://127.0.0.1:${originPort}/big?n=100000`)).rejects.toThrow();
    await until(() => s.decisions.length === 1);
    expect(s.decisions[0]!.limit?.limit).toBe('networkRules.dataTransferLimit');
    expect(s.decisions[0]!.bytesIn).toBeLessThanOrEqual(4096);
    expect(s.proxy.stats()).toMatchObject({ openRequests: 0, cut: 1 });
  });
});

describe('egress proxy: malformed requests and connection hygiene', () => {
  it.each([
    ['a bad request line', 'GARBAGE\r\n\r\n', /400 Bad Request/],
    ['request head over 64 KiB', `GET http://127.0.0.1/ HTTP/1.1\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`, /larger than 65536 bytes/],
    ['userinfo in absolute-form', 'GET http://user@127.0.0.1:80/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', /userinfo/],
    ['origin-form sent to the proxy', 'GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', /not absolute-form/],
    ['CONNECT without a port', 'CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n', /must be host:port/],
    ['absolute-form https', 'GET https://127.0.0.1/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', /use CONNECT|send "CONNECT/],
  ])('%s is answered 400 and recorded; the proxy keeps serving', async (_name, text, pattern) => {
    const s = await setup(local([originPort]));
    const out = await exchange(s.unix, text);
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(out).toMatch(pattern);
    expect(s.events.at(-1)).toMatchObject({ outcome: 'denied', type: 'capability_denied' });
    expect(s.proxy.stats().dials).toBe(0);
    expect((await get(s.unix, `http://127.0.0.1:${originPort}/`)).status).toBe(200);
  });

  it('a client that disconnects mid-tunnel leaves no socket behind', async () => {
    const s = await setup(local([echoPort]));
    const before = echoSockets.size;
    const tunnels = await Promise.all([0, 1, 2].map(() => tunnel(s.tcp, `127.0.0.1:${echoPort}`)));
    for (const t of tunnels) await roundTrip(t.socket, Buffer.from('x'));
    expect(echoSockets.size).toBe(before + 3);
    for (const t of tunnels) t.socket.destroy();
    await until(() => echoSockets.size === before && s.proxy.stats().openTunnels === 0);
    expect(s.decisions).toHaveLength(3);
  });

  it('close() ends open tunnels and removes the socket file', async () => {
    const s = await setup(local([echoPort]));
    const t = await tunnel(s.unix, `127.0.0.1:${echoPort}`);
    const closed = once(t.socket, 'close');
    const before = echoSockets.size;
    await s.proxy.close();
    await closed;
    await until(() => echoSockets.size === before - 1);
    await expect(stat((s.unix as { path: string }).path)).rejects.toThrow();
    expect(s.proxy.stats().openTunnels).toBe(0);
  });
});
