/**
 * `agentos run --native [--runtime bwrap|runc] ... -- CMD [ARGS...]`: run a native agent (a
 * command) in the container sandbox (bubblewrap, or runc) under the same policy, flags,
 * `--json` object and exit statuses as a component.
 */
import type { Sandbox } from '../sandbox/sandbox.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { UsageError } from '../errors.js';
import { NATIVE_RUNTIMES, type NativeRuntime } from '../container/backends.js';

const isNativeRuntime = (name: string): name is NativeRuntime => (NATIVE_RUNTIMES as readonly string[]).includes(name);

/** What `run` parsed that a native run uses. */
export interface NativeRunInput {
  readonly command: readonly string[];
  readonly policy: SandboxPolicy;
  readonly agentId: string;
  readonly task: string;
  readonly timeout?: number;
  readonly runtime?: string;
}

/** Flags of `agentos run` that mean nothing for a native agent. */
export const WASM_ONLY_FLAGS = ['fuel', 'memory', 'engine', 'keys', 'allow-unsigned', 'cache-dir', 'kv', 'nats'] as const;

/** Split `argv` at the first `--`: the options before it, the command after it. */
export function splitCommand(argv: readonly string[]): { options: string[]; command: string[] } {
  const at = argv.indexOf('--');
  return at < 0 ? { options: [...argv], command: [] } : { options: argv.slice(0, at), command: argv.slice(at + 1) };
}

/** Run it; resolves with the run result (errors propagate to `run`'s reporting). */
export async function runNative(sandbox: Sandbox, input: NativeRunInput) {
  const runtime = input.runtime ?? 'bwrap';
  if (!isNativeRuntime(runtime)) throw new UsageError(`--runtime ${JSON.stringify(runtime)}: use one of ${NATIVE_RUNTIMES.join(', ')}`);
  if (input.command.length === 0) throw new UsageError('agentos run --native needs the command after --, e.g. agentos run --native -- python3 /agent/main.py');
  const agent = await sandbox.loadNative({ command: input.command, policy: input.policy, agentId: input.agentId, container: { runtime } });
  return agent.run(input.task, input.timeout !== undefined ? { timeout: input.timeout } : {});
}
