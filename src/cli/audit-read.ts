/**
 * `agentos audit tail | query | export`: reading records.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { exportLog } from '../audit/export.js';
import { queryRecords, type AuditQuery } from '../audit/query.js';
import { openAuditReader } from '../audit/reader.js';
import type { AuditRecord } from '../audit/record.js';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';
import { UsageError } from '../errors.js';
import { parseDuration } from '../util/units.js';
import { parse, type ExitStatus } from './common.js';
import { FLAGS, flagLine, withAliases } from './flags.js';
import { formatRecord, parseCount, parseTime } from './audit-format.js';

/**
 * The options every `agentos audit` command takes. `--dir DIR` was audit's own name for the
 * directory that `agentos run --audit DIR` writes; it stays an alias.
 */
export const AUDIT_COMMON = { audit: withAliases(FLAGS.audit, 'dir'), json: FLAGS.json, help: FLAGS.help } as const;

/** The help lines of AUDIT_COMMON (`json`: what --json prints in that command), text at column `width`. */
export function commonHelp(json = 'print one JSON object', width = 19): string {
  return [flagLine(AUDIT_COMMON.audit, undefined, width), flagLine(AUDIT_COMMON.json, json, width), flagLine(AUDIT_COMMON.help, undefined, width)].join('\n');
}

const FILTER_OPTIONS = {
  ...AUDIT_COMMON,
  // --agent ID was the filter's first name; --agent-id is what token and ca call an agent's id.
  'agent-id': withAliases(FLAGS['agent-id'], 'agent'),
  type: { type: 'string' },
  outcome: { type: 'string' },
  severity: { type: 'string' },
  correlation: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
} as const;

const FILTER_HELP = `Filters (combine with AND):
${flagLine(FILTER_OPTIONS['agent-id'], 'records of one agent', 23)}
  --type T[,T...]      event types (capability_used, capability_denied, agent_spawn, ...)
  --outcome O          success, failure or blocked
  --severity S         low, medium, high or critical
  --correlation ID     one run's records (its runId) or another correlation id
  --since TIME         at or after TIME: ISO date, ms since the epoch, or a duration ago (30m, 24h, 7d)
  --until TIME         before TIME
  --from SEQ           sequence numbers from SEQ
  --to SEQ             sequence numbers below SEQ`;

/** The options of `agentos audit query`. */
export const QUERY_OPTIONS = { ...FILTER_OPTIONS, limit: { type: 'string' }, reverse: { type: 'boolean' } } as const;

const QUERY_HELP = `Usage: agentos audit query [filters] [--limit N] [--reverse] [--audit DIR] [--json]

Print the records that match, oldest first (--reverse: newest first). --json prints one JSON
object per line.

${FILTER_HELP}

Options:
  --limit N            at most N records
  --reverse            newest first
${commonHelp('print one JSON object per record (JSON Lines)', 23)}`;

/** The options of `agentos audit tail`. */
export const TAIL_OPTIONS = { ...FILTER_OPTIONS, lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' }, interval: { type: 'string' } } as const;

const TAIL_HELP = `Usage: agentos audit tail [-n N] [--follow] [--interval DURATION] [filters] [--audit DIR] [--json]

Print the last N records (default 20) that match; with --follow keep printing new ones as
they are written (checked every --interval, default 1s) until interrupted.

${FILTER_HELP}

Options:
${commonHelp('print one JSON object per record (JSON Lines)', 23)}`;

/** The options of `agentos audit export`. */
export const EXPORT_OPTIONS = { ...AUDIT_COMMON, out: FLAGS.out, from: { type: 'string' }, to: { type: 'string' } } as const;

const EXPORT_HELP = `Usage: agentos audit export [--out FILE] [--from SEQ] [--to SEQ] [--audit DIR] [--json]

Write records [from, to) as JSON Lines (format agentos-audit-export/1): a header with the log
id, public key and the chain state before 'from', each record exactly as it was hashed, and the
signed checkpoints in range plus one signed at 'to'. Check it anywhere with
'agentos audit verify --export FILE'. Without --out it writes to stdout.

Options:
${flagLine(EXPORT_OPTIONS.out, 'write the export to FILE (- or none: standard output)', 19)}
${commonHelp('with --out: print a summary as one JSON object')}`;

function filters(v: Record<string, string | boolean | undefined>): AuditQuery {
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const outcome = s('outcome');
  if (outcome !== undefined && !['success', 'failure', 'blocked'].includes(outcome)) throw new UsageError(`--outcome ${JSON.stringify(outcome)}: use success, failure or blocked`);
  const severity = s('severity');
  if (severity !== undefined && !['low', 'medium', 'high', 'critical'].includes(severity)) throw new UsageError(`--severity ${JSON.stringify(severity)}: use low, medium, high or critical`);
  return {
    ...(s('agent-id') !== undefined ? { agentId: s('agent-id')! } : {}),
    ...(s('type') !== undefined ? { eventType: s('type')!.split(',').map((t) => t.trim()) } : {}),
    ...(outcome !== undefined ? { outcome } : {}),
    ...(severity !== undefined ? { severity } : {}),
    ...(s('correlation') !== undefined ? { correlationId: s('correlation')! } : {}),
    ...(s('since') !== undefined ? { since: parseTime(s('since')!, '--since') } : {}),
    ...(s('until') !== undefined ? { until: parseTime(s('until')!, '--until') } : {}),
    ...(s('from') !== undefined ? { from: parseCount(s('from')!, '--from') } : {}),
    ...(s('to') !== undefined ? { to: parseCount(s('to')!, '--to') } : {}),
  };
}

function show(r: AuditRecord, json: boolean): void {
  process.stdout.write((json ? JSON.stringify(r) : formatRecord(r)) + '\n');
}

function noPositionals(p: string[], cmd: string): void {
  if (p.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(p[0])}; see \`agentos audit ${cmd} --help\``);
}

/** `agentos audit query`. */
export async function queryCommand(argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, QUERY_OPTIONS, 'audit query');
  if (values.help) {
    process.stdout.write(QUERY_HELP + '\n');
    return 0;
  }
  noPositionals(positionals, 'query');
  const q: AuditQuery = { ...filters(values), ...(values.limit !== undefined ? { limit: parseCount(values.limit, '--limit') } : {}), reverse: values.reverse ?? false };
  const reader = await openAuditReader(values.audit ?? DEFAULT_AUDIT_DIR);
  try {
    for await (const r of queryRecords(reader.store, q)) show(r, values.json ?? false);
  } finally {
    await reader.close();
  }
  return 0;
}

/** `agentos audit tail`. */
export async function tailCommand(argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, TAIL_OPTIONS, 'audit tail');
  if (values.help) {
    process.stdout.write(TAIL_HELP + '\n');
    return 0;
  }
  noPositionals(positionals, 'tail');
  const n = values.lines !== undefined ? parseCount(values.lines, '-n') : 20;
  const interval = values.interval !== undefined ? parseDuration(values.interval, '--interval') : 1000;
  const q = filters(values);
  const dir = values.audit ?? DEFAULT_AUDIT_DIR;
  const json = values.json ?? false;
  let next: number;
  {
    const reader = await openAuditReader(dir);
    try {
      const last: AuditRecord[] = [];
      if (n > 0) for await (const r of queryRecords(reader.store, { ...q, reverse: true, limit: n })) last.push(r);
      for (const r of last.reverse()) show(r, json);
      next = reader.head.size;
    } finally {
      await reader.close();
    }
  }
  if (!values.follow) return 0;
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  while (!stop) {
    await new Promise((r) => setTimeout(r, interval));
    if (stop) break;
    const reader = await openAuditReader(dir);
    try {
      if (reader.head.size > next) {
        for await (const r of queryRecords(reader.store, { ...q, from: Math.max(next, q.from ?? 0) })) show(r, json);
        next = reader.head.size;
      }
    } finally {
      await reader.close();
    }
  }
  return 0;
}

/** `agentos audit export`. */
export async function exportCommand(argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, EXPORT_OPTIONS, 'audit export');
  if (values.help) {
    process.stdout.write(EXPORT_HELP + '\n');
    return 0;
  }
  noPositionals(positionals, 'export');
  const reader = await openAuditReader(values.audit ?? DEFAULT_AUDIT_DIR);
  try {
    const toFile = values.out !== undefined && values.out !== '-';
    const out: Writable = toFile ? createWriteStream(values.out!) : process.stdout;
    const r = await exportLog(reader, out, {
      ...(values.from !== undefined ? { from: parseCount(values.from, '--from') } : {}),
      ...(values.to !== undefined ? { to: parseCount(values.to, '--to') } : {}),
    });
    if (toFile) {
      out.end();
      await once(out, 'finish');
      const summary = { ok: true, file: values.out, ...r };
      process.stdout.write((values.json ? JSON.stringify(summary) : `exported records ${r.from}..${r.to - 1} (${r.records}) and ${r.checkpoints} checkpoint(s) to ${values.out}`) + '\n');
    }
  } finally {
    await reader.close();
  }
  return 0;
}
