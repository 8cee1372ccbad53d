/**
 * One run of a native agent: start bwrap, learn the sandbox's pid (`--info-fd`), let the
 * caller attach it (cgroups) while it is held before exec (`--block-fd`), then release it,
 * write the task to its stdin, read stdout as the output and stderr as log lines, and end it.
 *
 * Outcomes: exit 0 → the output; any other exit → `AGENT_ERROR` with the status and the last
 * stderr lines; stdout + stderr over `maxOutputBytes` → `QUOTA_EXCEEDED`; the wall clock →
 * `TIMEOUT`. Every ending kills the whole tree: bwrap is killed, and with it the sandbox's
 * pid namespace. A sandbox that could not be set up (bwrap failed before exec) is `INTERNAL`:
 * nothing ran.
 *
 * @example
 * ```ts
 * const r = await runSandboxed({ argv, uid: 65534, task: 'hi', timeoutMs: 5000, maxOutputBytes: 1 << 20, onLine });
 * ```
 */
import { spawn } from 'node:child_process';
import type { Duplex, Readable, Writable } from 'node:stream';
import { SandboxError } from '../errors.js';
import { bwrapCommand } from './bwrap.js';
import { hostExecPrefix } from './exec-helper.js';
import { leakedFds } from './fds.js';
import { exitOutcome, supervise } from './supervise.js';
import { TOOLS_FD } from './tool-channel.js';

/**
 * Child descriptor numbers of the runtime's own pipes (documented: the agent never sees them).
 * `notify` (7; 6 is the tool channel) is the unix socket the exec helper inside sends the
 * seccomp filter's listener over (`--seccomp-notify-fd`), then closes.
 */
export const CHILD_FDS = Object.freeze({ info: 3, block: 4, seccomp: 5, notify: 7 });

/** What {@link runSandboxed} needs. */
export interface SandboxedRun {
  /** bwrap's arguments (from `bwrapArgs`, with {@link CHILD_FDS}). */
  readonly argv: readonly string[];
  /** Run bwrap as this uid/gid (65534 when the host is root; undefined otherwise). */
  readonly uid?: number;
  readonly task: string;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  /** The seccomp filter (BPF bytes) written to the child's fd 5: for bwrap's `--seccomp 5`, or the exec helper's `--seccomp-fd 5` inside. */
  readonly seccomp?: Uint8Array;
  /** Called with the sandbox's pid before it may exec (attach cgroups here; a throw stops the run). */
  readonly onPid?: (pid: number) => void | Promise<void>;
  /** Each stderr line. */
  readonly onLine?: (line: string) => void;
  /** Aborting stops the run with the reason (a `SandboxError`) as its error. */
  readonly signal?: AbortSignal;
  /** Serve host tools on the agent's fd 6 (`TOOLS_FD`); absent: no tool channel. */
  readonly tools?: (stream: Duplex) => { close(): void };
  /** rlimits for the sandbox (absent: the host's). */
  readonly rlimits?: Rlimits;
  /** The exec helper (`agentos-exec`, runnable by `uid`): closes leaked descriptors and sets the rlimits in one exec. */
  readonly execHelper?: string;
  /**
   * Give the sandbox a unix socket on fd 7 ({@link CHILD_FDS}`.notify`) and hand the host end
   * to this right after the spawn (it must take it synchronously; a throw fails the run before
   * anything is released). `close()` is awaited once the sandbox has ended, before the result.
   */
  readonly seccompNotify?: (stream: Duplex) => { close(): Promise<void> };
}

/** A finished run. */
export interface SandboxedResult {
  readonly output: string;
  readonly pid: number | undefined;
  readonly exitCode: number;
}

/** Resource limits set on bwrap (and so inherited by the agent) with util-linux's `prlimit`. */
export interface Rlimits {
  /** Open files (RLIMIT_NOFILE); the seeds' profile says 100. */
  readonly nofile: number;
  /** Largest file the agent may write (RLIMIT_FSIZE): past it the write fails and SIGXFSZ is sent. */
  readonly fsize?: number;
}

/**
 * The program line: close descriptors the host leaked (except the child's own slots), set the
 * rlimits (core dumps off), exec bwrap. With the exec helper that is one small exec
 * (`agentos-exec --keep-fds … --rlimit … -- bwrap …`); without it bash (for multi-digit
 * descriptors, only when some leaked) and util-linux's `prlimit` (Node cannot set a child's
 * rlimits).
 */
function program(argv: readonly string[], childFds: ReadonlySet<number>, rlimits: Rlimits | undefined, helper: string | undefined): [string, string[]] {
  if (helper !== undefined) {
    const limits = rlimits ? { nofile: rlimits.nofile, core: 0, ...(rlimits.fsize !== undefined ? { fsize: rlimits.fsize } : {}) } : undefined;
    const cmd = [...hostExecPrefix(helper, { keepFds: childFds, ...(limits ? { rlimits: limits } : {}) }), bwrapCommand(), ...argv];
    return [cmd[0]!, cmd.slice(1)];
  }
  let cmd = [bwrapCommand(), ...argv];
  if (rlimits) {
    const limits = [`--nofile=${rlimits.nofile}:${rlimits.nofile}`, '--core=0:0', ...(rlimits.fsize !== undefined ? [`--fsize=${rlimits.fsize}:${rlimits.fsize}`] : [])];
    cmd = ['prlimit', ...limits, '--', ...cmd];
  }
  const leaked = leakedFds().filter((fd) => !childFds.has(fd));
  if (leaked.length === 0) return [cmd[0]!, cmd.slice(1)];
  const closes = leaked.map((fd) => `exec ${fd}>&-`).join('; ');
  return ['/bin/bash', ['-c', `${closes}; exec "$0" "$@"`, ...cmd]];
}

/**
 * Run the sandbox once.
 *
 * @throws {AgentError} exit status other than 0 (`details.exitCode`, `details.signal`).
 * @throws {LimitError} `TIMEOUT` or `QUOTA_EXCEEDED` (output cap).
 * @throws {SandboxError} `INTERNAL` when the sandbox could not be set up.
 */
export function runSandboxed(run: SandboxedRun): Promise<SandboxedResult> {
  const childFds = new Set([0, 1, 2, CHILD_FDS.info, CHILD_FDS.block, ...(run.seccomp ? [CHILD_FDS.seccomp] : []), ...(run.tools ? [TOOLS_FD] : []), ...(run.seccompNotify ? [CHILD_FDS.notify] : [])]);
  const [cmd, args] = program(run.argv, childFds, run.rlimits, run.execHelper);
  const child = spawn(cmd, args, {
    // Only the runtime's own pipes reach bwrap (which closes them before the agent runs).
    // Node's 'pipe' entries are unix socket pairs: fd 7 can carry a descriptor (SCM_RIGHTS).
    stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', run.seccomp ? 'pipe' : 'ignore', ...(run.tools || run.seccompNotify ? ([run.tools ? 'pipe' : 'ignore'] as const) : []), ...(run.seccompNotify ? (['pipe'] as const) : [])],
    ...(run.uid !== undefined ? { uid: run.uid, gid: run.uid } : {}),
    detached: false,
  });
  const stdio = child.stdio as unknown as (Readable | Writable)[];
  const info = stdio[CHILD_FDS.info] as Readable;
  const block = stdio[CHILD_FDS.block] as Writable;
  const seccompPipe = stdio[CHILD_FDS.seccomp] as Writable | undefined;
  // Killing bwrap kills the sandbox's pid namespace, and with it the whole tree.
  const watch = supervise(child, { ...run, kill: () => child.kill('SIGKILL') });
  let pid: number | undefined;
  if (run.seccomp) seccompPipe?.end(Buffer.from(run.seccomp));
  const toolChannel = run.tools?.(stdio[TOOLS_FD] as Duplex);
  let notifyChannel: { close(): Promise<void> } | undefined;
  try {
    notifyChannel = run.seccompNotify?.(stdio[CHILD_FDS.notify] as Duplex);
  } catch (e) {
    // The sandbox is never released: nothing ran.
    watch.fail(new SandboxError('INTERNAL', `could not watch the sandbox's seccomp listener: ${(e as Error).message}`));
  }
  let infoText = '';
  info.setEncoding('utf8').on('data', (c: string) => {
    infoText += c;
    if (pid !== undefined) return;
    const m = /"child-pid"\s*:\s*(\d+)/.exec(infoText);
    if (!m) return;
    pid = Number(m[1]);
    Promise.resolve()
      .then(() => run.onPid?.(pid!))
      .then(
        () => {
          // Released: the sandboxed program may exec now. Then the task goes to its stdin.
          block.end('x');
          watch.release(run.task);
        },
        (e: unknown) => watch.fail(e instanceof SandboxError ? e : new SandboxError('INTERNAL', `could not prepare the native agent's process: ${(e as Error).message}`)),
      );
  });
  block.on('error', () => {});
  seccompPipe?.on('error', () => {});
  child.on('error', (e) => watch.fail(new SandboxError('INTERNAL', `could not start ${cmd}: ${e.message}; install bubblewrap (apt-get install bubblewrap)`)));
  return watch.ended.then(async (ending) => {
    toolChannel?.close();
    // Records of denied calls land before the run's result (and its agent_terminate record).
    await notifyChannel?.close();
    if (pid === undefined && !ending.failure) {
      throw new SandboxError('INTERNAL', `the sandbox could not be set up, nothing ran (bwrap exit ${ending.code ?? ending.signal}): ${ending.tail.slice(-5).join(' | ') || 'no message'}; agentos doctor checks what this host lacks`);
    }
    return { output: exitOutcome(ending), pid, exitCode: 0 };
  });
}
