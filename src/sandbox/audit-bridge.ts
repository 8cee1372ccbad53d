/**
 * Between a sandbox and its audit chain: turns gate and lifecycle events into audit records,
 * opens the chain once for every agent of the sandbox, acknowledges durable records to the
 * agent workers, and fails closed when the chain fails.
 */
import { resolve } from 'node:path';
import { AuditChain, type AuditChainOptions } from '../audit/chain.js';
import type { AuditRecordInput, EventType, Outcome, Severity } from '../audit/record.js';
import { SandboxError, UsageError } from '../errors.js';
import type { AuditEvent } from '../gate/types.js';
import { AuditAck, type AuditWait } from '../engine/jco/core-types.js';
import type { RunProvenance } from './provenance.js';

/** Default audit directory (relative to the working directory). */
export const DEFAULT_AUDIT_DIR = '.agentos/audit';

/**
 * A run's opening record (see {@link AuditBridge.recordDeferred}) is written with the run's
 * next batch, when the run settles, or at the latest this long after it was queued (ms).
 */
export const RUN_RECORD_MAX_DELAY_MS = 10;

/**
 * Audit settings of a sandbox: where the chain lives and how it commits. Every field is
 * optional; `{}` means `.agentos/audit`, output-commit durability (`'commit'`), checkpoints
 * every 10,000 records or 5 s, no witness.
 */
export interface AuditSettings extends Omit<AuditChainOptions, 'durability'> {
  /** The audit directory. Default `.agentos/audit`. */
  readonly dir?: string;
  /**
   * When a gated call waits for its record to be on disk (fsynced, group-committed):
   * - `'commit'` (default, output commit): nothing leaves the sandbox before every record up to
   *   it is durable — an allowed file write, network connection or tool call waits for its
   *   record and all before it, and a run's output is returned only once every record so far is
   *   durable; decisions with no effect outside the sandbox (reads, stats, listings, the
   *   environment, clocks, denials) go on at once. A crash can lose only records of effects
   *   that never left.
   * - `'sync'`: every decision waits for its record.
   * - `'async'`: nothing waits, and records are written without fsync (a process kill loses
   *   nothing, an OS crash may lose the last batches).
   */
  readonly durability?: AuditDurability;
}

/** See {@link AuditSettings.durability}. */
export type AuditDurability = 'commit' | 'sync' | 'async';

function severityOf(e: AuditEvent): Severity | undefined {
  if (e.severity) return e.severity;
  const acts = e.actions ?? [];
  if (acts.some((a) => a.type === 'quarantine')) return 'critical';
  if (acts.some((a) => a.type === 'alert')) return 'high';
  return undefined;
}

function outcomeOf(e: AuditEvent): Outcome {
  if (e.type === 'agent_error' || e.type === 'authentication_failure') return 'failure';
  return e.outcome === 'allowed' ? 'success' : 'blocked';
}

function sourceOf(e: AuditEvent): string {
  switch (e.type) {
    case 'capability_used':
    case 'capability_denied':
    case 'usage_summary':
      return 'gate';
    case 'policy_updated':
    case 'policy_rejected':
      return 'policy';
    case 'authentication_success':
    case 'authentication_failure':
      return 'identity';
    default:
      return 'sandbox';
  }
}

/** The audit record of a gate or lifecycle event; `provenance` (who asked for the run) joins its details. */
export function recordOf(e: AuditEvent, correlationId: string | undefined, provenance?: RunProvenance): AuditRecordInput {
  const severity = severityOf(e);
  return {
    eventType: e.type as EventType,
    ...(severity ? { severity } : {}),
    agentId: e.agentId,
    source: sourceOf(e),
    action: e.action,
    resource: e.target,
    outcome: outcomeOf(e),
    timestamp: e.time,
    ...(correlationId !== undefined ? { provenance: { correlationId } } : {}),
    details: {
      capability: e.capability,
      kind: e.resource,
      api: e.api,
      reason: e.reason,
      ...(e.matched && e.matched.length > 0 ? { matched: e.matched } : {}),
      ...(e.count !== undefined ? { count: e.count } : {}),
      ...(e.actions && e.actions.length > 0 ? { actions: e.actions } : {}),
      ...(e.wouldDeny ? { wouldDeny: e.wouldDeny } : {}),
      // A limit's context goes under `limit`; other events' context joins the details.
      ...(e.details ? (e.type === 'limit_exceeded' ? { limit: e.details } : e.details) : {}),
      ...(provenance ? { provenance } : {}),
    },
  };
}

/**
 * Chains open in this process, by directory: LevelDB allows one opener per process, so
 * sandboxes that name the same directory share one chain (the first opener's settings apply);
 * the last to close it closes it.
 */
const shared = new Map<string, { chain: Promise<AuditChain>; refs: number }>();

function acquire(dir: string, options: AuditChainOptions): Promise<AuditChain> {
  const key = resolve(dir);
  let entry = shared.get(key);
  if (!entry) {
    entry = { chain: AuditChain.open(dir, options), refs: 0 };
    shared.set(key, entry);
    const e = entry;
    e.chain.catch(() => {
      if (shared.get(key) === e) shared.delete(key);
    });
  }
  entry.refs++;
  return entry.chain;
}

async function release(chain: AuditChain): Promise<void> {
  const key = resolve(chain.dir);
  const entry = shared.get(key);
  if (entry && --entry.refs > 0) return;
  shared.delete(key);
  await chain.close();
}

/** One per sandbox. */
export class AuditBridge {
  private chain: AuditChain | undefined;
  private opening: Promise<AuditChain | undefined> | undefined;
  private failure: SandboxError | undefined;
  private readonly cells = new Set<Int32Array>();
  /** Provenance of the runs under way, by run id (correlation id). */
  private readonly runs = new Map<string, RunProvenance>();
  /**
   * Told of every event as it is recorded, with its sequence number in the chain (undefined
   * when the audit is off or the record was refused): the monitor's stream.
   */
  observer: ((e: AuditEvent, seq: number | undefined) => void) | undefined;
  /** Told how long each acknowledged batch took from queued to durable (seconds): the metrics. */
  ackObserver: ((seconds: number) => void) | undefined;

  constructor(private readonly settings: AuditSettings | false) {
    const d = settings === false ? 'commit' : (settings.durability ?? 'commit');
    if (d !== 'commit' && d !== 'sync' && d !== 'async') throw new UsageError(`audit.durability must be 'commit', 'sync' or 'async', not ${JSON.stringify(d)}`);
  }

  /** Whether events are recorded in a chain at all. */
  get enabled(): boolean {
    return this.settings !== false;
  }

  /** The durability mode (see {@link AuditSettings.durability}); undefined when audit is off. */
  get durability(): AuditDurability | undefined {
    return this.settings === false ? undefined : (this.settings.durability ?? 'commit');
  }

  /** Whether records are fsynced before they are acknowledged ('commit' and 'sync'). */
  get waits(): boolean {
    const d = this.durability;
    return d === 'commit' || d === 'sync';
  }

  /**
   * The output barrier of output-commit durability: resolves once every record enqueued so far
   * is durable (at once with `'async'` or the audit off); rejects with `AUDIT_UNAVAILABLE` when
   * they never will be. A run's output is released only after it.
   */
  async outputBarrier(): Promise<void> {
    const chain = this.chain;
    if (!chain || !this.waits) return;
    if (this.failure) throw this.failure;
    if (chain.enqueued === 0) return;
    try {
      await chain.whenDurable(chain.enqueued - 1);
    } catch (err) {
      this.fail(err instanceof SandboxError ? err : new SandboxError('AUDIT_UNAVAILABLE', String(err)));
      throw this.failure;
    }
  }

  /** Why the audit log is unavailable, if it is. */
  get failed(): SandboxError | undefined {
    return this.failure ?? this.chain?.failed;
  }

  /**
   * Open the chain once (later calls share it, even after it failed: see `failed`). Throws
   * `AUDIT_UNAVAILABLE` when it cannot be opened.
   */
  async open(): Promise<AuditChain | undefined> {
    if (this.settings === false) return undefined;
    if (this.chain) return this.chain;
    if (this.failure) throw this.failure;
    const s = this.settings;
    const d = s.durability ?? 'commit';
    // The chain fsyncs for 'commit' and 'sync'; which calls wait for it is the sandbox's business.
    this.opening ??= acquire(s.dir ?? DEFAULT_AUDIT_DIR, { ...s, durability: d === 'async' ? 'async' : 'sync' }).then((c) => {
      this.chain = c;
      c.on('failed', (e) => this.fail(e));
      return c;
    });
    try {
      return await this.opening;
    } catch (e) {
      this.opening = undefined;
      throw e;
    }
  }

  /** The open chain, if any. */
  get current(): AuditChain | undefined {
    return this.chain;
  }

  private fail(e: SandboxError): void {
    this.failure ??= e;
    for (const cell of this.cells) {
      Atomics.store(cell, AuditAck.FAILED, 1);
      Atomics.notify(cell, AuditAck.ACKED);
    }
  }

  /**
   * Until the returned function is called, every record under `correlationId` (a run's id)
   * carries `provenance` in its details. Calling it (when the run has settled) also starts the
   * write of a deferred opening record ({@link recordDeferred}).
   */
  tagRun(correlationId: string, provenance: RunProvenance): () => void {
    this.runs.set(correlationId, provenance);
    return () => {
      this.runs.delete(correlationId);
      this.chain?.flushSoon();
    };
  }

  private provenanceOf(correlationId: string | undefined): RunProvenance | undefined {
    return correlationId === undefined || this.runs.size === 0 ? undefined : this.runs.get(correlationId);
  }

  /** Record a host-side event (no one waits for it); returns its sequence number, if recorded. */
  record(e: AuditEvent, correlationId: string | undefined): number | undefined {
    let seq: number | undefined;
    if (this.chain && !this.failed) {
      try {
        seq = this.chain.enqueue(recordOf(e, correlationId, this.provenanceOf(correlationId)));
      } catch (err) {
        this.fail(err instanceof SandboxError ? err : new SandboxError('AUDIT_UNAVAILABLE', `audit record refused: ${(err as Error).message}`));
      }
    }
    this.observer?.(e, seq);
    return seq;
  }

  /**
   * Record a host-side event no one waits for, such as the record a run opens with, without
   * starting a write for it now: it takes its place in the chain at once and is written with
   * the next batch (the run's first gate record, say), when the run's tag is removed
   * ({@link tagRun}), or after {@link RUN_RECORD_MAX_DELAY_MS}. So its encoding and write
   * happen after a short run's reply rather than while the reply is on its way.
   */
  recordDeferred(e: AuditEvent, correlationId: string | undefined): void {
    let seq: number | undefined;
    if (this.chain && !this.failed) {
      try {
        seq = this.chain.enqueueDeferred(recordOf(e, correlationId, this.provenanceOf(correlationId)), RUN_RECORD_MAX_DELAY_MS);
      } catch (err) {
        this.fail(err instanceof SandboxError ? err : new SandboxError('AUDIT_UNAVAILABLE', `audit record refused: ${(err as Error).message}`));
      }
    }
    this.observer?.(e, seq);
  }

  /**
   * Record a host-side event and resolve once it is durable when commits wait (`'sync'`), at
   * once otherwise (or when audit is off). Rejects with `AUDIT_UNAVAILABLE` when it never will be.
   */
  recordDurable(e: AuditEvent, correlationId: string | undefined): Promise<void> {
    const chain = this.chain;
    if (!chain) {
      this.observer?.(e, undefined);
      return Promise.resolve();
    }
    if (this.failure) return Promise.reject(this.failure);
    let seq: number;
    try {
      seq = chain.enqueue(recordOf(e, correlationId, this.provenanceOf(correlationId)));
    } catch (err) {
      this.fail(err instanceof SandboxError ? err : new SandboxError('AUDIT_UNAVAILABLE', `audit record refused: ${(err as Error).message}`));
      return Promise.reject(this.failure);
    }
    this.observer?.(e, seq);
    if (!this.waits) return Promise.resolve();
    return chain.whenDurable(seq).catch((err: unknown) => {
      this.fail(err instanceof SandboxError ? err : new SandboxError('AUDIT_UNAVAILABLE', String(err)));
      throw this.failure;
    });
  }

  /** A fresh acknowledgement cell for one instance (see `AuditAck`), or undefined when audit is off. */
  cell(): { shared: SharedArrayBuffer; wait: AuditWait } | undefined {
    if (!this.enabled) return undefined;
    const shared = new SharedArrayBuffer(AuditAck.BYTES);
    const cell = new Int32Array(shared);
    if (this.failed) Atomics.store(cell, AuditAck.FAILED, 1);
    this.cells.add(cell);
    const d = this.durability;
    return { shared, wait: d === 'sync' ? 'all' : d === 'commit' ? 'effects' : 'none' };
  }

  /** Stop tracking an instance's cell. */
  release(shared: SharedArrayBuffer | undefined): void {
    if (!shared) return;
    for (const c of this.cells) if (c.buffer === shared) this.cells.delete(c);
  }

  /**
   * Record a batch of an instance's audit events and acknowledge them (by count) once durable.
   * `acked` counts the instance's events across batches.
   */
  recordBatch(events: readonly AuditEvent[], correlationId: string | undefined, shared: SharedArrayBuffer | undefined, counter: { n: number }): void {
    if (events.length === 0) return;
    counter.n += events.length;
    const upTo = counter.n;
    const cell = shared ? new Int32Array(shared) : undefined;
    const chain = this.chain;
    const observer = this.observer;
    if (!chain || this.failed) {
      if (observer) for (const e of events) observer(e, undefined);
      if (cell && this.enabled) {
        Atomics.store(cell, AuditAck.FAILED, 1);
        Atomics.notify(cell, AuditAck.ACKED);
      }
      return;
    }
    let last = -1;
    const provenance = this.provenanceOf(correlationId);
    try {
      for (const e of events) {
        last = chain.enqueue(recordOf(e, correlationId, provenance));
        observer?.(e, last);
      }
    } catch (err) {
      this.fail(err instanceof SandboxError ? err : new SandboxError('AUDIT_UNAVAILABLE', `audit record refused: ${(err as Error).message}`));
      return;
    }
    if (!cell) return;
    const queued = performance.now();
    chain.whenDurable(last).then(
      () => {
        this.ackObserver?.((performance.now() - queued) / 1000);
        if (Atomics.load(cell, AuditAck.ACKED) < upTo) Atomics.store(cell, AuditAck.ACKED, upTo);
        Atomics.notify(cell, AuditAck.ACKED);
      },
      (err: unknown) => this.fail(err instanceof SandboxError ? err : new SandboxError('AUDIT_UNAVAILABLE', String(err))),
    );
  }

  /** Write what is queued, sign a final checkpoint, close the chain. */
  async close(): Promise<void> {
    const c = this.chain ?? (await this.opening?.catch(() => undefined));
    this.chain = undefined;
    this.opening = undefined;
    if (c) await release(c);
  }
}
