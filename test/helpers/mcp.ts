/**
 * Helpers of the host adapter tests: audit records as an array, and an MCP server connected to
 * the SDK's real `Client` over an in-memory transport.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { queryAuditLog, type AuditRecord } from 'agent-os-sandbox';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

/** Every request sets its own timeout: the SDK's default (60 s) would outlive a test. */
export const MCP_REQUEST = { timeout: 20_000 };

/** The audit records of `dir` that match `query` (e.g. `{ correlationId: runId }`). */
export async function auditRecords(dir: string, query: Parameters<typeof queryAuditLog>[1]): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const r of queryAuditLog(dir, query)) out.push(r);
  return out;
}

/** The text of a tool result's first content block. */
export const toolText = (r: CallToolResult): string => (r.content[0] as { text: string }).text;

/**
 * Connect `server` to a new SDK `Client` (named `clientInfo`) over an in-memory pair. `close`
 * closes both; register it with the test's cleanups.
 */
export async function connectInMemory(server: McpServer, clientInfo = { name: 'test-client', version: '1.2.3' }): Promise<{ client: Client; close: () => Promise<void> }> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client(clientInfo);
  await client.connect(clientSide);
  return {
    client,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

/**
 * Start the real `agentos mcp ... --http 127.0.0.1:0` (`args` are what follows `mcp`) and wait
 * until it prints its endpoint on stderr. The caller kills the child (register it for cleanup).
 */
export async function startMcpHttp(cli: string, args: readonly string[], cwd: string): Promise<{ child: ChildProcess; url: URL; stderr: () => string }> {
  const child = spawn(process.execPath, [cli, 'mcp', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const url = await new Promise<URL>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no endpoint printed: ${stderr}`)), 20_000);
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const m = /at (http:\/\/\S+\/mcp)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        res(new URL(m[1]!));
      }
    });
    child.on('exit', (code) => rej(new Error(`agentos mcp --http exited (${code}): ${stderr}`)));
  }).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw e;
  });
  return { child, url, stderr: () => stderr };
}
