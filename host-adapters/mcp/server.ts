/**
 * The MCP server: each configured agent is one tool (`{ task }` in, the run's structured
 * result out), beside read-only management tools (and, when the host passes an approver, one
 * that requests a capability: ./approval.ts). A tool call runs the agent under its
 * policy; a failure comes back as a tool error `CODE: message` (what to change, never a host
 * stack), a client's cancellation ends the run at once (`CANCELLED`), and every run's audit
 * records name the MCP session, the client and the tool (`run(task, { provenance })`), and the
 * authenticated principal when the transport has one (`extra.authInfo.clientId`).
 *
 * @example
 * ```ts
 * import { createSandbox } from 'agent-os-sandbox';
 * import { createMcpServer } from 'agent-os-sandbox/mcp';
 * import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
 * const sandbox = createSandbox();
 * const echo = await sandbox.load('echo.wasm', { policy: 'policy.yaml' });
 * const server = await createMcpServer({ sandbox, agents: { echo: { agent: echo, description: 'Repeats the task.' } } });
 * await server.connect(new StdioServerTransport());
 * ```
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Sandbox } from 'agent-os-sandbox';
import { loadPeer } from '../shared/peer.js';
import { TOOL_NAME } from '../shared/run-tool.js';
import { errorText, MCP_PEER_RANGE, type McpAgent, type McpAgentEntry } from './types.js';
import { policyJson, policySummary } from './policy-view.js';
import { registerRequestCapability, type Approver } from './approval.js';
import { registerExplainTool } from './explain-tool.js';
import { functionToolsOf, registerFunctionTools, type SkippedFunction } from './function-tools.js';

/** Tool names of the management tools; agent names may not start with this prefix. */
export const MANAGEMENT_PREFIX = 'agentos_';
/** How often a long run reports progress to a client that asked for it (ms). */
export const PROGRESS_INTERVAL_MS = 1000;

/** Options of {@link createMcpServer}. */
export interface McpServerOptions {
  /** The sandbox the agents were loaded in (kept for the caller's lifecycle; runs go through each agent). */
  readonly sandbox: Sandbox;
  /** Tool name → agent (`sandbox.load(...)` or `sandbox.loadNative(...)`), or the agent with a description and timeout. */
  readonly agents: Readonly<Record<string, McpAgent | McpAgentEntry>>;
  /** The server's name and version in the MCP handshake. Default `agentos` and this package's version. */
  readonly name?: string;
  readonly version?: string;
  /**
   * The MCP session recorded with each run when the transport has no session id of its own
   * (stdio, in-memory). Default: a fresh UUID per server, which is one session per connection.
   */
  readonly sessionId?: string;
  /**
   * Decides capability requests out of band (a person behind a dialog, a program; see
   * ./approval.ts and `commandApprover`). When given, the server also offers
   * `agentos_request_capability`, which widens an agent's policy by one grant for the rest of the
   * session once `approve` says yes. Default: none, and no tool changes a policy.
   */
  readonly approve?: Approver;
}

const RESULT_SHAPE = {
  output: z.string().describe("the agent's output"),
  fuelUsed: z.number().describe('fuel the run used (about one unit per wasm instruction; 0 for native agents)'),
  durationMs: z.number().describe("the run's wall-clock time in milliseconds"),
  runId: z.string().describe("the run's id: the correlation id of its audit records"),
};

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** The entry of `agents[name]`, checked: a bad name or a missing agent fails here, not at the client. */
export function entryOf(name: string, value: McpAgent | McpAgentEntry): McpAgentEntry {
  checkAgentName(name);
  const entry = 'agent' in value ? value : { agent: value };
  if (typeof entry.agent?.run !== 'function') throw new TypeError(`agents.${name}: expected a loaded agent (sandbox.load or sandbox.loadNative)`);
  return entry;
}

/** Throws a `TypeError` saying why `name` cannot be an agent's tool name. */
export function checkAgentName(name: string): void {
  if (!TOOL_NAME.test(name)) throw new TypeError(`agent name ${JSON.stringify(name)} is not a valid tool name: use 1-64 letters, digits, _ or -`);
  if (name.startsWith(MANAGEMENT_PREFIX)) throw new TypeError(`agent name ${JSON.stringify(name)}: names starting with ${MANAGEMENT_PREFIX} are the server's own tools`);
}

/** The default description: what the tool does and how it fails. */
export function defaultDescription(name: string): string {
  return (
    `Runs the sandboxed agent "${name}" on a task (a string) under its policy and returns its output. ` +
    'A failed run returns an error naming its code (e.g. CAPABILITY_DENIED, FUEL_EXHAUSTED, TIMEOUT) and what to change.'
  );
}

/**
 * An `McpServer` (from `@modelcontextprotocol/sdk`, an optional peer dependency) serving the
 * agents as tools. Connect it to a transport (`server.connect(transport)`); closing it does not
 * close the agents or the sandbox, which belong to the caller.
 *
 * Tools: one per agent, named by its key, input `{ task: string }`, structured output
 * `{ output, fuelUsed, durationMs, runId }`; `agentos_list_agents` (names, descriptions, policy
 * summaries) and `agentos_show_policy` (`{ agent }` → the policy as JSON, fixed environment
 * values hidden) and `agentos_explain` (`{ agent, request }` → the decision and the rule that made
 * it, by `agentos policy explain`'s engine). With `approve`, `agentos_request_capability` (`{ agent,
 * grant, reason }`) widens a policy once the approver says yes; without it no tool changes a policy.
 *
 * @throws PeerMissingError when `@modelcontextprotocol/sdk` is not installed.
 */
export async function createMcpServer(options: McpServerOptions): Promise<McpServer> {
  const { McpServer } = await loadPeer<typeof import('@modelcontextprotocol/sdk/server/mcp.js')>(
    '@modelcontextprotocol/sdk/server/mcp.js',
    MCP_PEER_RANGE,
    'agent-os-sandbox/mcp',
    '@modelcontextprotocol/sdk',
  );
  const entries = Object.entries(options.agents).map(([name, value]) => [name, entryOf(name, value)] as const);
  const server = new McpServer({ name: options.name ?? 'agentos', version: options.version ?? '0.1.0' }, { capabilities: { tools: {} } });
  const fallbackSession = options.sessionId ?? randomUUID();
  /** Who called which tool, for the audit records of the run or call. */
  const provenanceOf = (tool: string, extra: Extra): Record<string, string> => {
    const client = server.server.getClientVersion();
    return {
      via: 'mcp',
      session: extra.sessionId ?? fallbackSession,
      client: client ? `${client.name}/${client.version}` : 'unknown',
      tool,
      request: String(extra.requestId),
      // Who called, when the transport authenticated the request (serveHttp's auth: the token's subject).
      ...(extra.authInfo !== undefined ? { principal: extra.authInfo.clientId } : {}),
    };
  };

  for (const [name, entry] of entries) {
    server.registerTool(
      name,
      {
        description: entry.description ?? defaultDescription(name),
        inputSchema: { task: z.string().describe('the task given to the agent') },
        outputSchema: RESULT_SHAPE,
        annotations: { title: name, openWorldHint: false },
      },
      async ({ task }, extra) => runTool(entry, task, provenanceOf(name, extra), extra),
    );
  }

  // Components exporting more than `run`: one tool per function, typed by its WIT.
  const taken = new Set([...entries.map(([n]) => n), `${MANAGEMENT_PREFIX}list_agents`, `${MANAGEMENT_PREFIX}show_policy`]);
  const functions = new Map<string, { tools: string[]; skipped: SkippedFunction[] }>();
  for (const [name, entry] of entries) {
    const { tools, skipped } = functionToolsOf(name, entry, taken);
    for (const t of tools) taken.add(t.tool);
    registerFunctionTools(server, name, entry, tools, { provenance: provenanceOf, progress: startProgress });
    functions.set(name, { tools: tools.map((t) => t.tool), skipped });
  }

  server.registerTool(
    `${MANAGEMENT_PREFIX}list_agents`,
    {
      description: 'Lists the sandboxed agents this server offers as tools: name, description, kind and a summary of each policy. Read-only.',
      inputSchema: {},
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    () => {
      const agents = entries.map(([name, e]) => ({ name, description: e.description ?? defaultDescription(name), kind: 'executable' in e.agent ? 'native' : 'component', policy: policySummary(e.agent.policy), functionTools: functions.get(name)?.tools ?? [], functionsNotServed: functions.get(name)?.skipped ?? [] }));
      return { content: [{ type: 'text', text: JSON.stringify({ agents }, null, 2) }], structuredContent: { agents } };
    },
  );
  server.registerTool(
    `${MANAGEMENT_PREFIX}show_policy`,
    {
      description: "Shows the policy an agent runs under, as JSON (fixed environment values hidden). Read-only.",
      inputSchema: { agent: z.string().describe("the agent's tool name") },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ agent }) => {
      const found = entries.find(([name]) => name === agent);
      if (!found) return { isError: true, content: [{ type: 'text', text: `USAGE: no agent named ${JSON.stringify(agent)}; the agents are ${entries.map(([n]) => n).join(', ') || '(none)'}` }] };
      const policy = policyJson(found[1].agent.policy);
      return { content: [{ type: 'text', text: JSON.stringify(policy, null, 2) }], structuredContent: { agent, policy } };
    },
  );
  registerExplainTool(server, entries);
  if (options.approve !== undefined) {
    if (typeof options.approve !== 'function') throw new TypeError('approve: expected a function (request) => Promise<ApprovalDecision>');
    registerRequestCapability({ server, sandbox: options.sandbox, approve: options.approve, entries, fallbackSession });
  }
  return server;
}

/**
 * One tool call: run the agent, reporting progress while it runs when the client asked for it
 * (a `progressToken`), and turn a failure into a tool error.
 */
async function runTool(entry: McpAgentEntry, task: string, provenance: Record<string, string>, extra: Extra): Promise<CallToolResult> {
  const stopProgress = startProgress(extra);
  try {
    const r = await entry.agent.run(task, { signal: extra.signal, provenance, ...(entry.timeout !== undefined ? { timeout: entry.timeout } : {}) });
    const result = { output: r.output, fuelUsed: r.fuelUsed, durationMs: Math.round(r.durationMs * 1000) / 1000, runId: r.runId };
    return { content: [{ type: 'text', text: r.output }], structuredContent: result };
  } catch (e) {
    return { isError: true, content: [{ type: 'text', text: errorText(e) }] };
  } finally {
    stopProgress();
  }
}

/** Progress notifications for one call (at start, then every second), if the client gave a token. */
function startProgress(extra: Extra): () => void {
  const token = extra._meta?.progressToken;
  if (token === undefined) return () => {};
  let beat = 0;
  const started = Date.now();
  const send = (message: string) => {
    // A client that went away is not the run's failure: the run's own ending reports that.
    extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: beat++, message } }).catch(() => {});
  };
  send('started');
  const timer = setInterval(() => send(`running for ${Math.round((Date.now() - started) / 1000)}s`), PROGRESS_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
