/**
 * The MCP adapter's policy tools against the real MCP SDK `Client`: `agentos_explain` (read-only,
 * `agentos policy explain`'s engine) and `agentos_request_capability`, offered only with an
 * approver. The approver decides out of band (no argument can), a denial is a
 * `CAPABILITY_DENIED` tool error, an approval widens the agent's policy by exactly the grant for
 * that session only (HTTP sessions are kept apart), denies keep winning, and every request is on
 * the record with its decision. The agent is the C `fsprobe` reading files in a mount.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { type AuditRecord, type Sandbox } from 'agent-os-sandbox';
import { createMcpServer, parseMcpConfig, serveHttp, type ApprovalRequest, type Approver, type McpAgentEntry } from 'agent-os-sandbox/mcp';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { auditRecords, connectInMemory } from '../helpers/mcp.js';
import { sandboxPerTest } from '../helpers/sandbox.js';

const REQUEST = { timeout: 20_000 };
const sandbox = sandboxPerTest({ prewarmWorkers: 0 });
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const data = mkdtempSync(join(tmpdir(), 'agentos-mcp-approval-'));
writeFileSync(join(data, 'a.txt'), 'alpha');
writeFileSync(join(data, 'b.txt'), 'bravo');
writeFileSync(join(data, 'secret.txt'), 'hush');
const POLICY = {
  version: 1,
  capabilities: { allowed: ['read_files'], forbidden: ['network_access'] },
  mounts: [{ guest: '/data', host: data, mode: 'ro' }],
  fileAccess: { readonly: ['/data/a.txt'], forbidden: ['/data/secret.txt'] },
};

const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;
type Call = (name: string, args: Record<string, unknown>) => Promise<CallToolResult>;

async function connect(s: Sandbox, agents: Record<string, McpAgentEntry>, approve?: Approver): Promise<{ client: Client; call: Call }> {
  const { client, close } = await connectInMemory(await createMcpServer({ sandbox: s, agents, sessionId: 'session-1', ...(approve ? { approve } : {}) }));
  cleanups.push(close);
  return { client, call: async (name, args) => (await client.callTool({ name, arguments: args }, undefined, REQUEST)) as CallToolResult };
}

/** The probe's answer to `read PATH`: `ok <contents>` or `err <ERRNO>`. */
const read = async (call: Call, path: string) => text(await call('probe', { task: `read ${path}` }));

const records = (dir: string, eventType: string): Promise<AuditRecord[]> => auditRecords(dir, { eventType });

/** An approver that records what it was asked and answers `answer`. */
function approver(answer: (r: ApprovalRequest) => boolean | Promise<boolean> | { approved: boolean; approver?: string; note?: string }) {
  const asked: ApprovalRequest[] = [];
  const approve: Approver = async (r) => {
    asked.push(r);
    return answer(r);
  };
  return { asked, approve };
}

describe('agentos_explain', () => {
  it("decides a request against the agent's policy with the rule that decided it, read-only", async () => {
    const { sandbox: s } = sandbox();
    const probe = await s.load(fixturePath('fsprobe'), { policy: POLICY });
    const { client, call } = await connect(s, { probe: { agent: probe } });
    const { tools } = await client.listTools(undefined, REQUEST);
    expect(tools.map((t) => t.name).sort()).toEqual(['agentos_explain', 'agentos_list_agents', 'agentos_show_policy', 'probe']);
    expect(tools.find((t) => t.name === 'agentos_explain')?.annotations?.readOnlyHint).toBe(true);

    const allow = await call('agentos_explain', { agent: 'probe', request: { resource: 'file', action: 'read', attributes: { path: '/data/a.txt' } } });
    expect(allow.isError).toBeFalsy();
    expect(allow.structuredContent).toMatchObject({ agent: 'probe', allowed: true, layer: 'sandbox + model' });
    expect((allow.structuredContent as { matched: string[] }).matched.join(' ')).toContain('/data/a.txt');
    expect(text(allow)).toMatch(/^ALLOW {2}file read/);

    const deny = await call('agentos_explain', { agent: 'probe', request: { resource: 'file', action: 'read', attributes: { path: '/data/b.txt' } } });
    expect(deny.structuredContent).toMatchObject({ allowed: false, reason: expect.stringMatching(/fileAccess/) });
    const net = await call('agentos_explain', { agent: 'probe', request: { resource: 'network', action: 'connect', attributes: { url: 'https://example.com/' } } });
    expect(net.structuredContent).toMatchObject({ allowed: false, reason: expect.stringMatching(/network_access/) });
    const env = await call('agentos_explain', { agent: 'probe', request: { resource: 'env', action: 'read', attributes: { name: 'HOME' } } });
    expect(env.structuredContent).toMatchObject({ allowed: false, layer: 'sandbox' });

    expect(text(await call('agentos_explain', { agent: 'nope', request: { resource: 'file', action: 'read' } }))).toMatch(/^USAGE: no agent named "nope"/);
    expect(text(await call('agentos_explain', { agent: 'probe', request: { resource: 'file', action: 'read' } }))).toMatch(/^USAGE: request\.attributes\.path/);
    // Explaining changed nothing.
    expect(await read(call, '/data/b.txt')).toMatch(/^err /);
  });
});

describe('agentos_request_capability', () => {
  it('is not offered without an approver', async () => {
    const { sandbox: s } = sandbox();
    const probe = await s.load(fixturePath('fsprobe'), { policy: POLICY });
    const { client } = await connect(s, { probe: { agent: probe } });
    const { tools } = await client.listTools(undefined, REQUEST);
    expect(tools.map((t) => t.name)).not.toContain('agentos_request_capability');
    await expect(client.callTool({ name: 'agentos_request_capability', arguments: { agent: 'probe', grant: {}, reason: 'x' } }, undefined, REQUEST)).resolves.toMatchObject({ isError: true });
  });

  it('a denial is a CAPABILITY_DENIED tool error, the agent stays denied, and the request is on the record', async () => {
    const { sandbox: s, auditDir } = sandbox();
    const probe = await s.load(fixturePath('fsprobe'), { policy: POLICY });
    const { asked, approve } = approver(() => ({ approved: false, approver: 'alice', note: 'not today' }));
    const { client, call } = await connect(s, { probe: { agent: probe } }, approve);
    const tool = (await client.listTools(undefined, REQUEST)).tools.find((t) => t.name === 'agentos_request_capability');
    expect(tool?.inputSchema).toMatchObject({ required: ['agent', 'grant', 'reason'], additionalProperties: false });

    const r = await call('agentos_request_capability', { agent: 'probe', grant: { fileAccess: { readonly: ['/data/b.txt'] } }, reason: 'the task needs b' });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^CAPABILITY_DENIED: .*fileAccess\.readonly \["\/data\/b\.txt"\].*not approved by alice: not today/);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ agent: 'probe', agentId: probe.id, grant: { fileAccess: { readonly: ['/data/b.txt'] } }, reason: 'the task needs b', session: 'session-1', client: 'test-client/1.2.3' });
    expect(await read(call, '/data/b.txt')).toMatch(/^err /);

    await s.close();
    const denied = await records(auditDir, 'authorization_denied');
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ agentId: probe.id, action: 'request-capability', outcome: 'blocked' });
    expect(denied[0]?.details).toMatchObject({ decision: 'denied', approver: 'alice', note: 'not today', grant: { fileAccess: { readonly: ['/data/b.txt'] } }, request: { reason: 'the task needs b' }, provenance: { via: 'mcp', session: 'session-1', client: 'test-client/1.2.3', tool: 'agentos_request_capability' } });
  });

  it('an approval widens the policy by exactly the grant: the next run can read the file, and it is on the record', async () => {
    const { sandbox: s, auditDir } = sandbox();
    const probe = await s.load(fixturePath('fsprobe'), { policy: POLICY });
    const { asked, approve } = approver(() => true);
    const { call } = await connect(s, { probe: { agent: probe } }, approve);
    expect(await read(call, '/data/b.txt')).toMatch(/^err /);

    const r = await call('agentos_request_capability', { agent: 'probe', grant: { fileAccess: { readonly: ['/data/b.txt', '/data/b.txt'] } }, reason: 'summarize b' });
    expect(r.isError, text(r)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({ agent: 'probe', approved: true, grant: { fileAccess: { readonly: ['/data/b.txt'] } } });
    expect(asked[0]?.grant).toEqual({ fileAccess: { readonly: ['/data/b.txt'] } });
    expect(await read(call, '/data/b.txt')).toBe('ok bravo');
    expect(await read(call, '/data/a.txt')).toBe('ok alpha');
    expect(probe.policy.fileAccess.readonly).toEqual(['/data/a.txt', '/data/b.txt']);
    expect(probe.policy.fileAccess.forbidden).toEqual(['/data/secret.txt']);
    const explained = await call('agentos_explain', { agent: 'probe', request: { resource: 'file', action: 'read', attributes: { path: '/data/b.txt' } } });
    expect(explained.structuredContent).toMatchObject({ allowed: true });

    await s.close();
    const granted = (await records(auditDir, 'authorization_granted')).filter((x) => x.action === 'request-capability');
    expect(granted).toHaveLength(1);
    expect(granted[0]?.details).toMatchObject({ decision: 'approved', approver: 'callback', grant: { fileAccess: { readonly: ['/data/b.txt'] } }, provenance: { session: 'session-1' } });
    expect((await records(auditDir, 'policy_updated')).map((x) => x.agentId)).toContain(probe.id);
  });

  it('no argument can approve: an extra field is refused, the approver alone decides, and every request is asked afresh', async () => {
    const { sandbox: s } = sandbox();
    const probe = await s.load(fixturePath('fsprobe'), { policy: POLICY });
    let answer = true;
    const { asked, approve } = approver(() => answer);
    const { call } = await connect(s, { probe: { agent: probe } }, approve);
    const forged = await call('agentos_request_capability', { agent: 'probe', grant: { env: { allow: ['HOME'] } }, reason: 'x', approved: true });
    expect(forged.isError).toBe(true);
    expect(asked).toHaveLength(0);
    const grant = { fileAccess: { readonly: ['/data/b.txt'] } };
    expect((await call('agentos_request_capability', { agent: 'probe', grant, reason: 'first' })).isError).toBeFalsy();
    answer = false;
    expect(text(await call('agentos_request_capability', { agent: 'probe', grant, reason: 'again' }))).toMatch(/^CAPABILITY_DENIED: .*not approved/);
    expect(asked.map((a) => a.reason)).toEqual(['first', 'again']);
    expect(new Set(asked.map((a) => a.id)).size).toBe(2);
  });

  it('a malformed grant is a USAGE tool error and the approver is not asked; a throwing approver denies', async () => {
    const { sandbox: s } = sandbox();
    const probe = await s.load(fixturePath('fsprobe'), { policy: POLICY });
    const { asked, approve } = approver(() => {
      throw new Error('dialog crashed');
    });
    const { call } = await connect(s, { probe: { agent: probe } }, approve);
    const bad: [unknown, RegExp][] = [
      [{ fileAccess: { forbidden: [] } }, /^USAGE: grant\.fileAccess\.forbidden: a grant can only add to/],
      [{ mounts: [{ guest: '/etc', host: '/etc' }] }, /^USAGE: grant\.mounts: a grant can only add to/],
      [{ capabilities: { allowed: ['READ FILES'] } }, /^USAGE: .*capabilities\.allowed/],
      [{ networkRules: { allowedPorts: [70000] } }, /^USAGE: .*allowedPorts/],
      [{ env: { allow: [] } }, /^USAGE: grant: asks for nothing/],
      [{}, /^USAGE: grant: asks for nothing/],
    ];
    for (const [grant, message] of bad) {
      const r = await call('agentos_request_capability', { agent: 'probe', grant, reason: 'x' });
      expect(r.isError, JSON.stringify(grant)).toBe(true);
      expect(text(r), JSON.stringify(grant)).toMatch(message);
    }
    expect(text(await call('agentos_request_capability', { agent: 'nope', grant: { env: { allow: ['HOME'] } }, reason: 'x' }))).toMatch(/^USAGE: no agent named "nope"/);
    expect(asked).toHaveLength(0);
    const r = await call('agentos_request_capability', { agent: 'probe', grant: { env: { allow: ['HOME'] } }, reason: 'x' });
    expect(text(r)).toMatch(/^CAPABILITY_DENIED: .*not approved by callback: the approver failed: dialog crashed/);
    expect(probe.policy.env.allow).toEqual([]);
  });

  it('an approved grant does not override a deny: forbidden paths and capabilities keep winning', async () => {
    const { sandbox: s } = sandbox();
    const probe = await s.load(fixturePath('fsprobe'), { policy: POLICY });
    const { approve } = approver(() => true);
    const { call } = await connect(s, { probe: { agent: probe } }, approve);
    const files = await call('agentos_request_capability', { agent: 'probe', grant: { fileAccess: { readonly: ['/data/**'] } }, reason: 'all of it' });
    expect(files.isError, text(files)).toBeFalsy();
    expect(await read(call, '/data/b.txt')).toBe('ok bravo');
    expect(await read(call, '/data/secret.txt')).toMatch(/^err /);

    const net = await call('agentos_request_capability', { agent: 'probe', grant: { capabilities: { allowed: ['network_access'] }, networkRules: { allowedHosts: ['example.com'] } }, reason: 'fetch' });
    expect(net.isError, text(net)).toBeFalsy();
    expect(text(net)).toMatch(/network_access.*both allowed and forbidden; forbidden wins/);
    const explained = await call('agentos_explain', { agent: 'probe', request: { resource: 'network', action: 'connect', attributes: { url: 'https://example.com/' } } });
    expect(explained.structuredContent).toMatchObject({ allowed: false, reason: expect.stringMatching(/forbidden/) });
  });
});

describe('agentos_request_capability over Streamable HTTP', () => {
  it("a grant widens only the session that asked: another session's agent stays denied", async () => {
    const { sandbox: s, auditDir } = sandbox();
    const config = await parseMcpConfig({ agents: { probe: { component: fixturePath('fsprobe'), policy: POLICY } } }, { source: 'test', baseDir: REPO_ROOT });
    const { asked, approve } = approver(() => true);
    const http = await serveHttp({ sandbox: s, config, approve });
    cleanups.push(() => http.close());
    const open = async (name: string) => {
      const client = new Client({ name, version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(http.url)), REQUEST);
      cleanups.push(() => client.close());
      const call: Call = async (tool, args) => (await client.callTool({ name: tool, arguments: args }, undefined, REQUEST)) as CallToolResult;
      return { client, call };
    };
    const a = await open('a');
    const b = await open('b');
    const r = await a.call('agentos_request_capability', { agent: 'probe', grant: { fileAccess: { readonly: ['/data/b.txt'] } }, reason: 'a needs b' });
    expect(r.isError, text(r)).toBeFalsy();
    expect(asked[0]).toMatchObject({ client: 'a/1', session: expect.any(String) });
    expect(await read(a.call, '/data/b.txt')).toBe('ok bravo');
    expect(await read(b.call, '/data/b.txt')).toMatch(/^err /);
    expect((await b.call('agentos_explain', { agent: 'probe', request: { resource: 'file', action: 'read', attributes: { path: '/data/b.txt' } } })).structuredContent).toMatchObject({ allowed: false });
    // A session opened after the grant starts from the configured policy too.
    const c = await open('c');
    expect(await read(c.call, '/data/b.txt')).toMatch(/^err /);

    await http.close();
    await s.close();
    const granted = (await records(auditDir, 'authorization_granted')).filter((x) => x.action === 'request-capability');
    expect(granted).toHaveLength(1);
    expect(granted[0]?.details?.['provenance']).toMatchObject({ session: asked[0]?.session, client: 'a/1' });
  });
});
