/**
 * `agentos mcp --approve-with CMD [--approve-timeout DURATION]`: the program that decides the
 * MCP clients' capability requests (`agentos_request_capability`). Without it that tool is not
 * offered, and no tool changes a policy.
 *
 * CMD is one argument, split into words here the way a POSIX shell splits them (whitespace
 * separates; '...' is literal; "..." keeps \" \\ \$ \` escapes; a backslash outside quotes
 * escapes the next character) and nothing more: no variables, globs, `~`, pipes or
 * redirections, and no shell runs it. Write `sh -c '...'` to have one. The program itself is
 * run by the adapter's `commandApprover` (host-adapters/mcp/approve-command.ts): the request as
 * JSON on its stdin, exit status 0 approves, anything else denies.
 */
import { UsageError } from '../errors.js';
import { parseDuration } from '../util/units.js';

/** The options, merged into `agentos mcp`'s. */
export const APPROVE_OPTIONS = {
  'approve-with': { type: 'string' },
  'approve-timeout': { type: 'string' },
} as const;

/** Their lines of `agentos mcp --help`. */
export const APPROVE_HELP = `  --approve-with CMD     offer agentos_request_capability: a client may ask to widen an agent's
                         policy by one grant (in the policy format) for its session, and CMD
                         decides each request out of band. CMD is split into words like a
                         shell would, but no shell runs it (write sh -c '...' for one); the
                         request is one line of JSON on its stdin (agent, grant, reason,
                         session, client, policy); exit status 0 approves, anything else
                         denies; its stdout's first line is recorded as the decision's note,
                         its stderr is ours. The model's arguments never decide; every request
                         and decision is in the audit log; denies in the policy keep winning
  --approve-timeout DURATION
                         with --approve-with: deny a request CMD has not decided after this
                         long, killing CMD (default 60s)`;

/**
 * Split a command line into words (see the module comment).
 *
 * @throws UsageError for an unterminated quote, a trailing backslash or no words at all.
 * @example `splitCommandLine("sh -c 'exit 0'")` → `['sh', '-c', 'exit 0']`
 */
export function splitCommandLine(text: string, flag = '--approve-with'): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new UsageError(`${flag}: unterminated ' quote in ${JSON.stringify(text)}`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      for (i++; ; i++) {
        if (i >= text.length) throw new UsageError(`${flag}: unterminated " quote in ${JSON.stringify(text)}`);
        const d = text[i]!;
        if (d === '"') break;
        if (d === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
        else word += d;
      }
    } else if (c === '\\') {
      if (i + 1 >= text.length) throw new UsageError(`${flag}: a trailing backslash in ${JSON.stringify(text)}`);
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  if (words.length === 0) throw new UsageError(`${flag}: give the command that decides, e.g. ${flag} 'my-approver --channel ops'`);
  return words;
}

/** What the flags ask for: the approver's command and its timeout, or nothing. */
export interface ApproveFlags {
  readonly command: readonly string[];
  readonly timeoutMs?: number;
}

/** Read and check the flags (usage errors name the flag). */
export function approveFlags(values: { readonly 'approve-with'?: string | undefined; readonly 'approve-timeout'?: string | undefined }): ApproveFlags | undefined {
  const timeout = values['approve-timeout'];
  if (values['approve-with'] === undefined) {
    if (timeout !== undefined) throw new UsageError('--approve-timeout goes with --approve-with');
    return undefined;
  }
  const command = splitCommandLine(values['approve-with']);
  if (timeout === undefined) return { command };
  const timeoutMs = parseDuration(timeout, '--approve-timeout');
  if (!(timeoutMs > 0)) throw new UsageError('--approve-timeout must be longer than 0');
  return { command, timeoutMs };
}

/** The part of `agent-os-sandbox/mcp` this needs (src/ cannot import host-adapters/). */
export interface ApproverModule {
  commandApprover(command: readonly string[], options: { timeoutMs?: number; log?: (line: string) => void }): (request: never, context: never) => Promise<unknown>;
}

/** The `approve` option for serveStdio / serveHttp, or none. */
export function approveOption(mcp: ApproverModule, flags: ApproveFlags | undefined, log: (line: string) => void): { approve?: ReturnType<ApproverModule['commandApprover']> } {
  if (!flags) return {};
  return { approve: mcp.commandApprover(flags.command, { ...(flags.timeoutMs !== undefined ? { timeoutMs: flags.timeoutMs } : {}), log }) };
}
