/**
 * The host target's spellings: the same host written the many ways a URL parser accepts (or
 * nearly accepts). Each base host knows what it denotes independently of any parser — an IPv4
 * number, a 128-bit IPv6 number, or a DNS name's ASCII form — so the target can check the
 * address a decision was made on against what the guest actually named.
 */

/** What a spelled host denotes. */
// { kind: 'v4', n } | { kind: 'v6', n: bigint } | { kind: 'name', ascii }

const v4 = (s) => s.split('.').reduce((a, p) => a * 256 + Number(p), 0);
/** 128-bit number of an IPv6 text written in full or with one "::" (test constants only). */
function v6(s) {
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Base hosts: names the policy allows, denies or does not know; addresses of every class. */
export const BASES = [
  { kind: 'name', text: 'api.example.com' },
  { kind: 'name', text: 'x.allowed.test' },
  { kind: 'name', text: 'a.b.allowed.test' },
  { kind: 'name', text: 'allowed.test' },
  { kind: 'name', text: 'deny.allowed.test' },
  { kind: 'name', text: 'evil.test' },
  { kind: 'name', text: 'api.example.com.evil.test' },
  { kind: 'name', text: 'bücher.example' },
  { kind: 'name', text: 'xn--bcher-kva.example' },
  { kind: 'name', text: 'localhost' },
  { kind: 'name', text: 'metadata.google.internal' },
  ...['127.0.0.1', '127.0.0.2', '10.1.2.3', '10.1.2.4', '169.254.169.254', '192.168.1.1', '8.8.8.8', '0.0.0.0', '255.255.255.255', '100.64.0.1'].map((t) => ({ kind: 'v4', text: t, n: v4(t) })),
  ...['::1', '2001:db8::1', 'fe80::1', 'fd00:ec2::254', '2606:4700::1111', '::', 'ff02::1', '2002:a9fe:a9fe::1'].map((t) => ({ kind: 'v6', text: t, n: v6(t) })),
];

/** Spelling styles, by base kind. */
export const STYLES = {
  v4: ['dotted', 'int-dec', 'int-hex', 'int-oct', 'parts', 'short2', 'short3', 'fullwidth', 'pct', 'mapped', 'mapped-hex', 'mapped-full', 'nat64', 'compat', 'overflow', 'leading-zero'],
  v6: ['compressed', 'full', 'upper', 'zeros', 'dotted-tail', 'zone', 'bare'],
  name: ['plain', 'upper', 'mixed', 'fullwidth-dot', 'soft-hyphen', 'pct', 'zwj', 'fullwidth-letters', 'unicode-dot'],
};

const bit = (seed, i) => Math.floor(seed / 2 ** i) % 2 === 1;
const FW_DIGITS = '０１２３４５６７８９';

/** One number in a radix the WHATWG IPv4 parser reads: decimal, 0x hex (any case), 0 octal. */
function radix(v, seed, i) {
  const r = (seed >> (2 * i)) & 3;
  if (r === 1) return `0${bit(seed, 8 + i) ? 'X' : 'x'}${v.toString(16)}`;
  if (r === 2) return v === 0 ? '0' : `0${v.toString(8)}`;
  if (r === 3) return `0x${'0'.repeat(1 + (seed % 3))}${v.toString(16).toUpperCase()}`;
  return String(v);
}

const quad = (n) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const hex16 = (n) => [(n >>> 16).toString(16), (n & 0xffff).toString(16)];

/** IPv6 groups of a 128-bit number. */
const groups = (n) => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(16 * (7 - i))) & 0xffffn));

/** The WHATWG serialization of an IPv6 number (longest run of ≥ 2 zero groups compressed). */
export function compress6(n) {
  const g = groups(n);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hexes = g.map((x) => x.toString(16));
  if (best < 0) return hexes.join(':');
  return `${hexes.slice(0, best).join(':')}::${hexes.slice(best + bestLen).join(':')}`;
}

/**
 * Spell `base` in `style` (chosen among STYLES[base.kind] by the caller), with `seed` choosing
 * radixes and case. Returns the host text and what it denotes (undefined: it denotes nothing
 * a parser should accept).
 */
export function spell(base, styleIndex, seed) {
  const styles = STYLES[base.kind];
  const style = styles[styleIndex % styles.length];
  if (base.kind === 'v4') {
    const n = base.n;
    const [a, b, c, d] = quad(n);
    const denotes4 = { kind: 'v4', n };
    switch (style) {
      case 'dotted':
        return { style, host: `${a}.${b}.${c}.${d}`, denotes: denotes4 };
      case 'int-dec':
        return { style, host: String(n), denotes: denotes4 };
      case 'int-hex':
        return { style, host: radix(n, 1, 0), denotes: denotes4 };
      case 'int-oct':
        return { style, host: radix(n, 2, 0), denotes: denotes4 };
      case 'parts':
        return { style, host: [a, b, c, d].map((v, i) => radix(v, seed, i)).join('.'), denotes: denotes4 };
      case 'short2':
        return { style, host: `${radix(a, seed, 0)}.${radix(n & 0xffffff, seed, 1)}`, denotes: denotes4 };
      case 'short3':
        return { style, host: `${radix(a, seed, 0)}.${radix(b, seed, 1)}.${radix(n & 0xffff, seed, 2)}`, denotes: denotes4 };
      case 'fullwidth': {
        const fw = (s) => [...s].map((ch) => (bit(seed, 0) && /[0-9]/.test(ch) ? FW_DIGITS[Number(ch)] : ch)).join('');
        return { style, host: [a, b, c, d].map((v) => fw(String(v))).join(bit(seed, 1) ? '。' : '．'), denotes: denotes4 };
      }
      case 'pct':
        return { style, host: `%3${String(a)[0]}${String(a).slice(1)}.${b}.${c}.${d}`, denotes: denotes4 };
      case 'mapped':
        return { style, host: `[::${bit(seed, 0) ? 'FFFF' : 'ffff'}:${a}.${b}.${c}.${d}]`, denotes: denotes4 };
      case 'mapped-hex':
        return { style, host: `[::ffff:${hex16(n).join(':')}]`, denotes: denotes4 };
      case 'mapped-full':
        return { style, host: `[0:0:0:0:0:ffff:${a}.${b}.${c}.${d}]`, denotes: denotes4 };
      case 'nat64':
        return { style, host: `[64:ff9b::${a}.${b}.${c}.${d}]`, denotes: { kind: 'v6', n: (0x64ff9bn << 96n) | BigInt(n) } };
      case 'compat':
        return { style, host: `[::${a}.${b}.${c}.${d}]`, denotes: { kind: 'v6', n: BigInt(n) } };
      case 'overflow':
        return { style, host: bit(seed, 0) ? `${a}.${b}.${c}.${d + 256}` : String(n + 2 ** 32), denotes: undefined };
      default: {
        // leading-zero: "0127.0.0.1" is octal 0127 = 87 to the WHATWG parser; "0192…" is no number.
        const octal = /^[0-7]+$/.test(String(a));
        return { style, host: `0${a}.${b}.${c}.${d}`, denotes: octal ? { kind: 'v4', n: parseInt(String(a), 8) * 2 ** 24 + (n & 0xffffff) } : undefined };
      }
    }
  }
  if (base.kind === 'v6') {
    const n = base.n;
    const denotes6 = { kind: 'v6', n };
    const g = groups(n);
    switch (style) {
      case 'compressed':
        return { style, host: `[${compress6(n)}]`, denotes: denotes6 };
      case 'full':
        return { style, host: `[${g.map((x) => x.toString(16)).join(':')}]`, denotes: denotes6 };
      case 'upper':
        return { style, host: `[${compress6(n).toUpperCase()}]`, denotes: denotes6 };
      case 'zeros':
        return { style, host: `[${g.map((x) => x.toString(16).padStart(4, '0')).join(':')}]`, denotes: denotes6 };
      case 'dotted-tail': {
        const tail = Number(n & 0xffffffffn);
        return { style, host: `[${g.slice(0, 6).map((x) => x.toString(16)).join(':')}:${quad(tail).join('.')}]`, denotes: denotes6 };
      }
      case 'zone':
        return { style, host: `[${compress6(n)}%${bit(seed, 0) ? '25' : ''}eth0]`, denotes: undefined };
      default: // bare: no brackets (not a host[:port] a URL can carry)
        return { style, host: compress6(n), denotes: undefined };
    }
  }
  const ascii = base.ascii;
  const t = base.text;
  const denotes = { kind: 'name', ascii };
  switch (style) {
    case 'plain':
      return { style, host: t, denotes };
    case 'upper':
      return { style, host: t.toUpperCase(), denotes };
    case 'mixed':
      return { style, host: [...t].map((ch, i) => (bit(seed, i % 20) ? ch.toUpperCase() : ch)).join(''), denotes };
    case 'fullwidth-dot':
      return { style, host: t.replace('.', '。'), denotes };
    case 'unicode-dot':
      return { style, host: t.replace('.', bit(seed, 0) ? '．' : '｡'), denotes };
    case 'soft-hyphen':
      return { style, host: `${t.slice(0, 1)}\u00ad${t.slice(1)}`, denotes };
    case 'pct':
      return { style, host: `%${t.charCodeAt(0).toString(16)}${t.slice(1)}`, denotes };
    case 'zwj':
      return { style, host: `${t.slice(0, 1)}\u200d${t.slice(1)}`, denotes: undefined };
    default: // fullwidth-letters: IDNA maps them to ASCII
      return { style, host: [...t].map((ch) => (/[a-z]/.test(ch) && bit(seed, 0) ? String.fromCharCode(ch.charCodeAt(0) + 0xfee0) : ch)).join(''), denotes };
  }
}
