/**
 * One run of a native agent under runc (`runc run` of a bundle from `ociSpec`): the same
 * protocol and outcomes as bubblewrap's `runSandboxed` (see `supervise.ts`), with runc's ways
 * of doing the runtime's three jobs:
 *
 * - **Hold before exec.** The bundle's `createRuntime` hook (run by runc on the host once the
 *   container's namespaces exist, before the agent's program runs) writes the container state
 *   — with its pid — to one FIFO and waits for a line on another ({@link holdHook}). The host
 *   reads the pid, attaches cgroups and the egress listener, then releases it: the same
 *   race-free start as bwrap's `--info-fd`/`--block-fd`. The hook gives up after
 *   {@link HOLD_TIMEOUT_S} seconds, and runc with it.
 * - **Descriptors.** runc itself closes every descriptor but 0–2 and `--preserve-fds`; the
 *   tool channel is the container's fd 3 (its number is in `AGENTOS_TOOLS_FD`).
 * - **Ending.** `runc kill` ends the container's init, and with its pid namespace the whole
 *   tree; `runc run` then deletes the container. A run that failed is deleted by force too.
 *
 * @example
 * ```ts
 * const r = await runRunc({ bundle, id: `agentos-${runId}`, hold: holdFifos(dir), task: 'hi', timeoutMs: 5000, maxOutputBytes: 1 << 20 });
 * ```
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { SandboxError } from '../errors.js';
import { runc, runcCommand, RUNC_ROOT } from './runc.js';
import { exitOutcome, supervise } from './supervise.js';
import type { SandboxedResult } from './process.js';

/** The tool channel's descriptor inside a runc container (`--preserve-fds 1`). */
export const RUNC_TOOLS_FD = 3;

/** Seconds the hold hook waits for the host before it fails (and runc with it). */
export const HOLD_TIMEOUT_S = 10;

/** The two FIFOs of the hold: the hook writes the state to `state`, then waits on `go`. */
export interface HoldFifos {
  readonly state: string;
  readonly go: string;
}

/** The FIFO paths in an agent's private directory (made once with `mkfifo`, see `makeHoldFifos`). */
export function holdFifos(dir: string): HoldFifos {
  return { state: join(dir, 'hold.state'), go: join(dir, 'hold.go') };
}

/** Make the hold FIFOs (owner-only: only the host and runc's hook, both root, use them). */
export function makeHoldFifos(dir: string): HoldFifos {
  const fifos = holdFifos(dir);
  for (const path of [fifos.state, fifos.go]) {
    const r = spawnSync('mkfifo', ['-m', '600', path], { encoding: 'utf8' });
    if (r.status !== 0) throw new SandboxError('INTERNAL', `could not make the runc hold FIFO ${path}: ${r.error?.message ?? r.stderr.trim()}`);
  }
  return fifos;
}

/** The OCI `createRuntime` hook that holds the container until the host releases it. */
export function holdHook(fifos: HoldFifos): { path: string; args: string[]; timeout: number } {
  return { path: '/bin/sh', args: ['sh', '-c', 'cat > "$0" && read -r go < "$1"', fifos.state, fifos.go], timeout: HOLD_TIMEOUT_S };
}

/** What {@link runRunc} needs. */
export interface RuncRun {
  /** The bundle directory (its `config.json` has the hold hook). */
  readonly bundle: string;
  /** The container id (unique per run). */
  readonly id: string;
  readonly hold: HoldFifos;
  readonly task: string;
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  /** Called with the container's pid before it may exec (attach cgroups here; a throw stops the run). */
  readonly onPid?: (pid: number) => void | Promise<void>;
  readonly onLine?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Serve host tools on the container's fd 3; absent: no tool channel. */
  readonly tools?: (stream: Duplex) => { close(): void };
}

/**
 * Open a FIFO read-write and non-blocking (libuv opens close-on-exec): opening never waits for the other side, and while
 * the host holds it the hook's open never waits either (nor sees end-of-file).
 */
function openFifo(path: string): number {
  return openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
}

/**
 * Run the container once.
 *
 * @throws {AgentError} exit status other than 0.
 * @throws {LimitError} `TIMEOUT` or `QUOTA_EXCEEDED` (output cap).
 * @throws {SandboxError} `INTERNAL` when the container could not be set up.
 */
export async function runRunc(run: RuncRun): Promise<SandboxedResult> {
  const stateFd = openFifo(run.hold.state);
  let goFd: number | undefined;
  const state = new Socket({ fd: stateFd, readable: true, writable: false });
  try {
    goFd = openFifo(run.hold.go);
    const args = ['--root', RUNC_ROOT, 'run', ...(run.tools ? ['--preserve-fds', '1'] : []), '--bundle', run.bundle, run.id];
    const child = spawn(runcCommand(), args, { stdio: ['pipe', 'pipe', 'pipe', ...(run.tools ? (['pipe'] as const) : [])] });
    let killing: Promise<unknown> | undefined;
    const watch = supervise(child, {
      ...run,
      // Killing the container's init ends its pid namespace; runc run then exits and deletes it.
      // Killing runc itself would leave the container running.
      kill: () => {
        killing ??= runc(['kill', run.id, 'KILL']).then(async (r) => {
          if (r.status !== 0) await runc(['delete', '--force', run.id]);
          setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
        });
      },
    });
    child.on('error', (e) => watch.fail(new SandboxError('INTERNAL', `could not start ${runcCommand()}: ${e.message}; install runc (apt-get install runc)`)));
    const toolChannel = run.tools?.((child.stdio as unknown as Duplex[])[RUNC_TOOLS_FD]!);
    let pid: number | undefined;
    let text = '';
    state.setEncoding('utf8').on('data', (c: string) => {
      if (pid !== undefined) return;
      text += c;
      let parsed: { pid?: unknown };
      try {
        parsed = JSON.parse(text) as { pid?: unknown };
      } catch {
        return; // not all of it yet
      }
      if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0) {
        return watch.fail(new SandboxError('INTERNAL', `runc's hook reported no container pid: ${text.slice(0, 200)}`));
      }
      pid = parsed.pid;
      Promise.resolve()
        .then(() => run.onPid?.(pid!))
        .then(
          () => {
            // Released: the hook returns, runc starts the agent's program. Then the task goes to its stdin.
            writeSync(goFd!, 'go\n');
            watch.release(run.task);
          },
          (e: unknown) => watch.fail(e instanceof SandboxError ? e : new SandboxError('INTERNAL', `could not prepare the native agent's process: ${(e as Error).message}`)),
        );
    });
    state.on('error', () => {});
    const ending = await watch.ended;
    toolChannel?.close();
    await killing;
    if (watch.failed || ending.code !== 0) await runc(['delete', '--force', run.id]);
    if (pid === undefined && !ending.failure) {
      throw new SandboxError('INTERNAL', `the container could not be set up, nothing ran (runc exit ${ending.code ?? ending.signal}): ${ending.tail.slice(-5).join(' | ') || 'no message'}; agentos doctor checks what this host lacks`);
    }
    return { output: exitOutcome(ending), pid, exitCode: 0 };
  } finally {
    state.destroy();
    if (goFd !== undefined) closeSync(goFd);
  }
}
