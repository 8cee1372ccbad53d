/**
 * The one pass over a log's records that feeds the facts (facts.ts), on the blocks the chain's
 * verification reads (`VerifyOptions.onBlock`):
 * blocks outside the period are skipped from their header, and no leaf hash is recomputed nor
 * field checked — the chain's verification, which every report includes, checks every record.
 *
 * Most records are plain access decisions. Those are read without parsing: a stored record is
 * canonical JSON, in which a quote inside a string value is always escaped, so `"eventType":"`
 * or `"outcome":"` can only be the keys themselves. A decision whose record mentions a data
 * policy (`"data:`) or a refusal for want of the log (`AUDIT_UNAVAILABLE`) — the cases the facts
 * need more of — and every other kind of record are parsed in full. The fast path is a quarter
 * of the parse's cost, which keeps a report within a small factor of the verification.
 */
import { blockEntries, blockHeader } from '../audit/block.js';
import type { AuditRecord } from '../audit/record.js';
import { addPlainDecision, addRecord, type AuditFacts } from './facts.js';

const utf8 = new TextDecoder();

/** The whole number after `"key":` in `text`, or NaN. */
function intAfter(text: string, key: string): number {
  const i = text.indexOf(key);
  if (i < 0) return NaN;
  let n = 0;
  let j = i + key.length;
  const start = j;
  for (let c = text.charCodeAt(j); c >= 48 && c <= 57; c = text.charCodeAt(++j)) n = n * 10 + (c - 48);
  return j === start ? NaN : n;
}

/** The string value after `"key":"` (a value without escapes: an enum), or undefined. */
function enumAfter(text: string, key: string): string | undefined {
  const i = text.indexOf(key);
  if (i < 0) return undefined;
  const end = text.indexOf('"', i + key.length);
  return end < 0 ? undefined : text.slice(i + key.length, end);
}

/**
 * Read a plain decision without parsing; false when the record needs the full parse (another
 * kind, a data policy, a refusal for want of the log, or a shape not recognized).
 */
function plainDecision(f: AuditFacts, text: string, seq: number): boolean {
  const type = enumAfter(text, '"eventType":"');
  if (type !== 'capability_used' && type !== 'capability_denied') return false;
  if (text.includes('"data:') || text.includes('AUDIT_UNAVAILABLE')) return false;
  if (intAfter(text, '"seq":') !== seq) return false;
  const time = intAfter(text, '"timestamp":');
  const outcome = enumAfter(text, '"outcome":"');
  if (!Number.isSafeInteger(time) || outcome === undefined) return false;
  if (time >= f.since && time < f.until) addPlainDecision(f, seq, time, outcome === 'success', text.includes('"capability":"network_access"'));
  return true;
}

/** Add the records of one block that fall in the facts' period (and whose seq is below `end`). */
export function scanBlock(f: AuditFacts, firstSeq: number, block: Uint8Array, end = Infinity): void {
  if (firstSeq >= end) return;
  let entries;
  try {
    const h = blockHeader(block);
    if (h.maxTs < f.since || h.minTs >= f.until) return;
    entries = blockEntries(block);
  } catch {
    return;
  }
  for (let i = 0; i < entries.length && firstSeq + i < end; i++) {
    const text = utf8.decode(entries[i]!.input.subarray(1));
    if (plainDecision(f, text, firstSeq + i)) continue;
    let r: AuditRecord;
    try {
      r = JSON.parse(text) as AuditRecord;
    } catch {
      continue;
    }
    if (typeof r !== 'object' || r === null || r.seq !== firstSeq + i || typeof r.timestamp !== 'number' || r.timestamp < f.since || r.timestamp >= f.until) continue;
    addRecord(f, r);
  }
}
