/**
 * `agentos compliance`: assess a framework (SOC 2, ISO 27001, GDPR, HIPAA, PCI DSS) from the
 * sandbox's configuration and audit chain, write a signed report whose evidence an auditor
 * checks offline, verify such a report, list the frameworks and show the latest assessments.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { loadPolicyFile } from '../policy/loader.js';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';
import { FRAMEWORKS, frameworkById } from '../compliance/frameworks/index.js';
import { generateReport, type ComplianceReport } from '../compliance/report.js';
import { verifyReportFile } from '../compliance/verify.js';
import { renderReportHtml } from '../compliance/html.js';
import { chromiumMissing, findChromium, renderReportPdf } from '../compliance/pdf.js';
import { fromHex, isHashHex } from '../audit/hash.js';
import { durationArg, out, parse, print, reportError, safeText, type ExitStatus } from './common.js';
import { FLAGS, flagLine } from './flags.js';
import { gdprCommand } from './compliance-gdpr.js';

export const COMPLIANCE_OPTIONS = {
  audit: FLAGS.audit,
  framework: { name: 'framework', type: 'string', arg: 'ID', help: `the framework: ${FRAMEWORKS.map((f) => f.id).join(', ')}` },
  since: { name: 'since', type: 'string', arg: 'DURATION', help: 'the period assessed: this far back from now (default 90d)' },
  format: { name: 'format', type: 'string', arg: 'FORMAT', help: 'json (the signed report; default), html (readable, printable) or pdf\n(needs --out and Chromium; AGENTOS_CHROMIUM names it)' },
  out: { ...FLAGS.out, help: 'write the report to FILE (default: stdout)' },
  policy: { ...FLAGS.policy, multiple: true, help: 'a policy in force (repeat for each); least privilege and network\nchecks read them' },
  keys: { ...FLAGS.keys, help: 'the key store (the encryption check reads it)' },
  witness: { ...FLAGS.witness, help: 'a witness directory holding checkpoints of this log' },
  'retention-days': { name: 'retention-days', type: 'string', arg: 'N', help: "the organisation's retention (days), for frameworks that set none" },
  'resolve-within': { name: 'resolve-within', type: 'string', arg: 'DURATION', help: 'incidents must be resolved within this of detection (default 72h)' },
  export: { name: 'export', type: 'string', arg: 'FILE', help: 'verify: the audit export holding the evidence records' },
  'public-key': { name: 'public-key', type: 'string', arg: 'HEX', help: "verify: the log's public key to trust (default: the export's)" },
  'data-id': { name: 'data-id', type: 'string', arg: 'ID', help: 'gdpr access: the data id (as dataPolicies name it)' },
  json: FLAGS.json,
  help: FLAGS.help,
} as const;

export const COMPLIANCE_HELP = `Usage: agentos compliance <command> [options]

Compliance with SOC 2, ISO/IEC 27001:2022, GDPR, HIPAA and PCI DSS 4.0, assessed from the
sandbox's configuration and its audit chain. Each control is compliant, partial,
non_compliant or not_assessed, with reasons; controls that need a person are never assessed
automatically and the report says so. Every evidence record carries an inclusion proof against
a checkpoint signed for the report, and the report is signed with the audit log's key.

Commands:
  list                         the frameworks, their requirements and controls
  report --framework ID        assess and write the signed report (JSON); it is also kept as
                               the latest assessment (compliance/<framework>.json in the audit
                               directory)
  verify REPORT --export FILE  check the report offline: its signature, its checkpoint, and
                               every evidence record of the export against its proof
  status                       the latest assessment of each framework
  gdpr records                 GDPR Art. 30: which agents accessed which classified data, when,
                               under which policy
  gdpr access --data-id ID     GDPR Art. 15: the access history of one data id

Options:
${Object.values(COMPLIANCE_OPTIONS).map((f) => flagLine(f)).join('\n')}

Exit status: 0 ok; 1 verify found a problem; 2 bad usage or an invalid policy; 5 the audit log is
unavailable, or no Chromium for --format pdf (AGENTOS_CHROMIUM names one).

Examples:
  agentos compliance report --framework soc2 --since 90d --policy policy.yaml -o soc2.json
  agentos compliance report --framework soc2 --policy policy.yaml --format html -o soc2.html
  agentos compliance report --framework soc2 --policy policy.yaml --format pdf -o soc2.pdf
  agentos audit export -o log.jsonl && agentos compliance verify soc2.json --export log.jsonl`;

export type Values = ReturnType<typeof parse<typeof COMPLIANCE_OPTIONS>>['values'];

const latestDir = (audit: string) => join(audit, 'compliance');

function frameworkOf(values: Values) {
  if (values.framework === undefined) throw new UsageError(`give --framework (${FRAMEWORKS.map((f) => f.id).join(', ')})`);
  const f = frameworkById(values.framework);
  if (!f) throw new UsageError(`unknown framework ${JSON.stringify(values.framework)}; the frameworks are ${FRAMEWORKS.map((x) => x.id).join(', ')}`);
  return f;
}

async function report(values: Values): Promise<ExitStatus> {
  const framework = frameworkOf(values);
  const format = values.format ?? 'json';
  if (format !== 'json' && format !== 'html' && format !== 'pdf') throw new UsageError(`--format ${JSON.stringify(format)}: the formats are json, html, pdf`);
  if (format === 'pdf' && values.out === undefined) throw new UsageError('--format pdf writes a file: give --out FILE');
  // Before assessing: a PDF that cannot be printed is refused at once.
  const chromium = format === 'pdf' ? findChromium() : undefined;
  if (format === 'pdf' && chromium === undefined) throw chromiumMissing();
  const audit = values.audit ?? DEFAULT_AUDIT_DIR;
  const since = Date.now() - durationArg(values.since ?? '90d', '--since');
  const policies = [];
  for (const file of values.policy ?? []) policies.push({ source: file, policy: (await loadPolicyFile(file)).policy });
  let retentionDays: number | undefined;
  if (values['retention-days'] !== undefined) {
    retentionDays = Number(values['retention-days']);
    if (!Number.isSafeInteger(retentionDays) || retentionDays < 1) throw new UsageError(`--retention-days ${JSON.stringify(values['retention-days'])}: expected a whole number of days ≥ 1`);
  }
  const r = await generateReport(framework, {
    audit,
    since,
    policies,
    ...(values.keys !== undefined ? { keys: values.keys } : {}),
    ...(values.witness !== undefined ? { witness: values.witness } : {}),
    ...(retentionDays !== undefined ? { retentionDays } : {}),
    ...(values['resolve-within'] !== undefined ? { resolveWithinMs: durationArg(values['resolve-within'], '--resolve-within') } : {}),
  });
  const text = JSON.stringify(r, null, 2) + '\n';
  await mkdir(latestDir(audit), { recursive: true });
  await writeFile(join(latestDir(audit), `${framework.id}.json`), text, { mode: 0o600 });
  const output = format === 'json' ? text : renderReportHtml(r);
  if (values.out !== undefined) {
    if (format === 'pdf') await renderReportPdf(output, values.out, chromium!);
    else await writeFile(values.out, output);
    const s = r.assessment.summary;
    process.stderr.write(`${framework.name}: ${r.assessment.overallStatus} — ${s.compliant} compliant, ${s.partial} partial, ${s.non_compliant} non-compliant, ${s.not_assessed} not assessed (${s.manual} need a person); ${r.proofs.length} evidence records proven; written to ${values.out}\n`);
    return 0;
  }
  process.stdout.write(output);
  return 0;
}

async function verify(values: Values, file: string | undefined): Promise<ExitStatus> {
  if (file === undefined) throw new UsageError('give the report: agentos compliance verify REPORT --export FILE');
  if (values.export === undefined) throw new UsageError('give the audit export holding the evidence: --export FILE (agentos audit export -o FILE)');
  const pk = values['public-key'];
  if (pk !== undefined && !isHashHex(pk)) throw new UsageError('--public-key: expected 64 hex digits');
  const v = await verifyReportFile(file, { exportFile: values.export, ...(pk !== undefined ? { publicKey: fromHex(pk) } : {}) });
  const text = v.ok
    ? `report ok: ${v.framework} over log ${v.logId.slice(0, 16)}…, signature and checkpoint verify, ${v.recordsChecked} evidence records proven against the export`
    : `report FAILED verification:\n${v.problems.map((p) => `  - ${safeText(p)}`).join('\n')}`;
  out(values.json === true, v, text);
  return v.ok ? 0 : 1;
}

function list(values: Values): ExitStatus {
  const lines: string[] = [];
  for (const f of FRAMEWORKS) {
    lines.push(`${f.id}  ${f.name} (${f.version})`);
    for (const r of f.requirements) {
      lines.push(`  ${r.id}  ${r.name}`);
      for (const c of r.controls) lines.push(`    ${c.check ? `[${c.check}]` : '[a person]'} ${c.name}`);
    }
  }
  return out(values.json === true, FRAMEWORKS, lines.join('\n'));
}

async function status(values: Values): Promise<ExitStatus> {
  const dir = latestDir(values.audit ?? DEFAULT_AUDIT_DIR);
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    names = [];
  }
  const rows = [];
  for (const n of names) {
    try {
      const a = (JSON.parse(await readFile(join(dir, n), 'utf8')) as ComplianceReport).assessment;
      rows.push({ framework: a.frameworkId, name: a.frameworkName, overallStatus: a.overallStatus, lastAssessment: a.lastAssessment, nextAssessment: a.nextAssessment, summary: a.summary, overdue: Date.parse(a.nextAssessment) < Date.now() });
    } catch {
      // A file that is not a report is not an assessment.
    }
  }
  const text = rows.length === 0 ? `no assessment yet in ${dir} (agentos compliance report --framework ID)` : rows.map((r) => `${r.framework.padEnd(9)} ${r.overallStatus.padEnd(14)} assessed ${r.lastAssessment}  next ${r.nextAssessment}${r.overdue ? ' (OVERDUE)' : ''}`).join('\n');
  return out(values.json === true, rows, text);
}

/** Run `agentos compliance …`; returns the exit status. */
export async function complianceCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parse(argv, COMPLIANCE_OPTIONS, 'compliance');
    const [sub, ...rest] = positionals;
    if (values.help || sub === undefined) return print(COMPLIANCE_HELP);
    if (sub !== 'verify' && sub !== 'gdpr' && rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}; see \`agentos compliance --help\``);
    switch (sub) {
      case 'list':
        return list(values);
      case 'report':
        return await report(values);
      case 'verify':
        if (rest.length > 1) throw new UsageError(`verify takes one report, not ${rest.length}`);
        return await verify(values, rest[0]);
      case 'status':
        return await status(values);
      case 'gdpr':
        return await gdprCommand(values, rest);
      default:
        throw new UsageError(`unknown compliance command ${JSON.stringify(sub)}; see \`agentos compliance --help\``);
    }
  } catch (e) {
    return reportError(e, json);
  }
}
