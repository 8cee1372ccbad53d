/**
 * What every framework adapter does when a model calls a sandboxed agent as a tool: run the
 * task, return the structured result, and turn a failure into an error that names the stable
 * code and says what to change — the text a model (or the person reading the transcript)
 * sees, never a host stack trace. Shared by the AI SDK and LangChain adapters; the MCP adapter
 * may use it as well.
 */
import { isSandboxError } from 'agent-os-sandbox';
import type { ErrorCode } from 'agent-os-sandbox';

/**
 * The part of an agent a tool needs: a loaded component (`sandbox.load`) or a native agent
 * (`sandbox.loadNative`) both fit.
 */
export interface ToolAgent {
  readonly id: string;
  run(task: string, options?: { timeout?: number | string; signal?: AbortSignal }): Promise<{
    readonly output: string;
    readonly fuelUsed: number;
    readonly durationMs: number;
    readonly runId: string;
  }>;
}

/** What a tool call returns to the model: the agent's output and what the run cost. */
export interface SandboxToolResult {
  readonly output: string;
  readonly fuelUsed: number;
  readonly durationMs: number;
  /** The correlation id of the run's audit records. */
  readonly runId: string;
}

/** Options every adapter's `sandboxTool` accepts. */
export interface SandboxToolOptions {
  /** The tool's name (letters, digits, `_` and `-`). Default: `sandbox_agent`. */
  readonly name?: string;
  /** What the model is told the tool does. Default: a sentence naming the agent. */
  readonly description?: string;
  /** Wall-clock limit of each run (ms or `30s`). Default: the agent's policy, else the sandbox default. */
  readonly timeout?: number | string;
}

/**
 * A run that ended without a result. `message` is `<CODE>: <what happened and what to change>`
 * so that frameworks which show only the message still show the code. It carries no stack of
 * the host: frameworks may put the whole error in front of the model.
 */
export class SandboxToolError extends Error {
  constructor(
    /** The stable code of the sandbox error (`INTERNAL` for anything that was not one). */
    readonly code: ErrorCode,
    /** The sandbox error's own message, without the code. */
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
    this.name = 'SandboxToolError';
    // The stack would show host paths to the model; the code and reason say everything.
    this.stack = `${this.name}: ${this.message}`;
  }

  /**
   * The message alone, `CODE: reason`: the AI SDK 7 turns a tool's thrown error into the
   * model's text with `toString()` (6 used `message`), which would otherwise prefix the class name.
   */
  override toString(): string {
    return this.message;
  }
}

/** Tool names the model providers accept (OpenAI's and Anthropic's rule). */
export const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The tool's name from options, checked: a bad name fails here, not at the model provider. */
export function toolNameOf(options: SandboxToolOptions): string {
  const name = options.name ?? 'sandbox_agent';
  if (!TOOL_NAME.test(name)) throw new TypeError(`tool name ${JSON.stringify(name)} is not valid: use 1-64 letters, digits, _ or -`);
  return name;
}

/** The description from options, else one that names the agent. */
export function descriptionOf(agent: ToolAgent, options: SandboxToolOptions): string {
  return (
    options.description ??
    `Runs the sandboxed agent ${agent.id} on a task (a string) under its policy and returns the agent's output. ` +
      'A failed run returns an error that names its code (e.g. CAPABILITY_DENIED, FUEL_EXHAUSTED, TIMEOUT).'
  );
}

/** Run `task` on `agent`; a failure becomes a {@link SandboxToolError}. */
export async function runAgentTool(
  agent: ToolAgent,
  task: string,
  options: { readonly signal?: AbortSignal | undefined; readonly timeout?: number | string | undefined } = {},
): Promise<SandboxToolResult> {
  try {
    const r = await agent.run(task, {
      ...(options.signal !== undefined ? { signal: options.signal } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    });
    // Only these fields: the result goes to the model, and agentId is already in the description.
    return { output: r.output, fuelUsed: r.fuelUsed, durationMs: r.durationMs, runId: r.runId };
  } catch (e) {
    throw toToolError(e);
  }
}

/** A sandbox error keeps its code and message; anything else is `INTERNAL` with its message. */
export function toToolError(e: unknown): SandboxToolError {
  if (e instanceof SandboxToolError) return e;
  if (isSandboxError(e)) return new SandboxToolError(e.code, e.message);
  return new SandboxToolError('INTERNAL', e instanceof Error ? e.message : String(e));
}
