/**
 * Name resolution through given DNS servers instead of the system resolver
 * (`SandboxOptions.dns`): A and AAAA asked at once, one answer per request. The callers resolve a
 * name once, check every address, and connect to exactly those: a server that answers
 * differently the next time (DNS rebinding) is never asked again for the same connection.
 *
 * @example
 * ```ts
 * const lookup = serversLookup(['127.0.0.1:5353']);
 * await lookup('api.example.com'); // [{ address: '93.184.215.14', family: 4 }]
 * ```
 */
import type { LookupAddress } from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';

/** A name → every address it resolves to. */
export type NameLookup = (host: string) => Promise<LookupAddress[]>;

/** Check `servers` (IP addresses, optionally `:port`, IPv6 as `[::1]:53`). */
export function checkDnsServers(servers: unknown): string[] {
  if (!Array.isArray(servers) || servers.length === 0 || servers.length > 8) throw new UsageError('dns.servers must list 1 to 8 DNS servers, e.g. ["10.0.0.53", "127.0.0.1:5353"]');
  return servers.map((s) => {
    const m = typeof s === 'string' ? /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+))(?::(\d{1,5}))?$/.exec(s) : null;
    const ip = m ? (m[1] ?? m[2]!) : '';
    const port = m?.[3] !== undefined ? Number(m[3]) : 53;
    if (!m || isIP(ip) === 0 || port < 1 || port > 65535) throw new UsageError(`dns.servers: ${JSON.stringify(s)} is not a server address; write an IP address with an optional port, e.g. "127.0.0.1:5353" or "[::1]:53"`);
    return s as string;
  });
}

/** Resolve through `servers`; rejects with code `ENOTFOUND` when neither family has an address. */
export function serversLookup(servers: readonly string[]): NameLookup {
  const r = new Resolver({ timeout: 2000, tries: 2 });
  r.setServers([...servers]);
  return async (host) => {
    const [a, aaaa] = await Promise.allSettled([r.resolve4(host), r.resolve6(host)]);
    const out: LookupAddress[] = [
      ...(a.status === 'fulfilled' ? a.value.map((address) => ({ address, family: 4 })) : []),
      ...(aaaa.status === 'fulfilled' ? aaaa.value.map((address) => ({ address, family: 6 })) : []),
    ];
    if (out.length === 0) throw Object.assign(new Error(`no address for ${host} from ${servers.join(', ')}`), { code: 'ENOTFOUND' });
    return out;
  };
}
