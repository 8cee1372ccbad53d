/**
 * One timed operation of the `compliance` section (bench/compliance.mjs), in a fresh child
 * process so that its peak RSS is the operation's own. Prints one JSON line
 * `{ "ms": …, "maxRssKiB": … }`.
 *
 *   node bench/lib/compliance-sample.mjs report DIR      agentos compliance report (SOC 2, 90 days)
 *   node bench/lib/compliance-sample.mjs verify DIR      agentos audit verify of the same log
 *   node bench/lib/compliance-sample.mjs check REPORT EXPORT   agentos compliance verify
 *   node bench/lib/compliance-sample.mjs export-verify EXPORT  agentos audit verify --export
 */
import { writeFileSync } from 'node:fs';
import { verifyAuditLog, verifyAuditExport } from '../../dist/audit/index.js';
import { frameworkById } from '../../dist/compliance/frameworks/index.js';
import { generateReport } from '../../dist/compliance/report.js';
import { verifyReportFile } from '../../dist/compliance/verify.js';

const [mode, a, b] = process.argv.slice(2);
const t0 = performance.now();
let ok;
if (mode === 'report') {
  const r = await generateReport(frameworkById('soc2'), { audit: a, since: Date.now() - 90 * 86_400_000 });
  writeFileSync(b, JSON.stringify(r));
  ok = r.proofs.length > 0;
} else if (mode === 'verify') {
  ok = (await verifyAuditLog(a)).ok;
} else if (mode === 'check') {
  ok = (await verifyReportFile(a, { exportFile: b })).ok;
} else if (mode === 'export-verify') {
  ok = (await verifyAuditExport(a)).ok;
} else {
  throw new Error(`unknown mode ${mode}`);
}
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ok, ms, maxRssKiB: process.resourceUsage().maxRSS }) + '\n');
process.exit(0);
