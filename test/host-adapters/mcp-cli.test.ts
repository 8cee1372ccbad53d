/**
 * The real `agentos mcp` (the built CLI) driven by the MCP SDK's own clients: over stdio
 * (`StdioClientTransport` spawns it, as an MCP client's config does) and over Streamable HTTP
 * (`--http`): tools listed, a tool called, the calls in the audit chain with their provenance,
 * sessions with their own agents, and requests naming a foreign Host or Origin refused.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { auditRecords, startMcpHttp } from '../helpers/mcp.js';
import { needs } from '../helpers/requirements.js';
import { TEST_CACHE_DIR } from '../helpers/sandbox.js';
import { describeNeeds } from '../helpers/skip.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
/** Every request sets its own timeout: the SDK's default (60 s) would outlive the test. */
const REQUEST = { timeout: 20_000 };
const dir = mkdtempSync(join(tmpdir(), 'agentos-mcp-cli-'));
const config = join(dir, 'agents.yaml');
writeFileSync(config, `agents:\n  echo:\n    component: ${JSON.stringify(fixturePath('echo'))}\n    description: Repeats the task.\n`);

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

const records = auditRecords;

const call = async (client: Client, task: string) =>
  (await client.callTool({ name: 'echo', arguments: { task } }, undefined, REQUEST)) as CallToolResult & { structuredContent: { output: string; runId: string } };

describe('agentos mcp over stdio', () => {
  it('lists and calls the configured agent; the call is in the audit chain with its provenance; stdin closing stops it', async () => {
    const audit = join(dir, 'audit-stdio');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '--config', config, '--audit', audit, '--cache-dir', TEST_CACHE_DIR],
      cwd: dir,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new Client({ name: 'cli-test', version: '0.0.1' });
    await client.connect(transport, REQUEST);
    const { tools } = await client.listTools(undefined, REQUEST);
    expect(tools.map((t) => t.name).sort()).toEqual(['agentos_explain', 'agentos_list_agents', 'agentos_show_policy', 'echo']);
    expect(tools.find((t) => t.name === 'echo')?.description).toBe('Repeats the task.');
    const r = await call(client, 'over stdio');
    expect(r.isError, JSON.stringify(r)).toBeFalsy();
    expect(r.structuredContent.output).toBe('over stdio');

    const t = Date.now();
    await client.close();
    // The transport waits 2 s for the server to exit on its own before it sends SIGTERM.
    expect(Date.now() - t, stderr).toBeLessThan(2_000);
    expect(stderr).toMatch(/agentos mcp: serving echo on stdio/);

    const recs = await records(audit, { correlationId: r.structuredContent.runId });
    const granted = recs.find((x) => x.eventType === 'authorization_granted');
    expect(granted?.details?.['provenance']).toMatchObject({ via: 'mcp', client: 'cli-test/0.0.1', tool: 'echo', session: expect.any(String) });
  });

  it('the short form serves one component under a tool name; usage errors exit 2', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', fixturePath('echo'), '--name', 'repeat', '--no-audit', '--cache-dir', TEST_CACHE_DIR],
      cwd: dir,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'cli-test', version: '0.0.1' });
    await client.connect(transport, REQUEST);
    const r = (await client.callTool({ name: 'repeat', arguments: { task: 'short' } }, undefined, REQUEST)) as CallToolResult;
    expect(r.structuredContent).toMatchObject({ output: 'short' });
    await client.close();

    const bad = spawn(process.execPath, [CLI, 'mcp', '--config', config, '--name', 'x'], { cwd: dir });
    let err = '';
    bad.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((res) => bad.on('exit', res));
    expect(code).toBe(2);
    expect(err).toMatch(/--name goes with a component path/);
  });
});

/** Start `agentos mcp --http` on a free port; resolves with the endpoint it prints on stderr. */
async function startHttp(audit: string): Promise<{ child: ChildProcess; url: URL; stderr: () => string }> {
  const started = await startMcpHttp(CLI, ['--config', config, '--http', '127.0.0.1:0', '--audit', audit, '--cache-dir', TEST_CACHE_DIR], dir);
  children.push(started.child);
  return started;
}

/** A raw request: Node's fetch would not send the Host header we set. */
function raw(url: URL, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers } }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', rej);
    req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
  });
}

describe('agentos mcp --http', () => {
  it('serves each session its own agents, ends them with the session, and refuses a foreign Host or Origin', async () => {
    const audit = join(dir, 'audit-http');
    const { child, url, stderr } = await startHttp(audit);

    const a = new Client({ name: 'http-a', version: '1' });
    const ta = new StreamableHTTPClientTransport(url);
    await a.connect(ta, REQUEST);
    const b = new Client({ name: 'http-b', version: '2' });
    const tb = new StreamableHTTPClientTransport(url);
    await b.connect(tb, REQUEST);
    expect(ta.sessionId).toBeDefined();
    expect(tb.sessionId).not.toBe(ta.sessionId);

    const ra = await call(a, 'from a');
    const rb = await call(b, 'from b');
    expect([ra.structuredContent.output, rb.structuredContent.output]).toEqual(['from a', 'from b']);

    // DNS rebinding: a Host or an Origin that is not this server is refused before MCP.
    const foreign = await raw(url, { host: `evil.example:${url.port}` });
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatch(/DNS rebinding/);
    expect((await raw(url, { host: url.host, origin: 'http://evil.example' })).status).toBe(403);
    expect((await raw(url, { host: `localhost:${url.port}` })).status).toBe(200);

    const sessionA = ta.sessionId!;
    const sessionB = tb.sessionId!;
    await ta.terminateSession();
    // Ending a session frees its agents at once, while the server and the other session go on.
    const ended = Date.now() + 5_000;
    while (!stderr().includes(`session ${sessionA} ended`) && Date.now() < ended) await new Promise((r) => setTimeout(r, 20));
    expect(stderr()).toContain(`session ${sessionA} ended`);
    expect((await call(b, 'still here')).structuredContent.output).toBe('still here');
    await a.close();
    await b.close();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => (child.exitCode !== null ? res(child.exitCode) : child.on('exit', res)));
    expect(code, stderr()).toBe(0);

    const [ga] = (await records(audit, { correlationId: ra.structuredContent.runId })).filter((r) => r.eventType === 'authorization_granted');
    const [gb] = (await records(audit, { correlationId: rb.structuredContent.runId })).filter((r) => r.eventType === 'authorization_granted');
    expect(ga?.details?.['provenance']).toMatchObject({ via: 'mcp', session: sessionA, client: 'http-a/1', tool: 'echo' });
    expect(gb?.details?.['provenance']).toMatchObject({ session: sessionB, client: 'http-b/2' });
    // Two sessions, two agents: neither ran in the other's instance.
    expect(ga?.agentId).not.toBe(gb?.agentId);
    // Session a's agent was closed when the session ended.
    expect(await records(audit, { agentId: ga!.agentId, eventType: 'agent_terminate' })).toHaveLength(1);
  });
});

describeNeeds(needs.bwrap(), 'agentos mcp --native', () => {
  it('serves a command as a native agent (the container sandbox) under its tool name; a command without --native is exit 2', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '--native', '--name', 'shout', '--no-audit', '--', 'sh', '-c', 'read t; echo "$t from $(id -u)"'],
      cwd: dir,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'cli-test', version: '0.0.1' });
    await client.connect(transport, REQUEST);
    const { tools } = await client.listTools(undefined, REQUEST);
    expect(tools.map((t) => t.name)).toContain('shout');
    const r = (await client.callTool({ name: 'shout', arguments: { task: 'hey' } }, undefined, REQUEST)) as CallToolResult & { structuredContent: { output: string } };
    expect(r.isError, JSON.stringify(r)).toBeFalsy();
    expect(r.structuredContent.output).toBe('hey from 65534\n');
    await client.close();
    const bad = spawnSync(process.execPath, [CLI, 'mcp', '--no-audit', '--', 'true'], { encoding: 'utf8', timeout: 20_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('needs --native');
  });
});
