/**
 * `agent-os:sandbox/tools`: host tools registered through the library API.
 *
 * A call passes the gate (the policy's `toolAccess.allow` must name the tool), then crosses to
 * the host thread, where the registered handler runs; its JSON result (capped) comes back.
 * A tool the policy does not grant is `denied`; a granted name with no registered tool is
 * `not-found`.
 */
import type { HostContext } from './context.js';
import { err, ok, type Result } from './io.js';

const toolErr = (tag: ToolError['tag'], val: string): Result<string, ToolError> => err({ tag, val } as ToolError);

/** `tool-error` as jco represents the variant. */
export type ToolError =
  | { tag: 'not-found'; val: string }
  | { tag: 'denied'; val: string }
  | { tag: 'invalid-input'; val: string }
  | { tag: 'failed'; val: string };

/** What the host thread answers to a `tool` RPC. */
export type ToolReply = { ok: true; output: string } | { ok: false; kind: 'not-found' | 'invalid-input' | 'failed'; message: string };

const MAX_INPUT = 1024 * 1024;

/** Build the `agent-os:sandbox/tools` import. `registered` are the tool names the host knows. */
export function toolImports(ctx: HostContext, registered: readonly string[]): Record<string, Record<string, unknown>> {
  return {
    'agent-os:sandbox/tools': {
      available: (): string[] => registered.filter((n) => ctx.gate.toolAllowed(n)),
      call(name: string, input: string): Result<string, ToolError> {
        const api = 'agent-os:sandbox/tools#call';
        const d = ctx.gate.tool(name, api);
        if (!d.allowed) return toolErr('denied', d.reason);
        if (!registered.includes(name)) return toolErr('not-found', `no tool named ${JSON.stringify(name)} is registered`);
        if (input.length > MAX_INPUT) return toolErr('invalid-input', `input larger than ${MAX_INPUT} characters`);
        try {
          JSON.parse(input);
        } catch {
          return toolErr('invalid-input', 'input is not valid JSON');
        }
        if (!ctx.rpc) return toolErr('failed', 'tools are not available in this isolation mode');
        ctx.flush();
        const reply = ctx.rpc.call('tool', { name, input, agentId: ctx.agentId });
        if (!reply.ok) return toolErr('failed', reply.error);
        const r = reply.value as ToolReply;
        if (r.ok) return ok(r.output);
        return toolErr(r.kind, r.message);
      },
    },
  };
}
