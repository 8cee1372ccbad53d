/**
 * agent-os-sandbox/langchain against the real LangChain.js: `createAgent` from `langchain` with
 * `fakeModel()` from `@langchain/core/testing` calls the sandbox tool and gets its result (or
 * its error) back as a ToolMessage; `signal` cancels the run; every run is in the audit chain.
 * Imports the adapter through the package's subpath export, as users do (build first).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AIMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { createAgent } from 'langchain';
import { describe, expect, it, vi } from 'vitest';
import { queryAuditLog, type Agent } from 'agent-os-sandbox';
import { sandboxTool, SandboxToolError, type ToolAgent } from 'agent-os-sandbox/langchain';
import { loadPeer, PeerMissingError } from '../../host-adapters/shared/peer.js';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { sandboxPerTest, TEST_CACHE_DIR } from '../helpers/sandbox.js';

const sandbox = sandboxPerTest();

/** An agent whose model calls `name` with `{ task }`, then answers "done". */
function scriptedAgent(tool: ReturnType<typeof sandboxTool>, task: string) {
  const model = fakeModel()
    .respondWithTools([{ name: tool.name, args: { task }, id: 'call-1' }])
    .respond(new AIMessage('done'));
  return { model, agent: createAgent({ model, tools: [tool] }) };
}

/** The ToolMessage the model was sent on its second call. */
function toolMessageSeen(model: ReturnType<typeof fakeModel>): ToolMessage {
  const msg = model.calls[1]!.messages.find((m) => ToolMessage.isInstance(m));
  expect(msg).toBeDefined();
  return msg as ToolMessage;
}

describe('sandboxTool (langchain)', () => {
  it('createAgent calls the agent and the model gets its result; the run is in the audit chain', async () => {
    const { sandbox: s, auditDir } = sandbox();
    s.registerTool('search', (input) => ({ found: (input as { q: string }).q }));
    const probe = await s.load(fixturePath('fsprobe'), { policy: { version: 1, toolAccess: { allow: ['search'] } } });
    const { model, agent } = scriptedAgent(sandboxTool(probe, { name: 'probe', description: 'runs the probe' }), 'tool search {"q":"todo"}');
    const state = await agent.invoke({ messages: [{ role: 'user', content: 'search' }] });
    expect(state.messages.at(-1)!.content).toBe('done');
    const seen = toolMessageSeen(model);
    expect(seen.status).toBe('success');
    const result = JSON.parse(String(seen.content)) as { output: string; runId: string };
    expect(result).toEqual({ output: 'ok {"found":"todo"}', fuelUsed: expect.any(Number), durationMs: expect.any(Number), runId: expect.any(String) });
    await s.close();
    const recs = [];
    for await (const r of queryAuditLog(auditDir, { correlationId: result.runId })) recs.push(r);
    expect(recs).toContainEqual(expect.objectContaining({ agentId: probe.id, eventType: 'capability_used', resource: 'search', outcome: 'success' }));
  });

  it('a limit comes back as an error ToolMessage naming the code and the message; the model continues', async () => {
    const { sandbox: s, auditDir } = sandbox();
    const hostile = await s.load(fixturePath('hostile'), { policy: { version: 1, resourceLimits: { maxFuel: 5_000_000 } } });
    const { model, agent } = scriptedAgent(sandboxTool(hostile, { name: 'loop' }), 'L');
    const state = await agent.invoke({ messages: [{ role: 'user', content: 'go' }] });
    expect(state.messages.at(-1)!.content).toBe('done');
    const seen = toolMessageSeen(model);
    expect(seen.status).toBe('error');
    expect(seen.content).toMatch(/^FUEL_EXHAUSTED: .*fuel/);
    expect(String(seen.content)).not.toMatch(/\n\s+at |fix your mistakes/);
    await s.close();
    const recs = [];
    for await (const r of queryAuditLog(auditDir, { agentId: hostile.id, eventType: 'limit_exceeded' })) recs.push(r);
    expect(recs.map((r) => r.resource)).toEqual(['FUEL_EXHAUSTED']);
  });

  it('invoked directly (no tool call) it returns the result object and throws SandboxToolError', async () => {
    const { sandbox: s } = sandbox();
    const echo = await s.load(fixturePath('echo'));
    const fail = await s.load(fixturePath('fail'));
    expect(await sandboxTool(echo).invoke({ task: 'hi' })).toMatchObject({ output: 'hi', runId: expect.any(String) });
    const err = await sandboxTool(fail).invoke({ task: 'x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxToolError);
    expect(err).toMatchObject({ code: 'AGENT_ERROR', message: expect.stringMatching(/^AGENT_ERROR: .*bad task/) });
    expect(() => sandboxTool(echo, { name: 'no spaces allowed' })).toThrow(/not valid/);
  });

  it("the invoke's signal cancels the run: CANCELLED, the instance killed, recorded", async () => {
    const { sandbox: s, auditDir } = sandbox();
    const hostile: Agent = await s.load(fixturePath('hostile'));
    // Watches what the run itself ends with: invoke rejects with the abort reason.
    let ended: unknown;
    const watched: ToolAgent = { id: hostile.id, run: (task, o) => hostile.run(task, o).catch((e: unknown) => { ended = e; throw e; }) };
    const { agent } = scriptedAgent(sandboxTool(watched, { name: 'loop', timeout: '20s' }), 'L');
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort('the user closed the chat'), 300);
    await expect(agent.invoke({ messages: [{ role: 'user', content: 'go' }] }, { signal: stop.signal })).rejects.toThrow(/the user closed the chat/);
    expect(Date.now() - started).toBeLessThan(10_000);
    await vi.waitFor(() => expect(ended).toMatchObject({ code: 'CANCELLED' }));
    await s.close();
    const recs = [];
    for await (const r of queryAuditLog(auditDir, { agentId: hostile.id, eventType: 'agent_error' })) recs.push(r);
    expect(recs.map((r) => r.resource)).toEqual(['CANCELLED']);
  });

  it('a missing peer is an error naming the package to install', async () => {
    const err = await loadPeer('@definitely-not/installed/tools', '^1.4.0', 'agent-os-sandbox/langchain').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PeerMissingError);
    expect(err).toMatchObject({ code: 'PEER_MISSING', peer: '@definitely-not/installed' });
    expect((err as Error).message).toMatch(/agent-os-sandbox\/langchain needs the package @definitely-not\/installed .*npm install @definitely-not\/installed/);
  });

  it('examples/langchain/run.mjs runs offline and prints the tool messages', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'examples', 'langchain', 'run.mjs')], {
      cwd: REPO_ROOT,
      timeout: 60_000,
      // Its transpile cache goes beside the suite's, not into the user's home.
      env: { ...process.env, XDG_CACHE_HOME: TEST_CACHE_DIR },
    });
    expect(stdout).toMatch(/success .*Hello, Ada!/);
    expect(stdout).toMatch(/error FUEL_EXHAUSTED: /);
    expect(stdout).toMatch(/audit chain: .*limit_exceeded/);
  });
});
