/**
 * Sweeping of a {@link KvStore}: the rules (a TTL passed, or an age past an autoDelete
 * retention) and a background sweeper, so that such values stop counting against quotas and
 * stop occupying disk.
 *
 * One sweep at a time: the next is scheduled when the previous ends (a slow sweep on a large
 * store never piles up behind itself), and the timer is unref'd so it never keeps a process alive.
 *
 * @example
 * ```ts
 * const sweeper = startKvSweeper(kv, { intervalMs: 60_000, onSwept: (gone) => audit(gone) });
 * // …
 * await sweeper.stop();
 * await kv.close();
 * ```
 */
import { UsageError } from '../errors.js';
import type { RecordHeader } from './protector.js';
import type { KvStore } from './store.js';

/** A retention rule for {@link KvStore.sweep}: values older than `ms` (since their last write) go when `autoDelete`. @example `{ ms: 30 * 86_400_000, autoDelete: true }` */
export interface KvRetention { readonly ms: number; readonly autoDelete: boolean }

/** What {@link KvStore.sweep} deleted, and why. @example `{ ns: 'agent-1', key: 'tmp/1', reason: 'ttl' }` */
export interface KvSweptEntry { readonly ns: string; readonly key: string; readonly reason: 'ttl' | 'retention' }

/** Whether a record's TTL has passed at `now`. @example `expired(AgentDataProtector.header(record), Date.now())` */
export const expired = (h: RecordHeader | undefined, now: number): boolean => h !== undefined && h.expiresAt !== 0 && now >= h.expiresAt;

/** Why a value is due for deletion at `now`, if it is: its TTL passed, or its age under an autoDelete rule. @example `dueReason(h, Date.now(), { ms: 1000, autoDelete: true })` */
export function dueReason(h: RecordHeader, now: number, rule: KvRetention | undefined): KvSweptEntry['reason'] | undefined {
  if (expired(h, now)) return 'ttl';
  if (rule?.autoDelete && now >= h.createdAt + rule.ms) return 'retention';
  return undefined;
}

/** What one sweep deleted. @example `[{ ns: 'agent-1', key: 'tmp/1', reason: 'ttl' }]` */
export type KvSwept = KvSweptEntry[];

/** Options of {@link startKvSweeper}. @example `{ intervalMs: 300_000, retention: () => ({ ms: 7 * 86_400_000, autoDelete: true }) }` */
export interface KvSweeperOptions {
  /** Pause between the end of a sweep and the start of the next. Default 60 000 ms. */
  readonly intervalMs?: number;
  /** The retention rule of a value (see {@link KvStore.sweep}). */
  readonly retention?: (ns: string, key: string) => KvRetention | undefined;
  /** Told what each sweep deleted (when it deleted anything), e.g. to audit it. */
  readonly onSwept?: (gone: KvSwept) => void;
  /** Told when a sweep fails; the sweeper carries on. Default: ignore (the next sweep retries). */
  readonly onError?: (e: unknown) => void;
}

/** A running sweeper. @example `await sweeper.sweepNow()` */
export interface KvSweeper {
  /** Sweep now (or join the sweep under way) and resolve with what it deleted. */
  sweepNow(): Promise<KvSwept>;
  /** Stop the timer and wait for a sweep under way. */
  stop(): Promise<void>;
}

/**
 * Start sweeping `store` every `intervalMs` (the first sweep after one interval).
 * @example `const s = startKvSweeper(kv, { retention: (ns) => policies.get(ns)?.retention })`
 */
export function startKvSweeper(store: Pick<KvStore, 'sweep'>, o: KvSweeperOptions = {}): KvSweeper {
  const intervalMs = o.intervalMs ?? 60_000;
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) throw new UsageError(`intervalMs must be a whole number of milliseconds ≥ 1, got ${String(intervalMs)}`);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<KvSwept> | undefined;
  let stopped = false;

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => void sweepNow().catch(() => undefined), intervalMs);
    timer.unref();
  };

  const sweepNow = (): Promise<KvSwept> => {
    if (running) return running;
    if (timer) clearTimeout(timer);
    timer = undefined;
    running = store
      .sweep(o.retention)
      .then(
        (gone) => {
          if (gone.length > 0) o.onSwept?.(gone);
          return gone;
        },
        (e: unknown) => {
          o.onError?.(e);
          throw e;
        },
      )
      .finally(() => {
        running = undefined;
        schedule();
      });
    return running;
  };

  schedule();
  return {
    sweepNow,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
  };
}
