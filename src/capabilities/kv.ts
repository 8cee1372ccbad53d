/**
 * `agent-os:sandbox/kv`: the agent's key-value state. The guest side only carries the call to
 * the host thread, where it is decided (capability `storage`, the data policies on `kv/<key>`),
 * recorded and carried out on the encrypted store, in the agent's own namespace.
 */
import type { CommsReply, KvRequest } from './comms-rpc.js';
import type { HostContext } from './context.js';
import { err, ok, type Result } from './io.js';

/** `kv-error` as jco represents the variant. */
export type KvError = { tag: 'denied' | 'quota' | 'invalid' | 'unavailable'; val: string };

/** Keys longer than this are refused in the guest's thread, before any copy to the host. */
const MAX_KEY = 512;

/** Carry one call to the host and map its reply to the interface's result. */
export function hostCall<T>(ctx: HostContext, method: 'kv' | 'msg', req: unknown, map: (v: unknown) => T = (v) => v as T): Result<T, { tag: string; val: string }> {
  if (!ctx.rpc) return err({ tag: 'unavailable', val: 'not available in this isolation mode' });
  ctx.flush();
  const id = ctx.rpc.start(method, req);
  const reply = ctx.rpc.wait(id);
  if (!reply) {
    // The run is being stopped: a receive still waiting on the host must not take a message
    // that no one will read.
    if (method === 'msg' && (req as { op?: string }).op === 'receive') ctx.rpc.start('msg', { op: 'cancel-receive' });
    return err({ tag: 'unavailable', val: 'the agent is being stopped' });
  }
  if (!reply.ok) return err({ tag: 'unavailable', val: reply.error });
  const r = reply.value as CommsReply;
  return r.ok ? ok(map(r.value)) : err({ tag: r.tag === 'not-found' && method === 'kv' ? 'invalid' : r.tag, val: r.message });
}

/** Build the `agent-os:sandbox/kv` import. */
export function kvImports(ctx: HostContext): Record<string, Record<string, unknown>> {
  const call = <T>(req: KvRequest, map?: (v: unknown) => T) => hostCall(ctx, 'kv', req, map) as Result<T, KvError>;
  const badKey = (key: unknown): Result<never, KvError> | undefined =>
    typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY ? err({ tag: 'invalid', val: `a key is 1 to ${MAX_KEY} characters` }) : undefined;
  return {
    'agent-os:sandbox/kv': {
      get: (key: string) => badKey(key) ?? call<Uint8Array | undefined>({ op: 'get', key }, (v) => (v === null || v === undefined ? undefined : (v as Uint8Array))),
      set: (key: string, value: Uint8Array, ttlMs: bigint | undefined) => {
        const bad = badKey(key);
        if (bad) return bad;
        if (ttlMs !== undefined && (ttlMs <= 0n || ttlMs > 10n ** 13n)) return err({ tag: 'invalid', val: 'ttl-ms must be between 1 and 10^13' });
        return call<undefined>({ op: 'set', key, value, ...(ttlMs !== undefined ? { ttlMs: Number(ttlMs) } : {}) }, () => undefined);
      },
      delete: (key: string) => badKey(key) ?? call<boolean>({ op: 'delete', key }, (v) => v === true),
      listKeys: (prefix: string) => (typeof prefix === 'string' && prefix.length <= MAX_KEY ? call<string[]>({ op: 'list', key: prefix }) : err({ tag: 'invalid', val: `a prefix is at most ${MAX_KEY} characters` })),
    },
  };
}
