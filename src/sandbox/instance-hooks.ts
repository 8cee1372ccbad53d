/**
 * What an agent instance reaches its sandbox through: its event stream (audit records and
 * log lines) and the host calls it makes from its thread (HTTP requests, tools).
 */
import type { InstanceEvent } from '../capabilities/context.js';
import { performHttp, type AddressScreen, type HttpCall } from '../capabilities/http/executor.js';
import type { ToolReply } from '../capabilities/tools.js';
import { SandboxError } from '../errors.js';
import type { AuditEvent } from '../gate/types.js';
import type { Indicators } from '../monitor/indicators.js';
import type { AuditBridge } from './audit-bridge.js';
import { classifyAddress } from '../container/egress/address.js';
import { addressInRanges } from '../policy/address-ranges.js';
import { isIP } from 'node:net';
import type { NameLookup } from '../util/dns-servers.js';
import type { ToolHandler } from './options.js';

/** What the hooks need of their sandbox. */
export interface HooksHost {
  readonly auditBridge: AuditBridge;
  readonly indicators: Indicators | undefined;
  readonly tools: ReadonlyMap<string, ToolHandler>;
  /** Resolves names when the sandbox names DNS servers (else the system resolver). */
  readonly resolve?: NameLookup | undefined;
  emitAudit(e: AuditEvent): void;
  emitLog(e: Extract<InstanceEvent, { kind: 'log' }>['event']): void;
  audit(e: Omit<AuditEvent, 'time'>, correlationId: string): void;
}

/**
 * What a request may connect to, address by address, recorded when refused:
 * - an address on the threat-intelligence list, whatever led to it;
 * - a name that resolves to anything but a public address (loopback, private, link-local,
 *   CGNAT, metadata…: `classifyAddress`), so an allowed name cannot be pointed at the host's
 *   own services (DNS rebinding, a hostile resolver);
 * - a cloud metadata address, even when the policy names it as an IP literal. Other non-public
 *   literals pass: the gate allowed them only because `allowedHosts` names them exactly.
 * The executor resolves each name once and connects to the addresses checked here.
 */
function addressScreen(host: HooksHost, agentId: string, correlation: () => string): AddressScreen {
  const ind = host.indicators;
  const refuse = (name: string, reason: string, matched: string[]) => {
    host.audit({ type: 'capability_denied', agentId, capability: 'network_access', resource: 'network', action: 'connect', target: name, outcome: 'denied', reason, api: 'wasi:http/outgoing-handler#handle', matched }, correlation());
    return reason;
  };
  return (address, name, privateRanges) => {
    const hit = ind?.address(address);
    if (hit) return refuse(name, `blocked indicator: ${name} resolved to ${address}, in ${hit} of the threat-intelligence list ${ind!.data.source}`, [`indicator:${hit}`]);
    const c = classifyAddress(address);
    if (!c) return undefined;
    if (c.metadata) return refuse(name, `${name} leads to ${address}, a cloud metadata address (${c.range}); it is never connected to, whatever networkRules say`, ['network:metadata']);
    if (isIP(name.startsWith('[') ? name.slice(1, -1) : name) !== 0) return undefined;
    // A name may lead to a non-public address only inside a range the policy names.
    if (addressInRanges(address, privateRanges) !== undefined) return undefined;
    return refuse(
      name,
      `host "${name}" resolves to ${address}, a ${c.label} address (${c.range}); host names may only lead to public addresses — add the range to networkRules.privateRanges (or request the address itself and add it to networkRules.allowedHosts) to allow it on purpose`,
      ['network:public-only'],
    );
  };
}

/** Call a registered host tool; never throws (a failure is the tool's error to the guest). */
export async function callTool(tools: ReadonlyMap<string, ToolHandler>, req: { name: string; input: string; agentId: string }): Promise<ToolReply> {
  const handler = tools.get(req.name);
  if (!handler) return { ok: false, kind: 'not-found', message: `no tool named ${req.name}` };
  try {
    const result = await handler(JSON.parse(req.input), { agentId: req.agentId });
    const output = JSON.stringify(result ?? null);
    if (output.length > 1024 * 1024) return { ok: false, kind: 'failed', message: 'tool result larger than 1 MiB' };
    return { ok: true, output };
  } catch (e) {
    const msg = e instanceof SandboxError ? e.message : e instanceof Error ? e.message : String(e);
    return { ok: false, kind: 'failed', message: msg.slice(0, 4096) };
  }
}

/** The hooks of one instance of agent `agentId`. */
export function instanceHooks(host: HooksHost, correlation: () => string, auditShared: SharedArrayBuffer | undefined, agentId: string) {
  const screen = addressScreen(host, agentId, correlation);
  const counter = { n: 0 };
  return {
    onEvents: (events: InstanceEvent[]) => {
      const audit: AuditEvent[] = [];
      for (const e of events) {
        if (e.kind === 'audit') {
          audit.push(e.event);
          host.emitAudit(e.event);
        } else host.emitLog(e.event);
      }
      host.auditBridge.recordBatch(audit, correlation(), auditShared, counter);
    },
    rpc: {
      http: (call: HttpCall, signal: AbortSignal) => performHttp(call, signal, screen, host.resolve),
      tool: (req: { name: string; input: string; agentId: string }) => callTool(host.tools, req),
    },
  };
}
