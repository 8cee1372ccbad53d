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
import { formatRecord, parseCount, parseTime } from './audit-format.js';

const FILTER_HELP = `Filters (combine with AND):
  --agent ID           records of one agent
  --type T[,T...]      event types (capability_used, capability_denied, agent_spawn, ...)
  --outcome O          success, failure or blocked
  --severity S         low, medium, high or critical
  --correlation ID     one run's records (its runId) or another correlation id
  --since TIME         at or after TIME: ISO date, ms since the epoch, or a duration ago (30m, 24h, 7d)
  --until TIME         before TIME
  --from SEQ           sequence numbers from SEQ
  --to SEQ             sequence numbers below SEQ`;

const QUERY_HELP = `Usage: agentos audit query [filters] [--limit N] [--reverse] [--dir DIR] [--json]

Print the records that match, oldest first (--reverse: newest first). --json prints one JSON
object per line.

${FILTER_HELP}`;

const TAIL_HELP = `Usage: agentos audit tail [-n N] [--follow] [--interval DURATION] [filters] [--dir DIR] [--json]

Print the last N records (default 20) that match; with --follow keep printing new ones as
they are written (checked every --interval, default 1s) until interrupted.

${FILTER_HELP}`;

const EXPORT_HELP = `Usage: agentos audit export [--out FILE] [--from SEQ] [--to SEQ] [--dir DIR]

Write records [from, to) as JSON Lines (format agentos-audit-export/1): a header with the log
id, public key and the chain state before 'from', each record exactly as it was hashed, and the
signed checkpoints in range plus one signed at 'to'. Check it anywhere with
'agentos audit verify --export FILE'. Without --out it writes to stdout.`;

const FILTER_OPTIONS = {
  agent: { type: 'string' },
  type: { type: 'string' },
  outcome: { type: 'string' },
  severity: { type: 'string' },
  correlation: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  dir: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function filters(v: Record<string, string | boolean | undefined>): AuditQuery {
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const outcome = s('outcome');
  if (outcome !== undefined && !['success', 'failure', 'blocked'].includes(outcome)) throw new UsageError(`--outcome ${JSON.stringify(outcome)}: use success, failure or blocked`);
  const severity = s('severity');
  if (severity !== undefined && !['low', 'medium', 'high', 'critical'].includes(severity)) throw new UsageError(`--severity ${JSON.stringify(severity)}: use low, medium, high or critical`);
  return {
    ...(s('agent') !== undefined ? { agentId: s('agent')! } : {}),
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
  const { values, positionals } = parse(argv, { ...FILTER_OPTIONS, limit: { type: 'string' }, reverse: { type: 'boolean' } }, 'audit query');
  if (values.help) {
    process.stdout.write(QUERY_HELP + '\n');
    return 0;
  }
  noPositionals(positionals, 'query');
  const q: AuditQuery = { ...filters(values), ...(values.limit !== undefined ? { limit: parseCount(values.limit, '--limit') } : {}), reverse: values.reverse ?? false };
  const reader = await openAuditReader(values.dir ?? DEFAULT_AUDIT_DIR);
  try {
    for await (const r of queryRecords(reader.store, q)) show(r, values.json ?? false);
  } finally {
    await reader.close();
  }
  return 0;
}

/** `agentos audit tail`. */
export async function tailCommand(argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(
    argv,
    { ...FILTER_OPTIONS, lines: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' }, interval: { type: 'string' } },
    'audit tail',
  );
  if (values.help) {
    process.stdout.write(TAIL_HELP + '\n');
    return 0;
  }
  noPositionals(positionals, 'tail');
  const n = values.lines !== undefined ? parseCount(values.lines, '-n') : 20;
  const interval = values.interval !== undefined ? parseDuration(values.interval, '--interval') : 1000;
  const q = filters(values);
  const dir = values.dir ?? DEFAULT_AUDIT_DIR;
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
  const { values, positionals } = parse(
    argv,
    { dir: { type: 'string' }, out: { type: 'string', short: 'o' }, from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    'audit export',
  );
  if (values.help) {
    process.stdout.write(EXPORT_HELP + '\n');
    return 0;
  }
  noPositionals(positionals, 'export');
  const reader = await openAuditReader(values.dir ?? DEFAULT_AUDIT_DIR);
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
