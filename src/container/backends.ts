/**
 * The two ways a native agent's sandbox is made, behind one interface: bubblewrap (the
 * default) and runc (the OCI alternative). Both come from the same policy decisions — the
 * files from `planFileMounts`, the environment from `nativeEnv`, the seccomp rules, the
 * rlimits — and both hold the agent before it execs so the host can attach its cgroups and its
 * egress listener; `NativeAgent` does the rest (gate, audit, limits) the same way for both.
 *
 * @example
 * ```ts
 * const backend = await runcBackend({ policy, command, cwd, env, files });
 * const r = await backend.run({ runId, task, timeoutMs, maxOutputBytes, onPid });
 * ```
 */
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { SandboxPolicy } from '../policy/schema.js';
import { baseRootfs, bwrapArgs } from './bwrap.js';
import type { MountPlan } from './mounts.js';
import { SANDBOX_UID } from './mounts.js';
import type { NativeFiles } from './native-files.js';
import { ociSpec, writeBundle } from './oci/index.js';
import { CHILD_FDS, runSandboxed, type Rlimits, type SandboxedResult } from './process.js';
import { HOST_PID_ANNOTATION } from './runc.js';
import { holdHook, makeHoldFifos, RUNC_TOOLS_FD, runRunc } from './runc-process.js';
import { TOOLS_FD } from './tool-channel.js';
import { findExecHelper, SANDBOX_EXEC_PATH, sandboxExecPrefix, stageExecHelper } from './exec-helper.js';
import { describeLandlock, landlockAbi, landlockRules } from './landlock.js';
import { PROXY_PORT } from './native-network.js';
import { SandboxError } from '../errors.js';

/** The runtimes a native agent can run under. */
export const NATIVE_RUNTIMES = ['bwrap', 'runc'] as const;
export type NativeRuntime = (typeof NATIVE_RUNTIMES)[number];

/** One run, as `NativeAgent` asks for it. */
export interface BackendRun {
  readonly runId: string;
  readonly task: string;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  readonly onPid: (pid: number) => void | Promise<void>;
  readonly onLine: (line: string) => void;
  readonly signal: AbortSignal;
  readonly tools?: (stream: Duplex) => { close(): void };
  /**
   * Required when the backend's `seccompRecorded` is `'per call'`: watch the host end of the
   * channel the seccomp listener arrives on (`SyscallAudit.attach`).
   */
  readonly syscalls?: (stream: Duplex) => { close(): Promise<void> };
}

/** A way of running the agent's sandbox. */
export interface SandboxBackend {
  readonly runtime: NativeRuntime;
  /** What the second file-system layer does (Landlock), one line each, for the `agent_spawn` record. */
  readonly landlock: readonly string[];
  /** Whether each denied system call is recorded (`'per call'`) or why not, for the `agent_spawn` record. */
  readonly seccompRecorded: string;
  run(r: BackendRun): Promise<SandboxedResult>;
}

/** What both backends are made from. */
export interface BackendSpec {
  readonly policy: SandboxPolicy;
  readonly command: readonly string[];
  readonly cwd: string;
  /** The agent's environment from the policy (`nativeEnv` of `hostEnv`). */
  readonly env: Readonly<Record<string, string>>;
  /** Where the policy's `env.allow` names were read from. */
  readonly hostEnv: NodeJS.ProcessEnv;
  /** The runtime's own variables (tool channel, proxy), set after the policy's. */
  readonly runtimeEnv: (toolsFd: number) => Record<string, string>;
  readonly files: NativeFiles;
  readonly plan: MountPlan;
  readonly seccomp: Uint8Array;
  /**
   * The same rules with denied calls sent to a listener (`denied: 'notify'`), when the host can
   * record them (`syscallRecording`), or why it cannot. Absent: not recorded.
   */
  readonly seccompNotify?: { readonly filter: Uint8Array } | { readonly why: string };
  readonly rlimits: Rlimits;
  readonly tmpBytes: number;
  /** The policy grants network (the egress proxy's port is reachable inside). */
  readonly network: boolean;
}

/**
 * bubblewrap: one command line, made once. With the exec helper (`agentos-exec`, built with
 * the addon) it starts bwrap (closing leaked descriptors, setting the rlimits) and, inside,
 * applies Landlock — a second file-system (and TCP) layer under the mounts, from the same
 * plan — then loads the seccomp filter and execs the agent. Without it bash/prlimit start
 * bwrap and bwrap loads the filter; the mounts alone restrict files, which is still exactly
 * the policy (rules mounts cannot enforce are refused at load).
 */
export function bwrapBackend(spec: BackendSpec): SandboxBackend {
  const found = findExecHelper();
  const helper = found !== undefined ? stageExecHelper(found, spec.files.dir) : undefined;
  const abi = helper !== undefined ? landlockAbi(found) : undefined;
  const landlock = abi !== undefined && abi >= 1 ? landlockRules(spec.plan, { network: spec.network, proxyPort: PROXY_PORT }) : undefined;
  const inside = landlock && helper !== undefined;
  // Denied calls go to the host's listener only where the helper loads the filter inside.
  const notify = spec.seccompNotify;
  const recorded = !inside
    ? `not recorded (${found === undefined ? 'the exec helper is not built: npm run build:native' : 'the exec helper does not run inside the sandbox without Landlock'})`
    : notify === undefined ? 'not recorded' : 'why' in notify ? `not recorded (${notify.why})` : 'per call';
  const notifyFilter = recorded === 'per call' && notify && 'filter' in notify ? notify.filter : undefined;
  const argv = bwrapArgs({
    rootfs: baseRootfs(spec.files.etc),
    mounts: [...spec.plan.args, ...(inside ? ['--ro-bind', helper, SANDBOX_EXEC_PATH] : [])],
    env: { ...spec.env, ...spec.runtimeEnv(TOOLS_FD) },
    cwd: spec.cwd,
    tmpBytes: spec.tmpBytes,
    // Inside, the helper loads the filter after Landlock (bwrap would load it first, and the
    // agent's allowlist has no landlock calls); fd 5 reaches it through bwrap.
    fds: { info: CHILD_FDS.info, block: CHILD_FDS.block, ...(inside ? {} : { seccomp: CHILD_FDS.seccomp }) },
    command: inside ? [...sandboxExecPrefix({ landlock, seccompFd: CHILD_FDS.seccomp, ...(notifyFilter ? { seccompNotifyFd: CHILD_FDS.notify } : {}) }), ...spec.command] : spec.command,
  });
  const uid = process.getuid?.() === 0 ? { uid: SANDBOX_UID } : {};
  return {
    runtime: 'bwrap',
    landlock: landlock && abi !== undefined ? describeLandlock(landlock, abi) : [found === undefined ? 'landlock: not applied (the exec helper is not built: npm run build:native); the mounts alone restrict files' : 'landlock: not applied (the kernel has no Landlock); the mounts alone restrict files'],
    seccompRecorded: recorded,
    run: (r) => {
      const { syscalls, ...rest } = r;
      if (notifyFilter && !syscalls) return Promise.reject(new SandboxError('INTERNAL', 'this sandbox sends denied system calls to the host, and the run has no recorder for them'));
      return runSandboxed({
        argv, ...uid, seccomp: notifyFilter ?? spec.seccomp, rlimits: spec.rlimits, ...(helper !== undefined ? { execHelper: helper } : {}), ...rest,
        ...(notifyFilter && syscalls ? { seccompNotify: syscalls } : {}),
      });
    },
  };
}

/**
 * runc: a bundle written once at load from `ociSpec` (the limits agentos enforces while it
 * runs are kept as annotations; the cgroup limits are applied by the host to the run's own
 * group, as for bwrap), plus the hold hook and the host pid for crash cleanup.
 */
export async function runcBackend(spec: BackendSpec): Promise<SandboxBackend> {
  const bundle = join(spec.files.dir, 'bundle');
  const hold = makeHoldFifos(spec.files.dir);
  const config = ociSpec(spec.policy, {
    command: spec.command,
    cwd: spec.cwd,
    rootfs: 'rootfs',
    env: spec.runtimeEnv(RUNC_TOOLS_FD),
    hostEnv: spec.hostEnv,
    files: { ...spec.files.etc, empty: spec.files.emptyFile },
    runnerLimits: true,
  });
  await writeBundle(bundle, {
    ...config,
    annotations: { ...config.annotations, [HOST_PID_ANNOTATION]: String(process.pid) },
    hooks: { createRuntime: [holdHook(hold)] },
  } as typeof config);
  return {
    runtime: 'runc',
    landlock: ['landlock: not applied under runc (its seccomp profile is loaded before any helper could run); the mounts alone restrict files'],
    seccompRecorded: 'not recorded (runc loads its seccomp profile itself, with EPERM)',
    run: (r) => runRunc({ bundle, id: `agentos-${r.runId}`, hold, ...r }),
  };
}
