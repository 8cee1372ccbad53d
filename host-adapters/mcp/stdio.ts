/**
 * Serving the agents over stdio, the transport MCP clients start a server with: one session
 * for the life of the process. Stdout carries MCP messages only, so nothing here writes to it;
 * when the client closes stdin (or the process is told to stop), the agents are closed.
 */
import type { Sandbox } from 'agent-os-sandbox';
import { loadConfiguredAgents, type McpConfig } from './config.js';
import { createMcpServer } from './server.js';
import { LineTransport } from './stdio-transport.js';
import type { Approver } from './approval.js';

/** Options of {@link serveStdio}. */
export interface McpStdioOptions {
  readonly sandbox: Sandbox;
  readonly config: McpConfig;
  /** The server's name and version in the handshake. */
  readonly name?: string;
  readonly version?: string;
  /** Where to say what happens (stderr in the CLI). Default: nothing. */
  readonly log?: (line: string) => void;
  /** The streams to speak MCP on. Default: `process.stdin`, `process.stdout`. */
  readonly stdin?: NodeJS.ReadableStream & { pause(): unknown };
  readonly stdout?: NodeJS.WritableStream;
  /** Aborting stops serving (the CLI aborts on SIGINT and SIGTERM). */
  readonly signal?: AbortSignal;
  /** Decides capability requests out of band; when given, `agentos_request_capability` is offered (see createMcpServer). */
  readonly approve?: Approver;
}

/**
 * Load the config's agents and serve them on stdio until stdin ends or the transport closes;
 * resolves once the agents are closed (the sandbox is the caller's to close).
 *
 * @example `await serveStdio({ sandbox, config: await loadMcpConfig('agents.yaml') }); await sandbox.close();`
 */
export async function serveStdio(options: McpStdioOptions): Promise<void> {
  const stdin = options.stdin ?? process.stdin;
  const stdout = options.stdout ?? process.stdout;
  const loaded = await loadConfiguredAgents(options.sandbox, options.config);
  const server = await createMcpServer({ sandbox: options.sandbox, agents: loaded.agents, ...(options.name !== undefined ? { name: options.name } : {}), ...(options.version !== undefined ? { version: options.version } : {}), ...(options.approve !== undefined ? { approve: options.approve } : {}) });
  // The SDK's StdioServerTransport framing, without its redundant parse of each line (see ./stdio-transport.ts).
  const transport = new LineTransport(stdin, stdout);
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  transport.onclose = () => done();
  // The transport does not watch for the end of stdin: a client that exits closes it.
  const onEnd = () => done();
  stdin.once('end', onEnd);
  stdin.once('close', onEnd);
  options.signal?.addEventListener('abort', onEnd, { once: true });
  if (options.signal?.aborted) done();
  await server.connect(transport);
  options.log?.(`serving ${Object.keys(loaded.agents).join(', ')} on stdio (${options.config.source})`);
  try {
    await finished;
  } finally {
    stdin.off('end', onEnd);
    stdin.off('close', onEnd);
    options.signal?.removeEventListener('abort', onEnd);
    await server.close().catch(() => {});
    await loaded.close();
    options.log?.('stdin closed; agents closed');
  }
}
