// agentos.js: the agent-os:sandbox `kv` and `messaging` interfaces for JavaScript agents,
// with strings and JSON instead of byte lists, and one error class.
//
// `agentos build` (jco componentize) does not bundle relative imports: an agent cannot
// `import ... from './agentos.js'`. Copy this file's contents into the agent (above its own
// code; the imports below are hoisted either way), or bundle the agent first with a bundler
// that leaves `agent-os:*` imports external.
//
//   kv.set('progress/x', 'pending', { ttlMs: 60_000 });  kv.get('progress/x') → 'pending'
//   const id = messaging.send('reviewer-1', { files });   // objects travel as JSON
//   const m = messaging.receive(5000);                    // null when nothing came in time
//   if (m) messaging.reply(m.id, { ok: true, got: m.json() });
//
// Every call passes the gate: the policy must grant `storage` (kv) or `messaging`; its
// dataPolicies (data id `kv/<key>`) and `messaging.peers` decide further. A refusal throws
// AgentOsError with `kind` = the WIT error case: denied, quota, invalid, unavailable, not-found.
import { get as kvGet, set as kvSet, delete as kvDelete, listKeys } from 'agent-os:sandbox/kv@0.1.0';
import {
  peers as witPeers,
  send as witSend,
  publish as witPublish,
  subscribe as witSubscribe,
  unsubscribe as witUnsubscribe,
  receive as witReceive,
  reply as witReply,
} from 'agent-os:sandbox/messaging@0.1.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A kv or messaging call that did not succeed; `kind` is the WIT error case. */
export class AgentOsError extends Error {
  constructor(kind, message, op) {
    super(`${op}: ${kind}: ${message}`);
    this.name = 'AgentOsError';
    this.kind = kind;
    this.op = op;
    this.detail = message;
  }
}

// WIT errors arrive as thrown objects whose `payload` is the variant `{ tag, val }`.
function call(op, fn) {
  try {
    return fn();
  } catch (e) {
    if (e && typeof e === 'object' && e.payload && typeof e.payload.tag === 'string') {
      throw new AgentOsError(e.payload.tag, String(e.payload.val ?? ''), op);
    }
    throw e;
  }
}

/** Uint8Array as is, strings as UTF-8, anything else as JSON. */
function toBytes(value) {
  if (value instanceof Uint8Array) return value;
  return encoder.encode(typeof value === 'string' ? value : JSON.stringify(value));
}

export const kv = {
  /** The value under `key` as text, or null. */
  get(key) {
    const bytes = kv.getBytes(key);
    return bytes === null ? null : decoder.decode(bytes);
  },
  /** The raw value under `key`, or null. */
  getBytes(key) {
    const v = call('kv.get', () => kvGet(key));
    return v === undefined || v === null ? null : v;
  },
  /** The value under `key` parsed as JSON, or null. */
  getJson(key) {
    const text = kv.get(key);
    return text === null ? null : JSON.parse(text);
  },
  /** Store `value` (string, Uint8Array, or anything else as JSON); `ttlMs` makes it expire. */
  set(key, value, { ttlMs } = {}) {
    call('kv.set', () => kvSet(key, toBytes(value), ttlMs === undefined ? undefined : BigInt(ttlMs)));
  },
  /** Delete `key`; true when there was a value. */
  delete(key) {
    return call('kv.delete', () => kvDelete(key));
  },
  /** Keys starting with `prefix`, in order (at most 1,000). */
  list(prefix = '') {
    return [...call('kv.list', () => listKeys(prefix))];
  },
};

function wrapMessage(m) {
  if (m === undefined || m === null) return null;
  const text = decoder.decode(m.body);
  return {
    id: m.id,
    sender: m.sender,
    senderType: m.senderType,
    topic: m.topic ?? null,
    replyTo: m.replyTo ?? null,
    timestamp: Number(m.timestamp),
    body: m.body,
    text,
    json: () => JSON.parse(text),
  };
}

export const messaging = {
  /** Agents this one may message now: [{ id, agentType, roles }]. */
  peers() {
    return witPeers().map((p) => ({ id: p.id, agentType: p.agentType, roles: [...p.roles] }));
  },
  /** Send to agent `to`; returns the message id. */
  send(to, body) {
    return call('messaging.send', () => witSend(to, toBytes(body)));
  },
  /** Publish on `topic`; returns how many agents it reached. */
  publish(topic, body) {
    return call('messaging.publish', () => witPublish(topic, toBytes(body)));
  },
  subscribe(topic) {
    call('messaging.subscribe', () => witSubscribe(topic));
  },
  unsubscribe(topic) {
    witUnsubscribe(topic);
  },
  /** The next message, waiting up to `timeoutMs` (0: do not wait), or null. */
  receive(timeoutMs = 0) {
    return wrapMessage(call('messaging.receive', () => witReceive(timeoutMs)));
  },
  /** Answer received message `id`; returns the reply's id. */
  reply(id, body) {
    return call('messaging.reply', () => witReply(id, toBytes(body)));
  },
};
