/**
 * `agent-os:sandbox/kv`: the agent's key-value state. The guest side only carries the call to
 * the host thread, where it is decided (capability `storage`, the data policies on `kv/<key>`),
 * recorded and carried out on the encrypted store, in the agent's own namespace.
 */
import { hostCall, type KvRequest } from './comms-rpc.js';
import type { HostContext } from './context.js';
import { err, type Result } from './io.js';

/** `kv-error` as jco represents the variant. */
export type KvError = { tag: 'denied' | 'quota' | 'invalid' | 'unavailable'; val: string };

/** Keys longer than this are refused in the guest's thread, before any copy to the host. */
const MAX_KEY = 512;

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
