/**
 * Host-level checks of capabilities that no fixture guest can reach directly: raw sockets,
 * the random-bytes cap, and wasi:http requests whose authority a guest sets by hand.
 */
import { describe, expect, it } from 'vitest';
import { Gate } from '../gate/gate.js';
import type { AuditEvent } from '../gate/types.js';
import { DEFAULT_CAPS, LimitTrap, type HostContext } from './context.js';
import { httpImports } from './http/index.js';
import { Fields, OutgoingRequest } from './http/types.js';
import { randomImports } from './random.js';
import { socketImports } from './sockets.js';

function context(policy: Partial<ConstructorParameters<typeof Gate>[0]> = {}) {
  const audit: AuditEvent[] = [];
  const started: { method: string; payload: any }[] = [];
  const gate = new Gate({ capabilities: { allowed: [], forbidden: [] }, mounts: [], ...policy }, 'agent-1', (e) => audit.push(e));
  const ctx: HostContext = {
    agentId: 'agent-1',
    gate,
    caps: DEFAULT_CAPS,
    env: [],
    rpc: {
      start: (method: string, payload: unknown) => {
        started.push({ method, payload });
        return started.length;
      },
      poll: () => undefined,
    } as never,
    emit: () => {},
    flush: () => {},
    count: () => {},
  };
  return { ctx, audit, started };
}

describe('sockets and DNS', () => {
  it('are refused with access-denied and audited', () => {
    const { ctx, audit } = context({ capabilities: { allowed: ['network_access'], forbidden: [] } });
    const s = socketImports(ctx);
    expect((s['wasi:sockets/tcp-create-socket']!['createTcpSocket'] as (f: string) => unknown)('ipv4')).toEqual({ tag: 'err', val: 'access-denied' });
    expect((s['wasi:sockets/udp-create-socket']!['createUdpSocket'] as (f: string) => unknown)('ipv6')).toEqual({ tag: 'err', val: 'access-denied' });
    const net = (s['wasi:sockets/instance-network']!['instanceNetwork'] as () => unknown)();
    expect((s['wasi:sockets/ip-name-lookup']!['resolveAddresses'] as (n: unknown, h: string) => unknown)(net, 'example.com')).toEqual({ tag: 'err', val: 'access-denied' });
    expect(audit.map((e) => [e.outcome, e.resource, e.target])).toEqual([
      ['denied', 'socket', 'tcp:ipv4'],
      ['denied', 'socket', 'udp:ipv6'],
      ['denied', 'socket', 'dns:example.com'],
    ]);
  });
});

describe('random', () => {
  it('caps one request and traps with QUOTA_EXCEEDED beyond it', () => {
    const { ctx } = context();
    const r = randomImports(ctx)['wasi:random/random']!;
    expect((r['getRandomBytes'] as (n: bigint) => Uint8Array)(32n)).toHaveLength(32);
    expect(() => (r['getRandomBytes'] as (n: bigint) => Uint8Array)(2n ** 40n)).toThrow(LimitTrap);
  });
});

describe('wasi:http with a hand-set authority', () => {
  const policy = {
    capabilities: { allowed: ['network_access'], forbidden: [] },
    networkRules: { allowedHosts: ['127.0.0.1', 'allowed.example.com'], allowedPorts: [8080], protocols: ['http'] },
  };
  const send = (authority: string, scheme: { tag: 'HTTP' } | { tag: 'HTTPS' } = { tag: 'HTTP' }) => {
    const { ctx, audit, started } = context(policy);
    const http = httpImports(ctx);
    const req = new OutgoingRequest(new Fields());
    req.setScheme(scheme);
    req.setAuthority(authority);
    req.setPathWithQuery('/p?q=1');
    const r = (http['wasi:http/outgoing-handler']!['handle'] as (r: OutgoingRequest, o: undefined) => any)(req, undefined);
    if (r.tag === 'ok') r.val.subscribe().waitable.ready();
    return { r, audit, started };
  };

  it.each(['2130706433:8080', '0x7f000001:8080', '127.1:8080', '0177.0.0.1:8080', '[::ffff:127.0.0.1]:8080', '127.0.0.1.:8080'])(
    '%s is decided and sent as 127.0.0.1',
    (authority) => {
      const { r, started, audit } = send(authority);
      expect(r.tag).toBe('ok');
      expect(started).toHaveLength(1);
      expect(started[0]!.payload).toMatchObject({ host: '127.0.0.1', port: 8080, pathWithQuery: '/p?q=1' });
      expect(audit[0]).toMatchObject({ outcome: 'allowed', target: 'http://127.0.0.1:8080' });
    },
  );

  it.each(['allowed.example.com@evil.test:8080', 'allowed.example.com.evil.test:8080', 'evil.test:8080', '127.0.0.1:9090', 'localhost:8080', '127.0.0.2:8080'])(
    '%s is denied and never sent',
    (authority) => {
      const { r, started, audit } = send(authority);
      expect(r.tag).toBe('err');
      expect(['HTTP-request-denied', 'HTTP-request-URI-invalid']).toContain(r.val.tag);
      expect(started).toHaveLength(0);
      expect(audit[0]?.outcome).toBe('denied');
    },
  );

  it('denies a scheme the policy does not list', () => {
    const { r, started } = send('127.0.0.1:8080', { tag: 'HTTPS' });
    expect(r).toMatchObject({ tag: 'err', val: { tag: 'HTTP-request-denied' } });
    expect(started).toHaveLength(0);
  });
});
