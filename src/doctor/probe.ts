/**
 * Running a host program for a check: always with a time limit, never throwing. A doctor
 * that hangs on a wedged `unshare` or crashes on a missing binary would be no help, so every
 * outcome (not found, killed by the timer, non-zero exit) comes back as data.
 */
import { spawn } from 'node:child_process';
import { relative, isAbsolute } from 'node:path';

/** What running a program gave. */
export interface ProbeResult {
  /** It started, and exited with status 0 before the timeout. */
  readonly ok: boolean;
  /** Exit status, or `null` when it did not start or a signal ended it. */
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** `ENOENT` when the program is not installed (or not on PATH); another errno when it could not start. */
  readonly spawnError?: string;
  /** The timer killed it. */
  readonly timedOut: boolean;
}

/** Default time limit of a probe. */
export const PROBE_TIMEOUT_MS = 10_000;

// Output past this is dropped: checks read a version line, not a log.
const MAX_OUTPUT = 64 * 1024;
// After SIGKILL, how long to wait for 'close' (a grandchild may hold the pipes open).
const CLOSE_GRACE_MS = 500;

/**
 * Run `command args` with stdin closed, collecting stdout and stderr.
 *
 * @param opts.timeoutMs kill it (SIGKILL) after this long (default {@link PROBE_TIMEOUT_MS})
 * @example `const r = await probe('bwrap', ['--version']); if (r.ok) console.log(r.stdout)`
 */
export function probe(
  command: string,
  args: readonly string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const out = { stdout: '', stderr: '' };
    let timedOut = false;
    let done = false;
    const finish = (status: number | null, spawnError?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(grace);
      resolve({ ok: status === 0 && !timedOut && spawnError === undefined, status, ...out, timedOut, ...(spawnError !== undefined ? { spawnError } : {}) });
    };
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child?.kill('SIGKILL');
      grace = setTimeout(() => finish(null), CLOSE_GRACE_MS);
    }, opts.timeoutMs ?? PROBE_TIMEOUT_MS);
    let child: ReturnType<typeof spawn> | undefined;
    try {
      child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    } catch (e) {
      // spawn throws synchronously for bad arguments (e.g. a NUL in the command).
      finish(null, (e as NodeJS.ErrnoException).code ?? 'EINVAL');
      return;
    }
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream]?.setEncoding('utf8').on('data', (chunk: string) => {
        if (out[stream].length < MAX_OUTPUT) out[stream] += chunk.slice(0, MAX_OUTPUT - out[stream].length);
      });
    }
    child.on('error', (e: NodeJS.ErrnoException) => finish(null, e.code ?? 'EIO'));
    child.on('close', (status) => finish(status));
  });
}

/** The first non-empty line of a program's output, trimmed. */
export function firstLine(text: string): string {
  return text.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== '') ?? '';
}

/** Why a probe failed, in a few words (`not found`, `timed out after 10 s`, `exit 1: …`). */
export function probeFailure(r: ProbeResult, timeoutMs = PROBE_TIMEOUT_MS): string {
  if (r.spawnError === 'ENOENT') return 'not found';
  if (r.spawnError !== undefined) return `could not start (${r.spawnError})`;
  if (r.timedOut) return `timed out after ${timeoutMs / 1000} s`;
  const said = firstLine(r.stderr) || firstLine(r.stdout);
  return `exit ${r.status ?? 'by signal'}${said ? `: ${said}` : ''}`;
}

/** A path as a user would type it here: relative to the working directory when inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
