/**
 * Section `compliance` of `npm run bench` (issue 17): the time and peak memory of a SOC 2
 * report (`agentos compliance report`: verification, one pass over the period's records,
 * proofs, signing) over logs of 100,000 and 1,000,000 records, beside `agentos audit verify`
 * of the same log; and `agentos compliance verify` of that report against an export, beside
 * `agentos audit verify --export` of the same export. Each figure is a fresh process (its
 * peak RSS is its own); variants alternate; medians. Target: the report over 1M records in
 * ≤ 2× the time of verifying the same log.
 *
 * `node bench/compliance.mjs` runs it alone.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditChain } from '../dist/audit/chain.js';
import { exportLog } from '../dist/audit/export.js';
import { openAuditReader } from '../dist/audit/reader.js';
import { fmtMs, fmtRatio, median, table } from './lib/stats.mjs';

const SAMPLE = fileURLToPath(new URL('./lib/compliance-sample.mjs', import.meta.url));
const DAY = 86_400_000;

/** The i-th of n records, spread over the last 30 days: reads, one in ten denied, a few logins, alerts and loads. */
function event(i, n, now) {
  const agentId = `agent-${i % 64}`;
  const timestamp = now - 30 * DAY + Math.floor((i / n) * 30 * DAY);
  if (i % 5000 === 0) return { eventType: 'agent_spawn', agentId, source: 'sandbox', action: 'instantiate', resource: `sha256-${i % 7}`, outcome: 'success', timestamp, details: { capability: 'compute', kind: 'agent', api: 'sandbox.load', reason: 'instance started' } };
  if (i % 5000 === 1) return { eventType: 'authentication_success', agentId, source: 'identity', action: 'authenticate', resource: agentId, outcome: 'success', timestamp, details: { capability: 'identity', kind: 'agent', api: 'sandbox.load', reason: 'identity issued' } };
  if (i % 20000 === 2) return { eventType: 'security_alert', severity: 'medium', agentId, source: 'sandbox', action: 'suspicious_resource_access', resource: agentId, outcome: 'blocked', timestamp, details: { capability: 'monitor', kind: 'agent', api: 'monitor', reason: '10 denials' } };
  const denied = i % 10 === 0;
  return {
    eventType: denied ? 'capability_denied' : 'capability_used',
    agentId,
    source: 'gate',
    action: 'read',
    resource: `/workspace/src/module-${i % 1000}/file-${i}.ts`,
    outcome: denied ? 'blocked' : 'success',
    timestamp,
    provenance: { correlationId: `run-${Math.floor(i / 100)}` },
    details: { api: 'wasi:filesystem/types#open-at', capability: 'read_files', kind: 'file', reason: denied ? 'path is forbidden by fileAccess.forbidden' : 'read allowed by fileAccess "/workspace/**/*.ts"', matched: ['capabilities.allowed:read_files'] },
  };
}

async function buildLog(dir, n) {
  const chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
  const now = Date.now();
  let last = 0;
  for (let i = 0; i < n; i++) {
    last = chain.enqueue(event(i, n, now));
    if (i % 4096 === 4095) await new Promise((r) => setImmediate(r));
  }
  await chain.whenDurable(last);
  await chain.close();
  const reader = await openAuditReader(dir);
  try {
    const out = createWriteStream(join(dir, '..', `${n}.jsonl`));
    await exportLog(reader, out);
    out.end();
    await once(out, 'close');
  } finally {
    await reader.close();
  }
}

const sample = (...args) => JSON.parse(execFileSync(process.execPath, [SAMPLE, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim().split('\n').at(-1));

/** Run the section; returns the text to print. */
export async function complianceBench({ quick = false, progress = () => {} } = {}) {
  const sizes = quick ? [20_000, 100_000] : [100_000, 1_000_000];
  const scratch = await mkdtemp(join(tmpdir(), 'agentos-bench-compliance-'));
  const rows = [];
  const notes = [];
  try {
    for (const n of sizes) {
      const dir = join(scratch, `log-${n}`);
      progress(`compliance: building a log of ${n.toLocaleString('en-US')} records and its export`);
      await buildLog(dir, n);
      const reps = n >= 1_000_000 ? 3 : 5;
      progress(`compliance: report and audit verify, compliance verify and export verify — ${reps} rounds over ${n.toLocaleString('en-US')} records`);
      const report = join(scratch, `report-${n}.json`);
      const exp = join(scratch, `${n}.jsonl`);
      const s = { report: [], verify: [], check: [], exportVerify: [] };
      for (let r = 0; r < reps; r++) {
        const order = r % 2 === 0 ? ['report', 'verify'] : ['verify', 'report'];
        for (const k of order) s[k].push(k === 'report' ? sample('report', dir, report) : sample('verify', dir));
        const order2 = r % 2 === 0 ? ['check', 'exportVerify'] : ['exportVerify', 'check'];
        for (const k of order2) s[k].push(k === 'check' ? sample('check', report, exp) : sample('export-verify', exp));
      }
      for (const [k, v] of Object.entries(s)) if (!v.every((x) => x.ok)) throw new Error(`compliance bench: ${k} over ${n} records did not succeed`);
      const ms = (k) => median(s[k].map((x) => x.ms));
      const rss = (k) => `${(median(s[k].map((x) => x.maxRssKiB)) / 1024).toFixed(0)} MiB`;
      const label = n.toLocaleString('en-US');
      const target = n >= 1_000_000 ? `≤ 2× ${ms('report') / ms('verify') <= 2 ? 'met' : 'MISSED'}` : '';
      rows.push([`compliance report (SOC 2), ${label} records`, fmtMs(ms('report')), rss('report'), `audit verify ${fmtMs(ms('verify'))}, ${rss('verify')}`, fmtRatio(ms('report'), ms('verify')), target]);
      rows.push([`compliance verify, ${label} records`, fmtMs(ms('check')), rss('check'), `audit verify --export ${fmtMs(ms('exportVerify'))}, ${rss('exportVerify')}`, fmtRatio(ms('check'), ms('exportVerify')), '']);
      notes.push(`${label}: ${JSON.parse(readFileSync(report, 'utf8')).proofs.length} evidence records proven`);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return [
    '## compliance: report generation and verification over a large log (issue 17)',
    table(['what', 'time', 'peak RSS', 'baseline (same log, same run)', 'ratio', 'target'], rows, ['l', 'r', 'r', 'l', 'r', 'l']),
    `each figure: a fresh node process (median of 5 rounds at 100k, 3 at 1M; variants alternate); the log: reads (one in ten denied), logins, loads and alerts of 64 agents over 30 days, ~450 B per record; the report covers 90 days; ${notes.join('; ')}`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write((await complianceBench({ quick: process.env.BENCH_QUICK === '1', progress: (m) => process.stderr.write(`  … ${m}\n`) })) + '\n');
}
