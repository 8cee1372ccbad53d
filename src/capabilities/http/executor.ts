/**
 * Performs one outbound HTTP request on the host thread, for a guest whose request the gate has
 * already allowed. It connects to exactly the canonical host and port the gate decided on,
 * sends the canonical authority as `Host`, never follows redirects (the guest's own client
 * follows them, and each hop is a new request through the gate), and stops reading a response
 * body past the cap.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import type { NameLookup } from '../../util/dns-servers.js';

/**
 * Screens the addresses a request would connect to (each address a name resolves to, or the IP
 * literal itself): returns why one is refused, else undefined. A refused address fails the
 * request with `destination-IP-prohibited`.
 */
/**
 * Checks one address a request's host led to; returns why it is refused, or undefined.
 * `privateRanges`: the non-public ranges the policy that allowed the request names.
 */
export type AddressScreen = (address: string, host: string, privateRanges: readonly string[]) => string | undefined;

const BLOCKED = 'EAGENTOS_ADDRESS_BLOCKED';

/** The system resolver (the sandbox's `dns.servers` replace it with `serversLookup`). */
const systemResolve: NameLookup = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

/** A `lookup` for the request that resolves every address once and refuses the request if any is screened out. */
function screenedLookup(screen: AddressScreen, resolveName: NameLookup, privateRanges: readonly string[]) {
  return (hostname: string, options: LookupOptions, cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    resolveName(hostname).then(
      (addresses) => answer(null, addresses),
      (err: NodeJS.ErrnoException) => answer(err, []),
    );
    function answer(err: NodeJS.ErrnoException | null, addresses: LookupAddress[]): void {
      if (err) return cb(err, '');
      if (options.family === 4 || options.family === 6) addresses = addresses.filter((a) => a.family === options.family);
      if (addresses.length === 0) return cb(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '');
      for (const a of addresses) {
        const why = screen(a.address, hostname, privateRanges);
        if (why) return cb(Object.assign(new Error(why), { code: BLOCKED }), '');
      }
      if (options.all) cb(null, addresses);
      else cb(null, addresses[0]!.address, addresses[0]!.family);
    }
  };
}

/** What the guest thread sends. */
export interface HttpCall {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly authority: string;
  readonly pathWithQuery: string;
  readonly headers: readonly (readonly [string, Uint8Array])[];
  readonly body: Uint8Array | null;
  readonly maxResponseBytes: number;
  /** `networkRules.privateRanges` of the policy that allowed the request (see the screen). */
  readonly privateRanges?: readonly string[];
  /** Milliseconds; undefined means the default (30 s connect / first byte). */
  readonly connectTimeoutMs?: number | undefined;
  readonly firstByteTimeoutMs?: number | undefined;
  readonly betweenBytesTimeoutMs?: number | undefined;
}

/** The `error-code` variant of wasi:http, as jco represents it. */
export type HttpErrorCode = { tag: string; val?: unknown };

/** What comes back. */
export type HttpOutcome =
  | { readonly ok: true; readonly status: number; readonly headers: [string, Uint8Array][]; readonly body: Uint8Array }
  | { readonly ok: false; readonly error: HttpErrorCode };

/** Headers the host sets itself; a guest's value for them is dropped. */
const HOST_OWNED = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'proxy-authorization', 'proxy-connection', 'te', 'trailer']);

function errorFor(e: NodeJS.ErrnoException): HttpErrorCode {
  switch (e.code) {
    case 'ECONNREFUSED':
      return { tag: 'connection-refused' };
    case 'ECONNRESET':
      return { tag: 'connection-reset' };
    case 'ETIMEDOUT':
      return { tag: 'connection-timeout' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { tag: 'DNS-error', val: { rcode: e.code, infoCode: undefined } };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { tag: 'destination-unavailable' };
    case BLOCKED:
      return { tag: 'destination-IP-prohibited' };
    default:
      if (e.code?.startsWith('ERR_TLS') || e.code?.includes('CERT')) return { tag: 'TLS-certificate-error' };
      return { tag: 'internal-error', val: String(e.message ?? e).slice(0, 200) };
  }
}

/**
 * Perform the request. Never rejects: failures come back as `{ ok: false, error }`. `signal`
 * aborts it (the guest that asked is gone), so nothing is left holding a connection.
 */
export function performHttp(call: HttpCall, signal?: AbortSignal, screen?: AddressScreen, resolveName: NameLookup = systemResolve): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: HttpOutcome) => {
      if (!settled) {
        settled = true;
        resolve(o);
      }
    };
    // A plain object: Node's http client calls Object.prototype methods on it.
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of call.headers) {
      const key = name.toLowerCase();
      if (HOST_OWNED.has(key)) continue;
      const list = (headers[key] ??= []) as string[];
      list.push(Buffer.from(value).toString('latin1'));
    }
    headers['host'] = call.authority;
    if (call.body && call.body.length > 0) headers['content-length'] = String(call.body.length);
    const host = call.host.startsWith('[') ? call.host.slice(1, -1) : call.host;
    const options: https.RequestOptions = {
      method: call.method,
      host,
      port: call.port,
      path: call.pathWithQuery,
      headers,
      agent: false,
      timeout: call.connectTimeoutMs ?? 30_000,
      ...(call.scheme === 'https' && !isIP(host) ? { servername: host } : {}),
      ...(screen && !isIP(host) ? { lookup: screenedLookup(screen, resolveName, call.privateRanges ?? []) as never } : {}),
    };
    // An IP literal is not looked up: it is screened as it is (a metadata address never passes).
    if (screen && isIP(host) && screen(host, call.host, call.privateRanges ?? [])) {
      done({ ok: false, error: { tag: 'destination-IP-prohibited' } });
      return;
    }
    const mod = call.scheme === 'https' ? https : http;
    let req: http.ClientRequest;
    try {
      req = mod.request(options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const between = call.betweenBytesTimeoutMs;
        if (between) res.setTimeout(between, () => res.destroy(Object.assign(new Error('between-bytes timeout'), { code: 'ETIMEDOUT' })));
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > call.maxResponseBytes) {
            done({ ok: false, error: { tag: 'HTTP-response-body-size', val: BigInt(size) } });
            res.destroy();
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const out: [string, Uint8Array][] = [];
          const raw = res.rawHeaders;
          for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), new Uint8Array(Buffer.from(raw[i + 1]!, 'latin1'))]);
          done({ ok: true, status: res.statusCode ?? 0, headers: out, body: new Uint8Array(Buffer.concat(chunks)) });
        });
        res.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: e.code === 'ETIMEDOUT' ? { tag: 'connection-read-timeout' } : { tag: 'HTTP-response-incomplete' } }));
      });
    } catch {
      done({ ok: false, error: { tag: 'HTTP-request-URI-invalid' } });
      return;
    }
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    if (signal) {
      if (signal.aborted) req.destroy();
      else {
        // The signal lives as long as the instance: a listener left on it would keep every
        // finished request (and its socket) alive until then — about 8 KiB per request.
        const onAbort = () => req.destroy();
        signal.addEventListener('abort', onAbort, { once: true });
        req.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    req.on('error', (e: NodeJS.ErrnoException) => done({ ok: false, error: errorFor(e) }));
    if (call.body && call.body.length > 0) req.write(call.body);
    req.end();
  });
}
