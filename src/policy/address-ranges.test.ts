import { describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import { addressInRanges, canonicalAddressRange } from './address-ranges.js';
import { parsePolicyObject } from './loader.js';

describe('canonicalAddressRange', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['192.168.1.5', '192.168.1.5/32'],
    [' 127.0.0.0/8 ', '127.0.0.0/8'],
    ['FD00::/8', 'fd00::/8'],
    ['::1', '::1/128'],
    ['fe80:0:0:0::/10', 'fe80::/10'],
    ['169.254.0.0/16', '169.254.0.0/16'],
  ])('%s → %s', (entry, canonical) => {
    expect(canonicalAddressRange(entry)).toBe(canonical);
  });

  it.each([
    ['', /must be an IP address or CIDR range/],
    ['example.com', /not an IP address or CIDR range/],
    ['10.0.0.0/33', /prefix length that is not 0–32/],
    ['fd00::/129', /prefix length that is not 0–128/],
    ['10.0.0.1/8', /bits set after the \/8 prefix/],
    ['8.8.8.0/24', /a public range/],
    ['2001:4860::/32', /a public range/],
    ['fe80::1%eth0', /not an IP address/],
    ['10.0.0.0/x', /prefix length/],
  ])('refuses %j', (entry, message) => {
    expect(() => canonicalAddressRange(entry)).toThrow(PolicyError);
    expect(() => canonicalAddressRange(entry)).toThrow(message);
  });
});

describe('addressInRanges', () => {
  const ranges = ['10.1.0.0/16', '127.0.0.1/32', 'fd00::/8'];
  it('finds the range that holds an address, IPv4-mapped IPv6 included', () => {
    expect(addressInRanges('10.1.200.3', ranges)).toBe('10.1.0.0/16');
    expect(addressInRanges('::ffff:10.1.2.3', ranges)).toBe('10.1.0.0/16');
    expect(addressInRanges('127.0.0.1', ranges)).toBe('127.0.0.1/32');
    expect(addressInRanges('fd12:3456::1', ranges)).toBe('fd00::/8');
  });

  it('holds nothing else', () => {
    expect(addressInRanges('10.2.0.1', ranges)).toBeUndefined();
    expect(addressInRanges('127.0.0.2', ranges)).toBeUndefined();
    expect(addressInRanges('fe80::1', ranges)).toBeUndefined();
    expect(addressInRanges('not-an-ip', ranges)).toBeUndefined();
    expect(addressInRanges('10.1.0.1', [])).toBeUndefined();
    expect(addressInRanges('10.1.0.1', undefined)).toBeUndefined();
  });
});

describe('networkRules.privateRanges in a policy', () => {
  it('comes out canonical and deduplicated, absent by default', () => {
    const p = parsePolicyObject({ version: 1, networkRules: { allowedHosts: ['svc.internal'], privateRanges: ['10.1.0.0/16', '10.1.0.0/16', 'FD00::/8'] } }).policy;
    expect(p.networkRules.privateRanges).toEqual(['10.1.0.0/16', 'fd00::/8']);
    expect(parsePolicyObject({ version: 1 }).policy.networkRules.privateRanges).toBeUndefined();
  });

  it('a bad entry is a PolicyError at its path', () => {
    expect(() => parsePolicyObject({ version: 1, networkRules: { privateRanges: ['8.8.8.8'] } })).toThrow(/networkRules\.privateRanges/);
  });
});
