/**
 * `agent-os:sandbox/log`: structured logging. Always allowed; records are capped per run
 * (`maxLogRecords`, then dropped and counted) and each message is capped at 16 KiB with a
 * visible truncation marker.
 */
import type { HostContext } from './context.js';

const MAX_MESSAGE = 16 * 1024;
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error']);

/** Build the `agent-os:sandbox/log` import; `reset()` starts a new run's budget. */
export function logImports(ctx: HostContext): { imports: Record<string, Record<string, unknown>>; reset(): number } {
  let records = 0;
  let dropped = 0;
  const imports = {
    'agent-os:sandbox/log': {
      emit(level: string, message: string): void {
        if (records >= ctx.caps.maxLogRecords) {
          dropped++;
          return;
        }
        records++;
        const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…[truncated ${message.length - MAX_MESSAGE} chars]` : message;
        ctx.emit({
          kind: 'log',
          event: { time: Date.now(), agentId: ctx.agentId, stream: 'log', level: (LEVELS.has(level) ? level : 'info') as 'info', message: text },
        });
      },
    },
  };
  return {
    imports,
    reset() {
      const d = dropped;
      records = 0;
      dropped = 0;
      return d;
    },
  };
}
