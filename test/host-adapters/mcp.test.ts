/**
 * agent-os-sandbox/mcp against the real MCP SDK `Client` over an in-memory transport: tools
 * with their schemas, a call's structured result, failures as `CODE: message` tool errors,
 * progress for a long run, cancellation, the management tools, provenance in the audit chain,
 * and the agents.yaml config. Imports the adapter through the package's subpath export, as
 * users do (the build must have run).
 */
import { request as httpRequest } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { queryAuditLog, type AuditRecord, type Sandbox } from 'agent-os-sandbox';
import { createMcpServer, loadMcpConfig, parseMcpConfig, serveHttp, type McpAgentEntry } from 'agent-os-sandbox/mcp';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { auditRecords, connectInMemory } from '../helpers/mcp.js';
import { recordingSandbox } from '../helpers/sandbox.js';

/** Every request sets its own timeout: the SDK's default (60 s) would outlive the test. */
const REQUEST = { timeout: 15_000 };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function connect(sandbox: Sandbox, agents: Record<string, McpAgentEntry>): Promise<Client> {
  const { client, close } = await connectInMemory(await createMcpServer({ sandbox, agents, sessionId: 'session-1' }));
  cleanups.push(close);
  return client;
}

function setup() {
  const r = recordingSandbox({ prewarmWorkers: 0 });
  cleanups.push(() => r.sandbox.close());
  return r;
}

const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;

const recordsOf = (dir: string, runId: string): Promise<AuditRecord[]> => auditRecords(dir, { correlationId: runId });

describe('createMcpServer', () => {
  it('lists one tool per agent with its schemas, and a call returns the structured result, on the record with its provenance', async () => {
    const { sandbox, auditDir } = setup();
    const echo = await sandbox.load(fixturePath('echo'));
    const client = await connect(sandbox, { echo: { agent: echo, description: 'Repeats the task.' } });

    const { tools } = await client.listTools(undefined, REQUEST);
    expect(tools.map((t) => t.name).sort()).toEqual(['agentos_explain', 'agentos_list_agents', 'agentos_show_policy', 'echo']);
    const tool = tools.find((t) => t.name === 'echo')!;
    expect(tool.description).toBe('Repeats the task.');
    expect(tool.inputSchema).toMatchObject({ type: 'object', properties: { task: { type: 'string' } }, required: ['task'] });
    expect(Object.keys(tool.outputSchema?.properties ?? {}).sort()).toEqual(['durationMs', 'fuelUsed', 'output', 'runId']);

    const r = (await client.callTool({ name: 'echo', arguments: { task: 'hello mcp' } }, undefined, REQUEST)) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(text(r)).toBe('hello mcp');
    const result = r.structuredContent as { output: string; fuelUsed: number; durationMs: number; runId: string };
    expect(result).toMatchObject({ output: 'hello mcp', fuelUsed: expect.any(Number), durationMs: expect.any(Number), runId: expect.any(String) });

    await sandbox.close();
    const recs = await recordsOf(auditDir, result.runId);
    expect(recs.map((x) => x.eventType)).toContain('authorization_granted');
    // The agent's close is stamped with its last run's id too, but is not part of the run.
    for (const x of recs.filter((y) => y.action !== 'close')) {
      expect(x.details?.['provenance']).toMatchObject({ via: 'mcp', session: 'session-1', client: 'test-client/1.2.3', tool: 'echo' });
    }
  });

  it('a limit ends the call as a tool error naming the code, and a bad argument is refused by the schema', async () => {
    const { sandbox } = setup();
    const hostile = await sandbox.load(fixturePath('hostile'), { policy: { version: 1, resourceLimits: { maxFuel: 200_000 } } });
    const client = await connect(sandbox, { hostile: { agent: hostile } });
    const r = (await client.callTool({ name: 'hostile', arguments: { task: 'L' } }, undefined, REQUEST)) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^FUEL_EXHAUSTED: /);
    expect(text(r)).not.toMatch(/\n\s+at /); // no stack
    const bad = (await client.callTool({ name: 'hostile', arguments: { task: 7 } }, undefined, REQUEST)) as CallToolResult;
    expect(bad.isError).toBe(true);
    expect(text(bad)).toMatch(/Invalid arguments/);
  });

  it('sends progress notifications while a long run goes on, when the client asks', async () => {
    const { sandbox } = setup();
    const hostile = await sandbox.load(fixturePath('hostile'));
    const client = await connect(sandbox, { hostile: { agent: hostile, timeout: '2500ms' } });
    const progress: { progress: number; message?: string }[] = [];
    const r = (await client.callTool({ name: 'hostile', arguments: { task: 'L' } }, undefined, { ...REQUEST, onprogress: (p) => progress.push(p) })) as CallToolResult;
    expect(text(r)).toMatch(/^TIMEOUT: /);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]?.message).toBe('started');
    expect(progress.map((p) => p.progress)).toEqual(progress.map((_, i) => i));
  });

  it("the client's cancellation ends the run at once with CANCELLED, recorded with its provenance", async () => {
    const { sandbox, audit, auditDir } = setup();
    const hostile = await sandbox.load(fixturePath('hostile'));
    const client = await connect(sandbox, { loop: { agent: hostile, timeout: '20s' } });
    const stop = new AbortController();
    const started = Date.now();
    const call = client.callTool({ name: 'loop', arguments: { task: 'L' } }, undefined, { ...REQUEST, signal: stop.signal });
    setTimeout(() => stop.abort('the user pressed stop'), 300);
    await expect(call).rejects.toThrow();
    // The server hears of it through notifications/cancelled: wait for the run's ending.
    const deadline = Date.now() + 5_000;
    while (!audit.some((e) => e.type === 'agent_error' && e.target === 'CANCELLED') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(Date.now() - started).toBeLessThan(5_000);
    await sandbox.close();
    const ended: AuditRecord[] = [];
    for await (const r of queryAuditLog(auditDir, { agentId: hostile.id, eventType: 'agent_error' })) ended.push(r);
    expect(ended.map((r) => r.resource)).toEqual(['CANCELLED']);
    expect(ended[0]?.details?.['provenance']).toMatchObject({ via: 'mcp', tool: 'loop', client: 'test-client/1.2.3' });
  });

  it('management tools list the agents and show a policy, read-only', async () => {
    const { sandbox } = setup();
    const policy = { version: 1, capabilities: { allowed: ['read_env'] }, env: { allow: ['LANG'], set: { API_KEY: 'secret-value' } }, resourceLimits: { maxFuel: 1000000 } };
    const echo = await sandbox.load(fixturePath('echo'), { policy });
    const client = await connect(sandbox, { echo: { agent: echo } });
    const list = (await client.callTool({ name: 'agentos_list_agents', arguments: {} }, undefined, REQUEST)) as CallToolResult;
    const agents = (list.structuredContent as { agents: { name: string; kind: string; description: string; policy: { env: string[]; limits: Record<string, number> } }[] }).agents;
    expect(agents).toHaveLength(1);
    expect(agents[0]).toMatchObject({ name: 'echo', kind: 'component', policy: { env: ['LANG', 'API_KEY'], limits: { maxFuel: 1000000 } } });
    expect(agents[0]?.description).toMatch(/sandboxed agent "echo"/);

    const shown = (await client.callTool({ name: 'agentos_show_policy', arguments: { agent: 'echo' } }, undefined, REQUEST)) as CallToolResult;
    expect(shown.isError).toBeFalsy();
    expect(text(shown)).not.toContain('secret-value');
    expect((shown.structuredContent as { policy: { env: { set: Record<string, string> } } }).policy.env.set).toEqual({ API_KEY: '(set)' });
    const missing = (await client.callTool({ name: 'agentos_show_policy', arguments: { agent: 'nope' } }, undefined, REQUEST)) as CallToolResult;
    expect(missing.isError).toBe(true);
    expect(text(missing)).toMatch(/no agent named "nope"/);
  });

  it('refuses agent names that are not tool names or that take the management prefix', async () => {
    const { sandbox } = setup();
    const echo = await sandbox.load(fixturePath('echo'));
    await expect(createMcpServer({ sandbox, agents: { 'bad name': echo } })).rejects.toThrow(/not a valid tool name/);
    await expect(createMcpServer({ sandbox, agents: { agentos_x: echo } })).rejects.toThrow(/server's own tools/);
  });
});

describe('serveHttp', () => {
  it('bounds the sessions open at once, and a session that ends makes room', async () => {
    const { sandbox } = setup();
    const config = await parseMcpConfig({ agents: { echo: { component: fixturePath('echo') } } }, { source: 'test', baseDir: REPO_ROOT });
    const http = await serveHttp({ sandbox, config, maxSessions: 1 });
    cleanups.push(() => http.close());
    const first = new StreamableHTTPClientTransport(new URL(http.url));
    const a = new Client({ name: 'a', version: '1' });
    await a.connect(first, REQUEST);
    const b = new Client({ name: 'b', version: '1' });
    await expect(b.connect(new StreamableHTTPClientTransport(new URL(http.url)), REQUEST)).rejects.toThrow(/too many sessions/);
    await first.terminateSession();
    await a.close();
    expect(http.sessions).toBe(0);
    const c = new Client({ name: 'c', version: '1' });
    await c.connect(new StreamableHTTPClientTransport(new URL(http.url)), REQUEST);
    expect(((await c.callTool({ name: 'echo', arguments: { task: 'room' } }, undefined, REQUEST)) as CallToolResult).structuredContent).toMatchObject({ output: 'room' });
    await c.close();
  });
});

describe('serveHttp idle sessions', () => {
  it('a session whose client went away without ending it is ended after sessionIdleMs and its agents freed; a busy one is kept', async () => {
    const { sandbox } = setup();
    const config = await parseMcpConfig({ agents: { echo: { component: fixturePath('echo') } } }, { source: 'test', baseDir: REPO_ROOT });
    const http = await serveHttp({ sandbox, config, sessionIdleMs: 400 });
    cleanups.push(() => http.close());
    const gone = new Client({ name: 'gone', version: '1' });
    const goneTransport = new StreamableHTTPClientTransport(new URL(http.url));
    await gone.connect(goneTransport, REQUEST);
    const goneSession = goneTransport.sessionId!;
    const busy = new Client({ name: 'busy', version: '1' });
    await busy.connect(new StreamableHTTPClientTransport(new URL(http.url)), REQUEST);
    expect(http.sessions).toBe(2);
    // The first client disappears without DELETE (its streams close); the other keeps calling.
    await gone.close();
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 150));
      await busy.callTool({ name: 'echo', arguments: { task: `tick ${i}` } }, undefined, REQUEST);
    }
    expect(http.sessions).toBe(1);
    // Its session id is no longer known.
    const status = await new Promise<number>((resolveStatus, reject) => {
      const req = httpRequest(http.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': goneSession } }, (res) => {
        res.resume();
        resolveStatus(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }));
    });
    expect(status).toBe(404);
    expect(((await busy.callTool({ name: 'echo', arguments: { task: 'still here' } }, undefined, REQUEST)) as CallToolResult).structuredContent).toMatchObject({ output: 'still here' });
    await busy.close();
  });
});

describe('loadMcpConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentos-mcp-config-'));
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('reads agents with paths relative to the file, inline or file policies, descriptions and timeouts', async () => {
    writeFileSync(join(dir, 'policy.yaml'), 'version: 1\nresourceLimits: { maxFuel: 5000 }\n');
    const file = write('agents.yaml', [
      'version: 1',
      'agents:',
      `  echo: { component: ${JSON.stringify(fixturePath('echo'))}, policy: policy.yaml, description: Repeats., timeout: 5s }`,
      '  hello:',
      '    component: ' + JSON.stringify(join(REPO_ROOT, 'examples/hello/build/hello.wasm')),
      '    policy: { version: 1, mounts: [{ guest: /data, host: ./data, mode: ro }], capabilities: { allowed: [read_files] } }',
      '  tool: { command: [python3, -I, /agent/main.py], runtime: bwrap }',
    ].join('\n'));
    const config = await loadMcpConfig(file);
    expect(Object.keys(config.agents)).toEqual(['echo', 'hello', 'tool']);
    expect(config.agents['echo']).toMatchObject({ component: fixturePath('echo'), description: 'Repeats.', timeout: '5s' });
    expect(config.agents['echo']?.policy.resourceLimits.maxFuel).toBe(5000);
    expect(config.agents['hello']?.policy.mounts[0]?.host).toBe(join(dir, 'data'));
    expect(config.agents['tool']).toMatchObject({ command: ['python3', '-I', '/agent/main.py'], runtime: 'bwrap' });
  });

  it('reads the example config (examples/mcp/agents.yaml)', async () => {
    const config = await loadMcpConfig(join(REPO_ROOT, 'examples', 'mcp', 'agents.yaml'));
    expect(Object.keys(config.agents)).toEqual(['hello', 'code_review']);
    expect(config.agents['hello']?.component).toBe(join(REPO_ROOT, 'examples', 'hello', 'build', 'hello.wasm'));
    expect(config.agents['code_review']?.policy.mounts[0]?.host).toBe(join(REPO_ROOT, 'examples', 'code-review', 'workspace'));
  });

  it('names the file and the field of what is wrong', async () => {
    const cases: [string, RegExp][] = [
      ['agents: {}', /agents: list at least one agent/],
      ['agents: { a: { component: x.wasm, command: [ls] } }', /agents\.a: give exactly one of component/],
      ['agents: { a: { component: x.wasm, timeout: soon } }', /agents\.a\.timeout: expected a duration/],
      ['agents: { a: { component: x.wasm, colour: red } }', /agents\.a: .*colour/],
      ['agents: { "a b": { component: x.wasm } }', /agents\.a b: agent name "a b" is not a valid tool name/],
      ['agents: { a: { component: x.wasm, policy: { version: 2 } } }', /agents\.a\.policy/],
      ['agents: { a: { component: x.wasm, policy: missing.yaml } }', /agents\.a\.policy/],
      ['agents: [', /not valid YAML/],
    ];
    for (const [i, [yaml, message]] of cases.entries()) {
      const file = write(`bad-${i}.yaml`, yaml);
      await expect(loadMcpConfig(file), yaml).rejects.toThrow(message);
      await expect(loadMcpConfig(file)).rejects.toThrow(file);
    }
    await expect(loadMcpConfig(join(dir, 'nope.yaml'))).rejects.toMatchObject({ code: 'USAGE' });
  });
});
