/**
 * Watching one sandboxed run, whatever started it (bubblewrap or runc): the task goes to
 * stdin once the sandbox is released, stdout is the output, stderr lines are log events, the
 * wall clock and the output cap end it, an abort signal stops it. The backend says how to
 * kill the whole tree; this module says how the run ended.
 *
 * Outcomes: exit 0 → the output; another exit → `AGENT_ERROR` with the status and the last
 * stderr lines; stdout + stderr over `maxOutputBytes` → `QUOTA_EXCEEDED`; the wall clock →
 * `TIMEOUT`; the first failure wins and kills the tree.
 *
 * @example
 * ```ts
 * const run = supervise(child, { timeoutMs: 5000, maxOutputBytes: 1 << 20, kill: () => child.kill('SIGKILL') });
 * run.release('the task');
 * const ended = await run.ended; // { code, signal, output, tail, failure }
 * ```
 */
import type { ChildProcess } from 'node:child_process';
import { AgentError, LimitError, SandboxError } from '../errors.js';

/** What {@link supervise} needs. */
export interface SupervisionOptions {
  readonly timeoutMs: number;
  readonly maxOutputBytes: number;
  /** Each stderr line. */
  readonly onLine?: (line: string) => void;
  /** Aborting stops the run with the reason (a `SandboxError`) as its error. */
  readonly signal?: AbortSignal;
  /** End the whole process tree (called once per failure; must not throw). */
  readonly kill: () => void;
}

/** How a watched run ended. */
export interface RunEnding {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
  /** The last stderr lines (at most 20). */
  readonly tail: readonly string[];
  /** The first failure seen (limit, abort, setup), if any. */
  readonly failure: SandboxError | undefined;
}

/** A run being watched. */
export interface Supervised {
  /** Record a failure (the first one wins) and kill the tree. */
  fail(e: SandboxError): void;
  /** Whether a failure was recorded. */
  readonly failed: boolean;
  /** Write the task to stdin (after the sandbox is released). */
  release(task: string): void;
  /** Resolves when the child closed (never rejects). */
  readonly ended: Promise<RunEnding>;
}

/** Watch `child` (stdio 0–2 are pipes). */
export function supervise(child: ChildProcess, opts: SupervisionOptions): Supervised {
  let failure: SandboxError | undefined;
  const out: Buffer[] = [];
  let outBytes = 0;
  let errText = '';
  const tail: string[] = [];
  const fail = (e: SandboxError) => {
    failure ??= e;
    opts.kill();
  };
  const timer = setTimeout(
    () => fail(new LimitError('TIMEOUT', `the native agent ran past its time limit of ${opts.timeoutMs} ms and was killed with its process tree`, { limit: 'maxExecutionTime', allowed: opts.timeoutMs })),
    opts.timeoutMs,
  );
  const count = (n: number) => {
    outBytes += n;
    if (outBytes > opts.maxOutputBytes) {
      fail(new LimitError('QUOTA_EXCEEDED', `the native agent wrote more than maxOutputBytes (${opts.maxOutputBytes} bytes) to stdout and stderr and was stopped`, { limit: 'maxOutputBytes', allowed: opts.maxOutputBytes }));
    }
  };
  const signal = opts.signal;
  signal?.addEventListener('abort', () => fail(signal.reason instanceof SandboxError ? signal.reason : new SandboxError('INTERNAL', 'the run was stopped')), { once: true });
  child.stdout!.on('data', (c: Buffer) => {
    count(c.length);
    if (!failure) out.push(c);
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => {
    count(Buffer.byteLength(c));
    if (failure) return;
    errText += c;
    const lines = errText.split('\n');
    errText = lines.pop() ?? '';
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      opts.onLine?.(line);
    }
  });
  // EPIPE when the agent does not read its stdin is not an error of the run.
  child.stdin!.on('error', () => {});
  const ended = new Promise<RunEnding>((resolve) => {
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (errText !== '') {
        tail.push(errText);
        opts.onLine?.(errText);
      }
      resolve({ code, signal: sig, output: Buffer.concat(out).toString('utf8'), tail, failure });
    });
  });
  return {
    fail,
    get failed() {
      return failure !== undefined;
    },
    release: (task) => child.stdin!.end(task),
    ended,
  };
}

/**
 * The result of an ended run that did start the agent: its output on exit 0, else the
 * failure recorded or `AGENT_ERROR` with the status and the last stderr lines.
 *
 * @throws {SandboxError} as described.
 */
export function exitOutcome(ending: RunEnding): string {
  if (ending.failure) throw ending.failure;
  if (ending.code === 0) return ending.output;
  const how = ending.signal ? `was killed by ${ending.signal}` : `exited with status ${ending.code}`;
  const tail = ending.tail;
  throw new AgentError(`the native agent ${how}${tail.length ? `: ${tail.slice(-3).join(' | ')}` : ''}`, { exitCode: ending.code, signal: ending.signal });
}
