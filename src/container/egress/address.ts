/**
 * Which resolved addresses the egress proxy refuses to connect to: everything that is not a
 * globally reachable unicast address — loopback, private (RFC 1918, IPv6 unique-local),
 * link-local, CGNAT shared space, unspecified, multicast, reserved — and, by name, the cloud
 * metadata addresses. The policy decides *names*; this check decides what a name turned out to
 * be, so an allowed `api.example.com` that resolves to `127.0.0.1` (DNS rebinding, a hostile
 * resolver, `/etc/hosts`) cannot reach the host's own services.
 *
 * IPv6 forms that carry an IPv4 address (`::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
 * `2002::/16`) are judged by the IPv4 address they carry, because that is where the packets go.
 *
 * @example
 * ```ts
 * classifyAddress('10.1.2.3');        // { range: '10.0.0.0/8', label: 'private', metadata: false }
 * classifyAddress('::ffff:127.0.0.1'); // { range: '127.0.0.0/8', label: 'loopback', metadata: false }
 * classifyAddress('93.184.215.14');   // undefined (public)
 * ```
 */

/** Why an address is refused. */
export interface AddressClass {
  /** The range it fell in, in CIDR notation (`169.254.0.0/16`). */
  readonly range: string;
  /** What that range is (`loopback`, `private`, `link-local`, `cloud metadata`, …). */
  readonly label: string;
  /** A cloud metadata address: refused even when the policy names it. */
  readonly metadata: boolean;
}

interface Range4 {
  readonly base: number;
  readonly bits: number;
  readonly label: string;
  readonly metadata?: boolean;
}

interface Range6 {
  /** The range as written in messages. */
  readonly cidr: string;
  readonly base: bigint;
  readonly bits: number;
  readonly label: string;
  readonly metadata?: boolean;
  /** Where the carried IPv4 address sits (bit offset from the top), when the range carries one. */
  readonly v4At?: number;
}

/** Most specific first: the first match names the range. */
const V4: readonly Range4[] = [
  { base: ip4('169.254.169.254'), bits: 32, label: 'cloud metadata', metadata: true },
  { base: ip4('0.0.0.0'), bits: 8, label: 'unspecified ("this network")' },
  { base: ip4('10.0.0.0'), bits: 8, label: 'private' },
  { base: ip4('100.64.0.0'), bits: 10, label: 'CGNAT shared address space' },
  { base: ip4('127.0.0.0'), bits: 8, label: 'loopback' },
  { base: ip4('169.254.0.0'), bits: 16, label: 'link-local' },
  { base: ip4('172.16.0.0'), bits: 12, label: 'private' },
  { base: ip4('192.0.0.0'), bits: 24, label: 'reserved (IETF protocol assignments)' },
  { base: ip4('192.168.0.0'), bits: 16, label: 'private' },
  { base: ip4('198.18.0.0'), bits: 15, label: 'reserved (benchmarking)' },
  { base: ip4('224.0.0.0'), bits: 4, label: 'multicast' },
  { base: ip4('240.0.0.0'), bits: 4, label: 'reserved (includes broadcast)' },
];

const V6: readonly Range6[] = [
  { cidr: 'fd00:ec2::254/128', base: ip6('fd00:ec2::254'), bits: 128, label: 'cloud metadata', metadata: true },
  { cidr: '::/128', base: 0n, bits: 128, label: 'unspecified' },
  { cidr: '::1/128', base: 1n, bits: 128, label: 'loopback' },
  { cidr: '::ffff:0:0/96', base: ip6('::ffff:0:0'), bits: 96, label: 'IPv4-mapped', v4At: 96 },
  { cidr: '64:ff9b::/96', base: ip6('64:ff9b::'), bits: 96, label: 'NAT64', v4At: 96 },
  { cidr: '64:ff9b:1::/48', base: ip6('64:ff9b:1::'), bits: 48, label: 'reserved (local NAT64)' },
  { cidr: '2002::/16', base: ip6('2002::'), bits: 16, label: '6to4', v4At: 16 },
  // ::a.b.c.d (deprecated IPv4-compatible): nothing legitimate uses it any more.
  { cidr: '::/96', base: 0n, bits: 96, label: 'reserved (IPv4-compatible)' },
  { cidr: '100::/64', base: ip6('100::'), bits: 64, label: 'reserved (discard-only)' },
  { cidr: 'fc00::/7', base: ip6('fc00::'), bits: 7, label: 'private (unique local)' },
  { cidr: 'fe80::/10', base: ip6('fe80::'), bits: 10, label: 'link-local' },
  { cidr: 'fec0::/10', base: ip6('fec0::'), bits: 10, label: 'reserved (site-local)' },
  { cidr: 'ff00::/8', base: ip6('ff00::'), bits: 8, label: 'multicast' },
];

/** Dotted-quad IPv4 → unsigned 32-bit number; `undefined` if it is not exactly one. */
export function parseIPv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

/**
 * IPv6 text (compressed or not, an optional trailing dotted quad, an optional `%zone`, with or
 * without brackets) → 128-bit number; `undefined` if it is not one.
 */
export function parseIPv6(text: string): bigint | undefined {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const groups: number[] = [];
  const tailV4 = /(?:^|:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (tailV4) {
    const v4 = parseIPv4(tailV4[1]!);
    if (v4 === undefined) return undefined;
    s = `${s.slice(0, s.length - tailV4[1]!.length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const hex = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const h of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(h)) return undefined;
      out.push(parseInt(h, 16));
    }
    return out;
  };
  const head = hex(halves[0]!);
  const tail = halves.length === 2 ? hex(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0) || (halves.length === 2 && fill < 1)) return undefined;
  groups.push(...head, ...new Array<number>(fill).fill(0), ...tail);
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function ip4(s: string): number {
  const n = parseIPv4(s);
  if (n === undefined) throw new Error(`bad IPv4 constant ${s}`);
  return n;
}

function ip6(s: string): bigint {
  const n = parseIPv6(s);
  if (n === undefined) throw new Error(`bad IPv6 constant ${s}`);
  return n;
}

const fmt4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

function classify4(n: number): AddressClass | undefined {
  for (const r of V4) {
    // Compare the top `bits` bits; division keeps it in unsigned arithmetic.
    const size = 2 ** (32 - r.bits);
    if (Math.floor(n / size) === Math.floor(r.base / size)) {
      return { range: `${fmt4(r.base)}/${r.bits}`, label: r.label, metadata: r.metadata ?? false };
    }
  }
  return undefined;
}

function classify6(n: bigint): AddressClass | undefined {
  for (const r of V6) {
    const shift = BigInt(128 - r.bits);
    if (n >> shift !== r.base >> shift) continue;
    if (r.v4At !== undefined) {
      const v4 = Number((n >> BigInt(128 - r.v4At - 32)) & 0xffffffffn);
      return classify4(v4);
    }
    return { range: r.cidr, label: r.label, metadata: r.metadata ?? false };
  }
  return undefined;
}

/**
 * Classify an address as the resolver or the canonical host gave it. Returns `undefined` for a
 * globally reachable unicast address (the proxy may connect), otherwise the range that makes it
 * refused. Text that is not an IP address is refused too (fail closed).
 *
 * @example
 * ```ts
 * classifyAddress('169.254.169.254')?.metadata; // true
 * classifyAddress('[fe80::1]')?.label;          // 'link-local'
 * ```
 */
export function classifyAddress(address: string): AddressClass | undefined {
  const v4 = parseIPv4(address);
  if (v4 !== undefined) return classify4(v4);
  const v6 = parseIPv6(address);
  if (v6 !== undefined) return classify6(v6);
  return { range: address.slice(0, 64), label: 'not an IP address', metadata: false };
}
