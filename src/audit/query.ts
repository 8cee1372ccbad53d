/**
 * Querying stored records: by agent, event type, outcome, time range, correlation id and
 * sequence range. Blocks whose time span misses the range are skipped from their header alone;
 * the rest are decoded record by record.
 *
 * @example
 * ```ts
 * for await (const r of queryRecords(reader.store, { agentId, outcome: 'blocked', since: Date.now() - 3600_000 })) …
 * ```
 */
import { blockEntries, blockHeader } from './block.js';
import type { AuditRecord } from './record.js';
import { entryRecord } from './source.js';
import type { AuditStore } from './store.js';

/** A query; every field is optional and they combine with AND. */
export interface AuditQuery {
  readonly agentId?: string;
  /** One type or several (any of them). */
  readonly eventType?: string | readonly string[];
  readonly outcome?: string;
  readonly severity?: string;
  readonly correlationId?: string;
  /** Records with timestamp ≥ since (ms since the epoch). */
  readonly since?: number;
  /** Records with timestamp < until. */
  readonly until?: number;
  /** Sequence numbers ≥ from. */
  readonly from?: number;
  /** Sequence numbers < to. */
  readonly to?: number;
  /** At most this many records. */
  readonly limit?: number;
  /** Newest first. */
  readonly reverse?: boolean;
}

/** Whether a record matches a query (ignoring limit/order). */
export function matches(r: AuditRecord, q: AuditQuery): boolean {
  if (q.agentId !== undefined && r.agentId !== q.agentId) return false;
  if (q.eventType !== undefined && (typeof q.eventType === 'string' ? r.eventType !== q.eventType : !q.eventType.includes(r.eventType))) return false;
  if (q.outcome !== undefined && r.outcome !== q.outcome) return false;
  if (q.severity !== undefined && r.severity !== q.severity) return false;
  if (q.correlationId !== undefined && r.provenance?.correlationId !== q.correlationId) return false;
  if (q.since !== undefined && r.timestamp < q.since) return false;
  if (q.until !== undefined && r.timestamp >= q.until) return false;
  if (q.from !== undefined && r.seq < q.from) return false;
  if (q.to !== undefined && r.seq >= q.to) return false;
  return true;
}

/** Records matching `q`, in sequence order (or reverse). Unparseable records are skipped (verify reports them). */
export async function* queryRecords(store: AuditStore, q: AuditQuery = {}): AsyncGenerator<AuditRecord> {
  let left = q.limit ?? Infinity;
  if (left <= 0) return;
  // Cheap byte-level prefilter for the most selective fields; matches() decides.
  const needles: Uint8Array[] = [];
  if (q.agentId !== undefined) needles.push(Buffer.from(`"agentId":${JSON.stringify(q.agentId)}`));
  if (q.correlationId !== undefined) needles.push(Buffer.from(`"correlationId":${JSON.stringify(q.correlationId)}`));
  const blocks = q.reverse ? store.blocks({ reverse: true, ...(q.to !== undefined ? { from: Math.max(0, q.to - 1) } : {}) }) : store.blocks(q.from !== undefined ? { from: q.from } : {});
  for await (const { firstSeq, block } of blocks) {
    let entries;
    try {
      const h = blockHeader(block);
      if (q.since !== undefined && h.maxTs < q.since) continue;
      if (q.until !== undefined && h.minTs >= q.until) continue;
      if (q.to !== undefined && !q.reverse && firstSeq >= q.to) return;
      if (q.from !== undefined && q.reverse && firstSeq + h.count <= q.from) return;
      entries = blockEntries(block);
    } catch {
      continue;
    }
    const order = q.reverse ? entries.map((_, i) => entries.length - 1 - i) : entries.map((_, i) => i);
    for (const i of order) {
      const e = entries[i]!;
      if (needles.length > 0) {
        const buf = Buffer.from(e.input.buffer, e.input.byteOffset, e.input.byteLength);
        if (needles.some((n) => buf.indexOf(n) < 0)) continue;
      }
      let r: AuditRecord;
      try {
        r = entryRecord(e);
      } catch {
        continue;
      }
      if (r.seq !== firstSeq + i || !matches(r, q)) continue;
      yield r;
      if (--left <= 0) return;
    }
  }
}
