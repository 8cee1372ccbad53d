/**
 * `wasi:cli/*`: environment, exit, stdio and terminals.
 *
 * - environment: only the names the policy allows (`env.allow`, `env.set`); no arguments; no cwd.
 * - stdin: always empty.
 * - stdout / stderr: captured up to `maxOutputBytes` in total, split into lines, and emitted as
 *   log events; past the cap the instance traps with `QUOTA_EXCEEDED`.
 * - terminals: none (every `get-terminal-*` returns none).
 */
import { ExitTrap, LimitTrap, type HostContext } from './context.js';
import { emptySource, InputStream, OutputStream, type ByteSink } from './io.js';

const MAX_LINE = 16 * 1024;

function stdioSink(ctx: HostContext, stream: 'stdout' | 'stderr', budget: { used: number }): ByteSink {
  const decoder = new TextDecoder('utf-8', { fatal: false });
  let pending = '';
  const emitLine = (line: string) =>
    ctx.emit({
      kind: 'log',
      event: { time: Date.now(), agentId: ctx.agentId, stream, level: stream === 'stderr' ? 'warn' : 'info', message: line },
    });
  return {
    capacity: () => Math.max(0, ctx.caps.maxOutputBytes - budget.used) || 4096,
    write(bytes) {
      budget.used += bytes.length;
      if (budget.used > ctx.caps.maxOutputBytes) {
        throw new LimitTrap('QUOTA_EXCEEDED', `agent wrote more than ${ctx.caps.maxOutputBytes} bytes to stdout/stderr; raise resourceLimits.maxOutputBytes`, {
          limit: 'maxOutputBytes',
          allowed: ctx.caps.maxOutputBytes,
          requested: budget.used,
        });
      }
      pending += decoder.decode(bytes, { stream: true });
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        emitLine(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      if (pending.length > MAX_LINE) {
        emitLine(pending);
        pending = '';
      }
      return undefined;
    },
    flush() {
      return undefined;
    },
    close() {
      if (pending) emitLine(pending);
      pending = '';
    },
  };
}

/** A stdio pair for one run; `end()` flushes partial lines. */
export interface Stdio {
  readonly stdout: () => OutputStream;
  readonly stderr: () => OutputStream;
  end(): void;
}

function makeStdio(ctx: HostContext): Stdio {
  const budget = { used: 0 };
  const out = stdioSink(ctx, 'stdout', budget);
  const errSink = stdioSink(ctx, 'stderr', budget);
  return {
    // A new resource per get-stdout call: the guest owns and drops it, the sink lives on.
    stdout: () => new OutputStream({ ...out, close: undefined }),
    stderr: () => new OutputStream({ ...errSink, close: undefined }),
    end() {
      out.close?.();
      errSink.close?.();
      budget.used = 0;
    },
  };
}

class TerminalInput {}
class TerminalOutput {}

/** Build the `wasi:cli/*` imports. Returns the stdio handle so the engine can end a run. */
export function cliImports(ctx: HostContext): { imports: Record<string, Record<string, unknown>>; stdio: Stdio } {
  const stdio = makeStdio(ctx);
  const imports = {
    'wasi:cli/environment': {
      getEnvironment(): [string, string][] {
        const out: [string, string][] = [];
        for (const [k, v] of ctx.env) {
          if (ctx.gate.env(k, 'wasi:cli/environment#get-environment').allowed) out.push([k, v]);
        }
        return out;
      },
      getArguments: (): string[] => [],
      initialCwd: (): string | undefined => undefined,
    },
    'wasi:cli/exit': {
      exit(status: { tag: 'ok' | 'err' }): never {
        throw new ExitTrap(status.tag === 'ok' ? 0 : 1);
      },
      exitWithCode(code: number): never {
        throw new ExitTrap(code);
      },
    },
    'wasi:cli/stdin': { getStdin: () => new InputStream(emptySource) },
    'wasi:cli/stdout': { getStdout: stdio.stdout },
    'wasi:cli/stderr': { getStderr: stdio.stderr },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
  };
  return { imports, stdio };
}

