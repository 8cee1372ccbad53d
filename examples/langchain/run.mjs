// The hello agent as a LangChain.js tool inside createAgent, offline: a fake model calls the
// tool, then answers. Then the same agent under a tiny fuel budget, to show the error
// ToolMessage a failed run gives the model.
//   npm run build && node examples/langchain/run.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AIMessage, ToolMessage } from '@langchain/core/messages';
import { fakeModel } from '@langchain/core/testing';
import { createAgent } from 'langchain';
import { buildAgent, createSandbox, queryAuditLog } from 'agent-os-sandbox';
import { sandboxTool } from 'agent-os-sandbox/langchain';

const here = fileURLToPath(new URL('.', import.meta.url));
const hello = join(here, '..', 'hello');
const work = mkdtempSync(join(tmpdir(), 'agentos-langchain-example-'));

/** Runs one conversation in which the model calls `greet` with `task`; prints the tool's reply. */
async function converse(tool, task) {
  const model = fakeModel()
    .respondWithTools([{ name: 'greet', args: { task } }])
    .respond(new AIMessage('done'));
  const agent = createAgent({ model, tools: [tool] });
  const { messages } = await agent.invoke({ messages: [{ role: 'user', content: `Greet ${task}` }] });
  const reply = messages.find((m) => ToolMessage.isInstance(m));
  console.log(`${reply.status} ${reply.content}`);
}

// The audit chain goes to the temporary directory too (the default is ./.agentos/audit).
const audit = join(work, 'audit');
const sandbox = createSandbox({ audit: { dir: audit } });
try {
  const wasm = join(work, 'hello.wasm');
  await buildAgent(join(hello, 'hello.wat'), wasm);
  const agent = await sandbox.load(wasm, { policy: join(hello, 'policy.yaml') });
  await converse(sandboxTool(agent, { name: 'greet', description: 'Greets someone' }), 'Ada');

  const starved = await sandbox.load(wasm, { policy: { version: 1, resourceLimits: { maxFuel: 10 } } });
  await converse(sandboxTool(starved, { name: 'greet' }), 'Ada');
  await sandbox.close();
  // What the chain recorded: the agents' lifecycle and the fuel limit the second run hit.
  const types = [];
  for await (const r of queryAuditLog(audit)) types.push(r.eventType);
  console.log(`audit chain: ${types.join(', ')}`);
} finally {
  await sandbox.close();
  rmSync(work, { recursive: true, force: true });
}
