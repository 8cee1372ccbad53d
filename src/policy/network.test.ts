import { describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import {
  canonicalizePolicyHost,
  compileNetworkRules,
  normalizeProtocol,
  parseHttpTarget,
  validatePort,
  type HttpTarget,
} from './network.js';

function target(scheme: string, authority: string, path = '/'): HttpTarget {
  const t = parseHttpTarget(scheme, authority, path);
  if ('error' in t) throw new Error(`unexpected parse error: ${t.error}`);
  return t;
}

describe('parseHttpTarget canonicalizes once', () => {
  it.each([
    // [scheme, authority, host, port, authority out, isIp]
    ['https', 'api.github.com', 'api.github.com', 443, 'api.github.com', false],
    ['HTTPS', 'API.GitHub.COM', 'api.github.com', 443, 'api.github.com', false],
    ['https:', 'ALLOWED.example.com.', 'allowed.example.com', 443, 'allowed.example.com', false],
    ['http', 'a.com:443', 'a.com', 443, 'a.com:443', false],
    ['https', 'a.com:443', 'a.com', 443, 'a.com', false],
    ['http', 'a.com:0080', 'a.com', 80, 'a.com', false],
    ['http', 'a.com:', 'a.com', 80, 'a.com', false],
    ['http', 'a.com.:8080', 'a.com', 8080, 'a.com:8080', false],
    ['http', '127.0.0.1', '127.0.0.1', 80, '127.0.0.1', true],
    ['http', '127.1', '127.0.0.1', 80, '127.0.0.1', true],
    ['http', '2130706433', '127.0.0.1', 80, '127.0.0.1', true],
    ['http', '0x7f000001', '127.0.0.1', 80, '127.0.0.1', true],
    ['http', '0177.0.0.1', '127.0.0.1', 80, '127.0.0.1', true],
    ['http', '127.0.0.1.', '127.0.0.1', 80, '127.0.0.1', true],
    ['http', '[::ffff:127.0.0.1]', '127.0.0.1', 80, '127.0.0.1', true],
    ['http', '[::ffff:7f00:1]:8080', '127.0.0.1', 8080, '127.0.0.1:8080', true],
    ['http', '[0:0:0:0:0:FFFF:7F00:1]', '127.0.0.1', 80, '127.0.0.1', true],
    ['http', '[::1]', '[::1]', 80, '[::1]', true],
    ['https', '[2001:DB8:0:0::1]:8443', '[2001:db8::1]', 8443, '[2001:db8::1]:8443', true],
    ['http', '[::7f00:1]', '[::7f00:1]', 80, '[::7f00:1]', true],
    ['https', 'bücher.example', 'xn--bcher-kva.example', 443, 'xn--bcher-kva.example', false],
  ] as const)('%s://%s → %s port %d', (scheme, authority, host, port, authorityOut, isIp) => {
    const t = target(scheme, authority);
    expect(t.host).toBe(host);
    expect(t.port).toBe(port);
    expect(t.authority).toBe(authorityOut);
    expect(t.hostIsIp).toBe(isIp);
    expect(t.url.hostname).toBe(host);
    expect(t.scheme).toBe(scheme.toLowerCase().replace(':', ''));
  });

  it('keeps path and query, drops nothing silently', () => {
    const t = target('https', 'a.com', '/x/y?q=1&r=%20');
    expect(t.pathWithQuery).toBe('/x/y?q=1&r=%20');
    expect(t.url.href).toBe('https://a.com/x/y?q=1&r=%20');
    expect(target('https', 'a.com', '').pathWithQuery).toBe('/');
    expect(target('https', 'a.com', '/a/../b').pathWithQuery).toBe('/b');
  });

  it('rewrites the URL to the canonical host', () => {
    expect(target('http', '[::ffff:127.0.0.1]:81', '/p').url.href).toBe('http://127.0.0.1:81/p');
    expect(target('http', 'A.com.', '/p').url.href).toBe('http://a.com/p');
  });

  it.each([
    ['ftp', 'a.com', '/'],
    ['file', 'a.com', '/'],
    ['ws', 'a.com', '/'],
    ['', 'a.com', '/'],
    ['http', 'allowed@evil', '/'],
    ['http', '@evil', '/'],
    ['http', 'user:pass@evil', '/'],
    ['http', 'allowed.com\\@evil', '/'],
    ['http', 'a.com\\b', '/'],
    ['http', '', '/'],
    ['http', 'a%2ecom', '/'],
    ['http', 'a.com ', '/'],
    ['http', ' a.com', '/'],
    ['http', 'a\tb.com', '/'],
    ['http', 'a.com\n', '/'],
    ['http', 'a.com\u0000', '/'],
    ['http', 'a.com/evil', '/'],
    ['http', 'a.com?x', '/'],
    ['http', 'a.com#x', '/'],
    ['http', 'a.com:0', '/'],
    ['http', 'a.com:65536', '/'],
    ['http', 'a.com:x', '/'],
    ['http', '1.2.3.256', '/'],
    ['http', '1.2.3.4.5', '/'],
    ['http', '.', '/'],
    ['http', '..', '/'],
    ['http', 'a..b', '/'],
    ['http', 'a.com..', '/'],
    ['http', '*.a.com', '/'],
    ['http', '[::1', '/'],
    ['http', 'a.com', 'x'],
    ['http', 'a.com', '/a\\b'],
    ['http', 'a.com', '/a\tb'],
    ['http', 'a.com', '/a b'],
    ['http', 'a.com', '/a#frag'],
  ])('rejects %j %j %j', (scheme, authority, path) => {
    const t = parseHttpTarget(scheme, authority, path);
    expect('error' in t).toBe(true);
    if ('error' in t) expect(t.error.length).toBeGreaterThan(0);
  });

  it('never throws on hostile input', () => {
    const inputs: unknown[] = [undefined, null, 42, {}, 'x'.repeat(100_000), '\uD800', '[', ']', ':', '[]'];
    for (const a of inputs) {
      for (const b of inputs) {
        expect(() => parseHttpTarget(a as string, b as string, a as string)).not.toThrow();
      }
    }
  });
});

describe('compileNetworkRules', () => {
  const rules = compileNetworkRules({
    allowedHosts: ['api.github.com', '*.example.com', '127.0.0.1', '::1'],
    allowedPorts: [443, 80],
    protocols: ['https', 'http:'],
  });

  it.each([
    ['https', 'api.github.com', true, 'api.github.com'],
    ['https', 'API.GITHUB.COM.', true, 'api.github.com'],
    ['https', 'a.example.com', true, '*.example.com'],
    ['https', 'a.b.example.com', true, '*.example.com'],
    ['https', 'ALLOWED.example.com.', true, '*.example.com'],
    ['https', 'example.com', false, undefined],
    ['https', 'evilexample.com', false, undefined],
    ['https', 'example.com.evil.test', false, undefined],
    ['https', 'allowed.example.com.evil.test', false, undefined],
    ['https', 'api.github.com.evil.test', false, undefined],
    ['https', 'github.com', false, undefined],
    ['http', '127.0.0.1', true, '127.0.0.1'],
    ['http', '127.1', true, '127.0.0.1'],
    ['http', '2130706433', true, '127.0.0.1'],
    ['http', '0x7f000001', true, '127.0.0.1'],
    ['http', '0177.0.0.1', true, '127.0.0.1'],
    ['http', '[::ffff:127.0.0.1]', true, '127.0.0.1'],
    ['http', '127.0.0.2', false, undefined],
    ['http', '[::1]', true, '[::1]'],
    ['http', '[::2]', false, undefined],
    ['https', 'api.github.com:8080', false, undefined],
    ['http', 'api.github.com:443', true, 'api.github.com'],
  ] as const)('%s://%s → %s', (scheme, authority, allowed, rule) => {
    const r = rules.check(target(scheme, authority));
    expect(r.allowed).toBe(allowed);
    expect(r.rule).toBe(rule);
    expect(r.reason.length).toBeGreaterThan(0);
  });

  it('a policy host is canonicalized like a request host', () => {
    const m = compileNetworkRules({ allowedHosts: ['2130706433', 'API.Example.COM.'], protocols: ['http'] });
    expect(m.allowedHosts).toEqual(['127.0.0.1', 'api.example.com']);
    expect(m.check(target('http', '127.0.0.1')).allowed).toBe(true);
    expect(m.check(target('http', 'api.example.com')).allowed).toBe(true);
  });

  it('the userinfo trick never reaches the matcher', () => {
    expect('error' in parseHttpTarget('http', 'api.github.com@evil.test', '/')).toBe(true);
  });

  it('defaults: https only, default port only', () => {
    const m = compileNetworkRules({ allowedHosts: ['a.com'] });
    expect(m.protocols).toEqual(['https']);
    expect(m.allowedPorts).toBeUndefined();
    expect(m.check(target('https', 'a.com')).allowed).toBe(true);
    const http = m.check(target('http', 'a.com'));
    expect(http.allowed).toBe(false);
    expect(http.reason).toBe('scheme http is not in networkRules.protocols [https] (add "http" to allow this request)');
    const port = m.check(target('https', 'a.com:8443'));
    expect(port.allowed).toBe(false);
    expect(port.reason).toContain('port 8443 is not in networkRules.allowedPorts [443]');
  });

  it('without allowedPorts each scheme gets only its own default port', () => {
    const m = compileNetworkRules({ allowedHosts: ['a.com'], protocols: ['http', 'https'] });
    expect(m.check(target('http', 'a.com')).allowed).toBe(true);
    expect(m.check(target('https', 'a.com')).allowed).toBe(true);
    expect(m.check(target('https', 'a.com:80')).allowed).toBe(false);
    expect(m.check(target('http', 'a.com:443')).allowed).toBe(false);
  });

  it('denial reasons say what to change', () => {
    const m = compileNetworkRules({ allowedHosts: ['a.com'], allowedPorts: [443] });
    expect(m.check(target('https', 'evil.test')).reason).toBe(
      'host "evil.test" is not in networkRules.allowedHosts (add it to allow this request)',
    );
    expect(m.check(target('https', 'a.com:8080')).reason).toBe(
      'port 8080 is not in networkRules.allowedPorts [443]; add 8080 to allow this request',
    );
    const ok = m.check(target('https', 'a.com'));
    expect(ok).toEqual({ allowed: true, reason: 'https://a.com is allowed by networkRules.allowedHosts entry "a.com"', rule: 'a.com' });
  });

  it('an empty host list denies everything', () => {
    const m = compileNetworkRules({ allowedHosts: [] });
    expect(m.check(target('https', 'a.com')).allowed).toBe(false);
  });

  it.each([
    [{ allowedHosts: ['*'] }, /"\*" \(every host\) is not accepted; list the hosts/],
    [{ allowedHosts: ['a.com', '*.*.com'] }, /allowedHosts\[1\]/],
    [{ allowedHosts: ['a*.com'] }, /leading "\*\."/],
    [{ allowedHosts: ['*.127.0.0.1'] }, /wildcard needs a domain name/],
    [{ allowedHosts: ['*.0.1'] }, /wildcard needs a domain name/],
    [{ allowedHosts: ['*.[::1]'] }, /wildcard needs a domain name/],
    [{ allowedHosts: ['a.com:443'] }, /port.*allowedPorts/],
    [{ allowedHosts: ['[::1]:443'] }, /port/],
    [{ allowedHosts: ['https://a.com'] }, /URL/],
    [{ allowedHosts: ['user@a.com'] }, /characters/],
    [{ allowedHosts: ['a.com/x'] }, /characters/],
    [{ allowedHosts: [''] }, /non-empty/],
    [{ allowedHosts: ['a..com'] }, /not a valid host/],
    [{ allowedHosts: ['1.2.3.999'] }, /not a valid host/],
    [{ allowedHosts: ['a.com'], allowedPorts: [0] }, /allowedPorts\[0\]/],
    [{ allowedHosts: ['a.com'], allowedPorts: [443, 65536] }, /allowedPorts\[1\]/],
    [{ allowedHosts: ['a.com'], allowedPorts: [44.3] }, /whole number/],
    [{ allowedHosts: ['a.com'], protocols: ['ftp'] }, /protocols\[0\]: unknown protocol "ftp"/],
    [{ allowedHosts: ['a.com'], protocols: ['https', 'wss'] }, /protocols\[1\]/],
  ])('rejects %j', (input, message) => {
    expect(() => compileNetworkRules(input)).toThrow(PolicyError);
    expect(() => compileNetworkRules(input)).toThrow(message);
  });

  it('attaches the offending field path', () => {
    try {
      compileNetworkRules({ allowedHosts: ['ok.com', '*'] });
      expect.unreachable();
    } catch (e) {
      expect((e as PolicyError).code).toBe('POLICY_INVALID');
      expect((e as PolicyError).details).toMatchObject({ path: 'networkRules.allowedHosts[1]' });
    }
  });
});

describe('entry helpers', () => {
  it('canonicalizePolicyHost', () => {
    expect(canonicalizePolicyHost('*.Example.COM')).toBe('*.example.com');
    expect(canonicalizePolicyHost('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(canonicalizePolicyHost('[2001:db8::0:1]')).toBe('[2001:db8::1]');
    expect(canonicalizePolicyHost('0177.0.0.1')).toBe('127.0.0.1');
  });

  it('normalizeProtocol and validatePort', () => {
    expect(normalizeProtocol('HTTPS:')).toBe('https');
    expect(() => normalizeProtocol('gopher')).toThrow(PolicyError);
    expect(validatePort(8080)).toBe(8080);
    expect(() => validatePort(Number.NaN)).toThrow(PolicyError);
  });
});
