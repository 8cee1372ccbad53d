// The hello agent as a Vercel AI SDK tool, offline: a mock model calls the tool on step 1 and
// reads its result on step 2. Then the same agent under a tiny fuel budget, to show what a
// failed run looks like to the model.
//   npm run build && node examples/ai-sdk/run.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateText, stepCountIs } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { buildAgent, createSandbox, queryAuditLog } from 'agent-os-sandbox';
import { sandboxTool } from 'agent-os-sandbox/ai-sdk';

const here = fileURLToPath(new URL('.', import.meta.url));
const hello = join(here, '..', 'hello');
const work = mkdtempSync(join(tmpdir(), 'agentos-ai-sdk-example-'));
const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };

/** Step 1: call `greet` with the task. Step 2: answer with what the tool returned. */
function mockModel(task) {
  return new MockLanguageModelV3({
    doGenerate: async ({ prompt }) => {
      const reply = prompt.find((m) => m.role === 'tool')?.content.find((p) => p.type === 'tool-result');
      if (reply === undefined) {
        return { content: [{ type: 'tool-call', toolCallId: 'call-1', toolName: 'greet', input: JSON.stringify({ task }) }], finishReason: { unified: 'tool-calls', raw: undefined }, usage, warnings: [] };
      }
      return { content: [{ type: 'text', text: `the tool said: ${JSON.stringify(reply.output)}` }], finishReason: { unified: 'stop', raw: undefined }, usage, warnings: [] };
    },
  });
}

// The audit chain goes to the temporary directory too (the default is ./.agentos/audit).
const audit = join(work, 'audit');
const sandbox = createSandbox({ audit: { dir: audit } });
try {
  const wasm = join(work, 'hello.wasm');
  await buildAgent(join(hello, 'hello.wat'), wasm);
  const agent = await sandbox.load(wasm, { policy: join(hello, 'policy.yaml') });
  const ok = await generateText({ model: mockModel('Ada'), prompt: 'Greet Ada', tools: { greet: sandboxTool(agent, { description: 'Greets someone' }) }, stopWhen: stepCountIs(2) });
  console.log(ok.text);

  const starved = await sandbox.load(wasm, { policy: { version: 1, resourceLimits: { maxFuel: 10 } } });
  const failed = await generateText({ model: mockModel('Ada'), prompt: 'Greet Ada', tools: { greet: sandboxTool(starved) }, stopWhen: stepCountIs(2) });
  console.log(failed.text);
  await sandbox.close();
  // What the chain recorded: the agents' lifecycle and the fuel limit the second run hit.
  const types = [];
  for await (const r of queryAuditLog(audit)) types.push(r.eventType);
  console.log(`audit chain: ${types.join(', ')}`);
} finally {
  await sandbox.close();
  rmSync(work, { recursive: true, force: true });
}
