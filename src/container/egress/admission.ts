/**
 * Admission: the one decision a proxied connection gets, in the order that keeps it honest.
 *
 * 1. The request target is split (target.ts) and canonicalized by `parseHttpTarget`, the
 *    parser of the `wasi:http` path; a malformed target is recorded with `gate.refuse`.
 * 2. `gate.http(target, api)` decides, exactly as for a WebAssembly agent's `wasi:http`
 *    request (capability guard, `networkRules` matcher, authorization model, rates,
 *    `maxConnections`, `dataTransferLimit`) and writes the audit record.
 * 3. Only then is the name resolved, so a denied name never even reaches DNS (no exfiltration
 *    through lookups of names the policy refuses). Every resolved address is checked
 *    (address.ts); if any is refused the connection is refused and that is recorded too.
 * 4. The caller connects to exactly the address that was checked: no second lookup, so a
 *    resolver that answers differently the second time (DNS rebinding) changes nothing.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseHttpTarget, type HttpTarget } from '../../policy/network.js';
import type { AccessRequest, Decision } from '../../gate/types.js';
import { addressInRanges } from '../../policy/address-ranges.js';
import { classifyAddress } from './address.js';
import { splitAbsoluteTarget, splitConnectTarget } from './target.js';
import type { EgressGate, LookupAddress } from './types.js';

/** The `api` of audit records for tunnels and for forwarded requests. */
export const API_CONNECT = 'agentos:egress-proxy#connect';
export const API_FORWARD = 'agentos:egress-proxy#forward';

/** The rule named when the resolved address, not the policy, refused. */
export const ADDRESS_RULE = 'resolved address';

/** An admitted connection: connect to `address`, then call `release()` exactly when it ends. */
export interface Admitted {
  readonly ok: true;
  readonly target: HttpTarget;
  readonly address: string;
  readonly family: 4 | 6;
  readonly decision: Decision;
  /** Give back the `maxConnections` slot the gate took (idempotent). */
  readonly release: () => void;
}

/** A refusal, with what to answer the client and what to report. */
export interface Refused {
  readonly ok: false;
  readonly status: number;
  readonly host: string;
  readonly port: number;
  readonly scheme: string;
  readonly reason: string;
  readonly rule: string;
  /** True when the policy allowed but something after it failed (DNS): not a denial. */
  readonly failed?: boolean;
}

/** What admission needs besides the request. */
export interface AdmitContext {
  readonly gate: EgressGate;
  readonly lookup?: ((hostname: string) => Promise<readonly LookupAddress[]>) | undefined;
  readonly awaitAudit?: (() => Promise<boolean>) | undefined;
}

const defaultLookup = (host: string): Promise<LookupAddress[]> => dnsLookup(host, { all: true, verbatim: true });

function networkRequest(target: string, api: string): AccessRequest {
  return { capability: 'network_access', resource: 'network', action: 'connect', target: target.slice(0, 512), api };
}

/**
 * The policy field a denial is about, for the 403 body and the report: the quota's name, or the
 * first `networkRules.*` / `capabilities.*` field the gate's reason names.
 */
export function ruleOf(d: Decision): string {
  if (d.quota) return d.quota.limit;
  if (d.auditUnavailable) return 'audit log';
  if (d.unauthenticated) return 'agent identity';
  const m = /\b((?:networkRules|capabilities)\.[A-Za-z]+)/.exec(d.reason);
  if (m) return m[1]!;
  return d.matched.length > 0 ? d.matched.join(', ') : 'authorization policy';
}

/**
 * Decide one proxied connection. `kind` says how `raw` is written: `connect` (authority-form,
 * decided as https) or `forward` (absolute-form `http://…`). Never throws.
 *
 * @example
 * ```ts
 * const a = await admit({ gate }, 'connect', 'api.github.com:443');
 * if (a.ok) { const s = net.connect(a.target.port, a.address); s.on('close', a.release); }
 * ```
 */
export async function admit(ctx: AdmitContext, kind: 'connect' | 'forward', raw: string): Promise<Admitted | Refused> {
  const api = kind === 'connect' ? API_CONNECT : API_FORWARD;
  const split = kind === 'connect' ? splitConnectTarget(raw) : splitAbsoluteTarget(raw);
  const target = 'error' in split ? split : parseHttpTarget(split.scheme, split.authority, split.pathWithQuery);
  if ('error' in target) {
    const shown = 'error' in split ? raw : `${split.scheme}://${split.authority}`;
    const reason = `malformed request target: ${target.error}`;
    ctx.gate.refuse(networkRequest(shown, api), reason);
    return { ok: false, status: 400, host: shown.slice(0, 200), port: 0, scheme: '', reason, rule: 'request target' };
  }
  const origin = `${target.scheme}://${target.authority}`;
  const refused = (status: number, reason: string, rule: string, failed = false): Refused => ({
    ok: false, status, host: target.host, port: target.port, scheme: target.scheme, reason, rule, ...(failed ? { failed } : {}),
  });
  if (kind === 'forward' && target.scheme === 'https') {
    // The proxy never originates TLS: it would have to see the agent's plaintext and choose
    // trust roots for it. HTTPS clients tunnel with CONNECT instead.
    const reason = `absolute-form https requests are not proxied; send "CONNECT ${target.host}:${target.port}" and speak TLS through the tunnel`;
    ctx.gate.refuse(networkRequest(origin, api), reason);
    return refused(400, reason, 'request target');
  }
  const d = ctx.gate.http(target, api);
  if (!d.allowed) return refused(d.auditUnavailable ? 503 : 403, d.reason, ruleOf(d));
  // From here the gate counts this connection as open (maxConnections) until release().
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    const q = ctx.gate.quota;
    if (q && q.policy.maxConnections !== undefined) q.gauge('net:conn', -1);
  };
  try {
    if (ctx.awaitAudit && !(await ctx.awaitAudit())) {
      release();
      return refused(503, `AUDIT_UNAVAILABLE: the decision on ${origin} could not be recorded durably, so the connection is refused`, 'audit log');
    }
    const r = await resolveChecked(ctx, target, d);
    if ('error' in r) {
      release();
      return refused(502, r.error, 'dns', true);
    }
    if ('refused' in r) {
      release();
      ctx.gate.refuse(networkRequest(origin, api), r.refused, r.rule === undefined ? undefined : [r.rule]);
      return refused(403, r.refused, r.rule === undefined ? ADDRESS_RULE : 'threat-intelligence list');
    }
    return { ok: true, target, address: r.address, family: r.family, decision: d, release };
  } catch (e) {
    release();
    return refused(502, `internal error while admitting ${origin}: ${e instanceof Error ? e.message : String(e)}`, 'proxy', true);
  }
}

/** `rule`: the indicator that refused (an address the threat-intelligence list names). */
type Resolved = { address: string; family: 4 | 6 } | { refused: string; rule?: string } | { error: string };

const OWN_ADDRESS_HINT = 'request the address itself and add it to networkRules.allowedHosts to allow it on purpose';

/** Resolve (names only) and check every address. */
async function resolveChecked(ctx: AdmitContext, target: HttpTarget, d: Decision): Promise<Resolved> {
  if (target.hostIsIp) {
    const address = target.host.startsWith('[') ? target.host.slice(1, -1) : target.host;
    const c = classifyAddress(address);
    if (c?.metadata) {
      return { refused: `${address} is a cloud metadata address (${c.range}); the egress proxy never connects to it, whatever networkRules say` };
    }
    // An IP literal the gate allowed was matched by an allowedHosts entry naming exactly this
    // address (wildcards never match addresses): that is the policy saying "this one, on purpose".
    if (c && !d.matched.includes(`networkRules:${target.host}`)) {
      return { refused: `${address} is a ${c.label} address (${c.range}); add "${address}" to networkRules.allowedHosts to allow it on purpose` };
    }
    const listed = ctx.gate.blockedAddress?.(address, target.host);
    if (listed) return { refused: listed.reason, rule: listed.rule };
    return { address, family: isIP(address) === 6 ? 6 : 4 };
  }
  // Read before the lookup: the ranges of the policy that allowed the name.
  const privateRanges = ctx.gate.privateRanges?.() ?? [];
  let addrs: readonly LookupAddress[];
  try {
    addrs = await (ctx.lookup ?? defaultLookup)(target.host);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    return { error: `DNS lookup of ${target.host} failed (${code})` };
  }
  if (addrs.length === 0) return { error: `DNS lookup of ${target.host} returned no address` };
  for (const a of addrs) {
    const c = classifyAddress(a.address);
    if (c?.metadata) return { refused: `host "${target.host}" resolves to ${a.address}, a cloud metadata address (${c.range}); the egress proxy never connects to it` };
    // A name may lead to a non-public address only inside a range the policy names.
    if (c && addressInRanges(a.address, privateRanges) === undefined) {
      return {
        refused: `host "${target.host}" resolves to ${a.address}, a ${c.label} address (${c.range}); host names may only lead to public addresses — add the range to networkRules.privateRanges, or ${OWN_ADDRESS_HINT}`,
      };
    }
    // Any listed address refuses the name: the proxy must not pick the one that passes.
    const listed = ctx.gate.blockedAddress?.(a.address, target.host);
    if (listed) return { refused: listed.reason, rule: listed.rule };
  }
  const first = addrs[0]!;
  return { address: first.address, family: isIP(first.address) === 6 ? 6 : 4 };
}
