/**
 * One MCP tool per exported function of a component besides `run` (`agent.exports()`), with an
 * input schema derived from the function's WIT types: records, variants, enums, options,
 * results, lists, tuples and flags (see `src/wit-exports/`). The MCP SDK validates a call's
 * arguments against that schema, and the sandbox validates them again before the guest sees
 * them; the call runs under the agent's policy, limits and audit, as a run does.
 */
import { z } from 'zod';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { argumentsSchema, returnSchema, type ExportedFunction } from 'agent-os-sandbox';
import { TOOL_NAME } from '../shared/run-tool.js';
import { errorText, type McpAgent, type McpAgentEntry } from './types.js';

/** A component agent that can call its exported functions (`sandbox.load`; native agents cannot). */
export interface CallableAgent extends McpAgent {
  exports(): readonly ExportedFunction[];
  readonly exportsUnavailable?: string | undefined;
  call(
    fn: string,
    args: Readonly<Record<string, unknown>>,
    options?: { timeout?: number | string; signal?: AbortSignal; provenance?: Readonly<Record<string, string>> },
  ): Promise<{ readonly value: unknown; readonly fuelUsed: number; readonly durationMs: number; readonly runId: string }>;
}

/** One function served as a tool. */
export interface FunctionTool {
  readonly tool: string;
  readonly fn: ExportedFunction;
}

/** A function that is not served, and why (shown by `agentos_list_agents` and logged). */
export interface SkippedFunction {
  readonly id: string;
  readonly reason: string;
}

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

function callable(agent: McpAgent): agent is CallableAgent {
  return typeof (agent as Partial<CallableAgent>).exports === 'function' && typeof (agent as Partial<CallableAgent>).call === 'function';
}

/**
 * The tool name of a function of agent `agent`: `<agent>_<function>` at world level,
 * `<agent>_<interface>_<function>` for an exported interface (its name without package and
 * version: `test:geo/shapes@0.1.0` → `shapes`).
 */
export function functionToolName(agent: string, fn: Pick<ExportedFunction, 'interface' | 'name'>): string {
  const iface = fn.interface === null ? '' : `${fn.interface.replace(/@.*$/, '').split('/').pop()!.split(':').pop()!}_`;
  return `${agent}_${iface}${fn.name}`;
}

/**
 * The functions of `entry`'s agent to serve as tools, and those left out with the reason: an
 * unsupported type, a name that is not a valid tool name or that another tool has, or exports
 * that could not be described. Native agents and components exporting only `run` have none.
 */
export function functionToolsOf(agent: string, entry: McpAgentEntry, taken: ReadonlySet<string>): { tools: FunctionTool[]; skipped: SkippedFunction[] } {
  const tools: FunctionTool[] = [];
  const skipped: SkippedFunction[] = [];
  if (!callable(entry.agent)) return { tools, skipped };
  const unavailable = entry.agent.exportsUnavailable;
  if (unavailable) return { tools, skipped: [{ id: '*', reason: unavailable }] };
  const names = new Set(taken);
  for (const fn of entry.agent.exports()) {
    if (fn.id === 'run') continue;
    const tool = functionToolName(agent, fn);
    if (fn.unsupported) skipped.push({ id: fn.id, reason: fn.unsupported });
    else if (!TOOL_NAME.test(tool)) skipped.push({ id: fn.id, reason: `its tool name ${tool} is not 1-64 letters, digits, _ or -` });
    else if (names.has(tool)) skipped.push({ id: fn.id, reason: `another tool is already named ${tool}` });
    else {
      names.add(tool);
      tools.push({ tool, fn });
    }
  }
  return { tools, skipped };
}

/** What a function's tool says it does: its WIT doc comment, then how it is called and fails. */
function describe(agent: string, fn: ExportedFunction): string {
  const what = fn.docs ?? `Calls ${fn.id} on the sandboxed agent "${agent}".`;
  return `${what} Runs under the agent's policy; arguments are checked against the function's WIT types. A failure returns an error naming its code (e.g. USAGE for bad arguments, AGENT_ERROR for an error the function returned).`;
}

const META_SHAPE = {
  fuelUsed: z.number().describe('fuel the call used'),
  durationMs: z.number().describe("the call's wall-clock time in milliseconds"),
  runId: z.string().describe("the call's id: the correlation id of its audit records"),
};

/**
 * Register the tools of {@link functionToolsOf} on `server`. `provenance` says who called (the
 * MCP session, client, tool) for the audit records; `progress` reports progress while a call runs.
 */
export function registerFunctionTools(
  server: McpServer,
  agentName: string,
  entry: McpAgentEntry,
  tools: readonly FunctionTool[],
  hooks: {
    provenance(tool: string, extra: Extra): Record<string, string>;
    progress(extra: Extra): () => void;
  },
): void {
  const agent = entry.agent as CallableAgent;
  for (const { tool, fn } of tools) {
    server.registerTool(
      tool,
      {
        description: describe(agentName, fn),
        inputSchema: argumentsSchema(fn),
        outputSchema: z.object({ value: returnSchema(fn).describe("the function's result"), ...META_SHAPE }),
        annotations: { title: fn.id, openWorldHint: false },
      },
      async (args: Record<string, unknown>, extra: Extra): Promise<CallToolResult> => {
        const stop = hooks.progress(extra);
        try {
          const r = await agent.call(fn.id, args, { signal: extra.signal, provenance: hooks.provenance(tool, extra), ...(entry.timeout !== undefined ? { timeout: entry.timeout } : {}) });
          const result = { value: r.value, fuelUsed: r.fuelUsed, durationMs: Math.round(r.durationMs * 1000) / 1000, runId: r.runId };
          return { content: [{ type: 'text', text: JSON.stringify(r.value) }], structuredContent: result };
        } catch (e) {
          return { isError: true, content: [{ type: 'text', text: errorText(e) }] };
        } finally {
          stop();
        }
      },
    );
  }
}
