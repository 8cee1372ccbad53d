/**
 * Turning a proxy request line into the inputs of `parseHttpTarget` (the parser the
 * `wasi:http` path uses), and the header hygiene of a forwarding proxy. Nothing here decides:
 * it only splits text, so that the one canonicalizer and the one matcher see exactly what a
 * `wasi:http` request would hand them.
 */

/** A request target split into what `parseHttpTarget(scheme, authority, path)` takes. */
export interface SplitTarget {
  readonly scheme: string;
  readonly authority: string;
  readonly pathWithQuery: string;
}

/**
 * Split a `CONNECT` request target (authority-form, `host:port`). Every tunnel is decided as
 * scheme `https`: the proxy cannot see what flows through a tunnel, and an opaque byte stream
 * is what the `https` protocol grants, whereas `http` grants only plain requests the proxy
 * reads and forwards itself. The port must be explicit (RFC 9110 §9.3.6), so a tunnel to port
 * 80 or 8443 is decided as https on that port: the policy must list the port in `allowedPorts`.
 *
 * @example
 * ```ts
 * splitConnectTarget('api.github.com:443'); // { scheme: 'https', authority: 'api.github.com:443', pathWithQuery: '/' }
 * splitConnectTarget('api.github.com');     // { error: '… needs host:port …' }
 * ```
 */
export function splitConnectTarget(raw: string): SplitTarget | { error: string } {
  // `[v6]:port` or `name:port`; a bare IPv6 without brackets is ambiguous and refused.
  const m = /^(\[[^\]]*\]|[^:[\]]+):(\d{1,5})$/.exec(raw);
  if (!m) return { error: `CONNECT target ${JSON.stringify(raw.slice(0, 200))} must be host:port (IPv6 in brackets)` };
  return { scheme: 'https', authority: raw, pathWithQuery: '/' };
}

/**
 * Split an absolute-form request target (`http://host:port/path?q`). A target that is not in
 * absolute form (`/path`, `*`) is refused: a client talking to the proxy must name the origin.
 *
 * @example
 * ```ts
 * splitAbsoluteTarget('http://127.0.0.1:8080/a?b'); // { scheme: 'http', authority: '127.0.0.1:8080', pathWithQuery: '/a?b' }
 * ```
 */
export function splitAbsoluteTarget(raw: string): SplitTarget | { error: string } {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s.exec(raw);
  if (!m) return { error: `request target ${JSON.stringify(raw.slice(0, 200))} is not absolute-form; send "GET http://host/path" to the proxy` };
  const rest = m[3]!;
  // `http://host?q` has an empty path; the origin-form of that is `/?q`.
  return { scheme: m[1]!, authority: m[2]!, pathWithQuery: rest.startsWith('?') ? `/${rest}` : rest || '/' };
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own: never forwarded either way. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Copy `rawHeaders` (Node's flat `[name, value, …]` list) without hop-by-hop headers, any
 * `Proxy-*` header, the names the `Connection` header lists, and `drop` (lower case). Order and
 * repeated names are kept.
 *
 * @example
 * ```ts
 * forwardableHeaders(['Host', 'x', 'Connection', 'close, X-A', 'X-A', '1', 'X-B', '2'], ['host']);
 * // ['X-B', '2']
 * ```
 */
export function forwardableHeaders(rawHeaders: readonly string[], drop: readonly string[] = []): string[] {
  const listed = new Set(drop);
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'connection') {
      for (const name of rawHeaders[i + 1]!.split(',')) listed.add(name.trim().toLowerCase());
    }
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const key = name.toLowerCase();
    if (HOP_BY_HOP.has(key) || key.startsWith('proxy-') || listed.has(key)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}
