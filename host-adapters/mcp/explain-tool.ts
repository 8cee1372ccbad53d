/**
 * `agentos_explain`: a read-only management tool that says what an agent's policy decides for
 * one request, and the rule that decided it. It calls `explainRequest` from the package's
 * public entry: the engine of `agentos policy explain`, deciding with the same gate the agent's
 * runs pass through, against the agent's policy as loaded now (a grant approved in this session
 * included). Nothing is recorded or changed.
 */
import { z } from 'zod';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { explainRequest } from 'agent-os-sandbox';
import { errorText, type McpAgentEntry } from './types.js';

/** The tool's name. */
export const EXPLAIN_TOOL = 'agentos_explain';

const INPUT = z
  .object({
    agent: z.string().describe("the agent's tool name"),
    request: z
      .object({
        resource: z.string().describe('file, network, env, tool, or a resource of the authorization model (data, system, ...)'),
        action: z.string().describe('file: read|write; network: connect; env: read; tool: invoke; otherwise the model\'s action'),
        attributes: z
          .record(z.string(), z.unknown())
          .optional()
          .describe('file: {path} (a guest path); network: {url} or {host, port, scheme}; env: {name}; tool: {name}; data: {dataId, classification}'),
        context: z.record(z.string(), z.unknown()).optional().describe('extra context attributes for the authorization model'),
      })
      .strict()
      .describe('what is asked, as `agentos policy explain --request` takes it'),
  })
  .strict();

/** Register the tool on `server`; `entries` are the server's agents (read at call time). */
export function registerExplainTool(server: McpServer, entries: readonly (readonly [string, McpAgentEntry])[]): void {
  server.registerTool(
    EXPLAIN_TOOL,
    {
      description:
        "Explains what an agent's policy decides for one request (a file read or write, a network connection, an environment variable, " +
        'a tool call, ...): allowed or denied, the reason, and the rules that decided. The same engine as `agentos policy explain`. Read-only.',
      inputSchema: INPUT,
      annotations: { title: 'explain a decision', readOnlyHint: true, openWorldHint: false },
    },
    ({ agent, request }): CallToolResult => {
      const found = entries.find(([name]) => name === agent);
      if (!found) return { isError: true, content: [{ type: 'text', text: `USAGE: no agent named ${JSON.stringify(agent)}; the agents are ${entries.map(([n]) => n).join(', ') || '(none)'}` }] };
      const target = found[1].agent;
      try {
        const { decision, layer } = explainRequest(
          target.policy,
          { resource: request.resource, action: request.action, ...(request.attributes ? { attributes: request.attributes } : {}), ...(request.context ? { context: request.context } : {}) },
          { id: target.id },
          `mcp:${EXPLAIN_TOOL}`,
        );
        const result = {
          agent,
          allowed: decision.allowed,
          reason: decision.reason,
          matched: [...decision.matched],
          layer,
          ...(decision.actions ? { actions: decision.actions } : {}),
          ...(decision.wouldDeny ? { wouldDeny: decision.wouldDeny } : {}),
        };
        const lines = [`${decision.allowed ? 'ALLOW' : 'DENY'}  ${request.resource} ${request.action}`, `reason:  ${decision.reason}`, `layers:  ${layer}`];
        if (decision.matched.length > 0) lines.push(`matched: ${decision.matched.join(', ')}`);
        if (decision.wouldDeny) lines.push(`advisory: ${decision.wouldDeny.policyId}/${decision.wouldDeny.ruleId} would deny: ${decision.wouldDeny.reason}`);
        return { content: [{ type: 'text', text: lines.join('\n') }], structuredContent: result };
      } catch (e) {
        return { isError: true, content: [{ type: 'text', text: errorText(e) }] };
      }
    },
  );
}
