/**
 * Forwarded requests against origins that answer in every framing HTTP/1.1 has, and in ways
 * it does not allow: the proxy reads origin responses itself (origin.ts, response.ts), so these
 * pin what reaches the agent, when an origin connection is reused, and what is refused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Gate } from '../../gate/gate.js';
import { QuotaLedger, quotaPolicyOf } from '../../limits/quota.js';
import { startEgressProxy, type EgressDecision, type EgressProxy } from './index.js';

/** A request as the raw origin saw it. */
interface Seen {
  head: string;
  body: Buffer;
}

/** What the raw origin answers to a path: bytes written in order (a number: wait that many ms), then maybe close. */
type Script = { parts: (string | Buffer | number)[]; close?: boolean };

let origin: net.Server;
let port: number;
const scripts = new Map<string, Script>();
const seen: Seen[] = [];
const big = randomBytes(6 * 1024 * 1024 + 123);

/** Read requests (Content-Length or chunked bodies) off one connection, answer each from `scripts`. */
function serve(s: net.Socket): void {
  let buf = Buffer.alloc(0);
  let busy = false;
  s.on('error', () => {});
  const next = async (): Promise<void> => {
    if (busy) return;
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buf.subarray(0, end).toString('latin1');
    let bodyEnd = end + 4;
    const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (cl) bodyEnd += Number(cl[1]);
    else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const last = buf.indexOf('\r\n0\r\n\r\n', end);
      if (last < 0) return;
      bodyEnd = last + 7;
    }
    if (buf.length < bodyEnd) return;
    seen.push({ head, body: buf.subarray(end + 4, bodyEnd) });
    buf = buf.subarray(bodyEnd);
    busy = true;
    const path = head.split(' ')[1]!.split('?')[0]!;
    const script = scripts.get(path) ?? { parts: ['HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'] };
    for (const p of script.parts) {
      if (typeof p === 'number') await new Promise((r) => setTimeout(r, p));
      else if (!s.write(p)) await once(s, 'drain');
    }
    if (script.close) s.end();
    busy = false;
    await next();
  };
  s.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    // A proxy that hangs up mid-answer fails the wait for 'drain': that is the test's business.
    next().catch(() => s.destroy());
  });
}

beforeAll(async () => {
  origin = net.createServer(serve);
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  port = (origin.address() as net.AddressInfo).port;
  const ok = (body: string | Buffer, extra = ''): Script => ({ parts: [`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}${extra}\r\n\r\n`, body] });
  scripts.set('/big', ok(big));
  scripts.set('/sink', ok('stored'));
  scripts.set('/chunked', { parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel', 5, 'lo\r\n', '6\r\n world\r\n0\r\nX-T: 1\r\n\r\n'] });
  scripts.set('/until-close', { parts: ['HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nstreamed ', 5, 'to the end'], close: true });
  scripts.set('/interim', { parts: ['HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal'] });
  scripts.set('/twice-length', ok('abc', '\r\nContent-Length: 3'));
  scripts.set('/overlong', { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcEXTRA'] });
  scripts.set('/head', { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n'] });
  scripts.set('/no-content', { parts: ['HTTP/1.1 204 No Content\r\n\r\n'] });
  scripts.set('/truncated', { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'], close: true });
  scripts.set('/smuggle', { parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n'] });
  scripts.set('/gzip', { parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx'], close: true });
  scripts.set('/garbage', { parts: ['SSH-2.0-OpenSSH\r\n\r\n'] });
  scripts.set('/huge-head', { parts: [`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`] });
  scripts.set('/switch', { parts: ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'] });
});

afterAll(async () => {
  await new Promise((r) => origin.close(r));
});

const started: EgressProxy[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.close()));
  seen.length = 0;
});

async function setup(quota: { dataTransferLimit?: number } = {}): Promise<{ proxy: EgressProxy; decisions: EgressDecision[] }> {
  const q = quotaPolicyOf({ networkRules: quota }, 'agent-1');
  const gate = new Gate(
    { capabilities: { allowed: ['network_access'], forbidden: [] }, mounts: [], networkRules: { allowedHosts: ['127.0.0.1'], allowedPorts: [port], protocols: ['http'] } },
    'agent-1',
    () => {},
    undefined,
    new QuotaLedger(QuotaLedger.allocate(q), q),
  );
  const decisions: EgressDecision[] = [];
  const proxy = await startEgressProxy({ gate, tcpPort: 0, onDecision: (d) => decisions.push(d) });
  started.push(proxy);
  return { proxy, decisions };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function send(proxy: EgressProxy, path: string, o: { method?: string; body?: Buffer; chunked?: boolean; agent?: http.Agent; slow?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { host: `127.0.0.1:${port}` };
    if (o.body && !o.chunked) headers['content-length'] = o.body.length;
    const req = http.request({ host: '127.0.0.1', port: proxy.port, method: o.method ?? 'GET', path: `http://127.0.0.1:${port}${path}`, headers, agent: o.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        // A slow agent: the proxy's writes queue up while it keeps reading the origin.
        if (o.slow) {
          res.pause();
          setTimeout(() => res.resume(), 1);
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.body && o.chunked) {
      // Several writes, so the body really goes out in several chunks.
      for (let i = 0; i < o.body.length; i += 100_000) req.write(o.body.subarray(i, i + 100_000));
    } else if (o.body) req.write(o.body);
    req.end();
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('forwarded responses', () => {
  it('relays a large body unchanged (to a slow agent too: queued views are never overwritten), three times over one kept-alive origin connection', async () => {
    const { proxy, decisions } = await setup();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (const slow of [false, true, false]) {
      const r = await send(proxy, '/big', { agent, slow });
      expect(r.status).toBe(200);
      expect(sha(r.body)).toBe(sha(big));
    }
    agent.destroy();
    expect(proxy.stats()).toMatchObject({ dials: 1, bytesIn: 3 * big.length });
    expect(decisions.map((d) => d.bytesIn)).toEqual([big.length, big.length, big.length]);
  });

  it('decodes a chunked response (split anywhere, extensions and trailers dropped) and reuses the connection', async () => {
    const { proxy } = await setup();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 2; i++) expect((await send(proxy, '/chunked', { agent })).body.toString()).toBe('hello world');
    agent.destroy();
    expect(proxy.stats().dials).toBe(1);
  });

  it('a response delimited by close reaches the agent whole; the next request dials again', async () => {
    const { proxy } = await setup();
    const r = await send(proxy, '/until-close');
    expect([r.status, r.headers['x-a'], r.body.toString()]).toEqual([200, '1', 'streamed to the end']);
    expect((await send(proxy, '/chunked')).status).toBe(200);
    expect(proxy.stats().dials).toBe(2);
  });

  it('skips 1xx interim responses; HEAD, 204 and a repeated Content-Length keep the connection', async () => {
    const { proxy } = await setup();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect((await send(proxy, '/interim', { agent })).body.toString()).toBe('final');
    const head = await send(proxy, '/head', { method: 'HEAD', agent });
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([200, '99', 0]);
    expect((await send(proxy, '/no-content', { agent })).status).toBe(204);
    const twice = await send(proxy, '/twice-length', { agent });
    expect([twice.headers['content-length'], twice.body.toString()]).toEqual(['3', 'abc']);
    agent.destroy();
    expect(proxy.stats().dials).toBe(1);
  });

  it('bytes after the end of a response: the agent gets the response, the connection is not reused', async () => {
    const { proxy } = await setup();
    expect((await send(proxy, '/overlong')).body.toString()).toBe('abc');
    expect((await send(proxy, '/chunked')).body.toString()).toBe('hello world');
    expect(proxy.stats().dials).toBe(2);
  });

  it('an origin that closes mid-body: the agent sees a cut response, the decision the error', async () => {
    const { proxy, decisions } = await setup();
    await expect(send(proxy, '/truncated')).rejects.toThrow();
    await expect.poll(() => decisions.length).toBe(1);
    expect(decisions[0]!.error).toMatch(/closed the connection before the response was complete/);
  });

  it.each([
    ['/smuggle', /both Transfer-Encoding and Content-Length/],
    ['/gzip', /unsupported Transfer-Encoding/],
    ['/garbage', /malformed status line/],
    ['/huge-head', /response head larger than 65536 bytes/],
    ['/switch', /switched protocols/],
  ])('%s is answered 502 with the reason, and the proxy keeps serving', async (path, reason) => {
    const { proxy, decisions } = await setup();
    const r = await send(proxy, path);
    expect(r.status).toBe(502);
    expect(r.body.toString()).toMatch(reason);
    await expect.poll(() => decisions.length).toBe(1);
    expect(decisions[0]).toMatchObject({ allowed: true, error: expect.stringMatching(reason) });
    expect((await send(proxy, '/chunked')).status).toBe(200);
  });
});

describe('forwarded request bodies', () => {
  it.each([false, true])('an upload reaches the origin unchanged (chunked: %s)', async (chunked) => {
    const { proxy, decisions } = await setup();
    const r = await send(proxy, '/sink', { method: 'POST', body: big, chunked });
    expect(r.body.toString()).toBe('stored');
    expect(seen).toHaveLength(1);
    const { head, body } = seen[0]!;
    expect(/\r\ntransfer-encoding: chunked/i.test(head)).toBe(chunked);
    const payload = chunked ? dechunk(body) : body;
    expect(sha(payload)).toBe(sha(big));
    await expect.poll(() => decisions.length).toBe(1);
    expect(decisions[0]).toMatchObject({ bytesOut: big.length, bytesIn: 6 });
  });

  it('dataTransferLimit counts upload bytes and cuts the request that would cross it', async () => {
    const { proxy, decisions } = await setup({ dataTransferLimit: 1024 * 1024 });
    await send(proxy, '/sink', { method: 'POST', body: big }).then(
      (r) => expect(r.status).toBe(403),
      (e: unknown) => expect(e).toBeInstanceOf(Error),
    );
    await expect.poll(() => decisions.length).toBe(1);
    expect(decisions[0]!.limit?.limit).toBe('networkRules.dataTransferLimit');
    expect(decisions[0]!.bytesOut).toBeLessThanOrEqual(1024 * 1024);
    expect(proxy.stats()).toMatchObject({ openRequests: 0, cut: 1 });
  });
});

/** Undo chunked transfer coding (the test origin's view of a chunked upload). */
function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', i);
    const size = parseInt(b.subarray(i, eol).toString('latin1'), 16);
    if (size === 0) return Buffer.concat(out);
    out.push(b.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}
