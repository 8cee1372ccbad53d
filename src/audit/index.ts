/**
 * The audit log's public surface: the chain, verification of a directory or an export,
 * queries, proofs and retention.
 *
 * @example
 * ```ts
 * import { verifyAuditLog, queryAuditLog } from 'agent-os-sandbox';
 * const report = await verifyAuditLog('.agentos/audit', { witness: '/mnt/witness' });
 * if (!report.ok) console.error(report.firstBad, report.problems);
 * for await (const r of queryAuditLog('.agentos/audit', { outcome: 'blocked', since: Date.now() - 3600_000 })) console.log(r.seq, r.resource);
 * ```
 */
import { verifyExport, type VerifyExportOptions } from './export.js';
import { queryRecords, type AuditQuery } from './query.js';
import { openAuditReader } from './reader.js';
import type { AuditRecord } from './record.js';
import { verifyStore, type VerifyOptions, type VerifyReport } from './verify.js';

/**
 * Verify the audit log in `dir` (a snapshot of it: works while a sandbox writes it). Never
 * throws for a damaged log — `ok` is false and `problems` say what is wrong, `firstBad` where;
 * throws `AUDIT_UNAVAILABLE` when there is no log there or it cannot be read at all.
 */
export async function verifyAuditLog(dir: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const reader = await openAuditReader(dir);
  try {
    return await verifyStore(reader.store, options);
  } finally {
    await reader.close();
  }
}

/** Verify an exported file (`agentos audit export`) offline. */
export function verifyAuditExport(file: string, options: VerifyExportOptions = {}): Promise<VerifyReport> {
  return verifyExport(file, options);
}

/** The records of the log in `dir` that match `query` (a snapshot of it), oldest first unless `reverse`. */
export async function* queryAuditLog(dir: string, query: AuditQuery = {}): AsyncGenerator<AuditRecord> {
  const reader = await openAuditReader(dir);
  try {
    yield* queryRecords(reader.store, query);
  } finally {
    await reader.close();
  }
}

export { AuditChain, checkInclusionProof, checkConsistencyProof } from './chain.js';
export type { AuditChainOptions, AppendReceipt, InclusionProof, ConsistencyProof, AuditChainEvents } from './chain.js';
export { verifyCheckpoint } from './checkpoint.js';
export type { Checkpoint } from './checkpoint.js';
export { pruneChain as pruneAuditLog } from './retention.js';
export type { PruneOptions, PruneResult } from './retention.js';
export { EVENT_TYPES } from './record.js';
export type { AuditRecord, AuditRecordInput, EventType, Severity, Outcome as RecordOutcome, Provenance } from './record.js';
export type { AuditQuery } from './query.js';
export type { VerifyOptions, VerifyReport } from './verify.js';
export type { VerifyExportOptions } from './export.js';
export type { Problem, ProblemCode } from './verifier.js';
