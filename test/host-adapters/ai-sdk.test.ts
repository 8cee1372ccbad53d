/**
 * agent-os-sandbox/ai-sdk against the real AI SDK: `generateText` with `MockLanguageModelV3`
 * calls the sandbox tool on step 1 and sees its result (or its error) on step 2; every run is
 * in the audit chain under its runId. Imports the adapter through the package's subpath
 * export, as users do (the build must have run).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { generateText, stepCountIs } from 'ai';
import type { LanguageModelV3CallOptions, LanguageModelV3GenerateResult } from '@ai-sdk/provider';
import { MockLanguageModelV3 } from 'ai/test';
import { describe, expect, it, vi } from 'vitest';
import { sandboxTool, sandboxTools, SandboxToolError, type SandboxToolResult } from 'agent-os-sandbox/ai-sdk';
import { loadPeer, PeerMissingError } from '../../host-adapters/shared/peer.js';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { auditRecords } from '../helpers/mcp.js';
import { sandboxPerTest, TEST_CACHE_DIR } from '../helpers/sandbox.js';

const sandbox = sandboxPerTest();

const USAGE = {
  inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 },
  outputTokens: { total: 1, text: 1, reasoning: 0 },
};

/**
 * A model that calls `toolName` with `{ task }` on step 1 and, on step 2, answers with what
 * it was sent back (kept in `seen` for the assertions).
 */
function scriptedModel(toolName: string, task: string) {
  const seen: unknown[] = [];
  const model = new MockLanguageModelV3({
    doGenerate: async (options: LanguageModelV3CallOptions): Promise<LanguageModelV3GenerateResult> => {
      const toolMessage = options.prompt.find((m) => m.role === 'tool');
      if (toolMessage === undefined) {
        return {
          content: [{ type: 'tool-call', toolCallId: 'call-1', toolName, input: JSON.stringify({ task }) }],
          finishReason: { unified: 'tool-calls', raw: 'tool_calls' },
          usage: USAGE,
          warnings: [],
        };
      }
      for (const part of toolMessage.content) if (part.type === 'tool-result') seen.push(part.output);
      return { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: 'stop' }, usage: USAGE, warnings: [] };
    },
  });
  return { model, seen };
}

const recordsOf = (auditDir: string, runId: string) => auditRecords(auditDir, { correlationId: runId });

describe('sandboxTool (ai-sdk)', () => {
  it('the model calls the agent on step 1 and gets its result on step 2; the run is in the audit chain', async () => {
    const { sandbox: s, auditDir } = sandbox();
    s.registerTool('search', (input) => ({ found: (input as { q: string }).q }));
    const agent = await s.load(fixturePath('fsprobe'), { policy: { version: 1, toolAccess: { allow: ['search'] } } });
    const { model, seen } = scriptedModel('probe', 'tool search {"q":"todo"}');
    const result = await generateText({ model, prompt: 'search', tools: { probe: sandboxTool(agent) }, stopWhen: stepCountIs(2) });
    expect(result.text).toBe('done');
    const toolResult = result.steps[0]!.toolResults[0]! as { output: SandboxToolResult };
    expect(toolResult.output).toEqual({ output: 'ok {"found":"todo"}', fuelUsed: expect.any(Number), durationMs: expect.any(Number), runId: expect.any(String) });
    const runId = toolResult.output.runId;
    expect(seen).toEqual([{ type: 'json', value: toolResult.output }]);
    await s.close();
    const recs = await recordsOf(auditDir, runId);
    expect(recs).toContainEqual(expect.objectContaining({ agentId: agent.id, eventType: 'capability_used', resource: 'search', outcome: 'success' }));
  });

  it('a capability the policy denies is recorded under the run, and the agent reports it to the model', async () => {
    const { sandbox: s, auditDir } = sandbox();
    s.registerTool('delete_all', () => 'must never run');
    const agent = await s.load(fixturePath('fsprobe'));
    const { model, seen } = scriptedModel('probe', 'tool delete_all {}');
    const result = await generateText({ model, prompt: 'clean up', tools: { probe: sandboxTool(agent) }, stopWhen: stepCountIs(2) });
    const output = result.steps[0]!.toolResults[0]!.output as SandboxToolResult;
    // The gate answers the guest with the WIT error; the agent decides what to return.
    expect(output.output).toMatch(/^err denied/);
    expect(seen).toEqual([{ type: 'json', value: output }]);
    await s.close();
    const recs = await recordsOf(auditDir, output.runId);
    expect(recs).toContainEqual(expect.objectContaining({ agentId: agent.id, eventType: 'capability_denied', resource: 'delete_all', outcome: 'blocked' }));
  });

  it('a limit reaches the model as a tool error naming the code and the message, without a stack', async () => {
    const { sandbox: s, auditDir } = sandbox();
    const agent = await s.load(fixturePath('hostile'), { policy: { version: 1, resourceLimits: { maxFuel: 5_000_000 } } });
    const { model, seen } = scriptedModel('loop', 'L');
    const result = await generateText({ model, prompt: 'go', tools: { loop: sandboxTool(agent, { description: 'loops' }) }, stopWhen: stepCountIs(2) });
    const error = result.steps[0]!.content.find((p) => p.type === 'tool-error');
    expect(error).toMatchObject({ toolName: 'loop', error: expect.any(SandboxToolError) });
    expect((error as { error: SandboxToolError }).error.code).toBe('FUEL_EXHAUSTED');
    expect(seen).toEqual([{ type: 'error-text', value: expect.stringMatching(/^FUEL_EXHAUSTED: .*fuel/) }]);
    expect(JSON.stringify(seen)).not.toMatch(/\n\s+at /);
    await s.close();
    const recs = await auditRecords(auditDir, { agentId: agent.id, eventType: 'limit_exceeded' });
    expect(recs).toHaveLength(1);
    expect(recs[0]!.resource).toBe('FUEL_EXHAUSTED');
  });

  it("generateText's abortSignal cancels the run: CANCELLED, the instance killed, recorded", async () => {
    const { sandbox: s, auditDir } = sandbox();
    const agent = await s.load(fixturePath('hostile'));
    const inner = sandboxTool(agent, { timeout: '20s' });
    // Watches what the tool's own execute ends with: generateText itself rejects with the
    // abort reason, not with the tool's error.
    let ended: unknown;
    const watched = { ...inner, execute: (input: { task: string }, o: Parameters<NonNullable<typeof inner.execute>>[1]) => Promise.resolve(inner.execute!(input, o)).catch((e: unknown) => { ended = e; throw e; }) };
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort('the user closed the chat'), 300);
    const { model } = scriptedModel('loop', 'L');
    await expect(generateText({ model, prompt: 'go', tools: { loop: watched }, stopWhen: stepCountIs(2), abortSignal: stop.signal })).rejects.toBe('the user closed the chat');
    expect(Date.now() - started).toBeLessThan(10_000);
    await vi.waitFor(() => expect(ended).toBeInstanceOf(SandboxToolError));
    expect(ended).toMatchObject({ code: 'CANCELLED', message: expect.stringMatching(/^CANCELLED: .*the user closed the chat/) });
    await s.close();
    const recs = await auditRecords(auditDir, { agentId: agent.id, eventType: 'agent_error' });
    expect(recs.map((r) => r.resource)).toEqual(['CANCELLED']);
  });

  it('sandboxTools builds a tool set from a record (loading paths) or a list', async () => {
    const { sandbox: s } = sandbox();
    const echo = await s.load(fixturePath('echo'));
    const tools = await sandboxTools(s, { echo: { agent: echo, description: 'echoes' }, loaded: { path: fixturePath('echo') } });
    expect(Object.keys(tools)).toEqual(['echo', 'loaded']);
    expect(tools['echo']!.description).toBe('echoes');
    expect(tools['loaded']!.description).toMatch(/sandboxed agent/);
    const listed = await sandboxTools(s, [{ name: 'e1', agent: echo }]);
    const out = await listed['e1']!.execute!({ task: 'hi' }, { toolCallId: 'x', messages: [] });
    expect(out).toMatchObject({ output: 'hi' });
    await expect(sandboxTools(s, [{ name: 'bad name', agent: echo }])).rejects.toThrow(/not valid/);
  });

  it('a missing peer is an error naming the package to install', async () => {
    const err = await loadPeer('definitely-not-installed-pkg', '^1.0.0', 'agent-os-sandbox/ai-sdk').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerMissingError);
    expect((err as PeerMissingError).code).toBe('PEER_MISSING');
    expect((err as Error).message).toMatch(/agent-os-sandbox\/ai-sdk needs the package definitely-not-installed-pkg .*npm install definitely-not-installed-pkg/);
  });

  it('examples/ai-sdk/run.mjs runs offline and prints the tool result', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'examples', 'ai-sdk', 'run.mjs')], {
      cwd: REPO_ROOT,
      timeout: 60_000,
      // Its transpile cache goes beside the suite's, not into the user's home.
      env: { ...process.env, XDG_CACHE_HOME: TEST_CACHE_DIR },
    });
    expect(stdout).toMatch(/Hello, Ada!/);
    expect(stdout).toMatch(/"error-text","value":"FUEL_EXHAUSTED: /);
    expect(stdout).toMatch(/audit chain: .*limit_exceeded/);
  });
});
