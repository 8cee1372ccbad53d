/**
 * `networkRules.privateRanges`: the non-public addresses a policy lets allowed host names lead
 * to. By default a name may only resolve to public addresses (catalogue NET-07: DNS rebinding,
 * `127.0.0.1.nip.io`-style names, a hostile resolver); an agent that must reach, say, an
 * internal service at `10.1.2.3` through `svc.internal` gets `privateRanges: [10.1.0.0/16]`.
 * Cloud metadata addresses stay refused whatever is listed.
 *
 * @example
 * ```ts
 * canonicalAddressRange('10.1.2.0/24');   // '10.1.2.0/24'
 * canonicalAddressRange('FD00::1');       // 'fd00::1/128'
 * addressInRanges('10.1.2.9', ['10.1.2.0/24']);          // '10.1.2.0/24'
 * addressInRanges('::ffff:10.1.2.9', ['10.1.2.0/24']);   // '10.1.2.0/24' (IPv4-mapped)
 * ```
 */
import { classifyAddress, parseIPv4, parseIPv6 } from '../container/egress/address.js';
import { PolicyError } from '../errors.js';

const PATH = 'networkRules.privateRanges';

const policyError = (message: string, value?: unknown): PolicyError => new PolicyError(`${PATH}: ${message}`, value === undefined ? { path: PATH } : { path: PATH, value });

interface Range {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly bits: number;
}

function parseRange(text: string): Range | string {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const v4 = parseIPv4(addr);
  const v6 = v4 === undefined && !addr.includes('%') ? parseIPv6(addr) : undefined;
  if (v4 === undefined && v6 === undefined) return 'is not an IP address or CIDR range; write e.g. "10.0.0.0/8" or "fd00::/8"';
  const family = v4 !== undefined ? 4 : 6;
  const width = family === 4 ? 32 : 128;
  let bits = width;
  if (slash >= 0) {
    const b = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(b) || Number(b) > width) return `has a prefix length that is not 0–${width}`;
    bits = Number(b);
  }
  const base = v4 !== undefined ? BigInt(v4) : v6!;
  const host = (1n << BigInt(width - bits)) - 1n;
  if ((base & host) !== 0n) return `has bits set after the /${bits} prefix; write the range's first address`;
  return { family, base, bits };
}

function formatRange(r: Range): string {
  if (r.family === 4) {
    const n = Number(r.base);
    return `${[n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')}/${r.bits}`;
  }
  const groups = Array.from({ length: 8 }, (_, i) => Number((r.base >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // The WHATWG serializer compresses the longest run of zero groups, as every tool prints it.
  const host = new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
  return `${host}/${r.bits}`;
}

/**
 * Validate one `privateRanges` entry and return it canonical (`a.b.c.d/n` or compressed
 * lower-case IPv6 `/n`; a bare address gets `/32` or `/128`).
 * @throws PolicyError naming the entry and what to write instead.
 */
export function canonicalAddressRange(entry: string): string {
  if (typeof entry !== 'string' || entry === '') throw policyError('an entry must be an IP address or CIDR range such as "10.0.0.0/8"');
  const r = parseRange(entry.trim());
  if (typeof r === 'string') throw policyError(`${JSON.stringify(entry)} ${r}`, entry);
  const text = formatRange(r);
  if (r.bits > 0 && classifyAddress(text.slice(0, text.indexOf('/'))) === undefined) {
    throw policyError(`${JSON.stringify(entry)} is a public range; public addresses need no entry here, list only loopback, private or link-local ranges`, entry);
  }
  return text;
}

/** The 128-bit value of an IPv4-mapped IPv6 address's IPv4 part, when it is one. */
function mappedV4(n: bigint): bigint | undefined {
  return n >> 32n === 0xffffn ? n & 0xffffffffn : undefined;
}

/**
 * The canonical entry of `ranges` that holds `address` (as the resolver gave it), or
 * undefined. An IPv4-mapped IPv6 address matches the IPv4 ranges, since that is where its
 * packets go.
 */
export function addressInRanges(address: string, ranges: readonly string[] | undefined): string | undefined {
  if (!ranges || ranges.length === 0) return undefined;
  const v4 = parseIPv4(address);
  const v6 = v4 === undefined ? parseIPv6(address) : undefined;
  if (v4 === undefined && v6 === undefined) return undefined;
  const as4 = v4 !== undefined ? BigInt(v4) : mappedV4(v6!);
  for (const text of ranges) {
    const r = parseRange(text);
    if (typeof r === 'string') continue;
    const value = r.family === 4 ? as4 : v6;
    if (value === undefined) continue;
    const shift = BigInt((r.family === 4 ? 32 : 128) - r.bits);
    if (value >> shift === r.base >> shift) return text;
  }
  return undefined;
}
