/**
 * Outbound HTTP targets: canonicalization and matching against `networkRules`.
 *
 * A request target is parsed ONCE with the WHATWG `URL` parser (the same parser that decides
 * where a connection goes), canonicalized, checked, and then that same parsed value is what
 * the host connects to, so the check and the use can never disagree. Policy hosts go through
 * the same canonicalization, so a policy entry `127.0.0.1` and a request to
 * `http://2130706433/` agree, and so do `[::ffff:127.0.0.1]` and `127.0.0.1`.
 *
 * @example
 * ```ts
 * const rules = compileNetworkRules({ allowedHosts: ['api.github.com', '*.example.com'] });
 * const t = parseHttpTarget('https', 'API.GitHub.com.', '/repos');
 * if ('error' in t) throw new Error(t.error);
 * rules.check(t); // { allowed: true, reason: '…', rule: 'api.github.com' }
 * ```
 */
import { PolicyError } from '../errors.js';

/** The schemes the sandbox can speak. */
export type HttpScheme = 'http' | 'https';

/** A parsed, canonical outbound HTTP target. Treat `url` as read-only. */
export interface HttpTarget {
  /** The parsed URL, with its host replaced by the canonical host. */
  readonly url: URL;
  readonly scheme: HttpScheme;
  /** Canonical host: lowercase, no trailing dot, dotted-quad IPv4, `[compressed]` IPv6. */
  readonly host: string;
  /** The explicit port, or the scheme's default (80 / 443). */
  readonly port: number;
  /** True for an IPv4 or IPv6 literal. */
  readonly hostIsIp: boolean;
  /** Path and query as the URL parser serialized them (never empty, no fragment). */
  readonly pathWithQuery: string;
  /** Canonical `host[:port]` for the Host header; the port is omitted when it is the default. */
  readonly authority: string;
}

/** The `networkRules` fields the matcher reads (extra fields are ignored). */
export interface NetworkRulesInput {
  readonly allowedHosts: readonly string[];
  /** Default: only the default port of the request's scheme (80 for http, 443 for https). */
  readonly allowedPorts?: readonly number[] | undefined;
  /** Default: `['https']`. Entries may be written `https` or `https:`. */
  readonly protocols?: readonly string[] | undefined;
}

/** The outcome of {@link NetworkMatcher.check}. `reason` says what to change when denied. */
export interface NetworkCheck {
  readonly allowed: boolean;
  readonly reason: string;
  /** The `allowedHosts` entry that matched (only when allowed). */
  readonly rule?: string;
}

/** Compiled `networkRules`. */
export interface NetworkMatcher {
  /** Canonical host entries (wildcards kept as `*.suffix`). */
  readonly allowedHosts: readonly string[];
  /** `undefined` means "the default port of each scheme". */
  readonly allowedPorts: readonly number[] | undefined;
  readonly protocols: readonly HttpScheme[];
  /** Decide one request. Deny unless scheme, host and port are all allowed. */
  check(target: HttpTarget): NetworkCheck;
}

const DEFAULT_PORT: Readonly<Record<HttpScheme, number>> = Object.freeze({ http: 80, https: 443 });

/**
 * Characters refused anywhere in an authority or policy host before parsing: userinfo (`@`),
 * characters the URL parser rewrites or strips (`\`, tab, newline, other controls, spaces),
 * percent-escapes (decoded inside hosts), and path/query/fragment starters that would move
 * the host boundary.
 */
const UNSAFE_AUTHORITY = /[@\\%/?#\s\u0000-\u001f\u007f]/u;

/** What a canonical DNS name may contain (after IDNA, which the URL parser applies). */
const HOST_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;
const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** Expand a WHATWG-serialized IPv6 literal (without brackets) to 8 hextets. */
function ipv6Hextets(s: string): number[] | undefined {
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const head = parse(halves[0] ?? '');
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : [];
  const fill = 8 - head.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  return all.every((h) => Number.isInteger(h) && h >= 0 && h <= 0xffff) ? all : undefined;
}

/**
 * Canonicalize a hostname the URL parser produced. IPv4-mapped IPv6 becomes dotted IPv4
 * (the kernel connects it to that IPv4 address, so the policy must see it as one).
 */
function canonicalFromParsed(hostname: string): { host: string; isIp: boolean } | { error: string } {
  if (hostname.startsWith('[')) {
    const h = ipv6Hextets(hostname.slice(1, -1));
    if (!h) return { error: `unexpected IPv6 literal ${hostname}` };
    if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) {
      const [a = 0, b = 0] = h.slice(6);
      return { host: `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`, isIp: true };
    }
    return { host: hostname, isIp: true };
  }
  const host = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  if (IPV4.test(host)) return { host, isIp: true };
  if (!HOST_NAME.test(host)) return { error: `host "${hostname}" is not a valid DNS name or IP address` };
  return { host, isIp: false };
}

function normalizeScheme(scheme: string): HttpScheme | undefined {
  const s = scheme.toLowerCase().replace(/:$/, '');
  return s === 'http' || s === 'https' ? s : undefined;
}

/**
 * Parse and canonicalize an outbound HTTP request target, as `wasi:http` hands it over
 * (scheme, authority and path-with-query separately). Builds
 * `${scheme}://${authority}${pathWithQuery || '/'}` and parses it once with `URL`.
 *
 * Rejected (returned as `{ error }`, never thrown): schemes other than http/https; any
 * userinfo, even an empty `@`; an empty host or port 0; `\`, `%`, whitespace or control
 * characters in the authority; a path that does not start with `/` or contains `\`, `#`,
 * whitespace or control characters; hosts that are not DNS names or IP literals.
 *
 * @example
 * ```ts
 * parseHttpTarget('http', '0x7f000001:8080', '/x?y');
 * // { host: '127.0.0.1', port: 8080, authority: '127.0.0.1:8080', hostIsIp: true, … }
 * parseHttpTarget('http', 'allowed@evil', '/'); // { error: '… userinfo …' }
 * ```
 */
export function parseHttpTarget(scheme: string, authority: string, pathWithQuery: string): HttpTarget | { error: string } {
  const s = typeof scheme === 'string' ? normalizeScheme(scheme) : undefined;
  if (!s) return { error: `unsupported scheme ${JSON.stringify(String(scheme))}; only http and https are supported` };
  if (typeof authority !== 'string' || authority === '') return { error: 'the request has no host' };
  if (authority.includes('@')) return { error: 'userinfo ("user@") in the authority is not allowed' };
  if (UNSAFE_AUTHORITY.test(authority)) {
    return { error: `authority ${JSON.stringify(authority)} contains characters that are not allowed (\\ % whitespace, controls, / ? #)` };
  }
  const path = typeof pathWithQuery === 'string' && pathWithQuery !== '' ? pathWithQuery : '/';
  // Tabs/newlines are silently dropped and "\" becomes "/" by the URL parser: refuse them
  // rather than let the server see a different path than the guest wrote.
  if (!path.startsWith('/') || /[\\#\s\u0000-\u001f\u007f]/u.test(path)) {
    return { error: `path ${JSON.stringify(path.slice(0, 200))} must start with "/" and contain no "\\", "#", whitespace or control characters` };
  }
  let url: URL;
  try {
    url = new URL(`${s}://${authority}${path}`);
  } catch {
    return { error: `${JSON.stringify(authority)} is not a valid host[:port]` };
  }
  // Defense in depth: the pre-checks above already make these impossible.
  if (url.username !== '' || url.password !== '' || url.protocol !== `${s}:` || url.hostname === '') {
    return { error: `${JSON.stringify(authority)} is not a valid host[:port]` };
  }
  const canon = canonicalFromParsed(url.hostname);
  if ('error' in canon) return canon;
  const port = url.port === '' ? DEFAULT_PORT[s] : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { error: `port ${url.port} is not a valid port` };
  if (url.hostname !== canon.host) {
    // Trailing dot or IPv4-mapped IPv6: make the URL the host will use say the canonical host.
    url.hostname = canon.host;
    if (url.hostname !== canon.host) return { error: `cannot canonicalize host ${JSON.stringify(authority)}` };
  }
  const authorityOut = port === DEFAULT_PORT[s] ? canon.host : `${canon.host}:${port}`;
  return Object.freeze({
    url,
    scheme: s,
    host: canon.host,
    port,
    hostIsIp: canon.isIp,
    pathWithQuery: url.pathname + url.search,
    authority: authorityOut,
  });
}

function policyError(path: string, message: string, value?: unknown): PolicyError {
  return new PolicyError(`${path}: ${message}`, value === undefined ? { path } : { path, value });
}

/**
 * Canonicalize one `networkRules.allowedHosts` entry the way requests are canonicalized.
 * Returns the canonical entry: a host (`api.github.com`, `127.0.0.1`, `[::1]`) or a
 * wildcard `*.example.com` (any subdomain at any depth, not `example.com` itself).
 * IPv6 may be written with or without brackets.
 *
 * @param path the field path used in errors; default `'networkRules.allowedHosts'`
 * @throws PolicyError for a bare `*`, a `*` anywhere but a leading `*.`, a port, a scheme,
 *   userinfo, a path, or a name that is not a host
 * @example
 * ```ts
 * canonicalizePolicyHost('API.GitHub.com.'); // 'api.github.com'
 * canonicalizePolicyHost('0x7f000001');      // '127.0.0.1'
 * ```
 */
export function canonicalizePolicyHost(entry: string, path = 'networkRules.allowedHosts'): string {
  if (typeof entry !== 'string' || entry === '') throw policyError(path, 'a host must be a non-empty string; write a host name such as "api.github.com"');
  if (entry === '*') {
    throw policyError(path, '"*" (every host) is not accepted; list the hosts the agent needs, or "*.example.com" for subdomains', entry);
  }
  if (entry.includes('://')) throw policyError(path, `${JSON.stringify(entry)} is a URL; write only the host, and put the scheme in networkRules.protocols`, entry);
  const wildcard = entry.startsWith('*.');
  const raw = wildcard ? entry.slice(2) : entry;
  if (raw.includes('*')) throw policyError(path, `${JSON.stringify(entry)}: "*" is only allowed as a leading "*."; write e.g. "*.example.com"`, entry);
  if (UNSAFE_AUTHORITY.test(raw)) throw policyError(path, `${JSON.stringify(entry)} contains characters a host cannot have (@ \\ % / ? # spaces); write only the host name`, entry);
  const colons = raw.split(':').length - 1;
  let hostPart = raw;
  if (!raw.startsWith('[') && colons >= 2) hostPart = `[${raw}]`; // bare IPv6
  else if (colons === 1 || /\]:/.test(raw)) {
    throw policyError(path, `${JSON.stringify(entry)} has a port; write the host alone and list ports in networkRules.allowedPorts`, entry);
  }
  let url: URL;
  try {
    url = new URL(`http://${hostPart}/`);
  } catch {
    throw policyError(path, `${JSON.stringify(entry)} is not a valid host name or IP address; fix the spelling`, entry);
  }
  const canon = canonicalFromParsed(url.hostname);
  if ('error' in canon) throw policyError(path, `${JSON.stringify(entry)} is not a valid host name or IP address; fix the spelling`, entry);
  if (wildcard && canon.isIp) throw policyError(path, `${JSON.stringify(entry)}: a wildcard needs a domain name, not an IP address; list the IP address itself`, entry);
  return wildcard ? `*.${canon.host}` : canon.host;
}

/**
 * Normalize one `networkRules.protocols` entry: `https`, `HTTPS` or `https:` → `'https'`.
 *
 * @throws PolicyError for anything but http/https
 * @example
 * ```ts
 * normalizeProtocol('https:'); // 'https'
 * ```
 */
export function normalizeProtocol(protocol: string, path = 'networkRules.protocols'): HttpScheme {
  const s = typeof protocol === 'string' ? normalizeScheme(protocol) : undefined;
  if (!s) throw policyError(path, `unknown protocol ${JSON.stringify(protocol)}; use "https" or "http"`, protocol);
  return s;
}

/**
 * Check one `networkRules.allowedPorts` entry: an integer 1–65535.
 *
 * @throws PolicyError otherwise
 * @example
 * ```ts
 * validatePort(443); // 443
 * ```
 */
export function validatePort(port: number, path = 'networkRules.allowedPorts'): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw policyError(path, `${JSON.stringify(port)} is not a port; use a whole number from 1 to 65535`, port);
  }
  return port;
}

const list = (xs: readonly (string | number)[]): string => `[${xs.join(', ')}]`;

/**
 * Compile `networkRules` into a matcher. Deny by default: a request is allowed only when its
 * scheme is in `protocols`, its canonical host is in `allowedHosts` (exactly, or under a
 * `*.domain` entry) and its port is in `allowedPorts`.
 *
 * Defaults: `protocols` → `['https']`; `allowedPorts` → only the default port of the
 * request's scheme (443 for https, 80 for http). An empty `allowedHosts` denies everything.
 *
 * @throws PolicyError (`details.path` names the entry) for a bad host, port or protocol
 * @example
 * ```ts
 * const m = compileNetworkRules({ allowedHosts: ['*.example.com'], allowedPorts: [443] });
 * m.check(parseHttpTarget('https', 'a.b.example.com', '/') as HttpTarget).allowed; // true
 * ```
 */
export function compileNetworkRules(rules: NetworkRulesInput): NetworkMatcher {
  if (typeof rules !== 'object' || rules === null || !Array.isArray(rules.allowedHosts)) {
    throw policyError('networkRules.allowedHosts', 'expected a list of host names; write e.g. allowedHosts: [api.github.com]');
  }
  const hosts = rules.allowedHosts.map((h, i) => canonicalizePolicyHost(h, `networkRules.allowedHosts[${i}]`));
  const exact = new Set(hosts.filter((h) => !h.startsWith('*.')));
  const suffixes = hosts.filter((h) => h.startsWith('*.')).map((h) => h.slice(1)); // ".example.com"
  const ports = rules.allowedPorts?.map((p, i) => validatePort(p, `networkRules.allowedPorts[${i}]`));
  const portSet = ports ? new Set(ports) : undefined;
  const protocols = [...new Set((rules.protocols ?? ['https']).map((p, i) => normalizeProtocol(p, `networkRules.protocols[${i}]`)))];

  const check = (t: HttpTarget): NetworkCheck => {
    if (!protocols.includes(t.scheme)) {
      return { allowed: false, reason: `scheme ${t.scheme} is not in networkRules.protocols ${list(protocols)} (add "${t.scheme}" to allow this request)` };
    }
    let rule: string | undefined;
    if (exact.has(t.host)) rule = t.host;
    else if (!t.hostIsIp) {
      const suffix = suffixes.find((sfx) => t.host.endsWith(sfx) && t.host.length > sfx.length);
      if (suffix) rule = `*${suffix}`;
    }
    if (rule === undefined) {
      return { allowed: false, reason: `host "${t.host}" is not in networkRules.allowedHosts (add it to allow this request)` };
    }
    if (portSet ? !portSet.has(t.port) : t.port !== DEFAULT_PORT[t.scheme]) {
      const shown = ports ?? [DEFAULT_PORT[t.scheme]];
      const why = ports ? '' : ` (the default for ${t.scheme} when allowedPorts is not set)`;
      return {
        allowed: false,
        reason: `port ${t.port} is not in networkRules.allowedPorts ${list(shown)}${why}; add ${t.port} to allow this request`,
      };
    }
    return { allowed: true, reason: `${t.scheme}://${t.authority} is allowed by networkRules.allowedHosts entry "${rule}"`, rule };
  };

  return Object.freeze({
    allowedHosts: Object.freeze(hosts),
    allowedPorts: ports ? Object.freeze(ports) : undefined,
    protocols: Object.freeze(protocols),
    check,
  });
}
