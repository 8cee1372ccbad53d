/**
 * Check a compliance report offline (`agentos compliance verify REPORT --export FILE`): the
 * report's signature, its checkpoint's signature, the export's own chain, and for every
 * evidence record the export's bytes of that record against the report's inclusion proof.
 * Any altered record, report or checkpoint, or a checkpoint of another log, fails it. The key
 * trusted is the one given, else the export's (its log id is the hash of that key).
 */
import { verify as verifySignature } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { logIdOf, publicKeyObject, verifyCheckpoint } from '../audit/checkpoint.js';
import { verifyExport } from '../audit/export.js';
import { BAD_LINE, exportLines } from '../audit/export-lines.js';
import { equalBytes, fromHex, isHashHex, leafHash, toHex } from '../audit/hash.js';
import { checkInclusionProof } from '../audit/proofs.js';
import { evidenceSeqs, REPORT_FORMAT, reportMessage, type ComplianceReport } from './report.js';

export interface ReportVerification {
  readonly ok: boolean;
  readonly problems: readonly string[];
  /** Evidence records whose proof was checked against the export. */
  readonly recordsChecked: number;
  readonly logId: string;
  readonly framework: string;
}

export interface VerifyReportOptions {
  /** The export of the log (`agentos audit export`) holding the evidence records. */
  readonly exportFile: string;
  /** The log's public key (raw 32 bytes) to trust; default the export's. */
  readonly publicKey?: Uint8Array;
}

/** The export's header line (its first), parsed; empty when it is not JSON. */
async function exportHeader(file: string): Promise<Record<string, unknown>> {
  try {
    for await (const l of exportLines(file)) return l === BAD_LINE ? {} : (JSON.parse(l) as Record<string, unknown>);
  } catch {
    // not JSON, or not readable: no header
  }
  return {};
}

/** Verify a report file; never throws for bad data (it is a problem in the result). */
export async function verifyReportFile(reportFile: string, o: VerifyReportOptions): Promise<ReportVerification> {
  const problems: string[] = [];
  let report: ComplianceReport;
  try {
    report = JSON.parse(await readFile(reportFile, 'utf8')) as ComplianceReport;
  } catch (e) {
    return { ok: false, problems: [`${reportFile} is not a report: ${(e as Error).message}`], recordsChecked: 0, logId: '', framework: '' };
  }
  const done = (checked: number): ReportVerification => ({ ok: problems.length === 0, problems, recordsChecked: checked, logId: String(report.log?.logId ?? ''), framework: String(report.assessment?.frameworkId ?? '') });
  if (report?.format !== REPORT_FORMAT || typeof report.signature !== 'string' || !report.assessment || !report.log || !Array.isArray(report.proofs)) {
    problems.push(`not an ${REPORT_FORMAT} report`);
    return done(0);
  }
  const seqs = evidenceSeqs(report.assessment);
  const header = await exportHeader(o.exportFile);
  const exportKey = isHashHex(header['publicKey']) ? fromHex(header['publicKey']) : undefined;
  const key = o.publicKey ?? exportKey;
  if (!key) {
    problems.push(`${o.exportFile} is not an audit export (no public key in its header), and no key was given`);
    return done(0);
  }
  const logId = logIdOf(key);
  if (report.log.logId !== logId || !isHashHex(report.log.publicKey) || !equalBytes(fromHex(report.log.publicKey), key)) problems.push(`the report is about log ${String(report.log.logId).slice(0, 16)}…, not the trusted log ${logId.slice(0, 16)}…`);
  // 1. The report itself.
  const { signature, ...body } = report;
  let signed = false;
  try {
    signed = verifySignature(null, reportMessage(body), publicKeyObject(key), Buffer.from(signature, 'base64'));
  } catch {
    signed = false;
  }
  if (!signed) problems.push("the report's signature does not verify under the log's key: the report was altered or signed by another key");
  // 2. Its checkpoint.
  const cp = report.checkpoint;
  if (!cp) {
    problems.push('the report carries no checkpoint: the log did not verify when it was made, so none of its evidence is proven');
    return done(0);
  }
  const c = verifyCheckpoint(cp, key);
  if (!c.ok) problems.push(`the report's checkpoint: ${c.reason}`);
  // 3. The export's own chain (its records are what the proofs are checked against), keeping
  // the evidence records' lines as it reads them.
  const wanted = new Set(seqs);
  const lines = new Map<number, string>();
  const ex = await verifyExport(o.exportFile, { publicKey: key, onRecord: (seq, line) => void (wanted.has(seq) && lines.set(seq, line)) });
  if (!ex.ok) problems.push(`the export does not verify: ${ex.problems.map((p) => p.message).slice(0, 3).join('; ')}`);
  // 4. Every evidence record: in the export, hashing to its proof's leaf, proven in the checkpoint.
  const proofs = new Map(report.proofs.map((p) => [p.seq, p]));
  let checked = 0;
  for (const seq of seqs) {
    const p = proofs.get(seq);
    if (!p) {
      problems.push(`evidence record ${seq} has no inclusion proof in the report`);
      continue;
    }
    const line = lines.get(seq);
    if (line === undefined) {
      problems.push(`evidence record ${seq} is not in the export (export it with --from/--to covering it)`);
      continue;
    }
    if (toHex(leafHash(Buffer.from(line))) !== p.leafHash) problems.push(`evidence record ${seq} in the export is not the record the report proves (altered)`);
    else if (!checkInclusionProof({ logId, seq, size: cp.size, leafHash: p.leafHash, rootHash: cp.rootHash, path: p.path })) problems.push(`the inclusion proof of record ${seq} does not lead to the checkpoint's root`);
    else checked++;
  }
  return done(checked);
}
