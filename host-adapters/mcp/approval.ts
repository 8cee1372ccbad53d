/**
 * `agentos_request_capability`: the one tool that can widen a policy, registered only when the
 * host passes an approver (`approve` of createMcpServer / serveStdio / serveHttp, or
 * `agentos mcp --approve-with CMD`).
 *
 * The model cannot approve itself. The decision comes out of band, from the host's approver (a
 * person behind a callback, or a program the host runs); the tool's arguments (agent, grant,
 * reason) describe the request and nothing else: the input schema is closed (an extra
 * `approved: true` is refused), no argument is read as a decision, and no result carries
 * anything that a later call could present as an approval (every request is decided afresh).
 * Each request and its decision is written to the audit chain before it takes effect (a
 * request that cannot be recorded is not granted); an approved grant widens that agent's
 * policy for the rest of this MCP session only (an HTTP session's agents are its own), and
 * every deny the policy had keeps winning. (What is widened is the agent object: a host that
 * hands the same loaded agent to two servers of its own widens it for both; serveStdio and
 * serveHttp load agents per session.)
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { AuditEvent, Sandbox } from 'agent-os-sandbox';
import { grantText, parseGrant, widenPolicy, type CapabilityGrant } from './grant.js';
import { policyJson, policySummary } from './policy-view.js';
import { errorText, type McpAgentEntry } from './types.js';

/** The tool's name. */
export const REQUEST_CAPABILITY_TOOL = 'agentos_request_capability';

/** What the approver is asked: the request as the server saw it, nothing the model decides. */
export interface ApprovalRequest {
  /** This request's id (fresh for each call): the correlation id of its audit record. */
  readonly id: string;
  /** The agent's tool name, and its current agent id. */
  readonly agent: string;
  readonly agentId: string;
  /** Exactly what approval adds to the agent's policy: canonical (validated, normalized). */
  readonly grant: CapabilityGrant;
  /** Why the model says it needs it. Model-written text: show it as such. */
  readonly reason: string;
  /** The MCP session the widening would last for. */
  readonly session: string;
  /** The client as it named itself in the handshake (`name/version`; not authenticated). */
  readonly client: string;
  /** Who called, when the transport authenticated the request (a token's subject). */
  readonly principal?: string;
  /** The agent's policy now (fixed environment values hidden). */
  readonly policy: Record<string, unknown>;
}

/**
 * The approver's answer. Only `true` or `{ approved: true }` approves; anything else (a
 * rejection, a throw, a timeout) denies. `approver` says who decided (recorded; default
 * `callback`), `note` why (recorded, and shown with a denial).
 */
export type ApprovalDecision = boolean | { readonly approved: boolean; readonly approver?: string; readonly note?: string };

/**
 * Decides capability requests out of band. `signal` aborts when the client cancels the call
 * (the request is then denied whatever the approver says).
 *
 * @example
 * ```ts
 * const approve: Approver = async (req) => ({ approved: await askTheUser(req), approver: 'desktop-dialog' });
 * ```
 */
export type Approver = (request: ApprovalRequest, context: { readonly signal: AbortSignal }) => Promise<ApprovalDecision>;

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** What the tool needs of the server it joins. */
export interface RequestCapabilityContext {
  readonly server: McpServer;
  readonly sandbox: Sandbox;
  readonly approve: Approver;
  /** The server's agents (read at call time). */
  readonly entries: readonly (readonly [string, McpAgentEntry])[];
  /** The session of a transport without session ids. */
  readonly fallbackSession: string;
}

const INPUT = z
  .object({
    agent: z.string().describe("the agent's tool name"),
    grant: z
      .record(z.string(), z.unknown())
      .describe(
        'what to add to the policy, in the policy format; only these lists: capabilities.allowed, fileAccess.readonly, fileAccess.readwrite, ' +
          'networkRules.allowedHosts, networkRules.allowedPorts, networkRules.protocols, env.allow, toolAccess.allow. ' +
          'Example: {"capabilities": {"allowed": ["read_files"]}, "fileAccess": {"readonly": ["/data/report.csv"]}}',
      ),
    reason: z.string().min(1).max(2000).describe('why the task needs it, for the person or program that decides'),
  })
  .strict();

const fail = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });

/** One lock per agent: widenings apply one at a time, each on the policy the last one left. */
const locks = new WeakMap<McpAgentEntry, Promise<unknown>>();
function serially<T>(entry: McpAgentEntry, fn: () => Promise<T>): Promise<T> {
  const p = (locks.get(entry) ?? Promise.resolve()).then(fn);
  locks.set(entry, p.catch(() => {}));
  return p;
}

/** Ask the approver; anything but a clear yes is a no (fail closed). */
async function decide(approve: Approver, request: ApprovalRequest, signal: AbortSignal): Promise<{ approved: boolean; approver: string; note?: string }> {
  try {
    const d = await approve(request, { signal });
    if (signal.aborted) return { approved: false, approver: 'callback', note: 'the call was cancelled' };
    if (d === true) return { approved: true, approver: 'callback' };
    if (typeof d === 'object' && d !== null) {
      const approver = typeof d.approver === 'string' && d.approver !== '' ? d.approver.slice(0, 200) : 'callback';
      const note = typeof d.note === 'string' && d.note !== '' ? { note: d.note.slice(0, 500) } : {};
      return { approved: d.approved === true, approver, ...note };
    }
    return { approved: false, approver: 'callback' };
  } catch (e) {
    return { approved: false, approver: 'callback', note: `the approver failed: ${e instanceof Error ? e.message : String(e)}`.slice(0, 500) };
  }
}

/** Register the tool on `ctx.server`. */
export function registerRequestCapability(ctx: RequestCapabilityContext): void {
  const { server, sandbox } = ctx;
  server.registerTool(
    REQUEST_CAPABILITY_TOOL,
    {
      description:
        "Asks the host to widen one agent's policy by a grant (in the policy format) for the rest of this session. " +
        'A person or program outside this conversation decides; nothing in the call can approve it. ' +
        'A denial returns an error CAPABILITY_DENIED; denies in the policy (capabilities.forbidden, fileAccess.forbidden, ' +
        'security policies) keep winning. Use agentos_explain first to see what is denied and which rule decided.',
      inputSchema: INPUT,
      annotations: { title: 'request a capability', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async ({ agent, grant: rawGrant, reason }, extra: Extra): Promise<CallToolResult> => {
      const found = ctx.entries.find(([name]) => name === agent);
      if (!found) return fail(`USAGE: no agent named ${JSON.stringify(agent)}; the agents are ${ctx.entries.map(([n]) => n).join(', ') || '(none)'}`);
      const entry = found[1];
      if (typeof entry.agent.updatePolicy !== 'function') return fail(`USAGE: agent ${JSON.stringify(agent)} cannot have its policy changed while it is served (it has no updatePolicy)`);
      let grant: CapabilityGrant;
      try {
        grant = parseGrant(rawGrant);
      } catch (e) {
        return fail(errorText(e));
      }
      const client = server.server.getClientVersion();
      const provenance = {
        via: 'mcp',
        session: extra.sessionId ?? ctx.fallbackSession,
        client: client ? `${client.name}/${client.version}` : 'unknown',
        tool: REQUEST_CAPABILITY_TOOL,
        request: String(extra.requestId),
        ...(extra.authInfo !== undefined ? { principal: extra.authInfo.clientId } : {}),
      };
      const request: ApprovalRequest = {
        id: randomUUID(),
        agent,
        agentId: entry.agent.id,
        grant,
        reason,
        session: provenance.session,
        client: provenance.client,
        ...(provenance.principal !== undefined ? { principal: provenance.principal } : {}),
        policy: policyJson(entry.agent.policy),
      };
      const decision = await decide(ctx.approve, request, extra.signal);
      const what = grantText(grant);
      const record = (approved: boolean, why: string): Promise<void> => {
        const event: Omit<AuditEvent, 'time'> = {
          type: approved ? 'authorization_granted' : 'authorization_denied',
          agentId: entry.agent.id,
          capability: 'policy',
          resource: 'agent',
          action: 'request-capability',
          target: JSON.stringify(grant),
          outcome: approved ? 'allowed' : 'denied',
          reason: why,
          api: `mcp:${REQUEST_CAPABILITY_TOOL}`,
          details: { decision: approved ? 'approved' : 'denied', approver: decision.approver, ...(decision.note !== undefined ? { note: decision.note } : {}), agent, grant, request: { reason }, provenance },
        };
        return sandbox.recordEvent(event, request.id);
      };
      if (!decision.approved) {
        const why = `not approved by ${decision.approver}${decision.note !== undefined ? `: ${decision.note}` : ''}`;
        try {
          await record(false, why);
        } catch (e) {
          return fail(errorText(e));
        }
        return fail(`CAPABILITY_DENIED: the request to add ${what} to agent ${JSON.stringify(agent)}'s policy was ${why}`);
      }
      return serially(entry, async () => {
        let widened: ReturnType<typeof widenPolicy>;
        try {
          widened = widenPolicy(entry.agent.policy, grant);
        } catch (e) {
          await record(false, `approved, but the widened policy is invalid: ${errorText(e)}`).catch(() => {});
          return fail(errorText(e));
        }
        // On the record before it takes effect: a grant that cannot be recorded is not made.
        try {
          await record(true, `approved by ${decision.approver}`);
        } catch (e) {
          return fail(errorText(e));
        }
        try {
          await entry.agent.updatePolicy!(widened.policy);
        } catch (e) {
          const why = `the approved grant could not be applied: ${errorText(e)}`;
          await sandbox.recordEvent({ type: 'policy_rejected', agentId: entry.agent.id, capability: 'policy', resource: 'agent', action: 'update', target: JSON.stringify(grant), outcome: 'denied', reason: why, api: `mcp:${REQUEST_CAPABILITY_TOOL}` }, request.id).catch(() => {});
          return fail(errorText(e));
        }
        const result = { agent, approved: true, grant, warnings: widened.warnings, policy: policySummary(entry.agent.policy) };
        const text = `approved by ${decision.approver}: agent ${JSON.stringify(agent)} now also has ${what} for the rest of this session` +
          (widened.warnings.length > 0 ? `\nwarnings: ${widened.warnings.join('; ')}` : '');
        return { content: [{ type: 'text', text }], structuredContent: result };
      });
    },
  );
}
