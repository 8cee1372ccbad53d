/**
 * What the MCP adapter's modules share: the shape of an agent it serves (components and native
 * agents both fit), and how a failed run reads to a client.
 */
import type { SandboxPolicy } from 'agent-os-sandbox';
import { toToolError } from '../shared/run-tool.js';

/** The `@modelcontextprotocol/sdk` versions this adapter is tested with. */
export const MCP_PEER_RANGE = '^1.32.0';

/** The part of an agent the server needs: `sandbox.load(...)` and `sandbox.loadNative(...)` both fit. */
export interface McpAgent {
  readonly id: string;
  /** The policy the agent runs under (shown by the management tools). */
  readonly policy: SandboxPolicy;
  run(
    task: string,
    options?: { timeout?: number | string; signal?: AbortSignal; provenance?: Readonly<Record<string, string>> },
  ): Promise<{ readonly output: string; readonly fuelUsed: number; readonly durationMs: number; readonly runId: string }>;
  close(): Promise<void>;
  /**
   * Replace the policy (`Agent.updatePolicy`; config-loaded native agents get one that reloads
   * them). Only `agentos_request_capability` calls it, after the host approved a grant; an agent
   * without it cannot be widened.
   */
  updatePolicy?(policy: SandboxPolicy): Promise<void>;
}

/** An agent served as a tool, with what the tool says about it. */
export interface McpAgentEntry {
  readonly agent: McpAgent;
  /** What the client (and its model) is told the tool does. Default: a sentence naming the agent. */
  readonly description?: string;
  /** Wall-clock limit of each run (ms or `30s`). Default: the agent's policy, else the sandbox default. */
  readonly timeout?: number | string;
}

/**
 * A failed run as a tool error's text: `CODE: message`, the stable code first and the sandbox's
 * message (what happened, what to change) after it. Never a stack: clients put this text in
 * front of a model.
 */
export function errorText(e: unknown): string {
  return toToolError(e).message;
}
