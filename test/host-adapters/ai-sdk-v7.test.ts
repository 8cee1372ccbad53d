/**
 * agent-os-sandbox/ai-sdk against the AI SDK 7, on the Node this suite runs on. The AI SDK 7
 * declares node >= 22; npm only warns about that, and on Node 20 it runs (this file checks it).
 * The repository's `ai` is 6; 7 is the devDependency `ai-v7` (`npm:ai@^7`).
 *
 * The adapter imports the bare `ai`, which from this repository is 6. So the test lays out a
 * project the way a user's install of agent-os-sandbox beside `ai` 7 looks, and runs there with
 * plain node (no resolution flag, loader or injected module):
 * - node_modules/agent-os-sandbox: a copy of dist/ (the package's other files linked), so that
 *   `ai` is resolved from the adapter's file inside this project;
 * - node_modules/ai: the AI SDK 7 (ai-v7), and its own dependencies (@ai-sdk/provider 4, …)
 *   beside it, as npm would hoist them;
 * - every other package linked from this repository's node_modules.
 * A TypeScript consumer there is type-checked against the AI SDK 7's types (tsc, nodenext, no
 * skipLibCheck: the adapter's .d.ts must fit them) and its output run: the AI SDK 7's own mock
 * model (`MockLanguageModelV4`) drives `generateText` through `sandboxTool`.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AI_RANGE } from 'agent-os-sandbox/ai-sdk';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { TEST_CACHE_DIR } from '../helpers/sandbox.js';

const run = promisify(execFile);
const NODE_MODULES = join(REPO_ROOT, 'node_modules');
const AI_V7 = join(NODE_MODULES, 'ai-v7');

/** The packages of a node_modules directory: `name` or `@scope/name` → its path. */
function packagesIn(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) for (const sub of readdirSync(join(dir, name))) out.set(`${name}/${sub}`, join(dir, name, sub));
    else out.set(name, join(dir, name));
  }
  return out;
}

/** A project whose `ai` is the AI SDK 7 and whose agent-os-sandbox is this repository's build. */
function layOutProject(dir: string): void {
  const nodeModules = join(dir, 'node_modules');
  const links = new Map([...packagesIn(NODE_MODULES), ...packagesIn(join(AI_V7, 'node_modules')), ['ai', AI_V7]]);
  links.delete('ai-v7');
  for (const [name, target] of links) {
    mkdirSync(dirname(join(nodeModules, name)), { recursive: true });
    symlinkSync(target, join(nodeModules, name), 'dir');
  }
  // What the package ships (package.json `files`): dist copied, the rest linked.
  const pkg = join(nodeModules, 'agent-os-sandbox');
  mkdirSync(pkg);
  const { files } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { files: string[] };
  const tops = new Set(files.filter((f) => !f.startsWith('!')).map((f) => f.split('/')[0]!));
  cpSync(join(REPO_ROOT, 'dist'), join(pkg, 'dist'), { recursive: true, filter: (src) => !/\.test\.[^/]*$/.test(src) });
  for (const top of [...tops].filter((t) => t !== 'dist')) symlinkSync(join(REPO_ROOT, top), join(pkg, top));
  symlinkSync(join(REPO_ROOT, 'package.json'), join(pkg, 'package.json'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'ai7-consumer', private: true, type: 'module' }));
  const compilerOptions = { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, skipLibCheck: false, types: ['node'] };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
  writeFileSync(join(dir, 'consumer.ts'), CONSUMER);
}

/**
 * The consumer: argv is the cache dir, the audit dir and the fixtures echo, fsprobe, hostile.
 * It prints one JSON line with what each scenario saw.
 */
const CONSUMER = `import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { generateText, isStepCount, type Tool, type ToolSet } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import type { LanguageModelV4CallOptions, LanguageModelV4GenerateResult } from '@ai-sdk/provider';
import { createSandbox, queryAuditLog } from 'agent-os-sandbox';
import { sandboxTool, SandboxToolError, type SandboxAiTool, type SandboxToolResult } from 'agent-os-sandbox/ai-sdk';

const [cacheDir, auditDir, echoPath, fsprobePath, hostilePath] = process.argv.slice(2) as [string, string, string, string, string];
const versionOf = (from: string) => (JSON.parse(readFileSync(createRequire(from).resolve('ai/package.json'), 'utf8')) as { version: string }).version;
// The adapter's tool type is the AI SDK 7's Tool (were it broken against 7's types, it would be any).
const toolTypeIsNotAny: 0 extends 1 & SandboxAiTool ? false : true = true;
const asAi7Tool = (t: SandboxAiTool): Tool<{ task: string }, SandboxToolResult> => t;
const USAGE = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };

/** Calls toolName with { task } on step 1; on step 2 answers 'done', keeping what it was sent back. */
function scriptedModel(toolName: string, task: string) {
  const seen: unknown[] = [];
  const model = new MockLanguageModelV4({
    doGenerate: async (options: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> => {
      const toolMessage = options.prompt.find((m) => m.role === 'tool');
      if (toolMessage === undefined) {
        return { content: [{ type: 'tool-call', toolCallId: 'call-1', toolName, input: JSON.stringify({ task }) }], finishReason: { unified: 'tool-calls', raw: 'tool_calls' }, usage: USAGE, warnings: [] };
      }
      for (const part of toolMessage.content) if (part.type === 'tool-result') seen.push(part.output);
      return { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: 'stop' }, usage: USAGE, warnings: [] };
    },
  });
  return { model, seen };
}

async function twoSteps(toolName: string, task: string, tools: ToolSet) {
  const { model, seen } = scriptedModel(toolName, task);
  const result = await generateText({ model, prompt: 'go', tools, stopWhen: isStepCount(2) });
  const first = result.steps[0]!;
  const error = first.content.find((p) => p.type === 'tool-error');
  return {
    text: result.text,
    steps: result.steps.length,
    output: (first.toolResults[0]?.output ?? null) as SandboxToolResult | null,
    error: error === undefined ? null : { toolName: error.toolName, isSandboxToolError: error.error instanceof SandboxToolError, code: (error.error as SandboxToolError).code },
    seen,
  };
}

const sandbox = createSandbox({ cacheDir, audit: { dir: auditDir } });
const out: Record<string, unknown> = {
  node: process.version,
  toolTypeIsNotAny,
  ai: { consumer: versionOf(import.meta.url), adapter: versionOf(import.meta.resolve('agent-os-sandbox/ai-sdk')) },
};
try {
  const echo = await sandbox.load(echoPath);
  out['echo'] = await twoSteps('echo', 'hello from ai 7', { echo: asAi7Tool(sandboxTool(echo)) });

  sandbox.registerTool('delete_all', () => 'must never run');
  const fsprobe = await sandbox.load(fsprobePath);
  out['denied'] = await twoSteps('probe', 'tool delete_all {}', { probe: sandboxTool(fsprobe) });

  const limited = await sandbox.load(hostilePath, { policy: { version: 1, resourceLimits: { maxFuel: 5_000_000 } } });
  out['limit'] = await twoSteps('loop', 'L', { loop: sandboxTool(limited, { description: 'loops' }) });

  // Aborting generateText reaches the tool's execute as its abortSignal: what execute ends with.
  const hostile = await sandbox.load(hostilePath);
  const inner = sandboxTool(hostile, { timeout: '20s' });
  let ended: unknown;
  const watched = { ...inner, execute: (input: { task: string }, o: Parameters<NonNullable<typeof inner.execute>>[1]) => Promise.resolve(inner.execute!(input, o)).catch((e: unknown) => { ended = e; throw e; }) };
  const stop = new AbortController();
  setTimeout(() => stop.abort('the user closed the chat'), 300);
  const started = Date.now();
  const rejected = await generateText({ model: scriptedModel('loop', 'L').model, prompt: 'go', tools: { loop: watched }, stopWhen: isStepCount(2), abortSignal: stop.signal }).then(() => undefined, (e: unknown) => e);
  while (ended === undefined && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
  out['abort'] = { rejected, ms: Date.now() - started, ended: ended instanceof SandboxToolError ? { code: ended.code, message: ended.message } : String(ended) };
} finally {
  await sandbox.close();
}
const records = [];
for await (const r of queryAuditLog(auditDir, { correlationId: (out['denied'] as { output: SandboxToolResult }).output.runId })) records.push({ eventType: r.eventType, resource: r.resource, outcome: r.outcome });
out['deniedAudit'] = records;
console.log(JSON.stringify(out));
`;

interface Scenario {
  text: string;
  steps: number;
  output: { output: string; fuelUsed: number; durationMs: number; runId: string } | null;
  error: { toolName: string; isSandboxToolError: boolean; code: string } | null;
  seen: unknown[];
}
interface Report {
  node: string;
  ai: { consumer: string; adapter: string };
  echo: Scenario;
  denied: Scenario;
  limit: Scenario;
  abort: { rejected: unknown; ms: number; ended: { code: string; message: string } | string };
  deniedAudit: { eventType: string; resource: string; outcome: string }[];
}

describe('sandboxTool (ai-sdk) with the AI SDK 7', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentos-ai7-'));
  let report: Report;

  beforeAll(async () => {
    layOutProject(dir);
    const tsc = join(NODE_MODULES, 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, timeout: 120_000 }).catch((e: { stdout?: string; message: string }) => {
      throw new Error(`the consumer does not type-check against the AI SDK 7: ${e.stdout ?? ''}\n${e.message}`);
    });
    const args = [TEST_CACHE_DIR, join(dir, 'audit'), fixturePath('echo'), fixturePath('fsprobe'), fixturePath('hostile')];
    const { stdout } = await run(process.execPath, [join(dir, 'consumer.js'), ...args], { cwd: dir, timeout: 120_000 });
    report = JSON.parse(stdout.trim().split('\n').pop()!) as Report;
  }, 180_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs on this Node with ai 7, which the adapter itself resolves', () => {
    expect(report.node).toBe(process.version);
    expect(report.ai.consumer).toMatch(/^7\./);
    expect(report.ai.adapter).toBe(report.ai.consumer);
    expect(JSON.parse(readFileSync(join(AI_V7, 'package.json'), 'utf8'))).toMatchObject({ name: 'ai', version: report.ai.adapter });
  });

  it("the echo agent's result reaches the model's next step", () => {
    expect(report.echo).toMatchObject({ text: 'done', steps: 2, error: null });
    expect(report.echo.output).toEqual({ output: 'hello from ai 7', fuelUsed: expect.any(Number), durationMs: expect.any(Number), runId: expect.any(String) });
    expect(report.echo.seen).toEqual([{ type: 'json', value: report.echo.output }]);
  });

  it('a capability the policy denies is recorded under the run, and the agent reports it to the model', () => {
    expect(report.denied.output!.output).toMatch(/^err denied/);
    expect(report.denied.seen).toEqual([{ type: 'json', value: report.denied.output }]);
    expect(report.deniedAudit).toContainEqual({ eventType: 'capability_denied', resource: 'delete_all', outcome: 'blocked' });
  });

  it('a limit reaches the model as a tool error `CODE: message`, without the class name or a stack', () => {
    expect(report.limit).toMatchObject({ text: 'done', steps: 2, output: null, error: { toolName: 'loop', isSandboxToolError: true, code: 'FUEL_EXHAUSTED' } });
    expect(report.limit.seen).toEqual([{ type: 'error-text', value: expect.stringMatching(/^FUEL_EXHAUSTED: .*fuel/) }]);
    expect(JSON.stringify(report.limit.seen)).not.toMatch(/SandboxToolError|\n\s+at /);
  });

  it("generateText's abortSignal cancels the run: CANCELLED", () => {
    expect(report.abort.rejected).toBe('the user closed the chat');
    expect(report.abort.ms).toBeLessThan(10_000);
    expect(report.abort.ended).toEqual({ code: 'CANCELLED', message: expect.stringMatching(/^CANCELLED: .*the user closed the chat/) });
  });

  it('the peer range in package.json is the one the adapter names', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.peerDependencies['ai']).toBe(AI_RANGE);
    expect(pkg.devDependencies['ai-v7']).toMatch(/^npm:ai@\^7\./);
  });
});
