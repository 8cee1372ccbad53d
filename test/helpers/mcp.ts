/**
 * Helpers of the host adapter tests: audit records as an array, and an MCP server connected to
 * the SDK's real `Client` over an in-memory transport.
 */
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
