#!/usr/bin/env node
/**
 * Egress proxy (issue 13, item 4): what going through our per-agent proxy costs, beside the
 * same request made directly, in the same run.
 *
 * Three threads, as in use: the origin (an HTTP server, a TCP echo server and a TCP stream
 * server on 127.0.0.1) in one worker, the client (the agent's side) in another, and the proxy
 * in the main thread, where the host runs it. The proxy decides every connection with a real
 * `Gate` (policy allowing 127.0.0.1 on the origin's ports) whose audit sink only counts, so the
 * audit log's own cost (section 5) is not in these figures; the gate has a quota ledger with
 * `maxConnections` and a `dataTransferLimit` far above what the run moves, so the proxy's
 * per-chunk byte accounting is in them.
 *
 * Fairness: every route (direct, proxy, bare relay) runs the same client code against the same
 * origin code, with the same chunk sizes; routes alternate sample by sample and the route that
 * goes first rotates each round, so the leftovers of one sample (garbage, closing sockets) do
 * not always land on the same route's next sample. Figures are medians.
 *
 *   latency: median per request, direct vs through the proxy (TCP listener, and the unix socket
 *   the sandbox uses), with client keep-alive and with a new client connection per request; a
 *   CONNECT tunnel opened, used for one round trip and closed; a round trip on an open tunnel.
 *   throughput: a 10 MiB body downloaded and uploaded through absolute-form forwarding, and
 *   downloaded through a CONNECT tunnel, MiB/s and proxy/direct.
 *
 * Run alone with `node bench/egress.mjs` (after `npm run build`); `bench/run.mjs` runs it as
 * section `egress`. BENCH_QUICK=1 cuts the sample counts 10× (a smoke run, not for reporting).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fmtMs, fmtRatio, median, percentile, table } from './lib/stats.mjs';

const MiB = 1024 * 1024;
const BODY = 10 * MiB;
const TARGET_ADDED_MS = 1;
const TARGET_THROUGHPUT = 0.8;

/**
 * CPU time (user + system, ms) of the calling thread so far, from /proc (Linux; 10 ms ticks),
 * or undefined elsewhere. Node 20 has no per-thread CPU clock, and the proxy shares its process
 * with the bench's workers.
 */
function threadCpuMs() {
  try {
    const stat = readFileSync('/proc/thread-self/stat', 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return undefined;
  }
}

// ---- origin worker ---------------------------------------------------------------------------

async function origin() {
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const writeN = async (w, n) => {
    for (let left = n; left > 0; left -= chunk.length) {
      if (!w.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await once(w, 'drain');
    }
  };
  const web = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/big') {
      const n = Number(url.searchParams.get('n'));
      res.writeHead(200, { 'content-length': n });
      await writeN(res, n);
      res.end();
    } else if (url.pathname === '/sink') {
      let got = 0;
      req.on('data', (c) => (got += c.length));
      req.on('end', () => res.end(String(got)));
    } else res.end('ok');
  });
  web.keepAliveTimeout = 60_000;
  const echo = net.createServer((s) => s.pipe(s).on('error', () => {}));
  // Stream server: the client writes "N\n", the server sends N bytes and closes.
  const stream = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', async (d) => {
      await writeN(s, Number(d.toString().trim()));
      s.end();
    });
  });
  for (const srv of [web, echo, stream]) {
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
  }
  parentPort.postMessage({ web: web.address().port, echo: echo.address().port, stream: stream.address().port });
}

// ---- client worker ---------------------------------------------------------------------------

/** Where a request goes: straight to the origin, or to the proxy (TCP port or unix socket). */
const endpoint = (via, port) =>
  via === null ? { host: '127.0.0.1', port } : via.relay ? { host: '127.0.0.1', port: via.relay[port] } : via.socketPath ? { socketPath: via.socketPath } : { host: '127.0.0.1', port: via.port };
/** Origin-form straight to the origin (or through a bare relay), absolute-form to the proxy. */
const pathFor = (via, port, path) => (via === null || via.relay ? path : `http://127.0.0.1:${port}${path}`);

function request(opts, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(opts, (res) => {
      let got = 0;
      res.on('data', (c) => (got += c.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(got) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    if (body) {
      const write = async () => {
        for (let left = body.n; left > 0; left -= body.chunk.length) {
          if (!req.write(left >= body.chunk.length ? body.chunk : body.chunk.subarray(0, left))) await once(req, 'drain');
        }
        req.end();
      };
      write().catch(reject);
    } else req.end();
  });
}

/** Open a socket to `port` directly or through a CONNECT tunnel; resolves once it carries bytes to the target. */
async function openStream(via, port) {
  if (via === null || via.relay) {
    const s = net.connect({ host: '127.0.0.1', port: via === null ? port : via.relay[port], noDelay: true });
    await once(s, 'connect');
    return s;
  }
  const s = via.socketPath ? net.connect(via.socketPath) : net.connect({ host: '127.0.0.1', port: via.port, noDelay: true });
  s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  let head = '';
  while (!head.includes('\r\n\r\n')) head += (await once(s, 'data'))[0].toString('latin1');
  if (!head.startsWith('HTTP/1.1 200')) throw new Error(`CONNECT refused: ${head.split('\r\n')[0]}`);
  return s;
}

async function roundTrip(s, data) {
  let got = 0;
  const done = new Promise((resolve) => {
    const on = (c) => {
      got += c.length;
      if (got >= data.length) {
        s.off('data', on);
        resolve();
      }
    };
    s.on('data', on);
  });
  s.write(data);
  await done;
}

/**
 * Each op prepares one measured action for one route (`via`: null = direct, or the proxy) and
 * returns `{ fn, close }`; the client alternates the routes sample by sample, so drift in a
 * shared machine's load hits both alike.
 */
const OPS = {
  async http({ via, ports, keepAlive }) {
    const agent = new http.Agent({ keepAlive, maxSockets: 1 });
    const path = pathFor(via, ports.web, '/');
    const opts = { ...endpoint(via, ports.web), path, agent, headers: { host: `127.0.0.1:${ports.web}`, ...(keepAlive ? {} : { connection: 'close' }) } };
    return { fn: () => request(opts), close: () => agent.destroy() };
  },
  async tunnelOpen({ via, ports }) {
    const ping = Buffer.alloc(64, 1);
    const fn = async () => {
      const s = await openStream(via, ports.echo);
      await roundTrip(s, ping);
      s.destroy();
    };
    return { fn, close: () => {} };
  },
  async tunnelRtt({ via, ports }) {
    const s = await openStream(via, ports.echo);
    const ping = Buffer.alloc(64, 1);
    return { fn: () => roundTrip(s, ping), close: () => s.destroy() };
  },
  async download({ via, ports }) {
    const path = pathFor(via, ports.web, `/big?n=${BODY}`);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const opts = { ...endpoint(via, ports.web), path, agent, headers: { host: `127.0.0.1:${ports.web}` } };
    const fn = async () => {
      if ((await request(opts)) !== BODY) throw new Error('short body');
    };
    return { fn, close: () => agent.destroy() };
  },
  async upload({ via, ports }) {
    const path = pathFor(via, ports.web, '/sink');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const opts = { ...endpoint(via, ports.web), method: 'POST', path, agent, headers: { host: `127.0.0.1:${ports.web}`, 'content-length': BODY } };
    const body = { n: BODY, chunk: Buffer.alloc(256 * 1024, 0x62) };
    return { fn: () => request(opts, body), close: () => agent.destroy() };
  },
  async tunnelDownload({ via, ports }) {
    const fn = async () => {
      const s = await openStream(via, ports.stream);
      let got = 0;
      s.on('data', (c) => (got += c.length));
      s.write(`${BODY}\n`);
      await once(s, 'end');
      s.destroy();
      if (got !== BODY) throw new Error(`short stream: ${got}`);
    };
    return { fn, close: () => {} };
  },
};

/**
 * Run `op` on every route in `vias`, alternating sample by sample, the first route rotating
 * each round; returns one sample list per route (ms).
 */
async function interleaved({ op, vias, n, warmup, ...args }) {
  const runs = [];
  for (const via of vias) runs.push(await OPS[op]({ ...args, via }));
  const out = vias.map(() => []);
  for (let i = 0; i < warmup + n; i++) {
    for (let j = 0; j < runs.length; j++) {
      const k = (i + j) % runs.length;
      const t0 = performance.now();
      await runs[k].fn();
      if (i >= warmup) out[k].push(performance.now() - t0);
    }
  }
  for (const r of runs) r.close();
  return out;
}

function client() {
  parentPort.on('message', async ({ id, op, args }) => {
    try {
      parentPort.postMessage({ id, ok: true, value: await interleaved({ op, ...args }) });
    } catch (e) {
      parentPort.postMessage({ id, ok: false, error: String(e?.stack ?? e) });
    }
  });
}

if (!isMainThread && workerData?.egressRole === 'origin') await origin();
if (!isMainThread && workerData?.egressRole === 'client') client();

// ---- the section (main thread: the proxy) ------------------------------------------------------

const worker = (role) => new Worker(fileURLToPath(import.meta.url), { workerData: { egressRole: role } });

/** Run the section; returns the text to print. */
export async function egressBench({ quick = false, progress = () => {} } = {}) {
  const q = (n, min = 1) => (quick ? Math.max(min, Math.ceil(n / 10)) : n);
  const { startEgressProxy } = await import('../dist/container/egress/index.js');
  const { Gate } = await import('../dist/gate/gate.js');
  const { QuotaLedger, quotaPolicyOf } = await import('../dist/limits/quota.js');
  const originW = worker('origin');
  const clientW = worker('client');
  const dir = await mkdtemp(join(tmpdir(), 'agentos-bench-egress-'));
  let proxy;
  const relays = [];
  try {
    const [ports] = await once(originW, 'message');
    let events = 0;
    const policy = {
      capabilities: { allowed: ['network_access'], forbidden: [] },
      mounts: [],
      networkRules: { allowedHosts: ['127.0.0.1'], allowedPorts: [ports.web, ports.echo, ports.stream], protocols: ['http', 'https'] },
    };
    const quota = quotaPolicyOf({ networkRules: { maxConnections: 64, dataTransferLimit: 2 ** 50 } }, 'bench-agent');
    const gate = new Gate(policy, 'bench-agent', () => void events++, undefined, new QuotaLedger(QuotaLedger.allocate(quota), quota));
    proxy = await startEgressProxy({ gate, socketPath: join(dir, 'egress.sock'), tcpPort: 0 });
    const viaTcp = { port: proxy.port };
    // One bare relay per origin port: what a do-nothing Node hop costs, in the same thread as the proxy.
    const relayFor = async (target) => {
      const srv = net.createServer((c) => {
        const u = net.connect({ host: '127.0.0.1', port: target, noDelay: true });
        c.pipe(u).on('error', () => {});
        u.pipe(c).on('error', () => {});
        c.on('close', () => u.destroy());
        u.on('close', () => c.destroy());
      });
      srv.listen(0, '127.0.0.1');
      await once(srv, 'listening');
      relays.push(srv);
      return srv.address().port;
    };
    const viaRelay = { relay: { [ports.web]: await relayFor(ports.web), [ports.stream]: await relayFor(ports.stream) } };
    const viaUnix = { socketPath: proxy.socketPath };
    let seq = 0;
    const pending = new Map();
    clientW.on('message', (m) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(m.error));
    });
    const run = (op, args) =>
      new Promise((resolve, reject) => {
        const id = seq++;
        pending.set(id, { resolve, reject });
        clientW.postMessage({ id, op, args: { ports, ...args } });
      });

    const lat = [];
    const latRow = async (label, op, via, extra, n, warmup) => {
      progress(`egress: ${label}`);
      const [direct, proxied] = await run(op, { vias: [null, via], n, warmup, ...extra });
      const added = median(proxied) - median(direct);
      const target = extra.target ? `≤ ${fmtMs(TARGET_ADDED_MS)} ${added <= TARGET_ADDED_MS ? 'met' : 'MISSED'}` : '—';
      lat.push([label, String(n), fmtMs(median(direct)), fmtMs(median(proxied)), fmtMs(added), fmtRatio(median(proxied), median(direct)), target]);
    };
    const nReq = q(2000, 100);
    await latRow('GET, keep-alive, proxy on TCP', 'http', viaTcp, { keepAlive: true, target: true }, nReq, q(200, 20));
    await latRow('GET, keep-alive, proxy on unix socket', 'http', viaUnix, { keepAlive: true, target: true }, nReq, q(200, 20));
    await latRow('GET, new client connection each', 'http', viaTcp, { keepAlive: false, target: true }, q(1000, 50), q(100, 10));
    await latRow('CONNECT + 64 B round trip + close', 'tunnelOpen', viaTcp, {}, q(1000, 50), q(100, 10));
    await latRow('64 B round trip on an open tunnel', 'tunnelRtt', viaTcp, {}, nReq, q(200, 20));

    const thr = [];
    const mibs = (xs) => BODY / MiB / (median(xs) / 1000);
    const pct = (a, b) => `${((mibs(a) / mibs(b)) * 100).toFixed(0)}%`;
    const thrRow = async (label, op, via) => {
      progress(`egress: ${label}`);
      const reps = q(30, 3);
      const [direct, proxied, bare] = await run(op, { vias: [null, via, viaRelay], n: reps, warmup: 2 });
      const share = mibs(proxied) / mibs(direct);
      // The proxy thread's own CPU per transfer (proxy, then bare relay), each route alone.
      const cpu = [];
      for (const v of [via, viaRelay]) {
        const c0 = threadCpuMs();
        await run(op, { vias: [v], n: reps, warmup: 0 });
        const c1 = threadCpuMs();
        cpu.push(c0 === undefined || c1 === undefined ? '—' : ((c1 - c0) / reps).toFixed(1));
      }
      // On 2 cores the direct route is often bimodal (client and origin on one core or on two):
      // the quartiles show how far a median can move between runs.
      const iqr = (xs) => `${percentile(xs, 25).toFixed(1)}–${percentile(xs, 75).toFixed(1)}`;
      thr.push([
        label, String(reps), `${mibs(direct).toFixed(0)} MiB/s`, `${mibs(proxied).toFixed(0)} MiB/s`, pct(proxied, direct),
        `≥ ${TARGET_THROUGHPUT * 100}% ${share >= TARGET_THROUGHPUT ? 'met' : 'MISSED'}`, `${mibs(bare).toFixed(0)} MiB/s`, pct(bare, direct), pct(proxied, bare),
        `${iqr(direct)} / ${iqr(proxied)}`, `${cpu[0]} / ${cpu[1]}`,
      ]);
    };
    await thrRow('10 MiB download, forwarded', 'download', viaTcp);
    await thrRow('10 MiB upload, forwarded', 'upload', viaTcp);
    await thrRow('10 MiB download, CONNECT tunnel', 'tunnelDownload', viaTcp);
    await thrRow('10 MiB download, CONNECT on unix socket', 'tunnelDownload', viaUnix);

    const st = proxy.stats();
    return [
      'egress proxy (bench/egress.mjs): client, proxy and origin in three threads; the proxy decides each connection with a real Gate (audit sink only counts, quota ledger on); routes alternate, first route rotating',
      table(['latency per request', 'n', 'direct p50', 'proxy p50', 'added', 'proxy/direct', 'target (added)'], lat, ['l']),
      '',
      table(['throughput (median)', 'reps', 'direct', 'proxy', 'proxy/direct', 'target', 'bare relay', 'bare/direct', 'proxy/bare', 'ms p25–p75 direct / proxy', 'hop CPU ms proxy / bare'], thr, ['l']),
      '"bare relay": the simplest Node TCP relay, in the proxy\'s thread (socket.pipe both ways, no parsing, no policy): what one extra hop in Node costs here, for scale',
      `"hop CPU": the proxy thread's CPU per 10 MiB transfer, each route run alone (10 ms clock ticks). With ${availableParallelism()} cores shared by client, proxy and origin, a proxied transfer needs that much more CPU than a direct one`,
      '',
      `proxy totals: ${st.requests} decisions (${events} audit events), ${st.connections} client connections, ${st.dials} origin connections, ${((st.bytesIn + st.bytesOut) / MiB).toFixed(0)} MiB relayed`,
    ].join('\n');
  } finally {
    await proxy?.close();
    for (const r of relays) r.close();
    await originW.terminate();
    await clientW.terminate();
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMainThread && process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.env.BENCH_QUICK === '1';
  process.stdout.write(`egress benchmark · command: node bench/egress.mjs${quick ? ' · BENCH_QUICK=1 (smoke run: sample counts cut 10×)' : ''}\n`);
  process.stdout.write((await egressBench({ quick, progress: (l) => process.stderr.write(`  … ${l}\n`) })) + '\n');
  process.exit(0);
}
