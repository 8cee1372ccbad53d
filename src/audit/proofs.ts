/**
 * The proofs a chain hands out (`AuditChain.inclusionProof`, `consistencyProof`), as plain hex
 * data that can leave the process, and their checks, which need nothing but the proof and a
 * trusted root.
 */
import { fromHex } from './hash.js';
import { verifyConsistency, verifyInclusion } from './merkle.js';

/** An inclusion proof (hashes hex). */
export interface InclusionProof {
  readonly logId: string;
  readonly seq: number;
  readonly size: number;
  readonly leafHash: string;
  readonly rootHash: string;
  readonly path: readonly string[];
}

/** A consistency proof between two tree sizes (hashes hex). */
export interface ConsistencyProof {
  readonly logId: string;
  readonly from: number;
  readonly to: number;
  readonly fromRoot: string;
  readonly toRoot: string;
  readonly path: readonly string[];
}

/** Check an inclusion proof against a root (hex inputs). */
export function checkInclusionProof(p: InclusionProof, rootHash = p.rootHash): boolean {
  try {
    return verifyInclusion(p.seq, p.size, fromHex(p.leafHash), p.path.map(fromHex), fromHex(rootHash));
  } catch {
    return false;
  }
}

/** Check a consistency proof (hex inputs). */
export function checkConsistencyProof(p: ConsistencyProof): boolean {
  try {
    return verifyConsistency(p.from, p.to, fromHex(p.fromRoot), fromHex(p.toRoot), p.path.map(fromHex));
  } catch {
    return false;
  }
}
