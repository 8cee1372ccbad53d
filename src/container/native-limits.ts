/**
 * A native agent's resource limits, from its policy, as a cgroup per run: `maxMemory` (swap
 * off), `maxProcesses` (the seeds' 20 when the policy sets none), the seeds' CPU share and
 * quota (512; 50 ms per 100 ms), `maxCpuTime` (polled from CPU accounting). Outcomes: an OOM
 * kill is `MEMORY_LIMIT`, the pids cap `QUOTA_EXCEEDED`, CPU time `TIMEOUT` (limit
 * `maxCpuTime`), each with the limit and what was allowed.
 *
 * Where the host cannot make cgroups (not root, no controllers), a policy that sets one of
 * these limits is refused (`CAPABILITY_DENIED`, naming it); a policy that sets none runs with
 * no cgroup, which is not weaker than it says. Groups of host processes that died are removed
 * on the next load.
 *
 * @example
 * ```ts
 * const limits = await NativeLimits.forRun(policy, runId);
 * // onPid: limits?.attach(pid); afterwards: await limits?.release()
 * ```
 */
import { LimitError, type SandboxError } from '../errors.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { cleanupStale, createRunCgroup, detectCgroups, SEED_CGROUP_LIMITS, type CgroupLayout, type CgroupLimits, type RunCgroup } from './cgroups/index.js';

let layout: CgroupLayout | undefined;
let cleaned: Promise<unknown> | undefined;

function hostLayout(): CgroupLayout {
  layout ??= detectCgroups();
  return layout;
}

/** The cgroup limits a policy asks for; `explicit` says whether the policy itself set any. */
export function cgroupLimitsOf(policy: SandboxPolicy): { limits: CgroupLimits; explicit: boolean } {
  const l = policy.resourceLimits;
  const explicit = l.maxMemory !== undefined || l.maxProcesses !== undefined || l.maxCpuTime !== undefined;
  return {
    explicit,
    limits: {
      ...SEED_CGROUP_LIMITS,
      ...(l.maxProcesses !== undefined ? { maxProcesses: l.maxProcesses } : {}),
      ...(l.maxMemory !== undefined ? { memoryBytes: l.maxMemory, swapBytes: 0 } : {}),
      ...(l.maxCpuTime !== undefined ? { maxCpuTimeNs: l.maxCpuTime * 1_000_000 } : {}),
    },
  };
}

/** One run's cgroup. */
export class NativeLimits {
  private constructor(
    private readonly group: RunCgroup,
    private readonly limits: CgroupLimits,
  ) {}

  /**
   * Make the run's cgroup, or undefined where the host has none and the policy sets no limit.
   *
   * @throws {SandboxError} `CAPABILITY_DENIED` when the policy sets a limit the host cannot enforce.
   */
  static async forRun(policy: SandboxPolicy, runId: string): Promise<NativeLimits | undefined> {
    const { limits, explicit } = cgroupLimitsOf(policy);
    const cg = hostLayout();
    cleaned ??= cleanupStale(cg).catch(() => undefined);
    await cleaned;
    try {
      return new NativeLimits(createRunCgroup(cg, { name: runId, limits }), limits);
    } catch (e) {
      if (explicit) throw e;
      return undefined; // nothing the policy asked for is lost
    }
  }

  /** Put the sandbox's first process into the group (its children follow). */
  attach(pid: number): void {
    this.group.addProcess(pid);
  }

  /** Whether a run must be watched while it goes (only `maxCpuTime` is). */
  get watchesCpu(): boolean {
    return this.limits.maxCpuTimeNs !== undefined;
  }

  /** A limit the run has hit while running (CPU time), to stop it. */
  exceeded(): SandboxError | undefined {
    if (this.limits.maxCpuTimeNs !== undefined && this.group.events().cpuTimeExceeded) {
      const ms = this.limits.maxCpuTimeNs / 1e6;
      return new LimitError('TIMEOUT', `the native agent used its CPU time (maxCpuTime ${ms} ms) and was killed with its process tree`, { limit: 'maxCpuTime', allowed: ms });
    }
    return undefined;
  }

  /** The limit that ended (or marred) a finished run: OOM kill, the pids cap. */
  outcome(): SandboxError | undefined {
    const ev = this.group.events();
    if (ev.oomKilled) {
      return new LimitError('MEMORY_LIMIT', `the native agent went over maxMemory (${this.limits.memoryBytes} bytes) and was killed by the OOM killer`, { limit: 'maxMemory', allowed: this.limits.memoryBytes ?? 0 });
    }
    if (ev.pidsLimitHit) {
      return new LimitError('QUOTA_EXCEEDED', `the native agent tried to run more than maxProcesses (${this.limits.maxProcesses}) processes at once`, { limit: 'maxProcesses', allowed: this.limits.maxProcesses ?? 0 });
    }
    return this.exceeded();
  }

  /** Kill whatever is left and remove the group. Never throws. */
  async release(): Promise<void> {
    await this.group.killAll().catch(() => {});
    await this.group.remove().catch(() => {});
  }
}
