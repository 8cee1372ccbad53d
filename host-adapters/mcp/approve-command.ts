/**
 * An approver that runs a program (`agentos mcp --approve-with CMD`): the program decides each
 * capability request, out of band of the MCP conversation.
 *
 * The command is run without a shell (argv as given: wrap it in `sh -c '...'` to have one),
 * once per request. Its stdin is a pipe carrying the request as one line of JSON (an
 * {@link ApprovalRequest}) and then closed; its stdout is a pipe whose first line, if any, is
 * recorded as the decision's note; its stderr is the server's stderr. Neither is the MCP
 * channel: over stdio, what the approver reads and writes never reaches the client. Exit
 * status 0 approves; any other status, a signal, a failure to start, the timeout (the process
 * is then killed) or the client cancelling the call denies.
 */
import { spawn } from 'node:child_process';
import type { ApprovalDecision, ApprovalRequest, Approver } from './approval.js';

/** How long an approver may take unless `timeoutMs` says otherwise (a person may be asked). */
export const DEFAULT_APPROVE_TIMEOUT_MS = 60_000;

/** Options of {@link commandApprover}. */
export interface CommandApproverOptions {
  /** Deny (and kill the command) after this long. Default {@link DEFAULT_APPROVE_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Where the approver's own failures are said (stderr in the CLI). Default: nothing. */
  readonly log?: (line: string) => void;
  /** The command's environment. Default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Most of the command's stdout kept (the note is its first line). */
const MAX_STDOUT = 4096;

/**
 * An {@link Approver} that runs `command` for each request.
 *
 * @example
 * ```ts
 * const approve = commandApprover(['/usr/local/bin/ask-operator', '--channel', 'ops']);
 * await serveStdio({ sandbox, config, approve });
 * ```
 */
export function commandApprover(command: readonly string[], options: CommandApproverOptions = {}): Approver {
  if (command.length === 0 || command.some((a) => typeof a !== 'string') || command[0] === '') throw new TypeError('commandApprover: expected a command and its arguments');
  const timeoutMs = options.timeoutMs ?? DEFAULT_APPROVE_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new TypeError('commandApprover: timeoutMs must be positive');
  const log = options.log ?? (() => {});
  const approver = `command ${command[0]}`;
  return (request: ApprovalRequest, { signal }) =>
    new Promise<ApprovalDecision>((resolveDecision) => {
      let settled = false;
      let stdout = '';
      const done = (approved: boolean, note: string | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        resolveDecision({ approved, approver, ...(note !== undefined ? { note } : {}) });
      };
      const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'], shell: false, ...(options.env ? { env: options.env } : {}) });
      const timer = setTimeout(() => done(false, `no decision within ${timeoutMs} ms`), timeoutMs);
      timer.unref();
      const onAbort = () => done(false, 'the call was cancelled');
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      child.on('error', (e: NodeJS.ErrnoException) => {
        log(`--approve-with ${command[0]}: cannot run it (${e.code ?? e.message}); the request is denied`);
        done(false, `the approver could not be run (${e.code ?? e.message})`);
      });
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d: string) => {
        if (stdout.length < MAX_STDOUT) stdout += d.slice(0, MAX_STDOUT - stdout.length);
      });
      // An approver that exits without reading its stdin is not an error (`sh -c 'exit 0'`).
      child.stdin.on('error', () => {});
      child.stdin.end(JSON.stringify(request) + '\n');
      // 'exit', not 'close': a grandchild holding the pipes open must not hold the decision.
      child.on('exit', (code, sig) => {
        // Let the stdout already written arrive before the note is read.
        setImmediate(() => {
          const first = stdout.trim().split('\n')[0]?.trim();
          done(code === 0, first || (code === 0 ? undefined : sig !== null ? `killed by ${sig}` : `exit status ${code}`));
        });
      });
    });
}
