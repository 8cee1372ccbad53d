/**
 * Text forms of audit records and reports for the terminal. Every string that an agent could
 * have influenced goes through `safeLine`, so ANSI escapes and other control characters are
 * shown escaped, never interpreted.
 */
import type { AuditRecord } from '../audit/record.js';
import type { VerifyReport } from '../audit/verify.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../util/units.js';

/**
 * One terminal line of untrusted text: every C0 and C1 control character (newline and tab
 * included, so a value cannot fake another line), DEL and the Unicode line/paragraph
 * separators are shown as \uXXXX escapes.
 */
export function safeLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One line per record: seq, time, type, outcome, severity, agent, action, resource, reason. */
export function formatRecord(r: AuditRecord): string {
  const reason = typeof r.details?.['reason'] === 'string' ? ` — ${r.details['reason']}` : '';
  const count = typeof r.details?.['count'] === 'number' ? ` ×${r.details['count']}` : '';
  return safeLine(
    `#${r.seq}  ${new Date(r.timestamp).toISOString()}  ${r.eventType}  ${r.outcome}  ${r.severity}  agent=${r.agentId || '-'}  ${r.action} ${r.resource}${count}${reason}`,
  );
}

/** A verification report for people. */
export function formatReport(r: VerifyReport, what: string): string {
  const lines: string[] = [];
  if (r.ok) {
    lines.push(`ok: ${what} is intact — ${r.base > 0 ? `records ${r.base}..${r.size - 1} (earlier ones pruned; verified from the signed anchor)` : `${r.size} records`}, ${r.checkpoints} signed checkpoint(s) match${r.trustedCheckpoints > 0 ? `, ${r.trustedCheckpoints} trusted checkpoint(s) match` : ''}`);
    lines.push(`log ${r.logId}`);
    lines.push(`root ${r.rootHash} at size ${r.size}`);
  } else {
    lines.push(`FAILED: ${what} does not verify${r.firstBad !== undefined ? `; first bad sequence number: ${r.firstBad}` : ''}`);
    for (const p of r.problems) lines.push(`  ${p.code}${p.seq !== undefined ? ` at ${p.seq}` : ''}: ${safeLine(p.message)}`);
    lines.push(`log ${r.logId || '(unknown)'}; ${r.size} record(s) checked before stopping`);
  }
  lines.push(`took ${r.durationMs.toFixed(0)} ms${r.size > 0 && r.durationMs > 0 ? ` (${Math.round((r.size - r.base) / (r.durationMs / 1000)).toLocaleString('en-US')} records/s)` : ''}`);
  return lines.join('\n');
}

/**
 * A point in time from the command line: an ISO 8601 date/time, milliseconds since the epoch,
 * or a duration meaning that long ago (`15m`, `24h`, `7d`).
 */
export function parseTime(text: string, flag: string, now = Date.now()): number {
  if (/^[0-9]{10,16}$/.test(text)) return Number(text);
  const d = /^([0-9]+)d$/.exec(text);
  if (d) return now - Number(d[1]) * 86_400_000;
  if (/^[0-9]+(ms|s|m|h)$/.test(text)) return now - parseDuration(text, flag);
  const t = Date.parse(text);
  if (!Number.isNaN(t) && /^[0-9]{4}-[0-9]{2}-[0-9]{2}/.test(text)) return t;
  throw new UsageError(`${flag} ${JSON.stringify(text)}: expected an ISO date (2026-11-29T10:00:00Z), milliseconds since the epoch, or a duration ago (30m, 24h, 7d)`);
}

/** A whole non-negative number from the command line. */
export function parseCount(text: string, flag: string): number {
  if (!/^[0-9]{1,15}$/.test(text)) throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a whole number`);
  return Number(text);
}
