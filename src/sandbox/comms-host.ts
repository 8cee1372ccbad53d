/**
 * The host side of one agent's `kv` and `messaging` calls: a gate of its own on the host
 * thread (the same `Gate`, policy, quota ledger and identity state as its instance's, recording
 * into the sandbox's chain), and the handlers that carry out what it allows on the sandbox's
 * message hub and encrypted store.
 *
 * Effects wait for their records under output-commit durability: a key-value write or delete,
 * and a message that leaves the process, proceed only once every record up to them is durable.
 * A message to an agent of the same sandbox does not leave it and does not wait.
 */
import { randomUUID } from 'node:crypto';
import type { CommsReply, KvRequest, MsgRequest } from '../capabilities/comms-rpc.js';
import { decideKv, decideMessage, decideTopic, peerListed } from '../gate/comms.js';
import { Gate, type GatePolicy } from '../gate/gate.js';
import type { AuditEvent, Decision } from '../gate/types.js';
import { QuotaLedger, type QuotaPolicy } from '../limits/quota.js';
import { MAX_TOPICS, type MessageHub } from '../messaging/hub.js';
import type { KvStore } from '../kv/store.js';
import { KvQuotaError } from '../kv/store.js';
import type { SandboxPolicy } from '../policy/schema.js';
import type { InstanceIdentity } from './agent-identity.js';

/** What an agent's comms need of its sandbox. */
export interface CommsSandbox {
  hub(): MessageHub;
  kv(): Promise<KvStore>;
  audit(e: Omit<AuditEvent, 'time'>, correlationId: string): void;
  auditFailed(): boolean;
  outputBarrier(): Promise<void>;
}

/** The agent the comms belong to. */
export interface CommsAgent {
  readonly id: string;
  readonly identity: InstanceIdentity;
  readonly quota?: { readonly shared: SharedArrayBuffer; readonly policy: QuotaPolicy } | undefined;
  policy(): SandboxPolicy;
  correlation(): string;
}

const fail = (tag: Extract<CommsReply, { ok: false }>['tag'], message: string): CommsReply => ({ ok: false, tag, message });
const denied = (d: Decision): CommsReply => fail(d.quota ? 'quota' : 'denied', d.reason);

/** One agent's host-side `kv` and `messaging`. */
export class AgentComms {
  readonly gate: Gate;
  /** The receive waiting on the hub, if any. */
  private waiting: AbortController | undefined;

  constructor(
    private readonly s: CommsSandbox,
    private readonly a: CommsAgent,
  ) {
    const sink = (event: AuditEvent): boolean => {
      if (s.auditFailed()) return false;
      s.audit(event, a.correlation());
      return true;
    };
    const id = a.identity;
    this.gate = new Gate(a.policy() as unknown as GatePolicy, a.id, sink, undefined, a.quota ? new QuotaLedger(a.quota.shared, a.quota.policy) : undefined, {
      authenticated: () => id.authenticated,
      why: () => id.reason,
      quarantined: () => id.quarantined,
    });
  }

  /** The agent's policy changed. */
  policyChanged(p: SandboxPolicy): void {
    this.gate.setPolicy(p as unknown as GatePolicy);
  }

  /** The host methods its instances call. */
  get rpc(): { kv: (req: KvRequest) => Promise<CommsReply>; msg: (req: MsgRequest, signal: AbortSignal) => Promise<CommsReply> } {
    return { kv: (req) => this.kv(req).catch(unavailable), msg: (req, signal) => this.msg(req, signal).catch(unavailable) };
  }

  private limit(api: string, target: string, resource: AuditEvent['resource'], limit: string, allowed: number, requested: number): CommsReply {
    const reason = `QUOTA_EXCEEDED: ${limit} allows ${allowed} and ${requested} was asked; raise it in the policy`;
    this.s.audit({ type: 'limit_exceeded', agentId: this.a.id, capability: resource === 'kv' ? 'storage' : 'messaging', resource, action: 'write', target, outcome: 'denied', reason, api, details: { limit, allowed, requested } }, this.a.correlation());
    return fail('quota', reason);
  }

  private async kv(req: KvRequest): Promise<CommsReply> {
    const details = req.op === 'set' ? { bytes: req.value.byteLength, ...(req.ttlMs !== undefined ? { ttlMs: req.ttlMs } : {}) } : {};
    const d = decideKv(this.gate, req.op, req.key, details);
    if (!d.allowed) return denied(d);
    const store = await this.s.kv();
    const ns = this.a.id;
    switch (req.op) {
      case 'get': {
        const v = await store.get(ns, req.key);
        return { ok: true, value: v ? v.value : null };
      }
      case 'list':
        return { ok: true, value: (await store.list(ns, req.key)).map((e) => e.key) };
      case 'set': {
        const lim = this.a.policy().storage;
        await this.s.outputBarrier();
        try {
          await store.set(ns, req.key, req.value, { ...(req.ttlMs !== undefined ? { ttlMs: req.ttlMs } : {}), limits: lim });
        } catch (e) {
          if (e instanceof KvQuotaError) return this.limit('agent-os:sandbox/kv#set', `kv/${req.key}`, 'kv', `storage.${e.limit}`, e.allowed, e.requested);
          throw e;
        }
        return { ok: true };
      }
      case 'delete':
        await this.s.outputBarrier();
        return { ok: true, value: await store.delete(ns, req.key) };
    }
  }

  /** Record a refused messaging call whose recipient cannot be decided on (unknown, quarantined). */
  private refuse(action: string, target: string, reason: string, tag: 'not-found' | 'denied' | 'invalid'): CommsReply {
    this.gate.refuse({ capability: 'messaging', resource: 'message', action, target, api: `agent-os:sandbox/messaging#${action}` }, reason);
    return fail(tag, reason);
  }

  private tooBig(action: string, target: string, body: Uint8Array): CommsReply | undefined {
    const max = this.a.policy().messaging.maxMessageBytes;
    return body.byteLength > max ? this.limit(`agent-os:sandbox/messaging#${action}`, target, 'message', 'messaging.maxMessageBytes', max, body.byteLength) : undefined;
  }

  private async msg(req: MsgRequest, signal: AbortSignal): Promise<CommsReply> {
    const hub = this.s.hub();
    const me = this.a.id;
    switch (req.op) {
      case 'peers': {
        const policy = this.a.policy() as unknown as GatePolicy;
        const list = hub.peers(me).filter((e) => peerListed(policy, e));
        return { ok: true, value: list.map((e) => ({ id: e.id, agentType: e.type, roles: [...e.roles] })) };
      }
      case 'send':
      case 'reply': {
        const kind = req.op;
        const to = kind === 'reply' ? hub.senderOf(me, req.to) : req.to;
        if (to === undefined) return this.refuse('reply', `message:${req.to}`, `message ${req.to} was not received by this agent (or is too old to answer)`, 'invalid');
        const target = `agent:${to}`;
        if (hub.isQuarantined(to)) return this.refuse(kind, target, `agent ${to} is quarantined: it may not receive messages until an operator releases it`, 'denied');
        const entry = hub.entry(to);
        if (!entry) return this.refuse(kind, target, `no agent ${JSON.stringify(to)} can be messaged (never loaded, closed, revoked, or not yet announced)`, 'not-found');
        const big = this.tooBig(kind, target, req.body);
        if (big) return big;
        const messageId = randomUUID();
        const d = decideMessage(this.gate, entry, kind, { messageId, bytes: req.body.byteLength, ...(kind === 'reply' ? { replyTo: req.to } : {}) });
        if (!d.allowed) return denied(d);
        if (!entry.local) await this.s.outputBarrier();
        const r = hub.send(me, to, req.body, kind === 'reply' ? 'reply' : 'direct', { messageId, ...(kind === 'reply' ? { replyTo: req.to } : {}) });
        return r.ok ? { ok: true, value: r.messageId } : fail(r.tag, r.message);
      }
      case 'publish': {
        const big = this.tooBig('publish', `topic:${req.topic}`, req.body);
        if (big) return big;
        const d = decideTopic(this.gate, req.topic, 'publish', { bytes: req.body.byteLength });
        if (!d.allowed) return denied(d);
        await this.s.outputBarrier();
        const r = hub.publish(me, req.topic, req.body);
        return r.ok ? { ok: true, value: r.count ?? 0 } : fail(r.tag, r.message);
      }
      case 'subscribe': {
        const d = decideTopic(this.gate, req.topic, 'subscribe');
        if (!d.allowed) return denied(d);
        if (!hub.subscribe(me, req.topic)) return fail('quota', `an agent may subscribe to at most ${MAX_TOPICS} topics at once; unsubscribe from one first`);
        return { ok: true };
      }
      case 'unsubscribe':
        hub.unsubscribe(me, req.topic);
        return { ok: true };
      case 'receive': {
        // One receive waits at a time per agent; a cancel (the run stopped) ends it untaken.
        this.waiting?.abort();
        const ctl = new AbortController();
        this.waiting = ctl;
        const onAbort = () => ctl.abort();
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          return await this.receive(hub, req.timeoutMs, ctl.signal);
        } finally {
          signal.removeEventListener('abort', onAbort);
          if (this.waiting === ctl) this.waiting = undefined;
        }
      }
      case 'cancel-receive':
        this.waiting?.abort();
        return { ok: true };
    }
  }

  private async receive(hub: MessageHub, timeoutMs: number, signal: AbortSignal): Promise<CommsReply> {
    const cap = this.gate.capabilityGranted('messaging');
    if (!cap.allowed) {
      const d = this.gate.decideCall({ capability: 'messaging', resource: 'message', action: 'receive', target: 'mailbox', api: 'agent-os:sandbox/messaging#receive' }, (_p, capability) => capability('messaging'));
      return denied(d);
    }
    const m = await hub.receive(this.a.id, timeoutMs, signal);
    if (!m) return { ok: true, value: null };
    // The record names what was received (sender, id, size), never what it says.
    const d = this.gate.decideCall(
      { capability: 'messaging', resource: 'message', action: 'receive', target: `agent:${m.sender}`, api: 'agent-os:sandbox/messaging#receive', details: { messageId: m.id, bytes: m.body.byteLength, ...(m.topic !== undefined ? { topic: m.topic } : {}) } },
      (_p, capability) => capability('messaging'),
    );
    return d.allowed ? { ok: true, value: m } : denied(d);
  }
}

function unavailable(e: unknown): CommsReply {
  return fail('unavailable', e instanceof Error ? e.message : String(e));
}
