/**
 * What crosses between an agent's thread and the host for `agent-os:sandbox/kv` and
 * `agent-os:sandbox/messaging`, and {@link hostCall}, how the guest side carries a call across.
 * Both interfaces are decided and carried out on the host thread (`src/sandbox/comms-host.ts`):
 * the other agents, the message keys and the encrypted store live there, and LevelDB is only
 * ever touched from the main thread.
 */
import type { HostContext } from './context.js';
import { err, ok, type Result } from './io.js';

/** An interface error as the guest sees it (`kv-error` / `messaging-error` cases share these names). */
export type CommsErrorTag = 'denied' | 'not-found' | 'quota' | 'invalid' | 'unavailable';

/** A request of the `kv` host method. */
export type KvRequest =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'set'; readonly key: string; readonly value: Uint8Array; readonly ttlMs?: number }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'list'; readonly key: string };

/** A request of the `msg` host method. */
export type MsgRequest =
  | { readonly op: 'peers' }
  | { readonly op: 'send'; readonly to: string; readonly body: Uint8Array }
  | { readonly op: 'reply'; readonly to: string; readonly body: Uint8Array }
  | { readonly op: 'publish'; readonly topic: string; readonly body: Uint8Array }
  | { readonly op: 'subscribe'; readonly topic: string }
  | { readonly op: 'unsubscribe'; readonly topic: string }
  | { readonly op: 'receive'; readonly timeoutMs: number }
  | { readonly op: 'cancel-receive' };

/** A delivered message, as the host hands it to the guest thread. */
export interface DeliveredMessage {
  readonly id: string;
  readonly sender: string;
  readonly senderType: string;
  readonly topic?: string;
  readonly replyTo?: string;
  readonly timestamp: number;
  readonly body: Uint8Array;
}

/** The host's answer to a `kv` or `msg` request. */
export type CommsReply = { readonly ok: true; readonly value?: unknown } | { readonly ok: false; readonly tag: CommsErrorTag; readonly message: string };

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
  return r.ok ? ok(map(r.value)) : err({ tag: r.tag, val: r.message });
}
