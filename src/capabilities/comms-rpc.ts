/**
 * What crosses between an agent's thread and the host for `agent-os:sandbox/kv` and
 * `agent-os:sandbox/messaging`. Both interfaces are decided and carried out on the host thread
 * (`src/sandbox/comms-host.ts`): the other agents, the message keys and the encrypted store
 * live there, and LevelDB is only ever touched from the main thread.
 */

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
