import { describe, expect, it } from 'vitest';
import { classifyAddress, parseIPv4, parseIPv6 } from './address.js';
import { forwardableHeaders, splitAbsoluteTarget, splitConnectTarget } from './target.js';

describe('classifyAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['100.64.0.1', 'CGNAT shared address space'],
    ['100.127.255.255', 'CGNAT shared address space'],
    ['0.0.0.0', 'unspecified ("this network")'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved (includes broadcast)'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fc00::1', 'private (unique local)'],
    ['fd12:3456::1', 'private (unique local)'],
    ['fe80::1%eth0', 'link-local'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::a00:1', 'private'],
    ['2002:7f00:1::', 'loopback'],
  ])('%s is %s', (addr, label) => {
    expect(classifyAddress(addr)?.label).toBe(label);
  });

  it('names the metadata addresses, which no policy can allow', () => {
    expect(classifyAddress('169.254.169.254')).toEqual({ range: '169.254.169.254/32', label: 'cloud metadata', metadata: true });
    expect(classifyAddress('fd00:ec2::254')?.metadata).toBe(true);
    expect(classifyAddress('::ffff:169.254.169.254')?.metadata).toBe(true);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '::ffff:8.8.8.8'])('%s is public', (addr) => {
    expect(classifyAddress(addr)).toBeUndefined();
  });

  it('refuses what is not an address (fail closed)', () => {
    expect(classifyAddress('localhost')?.label).toBe('not an IP address');
    expect(classifyAddress('1.2.3')?.label).toBe('not an IP address');
    expect(classifyAddress('1::2::3')?.label).toBe('not an IP address');
  });

  it('parses the text forms resolvers return', () => {
    expect(parseIPv4('192.168.0.1')).toBe(0xc0a80001);
    expect(parseIPv4('256.0.0.1')).toBeUndefined();
    expect(parseIPv6('::ffff:1.2.3.4')).toBe(0xffff01020304n);
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toBe(0x00010002000300040005000600070008n);
    expect(parseIPv6('1:2:3:4:5:6:7:8:9')).toBeUndefined();
    expect(parseIPv6('1:2:3:4:5:6:7::8')).toBeUndefined();
  });
});

describe('request targets', () => {
  it('CONNECT needs host:port', () => {
    expect(splitConnectTarget('a.example:443')).toEqual({ scheme: 'https', authority: 'a.example:443', pathWithQuery: '/' });
    expect(splitConnectTarget('[::1]:8443')).toMatchObject({ authority: '[::1]:8443' });
    expect(splitConnectTarget('a.example')).toHaveProperty('error');
    expect(splitConnectTarget('::1:443')).toHaveProperty('error');
  });

  it('absolute-form is split for parseHttpTarget', () => {
    expect(splitAbsoluteTarget('http://h:1/p?q')).toEqual({ scheme: 'http', authority: 'h:1', pathWithQuery: '/p?q' });
    expect(splitAbsoluteTarget('http://h?q')).toMatchObject({ pathWithQuery: '/?q' });
    expect(splitAbsoluteTarget('http://h')).toMatchObject({ pathWithQuery: '/' });
    expect(splitAbsoluteTarget('/p')).toHaveProperty('error');
  });

  it('drops hop-by-hop, Proxy-* and Connection-listed headers', () => {
    const raw = ['Host', 'h', 'Connection', 'keep-alive, X-Secret', 'X-Secret', '1', 'Proxy-Authorization', 'x', 'TE', 'trailers', 'Accept', '*/*', 'Accept', 'a'];
    expect(forwardableHeaders(raw, ['host'])).toEqual(['Accept', '*/*', 'Accept', 'a']);
  });
});
