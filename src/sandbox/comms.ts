/**
 * A sandbox's messaging and key-value state: the message hub (with its transport to other
 * processes, when configured), the encrypted store, and one {@link AgentComms} per agent.
 */
import { issueAgentCertificate, type CaState } from '../identity/ca.js';
import type { KeyProvider } from '../identity/types.js';
import { wildcard } from '../authz/engine.js';
import { MessageHub } from '../messaging/hub.js';
import { natsTransport, type NatsSettings } from '../messaging/nats.js';
import type { MessageTransport } from '../messaging/transport.js';
import type { AuditEvent } from '../gate/types.js';
import type { KvRetention } from '../kv/index.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { parseDuration } from '../util/units.js';
import type { InstanceIdentity } from './agent-identity.js';
import { AgentComms, type CommsAgent } from './comms-host.js';
import { KvService, type KvSettings } from './kv-host.js';
import type { AuditBridge } from './audit-bridge.js';

/**
 * Options of agent-to-agent messaging (`SandboxOptions.messaging`). Agents of one sandbox
 * always reach each other in process; `nats` (or any `transport`) also reaches agents of other
 * sandboxes on that broker, with the same end-to-end encryption.
 */
export interface MessagingSettings {
  /** A NATS server (`nats://127.0.0.1:4222`) or its settings. */
  readonly nats?: string | NatsSettings;
  /** Another transport (for example a `LocalBus` between sandboxes of one process). */
  readonly transport?: MessageTransport;
  /** Subject prefix on the broker. Default `agentos`. */
  readonly subjectPrefix?: string;
  /**
   * The CA every agent certificate must validate against: each agent gets a certificate at load
   * (its id must then be a UUID) and other processes' agents are admitted only with a valid one.
   */
  readonly ca?: { readonly state: CaState; readonly keys: KeyProvider };
  /** Clock skew tolerated on a message's timestamp (ms or `30s`). Default 30 s. */
  readonly maxSkew?: number | string;
}

/** An agent as the comms see it. */
export interface CommsAgentInfo {
  readonly id: string;
  readonly policy: SandboxPolicy;
  readonly auth_: InstanceIdentity;
  readonly isQuarantined: boolean;
}

/** What the comms need of their sandbox. */
export interface CommsHost {
  readonly auditBridge: AuditBridge;
  audit_(e: Omit<AuditEvent, 'time'>, correlationId?: string): void;
  agent(id: string): CommsAgentInfo | undefined;
}

/** The messaging and key-value state of one sandbox. */
export class SandboxComms {
  private hubValue: MessageHub | undefined;
  private transport: MessageTransport | undefined;
  private connecting: Promise<void> | undefined;
  readonly kv: KvService;

  constructor(
    private readonly settings: MessagingSettings | false,
    kv: KvSettings | false,
    private readonly host: CommsHost,
  ) {
    this.kv = new KvService(kv, {
      retention: (ns, key) => this.retention(ns, key),
      audit: (e) => host.audit_(e),
    });
  }

  /** The retention rule of a value: the first data policy of its agent's policy covering `kv/<key>`. */
  private retention(ns: string, key: string): KvRetention | undefined {
    const a = this.host.agent(ns);
    const dataId = `kv/${key}`;
    const p = a?.policy.authz.dataPolicies?.find((d) => wildcard(d.dataId)(dataId));
    return p?.retention ? { ms: p.retention.retentionPeriod, autoDelete: p.retention.autoDelete } : undefined;
  }

  /** Connect the transport when one is configured (once; every load awaits it). */
  ready(): Promise<void> {
    const s = this.settings;
    if (!s || (s.nats === undefined && s.transport === undefined)) return Promise.resolve();
    this.connecting ??= (async () => {
      this.transport = s.transport ?? (await natsTransport(s.nats!));
    })();
    return this.connecting;
  }

  /** The hub (made on first use). */
  hub(): MessageHub {
    if (!this.hubValue) {
      const s = this.settings || {};
      this.hubValue = new MessageHub({
        ...(this.transport ? { transport: this.transport } : {}),
        ...(s.subjectPrefix !== undefined ? { subjectPrefix: s.subjectPrefix } : {}),
        ...(s.ca ? { ca: s.ca.state } : {}),
        ...(s.maxSkew !== undefined ? { maxSkewMs: parseDuration(s.maxSkew, 'messaging.maxSkew') } : {}),
        onRejected: (to, r) =>
          this.host.audit_({
            type: 'capability_denied',
            agentId: to,
            capability: 'messaging',
            resource: 'message',
            action: 'deliver',
            target: `agent:${r.senderId}`,
            outcome: 'denied',
            reason: `message refused on delivery: ${r.code}: ${r.reason}`,
            api: 'agent-os:sandbox/messaging#receive',
            matched: [`messaging:${r.code}`],
            details: { code: r.code, ...(r.messageId !== undefined ? { messageId: r.messageId } : {}) },
          }),
      });
    }
    return this.hubValue;
  }

  /** Enter a loaded agent in the directory (with a certificate when the CA is in use). */
  async register(a: CommsAgentInfo): Promise<void> {
    if (this.settings === false) return;
    await this.ready();
    const ca = this.settings.ca;
    const ident = a.auth_.identity;
    const certificate = ca ? (await issueAgentCertificate(ca.state, ca.keys, { agentId: a.id, agentType: ident.agentType, publicKey: a.auth_.keys.publicKey })).pem : undefined;
    this.hub().register(
      {
        id: a.id,
        type: a.policy.agent?.type ?? '',
        roles: a.policy.roles,
        keys: a.auth_.keys,
        authenticated: () => a.auth_.authenticated,
        quarantined: () => a.auth_.quarantined,
        ...(certificate !== undefined ? { certificate } : {}),
      },
      a.policy.messaging.mailbox,
    );
  }

  /** The host side of an agent's `kv` and `messaging` calls. */
  forAgent(a: CommsAgent): AgentComms {
    return new AgentComms(
      {
        hub: () => this.hub(),
        kv: () => this.kv.store(),
        audit: (e, c) => this.host.audit_(e, c),
        auditFailed: () => this.host.auditBridge.failed !== undefined,
        outputBarrier: () => this.host.auditBridge.outputBarrier(),
      },
      a,
    );
  }

  /** An agent's identity no longer holds (revoked, quarantined): other processes are told. */
  withdraw(id: string, reason: string): void {
    this.hubValue?.withdraw(id, reason);
  }

  /** An agent closed. */
  unregister(id: string): void {
    this.hubValue?.unregister(id, 'agent closed');
  }

  /** Close the hub, the transport and the store. */
  async close(): Promise<void> {
    this.hubValue?.close();
    await this.transport?.flush().catch(() => {});
    if (!(this.settings && this.settings.transport)) await this.transport?.close();
    await this.kv.close();
  }
}
