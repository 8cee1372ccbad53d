/**
 * `wasi:http/outgoing-handler` and `wasi:http/types`.
 *
 * `handle` builds the URL from the request's scheme, authority and path once (WHATWG parser),
 * canonicalizes the host, asks the gate, and on allow sends exactly that parsed target to the
 * host thread, which performs the request. A denial is the WIT error `HTTP-request-denied`.
 */
import type { HostContext } from '../context.js';
import { err, ok, type Result } from '../io.js';
import { parseHttpTarget } from '../../policy/network.js';
import { HOUR } from '../../limits/quota.js';
import type { HttpCall, HttpErrorCode, HttpOutcome } from './executor.js';
import {
  Fields,
  FutureIncomingResponse,
  FutureTrailers,
  IncomingBody,
  IncomingRequest,
  IncomingResponse,
  OutgoingBody,
  OutgoingRequest,
  OutgoingResponse,
  RequestOptions,
  ResponseOutparam,
  type ResponseSource,
} from './types.js';

const API = 'wasi:http/outgoing-handler#handle';

function methodName(m: { tag: string; val?: string }): string {
  return m.tag === 'other' ? String(m.val) : m.tag.toUpperCase();
}

function nsToMs(ns: bigint | undefined): number | undefined {
  return ns === undefined ? undefined : Math.max(1, Number(ns / 1_000_000n));
}

/** A response on its way back from the host thread; `arrived(bytes)` is told once it is here. */
function rpcSource(ctx: HostContext, id: number, arrived: (responseBytes: number) => void): ResponseSource {
  let outcome: HttpOutcome | undefined;
  const settle = (r: { ok: true; value: unknown } | { ok: false; error: string }): void => {
    outcome = r.ok ? (r.value as HttpOutcome) : { ok: false, error: { tag: 'internal-error', val: r.error } };
    arrived(outcome.ok ? outcome.body.length : 0);
  };
  const arrive = (): boolean => {
    if (outcome) return true;
    const r = ctx.rpc!.poll(id);
    if (!r) return false;
    settle(r);
    return true;
  };
  return {
    ready: arrive,
    block(deadlineNs) {
      if (arrive()) return;
      const r = ctx.rpc!.wait(id, deadlineNs);
      if (r) settle(r);
    },
    take() {
      if (!arrive() || !outcome) return undefined;
      const o = outcome;
      return o.ok ? ok(new IncomingResponse(o.status, o.headers, o.body)) : err(o.error);
    },
  };
}

/** A response that is already known (an error decided before sending). */
function failedSource(e: HttpErrorCode): ResponseSource {
  return { ready: () => true, block: () => {}, take: () => err(e) };
}

/** Build the `wasi:http/*` imports for one instance. */
export function httpImports(ctx: HostContext): Record<string, Record<string, unknown>> {
  const handle = (request: OutgoingRequest, options: RequestOptions | undefined): Result<FutureIncomingResponse, HttpErrorCode> => {
    const scheme = request.schemeValue;
    const schemeName = scheme === undefined ? 'https' : scheme.tag === 'HTTP' ? 'http' : scheme.tag === 'HTTPS' ? 'https' : scheme.val;
    const authority = request.authorityValue ?? '';
    const path = request.pathValue ?? '/';
    const target = parseHttpTarget(schemeName, authority, path);
    if ('error' in target) {
      ctx.gate.refuse(
        { capability: 'network_access', resource: 'network', action: 'connect', target: `${schemeName}://${authority}`.slice(0, 512), api: API },
        `malformed request target: ${target.error}`,
      );
      return err({ tag: 'HTTP-request-URI-invalid' });
    }
    const d = ctx.gate.http(target, API);
    if (!d.allowed) return err(d.quota ? { tag: 'connection-limit-reached' } : { tag: 'HTTP-request-denied' });
    const privateRanges = ctx.gate.privateRanges();
    // The gate counted this request as open (maxConnections); it closes when its outcome arrives.
    const quota = ctx.gate.quota;
    const transferLimit = quota?.policy.dataTransferLimit;
    let closed = false;
    const close = (responseBytes: number) => {
      if (closed || !quota) return;
      closed = true;
      if (quota.policy.maxConnections !== undefined) quota.gauge('net:conn', -1);
      if (transferLimit !== undefined) quota.add('net:bytes', responseBytes, HOUR);
    };
    if (!ctx.rpc) return err({ tag: 'internal-error', val: 'outbound HTTP is not available in this isolation mode' });
    const body = request.bodyValue;
    // The request is sent when the guest first waits for the response, so a body written
    // after `handle` (the usual order) is included.
    let id: number | undefined;
    const send = () => {
      if (id !== undefined) return;
      ctx.flush();
      const sent = body ? body.bytes() : null;
      let maxResponseBytes = ctx.caps.maxResponseBytes;
      if (quota && transferLimit !== undefined) {
        // Request bytes count now; the response may use what is left of the hour's allowance.
        quota.add('net:bytes', sent?.length ?? 0, HOUR);
        maxResponseBytes = Math.max(0, Math.min(maxResponseBytes, transferLimit - quota.used('net:bytes', HOUR)));
      }
      const call: HttpCall = {
        method: methodName(request.methodValue),
        scheme: target.scheme,
        host: target.host,
        port: target.port,
        authority: target.authority,
        pathWithQuery: target.pathWithQuery,
        headers: request.headerFields.list,
        body: sent,
        maxResponseBytes,
        privateRanges,
        connectTimeoutMs: nsToMs(options?.connect),
        firstByteTimeoutMs: nsToMs(options?.firstByte),
        betweenBytesTimeoutMs: nsToMs(options?.betweenBytes),
      };
      id = ctx.rpc!.start('http', call);
    };
    let inner: ResponseSource | undefined;
    const source: ResponseSource = {
      ready() {
        if (!inner) {
          if (body && !body.finished) return false;
          send();
          inner = rpcSource(ctx, id!, close);
        }
        return inner.ready();
      },
      block(deadlineNs) {
        if (!inner) {
          send();
          inner = rpcSource(ctx, id!, close);
        }
        inner.block(deadlineNs);
      },
      take() {
        return inner?.take();
      },
    };
    return ok(new FutureIncomingResponse(source));
  };
  return {
    'wasi:http/outgoing-handler': { handle },
    'wasi:http/types': {
      Fields,
      FutureIncomingResponse,
      FutureTrailers,
      IncomingBody,
      IncomingRequest,
      IncomingResponse,
      OutgoingBody,
      OutgoingRequest,
      OutgoingResponse,
      RequestOptions,
      ResponseOutparam,
      httpErrorCode: () => undefined,
    },
  };
}

export { failedSource };
