/**
 * serveStdio's transport (host-adapters/mcp/stdio-transport.ts): newline-delimited JSON-RPC as
 * the SDK's StdioServerTransport frames it, and a Client over it through a real MCP server.
 */
import { PassThrough } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LineTransport, MAX_LINE_BYTES } from '../../host-adapters/mcp/stdio-transport.js';

function open() {
  const input = new PassThrough();
  const output = new PassThrough();
  const t = new LineTransport(input, output);
  const messages: unknown[] = [];
  const errors: Error[] = [];
  let closed = 0;
  t.onmessage = (m) => messages.push(m);
  t.onerror = (e) => errors.push(e);
  t.onclose = () => closed++;
  return { t, input, output, messages, errors, closed: () => closed };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('LineTransport', () => {
  it('splits lines across and within chunks; a CRLF line parses; blank lines are skipped', async () => {
    const { t, input, messages, errors } = open();
    await t.start();
    input.write('{"jsonrpc":"2.0","id":1,"method":"a"}\n{"jsonrpc":"2.0","met');
    input.write('hod":"b"}\r\n\n');
    input.write(Buffer.from('{"jsonrpc":"2.0","id":2,"result":{"x":"é"}}\n'));
    await tick();
    expect(messages).toEqual([
      { jsonrpc: '2.0', id: 1, method: 'a' },
      { jsonrpc: '2.0', method: 'b' },
      { jsonrpc: '2.0', id: 2, result: { x: 'é' } },
    ]);
    expect(errors).toEqual([]);
  });

  it('reports a line that is not JSON or not an object, and goes on', async () => {
    const { t, input, messages, errors } = open();
    await t.start();
    input.write('not json\n[1]\n5\n{"jsonrpc":"2.0","method":"ok"}\n');
    await tick();
    expect(errors).toHaveLength(3);
    expect(messages).toEqual([{ jsonrpc: '2.0', method: 'ok' }]);
  });

  it('writes one line per message; close stops reading and says so once', async () => {
    const { t, input, output, messages, closed } = open();
    await t.start();
    await t.send({ jsonrpc: '2.0', id: 7, result: {} } as JSONRPCMessage);
    expect(output.read()?.toString()).toBe('{"jsonrpc":"2.0","id":7,"result":{}}\n');
    await t.close();
    await t.close();
    expect(closed()).toBe(1);
    input.write('{"jsonrpc":"2.0","method":"late"}\n');
    await tick();
    expect(messages).toEqual([]);
  });

  it('drops the connection when a message grows past the limit without a newline', async () => {
    const { t, input, errors, closed } = open();
    await t.start();
    input.write(Buffer.alloc(MAX_LINE_BYTES + 1, 0x20));
    await tick();
    expect(errors[0]?.message).toMatch(/exceeds/);
    expect(closed()).toBe(1);
  });

  it('carries a real MCP session: the SDK validates what the transport does not', async () => {
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    const server = new McpServer({ name: 's', version: '1' });
    server.registerTool('echo', { inputSchema: { task: z.string() }, outputSchema: { output: z.string() } }, ({ task }) => ({ content: [{ type: 'text', text: task }], structuredContent: { output: task } }));
    const serverErrors: Error[] = [];
    const serverSide = new LineTransport(toServer, toClient);
    await server.connect(serverSide);
    server.server.onerror = (e) => serverErrors.push(e);
    // The client side: the same framing the other way round.
    const clientSide = new LineTransport(toClient, toServer) as Transport;
    const client = new Client({ name: 'c', version: '1' });
    await client.connect(clientSide);
    const r = await client.callTool({ name: 'echo', arguments: { task: 'hi' } });
    expect(r.structuredContent).toEqual({ output: 'hi' });
    const bad = await client.callTool({ name: 'echo', arguments: { task: 5 } });
    expect(bad.isError).toBe(true);
    // Not a JSON-RPC message: the SDK's Protocol reports it (the SDK's transport would have, too).
    toServer.write('{"hello":"world"}\n');
    await tick();
    expect(serverErrors.map((e) => e.message).join()).toMatch(/Unknown message type/);
    await client.close();
    await server.close();
  });
});
