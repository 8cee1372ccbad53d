/**
 * One run's cgroups: a directory `agentos/<host pid>-<run id>` in every hierarchy that carries a
 * controller we use (memory, pids, cpu, cpuacct), plus the unified hierarchy for `cgroup.kill`
 * (or the freezer where that is missing). The host moves the sandbox's first process in before
 * it execs (bwrap `--info-fd` / `--block-fd`); everything it forks inherits the groups.
 *
 * @example
 * ```ts
 * const cg = createRunCgroup(detectCgroups(), { name: runId, limits: { ...SEED_CGROUP_LIMITS, memoryBytes: 256 << 20 } });
 * try {
 *   cg.addProcess(childPid);            // while bwrap blocks on --block-fd
 *   // ... release the child, wait for it ...
 *   if (cg.events().oomKilled) throw new LimitError('MEMORY_LIMIT', 'the agent ran out of memory');
 * } finally {
 *   await cg.killAll();
 *   await cg.remove();
 * }
 * ```
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SandboxError, UsageError } from '../../errors.js';
import type { CgroupHierarchy, CgroupLayout } from './detect.js';
import { readKeyed, readNumber, readPids, readText, rmdirRetry, sleep, writeControl } from './files.js';
import type { CgroupLimits } from './limits.js';

/** The parent group every run's group lives in, in each hierarchy. */
export const PARENT_GROUP = 'agentos';

/** A run's directory in one hierarchy. */
export interface CgroupMember {
  readonly version: 1 | 2;
  readonly mountPoint: string;
  /** v1: the hierarchy's controllers; v2: those enabled for this group, plus `cpuacct` (every v2 group has `cpu.stat`). */
  readonly controllers: readonly string[];
  readonly dir: string;
}

/** Options of {@link createRunCgroup}. */
export interface CreateRunCgroupOptions {
  /** The run id: letters, digits, `_`, `.`, `-` (at most 100). The directory is `<hostPid>-<name>`. */
  readonly name: string;
  /** Limits to set; absent fields set nothing. */
  readonly limits?: CgroupLimits;
  /** The pid recorded in the name, which `cleanupStale` checks for liveness (default: this process). */
  readonly hostPid?: number;
}

/** What the group used so far; fields are absent where no joined controller reports them. */
export interface CgroupUsage {
  readonly memoryPeakBytes?: number;
  readonly memoryCurrentBytes?: number;
  readonly pidsCurrent?: number;
  readonly pidsPeak?: number;
  readonly cpuTimeNs?: number;
}

/** Which limits the kernel enforced so far. */
export interface CgroupEvents {
  /** The OOM killer killed a process of the group (v1 `memory.oom_control` oom_kill, or `memory.failcnt` on old kernels; v2 `memory.events` oom_kill). */
  readonly oomKilled: boolean;
  /** A fork or clone failed on `pids.max` (`pids.events` max). */
  readonly pidsLimitHit: boolean;
  /** `cpuTimeNs()` reached `limits.maxCpuTimeNs` (the caller kills). */
  readonly cpuTimeExceeded: boolean;
}

/**
 * A run's cgroups. Create with {@link createRunCgroup}; always end with `killAll()` and
 * `remove()` (both idempotent).
 */
export class RunCgroup {
  /** The directory name in every hierarchy: `<hostPid>-<name>`. */
  readonly name: string;
  /** One directory per joined hierarchy. */
  readonly members: readonly CgroupMember[];
  /** What was done differently from the plain plan and why (for example swap kept off by swappiness). */
  readonly notes: readonly string[];
  readonly limits: CgroupLimits;
  private readonly byController: ReadonlyMap<string, CgroupMember>;
  private removed = false;

  /** @internal Use {@link createRunCgroup}. */
  constructor(name: string, members: CgroupMember[], layout: CgroupLayout, limits: CgroupLimits, notes: string[]) {
    this.name = name;
    this.members = members;
    this.limits = limits;
    this.notes = notes;
    const by = new Map<string, CgroupMember>();
    for (const [c, h] of layout.controllers) {
      const m = members.find((x) => x.mountPoint === h.mountPoint);
      if (m && m.controllers.includes(c)) by.set(c, m);
    }
    this.byController = by;
  }

  /** The directory holding `controller` for this run, if joined. */
  dirOf(controller: string): string | undefined {
    return this.byController.get(controller)?.dir;
  }

  private file(controller: string, v1: string, v2: string): string | undefined {
    const m = this.byController.get(controller);
    return m && join(m.dir, m.version === 1 ? v1 : v2);
  }

  /**
   * Move `pid` (and, on v1, only that process: its threads follow with cgroup.procs) into every
   * joined hierarchy. Call before the process forks or execs; children inherit the groups.
   * Throws when the process is gone or the kernel refuses (for example pids.max already reached).
   */
  addProcess(pid: number): void {
    if (this.removed) throw new UsageError(`cgroup ${this.name} was removed`);
    for (const m of this.members) writeControl(join(m.dir, 'cgroup.procs'), String(pid));
  }

  /** The processes in the group (the union over hierarchies: they agree unless a move is under way). */
  pids(): number[] {
    const all = new Set<number>();
    for (const m of this.members) for (const p of readPids(join(m.dir, 'cgroup.procs'))) all.add(p);
    return [...all];
  }

  /** CPU time used by the group so far in ns (v1 `cpuacct.usage`, v2 `cpu.stat` usage_usec), or undefined without accounting. */
  cpuTimeNs(): number | undefined {
    const m = this.byController.get('cpuacct');
    if (!m) return undefined;
    if (m.version === 1) return readNumber(join(m.dir, 'cpuacct.usage'));
    const us = readKeyed(join(m.dir, 'cpu.stat')).get('usage_usec');
    return us === undefined ? undefined : us * 1000;
  }

  /** Memory peak and current, processes now and at most, CPU time. */
  usage(): CgroupUsage {
    const num = (path: string | undefined): number | undefined => (path === undefined ? undefined : readNumber(path));
    const u: Record<string, number | undefined> = {
      memoryPeakBytes: num(this.file('memory', 'memory.max_usage_in_bytes', 'memory.peak')),
      memoryCurrentBytes: num(this.file('memory', 'memory.usage_in_bytes', 'memory.current')),
      pidsCurrent: num(this.file('pids', 'pids.current', 'pids.current')),
      pidsPeak: num(this.file('pids', 'pids.peak', 'pids.peak')),
      cpuTimeNs: this.cpuTimeNs(),
    };
    return Object.fromEntries(Object.entries(u).filter(([, v]) => v !== undefined)) as CgroupUsage;
  }

  /** Which limits were hit so far. Counters only grow, so a true stays true. */
  events(): CgroupEvents {
    let oomKilled = false;
    const mem = this.byController.get('memory');
    if (mem?.version === 1) {
      const oom = readKeyed(join(mem.dir, 'memory.oom_control'));
      // oom_kill appeared in 4.13; before that a failed charge is the best sign there is.
      oomKilled = oom.has('oom_kill') ? oom.get('oom_kill')! > 0 : (readNumber(join(mem.dir, 'memory.failcnt')) ?? 0) > 0;
    } else if (mem) oomKilled = (readKeyed(join(mem.dir, 'memory.events')).get('oom_kill') ?? 0) > 0;
    const pidsEvents = this.file('pids', 'pids.events', 'pids.events');
    const pidsLimitHit = pidsEvents !== undefined && (readKeyed(pidsEvents).get('max') ?? 0) > 0;
    const max = this.limits.maxCpuTimeNs;
    const cpu = max === undefined ? undefined : this.cpuTimeNs();
    return { oomKilled, pidsLimitHit, cpuTimeExceeded: max !== undefined && cpu !== undefined && cpu >= max };
  }

  /**
   * Kill every process in the group and wait until it is empty. With `cgroup.kill` (v2, or the
   * unified hierarchy of a hybrid host; Linux ≥ 5.14) the kernel kills the whole tree at once,
   * forks in flight included. Otherwise the group is frozen (v1 freezer or v2 `cgroup.freeze`)
   * so nothing can fork between reading the pid list and the kills, every pid gets SIGKILL,
   * the group is thawed (v1 delivers the kill only then), and that repeats until it is empty.
   * Without a freezer the loop alone runs, which a fast fork loop can outpace for a few rounds
   * until pids.max stops it. Throws `INTERNAL` if processes remain after `timeoutMs` (default 5 s).
   */
  async killAll(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // cgroup.kill exists only in v2 groups (a hybrid host's unified hierarchy included).
    const kill = this.members.filter((m) => m.version === 2).map((m) => join(m.dir, 'cgroup.kill')).find((p) => existsSync(p));
    if (kill !== undefined && this.pids().length > 0) {
      try {
        writeControl(kill, '1');
      } catch {
        // fall through to the signal loop
      }
    }
    while (this.pids().length > 0) {
      if (kill === undefined || Date.now() > deadline - timeoutMs / 2) {
        const thaw = await this.freeze(Math.min(deadline, Date.now() + 1_000));
        for (const pid of this.pids()) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        thaw();
      }
      if (Date.now() > deadline) {
        throw new SandboxError('INTERNAL', `processes ${this.pids().join(' ')} are still in cgroup ${this.name} ${timeoutMs} ms after killing them`);
      }
      await sleep(10);
    }
  }

  // Freeze the group where a freezer is joined; returns the thaw. Waits (bounded) for FROZEN:
  // a task in uninterruptible sleep can delay it, and then the kills go out anyway.
  private async freeze(until: number): Promise<() => void> {
    const v1 = this.members.find((m) => m.version === 1 && m.controllers.includes('freezer'));
    const v2 = this.members.find((m) => m.version === 2 && existsSync(join(m.dir, 'cgroup.freeze')));
    try {
      if (v1) writeControl(join(v1.dir, 'freezer.state'), 'FROZEN');
      else if (v2) writeControl(join(v2.dir, 'cgroup.freeze'), '1');
      else return () => {};
    } catch {
      return () => {};
    }
    while (Date.now() < until) {
      const frozen = v1 ? readText(join(v1.dir, 'freezer.state'))?.trim() === 'FROZEN' : readKeyed(join(v2!.dir, 'cgroup.events')).get('frozen') === 1;
      if (frozen) break;
      await sleep(5);
    }
    return () => {
      try {
        if (v1) writeControl(join(v1.dir, 'freezer.state'), 'THAWED');
        else writeControl(join(v2!.dir, 'cgroup.freeze'), '0');
      } catch {
        // the group may already be gone
      }
    };
  }

  /**
   * Remove the run's directory in every hierarchy (the `agentos` parents stay: other runs may
   * be using them). Kills what is still inside first. Retries briefly on EBUSY; throws
   * `INTERNAL` naming the directories it could not remove.
   */
  async remove(): Promise<void> {
    if (this.pids().length > 0) await this.killAll();
    const left: string[] = [];
    for (const m of this.members) if (!(await rmdirRetry(m.dir))) left.push(m.dir);
    this.removed = true;
    if (left.length > 0) throw new SandboxError('INTERNAL', `could not remove cgroup directories ${left.join(', ')}`);
  }
}

/** Build the member for an existing run directory. */
export function memberFor(h: CgroupHierarchy, dir: string): CgroupMember {
  if (h.version === 1) return { version: 1, mountPoint: h.mountPoint, controllers: h.controllers, dir };
  const enabled = (readText(join(dir, 'cgroup.controllers')) ?? '').split(/\s+/).filter((c) => c !== '');
  return { version: 2, mountPoint: h.mountPoint, controllers: [...enabled, 'cpuacct'], dir };
}
