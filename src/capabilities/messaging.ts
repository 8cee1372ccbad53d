/**
 * `agent-os:sandbox/messaging`: messages between agents. The guest side carries each call to
 * the host thread, where it is decided (capability `messaging`, `messaging.peers` and topics,
 * the authorization model), recorded, signed and encrypted (`src/messaging/`); `receive` waits
 * on the host for the next verified message, until its timeout or until the run must stop.
 */
import { hostCall, type DeliveredMessage, type MsgRequest } from './comms-rpc.js';
import type { HostContext } from './context.js';
import { err, ok, type Result } from './io.js';
import { currentGuest } from './io.js';

/** `messaging-error` as jco represents the variant. */
export type MessagingError = { tag: 'denied' | 'not-found' | 'quota' | 'invalid' | 'unavailable'; val: string };

/** `message` as jco represents the record. */
interface GuestMessage {
  id: string;
  sender: string;
  senderType: string;
  topic: string | undefined;
  replyTo: string | undefined;
  timestamp: bigint;
  body: Uint8Array;
}

const MAX_NAME = 256;
const bad = (what: string): Result<never, MessagingError> => err({ tag: 'invalid', val: what });
const nameOk = (s: unknown): s is string => typeof s === 'string' && s.length > 0 && s.length <= MAX_NAME;

function toGuest(m: DeliveredMessage): GuestMessage {
  return { id: m.id, sender: m.sender, senderType: m.senderType, topic: m.topic, replyTo: m.replyTo, timestamp: BigInt(m.timestamp), body: m.body };
}

/** Build the `agent-os:sandbox/messaging` import. */
export function messagingImports(ctx: HostContext): Record<string, Record<string, unknown>> {
  const call = <T>(req: MsgRequest, map?: (v: unknown) => T) => hostCall(ctx, 'msg', req, map) as Result<T, MessagingError>;
  return {
    'agent-os:sandbox/messaging': {
      peers: () => {
        const r = call<{ id: string; agentType: string; roles: string[] }[]>({ op: 'peers' });
        return r.tag === 'ok' ? r.val : [];
      },
      send: (to: string, body: Uint8Array) => (nameOk(to) ? call<string>({ op: 'send', to, body }) : bad('the recipient is an agent id of 1 to 256 characters')),
      reply: (messageId: string, body: Uint8Array) => (nameOk(messageId) ? call<string>({ op: 'reply', to: messageId, body }) : bad('unknown message id')),
      publish: (topic: string, body: Uint8Array) => (nameOk(topic) ? call<number>({ op: 'publish', topic, body }) : bad('a topic is 1 to 256 characters')),
      subscribe: (topic: string) => (nameOk(topic) ? call<undefined>({ op: 'subscribe', topic }, () => undefined) : bad('a topic is 1 to 256 characters')),
      unsubscribe: (topic: string) => {
        if (nameOk(topic)) call({ op: 'unsubscribe', topic });
      },
      receive: (timeoutMs: number): Result<GuestMessage | undefined, MessagingError> => {
        // A run being stopped does not start waiting (the host's wait also ends when it is).
        if (Atomics.load(currentGuest.interrupt, 0) !== 0) return ok(undefined);
        currentGuest.checkpoint();
        return call<GuestMessage | undefined>({ op: 'receive', timeoutMs: Math.max(0, Math.min(timeoutMs >>> 0, 3_600_000)) }, (v) => (v ? toGuest(v as DeliveredMessage) : undefined));
      },
    },
  };
}
