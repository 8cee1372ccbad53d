/** Running toolchain child processes: stream their output to `onLog`, keep a tail for errors. */
import { spawn } from 'node:child_process';

/** What a finished child process left behind. */
export interface ProcessResult {
  /** Exit status, or `null` when a signal ended it. */
  code: number | null;
  /** The signal that ended it, if any. */
  signal: NodeJS.Signals | null;
  /** The last lines of stdout and stderr interleaved (at most {@link TAIL_LINES}). */
  tail: string;
}

/** How many output lines an error message quotes. */
export const TAIL_LINES = 40;

/**
 * Run `command args`, forwarding every output line to `onLog`.
 *
 * @returns the exit status and the output tail; never rejects for a non-zero exit.
 * @throws the spawn error (e.g. `ENOENT` when the program is not installed); callers turn it
 *   into a {@link ../errors.js#SandboxError} with an installation hint.
 */
export function run(
  command: string,
  args: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; onLog?: (line: string) => void; signal?: AbortSignal } = {},
): Promise<ProcessResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Aborting kills the child (SIGTERM) and rejects with an AbortError: a build that is no
      // longer wanted must not keep a process (and the caller's event loop) alive.
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const tail: string[] = [];
    const partial = { stdout: '', stderr: '' };
    const take = (stream: 'stdout' | 'stderr', chunk: string, flush = false): void => {
      const text = partial[stream] + chunk;
      const lines = text.split(/\r?\n/);
      partial[stream] = flush ? '' : (lines.pop() ?? '');
      for (const raw of lines) {
        // Strip terminal colour codes (jco prints them even without a TTY).
        const line = raw.replace(/\x1b\[[0-9;]*m/g, '');
        if (line.trim() === '') continue;
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        opts.onLog?.(line);
      }
    };
    child.stdout.setEncoding('utf8').on('data', (c: string) => take('stdout', c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => take('stderr', c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      take('stdout', '', true);
      take('stderr', '', true);
      resolvePromise({ code, signal, tail: tail.join('\n') });
    });
  });
}
