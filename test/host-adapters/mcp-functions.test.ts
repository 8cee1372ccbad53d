/**
 * agent-os-sandbox/mcp serving a component that exports functions besides `run` (the `typed`
 * fixture): one tool per function with a JSON Schema derived from its WIT types, arguments
 * validated before the call, structured results, errors naming their code, and each call on
 * the audit record with its MCP provenance. Real MCP SDK `Client` over an in-memory transport.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, expect, it } from 'vitest';
import { createMcpServer } from 'agent-os-sandbox/mcp';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FIXTURE_SOURCES_DIR, fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { auditRecords, connectInMemory } from '../helpers/mcp.js';
import { needs } from '../helpers/requirements.js';
import { recordingSandbox, TEST_CACHE_DIR } from '../helpers/sandbox.js';
import { describeNeeds } from '../helpers/skip.js';

const REQUEST = { timeout: 15_000 };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serveTyped() {
  const r = recordingSandbox({ prewarmWorkers: 0 });
  cleanups.push(() => r.sandbox.close());
  const agent = await r.sandbox.load(fixturePath('typed'), { wit: join(FIXTURE_SOURCES_DIR, 'typed.wit') });
  const { client, close } = await connectInMemory(await createMcpServer({ sandbox: r.sandbox, agents: { typed: { agent } }, sessionId: 'session-typed' }), { name: 'typed-client', version: '0.9.0' });
  cleanups.push(close);
  return { ...r, client };
}

const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;
type Schema = { type?: string; properties?: Record<string, Schema>; required?: string[]; enum?: string[]; items?: Schema; anyOf?: Schema[]; oneOf?: Schema[]; description?: string };

describeNeeds(needs.wasmtimeAddon(), 'MCP tools per exported function', () => {
  it('lists one tool per exported function, with JSON Schemas from the WIT types and the WIT docs as descriptions', async () => {
    const { client } = await serveTyped();
    const { tools } = await client.listTools(undefined, REQUEST);
    const byName = new Map<string, Tool>(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].filter((n) => n.startsWith('typed')).sort()).toEqual(
      ['typed', 'typed_add', 'typed_shapes_area', 'typed_shapes_big', 'typed_shapes_describe', 'typed_shapes_flip', 'typed_shapes_move-point', 'typed_shapes_spin'],
    );
    const add = byName.get('typed_add')!;
    expect(add.description).toMatch(/^Adds two numbers\./);
    expect(add.inputSchema).toMatchObject({ type: 'object', required: ['a', 'b'], properties: { a: { type: 'integer', minimum: 0, maximum: 4294967295 } } });
    const move = byName.get('typed_shapes_move-point')!.inputSchema as Schema;
    expect(move.required).toEqual(['p', 'dx']);
    expect(move.properties!['p']).toMatchObject({ type: 'object', required: ['x', 'y'], properties: { x: { description: 'Distance from the left edge.' } } });
    const area = byName.get('typed_shapes_area')!.inputSchema as Schema;
    expect(JSON.stringify(area.properties!['s'])).toMatch(/"const":"circle"/);
    expect(area.properties!['u']).toMatchObject({ enum: ['metric', 'imperial'] });
    const describeTool = byName.get('typed_shapes_describe')!.inputSchema as Schema;
    expect(describeTool.properties!['st']).toMatchObject({ type: 'array', items: { enum: ['bold', 'italic', 'under-line'] } });
    expect(byName.get('typed_shapes_flip')!.outputSchema).toMatchObject({ type: 'object', properties: { value: { type: 'string' } } });
  });

  it('calls a function and returns its structured result; bad arguments and returned errors are tool errors with the code', async () => {
    const { client, audit } = await serveTyped();
    const ok = (await client.callTool({ name: 'typed_shapes_move-point', arguments: { p: { x: 1, y: 2 }, dx: 10 } }, undefined, REQUEST)) as CallToolResult;
    expect(ok.isError).toBeFalsy();
    expect(ok.structuredContent).toMatchObject({ value: { x: 11, y: 2 }, fuelUsed: expect.any(Number), runId: expect.any(String) });
    expect(JSON.parse(text(ok))).toEqual({ x: 11, y: 2 });

    const before = audit.length;
    const bad = (await client.callTool({ name: 'typed_add', arguments: { a: -1, b: 'two' } }, undefined, REQUEST)) as CallToolResult;
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/a|b/);
    // Refused before the call began: nothing was decided or recorded.
    expect(audit.slice(before)).toEqual([]);

    const err = (await client.callTool({ name: 'typed_shapes_describe', arguments: { tags: [], st: [], pair: [1, 'x'] } }, undefined, REQUEST)) as CallToolResult;
    expect(err.isError).toBe(true);
    expect(text(err)).toMatch(/^AGENT_ERROR: .*no tags/);
  });

  it('puts every call on the audit record with the MCP session, client and tool', async () => {
    const { client, sandbox, auditDir } = await serveTyped();
    const r = (await client.callTool({ name: 'typed_add', arguments: { a: 20, b: 22 } }, undefined, REQUEST)) as CallToolResult;
    expect((r.structuredContent as { value: number }).value).toBe(42);
    const runId = (r.structuredContent as { runId: string }).runId;
    await sandbox.close();
    const recs = await auditRecords(auditDir, { correlationId: runId });
    const granted = recs.find((x) => x.eventType === 'authorization_granted')!;
    expect(granted).toMatchObject({ action: 'call', resource: 'add' });
    expect(JSON.stringify(granted)).toContain('session-typed');
    expect(JSON.stringify(granted)).toContain('typed-client/0.9.0');
    expect(JSON.stringify(granted)).toContain('typed_add');
  });
});

describeNeeds(needs.wasmtimeAddon(), 'agentos mcp serving exported functions', () => {
  it('the real CLI over stdio serves the function tools of <agent.wasm> --wit, and a call comes back typed', async () => {
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const audit = mkdtempSync(join(tmpdir(), 'agentos-mcp-typed-'));
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [join(REPO_ROOT, 'dist', 'cli', 'main.js'), 'mcp', fixturePath('typed'), '--wit', join(FIXTURE_SOURCES_DIR, 'typed.wit'), '--audit', audit, '--cache-dir', TEST_CACHE_DIR],
      stderr: 'pipe',
    });
    const client = new Client({ name: 'cli-typed', version: '1.0.0' });
    await client.connect(transport, REQUEST);
    cleanups.push(() => client.close());
    const { tools } = await client.listTools(undefined, REQUEST);
    expect(tools.find((t) => t.name === 'typed_shapes_area')?.description).toMatch(/^The area of a shape/);
    const r = (await client.callTool({ name: 'typed_shapes_area', arguments: { s: { tag: 'circle', val: 1 }, u: 'metric' } }, undefined, REQUEST)) as CallToolResult;
    expect(r.isError, JSON.stringify(r)).toBeFalsy();
    expect((r.structuredContent as { value: number }).value).toBeCloseTo(Math.PI);
    const bad = (await client.callTool({ name: 'typed_shapes_area', arguments: { s: { tag: 'circle' }, u: 'metric' } }, undefined, REQUEST)) as CallToolResult;
    expect(bad.isError).toBe(true);
  });
});
