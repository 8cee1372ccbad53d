/**
 * Signed compliance reports (`agentos compliance report`): an assessment whose every evidence
 * record carries an RFC 6962 inclusion proof against a checkpoint signed for the report, the
 * whole signed with the audit log's own key. Format `agentos-compliance-report/1`:
 *
 *     { format, assessment, log: { logId, publicKey }, checkpoint, proofs: [{ seq, leafHash, path }], signature }
 *
 * `signature`: Ed25519 over `agentos-compliance-report/v1\n` + the canonical JSON (canonical.ts)
 * of the report without `signature`. An auditor checks it offline with verify.ts against an
 * export of the log (`agentos audit export`), which holds the records themselves.
 */
import { sign } from 'node:crypto';
import { signCheckpoint, type Checkpoint } from '../audit/checkpoint.js';
import { readLogKey } from '../audit/export.js';
import { fromHex, toHex } from '../audit/hash.js';
import { inclusionPath } from '../audit/merkle.js';
import { openAuditReader } from '../audit/reader.js';
import { SandboxError } from '../errors.js';
import { assessFramework, gatherFrom, type ComplianceAssessment, type GatherOptions } from './assess.js';
import { canonicalJson } from './canonical.js';
import type { ComplianceFramework } from './types.js';

export const REPORT_FORMAT = 'agentos-compliance-report/1';
export const REPORT_DOMAIN = 'agentos-compliance-report/v1';

/** The inclusion proof of one evidence record in the report's checkpoint. */
export interface EvidenceProof {
  readonly seq: number;
  readonly leafHash: string;
  readonly path: readonly string[];
}

export interface ComplianceReport {
  readonly format: typeof REPORT_FORMAT;
  readonly assessment: ComplianceAssessment;
  readonly log: { readonly logId: string; readonly publicKey: string };
  /** Signed at the log's size when the report was made; absent when the log did not verify. */
  readonly checkpoint?: Checkpoint;
  readonly proofs: readonly EvidenceProof[];
  readonly signature: string;
}

/** The bytes the report's signature covers. */
export function reportMessage(report: Omit<ComplianceReport, 'signature'>): Buffer {
  return Buffer.from(`${REPORT_DOMAIN}\n${canonicalJson(report)}`);
}

/** Every audit record the assessment cites as evidence, ascending. */
export function evidenceSeqs(a: ComplianceAssessment): number[] {
  const seqs = new Set<number>();
  for (const r of a.requirements) for (const c of r.controls) for (const e of c.evidence) if (e.kind === 'records') for (const s of e.seqs) seqs.add(s);
  return [...seqs].sort((x, y) => x - y);
}

/**
 * Assess `framework` over the audit directory `o.audit` and sign the result. Needs the log's
 * key (`log-key.pem` in the audit directory).
 *
 * @throws {SandboxError} `AUDIT_UNAVAILABLE` when there is no log there or its key cannot be read.
 */
export async function generateReport(framework: ComplianceFramework, o: GatherOptions): Promise<ComplianceReport> {
  const reader = await openAuditReader(o.audit);
  try {
    const key = await readLogKey(o.audit);
    if (!key || key.logId !== reader.logId) throw new SandboxError('AUDIT_UNAVAILABLE', `${o.audit}/log-key.pem is missing, unreadable or not the key of this log: the report cannot be signed`, { dir: o.audit });
    const ctx = await gatherFrom(reader, framework, o);
    const assessment = assessFramework(framework, ctx);
    const v = ctx.verification!;
    let checkpoint: Checkpoint | undefined;
    const proofs: EvidenceProof[] = [];
    // A log that does not verify gets no checkpoint: the report then proves nothing, and says so.
    if (v.ok && v.size > 0) {
      const src = reader.source;
      checkpoint = signCheckpoint(key, { size: v.size, rootHash: fromHex(v.rootHash), lastHash: await src.leaf(v.size - 1), timestamp: ctx.now });
      for (const seq of evidenceSeqs(assessment)) {
        if (seq < reader.base || seq >= v.size) continue;
        proofs.push({ seq, leafHash: toHex(await src.leaf(seq)), path: (await inclusionPath(src, seq, v.size)).map(toHex) });
      }
    }
    const body = { format: REPORT_FORMAT, assessment, log: { logId: reader.logId, publicKey: toHex(reader.publicKey) }, ...(checkpoint ? { checkpoint } : {}), proofs } as const;
    return { ...body, signature: sign(null, reportMessage(body), key.privateKey).toString('base64') };
  } finally {
    await reader.close();
  }
}
