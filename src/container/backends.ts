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
}

/** A way of running the agent's sandbox. */
export interface SandboxBackend {
  readonly runtime: NativeRuntime;
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
  readonly rlimits: Rlimits;
  readonly tmpBytes: number;
}

/** bubblewrap: one command line, made once; the seccomp filter over a pipe; rlimits by prlimit. */
export function bwrapBackend(spec: BackendSpec): SandboxBackend {
  const argv = bwrapArgs({
    rootfs: baseRootfs(spec.files.etc),
    mounts: spec.plan.args,
    env: { ...spec.env, ...spec.runtimeEnv(TOOLS_FD) },
    cwd: spec.cwd,
    tmpBytes: spec.tmpBytes,
    fds: { info: CHILD_FDS.info, block: CHILD_FDS.block, seccomp: CHILD_FDS.seccomp },
    command: spec.command,
  });
  const uid = process.getuid?.() === 0 ? { uid: SANDBOX_UID } : {};
  return {
    runtime: 'bwrap',
    run: (r) => runSandboxed({ argv, ...uid, seccomp: spec.seccomp, rlimits: spec.rlimits, ...r }),
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
    run: (r) => runRunc({ bundle, id: `agentos-${r.runId}`, hold, ...r }),
  };
}
