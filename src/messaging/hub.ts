/**
 * The messaging hub of one sandbox: its agents' mailboxes, message keys and directory, and the
 * path of every message: look the recipient up, seal (sign with the sender instance's identity
 * key, encrypt to the recipient), carry (in process, or over the transport to another process),
 * open (verify the sender, refuse replays, decrypt) and queue for the recipient's `receive`.
 *
 * The gate has decided a call before it reaches the hub (`src/sandbox/comms-host.ts`); the hub
 * enforces what only it can see: the recipient exists and is not quarantined, its mailbox has
 * room, the sender still authenticates when the message is opened. What it refuses on delivery
 * (tampered, replayed, from an unknown or revoked sender) is reported through `onRejected`.
 *
 * @example
 * ```ts
 * const hub = new MessageHub({ onRejected: (to, r) => console.warn(to, r.code) });
 * await hub.register(agentA, 256); await hub.register(agentB, 256);
 * await hub.send('a', 'b', new TextEncoder().encode('hi'), 'direct');
 * (await hub.receive('b', 1000))?.body;
 * ```
 */
import { createHash, randomUUID } from 'node:crypto';
import type { DeliveredMessage } from '../capabilities/comms-rpc.js';
import type { CaState } from '../identity/ca.js';
import { generateKexKeyPair, ReceiveChannels, SendChannel, signKexKey, type LocalKeys, type PeerKeys } from './channel.js';
import { announcement, parseDirectoryMessage, verifyAnnouncement, verifyWithdrawal, withdrawal, type DirectoryEntry } from './directory.js';
import { decodeEnvelope, encodeEnvelope, MessageRejected, type MessageType } from './envelope.js';
import { Mailbox } from './mailbox.js';
import type { MessageTransport } from './transport.js';

/** A local agent as the hub sees it. */
export interface HubAgent {
  readonly id: string;
  readonly type: string;
  readonly roles: readonly string[];
  /** Its instance identity key pair (raw Ed25519). */
  readonly keys: { readonly publicKey: Uint8Array; readonly privateKey: Uint8Array };
  /** Whether its identity still holds (not revoked, expired or quarantined). */
  authenticated(): boolean;
  quarantined(): boolean;
  /** Its agent certificate (PEM) when the CA is in use. */
  readonly certificate?: string;
}

/** A refused delivery, for the record. */
export interface Rejection {
  readonly senderId: string;
  readonly messageId?: string;
  readonly code: string;
  readonly reason: string;
}

/** The outcome of a send: the message id, or the interface error to give the guest. */
export type SendOutcome = { readonly ok: true; readonly messageId: string; readonly count?: number } | { readonly ok: false; readonly tag: 'not-found' | 'quota' | 'denied' | 'invalid' | 'unavailable'; readonly message: string };

/** Options of {@link MessageHub}. */
export interface HubOptions {
  /** Reaches agents in other processes (absent: this process only). */
  readonly transport?: MessageTransport;
  /** Subject prefix on the transport (default `agentos`). */
  readonly subjectPrefix?: string;
  /** The CA every agent's certificate must validate against (remote agents' announcements are refused without one). */
  readonly ca?: CaState;
  /** Clock skew tolerated on a message's timestamp (default 30 s). */
  readonly maxSkewMs?: number;
  /** Agents of other processes held at most (default {@link MAX_REMOTE_AGENTS}). */
  readonly maxRemoteAgents?: number;
  /** A delivery was refused (recipient id, what and why). */
  readonly onRejected?: (recipientId: string, r: Rejection) => void;
}

interface Endpoint {
  readonly agent: HubAgent;
  entry: DirectoryEntry;
  readonly keys: LocalKeys;
  readonly mailbox: Mailbox;
  readonly receiver: ReceiveChannels;
  readonly senders: Map<string, { readonly channel: SendChannel; readonly kexKey: Uint8Array }>;
  /** Messages received (id → sender), for `reply`; bounded. */
  readonly received: Map<string, string>;
  readonly topics: Set<string>;
  unsubscribe?: () => void;
}

const MAX_RECEIVED = 4096;
/** Topics one agent may subscribe to at once (each is announced to other processes). */
export const MAX_TOPICS = 64;
/**
 * Agents of other processes the directory holds: announcements are cheap to forge in bulk (a
 * fresh key each), so past this new ones are ignored until some withdraw.
 */
export const MAX_REMOTE_AGENTS = 10_000;

/** One sandbox's messaging. */
export class MessageHub {
  private readonly local = new Map<string, Endpoint>();
  private readonly remote = new Map<string, DirectoryEntry>();
  /** Highest withdrawal seen per remote id: an announcement older than it is stale. */
  private readonly withdrawn = new Map<string, number>();
  private readonly processId = randomUUID();
  private readonly prefix: string;
  private readonly offDirectory: (() => void) | undefined;

  constructor(private readonly o: HubOptions = {}) {
    this.prefix = o.subjectPrefix ?? 'agentos';
    const t = o.transport;
    if (t) {
      this.offDirectory = t.subscribe(`${this.prefix}.dir`, (b) => void this.onDirectory(b));
      this.publishDir({ kind: 'query', from: this.processId });
    }
  }

  private subjectOf(agentId: string): string {
    return `${this.prefix}.msg.${createHash('sha256').update(agentId).digest('hex').slice(0, 32)}`;
  }

  private publishDir(m: unknown): void {
    this.o.transport?.publish(`${this.prefix}.dir`, Buffer.from(JSON.stringify(m)));
  }

  /** Enter a local agent (its mailbox holds up to `capacity` messages). */
  register(agent: HubAgent, capacity: number): void {
    if (this.local.has(agent.id)) throw new Error(`agent ${agent.id} is already registered for messaging`);
    const kex = generateKexKeyPair();
    const keys: LocalKeys = { agentId: agent.id, signingSeed: agent.keys.privateKey, kexPrivate: kex.privateKey, kexKey: kex.publicKey };
    const entry: DirectoryEntry = {
      id: agent.id,
      type: agent.type,
      roles: agent.roles,
      signingKey: agent.keys.publicKey,
      kexKey: kex.publicKey,
      kexSig: signKexKey(agent.id, agent.keys.privateKey, kex.publicKey),
      topics: [],
      ...(agent.certificate !== undefined ? { certificate: agent.certificate } : {}),
      seq: 1,
      local: true,
    };
    const ep: Endpoint = { agent, entry, keys, mailbox: new Mailbox(capacity), receiver: new ReceiveChannels(keys, { maxSkewMs: this.o.maxSkewMs ?? 30_000 }), senders: new Map(), received: new Map(), topics: new Set() };
    this.local.set(agent.id, ep);
    if (this.o.transport) {
      ep.unsubscribe = this.o.transport.subscribe(this.subjectOf(agent.id), (b) => {
        const r = this.deliver(ep, b);
        if (r) this.o.onRejected?.(agent.id, r);
      });
      this.announce(ep);
    }
  }

  private announce(ep: Endpoint): void {
    ep.entry = { ...ep.entry, topics: [...ep.topics], seq: ep.entry.seq + 1 };
    this.publishDir(announcement(this.processId, ep.entry, ep.keys.signingSeed));
  }

  /** Remove a local agent (closed, revoked, quarantined): it can no longer be messaged and its messages no longer open. */
  unregister(id: string, reason: string): void {
    const ep = this.local.get(id);
    if (!ep) return;
    this.local.delete(id);
    ep.unsubscribe?.();
    ep.mailbox.close();
    if (this.o.transport) this.publishDir(withdrawal(this.processId, ep.entry, reason, ep.keys.signingSeed));
  }

  /** Tell other processes a local agent's identity no longer holds (revoked, quarantined). */
  withdraw(id: string, reason: string): void {
    const ep = this.local.get(id);
    if (!ep || !this.o.transport) return;
    const w = withdrawal(this.processId, ep.entry, reason, ep.keys.signingSeed);
    ep.entry = { ...ep.entry, seq: ep.entry.seq + 1 };
    this.publishDir(w);
  }

  /** A local agent's mailbox capacity changed (a new policy). */
  setCapacity(id: string, capacity: number): void {
    this.local.get(id)?.mailbox.setCapacity(capacity);
  }

  /** Every agent that can be messaged from `fromId` (itself excluded), local first. */
  peers(fromId: string): DirectoryEntry[] {
    const out: DirectoryEntry[] = [];
    for (const ep of this.local.values()) if (ep.agent.id !== fromId && ep.agent.authenticated()) out.push(ep.entry);
    for (const e of this.remote.values()) if (!this.local.has(e.id)) out.push(e);
    return out;
  }

  /** The directory entry of `id`, if it can be messaged. */
  entry(id: string): DirectoryEntry | undefined {
    const ep = this.local.get(id);
    if (ep) return ep.agent.authenticated() ? ep.entry : undefined;
    return this.remote.get(id);
  }

  /** Whether `id` is a local agent the monitor quarantined (then it may not be messaged). */
  isQuarantined(id: string): boolean {
    return this.local.get(id)?.agent.quarantined() ?? false;
  }

  /** The sender of a message `agentId` received (for `reply`). */
  senderOf(agentId: string, messageId: string): string | undefined {
    return this.local.get(agentId)?.received.get(messageId);
  }

  /** Seal `body` from `fromId` to `toId` and carry it. */
  send(fromId: string, toId: string, body: Uint8Array, type: MessageType, extra: { topic?: string; replyTo?: string; messageId?: string } = {}): SendOutcome {
    const from = this.local.get(fromId);
    if (!from) return { ok: false, tag: 'unavailable', message: `agent ${fromId} is not registered for messaging` };
    const local = this.local.get(toId);
    if (local?.agent.quarantined()) return { ok: false, tag: 'denied', message: `agent ${toId} is quarantined: it may not receive messages until an operator releases it` };
    const to = this.entry(toId);
    if (!to) return { ok: false, tag: 'not-found', message: `no agent ${JSON.stringify(toId)} can be messaged (never loaded, closed, revoked, or not yet announced)` };
    let ch = from.senders.get(toId);
    // A recipient that re-registered has new keys: start a new channel to them.
    if (!ch || !Buffer.from(ch.kexKey).equals(Buffer.from(to.kexKey))) {
      ch = { channel: new SendChannel(from.keys, { agentId: to.id, signingKey: to.signingKey, kexKey: to.kexKey }), kexKey: to.kexKey };
      from.senders.set(toId, ch);
    }
    const env = ch.channel.seal(body, { messageType: type, ...(extra.topic !== undefined ? { topic: extra.topic } : {}), ...(extra.replyTo !== undefined ? { replyTo: extra.replyTo } : {}), ...(extra.messageId !== undefined ? { messageId: extra.messageId } : {}) });
    const bytes = encodeEnvelope(env);
    const messageId = env.header.messageId;
    if (local) {
      // In process: the same sealed bytes, opened by the recipient's side at once.
      const r = this.deliver(local, bytes);
      if (r) {
        this.o.onRejected?.(toId, r);
        return r.code === 'MAILBOX_FULL' ? { ok: false, tag: 'quota', message: r.reason } : { ok: false, tag: 'denied', message: `the recipient refused the message: ${r.reason}` };
      }
      return { ok: true, messageId };
    }
    if (!this.o.transport) return { ok: false, tag: 'unavailable', message: 'no transport to other processes' };
    this.o.transport.publish(this.subjectOf(toId), bytes);
    return { ok: true, messageId };
  }

  /** Open sealed bytes for a local recipient and queue them; a rejection says why not. */
  private deliver(ep: Endpoint, bytes: Uint8Array): Rejection | undefined {
    let senderId = '?';
    let messageId: string | undefined;
    try {
      const env = decodeEnvelope(bytes);
      senderId = env.header.senderId;
      messageId = env.header.messageId;
      if (ep.agent.quarantined()) return { senderId, messageId, code: 'RECIPIENT_QUARANTINED', reason: `agent ${ep.agent.id} is quarantined` };
      const sender = this.senderKeys(senderId);
      if (!sender) return { senderId, messageId, code: 'UNKNOWN_SENDER', reason: `sender ${senderId} is unknown, closed, revoked or quarantined` };
      const { header, body } = ep.receiver.open(env, sender);
      const m: DeliveredMessage = {
        id: header.messageId,
        sender: header.senderId,
        senderType: this.entry(header.senderId)?.type ?? '',
        timestamp: header.timestamp,
        body,
        ...(header.topic !== undefined ? { topic: header.topic } : {}),
        ...(header.replyTo !== undefined ? { replyTo: header.replyTo } : {}),
      };
      if (!ep.mailbox.push(m)) return { senderId, messageId, code: 'MAILBOX_FULL', reason: `the mailbox of agent ${ep.agent.id} is full (messaging.mailbox); try again later` };
      ep.received.set(m.id, m.sender);
      if (ep.received.size > MAX_RECEIVED) ep.received.delete(ep.received.keys().next().value!);
      return undefined;
    } catch (e) {
      if (e instanceof MessageRejected) return { senderId, ...(messageId !== undefined ? { messageId } : {}), code: e.code, reason: e.message };
      return { senderId, ...(messageId !== undefined ? { messageId } : {}), code: 'MALFORMED', reason: e instanceof Error ? e.message : String(e) };
    }
  }

  /** The keys of a sender that may still send: a local agent that authenticates, or a remote one not withdrawn. */
  private senderKeys(id: string): PeerKeys | undefined {
    const ep = this.local.get(id);
    if (ep) return ep.agent.authenticated() ? { agentId: id, signingKey: ep.entry.signingKey, kexKey: ep.entry.kexKey } : undefined;
    const r = this.remote.get(id);
    return r ? { agentId: id, signingKey: r.signingKey, kexKey: r.kexKey } : undefined;
  }

  /** Publish on `topic` to every subscriber but the sender (each gets its own sealed copy). */
  publish(fromId: string, topic: string, body: Uint8Array): SendOutcome {
    let count = 0;
    let last: SendOutcome | undefined;
    for (const e of this.peers(fromId)) {
      if (!e.topics.includes(topic)) continue;
      const r = this.send(fromId, e.id, body, 'topic', { topic });
      if (r.ok) count++;
      else last = r;
    }
    return count === 0 && last ? last : { ok: true, messageId: '', count };
  }

  /** Subscribe a local agent to `topic` (announced to other processes); false past {@link MAX_TOPICS}. */
  subscribe(id: string, topic: string): boolean {
    const ep = this.local.get(id);
    if (!ep || ep.topics.has(topic)) return true;
    if (ep.topics.size >= MAX_TOPICS) return false;
    ep.topics.add(topic);
    ep.entry = { ...ep.entry, topics: [...ep.topics] };
    if (this.o.transport) this.announce(ep);
    return true;
  }

  /** Unsubscribe a local agent from `topic`. */
  unsubscribe(id: string, topic: string): void {
    const ep = this.local.get(id);
    if (!ep || !ep.topics.delete(topic)) return;
    ep.entry = { ...ep.entry, topics: [...ep.topics] };
    if (this.o.transport) this.announce(ep);
  }

  /** The next message for a local agent, waiting up to `timeoutMs`. */
  receive(id: string, timeoutMs: number, signal?: AbortSignal): Promise<DeliveredMessage | undefined> | DeliveredMessage | undefined {
    return this.local.get(id)?.mailbox.take(timeoutMs, signal);
  }

  private async onDirectory(bytes: Uint8Array): Promise<void> {
    const m = parseDirectoryMessage(bytes);
    if (!m || m.from === this.processId) return;
    if (m.kind === 'query') {
      for (const ep of this.local.values()) if (ep.agent.authenticated()) this.announce(ep);
      return;
    }
    if (m.kind === 'withdraw') {
      const e = this.remote.get(m.id);
      if (e && verifyWithdrawal(m, e)) {
        this.remote.delete(m.id);
        this.withdrawn.set(m.id, m.seq);
      }
      return;
    }
    const id = m.entry.id;
    if (this.local.has(id)) return;
    const known = this.remote.get(id);
    if (known && m.entry.seq <= known.seq) return;
    if (!known && this.remote.size >= (this.o.maxRemoteAgents ?? MAX_REMOTE_AGENTS)) return;
    const v = await verifyAnnouncement(m, this.o.ca);
    if (typeof v === 'string') return;
    // A key is pinned until its owner withdraws it: another key claiming the id is ignored.
    const current = this.remote.get(id);
    if (current && !Buffer.from(current.signingKey).equals(Buffer.from(v.signingKey))) return;
    if (current && v.seq <= current.seq) return;
    const w = this.withdrawn.get(id);
    if (w !== undefined && v.seq <= w) return;
    // Checked again after the (asynchronous) verification: others may have filled it meanwhile.
    if (!current && this.remote.size >= (this.o.maxRemoteAgents ?? MAX_REMOTE_AGENTS)) return;
    this.remote.set(id, v);
  }

  /** Resolves once what was sent so far has left this process. */
  flush(): Promise<void> {
    return this.o.transport?.flush() ?? Promise.resolve();
  }

  /** Withdraw every local agent and stop listening. */
  close(): void {
    for (const id of [...this.local.keys()]) this.unregister(id, 'sandbox closed');
    this.offDirectory?.();
  }
}
