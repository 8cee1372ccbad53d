/**
 * agent-os-sandbox/ai-sdk: a sandboxed agent as a Vercel AI SDK (`ai` 6 or 7) tool. The model
 * calls it with `{ task }`; the agent runs under its policy and the model gets
 * `{ output, fuelUsed, durationMs, runId }`. A run that fails (a limit, a denial, a timeout,
 * a cancellation) reaches the model as a tool error whose text is `<CODE>: <message>`.
 *
 * @example
 * ```ts
 * import { generateText, stepCountIs } from 'ai';
 * import { createSandbox } from 'agent-os-sandbox';
 * import { sandboxTool } from 'agent-os-sandbox/ai-sdk';
 * const sandbox = createSandbox();
 * const agent = await sandbox.load('agent.wasm', { policy: 'policy.yaml' });
 * const { text } = await generateText({
 *   model, prompt: 'Count the TODOs', stopWhen: stepCountIs(3),
 *   tools: { count_todos: sandboxTool(agent, { description: 'Counts TODOs in the workspace' }) },
 * });
 * ```
 * @packageDocumentation
 */
import type { Tool } from 'ai';
import { z } from 'zod';
import type { PolicyInput, Sandbox } from 'agent-os-sandbox';
import { loadPeer } from '../shared/peer.js';
import { descriptionOf, runAgentTool, toolNameOf, type SandboxToolOptions, type SandboxToolResult, type ToolAgent } from '../shared/run-tool.js';

export { SandboxToolError } from '../shared/run-tool.js';
export type { SandboxToolOptions, SandboxToolResult, ToolAgent } from '../shared/run-tool.js';
export { PeerMissingError } from '../shared/peer.js';

/** The `ai` versions this adapter is tested with (the package's peerDependencies say the same). */
export const AI_RANGE = '^6.0.0 || ^7.0.0';

// Loaded once, when this module is imported: a missing `ai` fails the import with a message
// that names the package to install. Typed against the AI SDK 6 (the repository's `ai`); what
// this module uses of it (`tool` with `description`, `inputSchema`, `execute` and its
// `abortSignal`) is the same in 7, against which test/host-adapters/ai-sdk-v7.test.ts runs it.
const ai = await loadPeer<typeof import('ai')>('ai', AI_RANGE, 'agent-os-sandbox/ai-sdk');

/** The tool's input: the task handed to the agent's `run`. */
const inputSchema = z.object({
  task: z.string().describe('The task for the agent, passed to its run(task) as is'),
});

/** The input a sandbox tool takes. */
export type SandboxToolInput = z.infer<typeof inputSchema>;

/** An AI SDK tool that runs a sandboxed agent. */
export type SandboxAiTool = Tool<SandboxToolInput, SandboxToolResult>;

/**
 * An AI SDK tool that runs `agent` on the model's `task`. The call's `abortSignal` (aborting
 * `generateText`/`streamText`) cancels the run: the agent's instance is killed and the run
 * ends with `CANCELLED`. `options.name` is not used here (the key in `tools` names an AI SDK
 * tool) but is checked, so the same options work for every adapter.
 */
export function sandboxTool(agent: ToolAgent, options: SandboxToolOptions = {}): SandboxAiTool {
  toolNameOf(options);
  return ai.tool({
    description: descriptionOf(agent, options),
    inputSchema,
    // A thrown SandboxToolError becomes the model's tool error; the AI SDK sends only its
    // message (`CODE: reason`), never the stack.
    execute: ({ task }, { abortSignal }) => runAgentTool(agent, task, { signal: abortSignal, timeout: options.timeout }),
  });
}

/** One entry of {@link sandboxTools}: a loaded agent, or a component to load with a policy. */
export type SandboxToolEntry = SandboxToolOptions &
  ({ readonly agent: ToolAgent } | { readonly path: string; readonly policy?: PolicyInput });

/**
 * A tool set for `generateText({ tools })`: one tool per entry, keyed by the record's key (or
 * each entry's `name` in a list). Entries with `path` are loaded into `sandbox` first.
 *
 * @example
 * ```ts
 * const tools = await sandboxTools(sandbox, {
 *   review: { path: 'review.wasm', policy: 'review.yaml', description: 'Reviews a diff' },
 *   echo: { agent: echoAgent },
 * });
 * ```
 */
export async function sandboxTools(
  sandbox: Sandbox,
  agents: Readonly<Record<string, SandboxToolEntry>> | readonly (SandboxToolEntry & { readonly name: string })[],
): Promise<Record<string, SandboxAiTool>> {
  const entries: [string, SandboxToolEntry][] = Array.isArray(agents)
    ? (agents as readonly (SandboxToolEntry & { name: string })[]).map((e) => [e.name, e])
    : Object.entries(agents as Readonly<Record<string, SandboxToolEntry>>);
  const tools: Record<string, SandboxAiTool> = {};
  for (const [name, entry] of entries) {
    toolNameOf({ name });
    if (Object.hasOwn(tools, name)) throw new TypeError(`sandboxTools: the tool name ${name} is given twice`);
    const agent = 'agent' in entry ? entry.agent : await sandbox.load(entry.path, entry.policy !== undefined ? { policy: entry.policy } : {});
    tools[name] = sandboxTool(agent, { ...entry, name });
  }
  return tools;
}
