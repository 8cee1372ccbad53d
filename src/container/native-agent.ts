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
import type { NameLookup } from '../util/dns-servers.js';
import type { Indicators } from '../monitor/indicators.js';
import { randomUUID } from 'node:crypto';
import { cancelledError, DeniedError, PolicyError, SandboxError, UsageError } from '../errors.js';
import { runFailure } from '../sandbox/run-failure.js';
import { checkProvenance, type RunProvenance } from '../sandbox/provenance.js';
import type { AuditEvent } from '../gate/types.js';
import type { LogEvent } from '../capabilities/context.js';
import type { SandboxPolicy } from '../policy/schema.js';
import type { RunOptions } from '../sandbox/sandbox.js';
import { parseDuration } from '../util/units.js';
import { bwrapBackend, NATIVE_RUNTIMES, runcBackend, type BackendSpec, type NativeRuntime, type SandboxBackend } from './backends.js';
import { requireBwrap } from './bwrap.js';
import { nativeEnv } from './env.js';
import { executableOf, type ExecutableInfo } from './executable.js';
import { planMounts, type MountPlan } from './mounts.js';
import { NativeFiles } from './native-files.js';
import { NativeLimits } from './native-limits.js';
import { grantsNetwork, NativeNetwork, proxyEnv } from './native-network.js';
import { encodeProgram, programFor, seccompRules, type SeccompRules } from './seccomp/index.js';
import { SyscallAudit, syscallRecording, type WatchSeccomp } from './syscall-audit.js';
import { cleanupStaleContainers, requireRunc } from './runc.js';
import { serveTools } from './tool-channel.js';
import type { Duplex } from 'node:stream';
import type { ToolReply } from '../capabilities/tools.js';
import { Gate } from '../gate/gate.js';
import { QuotaLedger, quotaPolicyOf } from '../limits/quota.js';

/** Options of `sandbox.loadNative`. */
export interface NativeLoadOptions {
  /** The program and its arguments, resolved inside the sandbox (its PATH is `/usr/local/bin:/usr/bin:/bin`). */
  readonly command: readonly string[];
  /** Working directory inside the sandbox. Default: the first mount's guest path, else `/tmp`. */
  readonly cwd?: string;
  /** Use this agent id instead of a fresh UUID. */
  readonly agentId?: string;
  /**
   * The container runtime: `bwrap` (bubblewrap, the default) or `runc` (the OCI runtime, as
   * root; its config is what `agentos container spec` prints). Same policy, same isolation,
   * same audit records; runc starts slower.
   */
  readonly container?: { readonly runtime?: NativeRuntime };
}

/** What a native agent needs of its sandbox (the sandbox provides it; see `Sandbox.loadNative`). */
export interface NativeHost {
  readonly hostEnv: NodeJS.ProcessEnv;
  readonly defaultTimeoutMs: number;
  checkAudit(): void;
  auditError(output?: string): SandboxError | undefined;
  audit(e: Omit<AuditEvent, 'time'>, correlationId?: string): void;
  /** Record, and resolve once the record is durable (under `'sync'` commits). */
  auditDurable(e: Omit<AuditEvent, 'time'>, correlationId?: string): Promise<void>;
  /** Until the returned function is called, the records of run `correlationId` carry `provenance` (see `RunOptions.provenance`). */
  tagRun(correlationId: string, provenance: RunProvenance): () => void;
  log(e: LogEvent): void;
  forget(agent: NativeAgent): void;
  /** Names of the tools registered with the sandbox. */
  toolNames(): readonly string[];
  /** Run a registered tool (after the gate allowed it). */
  callTool(name: string, input: string, agentId: string): Promise<ToolReply>;
  /** Refuse a load under a quarantined agent id or of a quarantined executable (throws `DeniedError`). */
  checkLoad(agentId: string, executableHash: string | undefined): void;
  /** Resolves names for the egress proxy when the sandbox names DNS servers (else the system resolver). */
  readonly resolve?: NameLookup | undefined;
}

/** Options of {@link NativeAgent.run}: the same as for components. */
export type NativeRunOptions = RunOptions;

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
    /** The seccomp filter (BPF) and what it allows; the rules, for naming denied calls. */
    private readonly seccomp: { readonly filter: Uint8Array; readonly allowed: number; readonly overridden: readonly string[]; readonly rules: SeccompRules },
    /** Which runtime makes the sandbox. */
    readonly runtime: NativeRuntime,
  ) {
    const quota = quotaPolicyOf(policy, id);
    this.ledger = new QuotaLedger(QuotaLedger.allocate(quota), quota);
    // The gate asks before every decision whether the monitor has quarantined the agent.
    const auth = { authenticated: () => this.quarantined === undefined, why: () => this.quarantined?.message ?? '', quarantined: () => this.quarantined !== undefined };
    // Every decision's record is queued at once; `durable()` waits for the last one (sync commits).
    this.gate = new Gate(policy, id, (e) => {
      this.lastRecord = host.auditDurable(e, this.correlation);
      this.lastRecord.catch(() => {});
    }, undefined, this.ledger, auth);
  }

  private readonly ledger: QuotaLedger;
  /** Set by the monitor's quarantine: every later decision is refused and every run rejects with it. */
  private quarantined: DeniedError | undefined;
  /** Stops the current run (its whole process tree). */
  private stopRun: AbortController | undefined;

  /** The executable's SHA-256 (what a quarantine refuses to load again), when it was hashed. */
  get componentHash(): string | undefined {
    return this.executable.sha256;
  }

  /**
   * @internal Contain the agent (the monitor's quarantine): the gate refuses its every further
   * call (tools, connections) with reason `quarantined`, its running process tree is killed,
   * and every later run rejects with `CAPABILITY_DENIED`.
   */
  quarantine_(why: string, details: Readonly<Record<string, unknown>>): void {
    if (this.quarantined || this.closed) return;
    const e = new DeniedError(`agent ${this.id} is quarantined: ${why}; an operator must release it before it may run again`, { reason: 'quarantined', ...details });
    this.quarantined = e;
    this.stopRun?.abort(e);
  }

  /** Whether the monitor quarantined this agent. */
  get isQuarantined(): boolean {
    return this.quarantined !== undefined;
  }

  /** @internal quota usage, for a forensic snapshot */
  usage_(): { readonly quotas: Record<string, unknown> } {
    return { quotas: this.ledger.snapshot() };
  }

  /** @internal deny the hosts of a threat-intelligence list on every network decision */
  setIndicators_(indicators: Indicators): void {
    this.gate.setIndicators(indicators);
  }

  /** The commit of the gate's latest record. */
  private lastRecord: Promise<void> = Promise.resolve();

  /** Resolves once the gate's records so far are durable: a call the gate allowed proceeds only then. */
  private readonly durable = (): Promise<void> => this.lastRecord;

  /** @internal start the egress proxy when the policy grants network access */
  async startNetwork_(): Promise<void> {
    if (grantsNetwork(this.policy)) this.network = await NativeNetwork.start(this.gate, this.files.dir, this.durable, this.host.resolve);
  }

  /** @internal stop the egress proxy (a load that failed after starting it) */
  async stopNetwork_(): Promise<void> {
    await this.network?.close();
  }

  /** The way runs are started: made once, after the network is known (its variables are in the environment). */
  private backend: SandboxBackend | undefined;

  /** @internal make the backend (bwrap's command line, or runc's bundle) */
  async prepare_(): Promise<void> {
    const spec: BackendSpec = {
      policy: this.policy,
      command: this.command,
      cwd: this.cwd,
      env: this.env,
      hostEnv: this.host.hostEnv,
      runtimeEnv: (toolsFd) => ({ ...(this.toolsGranted ? { AGENTOS_TOOLS_FD: String(toolsFd) } : {}), ...(this.network ? proxyEnv() : {}) }),
      files: this.files,
      plan: this.plan,
      seccomp: this.seccomp.filter,
      ...(this.runtime === 'bwrap' ? { seccompNotify: this.recording() } : {}),
      rlimits: { nofile: NATIVE_NOFILE, ...(this.policy.resourceLimits.maxFileSize !== undefined ? { fsize: this.policy.resourceLimits.maxFileSize } : {}) },
      tmpBytes: this.policy.resourceLimits.diskQuota ?? DEFAULT_TMP_BYTES,
      network: this.network !== undefined,
    };
    this.backend = this.runtime === 'runc' ? await runcBackend(spec) : bwrapBackend(spec);
  }

  /** The host's watch of denied calls, once the backend records them per call. */
  private watchSeccomp: WatchSeccomp | undefined;

  /** The notify filter (and the addon's watch), or why denied calls cannot be recorded. */
  private recording(): { readonly filter: Uint8Array } | { readonly why: string } {
    const r = syscallRecording(this.seccomp.rules);
    if ('why' in r) return r;
    this.watchSeccomp = r.watch;
    return { filter: r.filter };
  }

  /** Whether this agent gets the tool channel: the policy grants some tool. */
  private get toolsGranted(): boolean {
    return this.policy.toolAccess.allow.length > 0;
  }

  /** Run one task in a fresh sandbox. Rejects with a `SandboxError` (same codes as components). */
  run(task: string, options: NativeRunOptions = {}): Promise<NativeRunResult> {
    const p = this.queue.then(() => this.runNow(task, options));
    this.queue = p.catch(() => {});
    return p;
  }

  private async runNow(task: string, options: NativeRunOptions): Promise<NativeRunResult> {
    if (this.closed) throw new UsageError('agent is closed');
    if (this.quarantined) throw this.quarantined;
    if (typeof task !== 'string') throw new UsageError('run(task): task must be a string');
    const limits = this.policy.resourceLimits;
    const timeoutMs = options.timeout !== undefined ? parseDuration(options.timeout, 'timeout') : (limits.maxExecutionTime ?? this.host.defaultTimeoutMs);
    const runId = randomUUID();
    const provenance = checkProvenance(options.provenance);
    this.correlation = runId;
    const started = performance.now();
    const base = { agentId: this.id, capability: 'compute', resource: 'agent' as const };
    // Every run of a native agent opens with its spawn record, which then carries the provenance.
    const untag = provenance ? this.host.tagRun(runId, provenance) : undefined;
    try {
      this.host.checkAudit();
      const backend = this.backend!;
      // The spawn record's commit overlaps the sandbox's setup; the agent is released (may
      // exec) only once the record is durable, as a capability call proceeds only then.
      const spawnDurable = this.host.auditDurable({
        ...base, type: 'agent_spawn', action: 'spawn', target: this.executable.sha256 ?? this.executable.guest, outcome: 'allowed',
        reason: `native agent started in ${backend.runtime === 'runc' ? 'runc' : 'bubblewrap'}: ${this.command.join(' ')}`, api: 'agent.run',
        details: {
          backend: backend.runtime, command: [...this.command], executable: { ...this.executable }, mounts: [...this.plan.summary], cwd: this.cwd,
          landlock: [...backend.landlock],
          seccomp: { allowed: this.seccomp.allowed, ...(this.seccomp.overridden.length > 0 ? { stillDenied: [...this.seccomp.overridden] } : {}), recorded: backend.seccompRecorded },
        },
      }, runId);
      spawnDurable.catch(() => {}); // awaited in onPid; a run that fails before it must not leave it unhandled
      const stop = new AbortController();
      this.stopRun = stop;
      if (this.quarantined) stop.abort(this.quarantined);
      // The caller's cancellation stops the run like a limit does: the whole tree is killed.
      const signal = options.signal;
      if (signal?.aborted) throw cancelledError(signal);
      const onAbort = () => stop.abort(cancelledError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      let cgroup: NativeLimits | undefined;
      let poll: NodeJS.Timeout | undefined;
      // The run's cgroup is made while the sandbox sets itself up; the agent, held before exec,
      // waits for it in onPid (a limit the host cannot enforce fails the run there).
      const making = NativeLimits.forRun(this.policy, runId).then((cg) => {
        cgroup = cg;
        if (cg?.watchesCpu) poll = setInterval(() => { const e = cg.exceeded(); if (e) stop.abort(e); }, 50);
        return cg;
      });
      making.catch(() => {}); // awaited in onPid and at the end
      let result;
      let listener: { close(): Promise<void> } | undefined;
      const watchSeccomp = backend.seccompRecorded === 'per call' ? this.watchSeccomp : undefined;
      const syscalls = watchSeccomp
        ? new SyscallAudit({ agentId: this.id, runId, rules: this.seccomp.rules, policyList: this.policy.allowedSyscalls.length > 0, watch: watchSeccomp, audit: (e, id) => this.host.audit(e, id) })
        : undefined;
      try {
        result = await backend.run({
          runId,
          task,
          timeoutMs,
          maxOutputBytes: limits.maxOutputBytes ?? 1024 * 1024,
          onPid: async (pid) => {
            await spawnDurable;
            (await making)?.attach(pid);
            if (this.network) listener = await this.network.serveIn(pid);
          },
          onLine: (message) => this.host.log({ time: Date.now(), agentId: this.id, stream: 'stderr', level: 'info', message }),
          signal: stop.signal,
          ...(syscalls ? { syscalls: (stream: Duplex) => syscalls.attach(stream) } : {}),
          ...(this.toolsGranted
            ? { tools: (stream: Duplex) => serveTools(stream, { gate: this.gate, registered: () => this.host.toolNames(), call: (name, input) => this.host.callTool(name, input, this.id), durable: this.durable }) }
            : {}),
        }).catch((e: unknown) => {
          // A limit the cgroup saw explains the ending better than the exit status.
          throw cgroup?.outcome() ?? e;
        });
        const limitHit = cgroup?.outcome();
        if (limitHit) throw limitHit;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        this.stopRun = undefined;
        const made = await making.catch(() => undefined);
        clearInterval(poll);
        await listener?.close();
        await made?.release();
      }
      // Output commit: the output leaves only once the run's decisions are durable.
      await this.durable().catch(() => {});
      const auditErr = this.host.auditError(result.output);
      if (auditErr) throw auditErr;
      this.host.audit({ ...base, type: 'agent_terminate', action: 'exit', target: 'exit 0', outcome: 'allowed', reason: 'the native agent exited with status 0', api: 'agent.run' }, runId);
      return { output: result.output, durationMs: performance.now() - started, agentId: this.id, runId, fuelUsed: 0, exitCode: 0 };
    } catch (e) {
      throw runFailure(e, { agentId: this.id, runId, auditError: () => this.host.auditError(), audit: (ev, id) => this.host.audit(ev, id) });
    } finally {
      untag?.();
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
  const runtime = options.container?.runtime ?? 'bwrap';
  if (!NATIVE_RUNTIMES.includes(runtime)) throw new UsageError(`loadNative: container.runtime must be one of ${NATIVE_RUNTIMES.join(', ')}, not ${JSON.stringify(runtime)}`);
  if (runtime === 'runc') {
    requireRunc();
    await cleanupStaleContainers();
  } else {
    requireBwrap();
  }
  refuseUnenforced(policy);
  const env = nativeEnv(policy, host.hostEnv);
  const files = await NativeFiles.create();
  let agent: NativeAgent | undefined;
  try {
    const plan = planMounts(policy, files.emptyFile);
    const cwd = options.cwd ?? policy.mounts.find((m) => plan.args.includes(m.guest))?.guest ?? '/tmp';
    const executable = executableOf(command[0]!, env['PATH'] ?? '', policy.mounts);
    const rules = seccompRules({ allowedSyscalls: policy.allowedSyscalls });
    const seccomp = { filter: encodeProgram(programFor(rules)), allowed: rules.allowed.length, overridden: rules.overridden, rules };
    const agentId = options.agentId ?? randomUUID();
    host.checkLoad(agentId, executable.sha256);
    agent = new NativeAgent(host, agentId, policy, [...command], cwd, env, plan, files, executable, seccomp, runtime);
    await agent.startNetwork_();
    await agent.prepare_();
    return agent;
  } catch (e) {
    await agent?.stopNetwork_();
    await files.remove();
    throw e;
  }
}
