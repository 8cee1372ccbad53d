/**
 * Native agents: a command that cannot be compiled to WebAssembly (a Python script with native
 * packages, a prebuilt binary, a shell line) run under the same policy file, in a bubblewrap
 * sandbox, with the same `run`/`close`, events, `RunResult` and error codes as a component, and
 * the same audit chain.
 *
 * Each `run` is a fresh sandbox: the task goes to the agent's stdin, its stdout is the output
 * (capped by `maxOutputBytes`), its stderr lines are `log` events, exit 0 is ok and any other
 * exit is `AGENT_ERROR`.
 *
 * @example
 * ```ts
 * const agent = await sandbox.loadNative({ command: ['python3', '/agent/main.py'], policy: 'policy.yaml' });
 * const { output } = await agent.run('{"q": 1}', { timeout: '10s' });
 * await agent.close();
 * ```
 */
import { randomUUID } from 'node:crypto';
import { PolicyError, SandboxError, UsageError } from '../errors.js';
import { runFailure } from '../sandbox/run-failure.js';
import type { AuditEvent } from '../gate/types.js';
import type { LogEvent } from '../capabilities/context.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { parseDuration } from '../util/units.js';
import { baseRootfs, bwrapArgs, requireBwrap } from './bwrap.js';
import { nativeEnv } from './env.js';
import { executableOf, type ExecutableInfo } from './executable.js';
import { planMounts, SANDBOX_UID, type MountPlan } from './mounts.js';
import { NativeFiles } from './native-files.js';
import { NativeLimits } from './native-limits.js';
import { grantsNetwork, NativeNetwork, proxyEnv } from './native-network.js';
import { encodeProgram, programFor, seccompRules } from './seccomp/index.js';
import { serveTools, TOOLS_FD } from './tool-channel.js';
import type { Duplex } from 'node:stream';
import type { ToolReply } from '../capabilities/tools.js';
import { Gate } from '../gate/gate.js';
import { QuotaLedger, quotaPolicyOf } from '../limits/quota.js';
import { CHILD_FDS, runSandboxed } from './process.js';

/** Options of `sandbox.loadNative`. */
export interface NativeLoadOptions {
  /** The program and its arguments, resolved inside the sandbox (its PATH is `/usr/local/bin:/usr/bin:/bin`). */
  readonly command: readonly string[];
  /** Working directory inside the sandbox. Default: the first mount's guest path, else `/tmp`. */
  readonly cwd?: string;
  /** Use this agent id instead of a fresh UUID. */
  readonly agentId?: string;
}

/** What a native agent needs of its sandbox (the sandbox provides it; see `Sandbox.loadNative`). */
export interface NativeHost {
  readonly hostEnv: NodeJS.ProcessEnv;
  readonly defaultTimeoutMs: number;
  checkAudit(): void;
  auditError(output?: string): SandboxError | undefined;
  audit(e: Omit<AuditEvent, 'time'>, correlationId?: string): void;
  log(e: LogEvent): void;
  forget(agent: NativeAgent): void;
  /** Names of the tools registered with the sandbox. */
  toolNames(): readonly string[];
  /** Run a registered tool (after the gate allowed it). */
  callTool(name: string, input: string, agentId: string): Promise<ToolReply>;
}

/** The result of a run, as for components (`fuelUsed` is 0: native code is not metered by fuel). */
export interface NativeRunResult {
  readonly output: string;
  readonly durationMs: number;
  readonly agentId: string;
  readonly runId: string;
  readonly fuelUsed: number;
  readonly exitCode: number;
}

/** Open files a native agent may hold (RLIMIT_NOFILE; the seeds' container profile). */
export const NATIVE_NOFILE = 100;

/** Default size of the sandbox's `/tmp` when the policy sets no `diskQuota`. */
export const DEFAULT_TMP_BYTES = 64 * 1024 * 1024;

/** A loaded native agent. */
export class NativeAgent {
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** The correlation id of the current run, stamped on the gate's records. */
  private correlation: string | undefined;
  /** The egress proxy, when the policy grants network access. */
  private network: NativeNetwork | undefined;
  /** Decides tool calls and connections exactly as for components (and records them). */
  private readonly gate: Gate;

  /** @internal */
  constructor(
    private readonly host: NativeHost,
    /** This agent's id. */
    readonly id: string,
    /** The policy it runs under. */
    readonly policy: SandboxPolicy,
    private readonly command: readonly string[],
    private readonly cwd: string,
    private readonly env: Readonly<Record<string, string>>,
    private readonly plan: MountPlan,
    private readonly files: NativeFiles,
    /** The executable as resolved at load. */
    readonly executable: ExecutableInfo,
    /** The seccomp filter (BPF) and what it allows. */
    private readonly seccomp: { readonly filter: Uint8Array; readonly allowed: number; readonly overridden: readonly string[] },
  ) {
    const quota = quotaPolicyOf(policy, id);
    const ledger = new QuotaLedger(QuotaLedger.allocate(quota), quota);
    this.gate = new Gate(policy, id, (e) => host.audit(e, this.correlation), undefined, ledger);
  }

  /** @internal start the egress proxy when the policy grants network access */
  async startNetwork_(): Promise<void> {
    if (grantsNetwork(this.policy)) this.network = await NativeNetwork.start(this.gate, this.files.dir);
  }

  /** The bwrap command line: the same for every run, so made once (after the network is known). */
  private argvOnce: string[] | undefined;
  private get argv(): string[] {
    this.argvOnce ??= bwrapArgs({
      rootfs: baseRootfs(this.files.etc),
      mounts: this.plan.args,
      env: { ...this.env, ...(this.toolsGranted ? { AGENTOS_TOOLS_FD: String(TOOLS_FD) } : {}), ...(this.network ? proxyEnv() : {}) },
      cwd: this.cwd,
      tmpBytes: this.policy.resourceLimits.diskQuota ?? DEFAULT_TMP_BYTES,
      fds: { info: CHILD_FDS.info, block: CHILD_FDS.block, seccomp: CHILD_FDS.seccomp },
      command: this.command,
    });
    return this.argvOnce;
  }

  /** Whether this agent gets the tool channel: the policy grants some tool. */
  private get toolsGranted(): boolean {
    return this.policy.toolAccess.allow.length > 0;
  }

  /** Run one task in a fresh sandbox. Rejects with a `SandboxError` (same codes as components). */
  run(task: string, options: { timeout?: number | string } = {}): Promise<NativeRunResult> {
    const p = this.queue.then(() => this.runNow(task, options));
    this.queue = p.catch(() => {});
    return p;
  }

  private async runNow(task: string, options: { timeout?: number | string }): Promise<NativeRunResult> {
    if (this.closed) throw new UsageError('agent is closed');
    if (typeof task !== 'string') throw new UsageError('run(task): task must be a string');
    const limits = this.policy.resourceLimits;
    const timeoutMs = options.timeout !== undefined ? parseDuration(options.timeout, 'timeout') : (limits.maxExecutionTime ?? this.host.defaultTimeoutMs);
    const runId = randomUUID();
    this.correlation = runId;
    const started = performance.now();
    const base = { agentId: this.id, capability: 'compute', resource: 'agent' as const };
    try {
      this.host.checkAudit();
      const argv = this.argv;
      this.host.audit({
        ...base, type: 'agent_spawn', action: 'spawn', target: this.executable.sha256 ?? this.executable.guest, outcome: 'allowed',
        reason: `native agent started in bubblewrap: ${this.command.join(' ')}`, api: 'agent.run',
        details: {
          backend: 'bwrap', command: [...this.command], executable: { ...this.executable }, mounts: [...this.plan.summary], cwd: this.cwd,
          seccomp: { allowed: this.seccomp.allowed, ...(this.seccomp.overridden.length > 0 ? { stillDenied: [...this.seccomp.overridden] } : {}) },
        },
      }, runId);
      const cgroup = await NativeLimits.forRun(this.policy, runId);
      const stop = new AbortController();
      const poll = cgroup?.watchesCpu ? setInterval(() => { const e = cgroup.exceeded(); if (e) stop.abort(e); }, 50) : undefined;
      let result;
      let listener: { close(): Promise<void> } | undefined;
      try {
        result = await runSandboxed({
          argv,
          ...(process.getuid?.() === 0 ? { uid: SANDBOX_UID } : {}),
          task,
          timeoutMs,
          maxOutputBytes: limits.maxOutputBytes ?? 1024 * 1024,
          seccomp: this.seccomp.filter,
          rlimits: { nofile: NATIVE_NOFILE, ...(limits.maxFileSize !== undefined ? { fsize: limits.maxFileSize } : {}) },
          onPid: async (pid) => {
            cgroup?.attach(pid);
            if (this.network) listener = await this.network.serveIn(pid);
          },
          onLine: (message) => this.host.log({ time: Date.now(), agentId: this.id, stream: 'stderr', level: 'info', message }),
          signal: stop.signal,
          ...(this.toolsGranted
            ? { tools: (stream: Duplex) => serveTools(stream, { gate: this.gate, registered: () => this.host.toolNames(), call: (name, input) => this.host.callTool(name, input, this.id) }) }
            : {}),
        }).catch((e: unknown) => {
          // A limit the cgroup saw explains the ending better than the exit status.
          throw cgroup?.outcome() ?? e;
        });
        const limitHit = cgroup?.outcome();
        if (limitHit) throw limitHit;
      } finally {
        clearInterval(poll);
        await listener?.close();
        await cgroup?.release();
      }
      const auditErr = this.host.auditError(result.output);
      if (auditErr) throw auditErr;
      this.host.audit({ ...base, type: 'agent_terminate', action: 'exit', target: 'exit 0', outcome: 'allowed', reason: 'the native agent exited with status 0', api: 'agent.run' }, runId);
      return { output: result.output, durationMs: performance.now() - started, agentId: this.id, runId, fuelUsed: 0, exitCode: 0 };
    } catch (e) {
      throw runFailure(e, { agentId: this.id, runId, auditError: () => this.host.auditError(), audit: (ev, id) => this.host.audit(ev, id) });
    }
  }

  /** Release the agent's files. Further runs reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.network?.close();
    await this.files.remove();
    this.host.audit({ type: 'agent_terminate', agentId: this.id, capability: 'compute', resource: 'agent', action: 'close', target: this.command[0] ?? '', outcome: 'allowed', reason: 'agent closed', api: 'agent.close' });
    this.host.forget(this);
  }
}

/**
 * Limits a native process cannot have (fuel meters WebAssembly): a policy that sets one is
 * refused, naming it, rather than run weaker than it says. Used by bwrap and the OCI config.
 *
 * @throws {PolicyError} naming the limit.
 * @example
 * ```ts
 * refuseUnenforced(policy); // throws for resourceLimits.maxFuel
 * ```
 */
export function refuseUnenforced(policy: SandboxPolicy): void {
  const limits = policy.resourceLimits;
  for (const name of ['maxFuel'] as const) {
    if (limits[name] !== undefined) {
      throw new PolicyError(`resourceLimits.${name} cannot be enforced on a native agent by this version; remove it for native agents or run a WebAssembly agent`, { path: `resourceLimits.${name}` });
    }
  }
}

/**
 * Load a native agent: check the host can isolate it, plan its files from the policy, build
 * its environment, resolve its executable.
 *
 * @throws {SandboxError} `INTERNAL` without bubblewrap; `POLICY_INVALID` naming a rule the
 *   sandbox cannot enforce; `CAPABILITY_DENIED` when the sandbox user may not use a mount.
 */
export async function loadNativeAgent(host: NativeHost, policy: SandboxPolicy, options: NativeLoadOptions): Promise<NativeAgent> {
  const command = options.command;
  if (!Array.isArray(command) || command.length === 0 || command.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw new UsageError('loadNative: command must be a non-empty list of strings without NUL, e.g. ["python3", "/agent/main.py"]');
  }
  requireBwrap();
  refuseUnenforced(policy);
  const env = nativeEnv(policy, host.hostEnv);
  const files = await NativeFiles.create();
  try {
    const plan = planMounts(policy, files.emptyFile);
    const cwd = options.cwd ?? policy.mounts.find((m) => plan.args.includes(m.guest))?.guest ?? '/tmp';
    const executable = executableOf(command[0]!, env['PATH'] ?? '', policy.mounts);
    const rules = seccompRules({ allowedSyscalls: policy.allowedSyscalls });
    const seccomp = { filter: encodeProgram(programFor(rules)), allowed: rules.allowed.length, overridden: rules.overridden };
    const agent = new NativeAgent(host, options.agentId ?? randomUUID(), policy, [...command], cwd, env, plan, files, executable, seccomp);
    await agent.startNetwork_();
    return agent;
  } catch (e) {
    await files.remove();
    throw e;
  }
}
