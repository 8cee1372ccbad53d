/**
 * An OCI runtime-spec `config.json` for a native agent, from the SAME policy decisions the
 * bubblewrap path uses (issue 13, item 9): the files from `planFileMounts` and `baseMounts`,
 * the environment from `nativeEnv`, the limits from `cgroupLimitsOf`, the seccomp rules from
 * `ociSeccompProfile`. For runc, crun, containerd or Kubernetes (`agentos container spec`).
 *
 * What it holds: the process as uid/gid 65534 with `noNewPrivileges`, every capability set
 * empty and rlimits (NOFILE 100, CORE 0, FSIZE from `maxFileSize`); a read-only root; new pid,
 * network (loopback only), ipc, uts, mount, cgroup and user namespaces; uid and gid 65534
 * mapped to 65534 on the host (and the container's root to {@link SETUP_HOST_ID}, which runc
 * requires for its own setup and the agent never has); the usual masked and read-only /proc
 * paths; the seccomp profile; `linux.resources` (memory with swap off, pids, the seeds' CPU
 * share and quota, only the minimal /dev's devices).
 *
 * What it cannot hold is refused, naming the rule (`PolicyError`), as for bwrap: `maxFuel`,
 * and the limits agentos enforces while it runs an agent (`maxExecutionTime`, `maxCpuTime`,
 * `maxOutputBytes`) unless `runnerLimits` says the runner that starts the container enforces
 * them (they are then kept as annotations). A tool grant has no channel in this config: the
 * agent simply has no tools.
 *
 * @example
 * ```ts
 * const config = ociSpec(policy, { command: ['python3', '-I', '/agent/main.py'], rootfs: 'rootfs' });
 * await writeFile('bundle/config.json', JSON.stringify(config, null, 2));
 * ```
 */
import { PolicyError } from '../../errors.js';
import type { SandboxPolicy } from '../../policy/schema.js';
import { baseMounts } from '../bwrap.js';
import { nativeEnv } from '../env.js';
import { planFileMounts, SANDBOX_UID } from '../mounts.js';
import { DEFAULT_TMP_BYTES, refuseUnenforced } from '../native-agent.js';
import { cgroupLimitsOf } from '../native-limits.js';
import { ociSeccompProfile, type OciSeccompProfile } from '../seccomp/index.js';
import { BUNDLE_FILES, OCI_DEVICES, ociDeviceRules, ociMounts, type OciDevice, type OciDeviceRule, type OciFiles, type OciMount } from './mounts.js';

/** The runtime-spec version the config is written for (runc 1.1 reads 1.0.x). */
export const OCI_VERSION = '1.0.2';

/**
 * The host uid and gid the container's root maps to. runc refuses a user namespace without a
 * mapping for root and uses it for its own setup before exec; the agent runs as 65534 with no
 * capabilities, `noNewPrivileges` and `nosuid` mounts, so it never becomes root. 65533 is in
 * Debian's reserved range (65000–65533) and owns nothing.
 */
export const SETUP_HOST_ID = 65533;

/** `/proc` paths masked in every container (runc's and Docker's defaults). */
export const OCI_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware',
]);

/** `/proc` paths read-only in every container. */
export const OCI_READONLY_PATHS: readonly string[] = Object.freeze(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);

/** Limits agentos enforces itself while it runs an agent; an OCI config has no field for them. */
export const RUNNER_LIMITS = ['maxExecutionTime', 'maxCpuTime', 'maxOutputBytes'] as const;

/** Annotations of limits the runner enforces (`runnerLimits`): `org.agentos.resourceLimits.<name>`. */
export const ANNOTATION_PREFIX = 'org.agentos.resourceLimits.';

/** What {@link ociSpec} needs besides the policy. */
export interface OciSpecOptions {
  /** The program and its arguments (runc resolves a bare name on the process's PATH). */
  readonly command: readonly string[];
  /** Working directory inside. Default: the first policy mount that is bound, else `/tmp`. */
  readonly cwd?: string;
  /** The bundle's rootfs (`root.path`): an empty directory does, every mount point is made by `writeBundle`. */
  readonly rootfs: string;
  /** Variables set after the policy's (the runtime's own); never from the policy. */
  readonly env?: Readonly<Record<string, string>>;
  /** Where `env.allow` reads from. Default: this process's environment. */
  readonly hostEnv?: NodeJS.ProcessEnv;
  /** Host paths of the bound files. Default: {@link BUNDLE_FILES}, relative to the bundle. */
  readonly files?: OciFiles;
  /** The runner enforces {@link RUNNER_LIMITS}: keep them as annotations instead of refusing. */
  readonly runnerLimits?: boolean;
}

/** One rlimit (runtime-spec `POSIXRlimit`). */
export interface OciRlimit {
  readonly type: 'RLIMIT_NOFILE' | 'RLIMIT_CORE' | 'RLIMIT_FSIZE';
  readonly hard: number;
  readonly soft: number;
}

/** An id mapping (runtime-spec `LinuxIDMapping`). */
export interface OciIdMapping {
  readonly containerID: number;
  readonly hostID: number;
  readonly size: number;
}

/** The config, as {@link ociSpec} fills it (a subset of runtime-spec `Spec`). */
export interface OciSpec {
  readonly ociVersion: string;
  readonly process: {
    readonly terminal: false;
    readonly user: { readonly uid: number; readonly gid: number };
    readonly args: readonly string[];
    readonly env: readonly string[];
    readonly cwd: string;
    readonly capabilities: Readonly<Record<'bounding' | 'effective' | 'inheritable' | 'permitted' | 'ambient', readonly string[]>>;
    readonly rlimits: readonly OciRlimit[];
    readonly noNewPrivileges: true;
  };
  readonly root: { readonly path: string; readonly readonly: true };
  readonly hostname: string;
  readonly mounts: readonly OciMount[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly linux: {
    readonly namespaces: readonly { readonly type: string }[];
    readonly uidMappings: readonly OciIdMapping[];
    readonly gidMappings: readonly OciIdMapping[];
    readonly devices: readonly OciDevice[];
    readonly resources: {
      readonly devices: readonly OciDeviceRule[];
      readonly memory?: { readonly limit: number; readonly swap: number };
      readonly pids: { readonly limit: number };
      readonly cpu: { readonly shares?: number; readonly quota?: number; readonly period?: number };
    };
    readonly seccomp: OciSeccompProfile;
    readonly maskedPaths: readonly string[];
    readonly readonlyPaths: readonly string[];
    readonly rootfsPropagation: 'private';
  };
}

/** The namespaces a native agent gets: all new (as `bwrap --unshare-all --unshare-user`). */
export const OCI_NAMESPACES = ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup', 'user'] as const;

/** uid/gid 65534 inside is 65534 on the host; root (runc's setup only) is {@link SETUP_HOST_ID}. */
function idMappings(): OciIdMapping[] {
  return [{ containerID: 0, hostID: SETUP_HOST_ID, size: 1 }, { containerID: SANDBOX_UID, hostID: SANDBOX_UID, size: 1 }];
}

/** Annotations for the runner's limits, or the refusal naming the first one set. */
function runnerLimits(policy: SandboxPolicy, kept: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of RUNNER_LIMITS) {
    const v = policy.resourceLimits[name];
    if (v === undefined) continue;
    if (!kept) {
      throw new PolicyError(
        `resourceLimits.${name} cannot be expressed in an OCI config (agentos enforces it while it runs the agent); ` +
          `remove it, or have the runner that starts the container enforce it and say so (agentos container spec --runner-limits)`,
        { path: `resourceLimits.${name}` },
      );
    }
    out[`${ANNOTATION_PREFIX}${name}`] = String(v);
  }
  return out;
}

/**
 * The `config.json` of a native agent under `policy`.
 *
 * @throws {PolicyError} naming a rule the config cannot enforce exactly (as for bwrap: file
 *   globs, code-injecting variables, unknown system calls, `maxFuel`; and the runner's limits
 *   unless `runnerLimits`).
 * @throws {DeniedError} when the sandbox user may not use a mount's directory.
 * @example
 * ```ts
 * ociSpec(policy, { command: ['/usr/bin/id'], rootfs: 'rootfs' }).process.user; // { uid: 65534, gid: 65534 }
 * ```
 */
export function ociSpec(policy: SandboxPolicy, opts: OciSpecOptions): OciSpec {
  if (opts.command.length === 0 || opts.command.some((a) => typeof a !== 'string' || a.includes('\0'))) {
    throw new PolicyError('the command must be a non-empty list of strings without NUL, e.g. ["python3", "/agent/main.py"]');
  }
  refuseUnenforced(policy);
  const annotations = runnerLimits(policy, opts.runnerLimits === true);
  const env = nativeEnv(policy, opts.hostEnv ?? process.env, opts.env);
  const plan = planFileMounts(policy);
  const files = opts.files ?? BUNDLE_FILES;
  const limits = policy.resourceLimits;
  const { limits: cg } = cgroupLimitsOf(policy);
  const bound = new Set(plan.mounts.flatMap((m) => (m.kind === 'bind' ? [m.guest] : [])));
  const cwd = opts.cwd ?? policy.mounts.find((m) => bound.has(m.guest))?.guest ?? '/tmp';
  const rlimits: OciRlimit[] = [
    { type: 'RLIMIT_NOFILE', hard: 100, soft: 100 },
    { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
    ...(limits.maxFileSize !== undefined ? [{ type: 'RLIMIT_FSIZE' as const, hard: limits.maxFileSize, soft: limits.maxFileSize }] : []),
  ];
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false,
      user: { uid: SANDBOX_UID, gid: SANDBOX_UID },
      args: [...opts.command],
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits,
      noNewPrivileges: true,
    },
    root: { path: opts.rootfs, readonly: true },
    hostname: 'agent',
    mounts: ociMounts(baseMounts(files), plan.mounts, { tmpBytes: limits.diskQuota ?? DEFAULT_TMP_BYTES, empty: files.empty }),
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    linux: {
      namespaces: OCI_NAMESPACES.map((type) => ({ type })),
      uidMappings: idMappings(),
      gidMappings: idMappings(),
      devices: OCI_DEVICES,
      resources: {
        devices: ociDeviceRules(),
        ...(cg.memoryBytes !== undefined ? { memory: { limit: cg.memoryBytes, swap: cg.memoryBytes + (cg.swapBytes ?? 0) } } : {}),
        pids: { limit: cg.maxProcesses ?? 20 },
        cpu: {
          ...(cg.cpuShares !== undefined ? { shares: cg.cpuShares } : {}),
          ...(cg.cpuQuotaUs !== undefined ? { quota: cg.cpuQuotaUs } : {}),
          ...(cg.cpuPeriodUs !== undefined ? { period: cg.cpuPeriodUs } : {}),
        },
      },
      seccomp: ociSeccompProfile({ allowedSyscalls: policy.allowedSyscalls }),
      maskedPaths: OCI_MASKED_PATHS,
      readonlyPaths: OCI_READONLY_PATHS,
      rootfsPropagation: 'private',
    },
  };
}
