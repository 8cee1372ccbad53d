/**
 * Fuzz target: host canonicalization of network decisions, on the three paths that decide and
 * connect: `wasi:http` (`parseHttpTarget` → `Gate.http` → the executor's address screen and
 * connect, `src/capabilities/http`, `src/sandbox/instance-hooks.ts`) and the egress proxy's
 * forward and CONNECT admission (`src/container/egress/admission.ts`).
 *
 * Inputs spell a base host (names the policy allows, denies by role, or does not know; IPv4 and
 * IPv6 addresses of every class) in one of many forms (`fuzz/lib/host-spell.mjs`: decimal, hex,
 * octal and short IPv4, full-width digits and dots, IPv4-mapped/NAT64/compatible IPv6, zone ids,
 * upper case, soft hyphens, percent-escapes, …), with a trailing dot, userinfo, a port, a
 * scheme and a path, under a policy of exact hosts, a wildcard, a role's deny rule and
 * addresses named in other spellings. Names resolve (a stub) to public, private, mapped or
 * metadata addresses. The properties:
 * - nothing throws; every answer is a target, `{ error }`, a decision or a refusal;
 * - the same spelling as a policy `allowedHosts` entry canonicalizes to the host a request
 *   with it is decided as (or is refused with a PolicyError);
 * - a spelling decides exactly as its WHATWG-canonical form (`new URL(…).host`) does; where the
 *   spelling is refused and the canonical form allowed, the refusal is a documented one
 *   (userinfo, `%`, `\`, whitespace, controls, a bad path);
 * - the decided host is the address or name the spelling denotes (computed here without a URL
 *   parser), and what is connected is exactly it: the executor's request names that host and
 *   port (an address is not looked up; a name is looked up once and every answer screened);
 * - a cloud metadata address is never connected to or admitted, whatever the spelling, and a
 *   name never leads to a non-public address.
 * Requests never leave the process: `http.request` is replaced while the target runs.
 */
import { EventEmitter } from 'node:events';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { admit } from '../../dist/container/egress/admission.js';
import { classifyAddress, parseIPv4, parseIPv6 } from '../../dist/container/egress/address.js';
import { Gate } from '../../dist/gate/gate.js';
import { parsePolicyObject } from '../../dist/policy/loader.js';
import { PolicyError } from '../../dist/errors.js';
import { canonicalizePolicyHost, parseHttpTarget } from '../../dist/policy/network.js';
import { instanceHooks } from '../../dist/sandbox/instance-hooks.js';
import { BASES, spell } from '../lib/host-spell.mjs';

export const name = 'host';

const { policy } = parsePolicyObject(
  {
    version: 1,
    capabilities: { allowed: ['network_access'] },
    roles: ['net'],
    roleDefinitions: [{ name: 'net', permissions: [{ resource: 'network', action: 'connect', effect: 'allow' }, { resource: 'network', action: 'connect', effect: 'deny', conditions: [{ field: 'host', operator: 'in', value: ['deny.allowed.test', '10.1.2.3'] }] }] }],
    // Policy spellings on purpose: 0x0a010204 is 10.1.2.4, ::ffff:192.168.1.1 is 192.168.1.1.
    networkRules: { allowedHosts: ['api.example.com', '*.allowed.test', 'bücher.example', '127.0.0.1', '[::1]', '10.1.2.3', '0x0a010204', '2001:db8::1', '169.254.169.254', '::ffff:192.168.1.1', 'fe80::1'], allowedPorts: [443, 80, 8080], protocols: ['https', 'http'] },
  },
  { baseDir: '/nonexistent-fuzz-base' },
);
const EXACT = new Set(policy.networkRules.allowedHosts);
const gate = new Gate(policy, 'fuzz-host', () => {});
for (const b of BASES) if (b.kind === 'name') b.ascii = domainToASCII(b.text);

const ALLOWED_BASES = ['api.example.com', 'x.allowed.test', 'a.b.allowed.test', 'bücher.example', '127.0.0.1', '10.1.2.4', '169.254.169.254', '192.168.1.1', '::1', '2001:db8::1', 'fe80::1'].map((t) => BASES.findIndex((b) => b.text === t));

/** What names resolve to (the stub), and whether a name may lead there (all public). */
const RESOLUTIONS = [
  { addrs: ['93.184.215.14'], ok: true },
  { addrs: ['127.0.0.1'], ok: false },
  { addrs: ['93.184.215.14', '10.0.0.1'], ok: false },
  { addrs: ['169.254.169.254'], ok: false },
  { addrs: ['::ffff:127.0.0.1'], ok: false },
  { addrs: ['2606:4700::1111'], ok: true },
  { addrs: ['64:ff9b::a9fe:a9fe'], ok: false },
  { addrs: [], ok: false },
  { addrs: ['2002:808:808::1'], ok: true },
  { addrs: ['0:0:0:0:0:ffff:a9fe:a9fe'], ok: false },
];

/** The fast-check arbitrary of inputs. */
export const arbitrary = fc.record({
  // Bases the policy allows twice as often as any: allowed requests reach the executor's screen.
  base: fc.oneof({ weight: 1, arbitrary: fc.nat({ max: BASES.length - 1 }) }, { weight: 2, arbitrary: fc.constantFrom(...ALLOWED_BASES) }),
  style: fc.nat({ max: 63 }),
  seed: fc.nat({ max: 0xffff }),
  trailingDot: fc.boolean(),
  userinfo: fc.oneof({ weight: 12, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('user@', 'u:p@', '@', 'api.example.com@', ':@') }),
  port: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('', '', ':443', ':80', ':8080', ':0443', ':080') }, { weight: 1, arbitrary: fc.constantFrom(':', ':0', ':65536', ':22', ':+80', ':443:443') }),
  scheme: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('https', 'http', 'HTTPS', 'Http', 'https:') }, { weight: 1, arbitrary: fc.constantFrom('ftp', 'ws', 'file') }),
  path: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('/', '', '/a?b=1', '/x/../y', '/%2e%2e/', '/?') }, { weight: 1, arbitrary: fc.constantFrom('a', '/\\x', '/#f', '/ x', '?q') }),
  via: fc.constantFrom('wasi', 'wasi', 'forward', 'connect'),
  resolve: fc.nat({ max: RESOLUTIONS.length - 1 }),
  extra: fc.option(fc.record({ at: fc.nat(), text: fc.constantFrom('.', '..', ':', '[', ']', '@', '\u0000', '\t', '%00', '\u3002', 'ß', '\u00ad', 'Ⅷ', '\ufeff') }), { nil: null, freq: 8 }),
});

// ---- intercepting connections --------------------------------------------------------------

const require = createRequire(import.meta.url);
const cjs = [require('node:http'), require('node:https')];
const real = cjs.map((m) => m.request);
/** While set, requests are recorded here and fail at once instead of leaving the process. */
let capture;

/** The replacements of each module's `request`: the real one unless a check is capturing. */
const fakes = real.map((request) => function fakeRequest(options, ...rest) {
  if (!capture) return request.call(this, options, ...rest);
  return fakeRequestOf(options);
});

function fakeRequestOf(options) {
  const seen = { host: options.host, port: options.port, headers: options.headers, lookup: undefined };
  capture.requests.push(seen);
  const req = new EventEmitter();
  // As a real request that could not connect: 'error', then 'close'.
  const fail = (err) =>
    process.nextTick(() => {
      req.emit('error', err ?? Object.assign(new Error('refused (fuzz)'), { code: 'ECONNREFUSED' }));
      req.emit('close');
    });
  req.write = () => true;
  req.destroy = () => req;
  req.end = () => {
    if (typeof options.lookup !== 'function') return fail();
    options.lookup(options.host, { all: true }, (err, addresses) => {
      seen.lookup = err ? { error: err.code } : { addresses: addresses.map((a) => a.address) };
      fail(err);
    });
  };
  return req;
}

/** Install the interception (the executor imports `node:http` as an ES module: sync its bindings). */
export function setup() {
  if (cjs[0].request === fakes[0]) return;
  cjs.forEach((m, i) => (m.request = fakes[i]));
  syncBuiltinESMExports();
}

export function teardown() {
  cjs.forEach((m, i) => (m.request = real[i]));
  syncBuiltinESMExports();
}

let resolution = RESOLUTIONS[0];
const hooks = instanceHooks(
  {
    auditBridge: undefined,
    indicators: undefined,
    tools: new Map(),
    resolve: async () => resolution.addrs.map((address) => ({ address, family: isIP(address) })),
    emitAudit() {},
    emitLog() {},
    audit() {},
  },
  () => 'fuzz',
  undefined,
  'fuzz-host',
);

// ---- the reference -------------------------------------------------------------------------

const META4 = 0xa9fea9fe;
/** Whether what a spelling denotes is a cloud metadata address (or carries one). */
function isMetadata(d) {
  if (d?.kind === 'v4') return d.n === META4;
  if (d?.kind !== 'v6') return false;
  const low = Number(d.n & 0xffffffffn);
  const hi = d.n >> 32n;
  if (hi === 0xffffn || hi === 0x64ff9bn << 64n) return low === META4;
  if (d.n >> 112n === 0x2002n) return Number((d.n >> 80n) & 0xffffffffn) === META4;
  return d.n === parseIPv6('fd00:ec2::254');
}

/** The canonical host a denoted address or name must be decided as. */
function expectedHost(d) {
  if (d.kind === 'name') return d.ascii;
  if (d.kind === 'v4') return [d.n >>> 24, (d.n >>> 16) & 255, (d.n >>> 8) & 255, d.n & 255].join('.');
  if (d.n >> 32n === 0xffffn) return expectedHost({ kind: 'v4', n: Number(d.n & 0xffffffffn) });
  return undefined; // an IPv6 text: compared by number below
}

function sameHost(t, d) {
  const want = expectedHost(d);
  if (want !== undefined) return t.host === want && t.hostIsIp === (d.kind !== 'name');
  return t.hostIsIp && t.host.startsWith('[') && parseIPv6(t.host) === d.n;
}

/** Refusals `parseHttpTarget` documents (the canonical form of such a request may still pass). */
// eslint-disable-next-line no-control-regex -- control characters are what these refusals are about
const DOCUMENTED = (authority, path) => /[@\\%/?#\s\u0000-\u001f\u007f]/u.test(authority) || !(path === '' || path.startsWith('/')) || /[\\#\s\u0000-\u001f\u007f]/u.test(path);

function parse(scheme, authority, path) {
  try {
    return parseHttpTarget(scheme, authority, path);
  } catch (e) {
    throw new Error(`parseHttpTarget(${JSON.stringify([scheme, authority, path])}) threw: ${e instanceof Error ? e.stack : String(e)}`);
  }
}

const decide = (t) => {
  const d = gate.http(t, 'fuzz');
  return `${d.allowed}:${d.matched.join(',')}`;
};

// ---- the property --------------------------------------------------------------------------

export async function check(input) {
  setup();
  const base = BASES[input.base];
  const s = spell(base, input.style, input.seed);
  let host = s.host;
  let denotes = s.denotes;
  if (input.extra) {
    const i = input.extra.at % (host.length + 1);
    host = host.slice(0, i) + input.extra.text + host.slice(i);
    denotes = undefined;
  }
  if (input.trailingDot && !host.endsWith(']')) host += '.';
  const authority = `${input.userinfo}${host}${input.port}`;
  const show = `${input.via} ${JSON.stringify([input.scheme, authority, input.path])} (${base.text} as ${s.style})`;
  resolution = RESOLUTIONS[input.resolve];

  if (input.via !== 'wasi') return checkAdmit(input, authority, denotes, show);

  const t = parse(input.scheme, authority, input.path);
  if (!t || typeof t !== 'object' || ('error' in t ? typeof t.error !== 'string' : typeof t.host !== 'string' || !Number.isInteger(t.port))) throw new Error(`${show}: not a target or an error: ${JSON.stringify(t)}`);
  // The same spelling as an allowedHosts entry: refused with PolicyError, or the host a request decides on.
  let entry;
  try {
    entry = canonicalizePolicyHost(host);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw new Error(`${show}: canonicalizePolicyHost(${JSON.stringify(host)}) threw ${e?.constructor?.name}: ${e instanceof Error ? e.stack : String(e)}`);
  }
  if (entry !== undefined && !('error' in t) && entry !== t.host) throw new Error(`${show}: as a policy entry ${JSON.stringify(host)} is ${entry}, as a request host ${t.host}`);
  let url;
  try {
    url = new URL(`${input.scheme.toLowerCase().replace(/:$/, '')}://${authority}${input.path || '/'}`);
  } catch {
    url = undefined;
  }
  const canon = url ? parse(url.protocol.slice(0, -1), url.host, url.pathname + url.search) : { error: 'no URL' };
  if ('error' in t) {
    if (!('error' in canon) && gate.http(canon, 'fuzz').allowed && !DOCUMENTED(authority, input.path)) {
      throw new Error(`${show}: refused (${t.error}) but its canonical form ${url.host} is allowed`);
    }
    return;
  }
  if ('error' in canon) throw new Error(`${show}: accepted as ${t.host}:${t.port} but its canonical form ${url?.host ?? '(no URL)'} is refused: ${canon.error}`);
  if (t.host !== canon.host || t.port !== canon.port || t.scheme !== canon.scheme) throw new Error(`${show}: decided as ${t.scheme}://${t.host}:${t.port}, its canonical form as ${canon.scheme}://${canon.host}:${canon.port}`);
  const decision = decide(t);
  if (decision !== decide(canon)) throw new Error(`${show}: decided ${decision}, its canonical form ${decide(canon)}`);
  if (denotes && !sameHost(t, denotes)) throw new Error(`${show}: decided as host ${t.host}, but it names ${denotes.kind === 'name' ? denotes.ascii : denotes.n.toString(16)}`);
  if (!decision.startsWith('true')) return;

  // Allowed: the executor (with the instance's address screen) connects to exactly that.
  const call = { method: 'GET', scheme: t.scheme, host: t.host, port: t.port, authority: t.authority, pathWithQuery: t.pathWithQuery, headers: [], body: null, maxResponseBytes: 1024 };
  const requests = [];
  capture = { requests };
  let outcome;
  try {
    outcome = await hooks.rpc.http(call, undefined);
  } finally {
    capture = undefined;
  }
  const tag = outcome?.ok === false ? outcome.error?.tag : 'ok';
  const address = t.host.startsWith('[') ? t.host.slice(1, -1) : t.host;
  if (t.hostIsIp) {
    if (isMetadata(denotes) || classifyAddress(address)?.metadata) {
      if (requests.length > 0 || tag !== 'destination-IP-prohibited') throw new Error(`${show}: a metadata address was connected to (${JSON.stringify(requests)}, ${tag})`);
      return;
    }
    if (requests.length !== 1 || requests[0].host !== address || requests[0].port !== t.port || requests[0].lookup !== undefined) throw new Error(`${show}: connected to ${JSON.stringify(requests)}, not ${address}:${t.port} as decided`);
  } else {
    const r = requests[0];
    if (requests.length !== 1 || r.host !== t.host || r.port !== t.port || !r.lookup) throw new Error(`${show}: connected to ${JSON.stringify(requests)}, not ${t.host}:${t.port} (looked up) as decided`);
    const want = resolution.addrs.length === 0 ? 'ENOTFOUND' : resolution.ok ? undefined : 'EAGENTOS_ADDRESS_BLOCKED';
    if ((r.lookup.error ?? undefined) !== want || (!want && r.lookup.addresses.join() !== resolution.addrs.join())) throw new Error(`${show}: ${t.host} resolving to ${resolution.addrs} gave ${JSON.stringify(r.lookup)}`);
  }
  if (requests[0].headers?.host !== t.authority) throw new Error(`${show}: Host header ${requests[0].headers?.host}, decided authority ${t.authority}`);
}

/** The egress proxy's admission of the same spelling (absolute-form or CONNECT). */
async function checkAdmit(input, authority, denotes, show) {
  // The proxy forwards plain http only (https goes through CONNECT): forward the http variant.
  // CONNECT needs an explicit port (RFC 9110): add the https one when the input has none.
  const raw = input.via === 'forward' ? `${input.scheme.replace(/:$/, '').replace(/s$/i, '')}://${authority}${input.path}` : input.port === '' ? `${authority}:443` : authority;
  let a;
  try {
    a = await admit({ gate, lookup: async () => resolution.addrs.map((address) => ({ address, family: isIP(address) })) }, input.via, raw);
  } catch (e) {
    throw new Error(`${show}: admit threw: ${e instanceof Error ? e.stack : String(e)}`);
  }
  if (a?.ok === false) {
    if (!Number.isInteger(a.status) || typeof a.reason !== 'string') throw new Error(`${show}: not a refusal: ${JSON.stringify(a)}`);
    return;
  }
  if (a?.ok !== true) throw new Error(`${show}: admit answered ${JSON.stringify(a)}`);
  a.release();
  const t = a.target;
  if (!a.decision.allowed) throw new Error(`${show}: admitted against a denial`);
  let url;
  try {
    url = new URL(input.via === 'forward' ? raw : `https://${raw}/`);
  } catch {
    throw new Error(`${show}: admitted ${t.host}:${t.port}, but no URL parser reads ${JSON.stringify(raw)}`);
  }
  const canon = parse(url.protocol.slice(0, -1), url.host, '/');
  if ('error' in canon || canon.host !== t.host || canon.port !== t.port) throw new Error(`${show}: admitted ${t.host}:${t.port}, its canonical form is ${url.host}`);
  if (denotes && !sameHost(t, denotes)) throw new Error(`${show}: admitted host ${t.host}, but it names ${denotes.kind === 'name' ? denotes.ascii : denotes.n.toString(16)}`);
  if (t.hostIsIp) {
    const address = t.host.startsWith('[') ? t.host.slice(1, -1) : t.host;
    if (a.address !== address) throw new Error(`${show}: admitted ${t.host} but connects to ${a.address}`);
    if (isMetadata(denotes) || classifyAddress(address)?.metadata) throw new Error(`${show}: a metadata address was admitted`);
    if (classifyAddress(address) && !EXACT.has(t.host)) throw new Error(`${show}: non-public ${address} admitted though the policy does not name it`);
  } else {
    if (!resolution.ok || a.address !== resolution.addrs[0]) throw new Error(`${show}: ${t.host} resolving to ${resolution.addrs} was admitted to ${a.address}`);
  }
  if (parseIPv4(a.address) === undefined && parseIPv6(a.address) === undefined) throw new Error(`${show}: admitted address ${a.address} is not an IP address`);
}
