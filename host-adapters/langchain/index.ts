/**
 * agent-os-sandbox/langchain: a sandboxed agent as a LangChain.js tool (`@langchain/core` 1,
 * works inside `createAgent` from `langchain`). The model calls it with `{ task }`; the agent
 * runs under its policy and the tool returns `{ output, fuelUsed, durationMs, runId }` (as JSON
 * text in the ToolMessage the model sees). A run that fails comes back as a ToolMessage with
 * `status: 'error'` and the content `<CODE>: <message>`, so the model can react to it; the
 * run's `config.signal` (e.g. `agent.invoke(input, { signal })`) cancels the run.
 *
 * @example
 * ```ts
 * import { createAgent } from 'langchain';
 * import { createSandbox } from 'agent-os-sandbox';
 * import { sandboxTool } from 'agent-os-sandbox/langchain';
 * const sandbox = createSandbox();
 * const reviewer = await sandbox.load('review.wasm', { policy: 'review.yaml' });
 * const agent = createAgent({ model, tools: [sandboxTool(reviewer, { name: 'review', description: 'Reviews a diff' })] });
 * await agent.invoke({ messages: [{ role: 'user', content: 'Review this diff' }] });
 * ```
 * @packageDocumentation
 */
import type { DynamicStructuredTool, ToolRunnableConfig } from '@langchain/core/tools';
import { z } from 'zod';
import { loadPeer } from '../shared/peer.js';
import {
  descriptionOf,
  runAgentTool,
  toolNameOf,
  toToolError,
  type SandboxToolOptions,
  type SandboxToolResult,
  type ToolAgent,
} from '../shared/run-tool.js';

export { SandboxToolError } from '../shared/run-tool.js';
export type { SandboxToolOptions, SandboxToolResult, ToolAgent } from '../shared/run-tool.js';
export { PeerMissingError } from '../shared/peer.js';

const ADAPTER = 'agent-os-sandbox/langchain';
const RANGE = '^1.4.0';
// Loaded once, when this module is imported: a missing @langchain/core fails the import with
// a message that names the package to install.
const { tool } = await loadPeer<typeof import('@langchain/core/tools')>('@langchain/core/tools', RANGE, ADAPTER);
const { ToolMessage } = await loadPeer<typeof import('@langchain/core/messages')>('@langchain/core/messages', RANGE, ADAPTER);

/** The tool's input: the task handed to the agent's `run`. */
const inputSchema = z.object({
  task: z.string().describe('The task for the agent, passed to its run(task) as is'),
});

/** The input a sandbox tool takes. */
export type SandboxToolInput = z.infer<typeof inputSchema>;

/** A LangChain structured tool that runs a sandboxed agent. */
export type SandboxLangChainTool = DynamicStructuredTool<typeof inputSchema, SandboxToolInput, SandboxToolInput, SandboxToolResult>;

/**
 * A LangChain `StructuredTool` named `options.name` (default `sandbox_agent`) that runs `agent`
 * on the model's `task`.
 *
 * - Called with a tool call (as `createAgent` and `ToolNode` do): a failed run returns a
 *   ToolMessage with `status: 'error'` and `<CODE>: <message>`, which the model sees.
 * - Called with plain input (`tool.invoke({ task })`): it returns the result object, and a
 *   failed run throws {@link SandboxToolError} (`code`, `reason`).
 * - `CANCELLED` always throws: the caller aborted, so nothing should go back to the model.
 */
export function sandboxTool(agent: ToolAgent, options: SandboxToolOptions = {}): SandboxLangChainTool {
  const name = toolNameOf(options);
  const run = async ({ task }: SandboxToolInput, config?: ToolRunnableConfig): Promise<SandboxToolResult> => {
    try {
      return await runAgentTool(agent, task, { signal: config?.signal, timeout: options.timeout });
    } catch (e) {
      const err = toToolError(e);
      const callId = config?.toolCall?.id;
      if (err.code === 'CANCELLED' || callId === undefined) throw err;
      // Returned rather than thrown: LangChain's default handler would print the error's
      // class name and tell the model to "fix your mistakes", which a policy denial is not.
      // A ToolMessage passes through StructuredTool unchanged (it is direct tool output).
      return new ToolMessage({ content: err.message, status: 'error', tool_call_id: callId, name }) as unknown as SandboxToolResult;
    }
  };
  return tool(run, { name, description: descriptionOf(agent, options), schema: inputSchema }) as SandboxLangChainTool;
}

