/**
 * `agentos run`: load a component under a policy and run one task.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';
import { KeyStore } from '../identity/keystore.js';
import { createSandbox } from '../sandbox/sandbox.js';
import { DEFAULT_KV_DIR } from '../sandbox/kv-host.js';
import { checkNatsUrl } from '../messaging/nats.js';
import { loadPolicyFile, emptyPolicy, parsePolicyText } from '../policy/loader.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { UsageError } from '../errors.js';
import { parseDuration, parseSize } from '../util/units.js';
import { parse, reportError, safeText, type ExitStatus } from './common.js';
import { FLAGS, flagLine, withAliases } from './flags.js';
import { runNative, splitCommand, WASM_ONLY_FLAGS } from './run-native.js';

/** The options of `agentos run`; shared flags come from ./flags.ts. */
export const RUN_OPTIONS = {
  policy: FLAGS.policy,
  task: { type: 'string' },
  'task-file': { type: 'string' },
  mount: { type: 'string', multiple: true },
  fuel: { type: 'string' },
  memory: { type: 'string' },
  timeout: { type: 'string' },
  audit: FLAGS.audit,
  'audit-durability': { type: 'string' },
  witness: FLAGS.witness,
  'no-audit': { type: 'boolean' },
  indicators: { type: 'string' },
  'no-monitor': { type: 'boolean' },
  // --trust DIR was run's own name for the key store that signed the component.
  keys: withAliases(FLAGS.keys, 'trust'),
  'allow-unsigned': { type: 'boolean' },
  engine: { type: 'string' },
  native: { type: 'boolean' },
  runtime: { type: 'string' },
  'cache-dir': FLAGS['cache-dir'],
  'agent-id': FLAGS['agent-id'],
  kv: { name: 'kv', type: 'string', arg: 'DIR', help: `the agents' key-value store (default ${DEFAULT_KV_DIR})` },
  nats: { name: 'nats', type: 'string', arg: 'URL', help: 'also reach agents of other processes through this NATS server\n(nats://host:port); messages are end-to-end encrypted' },
  json: FLAGS.json,
  help: FLAGS.help,
} as const;

export const RUN_HELP = `Usage: agentos run <agent.wasm> [options]
       agentos run --native [options] -- CMD [ARGS...]

Run one task in a WebAssembly agent component under a policy. Without --policy the agent
may compute, log and read clocks and randomness, and nothing else.

With --native, run a command (a program that cannot be compiled to WebAssembly) in a
container sandbox under the same policy: bubblewrap by default, or runc with --runtime runc
(as root; the config is what 'agentos container spec' prints). Either way: new namespaces
(network only through the audited egress proxy), uid 65534, no capabilities, seccomp, a
read-only root with /usr, only the policy's mounts, cgroup limits. CMD is resolved inside
the sandbox; the task is its stdin, its stdout the output, its stderr lines are logs; exit 0
is ok, any other status is AGENT_ERROR (exit 1). Same --policy, --mount, --task, --timeout,
--audit and --json; a policy rule the sandbox cannot enforce is refused (exit 2).

Options:
${flagLine(RUN_OPTIONS.policy)}
  --task TEXT            the task passed to the agent's run export (default: empty)
  --task-file FILE       read the task from FILE ('-' for stdin)
  --mount GUEST=HOST[:ro|:rw]
                         make host directory HOST visible at GUEST (read-only unless :rw);
                         grants read_files (and write_files for :rw); repeatable
  --fuel N               fuel budget for the run (about one unit per wasm instruction); past it
                         the run ends with FUEL_EXHAUSTED (exit 3). Default: the policy's
                         resourceLimits.maxFuel, else unlimited (fuel is still counted)
  --memory SIZE          cap on each linear memory, e.g. 64MiB (default: policy, else 1GiB);
                         memory.grow past it fails in the guest, a larger initial size is
                         refused with MEMORY_LIMIT
  --timeout DURATION     wall-clock limit, e.g. 500ms, 30s, 5m (default: policy or 30s)
${flagLine(RUN_OPTIONS.audit, `the tamper-evident audit log every decision is written to\n(default ${DEFAULT_AUDIT_DIR}; read it with 'agentos audit')`)}
  --audit-durability commit|sync|async
                         commit (default): nothing leaves the sandbox (a file write, a
                         connection, a tool call, the output) before every record up to
                         it is fsynced; reads and denials do not wait. sync: every call
                         waits for its record. async: nothing waits (an OS crash may lose
                         the last records, a killed process loses none)
  --no-audit             record nothing durably (not for untrusted agents)
  --indicators FILE      a threat-intelligence list (YAML/JSON: hosts, ipRanges, components):
                         a listed component is refused, listed hosts and addresses are denied
  --no-monitor           switch the security monitor off (its alerts go to stderr, and
                         critical ones quarantine the agent; incidents in DIR/incidents)
${flagLine(RUN_OPTIONS.keys, "run only components signed by a key this key store trusts\n('agentos sign'); the policy is narrowed to the signed capabilities")}
  --allow-unsigned       with --keys: also run unsigned components (bad signatures are
                         still refused)
  --engine NAME          jco (default) or wasmtime (the native addon; build it with
                         npm run build:native); both run behind the same gate, audit,
                         limits and fuel metering (the same fuel figures)
  --native               run CMD (after --) in the native sandbox instead of a component
  --runtime NAME         with --native: bwrap (bubblewrap, default) or runc (the OCI
                         runtime, as root; slower to start, same policy and audit)
${flagLine(RUN_OPTIONS['cache-dir'])}
${flagLine(RUN_OPTIONS['agent-id'], "the agent's id (default: a fresh UUID); its key-value namespace\nand its address for messages")}
${flagLine(RUN_OPTIONS.kv)}
${flagLine(RUN_OPTIONS.nats)}
${flagLine(RUN_OPTIONS.json, 'print exactly one JSON object on stdout')}
${flagLine(RUN_OPTIONS.help)}

Exit status: 0 ok, 1 the agent returned an error, 2 bad input, 3 a limit was hit,
4 refused by policy before the agent ran, 5 internal error.

Example:
  agentos run examples/hello/hello.wasm --task world
  agentos run agent.wasm --policy policy.yaml --mount /workspace=./repo --json
  agentos run --native --mount /agent=./agent --task '{"n":[1,2]}' -- python3 -I /agent/main.py`;

/**
 * `--mount GUEST=HOST[:ro|:rw]` added to a policy (granting read_files, and write_files for
 * `:rw`), validated as if written in the file. Used by `run` and `container spec`.
 *
 * @example `policy = applyMount(policy, '/workspace=./repo:ro')`
 */
export function applyMount(policy: SandboxPolicy, spec: string): SandboxPolicy {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`--mount ${JSON.stringify(spec)}: expected GUEST=HOST[:ro|:rw], e.g. /workspace=./repo:ro`);
  const guest = spec.slice(0, eq);
  let host = spec.slice(eq + 1);
  let mode: 'ro' | 'rw' = 'ro';
  const m = /:(ro|rw)$/.exec(host);
  if (m) {
    mode = m[1] as 'ro' | 'rw';
    host = host.slice(0, -3);
  }
  if (!host) throw new UsageError(`--mount ${JSON.stringify(spec)}: empty host path`);
  const allowed = new Set(policy.capabilities.allowed);
  allowed.add('read_files');
  if (mode === 'rw') allowed.add('write_files');
  const raw = {
    ...policy,
    capabilities: { ...policy.capabilities, allowed: [...allowed] },
    mounts: [...policy.mounts, { guest, host: isAbsolute(host) ? host : resolve(host), mode }],
  };
  // Re-validate: the mount goes through the same checks as one written in the file.
  return parsePolicyText(JSON.stringify(raw), { format: 'json', source: '--mount' }).policy;
}

/** Run the command. */
export async function runCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  let agentId: string = randomUUID();
  try {
    const { options, command } = splitCommand(argv);
    const { values, positionals } = parse(options, RUN_OPTIONS, 'run');
    if (values.help) {
      process.stdout.write(RUN_HELP + '\n');
      return 0;
    }
    if (values.native) {
      if (positionals.length > 0) throw new UsageError('agentos run --native takes the command after --, not a component path');
      const wasmOnly = WASM_ONLY_FLAGS.filter((f) => values[f] !== undefined);
      if (wasmOnly.length > 0) throw new UsageError(`--${wasmOnly[0]} is for WebAssembly agents; a native agent's limits come from the policy`);
    } else {
      if (command.length > 0) throw new UsageError('a command after -- needs --native; see `agentos run --help`');
      if (values.runtime !== undefined) throw new UsageError('--runtime goes with --native');
      if (positionals.length !== 1) throw new UsageError('agentos run takes exactly one component path; see `agentos run --help`');
    }
    if (values.task !== undefined && values['task-file'] !== undefined) throw new UsageError('give --task or --task-file, not both');
    if (values['agent-id'] !== undefined) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,255}$/.test(values['agent-id'])) throw new UsageError(`--agent-id ${JSON.stringify(values['agent-id'])}: use 1-256 letters, digits and . _ : @ - (starting with a letter or digit)`);
      agentId = values['agent-id'];
    }
    if (values.nats !== undefined) checkNatsUrl(values.nats);
    let task = values.task ?? '';
    if (values['task-file'] !== undefined) {
      try {
        task = readFileSync(values['task-file'] === '-' ? 0 : values['task-file'], 'utf8');
      } catch (e) {
        throw new UsageError(`--task-file ${values['task-file']}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
    }
    let policy = values.policy !== undefined ? (await loadPolicyFile(values.policy)).policy : emptyPolicy();
    for (const spec of values.mount ?? []) policy = applyMount(policy, spec);
    const limits: Record<string, unknown> = { ...policy.resourceLimits };
    if (values.fuel !== undefined) {
      if (!/^[0-9]{1,19}$/.test(values.fuel)) throw new UsageError(`--fuel ${JSON.stringify(values.fuel)}: expected a whole number`);
      limits['maxFuel'] = Number(values.fuel);
    }
    if (values.memory !== undefined) limits['maxMemory'] = parseSize(values.memory, '--memory');
    const timeout = values.timeout !== undefined ? parseDuration(values.timeout, '--timeout') : undefined;
    if (values.fuel !== undefined || values.memory !== undefined) {
      policy = parsePolicyText(JSON.stringify({ ...policy, resourceLimits: limits }), { format: 'json', source: 'command line' }).policy;
    }
    const durability = values['audit-durability'] ?? 'commit';
    if (durability !== 'commit' && durability !== 'sync' && durability !== 'async') throw new UsageError(`--audit-durability ${JSON.stringify(durability)}: use commit, sync or async`);
    if (values['no-audit'] && (values.audit !== undefined || values.witness !== undefined)) throw new UsageError('--no-audit cannot be combined with --audit or --witness');
    if (values['allow-unsigned'] && values.keys === undefined) throw new UsageError('--allow-unsigned goes with --keys DIR');
    if (values['no-monitor'] && values.indicators !== undefined) throw new UsageError('--indicators needs the monitor: drop --no-monitor');
    const trustKeys = values.keys !== undefined ? await KeyStore.open(values.keys, { passphrase: () => '', create: false }) : undefined;
    const engine = values.engine ?? 'jco';
    if (engine !== 'jco' && engine !== 'wasmtime') throw new UsageError(`--engine ${JSON.stringify(engine)}: use jco or wasmtime`);
    const sandbox = createSandbox({
      prewarmWorkers: 0,
      engine,
      ...(trustKeys ? { trust: { keys: trustKeys, requireSignature: !values['allow-unsigned'] } } : {}),
      ...(values['cache-dir'] !== undefined ? { cacheDir: values['cache-dir'] } : {}),
      audit: values['no-audit'] ? false : { dir: values.audit ?? DEFAULT_AUDIT_DIR, durability, ...(values.witness !== undefined ? { witness: values.witness } : {}) },
      monitor: values['no-monitor'] ? false : { channels: { stderr: true }, ...(values.indicators !== undefined ? { indicators: values.indicators } : {}) },
      ...(values.kv !== undefined ? { kv: { dir: values.kv } } : {}),
      ...(values.nats !== undefined ? { messaging: { nats: values.nats } } : {}),
    });
    if (!json) {
      sandbox.on('log', (e) => process.stderr.write(`[${e.stream}${e.stream === 'log' ? ':' + e.level : ''}] ${safeText(e.message)}\n`));
    }
    try {
      const r = values.native
        ? await runNative(sandbox, { command, policy, agentId, task, ...(timeout !== undefined ? { timeout } : {}), ...(values.runtime !== undefined ? { runtime: values.runtime } : {}) })
        : await (await sandbox.load(positionals[0]!, { policy, agentId })).run(task, timeout !== undefined ? { timeout } : {});
      if (json) {
        process.stdout.write(JSON.stringify({ ok: true, output: r.output, agentId: r.agentId, fuelUsed: r.fuelUsed, durationMs: Math.round(r.durationMs * 1000) / 1000 }) + '\n');
      } else {
        process.stdout.write(safeText(r.output.endsWith('\n') ? r.output : r.output + '\n'));
      }
      return 0;
    } finally {
      await sandbox.close();
    }
  } catch (e) {
    return reportError(e, json, { agentId });
  }
}
