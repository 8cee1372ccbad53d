/**
 * The gate's rules for the interfaces between agents: `agent-os:sandbox/messaging` (who may
 * message whom, which topics) and `agent-os:sandbox/kv` (the agent's own namespace, decided key
 * by key by the data policies).
 *
 * Two layers, as for every call: the sandbox policy (the `messaging` or `storage` capability,
 * then `messaging.peers` / `messaging.topics`), then the authorization model when the policy has
 * one (resource `agent` with the recipient's `id`, `agentType` and `roles`, action `message`;
 * resource `topic`; resource `data` with data id `kv/<key>`, actions read/write/delete). Deny by
 * default: with neither `messaging.peers` nor a model, no agent may be messaged.
 *
 * @example
 * ```ts
 * const d = decideMessage(gate, { id: 'reviewer-1', type: 'code-reviewer', roles: ['code-reviewer'] }, 'send', { messageId, bytes: 120 });
 * if (!d.allowed) return err({ tag: 'denied', val: d.reason });
 * ```
 */
import type { Gate, GatePolicy } from './gate.js';
import type { Decision } from './types.js';

/** An agent as messaging decisions see it (from the sandbox's directory, verified). */
export interface PeerInfo {
  readonly id: string;
  /** Its policy's `agent.type` ('' when none). */
  readonly type: string;
  readonly roles: readonly string[];
}

const MESSAGING_API = 'agent-os:sandbox/messaging';
const KV_API = 'agent-os:sandbox/kv';

const allow = (reason: string, matched: string[]): Decision => ({ allowed: true, reason, matched });
const deny = (reason: string, matched: string[] = []): Decision => ({ allowed: false, reason, matched });

/** The `messaging.peers` entry that admits `peer`, if any: `*`, its type, `id:<id>` or `role:<role>`. */
export function peerEntry(peers: readonly string[], peer: PeerInfo): string | undefined {
  return peers.find((p) => p === '*' || (p.startsWith('id:') ? p.slice(3) === peer.id : p.startsWith('role:') ? peer.roles.includes(p.slice(5)) : p === peer.type && peer.type !== ''));
}

/** `review.*` matches `review.results` and `review.a.b`; `*` matches every topic; otherwise equality. */
export function topicMatches(pattern: string, topic: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return topic.startsWith(pattern.slice(0, -1));
  return pattern === topic;
}

function messagingRule(policy: GatePolicy, capability: (n: string) => Decision, modelApplies: boolean, peer: PeerInfo, reply: boolean): Decision {
  const cap = capability('messaging');
  if (!cap.allowed) return cap;
  // A reply answers a message the peer chose to send: the peers list need not name it, but
  // the model (when there is one) still decides.
  if (reply) return allow(`reply to ${peer.id}, who messaged this agent`, [cap.matched[0]!]);
  const hit = peerEntry(policy.messaging?.peers ?? [], peer);
  if (hit !== undefined) return allow(`agent ${peer.id} (${peer.type || 'no type'}) allowed by messaging.peers ${JSON.stringify(hit)}`, [cap.matched[0]!, `messaging.peers:${hit}`]);
  if ((policy.messaging?.peers.length ?? 0) === 0 && modelApplies) return allow('no messaging.peers: the authorization model decides', [cap.matched[0]!]);
  return deny(`agent ${peer.id} (type ${peer.type || 'none'}) is not in messaging.peers; add its type, "id:${peer.id}" or a role of it to messaging.peers`);
}

/** Decide sending a message to `peer` (`kind` 'reply': answering one it sent). `details`: metadata recorded (message id, size). */
export function decideMessage(gate: Gate, peer: PeerInfo, kind: 'send' | 'reply', details: Readonly<Record<string, unknown>>): Decision {
  const api = `${MESSAGING_API}#${kind}`;
  return gate.decideCall(
    { capability: 'messaging', resource: 'message', action: kind, target: `agent:${peer.id}`, api, details: { ...details, recipientType: peer.type } },
    (policy, capability, modelApplies) => messagingRule(policy, capability, modelApplies, peer, kind === 'reply'),
    { type: 'agent', id: peer.id, agentType: peer.type, roles: [...peer.roles] },
    'message',
  );
}

/** Whether `peer` could be messaged now (no audit; for `peers()`). The model is not consulted: `send` decides. */
export function peerListed(policy: GatePolicy, peer: PeerInfo): boolean {
  const caps = policy.capabilities;
  if (!caps.allowed.includes('messaging') || caps.forbidden.includes('messaging')) return false;
  const peers = policy.messaging?.peers ?? [];
  return peers.length === 0 ? policy.authz !== undefined : peerEntry(peers, peer) !== undefined;
}

/** Decide publishing to or subscribing to `topic`. */
export function decideTopic(gate: Gate, topic: string, action: 'publish' | 'subscribe', details: Readonly<Record<string, unknown>> = {}): Decision {
  return gate.decideCall(
    { capability: 'messaging', resource: 'topic', action, target: `topic:${topic}`, api: `${MESSAGING_API}#${action}`, details },
    (policy, capability) => {
      const cap = capability('messaging');
      if (!cap.allowed) return cap;
      const list = policy.messaging?.topics[action] ?? [];
      const hit = list.find((p) => topicMatches(p, topic));
      return hit !== undefined
        ? allow(`${action} on ${topic} allowed by messaging.topics.${action} ${JSON.stringify(hit)}`, [cap.matched[0]!, `messaging.topics.${action}:${hit}`])
        : deny(`topic ${topic} is not in messaging.topics.${action}; add it (or a pattern like "${topic.split('.')[0]}.*") to allow ${action}`);
    },
    { type: 'topic', name: topic },
  );
}

/** The kv operations and the data action each is decided as. */
const KV_ACTIONS = Object.freeze({ get: 'read', list: 'read', set: 'write', delete: 'delete' } as const);

/** Decide a key-value call on `key` (for `list`, the prefix) of the agent's own namespace. */
export function decideKv(gate: Gate, op: keyof typeof KV_ACTIONS, key: string, details: Readonly<Record<string, unknown>> = {}): Decision {
  const action = KV_ACTIONS[op];
  const dataId = op === 'list' ? `kv/${key}*` : `kv/${key}`;
  return gate.decideCall(
    { capability: 'storage', resource: 'kv', action, target: dataId, api: `${KV_API}#${op}`, details },
    (_policy, capability) => {
      const cap = capability('storage');
      return cap.allowed ? allow(`${op} in the agent's own namespace`, [cap.matched[0]!]) : cap;
    },
    { type: 'data', dataId },
  );
}
