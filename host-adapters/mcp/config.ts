/**
 * The agents an MCP server offers, from an `agents.yaml` (or JSON) file:
 *
 * ```yaml
 * version: 1                      # optional
 * agents:
 *   hello:                        # the tool's name
 *     component: ../hello/build/hello.wasm
 *     policy: ../hello/policy.yaml    # a policy file, or the policy inline (a mapping)
 *     description: Greets whoever the task names.
 *     timeout: 10s                # optional: each run's wall-clock limit
 *     wit: ../hello/wit           # optional: the WIT it was built from, for its functions' docs
 *   report:
 *     command: [python3, -I, /agent/main.py]   # a native agent (run in the container sandbox)
 *     runtime: bwrap              # optional: bwrap (default) or runc
 *     policy: { version: 1, mounts: [{ guest: /agent, host: ./report, mode: ro }] }
 * ```
 *
 * Paths (components, policy files, an inline policy's mount hosts) are relative to the config
 * file. Everything is checked when the file is read, policies included, so a bad file fails at
 * startup with a message naming the field, not at the first tool call.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { loadPolicyFile, parsePolicyText, PolicyError, UsageError, emptyPolicy, type Sandbox, type SandboxPolicy } from 'agent-os-sandbox';
import { checkAgentName } from './server.js';
import { reloadingAgent } from './reloading-agent.js';
import type { McpAgentEntry } from './types.js';

/** One agent of the config, its paths resolved and its policy loaded. */
export interface McpAgentSpec {
  /** The component's path (absolute), for a WebAssembly agent. */
  readonly component?: string;
  /** The command and its arguments, for a native agent. */
  readonly command?: readonly string[];
  /** A native agent's container runtime. */
  readonly runtime?: 'bwrap' | 'runc';
  readonly policy: SandboxPolicy;
  readonly description?: string;
  readonly timeout?: number | string;
  /** The WIT file or directory the component was built from (absolute): doc comments for its function tools. */
  readonly wit?: string;
}

/** A read config: tool name → agent. */
export interface McpConfig {
  /** Where it came from (a file path, or `command line`). */
  readonly source: string;
  readonly agents: Readonly<Record<string, McpAgentSpec>>;
}

const DURATION = /^[0-9]+(\.[0-9]+)?(ms|s|m|h)$/;

const agentSchema = z
  .object({
    component: z.string().min(1).optional(),
    command: z.union([z.string().min(1).transform((s) => [s]), z.array(z.string()).min(1)]).optional(),
    runtime: z.enum(['bwrap', 'runc']).optional(),
    policy: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).optional(),
    description: z.string().min(1).max(4096).optional(),
    timeout: z.union([z.number().int().positive(), z.string().regex(DURATION, 'expected a duration such as 500ms, 30s or 5m')]).optional(),
    wit: z.string().min(1).optional(),
  })
  .strict()
  .refine((a) => (a.component === undefined) !== (a.command === undefined), { message: 'give exactly one of component (a .wasm path) or command (a native agent)' })
  .refine((a) => a.runtime === undefined || a.command !== undefined, { message: 'runtime goes with command (native agents)', path: ['runtime'] })
  .refine((a) => a.wit === undefined || a.component !== undefined, { message: 'wit goes with component (it documents the functions a component exports)', path: ['wit'] });

const configSchema = z
  .object({
    version: z.literal(1).optional(),
    agents: z.record(z.string(), agentSchema).refine((a) => Object.keys(a).length > 0, { message: 'list at least one agent' }),
  })
  .strict();

/** Where an issue is, as `agents.hello.timeout`. */
function fieldOf(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(top level)' : path.map(String).join('.');
}

/**
 * Read and check a config file. Throws `UsageError` (exit 2) naming the file and the field for
 * a bad file, `PolicyError` for a bad policy.
 *
 * @example `const config = await loadMcpConfig('examples/mcp/agents.yaml')`
 */
export async function loadMcpConfig(file: string): Promise<McpConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--config ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let data: unknown;
  try {
    data = parseYaml(text, { prettyErrors: false });
  } catch (e) {
    throw new UsageError(`${file}: not valid YAML or JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  return parseMcpConfig(data, { source: file, baseDir: dirname(resolve(file)) });
}

/** Check a config already parsed from YAML/JSON (see {@link loadMcpConfig}); paths are relative to `baseDir`. */
export async function parseMcpConfig(data: unknown, where: { source: string; baseDir: string }): Promise<McpConfig> {
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${where.source}: ${fieldOf(issue.path)}: ${issue.message}`);
  }
  const agents: Record<string, McpAgentSpec> = {};
  for (const [name, a] of Object.entries(parsed.data.agents)) {
    try {
      checkAgentName(name);
    } catch (e) {
      throw new UsageError(`${where.source}: agents.${name}: ${(e as Error).message}`);
    }
    const policy = await policyOf(a.policy, `${where.source}: agents.${name}.policy`, where.baseDir);
    agents[name] = {
      ...(a.component !== undefined ? { component: resolve(where.baseDir, a.component) } : {}),
      ...(a.command !== undefined ? { command: a.command } : {}),
      ...(a.runtime !== undefined ? { runtime: a.runtime } : {}),
      policy,
      ...(a.description !== undefined ? { description: a.description } : {}),
      ...(a.timeout !== undefined ? { timeout: a.timeout } : {}),
      ...(a.wit !== undefined ? { wit: resolve(where.baseDir, a.wit) } : {}),
    };
  }
  return { source: where.source, agents };
}

async function policyOf(value: string | Record<string, unknown> | undefined, field: string, baseDir: string): Promise<SandboxPolicy> {
  if (value === undefined) return emptyPolicy();
  try {
    if (typeof value === 'string') return (await loadPolicyFile(resolve(baseDir, value))).policy;
    return parsePolicyText(JSON.stringify(value), { format: 'json', source: field, baseDir }).policy;
  } catch (e) {
    if (e instanceof PolicyError || e instanceof UsageError) {
      // The loader's message names the policy file; say which agent of which config asked for it.
      throw new PolicyError(`${field}: ${e.message}`);
    }
    throw e;
  }
}

/** The agents of a config, loaded in a sandbox, and how to free them. */
export interface LoadedAgents {
  readonly agents: Readonly<Record<string, McpAgentEntry>>;
  /** Close every agent (the sandbox stays open). */
  close(): Promise<void>;
}

/**
 * Load every agent of `config` in `sandbox` (components with `sandbox.load`, native agents with
 * `sandbox.loadNative`). If one fails, those already loaded are closed and the error is thrown.
 *
 * @example
 * ```ts
 * const { agents, close } = await loadConfiguredAgents(sandbox, await loadMcpConfig('agents.yaml'));
 * const server = await createMcpServer({ sandbox, agents });
 * ```
 */
export async function loadConfiguredAgents(sandbox: Sandbox, config: McpConfig): Promise<LoadedAgents> {
  const agents: Record<string, McpAgentEntry> = {};
  const close = async () => {
    await Promise.allSettled(Object.values(agents).map((e) => e.agent.close()));
  };
  try {
    for (const [name, spec] of Object.entries(config.agents)) {
      // A native agent is loaded again to change its policy (see ./reloading-agent.ts); a component's changes in place.
      const native = (policy: SandboxPolicy) => sandbox.loadNative({ command: spec.command ?? [], policy, ...(spec.runtime !== undefined ? { container: { runtime: spec.runtime } } : {}) });
      const agent = spec.component !== undefined ? await sandbox.load(spec.component, { policy: spec.policy, ...(spec.wit !== undefined ? { wit: spec.wit } : {}) }) : reloadingAgent(await native(spec.policy), native);
      agents[name] = { agent, ...(spec.description !== undefined ? { description: spec.description } : {}), ...(spec.timeout !== undefined ? { timeout: spec.timeout } : {}) };
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { agents, close };
}
