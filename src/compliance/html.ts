/**
 * The readable and printable form of a signed compliance report (`agentos compliance report
 * --format html|pdf`): one self-contained HTML document — inline CSS, inline SVG charts, no
 * script and no external resource (its own Content-Security-Policy forbids both) — with the
 * header (framework, period, log, checkpoint, signature), the overall summary, the activity of
 * the period, and per requirement its controls and evidence. Print CSS keeps table rows whole
 * and starts the requirements on a new page; pdf.ts prints it with Chromium.
 *
 * The page is a rendering, not the evidence: the signature covers the JSON report, which an
 * auditor checks with `agentos compliance verify`. Every string from the report is escaped.
 */
import type { ComplianceAssessment, RequirementAssessment } from './assess.js';
import { activityCharts, badge, controlsTable, esc, evidenceTables, STATUS_LABEL, when } from './html-parts.js';
import type { ComplianceReport } from './report.js';
import type { ControlStatus } from './types.js';

const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const CSS = `
  :root { --text: #1b2430; --muted: #5f6b7a; --line: #d5dbe2; --head: #f1f4f7; --ok: #1f7a3d; --ok-bg: #e3f4e8; --partial: #8a5a00; --partial-bg: #fff1d6;
    --bad: #b3261e; --bad-bg: #fde5e3; --na: #4b5563; --na-bg: #eceff3; --accent: #24507a; }
  * { box-sizing: border-box; }
  html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  body { margin: 0 auto; max-width: 1100px; padding: 24px 28px 48px; font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--text); background: #fff; }
  h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 17px; margin: 28px 0 10px; } h3 { font-size: 15px; margin: 0; }
  a { color: var(--accent); text-decoration: none; }
  .muted { color: var(--muted); } .id { font-size: 0.85em; font-family: ui-monospace, "DejaVu Sans Mono", monospace; } dd .id { word-break: break-all; }
  header.report { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 8px; }
  header.report .subtitle { color: var(--muted); font-size: 14px; margin-bottom: 12px; }
  dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 0; }
  dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; overflow-wrap: anywhere; }
  .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 0.92em; white-space: nowrap; }
  .badge.compliant { background: var(--ok-bg); color: var(--ok); } .badge.partial { background: var(--partial-bg); color: var(--partial); }
  .badge.non_compliant { background: var(--bad-bg); color: var(--bad); } .badge.not_assessed { background: var(--na-bg); color: var(--na); }
  .overall { display: flex; align-items: center; gap: 14px; margin: 8px 0 12px; font-size: 15px; }
  .overall .badge { font-size: 18px; padding: 4px 16px; border-radius: 16px; }
  .counts { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; margin: 10px 0; }
  .count { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; }
  .count .n { font-size: 24px; font-weight: 700; display: block; }
  .count.compliant .n { color: var(--ok); } .count.partial .n { color: var(--partial); } .count.non_compliant .n { color: var(--bad); } .count.not_assessed .n { color: var(--na); }
  .notice { border-left: 4px solid var(--partial); background: var(--partial-bg); padding: 8px 12px; margin: 12px 0; }
  .person { color: var(--partial); font-weight: 600; }
  table { width: 100%; border-collapse: collapse; margin: 6px 0 12px; table-layout: fixed; }
  caption { text-align: left; font-weight: 600; padding: 4px 0; color: var(--muted); }
  th, td { text-align: left; vertical-align: top; padding: 4px 6px; border-bottom: 1px solid var(--line); overflow-wrap: break-word; }
  th { background: var(--head); font-weight: 600; font-size: 0.92em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  td ul { margin: 0; padding-left: 16px; }
  td.num, th.num { text-align: right; } td.scope { color: var(--muted); font-size: 0.92em; } td.source { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.92em; }
  .w-name { width: 22%; } .w-who { width: 14%; } .w-status { width: 13%; } .w-scope { width: 26%; } .w-count { width: 9%; } .w-req { width: 14%; } .w-n { width: 13%; }
  tr.control.non_compliant td:first-child { border-left: 4px solid var(--bad); } tr.control.partial td:first-child { border-left: 4px solid var(--partial); }
  tr.control.compliant td:first-child { border-left: 4px solid var(--ok); } tr.control.not_assessed td:first-child { border-left: 4px solid var(--line); }
  .seq { display: inline-block; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 0.85em; padding: 0 5px; margin: 1px 0; border-radius: 4px; white-space: nowrap; }
  .seq.proven { background: var(--ok-bg); color: var(--ok); } .seq.unproven { background: var(--bad-bg); color: var(--bad); }
  .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; } figure.chart { margin: 4px 0 12px; } figcaption { font-weight: 600; margin-bottom: 4px; }
  svg.chart { width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 4px; }
  .bar.allowed, .key.allowed { fill: #5b8dbe; background: #5b8dbe; } .bar.denied, .key.denied { fill: #d9534f; background: #d9534f; } .bar.alert, .key.alert { fill: #e8a33d; background: #e8a33d; }
  .axis { stroke: #9aa6b2; stroke-width: 1; } .tick { font-size: 12px; fill: var(--muted); }
  .legend { display: block; font-weight: 400; color: var(--muted); } .key { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 0; vertical-align: baseline; }
  section.requirement { border-top: 2px solid var(--line); padding-top: 10px; margin-top: 22px; }
  section.requirement > header { display: flex; align-items: baseline; gap: 10px; flex-wrap: wrap; margin-bottom: 4px; }
  section.requirement .req-id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; color: var(--accent); }
  footer { margin-top: 32px; border-top: 1px solid var(--line); padding-top: 8px; color: var(--muted); font-size: 12px; }
  @page { size: A4; margin: 14mm 12mm 16mm; }
  @media print {
    body { max-width: none; padding: 0; font-size: 10px; }
    h1 { font-size: 19px; } h2 { font-size: 15px; margin: 16px 0 8px; } .counts .n { font-size: 20px; }
    h2 { break-after: avoid; }
    #requirements { break-before: page; }
    section.requirement { break-before: auto; }
    section.requirement > header, table caption, thead { break-after: avoid; }
    thead { display: table-header-group; }
    tr, .count, figure.chart, .notice { break-inside: avoid; }
    a { color: inherit; }
  }
`;

function header(report: ComplianceReport): string {
  const a = report.assessment;
  const cp = report.checkpoint;
  const log = a.log;
  const rows: [string, string][] = [
    ['Period', `${when(a.period.since)} to ${when(a.period.until)}`],
    ['Assessed at', when(a.assessedAt)],
    ['Next assessment', when(a.nextAssessment)],
    ['Audit log', `<span class="id">${esc(report.log.logId)}</span>${log ? ` <span class="muted">— ${esc(log.records)} records in the period${log.firstSeq !== undefined ? `, #${esc(log.firstSeq)} to #${esc(log.lastSeq ?? log.firstSeq)}` : ''}</span>` : ''}`],
    [
      'Checkpoint',
      cp
        ? `size ${esc(cp.size)}, root <span class="id">${esc(cp.rootHash)}</span>, signed ${when(new Date(cp.timestamp).toISOString())}`
        : '<strong class="person">none: the audit log did not verify, so this report proves no record</strong>',
    ],
    ['Evidence proven', `${esc(report.proofs.length)} records with an inclusion proof against the checkpoint`],
    [
      'Signature',
      report.signature
        ? "present (Ed25519, the audit log's key) — it covers the JSON report, not this page: check it with <code>agentos compliance verify REPORT --export FILE</code>"
        : '<strong class="person">absent</strong>',
    ],
  ];
  return `<header class="report">
<h1>${esc(a.frameworkName)} compliance report</h1>
<div class="subtitle">version ${esc(a.frameworkVersion)} · mapping revision ${esc(a.frameworkRevision)} · ${esc(report.format)}</div>
<dl class="meta">${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>
</header>`;
}

function summary(a: ComplianceAssessment): string {
  const s = a.summary;
  const statuses: ControlStatus[] = ['compliant', 'partial', 'non_compliant', 'not_assessed'];
  const counts = statuses.map((k) => `<div class="count ${k}"><span class="n">${esc(s[k])}</span>${esc(STATUS_LABEL[k])}</div>`).join('');
  const overview = a.requirements
    .map((r, i) => `<tr><td><a href="#req-${i}" class="req-id">${esc(r.requirementId)}</a></td><td>${esc(r.requirementName)}</td><td>${badge(r.status)}</td><td class="num">${esc(r.coverage.automated)}</td><td class="num">${esc(r.coverage.manual)}</td></tr>`)
    .join('\n');
  return `<section id="summary">
<h2>Summary</h2>
<div class="overall">Overall status (automated controls): ${badge(a.overallStatus)}</div>
<div class="counts">${counts}</div>
<p>${esc(s.controls)} controls: <strong>${esc(s.automated)} assessed automatically</strong> from the sandbox's configuration and audit chain, <strong class="person">${esc(s.manual)} need a person</strong> and are not assessed here.</p>
<div class="notice">An organisation is not compliant by software alone. This report assesses only what the sandbox's configuration and audit chain can show; the overall status rolls up the automated controls, and each control that needs a person is listed as <em>not assessed</em> with what that person must show.</div>
<h2>Activity in the period</h2>
<div class="charts">${activityCharts(a)}</div>
<h2>Requirements</h2>
<table class="overview"><thead><tr><th class="w-req">Requirement</th><th>Name</th><th class="w-status">Status</th><th class="w-n num">Automated</th><th class="w-n num">Need a person</th></tr></thead>
<tbody>${overview}</tbody></table>
</section>`;
}

function requirement(r: RequirementAssessment, i: number, proven: ReadonlySet<number>): string {
  return `<section class="requirement ${Object.hasOwn(STATUS_LABEL, r.status) ? r.status : ''}" id="req-${i}" data-requirement="${esc(r.requirementId)}">
<header><h3><span class="req-id">${esc(r.requirementId)}</span> ${esc(r.requirementName)}</h3>${badge(r.status)}<span class="muted">${esc(r.category)} · ${esc(r.coverage.automated)} automated, ${esc(r.coverage.manual)} need a person</span></header>
${controlsTable(r)}
${evidenceTables(r, proven)}
</section>`;
}

/** The report as one self-contained HTML document (no script, no external resource). */
export function renderReportHtml(report: ComplianceReport): string {
  const a = report.assessment;
  const proven = new Set(report.proofs.map((p) => p.seq));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(`${a.frameworkName} compliance report — ${a.assessedAt.slice(0, 10)}`)}</title>
<style>${CSS}</style>
</head>
<body>
${header(report)}
${summary(a)}
<main id="requirements">
<h2>Requirements in detail</h2>
${a.requirements.map((r, i) => requirement(r, i, proven)).join('\n')}
</main>
<footer>Generated by Agent OS Sandbox (<code>agentos compliance report</code>) from the signed report of ${when(a.assessedAt)}. The JSON report is the evidence; this page is a rendering of it.</footer>
</body>
</html>
`;
}
