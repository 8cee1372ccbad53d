/**
 * The real `agentos mcp --approve-with CMD` over stdio, driven by the MCP SDK's stdio client:
 * CMD (run without a shell of ours, its stdin and stdout pipes apart from the MCP channel)
 * gets the request as JSON and decides by its exit status; the decision, its approver and
 * the request are in the audit chain; --approve-timeout denies a CMD that does not decide; a
 * native agent (bubblewrap) is loaded again under its widened policy.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { type AuditRecord } from 'agent-os-sandbox';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { auditRecords } from '../helpers/mcp.js';
import { needs } from '../helpers/requirements.js';
import { TEST_CACHE_DIR } from '../helpers/sandbox.js';
import { describeNeeds } from '../helpers/skip.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const REQUEST = { timeout: 20_000 };
const dir = mkdtempSync(join(tmpdir(), 'agentos-mcp-approve-'));
const data = join(dir, 'data');
mkdirSync(data);
writeFileSync(join(data, 'a.txt'), 'alpha');
writeFileSync(join(data, 'b.txt'), 'bravo');
const config = join(dir, 'agents.yaml');
writeFileSync(
  config,
  `agents:
  probe:
    component: ${JSON.stringify(fixturePath('fsprobe'))}
    policy: { version: 1, capabilities: { allowed: [read_files] }, mounts: [{ guest: /data, host: ./data, mode: ro }], fileAccess: { readonly: [/data/a.txt] } }
`,
);

const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;

const records = (auditDir: string, eventType: string): Promise<AuditRecord[]> => auditRecords(auditDir, { eventType });

/** Start `agentos mcp` on stdio with `args`; returns a client and a way to call its tools. */
async function start(args: string[], env: Record<string, string> = {}) {
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', ...args, '--cache-dir', TEST_CACHE_DIR], cwd: dir, stderr: 'pipe', env: { ...(process.env as Record<string, string>), ...env } });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'approve-test', version: '0.0.1' });
  await client.connect(transport, REQUEST);
  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args }, undefined, REQUEST)) as CallToolResult;
  return { client, call, stderr: () => stderr };
}

const GRANT = { fileAccess: { readonly: ['/data/b.txt'] } };

describe('agentos mcp --approve-with', () => {
  it('CMD gets the request on its stdin and exit 0 approves: the next run reads the file; the decision is on the record', async () => {
    const audit = join(dir, 'audit-approve');
    const seen = join(dir, 'request.json');
    const { client, call, stderr } = await start(['--config', config, '--audit', audit, '--approve-with', `sh -c 'cat > ${seen}; echo looks fine'`]);
    const { tools } = await client.listTools(undefined, REQUEST);
    expect(tools.map((t) => t.name).sort()).toEqual(['agentos_explain', 'agentos_list_agents', 'agentos_request_capability', 'agentos_show_policy', 'probe']);
    expect(text(await call('probe', { task: 'read /data/b.txt' }))).toMatch(/^err /);

    const r = await call('agentos_request_capability', { agent: 'probe', grant: GRANT, reason: 'the report is in b' });
    expect(r.isError, text(r) + stderr()).toBeFalsy();
    expect(text(r)).toMatch(/^approved by command sh/);
    const request = JSON.parse(readFileSync(seen, 'utf8')) as Record<string, unknown>;
    expect(request).toMatchObject({ agent: 'probe', grant: GRANT, reason: 'the report is in b', client: 'approve-test/0.0.1', session: expect.any(String), policy: { fileAccess: { readonly: ['/data/a.txt'] } } });
    expect(text(await call('probe', { task: 'read /data/b.txt' }))).toBe('ok bravo');
    await client.close();

    const [granted] = (await records(audit, 'authorization_granted')).filter((x) => x.action === 'request-capability');
    expect(granted?.details).toMatchObject({ decision: 'approved', approver: 'command sh', note: 'looks fine', grant: GRANT, request: { reason: 'the report is in b' }, provenance: { via: 'mcp', client: 'approve-test/0.0.1', session: request['session'] } });
  });

  it('any other exit status denies with CAPABILITY_DENIED; --approve-timeout denies a CMD that does not decide', async () => {
    const audit = join(dir, 'audit-deny');
    const denied = await start(['--config', config, '--audit', audit, '--approve-with', "sh -c 'echo not for this task; exit 1'"]);
    const r = await denied.call('agentos_request_capability', { agent: 'probe', grant: GRANT, reason: 'please' });
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/^CAPABILITY_DENIED: .*not approved by command sh: not for this task/);
    expect(text(await denied.call('probe', { task: 'read /data/b.txt' }))).toMatch(/^err /);
    await denied.client.close();
    const [record] = await records(audit, 'authorization_denied');
    expect(record?.details).toMatchObject({ decision: 'denied', approver: 'command sh', grant: GRANT });

    const slow = await start(['--config', config, '--no-audit', '--approve-with', "sh -c 'exec sleep 30'", '--approve-timeout', '300ms']);
    const t = Date.now();
    const late = await slow.call('agentos_request_capability', { agent: 'probe', grant: GRANT, reason: 'please' });
    expect(text(late)).toMatch(/^CAPABILITY_DENIED: .*no decision within 300 ms/);
    expect(Date.now() - t).toBeLessThan(5_000);
    await slow.client.close();
  });

  it('usage errors exit 2', () => {
    const run = (args: string[]) => spawnSync(process.execPath, [CLI, 'mcp', '--config', config, '--no-audit', ...args], { encoding: 'utf8', timeout: 20_000, input: '' });
    const noCmd = run(['--approve-timeout', '5s']);
    expect(noCmd.status).toBe(2);
    expect(noCmd.stderr).toMatch(/--approve-timeout goes with --approve-with/);
    const quote = run(['--approve-with', "sh -c 'exit 0"]);
    expect(quote.status).toBe(2);
    expect(quote.stderr).toMatch(/unterminated ' quote/);
    expect(spawnSync(process.execPath, [CLI, 'mcp', '--help'], { encoding: 'utf8' }).stdout).toMatch(/--approve-with CMD/);
  });
});

describeNeeds(needs.bwrap(), 'agentos mcp --native --approve-with', () => {
  it('a native agent is loaded again under the widened policy', async () => {
    const { call, client } = await start(['--native', '--name', 'greet', '--no-audit', '--approve-with', "sh -c 'exit 0'", '--', 'sh', '-c', 'echo "${GREETING:-unset}"'], { GREETING: 'hello' });
    const first = (await call('greet', { task: '' })).structuredContent as { output: string };
    expect(first.output).toBe('unset\n');
    const r = await call('agentos_request_capability', { agent: 'greet', grant: { env: { allow: ['GREETING'] } }, reason: 'to greet' });
    expect(r.isError, text(r)).toBeFalsy();
    const second = (await call('greet', { task: '' })).structuredContent as { output: string };
    expect(second.output).toBe('hello\n');
    await client.close();
  });
});
