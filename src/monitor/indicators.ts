/**
 * Indicators of compromise: a local threat-intelligence file of blocked hosts, IP ranges and
 * component SHA-256s. A blocked component is refused at load; a blocked host or address is
 * denied on every network decision (the gate checks the host, the HTTP executor and the egress
 * proxy check every address a name resolves to), and the monitor raises `blocked_indicator`.
 *
 * File (YAML or JSON):
 * ```yaml
 * hosts: [evil.example, '*.bad.example']     # canonical hosts; *.domain = any subdomain
 * ipRanges: [203.0.113.0/24, '2001:db8::/32'] # CIDR, or a single address
 * components: [<64 hex digits>]               # component SHA-256s
 * ```
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { PolicyError } from '../errors.js';
import { canonicalizePolicyHost } from '../policy/network.js';
import { parseYamlBounded, YamlNestingError, type BoundedYaml } from '../policy/yaml-parse.js';

/** The indicators as plain data (what is posted to the agent threads). */
export interface IndicatorData {
  readonly hosts: readonly string[];
  readonly ipRanges: readonly string[];
  readonly components: readonly string[];
  /** Where they came from, for reasons (`threat-intel.yaml`). */
  readonly source: string;
  /** The SHA-256 of the canonical lists: an agent thread compiles each set once. */
  readonly key: string;
}

/**
 * At most this many entries in all: every agent instance receives the lists with its settings
 * (a threat feed of this size, not a database).
 */
export const MAX_INDICATORS = 100_000;

const SHA256 = /^[0-9a-f]{64}$/;

function listOf(v: unknown, field: string, source: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new PolicyError(`${source}: ${field} must be a list of strings`, { path: field });
  return v as string[];
}

/** Validate and canonicalize indicators given as data. */
export function indicatorData(raw: unknown, source: string): IndicatorData {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new PolicyError(`${source}: the threat-intelligence file must be a mapping with hosts, ipRanges and components`, {});
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!['hosts', 'ipRanges', 'components'].includes(k)) throw new PolicyError(`${source}: unknown field ${JSON.stringify(k)}; use hosts, ipRanges and components`, { path: k });
  const hosts = listOf(r['hosts'], 'hosts', source).map((h, i) => canonicalizePolicyHost(h, `${source}: hosts[${i}]`));
  const ipRanges = listOf(r['ipRanges'], 'ipRanges', source).map((c, i) => {
    subnet(c, `${source}: ipRanges[${i}]`);
    return c;
  });
  const components = listOf(r['components'], 'components', source).map((h, i) => {
    const x = h.toLowerCase();
    if (!SHA256.test(x)) throw new PolicyError(`${source}: components[${i}] is not a SHA-256 (64 hex digits)`, { path: `components[${i}]` });
    return x;
  });
  if (hosts.length + ipRanges.length + components.length > MAX_INDICATORS) throw new PolicyError(`${source}: more than ${MAX_INDICATORS} indicators`, {});
  const key = createHash('sha256').update(JSON.stringify([hosts, ipRanges, components])).digest('hex');
  return { hosts, ipRanges, components, source, key };
}

/** Read a threat-intelligence file (YAML or JSON). */
export function loadIndicators(file: string): IndicatorData {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyError(`cannot read the threat-intelligence file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file });
  }
  let raw: unknown;
  try {
    raw = yamlData(text);
  } catch (e) {
    throw new PolicyError(`${file}: not YAML or JSON: ${(e as Error).message}`, { file });
  }
  return indicatorData(raw ?? {}, file);
}

/** The data of a one-document YAML (or JSON) text; throws an Error whose message says where it is wrong. */
function yamlData(text: string): unknown {
  let parsed: BoundedYaml;
  try {
    parsed = parseYamlBounded(text, {});
  } catch (e) {
    if (e instanceof YamlNestingError) throw new Error(`${e.message} (line ${e.line}, column ${e.col})`);
    throw e;
  }
  const { doc, position, secondDocumentAt } = parsed;
  const located = (problem: string, offset: number) => {
    if (offset < 0) return problem;
    const { line, col } = position(offset);
    return `${problem} (line ${line}, column ${col})`;
  };
  const error = doc.errors[0];
  if (error) throw new Error(located(error.message.split('\n')[0] ?? error.message, error.pos[0]));
  if (secondDocumentAt !== undefined) throw new Error(located('more than one YAML document; keep one', secondDocumentAt));
  return doc.toJS({ maxAliasCount: 0 });
}

function subnet(cidr: string, where: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [addr = '', bits] = cidr.split('/');
  const address = addr.startsWith('[') && addr.endsWith(']') ? addr.slice(1, -1) : addr;
  const v = isIP(address);
  if (v === 0) throw new PolicyError(`${where}: ${JSON.stringify(cidr)} is not an IP address or CIDR range`, {});
  const max = v === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) throw new PolicyError(`${where}: ${JSON.stringify(cidr)} has a bad prefix length (0–${max})`, {});
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

const compiled = new Map<string, Indicators>();

/** The compiled set for `data`, shared by every instance on this thread that uses the same lists. */
export function compileIndicators(data: IndicatorData): Indicators {
  let c = compiled.get(data.key);
  if (!c) {
    c = new Indicators(data);
    compiled.set(data.key, c);
    if (compiled.size > 8) compiled.delete(compiled.keys().next().value!);
  }
  return c;
}

/** The indicators compiled for lookups. */
export class Indicators {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly ranges = new BlockList();
  private readonly hashes: ReadonlySet<string>;
  private readonly rangeCount: number;

  constructor(readonly data: IndicatorData) {
    for (const h of data.hosts) {
      if (h.startsWith('*.')) this.suffixes.push(h.slice(1));
      else this.exact.add(h);
    }
    for (const c of data.ipRanges) {
      const s = subnet(c, data.source);
      this.ranges.addSubnet(s.address, s.prefix, s.family);
    }
    this.rangeCount = data.ipRanges.length;
    this.hashes = new Set(data.components);
  }

  /** The indicator a canonical host matches (a name, a `*.domain`, or an address in a range). */
  host(host: string): string | undefined {
    if (this.exact.has(host)) return host;
    for (const s of this.suffixes) if (host.endsWith(s)) return `*${s}`;
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    return isIP(bare) ? this.address(bare) : undefined;
  }

  /** The range an address falls in. */
  address(ip: string): string | undefined {
    if (this.rangeCount === 0) return undefined;
    const v = isIP(ip);
    if (v === 0) return undefined;
    if (!this.ranges.check(ip, v === 4 ? 'ipv4' : 'ipv6')) return undefined;
    for (const c of this.data.ipRanges) {
      const s = subnet(c, this.data.source);
      if (s.family !== (v === 4 ? 'ipv4' : 'ipv6')) continue;
      const one = new BlockList();
      one.addSubnet(s.address, s.prefix, s.family);
      if (one.check(ip, s.family)) return c;
    }
    return 'an ipRanges entry';
  }

  component(hash: string): boolean {
    return this.hashes.has(hash);
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.suffixes.length === 0 && this.rangeCount === 0 && this.hashes.size === 0;
  }
}
