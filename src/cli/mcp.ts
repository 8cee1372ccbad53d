/**
 * `agentos mcp`: serve agents as Model Context Protocol tools, over stdio (what MCP clients
 * start) or Streamable HTTP. The server itself is the `agent-os-sandbox/mcp` adapter, loaded at
 * run time through the package's own export: `src/` cannot import `host-adapters/` (another
 * build), and the MCP SDK it needs is an optional peer dependency.
 */
import { basename, resolve } from 'node:path';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';
import { createSandbox, type Sandbox } from '../sandbox/sandbox.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../util/units.js';
import { parse, reportError, safeText, type ExitStatus } from './common.js';
import { splitCommand } from './run-native.js';
import { FLAGS, flagLine } from './flags.js';
import { APPROVE_HELP, APPROVE_OPTIONS, approveFlags, approveOption, type ApproverModule } from './approve-with.js';
import { checkAuthFlags, MCP_AUTH_HELP, MCP_AUTH_OPTIONS, openTokenAuth, type TokenAuth } from './mcp-auth.js';

/** The options of `agentos mcp`; shared flags come from ./flags.ts. */
export const MCP_OPTIONS = {
  config: { type: 'string' },
  policy: FLAGS.policy,
  name: { type: 'string' },
  description: { type: 'string' },
  timeout: { type: 'string' },
  wit: { type: 'string' },
  http: { type: 'string' },
  'session-idle': { type: 'string' },
  ...APPROVE_OPTIONS,
  ...MCP_AUTH_OPTIONS,
  native: { type: 'boolean' },
  runtime: { type: 'string' },
  audit: FLAGS.audit,
  'audit-durability': { type: 'string' },
  'no-audit': { type: 'boolean' },
  engine: { type: 'string' },
  'cache-dir': FLAGS['cache-dir'],
  help: FLAGS.help,
} as const;

export const MCP_HELP = `Usage: agentos mcp --config agents.yaml [options]
       agentos mcp <agent.wasm> [--policy FILE] [--name NAME] [options]
       agentos mcp --native [--runtime bwrap|runc] [--policy FILE] [--name NAME] [options] -- CMD [ARGS...]

Serve sandboxed agents as MCP tools: each agent is one tool taking { task } and returning
{ output, fuelUsed, durationMs, runId }; a failed run is a tool error 'CODE: message'. A
component that exports functions besides run (built with agentos build --wit DIR --world NAME,
say) also gets one tool per function, <agent>_<function> or <agent>_<interface>_<function>,
whose input schema is derived from the function's WIT types and checked before the call. Read-only
tools list the agents (agentos_list_agents), show a policy (agentos_show_policy) and explain
a decision (agentos_explain: allowed or denied for one request and the rule that decided, as
'agentos policy explain' says). Only with --approve-with does a tool change a policy:
agentos_request_capability, whose requests CMD decides, never the model.
Every run's audit records name the MCP session, the client and the
tool. Over stdio (the default) stdout carries MCP messages only and logs go to stderr; the
server stops when stdin ends.

agents.yaml:
  agents:
    hello:                                  # the tool's name
      component: build/hello.wasm           # or command: [python3, /agent/main.py] (native)
      policy: policy.yaml                   # a file, or the policy inline
      description: Greets whoever the task names.
      timeout: 10s
      wit: wit/                             # optional: the WIT it was built from (docs of its function tools)
  (paths are relative to the config file)

Options:
  --config FILE          the agents to serve (YAML or JSON, as above)
${flagLine(MCP_OPTIONS.policy, 'with <agent.wasm>: its policy (default: compute, log, clocks only)')}
  --name NAME            with <agent.wasm>: the tool's name (default: the file's name)
  --wit PATH             with <agent.wasm>: the WIT it was built from, for its function tools' docs
  --description TEXT     with <agent.wasm>: what the tool says it does
  --timeout DURATION     with <agent.wasm>: each run's wall-clock limit, e.g. 30s
  --native               serve the command after -- as a native agent (the container sandbox,
                         as 'agentos run --native'); --policy, --name, --description and
                         --timeout apply to it
  --runtime NAME         with --native: bwrap (default) or runc
  --http HOST:PORT       serve Streamable HTTP at http://HOST:PORT/mcp instead of stdio
                         (HOST defaults to 127.0.0.1; port 0 picks one, printed on stderr);
                         each session gets its own agents; requests whose Host or Origin is
                         not this server are refused (403). Without --require-token there is
                         no authentication: an address other than loopback then needs
                         --allow-unauthenticated
  --session-idle DURATION
                         with --http: end a session (and free its agents) after this long
                         without a request, e.g. 10m (default 15m)
${MCP_AUTH_HELP}
${APPROVE_HELP}
${flagLine(MCP_OPTIONS.audit, `the audit log every decision is written to (default ${DEFAULT_AUDIT_DIR})`)}
  --audit-durability commit|sync|async
                         as for 'agentos run' (default commit)
  --no-audit             record nothing durably (not for untrusted agents)
  --engine NAME          jco (default) or wasmtime
${flagLine(MCP_OPTIONS['cache-dir'])}
${flagLine(MCP_OPTIONS.help)}

An MCP client's config (Claude Desktop, Cursor, ...):
  {"mcpServers": {"agentos": {"command": "npx", "args": ["agentos", "mcp", "--config", "agents.yaml"]}}}

Example:
  agentos mcp --config examples/mcp/agents.yaml
  agentos mcp examples/hello/build/hello.wasm --policy examples/hello/policy.yaml --name hello
  agentos mcp --config agents.yaml --approve-with 'ask-operator --channel ops' --approve-timeout 2m
  agentos mcp --config agents.yaml --http 127.0.0.1:8080
  agentos token issue --agent-id alice --agent-type mcp-client --agent-key-file alice.pub \\
      --kind session --scope mcp          # a token for one client (8 h)
  agentos mcp --config agents.yaml --http 0.0.0.0:8080 --require-token`;

/** What the CLI uses of `agent-os-sandbox/mcp` (host-adapters/mcp/index.ts); typed here, as src/ cannot import it. */
interface McpModule extends ApproverModule {
  loadMcpConfig(file: string): Promise<McpConfig>;
  parseMcpConfig(data: unknown, where: { source: string; baseDir: string }): Promise<McpConfig>;
  serveStdio(options: { sandbox: Sandbox; config: McpConfig; version?: string; log?: (line: string) => void; signal?: AbortSignal }): Promise<void>;
  serveHttp(options: { sandbox: Sandbox; config: McpConfig; host?: string; port?: number; version?: string; log?: (line: string) => void; sessionIdleMs?: number; auth?: TokenAuth['auth'] }): Promise<{ url: string; close(): Promise<void> }>;
  isLoopbackHost(host: string): boolean;
}
interface McpConfig {
  readonly source: string;
  readonly agents: Readonly<Record<string, unknown>>;
}

/** The adapter, through the package's export (a variable, so tsc does not resolve the build that comes after this one). */
async function loadAdapter(): Promise<McpModule> {
  const specifier = 'agent-os-sandbox/mcp';
  try {
    return (await import(specifier)) as McpModule;
  } catch (e) {
    // A missing MCP SDK is the user's to fix (install it): a usage error naming the package.
    if ((e as { code?: string }).code === 'PEER_MISSING') throw new UsageError((e as Error).message);
    throw e;
  }
}

/** `HOST:PORT`, `:PORT` or `PORT` (host 127.0.0.1); IPv6 hosts in brackets. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):)?([0-9]{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--http ${JSON.stringify(value)}: expected HOST:PORT, e.g. 127.0.0.1:8080 (port 0 picks a free one)`);
  const host = m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1';
  return { host, port };
}

/** The tool name for a component given on the command line: its file name, made a valid tool name. */
function toolNameFor(path: string): string {
  const name = basename(path).replace(/\.wasm$/, '').replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  return name.startsWith('agentos_') || name === '' ? `agent_${name}`.slice(0, 64) : name;
}

/** Stop serving on SIGINT or SIGTERM (the way clients and service managers stop a server). */
function stopSignal(): { signal: AbortSignal; dispose(): void } {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return { signal: stop.signal, dispose: () => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal); } };
}

/** Run the command. */
export async function mcpCommand(argv: string[]): Promise<ExitStatus> {
  try {
    const { options: flags, command } = splitCommand(argv);
    const { values, positionals } = parse(flags, MCP_OPTIONS, 'mcp');
    if (values.help) {
      process.stdout.write(MCP_HELP + '\n');
      return 0;
    }
    if (values.native) {
      if (command.length === 0) throw new UsageError('agentos mcp --native needs the command after --, e.g. agentos mcp --native -- python3 -I /agent/main.py');
      if (positionals.length > 0 || values.config !== undefined) throw new UsageError('--native serves the command after --; give no component path or --config with it');
    } else {
      if (command.length > 0) throw new UsageError('a command after -- needs --native; see `agentos mcp --help`');
      if (values.runtime !== undefined) throw new UsageError('--runtime goes with --native');
    }
    if (!values.native && (values.config === undefined) === (positionals.length === 0)) throw new UsageError('give --config agents.yaml or one component path; see `agentos mcp --help`');
    if (positionals.length > 1) throw new UsageError('agentos mcp serves one component from the command line; list several in --config');
    const single = ['policy', 'name', 'description', 'timeout'] as const;
    const misplaced = single.find((f) => values[f] !== undefined && values.config !== undefined);
    if (misplaced) throw new UsageError(`--${misplaced} goes with a component path; with --config, set it in the config file`);
    if (values['no-audit'] && values.audit !== undefined) throw new UsageError('--no-audit cannot be combined with --audit');
    const durability = values['audit-durability'] ?? 'commit';
    if (durability !== 'commit' && durability !== 'sync' && durability !== 'async') throw new UsageError(`--audit-durability ${JSON.stringify(durability)}: use commit, sync or async`);
    const engine = values.engine ?? 'jco';
    if (engine !== 'jco' && engine !== 'wasmtime') throw new UsageError(`--engine ${JSON.stringify(engine)}: use jco or wasmtime`);
    const listen = values.http !== undefined ? parseListen(values.http) : undefined;
    if (values['session-idle'] !== undefined && listen === undefined) throw new UsageError('--session-idle goes with --http');
    const approval = approveFlags(values);
    const idle = values['session-idle'] !== undefined ? { sessionIdleMs: parseDuration(values['session-idle'], '--session-idle') } : {};

    const mcp = await loadAdapter();
    checkAuthFlags(values, listen, (host) => mcp.isLoopbackHost(host));
    const config = values.config !== undefined
      ? await mcp.loadMcpConfig(values.config)
      : await mcp.parseMcpConfig(
          {
            agents: {
              [values.name ?? toolNameFor(values.native ? command[0]! : positionals[0]!)]: {
                ...(values.native
                  ? { command, ...(values.runtime !== undefined ? { runtime: values.runtime } : {}) }
                  : { component: resolve(positionals[0]!) }),
                ...(values.policy !== undefined ? { policy: resolve(values.policy) } : {}),
                ...(values.description !== undefined ? { description: values.description } : {}),
                ...(values.timeout !== undefined ? { timeout: values.timeout } : {}),
                ...(values.wit !== undefined ? { wit: resolve(values.wit) } : {}),
              },
            },
          },
          { source: 'command line', baseDir: process.cwd() },
        );
    const sandbox = createSandbox({
      prewarmWorkers: 0,
      engine,
      ...(values['cache-dir'] !== undefined ? { cacheDir: values['cache-dir'] } : {}),
      audit: values['no-audit'] ? false : { dir: values.audit ?? DEFAULT_AUDIT_DIR, durability },
    });
    // Stdout is the MCP channel: everything else, agents' logs included, goes to stderr.
    const log = (line: string) => process.stderr.write(`agentos mcp: ${safeText(line)}\n`);
    const approve = approveOption(mcp, approval, log);
    sandbox.on('log', (e) => process.stderr.write(`[${e.stream}${e.stream === 'log' ? ':' + e.level : ''}] ${safeText(e.message)}\n`));
    const stop = stopSignal();
    let tokenAuth: TokenAuth | undefined;
    try {
      if (listen) {
        tokenAuth = await openTokenAuth(values, log);
        const http = await mcp.serveHttp({ sandbox, config, ...listen, ...idle, ...approve, log, ...(tokenAuth ? { auth: tokenAuth.auth } : {}) });
        await new Promise<void>((r) => stop.signal.addEventListener('abort', () => r(), { once: true }));
        await http.close();
      } else {
        await mcp.serveStdio({ sandbox, config, ...approve, log, signal: stop.signal });
      }
      return 0;
    } finally {
      stop.dispose();
      await tokenAuth?.close();
      await sandbox.close();
    }
  } catch (e) {
    return reportError(e, false);
  }
}
