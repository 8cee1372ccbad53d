/**
 * The native agents' egress proxy with the sandbox's own DNS servers (`createSandbox({ dns:
 * { servers } })`), end to end: a real Python agent under bubblewrap, a DNS stub on loopback
 * and an HTTP server on 127.0.0.1. Names resolve through the stub only; a name that resolves
 * to a loopback address is refused unless `networkRules.privateRanges` holds it; a rebinding
 * name (public first, loopback next) is resolved once and never reaches the loopback server.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NativeAgent } from '../../dist/index.js';
import { startDnsStub, type DnsStub } from '../helpers/dns-stub.js';
import { needs } from '../helpers/requirements.js';
import { recordingSandbox, settle } from '../helpers/sandbox.js';
import { describeNeeds, skipUnless, skipWhen } from '../helpers/skip.js';

describeNeeds(needs.bwrap(), 'egress proxy with dns.servers (bwrap)', () => {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.end(`host says ${req.url}`);
  });
  let port = 0;
  let dns: DnsStub;
  let env: ReturnType<typeof recordingSandbox>;
  const opened: NativeAgent[] = [];

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    dns = await startDnsStub((name, nth) => {
      if (name === 'rebind.test') return nth === 1 ? ['93.184.215.14'] : ['127.0.0.1'];
      if (name === 'private.test' || name === 'ranged.test') return ['127.0.0.1'];
      return [];
    });
    env = recordingSandbox({ dns: { servers: [dns.server] } });
  });
  afterAll(async () => {
    await Promise.all(opened.map((a) => a.close()));
    await env?.sandbox.close();
    await dns?.stop();
    await new Promise((r) => server.close(r));
  });

  /** A Python agent that fetches each URL through the proxy and prints the body or the error. */
  const fetcher = async (urls: string[], privateRanges?: string[]) => {
    const probe = [
      'import urllib.request as u',
      `for url in ${JSON.stringify(urls)}:`,
      '    try:',
      '        print(u.urlopen(url, timeout=4).read().decode())',
      '    except Exception as e:',
      '        print("ERR", getattr(e, "code", type(e).__name__))',
    ].join('\n');
    const agent = await env.sandbox.loadNative({
      command: ['python3', '-I', '-c', probe],
      container: { runtime: 'bwrap' },
      policy: {
        version: 1,
        capabilities: { allowed: ['network_access'] },
        networkRules: { allowedHosts: ['rebind.test', 'private.test', 'ranged.test', 'unknown.test'], allowedPorts: [port], protocols: ['http'], ...(privateRanges ? { privateRanges } : {}) },
        resourceLimits: { maxExecutionTime: '30s' },
      },
    });
    opened.push(agent);
    return { id: agent.id, lines: (await agent.run('')).output.trim().split('\n') };
  };

  it('resolves through the given servers only, refuses a loopback answer, and resolves a rebinding name once', async (ctx) => {
    skipUnless(ctx, needs.wasmtimeAddon());
    skipWhen(ctx, process.getuid?.() !== 0, 'needs root: the proxy listens inside the sandbox network namespace — run the tests as root, as .ci/run does');
    const { lines } = await fetcher([`http://private.test:${port}/private`, `http://unknown.test:${port}/unknown`, `http://rebind.test:${port}/rebound`]);
    expect(lines[0]).toBe('ERR 403');
    // The stub knows no such name, and the system resolver is never asked: a lookup failure.
    expect(lines[1]).toMatch(/^ERR (502|504)$/);
    // Public at the check: the proxy connects there (nothing answers), never to the second answer.
    expect(lines[2]).toMatch(/^ERR /);
    expect(dns.asked.get('rebind.test')).toBe(1);
    expect(dns.asked.get('unknown.test')).toBeGreaterThanOrEqual(1);
    expect(hits).toEqual([]);
    await settle();
    const denied = env.audit.find((e) => e.resource === 'network' && e.target === `http://private.test:${port}` && e.outcome === 'denied');
    expect(denied?.reason).toContain('resolves to 127.0.0.1, a loopback address');
  }, 60_000);

  it('reaches a loopback address a name resolves to when privateRanges holds it', async (ctx) => {
    skipUnless(ctx, needs.wasmtimeAddon());
    skipWhen(ctx, process.getuid?.() !== 0, 'needs root: the proxy listens inside the sandbox network namespace — run the tests as root, as .ci/run does');
    const { id, lines } = await fetcher([`http://ranged.test:${port}/ranged`, `http://private.test:${port}/also`], ['127.0.0.0/8']);
    expect(lines).toEqual(['host says /ranged', 'host says /also']);
    expect(hits).toEqual(['/ranged', '/also']);
    await settle();
    const net = env.audit.filter((e) => e.agentId === id && e.resource === 'network');
    expect(net.filter((e) => e.outcome !== 'allowed')).toEqual([]);
    expect(net.map((e) => e.target)).toEqual([`http://ranged.test:${port}`, `http://private.test:${port}`]);
  }, 60_000);
});
