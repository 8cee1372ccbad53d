/**
 * The limits a run's cgroups enforce, their validation, which controller each needs, and the
 * refusal when this host cannot enforce one: a native agent never runs under weaker limits
 * than its policy asks for.
 *
 * @example
 * ```ts
 * const limits: CgroupLimits = { ...SEED_CGROUP_LIMITS, memoryBytes: 256 << 20 };
 * assertEnforceable(detectCgroups(), limits); // throws CgroupLimitError where it cannot be done
 * ```
 */
import { DeniedError, type ErrorDetails, UsageError } from '../../errors.js';
import type { CgroupLayout } from './detect.js';

/**
 * What a run's cgroups enforce. Every field is optional: an absent field sets nothing (the
 * group still accounts usage where its controller is joined).
 *
 * Outcomes, per limit (DESIGN.md "Limits have three outcomes"):
 * - `memoryBytes`: the kernel OOM-kills inside the group ({@link CgroupEvents.oomKilled}).
 * - `maxProcesses`: `fork`/`clone` fail with EAGAIN ({@link CgroupEvents.pidsLimitHit}).
 * - CPU shares/quota: throttling only, nothing fails.
 * - `maxCpuTimeNs`: accounting only; the caller polls `cpuTimeNs()` or `events().cpuTimeExceeded` and kills.
 */
export interface CgroupLimits {
  /** Memory cap in bytes (v1 `memory.limit_in_bytes`, v2 `memory.max`). */
  readonly memoryBytes?: number;
  /**
   * Swap the group may use besides `memoryBytes`; default 0 (swap off). v1: `memory.memsw.limit_in_bytes`
   * = memory + swap; v2: `memory.swap.max`. Only meaningful with `memoryBytes`.
   */
  readonly swapBytes?: number;
  /** Processes and threads at once (`pids.max`); the seeds' default is 20. */
  readonly maxProcesses?: number;
  /** Relative CPU weight (v1 `cpu.shares`, 2–262144; v2 `cpu.weight` converted); the seeds' profile says 512. */
  readonly cpuShares?: number;
  /** CPU time per period in µs (v1 `cpu.cfs_quota_us`, v2 `cpu.max`); the seeds' profile says 50000. */
  readonly cpuQuotaUs?: number;
  /** The quota's period in µs, 1000–1000000 (default 100000, the seeds' profile). */
  readonly cpuPeriodUs?: number;
  /** CPU time budget in ns: requires CPU accounting (v1 `cpuacct.usage`, v2 `cpu.stat`); enforced by the caller's polling. */
  readonly maxCpuTimeNs?: number;
}

/** The seeds' container profile (`agent_security_profile.resource_limits`): 20 processes, 512 shares, 50 ms per 100 ms. */
export const SEED_CGROUP_LIMITS: Readonly<Required<Pick<CgroupLimits, 'maxProcesses' | 'cpuShares' | 'cpuQuotaUs' | 'cpuPeriodUs'>>> = Object.freeze({
  maxProcesses: 20,
  cpuShares: 512,
  cpuQuotaUs: 50_000,
  cpuPeriodUs: 100_000,
});

type LimitName = keyof CgroupLimits;

/** The controller each limit needs. `swapBytes` rides on memory. */
export const CONTROLLER_FOR: Readonly<Record<LimitName, string>> = Object.freeze({
  memoryBytes: 'memory',
  swapBytes: 'memory',
  maxProcesses: 'pids',
  cpuShares: 'cpu',
  cpuQuotaUs: 'cpu',
  cpuPeriodUs: 'cpu',
  maxCpuTimeNs: 'cpuacct',
});

// The policy's words for each limit, so a refusal names what the user wrote.
const POLICY_NAME: Readonly<Record<LimitName, string>> = {
  memoryBytes: 'maxMemory',
  swapBytes: 'maxMemory swap',
  maxProcesses: 'maxProcesses',
  cpuShares: 'CPU shares',
  cpuQuotaUs: 'CPU quota',
  cpuPeriodUs: 'CPU period',
  maxCpuTimeNs: 'maxCpuTime',
};

const RANGES: Readonly<Record<LimitName, readonly [number, number]>> = {
  memoryBytes: [1, Number.MAX_SAFE_INTEGER],
  swapBytes: [0, Number.MAX_SAFE_INTEGER],
  maxProcesses: [1, 4_194_304],
  cpuShares: [2, 262_144],
  cpuQuotaUs: [1_000, Number.MAX_SAFE_INTEGER],
  cpuPeriodUs: [1_000, 1_000_000],
  maxCpuTimeNs: [1, Number.MAX_SAFE_INTEGER],
};

/**
 * A limit the policy asks for cannot be enforced on this host (controller not mounted, not
 * writable, or refusing the value). Code `CAPABILITY_DENIED` (exit 4): refused before the
 * agent ran. `details`: `{ limit, controller, reason }`.
 *
 * @example
 * ```ts
 * try { createRunCgroup(layout, { name, limits }) } catch (e) {
 *   if (e instanceof CgroupLimitError) console.error(e.details.limit, e.message);
 * }
 * ```
 */
export class CgroupLimitError extends DeniedError {
  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details);
    this.name = 'CgroupLimitError';
  }
}

/** The refusal for `limit`: names it, the controller and what is missing, and says nothing weaker will run. */
export function refuse(limit: LimitName, reason: string, fix: string): CgroupLimitError {
  const controller = CONTROLLER_FOR[limit];
  return new CgroupLimitError(
    `cannot enforce ${POLICY_NAME[limit]} (${limit}) with the cgroup ${controller} controller: ${reason}; ${fix}. The agent does not run with weaker limits than its policy.`,
    { limit, controller, reason },
  );
}

/** The limits that are set, in a stable order. */
export function limitsSet(limits: CgroupLimits): LimitName[] {
  return (Object.keys(CONTROLLER_FOR) as LimitName[]).filter((k) => limits[k] !== undefined);
}

/**
 * Throws {@link UsageError} unless every set limit is a safe integer in its kernel range.
 *
 * @example
 * ```ts
 * validateLimits({ maxProcesses: 0 }); // throws: maxProcesses must be an integer in 1..4194304
 * ```
 */
export function validateLimits(limits: CgroupLimits): void {
  for (const k of limitsSet(limits)) {
    const v = limits[k]!;
    const [lo, hi] = RANGES[k];
    if (!Number.isSafeInteger(v) || v < lo || v > hi) throw new UsageError(`cgroup limit ${k} must be an integer in ${lo}..${hi} (got ${String(v)})`, { limit: k, value: v });
  }
  if (limits.swapBytes !== undefined && limits.memoryBytes === undefined) {
    throw new UsageError('cgroup limit swapBytes needs memoryBytes (swap is capped beside a memory cap)', { limit: 'swapBytes' });
  }
}

/**
 * Throws {@link CgroupLimitError} for the first set limit whose controller this layout lacks
 * or this process cannot write. Checks only what detection can see; a write the kernel
 * refuses later is refused the same way by `createRunCgroup`.
 */
export function assertEnforceable(layout: CgroupLayout, limits: CgroupLimits): void {
  for (const k of limitsSet(limits)) {
    const controller = CONTROLLER_FOR[k];
    const h = layout.controllers.get(controller);
    if (!h) {
      const where = layout.kind === 'none' ? 'no cgroup hierarchy is mounted' : `no ${layout.kind} hierarchy has it (cgroup layout ${layout.kind})`;
      throw refuse(k, `the ${controller} controller is missing: ${where}`, 'enable that controller (kernel boot options, or a container runtime that delegates it)');
    }
    if (!h.writable) {
      throw refuse(k, `${h.base} is not writable by this process`, 'run as root, or in a cgroup delegated to this user (systemd-run --scope -p Delegate=yes)');
    }
  }
}

/**
 * v2 `cpu.weight` (1–10000, default 100) from v1 `cpu.shares` (2–262144, default 1024),
 * with the linear mapping runc and Kubernetes use, so one policy means the same on both.
 *
 * @example
 * ```ts
 * cpuWeightFromShares(512);  // 20
 * cpuWeightFromShares(1024); // 39
 * ```
 */
export function cpuWeightFromShares(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** One file write that sets a limit. */
export interface LimitWrite {
  readonly limit: LimitName;
  readonly controller: string;
  readonly file: string;
  readonly value: string;
}

/**
 * The writes for the limits that do not depend on which files exist: everything but swap,
 * which `createRunCgroup` decides after looking (memsw / swap.max may be absent). Order
 * matters where the kernel checks one value against another: v1 period before quota.
 *
 * @example
 * ```ts
 * planLimitWrites({ cpuQuotaUs: 50000, cpuPeriodUs: 100000 }, () => 2);
 * // [{ limit: 'cpuQuotaUs', controller: 'cpu', file: 'cpu.max', value: '50000 100000' }]
 * ```
 */
export function planLimitWrites(limits: CgroupLimits, versionOf: (controller: string) => 1 | 2): LimitWrite[] {
  const w: LimitWrite[] = [];
  const add = (limit: LimitName, file: string, value: number | string): void => {
    w.push({ limit, controller: CONTROLLER_FOR[limit], file, value: String(value) });
  };
  const { memoryBytes, maxProcesses, cpuShares, cpuQuotaUs, cpuPeriodUs } = limits;
  if (memoryBytes !== undefined) add('memoryBytes', versionOf('memory') === 1 ? 'memory.limit_in_bytes' : 'memory.max', memoryBytes);
  if (maxProcesses !== undefined) add('maxProcesses', 'pids.max', maxProcesses);
  const cpuV1 = versionOf('cpu') === 1;
  if (cpuShares !== undefined) add('cpuShares', cpuV1 ? 'cpu.shares' : 'cpu.weight', cpuV1 ? cpuShares : cpuWeightFromShares(cpuShares));
  if (cpuV1) {
    if (cpuPeriodUs !== undefined) add('cpuPeriodUs', 'cpu.cfs_period_us', cpuPeriodUs);
    if (cpuQuotaUs !== undefined) add('cpuQuotaUs', 'cpu.cfs_quota_us', cpuQuotaUs);
  } else if (cpuQuotaUs !== undefined || cpuPeriodUs !== undefined) {
    add(cpuQuotaUs !== undefined ? 'cpuQuotaUs' : 'cpuPeriodUs', 'cpu.max', `${cpuQuotaUs ?? 'max'} ${cpuPeriodUs ?? 100_000}`);
  }
  return w;
}
