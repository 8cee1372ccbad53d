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
import type { ToolHandler } from './options.js';

/** What the hooks need of their sandbox. */
export interface HooksHost {
  readonly auditBridge: AuditBridge;
  readonly indicators: Indicators | undefined;
  readonly tools: ReadonlyMap<string, ToolHandler>;
  emitAudit(e: AuditEvent): void;
  emitLog(e: Extract<InstanceEvent, { kind: 'log' }>['event']): void;
  audit(e: Omit<AuditEvent, 'time'>, correlationId: string): void;
}

/** Every address a name resolves to is checked against the threat-intelligence ranges; a hit is recorded. */
function addressScreen(host: HooksHost, agentId: string, correlation: () => string): AddressScreen | undefined {
  const ind = host.indicators;
  if (!ind) return undefined;
  return (address, name) => {
    const hit = ind.address(address);
    if (!hit) return undefined;
    const reason = `blocked indicator: ${name} resolved to ${address}, in ${hit} of the threat-intelligence list ${ind.data.source}`;
    host.audit({ type: 'capability_denied', agentId, capability: 'network_access', resource: 'network', action: 'connect', target: name, outcome: 'denied', reason, api: 'wasi:http/outgoing-handler#handle', matched: [`indicator:${hit}`] }, correlation());
    return reason;
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
      http: (call: HttpCall, signal: AbortSignal) => performHttp(call, signal, screen),
      tool: (req: { name: string; input: string; agentId: string }) => callTool(host.tools, req),
    },
  };
}
