/**
 * Gated wasi:http against a real HTTP server on 127.0.0.1, environment and host tools.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../dist/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { startDnsStub } from '../helpers/dns-stub.js';
import { recordingSandbox, settle } from '../helpers/sandbox.js';

const { sandbox, audit } = recordingSandbox();
let server: Server;
let port = 0;
const hits: string[] = [];
let hangClosed = false;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(`${req.headers.host} ${req.url}`);
    if (req.url === '/redirect-out') {
      res.writeHead(302, { location: `http://evil.test:${port}/stolen` });
      return res.end();
    }
    if (req.url === '/redirect-in') {
      res.writeHead(302, { location: '/landed' });
      return res.end();
    }
    if (req.url === '/hang') {
      req.socket.once('close', () => (hangClosed = true));
      return; // never answers
    }
    if (req.url === '/big') {
      res.writeHead(200);
      return res.end('x'.repeat(200_000));
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello ${req.method} ${req.url}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await sandbox.close();
  await new Promise((r) => server.close(r));
});

async function fetchWith(policy: Record<string, unknown>, url: string): Promise<{ status?: number; body?: string; error?: string; url?: string }> {
  const agent = await sandbox.load(fixturePath('fetchprobe'), { policy });
  try {
    return JSON.parse((await agent.run(JSON.stringify({ url }))).output);
  } finally {
    await agent.close();
  }
}

const allowLoopback = () => ({
  version: 1,
  capabilities: { allowed: ['network_access'] },
  networkRules: { allowedHosts: ['127.0.0.1'], allowedPorts: [port], protocols: ['http'], maxResponseBytes: '100KiB' },
});

describe('time limits while blocked in a host call', () => {
  it('a guest waiting on a server that never answers still ends with TIMEOUT at maxExecutionTime', async () => {
    const policy = { ...allowLoopback(), resourceLimits: { maxExecutionTime: '700ms' } };
    const agent = await sandbox.load(fixturePath('fetchprobe'), { policy });
    try {
      const t = Date.now();
      await expect(agent.run(JSON.stringify({ url: `http://127.0.0.1:${port}/hang` }))).rejects.toMatchObject({ code: 'TIMEOUT' });
      expect(Date.now() - t).toBeLessThan(5000);
      // The host does not keep the dead guest's request open.
      for (let i = 0; i < 50 && !hangClosed; i++) await new Promise((r) => setTimeout(r, 20));
      expect(hangClosed).toBe(true);
    } finally {
      await agent.close();
    }
  });
});

describe('network quotas', () => {
  it('dataTransferLimit: bytes per hour across runs; a response that would go over fails, the next request is refused once it is used up', async () => {
    const policy = { ...allowLoopback(), networkRules: { ...allowLoopback().networkRules, dataTransferLimit: 250_000, maxResponseBytes: '1MiB' } };
    const agent = await sandbox.load(fixturePath('fetchprobe'), { policy });
    try {
      const run = async (path: string) => JSON.parse((await agent.run(JSON.stringify({ url: `http://127.0.0.1:${port}${path}` }))).output) as { status?: number; body?: string; error?: string };
      expect(await run('/big')).toMatchObject({ status: 200 }); // 200,000 bytes of 250,000
      const before = hits.length;
      expect((await run('/big')).error).toBeDefined(); // 200,000 more would go over: cut off
      expect(hits.length).toBe(before + 1);
      expect(await run('/ok')).toMatchObject({ status: 200 }); // a small one still fits
    } finally {
      await agent.close();
    }
    await settle();
    expect(audit.some((e) => e.agentId === agent.id && e.type === 'capability_used' && e.capability === 'network_access')).toBe(true);
  });
});

describe('wasi:http outgoing', () => {
  it('allows a request the policy names and reaches the server', async () => {
    const r = await fetchWith(allowLoopback(), `http://127.0.0.1:${port}/ok`);
    expect(r).toMatchObject({ status: 200, body: 'hello GET /ok' });
  });

  it('denies everything without network_access, even with rules', async () => {
    const p = { ...allowLoopback(), capabilities: { allowed: [] } };
    const before = hits.length;
    expect((await fetchWith(p, `http://127.0.0.1:${port}/ok`)).error).toBeTruthy();
    expect(hits.length).toBe(before);
  });

  it('denies a disallowed port and a disallowed scheme', async () => {
    expect((await fetchWith(allowLoopback(), `http://127.0.0.1:${port + 1}/`)).error).toBeTruthy();
    expect((await fetchWith(allowLoopback(), `https://127.0.0.1:${port}/`)).error).toBeTruthy();
  });

  it('treats every spelling of an IP literal as the same host', async () => {
    for (const host of ['127.1', '2130706433', '0x7f000001', '[::ffff:127.0.0.1]']) {
      const r = await fetchWith(allowLoopback(), `http://${host}:${port}/spelled`);
      expect(r, host).toMatchObject({ status: 200, body: 'hello GET /spelled' });
    }
    // ...and a policy naming a host does not admit an IP spelling of something else.
    const named = { ...allowLoopback(), networkRules: { allowedHosts: ['allowed.example.com'], allowedPorts: [port], protocols: ['http'] } };
    for (const host of ['127.1', '2130706433', '0x7f000001', '[::ffff:127.0.0.1]', 'allowed.example.com.evil.test', 'localhost']) {
      expect((await fetchWith(named, `http://${host}:${port}/`)).error, host).toBeTruthy();
    }
  });

  it('connects a name only to public addresses: an allowed name that resolves to loopback is refused, the server never reached, and recorded', async () => {
    const before = hits.length;
    const byName = { ...allowLoopback(), networkRules: { allowedHosts: ['localhost'], allowedPorts: [port], protocols: ['http'] } };
    const r = await fetchWith(byName, `http://localhost:${port}/rebound`);
    expect(r.error).toBeTruthy(); // fetch reports a NetworkError (wasi:http: destination-IP-prohibited)
    expect(hits.length).toBe(before);
    expect(audit.find((e) => e.target === 'localhost' && e.outcome === 'denied' && e.matched?.includes('network:public-only'))?.reason).toMatch(/resolves to (127\.0\.0\.1|::1), a loopback address/);
    // The address itself, named in the policy, is allowed on purpose; a metadata address never is.
    expect(await fetchWith(allowLoopback(), `http://127.0.0.1:${port}/named`)).toMatchObject({ status: 200 });
    const metadata = { ...allowLoopback(), networkRules: { allowedHosts: ['169.254.169.254'], allowedPorts: [80], protocols: ['http'] } };
    expect((await fetchWith(metadata, 'http://169.254.169.254/latest/meta-data/')).error).toBeTruthy();
    expect(audit.some((e) => e.target === '169.254.169.254' && e.outcome === 'denied' && e.matched?.includes('network:metadata'))).toBe(true);
  });

  it('networkRules.privateRanges lets a name lead to a non-public address inside a named range only; metadata stays refused', async () => {
    const before = hits.length;
    const ranged = (privateRanges: string[]) => ({ ...allowLoopback(), networkRules: { allowedHosts: ['localhost'], allowedPorts: [port], protocols: ['http'], privateRanges } });
    // localhost may resolve to ::1 first; name both loopback ranges.
    expect(await fetchWith(ranged(['127.0.0.0/8', '::1']), `http://localhost:${port}/ranged`)).toMatchObject({ status: 200 });
    expect(hits.length).toBe(before + 1);
    // A range that does not hold the address changes nothing.
    expect((await fetchWith(ranged(['10.0.0.0/8', 'fd00::/8']), `http://localhost:${port}/other-range`)).error).toBeTruthy();
    expect(hits.length).toBe(before + 1);
    expect(audit.filter((e) => e.target === 'localhost' && e.matched?.includes('network:public-only')).at(-1)?.reason).toContain('networkRules.privateRanges');
    // A public range, or one with host bits, is a policy error naming the field.
    await expect(sandbox.load(fixturePath('fetchprobe'), { policy: ranged(['8.8.8.0/24']) })).rejects.toMatchObject({ code: 'POLICY_INVALID', message: expect.stringContaining('networkRules.privateRanges') });
    await expect(sandbox.load(fixturePath('fetchprobe'), { policy: ranged(['10.0.0.1/8']) })).rejects.toThrow(/bits set after the \/8 prefix/);
  });

  it('resolves a name once and connects to the address it checked: a rebinding resolver (public first, private next) never reaches the private server', async () => {
    const dns = await startDnsStub((name, nth) => (name === 'rebind.test' ? (nth === 1 ? ['93.184.215.14'] : ['127.0.0.1']) : name === 'private.test' ? ['127.0.0.1'] : []));
    const { sandbox: s, audit: events } = recordingSandbox({ dns: { servers: [dns.server] } });
    try {
      const before = hits.length;
      const policy = (host: string) => ({ version: 1, capabilities: { allowed: ['network_access'] }, networkRules: { allowedHosts: [host], allowedPorts: [port], protocols: ['http'] }, resourceLimits: { maxExecutionTime: '2s' } });
      const run = async (host: string) => {
        const agent = await s.load(fixturePath('fetchprobe'), { policy: policy(host) });
        try {
          return await agent.run(JSON.stringify({ url: `http://${host}:${port}/rebound` })).then((r) => r.output, (e: Error) => e.message);
        } finally {
          await agent.close();
        }
      };
      // Public at the check: the connection goes there (and fails: nothing listens), never to the second answer.
      await run('rebind.test');
      expect(dns.asked.get('rebind.test')).toBe(1);
      // Private at once: refused before any connection, and recorded.
      await run('private.test');
      expect(events.find((e) => e.target === 'private.test' && e.outcome === 'denied')?.reason).toContain('resolves to 127.0.0.1, a loopback address');
      expect(hits.length).toBe(before);
    } finally {
      await s.close();
      await dns.stop();
    }
  });

  it('rejects userinfo tricks (http://allowed@evil/)', async () => {
    const before = hits.length;
    expect((await fetchWith(allowLoopback(), `http://127.0.0.1@evil.test:${port}/`)).error).toBeTruthy();
    expect((await fetchWith(allowLoopback(), `http://allowed@127.0.0.1:${port}/`)).error).toBeTruthy();
    expect(hits.length).toBe(before);
  });

  it('re-checks every redirect hop', async () => {
    const inside = await fetchWith(allowLoopback(), `http://127.0.0.1:${port}/redirect-in`);
    expect(inside).toMatchObject({ status: 200, body: 'hello GET /landed' });
    const out = await fetchWith(allowLoopback(), `http://127.0.0.1:${port}/redirect-out`);
    expect(out.error).toBeTruthy();
    expect(hits.some((h) => h.includes('/stolen'))).toBe(false);
    await settle();
    expect(audit.some((e) => e.resource === 'network' && e.outcome === 'denied' && e.target.includes('evil.test'))).toBe(true);
  });

  it('caps response bodies', async () => {
    expect((await fetchWith(allowLoopback(), `http://127.0.0.1:${port}/big`)).error).toBeTruthy();
  });

  it('records allowed and denied requests with the canonical target', async () => {
    await settle();
    const net = audit.filter((e) => e.resource === 'network');
    expect(net).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ outcome: 'allowed', target: `http://127.0.0.1:${port}`, api: 'wasi:http/outgoing-handler#handle' }),
        expect.objectContaining({ outcome: 'denied', reason: expect.stringContaining('allowedPorts') }),
      ]),
    );
  });
});

describe('sockets', () => {
  it('are never available (C agent getaddrinfo-free path: the import itself is denied)', async () => {
    const a = await sandbox.load(fixturePath('fetchprobe'));
    const report = a.imports.filter((r) => r.name.startsWith('wasi:sockets/tcp-create-socket'));
    expect(report[0]?.verdict).toBe('denied');
    await a.close();
  });
});

describe('environment', () => {
  let agent: Agent;
  beforeAll(async () => {
    const s = recordingSandbox({ hostEnv: { LANG: 'C.UTF-8', SECRET_TOKEN: 'hunter2', HOME: '/root' } });
    agent = await s.sandbox.load(fixturePath('fsprobe'), { policy: { version: 1, env: { allow: ['LANG'], set: { MODE: 'review' } } } });
  });
  afterAll(() => agent.close());

  it('exposes only allowed names and fixed values', async () => {
    expect((await agent.run('env\ngetenv LANG\ngetenv MODE\ngetenv SECRET_TOKEN\ngetenv HOME')).output.split('\n')).toEqual([
      'ok LANG MODE',
      'ok C.UTF-8',
      'ok review',
      'err unset',
      'err unset',
    ]);
  });
});

describe('host tools', () => {
  let agent: Agent;
  let other: Agent;
  const calls: unknown[] = [];
  beforeAll(async () => {
    sandbox.registerTool('search', (input) => {
      calls.push(input);
      return { results: [`found ${(input as { q: string }).q}`] };
    });
    sandbox.registerTool('delete_all', () => 'should never run');
    sandbox.registerTool('broken', () => {
      throw new Error('tool exploded');
    });
    agent = await sandbox.load(fixturePath('fsprobe'), { policy: { version: 1, toolAccess: { allow: ['search', 'broken', 'missing'] } } });
    other = await sandbox.load(fixturePath('fsprobe'));
  });
  afterAll(() => Promise.all([agent.close(), other.close()]));

  it('calls an allowed tool on the host and returns its JSON', async () => {
    const out = (await agent.run('tools\ntool search {"q":"todo"}')).output.split('\n');
    expect(out[0]).toBe('ok broken search');
    expect(out[1]).toBe('ok {"results":["found todo"]}');
    expect(calls).toEqual([{ q: 'todo' }]);
  });

  it('denies a tool the policy does not grant, reports not-found, invalid input and failures', async () => {
    const out = (await agent.run('tool delete_all {}\ntool missing {}\ntool search not-json\ntool broken {}')).output.split('\n');
    expect(out[0]).toMatch(/^err denied .*toolAccess/);
    expect(out[1]).toMatch(/^err not-found/);
    expect(out[2]).toMatch(/^err invalid-input/);
    expect(out[3]).toMatch(/^err failed .*tool exploded/);
  });

  it('an agent without toolAccess gets nothing', async () => {
    expect((await other.run('tools\ntool search {"q":"x"}')).output.split('\n')).toEqual(['ok', expect.stringMatching(/^err denied/)]);
  });
});
