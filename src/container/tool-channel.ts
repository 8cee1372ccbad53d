/**
 * Host tools for native agents: JSON lines over a socket the agent inherits (its number is in
 * `AGENTOS_TOOLS_FD`, 6; passed only when the policy's `toolAccess.allow` grants a tool).
 * Each call is decided by the same `Gate.tool` as a WebAssembly agent's `tools.call` — the
 * same decision, quotas (`toolAccess.usageLimits`, `rateLimits`) and audit record — and then
 * runs the handler registered with `sandbox.registerTool`.
 *
 * Protocol, one JSON object per line each way, answered in order:
 *
 * ```
 * → {"id": 1, "tool": "search", "input": {"q": "todo"}}
 * ← {"id": 1, "ok": true, "result": {...}}
 * ← {"id": 1, "ok": false, "error": {"kind": "denied", "message": "tool search is not in toolAccess.allow; …"}}
 * → {"id": 2, "list": true}
 * ← {"id": 2, "ok": true, "result": ["search"]}
 * ```
 *
 * `kind` is `denied`, `not-found`, `invalid-input` or `failed` (a message starting with
 * `QUOTA_EXCEEDED` when a usage limit was reached). Lines are capped at 1 MiB.
 *
 * @example
 * ```ts
 * const channel = serveTools(socket, { gate, registered: () => ['search'], call: (name, input) => host.callTool(name, input) });
 * ```
 */
import type { Duplex } from 'node:stream';
import type { ToolReply } from '../capabilities/tools.js';
import type { Gate } from '../gate/gate.js';

/** The descriptor number the agent finds the channel on. */
export const TOOLS_FD = 6;

/** The same api name as the WebAssembly import, so the audit records are alike. */
const API = 'agent-os:sandbox/tools#call';

/** Longest request line. */
export const MAX_TOOL_LINE = 1024 * 1024;

/** What the channel needs. */
export interface ToolChannelOptions {
  readonly gate: Gate;
  /** Names of the tools registered with the sandbox. */
  readonly registered: () => readonly string[];
  /** Run a registered tool with a JSON input. */
  readonly call: (name: string, input: string) => Promise<ToolReply>;
  /** Resolves once the gate's records so far are durable (sync commits); the tool runs only then. */
  readonly durable?: () => Promise<void>;
}

type Reply = { id: unknown; ok: true; result: unknown } | { id: unknown; ok: false; error: { kind: string; message: string } };

async function answer(line: string, o: ToolChannelOptions): Promise<Reply> {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    return { id: null, ok: false, error: { kind: 'invalid-input', message: 'the request is not a JSON object on one line' } };
  }
  if (typeof req !== 'object' || req === null || Array.isArray(req)) return { id: null, ok: false, error: { kind: 'invalid-input', message: 'the request is not a JSON object' } };
  const r = req as Record<string, unknown>;
  const id = r['id'] ?? null;
  if (r['list'] === true) return { id, ok: true, result: o.registered().filter((n) => o.gate.toolAllowed(n)) };
  const name = r['tool'];
  if (typeof name !== 'string' || name === '') return { id, ok: false, error: { kind: 'invalid-input', message: 'give "tool": "<name>" (or "list": true)' } };
  const d = o.gate.tool(name, API);
  await o.durable?.();
  if (!d.allowed) return { id, ok: false, error: { kind: 'denied', message: d.reason } };
  if (!o.registered().includes(name)) return { id, ok: false, error: { kind: 'not-found', message: `no tool named ${JSON.stringify(name)} is registered` } };
  const reply = await o.call(name, JSON.stringify(r['input'] ?? null));
  if (!reply.ok) return { id, ok: false, error: { kind: reply.kind, message: reply.message } };
  return { id, ok: true, result: JSON.parse(reply.output) as unknown };
}

/** Serve tool calls on `stream` until it closes. Never throws; a bad request gets an error reply. */
export function serveTools(stream: Duplex, o: ToolChannelOptions): { close(): void } {
  let buffer = '';
  let chain: Promise<void> = Promise.resolve();
  const send = (reply: Reply) => {
    if (!stream.destroyed) stream.write(JSON.stringify(reply) + '\n');
  };
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    if (buffer.length > MAX_TOOL_LINE && !buffer.includes('\n')) {
      buffer = '';
      send({ id: null, ok: false, error: { kind: 'invalid-input', message: `request line longer than ${MAX_TOOL_LINE} bytes` } });
      return;
    }
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      // In order, one at a time: replies come back in the order of the requests.
      chain = chain.then(() => answer(line, o).then(send, (e: unknown) => send({ id: null, ok: false, error: { kind: 'failed', message: (e as Error).message } })));
    }
  });
  stream.on('error', () => {});
  return { close: () => stream.destroy() };
}
