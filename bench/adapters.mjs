#!/usr/bin/env node
/**
 * Section `adapters` (issue 14): what one tool call costs through each host adapter, beside a
 * direct `agent.run(task)` of the same agent, measured in the same run.
 *
 * The agent is the echo agent (bench/agents/echo.wat: returns its task, imports nothing), so a
 * figure is the round trip of the call path, not of the agent's work. Every route runs under
 * the same sandbox settings as `agentos mcp` creates them (src/cli/mcp.ts): engine jco,
 * `prewarmWorkers: 0`, the audit chain written durably (`durability: 'sync'`) into a temporary
 * directory, one shared transpile cache in that directory.
 *
 * In this process, one sandbox, one loaded agent (one audit log):
 * - direct:          `agent.run(task)`;
 * - AI SDK:          `sandboxTool(agent).execute({ task }, { toolCallId, messages: [], abortSignal })`
 *                    (the tool-call cost, no model);
 * - LangChain:       `sandboxTool(agent).invoke({ task })`;
 * - MCP in-memory:   `createMcpServer` linked to an SDK `Client` by `InMemoryTransport`,
 *                    `client.callTool({ name: 'echo', arguments: { task } })`.
 * In child processes (the real CLI, `node dist/cli/main.js mcp <echo.wasm> --name echo --audit
 * <own temp dir> --cache-dir <shared>`, so the same audit settings as direct, each its own log):
 * - MCP stdio:       `StdioClientTransport` spawns it;
 * - MCP HTTP:        `--http 127.0.0.1:0` (URL read from its stderr), `StreamableHTTPClientTransport`.
 * The agent of the stdio/HTTP routes runs in the server's process; their baseline is still the
 * direct `agent.run` measured here, in this process, with the same settings (the server runs
 * the same call there), so "added" is what the transport, the JSON-RPC framing and the other
 * process cost on top of a run.
 *
 * Fairness: warm-up of every route, then rounds of one call per route in a fresh (seeded,
 * shuffled) order each round; figures are medians (p50) and p90 over the rounds.
 *
 *   BENCH_ONLY=adapters npm run bench      (or: npm run build && node bench/adapters.mjs)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { createSandbox } from '../dist/index.js';
import { sandboxTool as aiSdkTool } from '../dist/host-adapters/ai-sdk/index.js';
import { sandboxTool as langchainTool } from '../dist/host-adapters/langchain/index.js';
import { createMcpServer } from '../dist/host-adapters/mcp/index.js';
import { REPO, watAgent } from './lib/agents.mjs';
import { fmtMs, fmtRatio, median, percentile, table } from './lib/stats.mjs';

const CLI = join(REPO, 'dist', 'cli', 'main.js');
const TASK = 'hello, agent';
const TARGET_STDIO_ADDED_MS = 1;
/** Every MCP request sets its own timeout (the SDK's default is 60 s). */
const REQUEST = { timeout: 30_000 };

/** The structured result of an MCP tool call ({ output, durationMs, ... }), checked. */
function mcpResult(r) {
  if (r.isError) throw new Error(`MCP tool error: ${JSON.stringify(r.content)}`);
  return r.structuredContent ?? {};
}

/** A signed difference in ms. */
const fmtDelta = (ms) => `${ms < 0 ? '−' : '+'}${fmtMs(Math.abs(ms))}`;

/** Spawn `agentos mcp --http 127.0.0.1:0`; resolves with the child and the endpoint it prints on stderr. */
function startHttpServer(args) {
  const child = spawn(process.execPath, [CLI, 'mcp', ...args, '--http', '127.0.0.1:0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const url = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agentos mcp --http printed no endpoint in 30 s: ${stderr}`)), 30_000);
    child.stderr.on('data', (d) => {
      stderr += d.toString();
      const m = /at (http:\/\/\S+\/mcp)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(new URL(m[1]));
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agentos mcp --http exited (${code}): ${stderr}`));
    });
  });
  return { child, url, exited: new Promise((r) => child.once('exit', r)) };
}

export async function adaptersBench({ quick = false, progress = () => {} } = {}) {
  const rounds = quick ? 30 : 300;
  const warmup = quick ? 10 : 50;
  const echoPath = await watAgent('echo');
  const dir = await mkdtemp(join(tmpdir(), 'agentos-bench-adapters-'));
  const cacheDir = join(dir, 'cache');
  const cliArgs = (audit) => [echoPath, '--name', 'echo', '--audit', join(dir, audit), '--audit-durability', 'sync', '--cache-dir', cacheDir];

  const sandbox = createSandbox({ prewarmWorkers: 0, engine: 'jco', cacheDir, audit: { dir: join(dir, 'audit-direct'), durability: 'sync' } });
  const closers = [];
  try {
    const agent = await sandbox.load(echoPath);

    const ai = aiSdkTool(agent);
    const abort = new globalThis.AbortController(); // as generateText passes one (never aborted here)
    const lc = langchainTool(agent, { name: 'echo' });

    const server = await createMcpServer({ sandbox, agents: { echo: agent } });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await server.connect(serverSide);
    const memClient = new Client({ name: 'bench-inmemory', version: '1' });
    await memClient.connect(clientSide, REQUEST);
    closers.push(async () => {
      await memClient.close();
      await server.close();
    });

    progress('adapters: starting agentos mcp over stdio and over Streamable HTTP (child processes)');
    const stdioTransport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', ...cliArgs('audit-stdio')], stderr: 'pipe' });
    let stdioErr = '';
    stdioTransport.stderr?.on('data', (d) => (stdioErr += d.toString()));
    const stdioClient = new Client({ name: 'bench-stdio', version: '1' });
    closers.push(() => stdioClient.close()); // ends the child's stdin: it closes its sandbox and exits
    await stdioClient.connect(stdioTransport, REQUEST).catch((e) => {
      throw new Error(`agentos mcp (stdio) did not start: ${e.message}\n${stdioErr}`);
    });

    const http = startHttpServer(cliArgs('audit-http'));
    closers.push(async () => {
      if (http.child.exitCode === null && http.child.signalCode === null) {
        http.child.kill('SIGTERM'); // it closes its server and sandbox, then exits
        await http.exited;
      }
    });
    const httpTransport = new StreamableHTTPClientTransport(await http.url);
    const httpClient = new Client({ name: 'bench-http', version: '1' });
    await httpClient.connect(httpTransport, REQUEST);
    closers.push(async () => {
      await httpTransport.terminateSession().catch(() => {});
      await httpClient.close();
    });

    const routes = [
      { key: 'direct', label: 'direct agent.run(task)', call: () => agent.run(TASK) },
      { key: 'ai', label: 'AI SDK sandboxTool → execute()', call: () => ai.execute({ task: TASK }, { toolCallId: 'x', messages: [], abortSignal: abort.signal }) },
      { key: 'lc', label: 'LangChain sandboxTool → invoke()', call: () => lc.invoke({ task: TASK }) },
      { key: 'mem', label: 'MCP in-memory (createMcpServer + Client)', call: async () => mcpResult(await memClient.callTool({ name: 'echo', arguments: { task: TASK } }, undefined, REQUEST)) },
      { key: 'stdio', label: 'MCP stdio (agentos mcp, child process)', call: async () => mcpResult(await stdioClient.callTool({ name: 'echo', arguments: { task: TASK } }, undefined, REQUEST)) },
      { key: 'http', label: 'MCP Streamable HTTP (agentos mcp --http, child)', call: async () => mcpResult(await httpClient.callTool({ name: 'echo', arguments: { task: TASK } }, undefined, REQUEST)) },
    ];
    const check = (route, result) => {
      if (result?.output !== TASK) throw new Error(`adapters (${route.key}): expected output ${JSON.stringify(TASK)}, got ${JSON.stringify(result)}`);
      return result;
    };

    progress(`adapters: ${routes.length} routes, ${warmup} warm-up calls each, then ${rounds} interleaved rounds`);
    for (let i = 0; i < warmup; i++) for (const r of routes) check(r, await r.call());
    const times = Object.fromEntries(routes.map((r) => [r.key, []]));
    const runMs = Object.fromEntries(routes.map((r) => [r.key, []]));
    let seed = 0x9e3779b9;
    const random = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    for (let round = 0; round < rounds; round++) {
      // A fresh order every round (seeded shuffle): each route follows every other route about
      // equally often, so what one call leaves behind (a child's reply still being read, idle
      // worker wake-up, garbage) does not always land on the same route.
      const order = [...routes];
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (const r of order) {
        const t0 = performance.now();
        const result = await r.call();
        times[r.key].push(performance.now() - t0);
        runMs[r.key].push(check(r, result).durationMs);
      }
    }

    const base = median(times.direct);
    const rows = routes.map((r) => {
      const p50 = median(times[r.key]);
      const paired = times[r.key].map((t, i) => t - times.direct[i]);
      const first = r.key === 'direct';
      return [r.label, fmtMs(p50), fmtMs(percentile(times[r.key], 90)), first ? '' : fmtDelta(p50 - base), first ? '' : fmtDelta(median(paired)), fmtRatio(p50, base), fmtMs(median(runMs[r.key]))];
    });
    const stdioAdded = median(times.stdio) - base;
    return [
      `## host adapters: one tool call on the echo agent — p50 of ${rounds} interleaved rounds (after ${warmup} warm-up calls per route); load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      table(['route', 'p50', 'p90', 'p50 − direct', 'median paired Δ', '/direct', 'run (durationMs) p50'], rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']),
      'every route: the same echo agent (bench/agents/echo.wat), task "hello, agent", output checked on every call; sandbox as agentos mcp makes it (jco, prewarmWorkers 0), audit chain written durably (sync) to a temp dir on every route.',
      'direct, AI SDK, LangChain, MCP in-memory: one sandbox and agent in this process. MCP stdio / HTTP: the real CLI `node dist/cli/main.js mcp <echo.wasm> --name echo --audit <tmp> --audit-durability sync` in a child process (the agent runs there); their baseline is the direct agent.run measured here, in this process, with the same settings.',
      '"p50 − direct" = difference of the medians; "median paired Δ" = median over rounds of (route − direct in the same round); "run (durationMs)" = the run\'s own wall time as agent.run reports it, measured wherever the agent ran (in the server process for stdio / HTTP).',
      `target: MCP stdio adds ≤ ${TARGET_STDIO_ADDED_MS} ms p50 over agent.run — ${fmtDelta(stdioAdded)} ${stdioAdded <= TARGET_STDIO_ADDED_MS ? 'met' : 'MISSED'}`,
    ].join('\n');
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await adaptersBench({ quick: process.env.BENCH_QUICK === '1', progress: (l) => process.stderr.write(`  … ${l}\n`) }));
  process.exit(0);
}
