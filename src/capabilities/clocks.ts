/**
 * `wasi:clocks/*`: allowed for every agent. Reads are counted (summarized in the audit trail
 * per run) rather than recorded one by one.
 */
import type { HostContext } from './context.js';
import { Pollable, TimerWaitable } from './io.js';

const origin = process.hrtime.bigint();

/** Build the `wasi:clocks/*` imports. */
export function clockImports(ctx: HostContext): Record<string, Record<string, unknown>> {
  return {
    'wasi:clocks/monotonic-clock': {
      now(): bigint {
        ctx.count('wasi:clocks/monotonic-clock#now');
        return process.hrtime.bigint() - origin;
      },
      resolution: (): bigint => 1n,
      subscribeInstant(when: bigint): Pollable {
        ctx.count('wasi:clocks/monotonic-clock#subscribe-instant');
        return new Pollable(new TimerWaitable(origin + when));
      },
      subscribeDuration(duration: bigint): Pollable {
        ctx.count('wasi:clocks/monotonic-clock#subscribe-duration');
        return new Pollable(new TimerWaitable(process.hrtime.bigint() + duration));
      },
    },
    'wasi:clocks/wall-clock': {
      now(): { seconds: bigint; nanoseconds: number } {
        ctx.count('wasi:clocks/wall-clock#now');
        const ms = Date.now();
        return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
      },
      resolution: () => ({ seconds: 0n, nanoseconds: 1_000_000 }),
    },
  };
}
