/**
 * Quotas and rates (the seeds' `ResourceQuota` and `AgentCapabilityPolicy`): what one agent may
 * use per window, kept in a shared ledger so that the count survives the agent's instance being
 * replaced (after a trap or a limit) and no agent's use touches another's.
 *
 * Outcome of every quota: *refuse* — the call that would exceed it fails with the interface's
 * own error (`quota` for files, `connection-limit-reached` for HTTP, `denied` for tools,
 * `access` otherwise), the gate records a `limit_exceeded` event naming the limit, what was
 * asked and what is allowed, and the agent keeps running.
 *
 * @example
 * ```ts
 * const q = quotaPolicyOf(policy, agentId);
 * const shared = QuotaLedger.allocate(q);          // host side, once per agent
 * const ledger = new QuotaLedger(shared, q);       // in the agent's worker
 * ledger.take('tool:search', 1, 50, HOUR);         // undefined, or what was exceeded
 * ```
 */
import type { AuthzModel } from '../authz/types.js';

/** One hour in milliseconds (the seeds' per-hour limits). */
export const HOUR = 3_600_000;

/** The quotas of one agent; absent fields are unlimited. */
export interface QuotaPolicy {
  /** Outgoing HTTP requests in flight at once. */
  readonly maxConnections?: number;
  /** Request plus response body bytes per hour. */
  readonly dataTransferLimit?: number;
  /** Calls per hour, by tool name. */
  readonly toolUsage?: Readonly<Record<string, number>>;
  /** Bytes of files under each writable mount. */
  readonly diskQuota?: number;
  /** Files, directories and links under each writable mount. */
  readonly maxFiles?: number;
  /** Calls per window, by capability (`read_files`, `network_access`, `execute_tools`, …). */
  readonly rates?: Readonly<Record<string, { readonly calls: number; readonly perMs: number }>>;
}

/** What a refused call exceeded. */
export interface QuotaExceeded {
  /** The limit's name as in the policy, e.g. `networkRules.dataTransferLimit`. */
  readonly limit: string;
  /** How much the call asked for. */
  readonly requested: number;
  /** The limit. */
  readonly allowed: number;
  /** Already used in the current window. */
  readonly used: number;
  /** The window, when the limit is per window. */
  readonly windowMs?: number;
}

const minOf = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

/** The sandbox policy fields quotas come from. */
export interface QuotaSources {
  readonly networkRules?: { readonly maxConnections?: number | undefined; readonly dataTransferLimit?: number | undefined } | undefined;
  readonly toolAccess?: { readonly usageLimits?: Readonly<Record<string, number>> | undefined } | undefined;
  readonly resourceLimits?: { readonly diskQuota?: number | undefined; readonly maxFiles?: number | undefined } | undefined;
  readonly rateLimits?: Readonly<Record<string, { readonly calls: number; readonly per: number }>> | undefined;
  readonly agent?: { readonly type?: string | undefined } | undefined;
  readonly authz?: AuthzModel | undefined;
}

/**
 * An agent's quotas: the policy's own fields combined with every active capability policy
 * that applies to the agent (by type or instance id); where several set a limit, the
 * smallest wins.
 */
export function quotaPolicyOf(p: QuotaSources, agentId: string, now = Date.now()): QuotaPolicy {
  let maxConnections = p.networkRules?.maxConnections;
  let dataTransferLimit = p.networkRules?.dataTransferLimit;
  const toolUsage: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const [k, v] of Object.entries(p.toolAccess?.usageLimits ?? {})) toolUsage[k] = v;
  for (const cp of p.authz?.capabilityPolicies ?? []) {
    if (cp.status !== 'active') continue;
    if (cp.agentType !== undefined && cp.agentType !== p.agent?.type) continue;
    if (cp.agentInstanceId !== undefined && cp.agentInstanceId !== agentId) continue;
    if ((cp.effectiveFrom !== undefined && now < cp.effectiveFrom) || (cp.effectiveTo !== undefined && now >= cp.effectiveTo)) continue;
    maxConnections = minOf(maxConnections, cp.networkRules?.maxConnections);
    dataTransferLimit = minOf(dataTransferLimit, cp.networkRules?.dataTransferLimit);
    for (const [k, v] of Object.entries(cp.usageLimits ?? {})) toolUsage[k] = minOf(toolUsage[k], v)!;
  }
  const rates: Record<string, { calls: number; perMs: number }> = Object.create(null) as Record<string, { calls: number; perMs: number }>;
  for (const [k, v] of Object.entries(p.rateLimits ?? {})) rates[k] = { calls: v.calls, perMs: v.per };
  return {
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    ...(dataTransferLimit !== undefined ? { dataTransferLimit } : {}),
    ...(Object.keys(toolUsage).length > 0 ? { toolUsage } : {}),
    ...(p.resourceLimits?.diskQuota !== undefined ? { diskQuota: p.resourceLimits.diskQuota } : {}),
    ...(p.resourceLimits?.maxFiles !== undefined ? { maxFiles: p.resourceLimits.maxFiles } : {}),
    ...(Object.keys(rates).length > 0 ? { rates } : {}),
  };
}

/** The counters a policy needs, in a fixed order (their slots in the ledger). */
function counters(q: QuotaPolicy): string[] {
  const names = ['net:bytes', 'net:conn'];
  for (const k of Object.keys(q.toolUsage ?? {}).sort()) names.push(`tool:${k}`);
  for (const k of Object.keys(q.rates ?? {}).sort()) names.push(`rate:${k}`);
  return names;
}

/**
 * Windowed counters and gauges in a `SharedArrayBuffer` (two float64 slots per counter: the
 * window's start and what was used in it). One agent's instances use its ledger one at a time,
 * so plain reads and writes suffice.
 */
export class QuotaLedger {
  private readonly slots: Float64Array;
  private readonly index = new Map<string, number>();

  constructor(
    shared: SharedArrayBuffer,
    /** The quotas this ledger enforces. */
    readonly policy: QuotaPolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.slots = new Float64Array(shared);
    counters(policy).forEach((n, i) => this.index.set(n, 2 * i));
    if (this.slots.length < 2 * this.index.size) throw new RangeError('quota ledger is too small for its policy');
  }

  /** A zeroed ledger for a policy. */
  static allocate(q: QuotaPolicy): SharedArrayBuffer {
    return new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT * 2 * counters(q).length);
  }

  private slot(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new RangeError(`no quota counter ${name}`);
    return i;
  }

  /** Used so far in the current window of counter `name`. */
  used(name: string, windowMs: number): number {
    const i = this.slot(name);
    if (this.now() - this.slots[i]! >= windowMs) return 0;
    return this.slots[i + 1]!;
  }

  /**
   * Take `amount` of counter `name` (`limit` per `windowMs`, a fixed window that starts with
   * its first use). Returns what was exceeded, taking nothing, when it would go over.
   */
  take(name: string, amount: number, limit: number, windowMs: number, label: string): QuotaExceeded | undefined {
    const i = this.slot(name);
    const t = this.now();
    if (t - this.slots[i]! >= windowMs) {
      this.slots[i] = t;
      this.slots[i + 1] = 0;
    }
    const used = this.slots[i + 1]!;
    if (used + amount > limit) return { limit: label, requested: amount, allowed: limit, used, windowMs };
    this.slots[i + 1] = used + amount;
    return undefined;
  }

  /** Add `amount` without a check (what was transferred after the fact). */
  add(name: string, amount: number, windowMs: number): void {
    const i = this.slot(name);
    const t = this.now();
    if (t - this.slots[i]! >= windowMs) {
      this.slots[i] = t;
      this.slots[i + 1] = 0;
    }
    this.slots[i + 1] = this.slots[i + 1]! + amount;
  }

  /** Every counter as it stands: when its window started (ms since the epoch) and what was used in it. */
  snapshot(): Record<string, { readonly windowStart: number; readonly used: number }> {
    const out: Record<string, { windowStart: number; used: number }> = {};
    for (const [name, i] of this.index) out[name] = { windowStart: this.slots[i]!, used: this.slots[i + 1]! };
    return out;
  }

  /** Change gauge `name` by `delta`; returns the new value. */
  gauge(name: string, delta: number): number {
    const i = this.slot(name) + 1;
    this.slots[i] = Math.max(0, this.slots[i]! + delta);
    return this.slots[i]!;
  }
}
