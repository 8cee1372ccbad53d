/**
 * The pieces of the HTML form of a compliance report (html.ts): escaping, status badges, the
 * activity charts (inline SVG) and the tables of a requirement's controls and evidence. Every
 * string that comes from the report goes through {@link esc}: reports carry policy file names,
 * reasons and other text an agent or an operator chose.
 */
import type { ControlAssessment, ComplianceAssessment, RequirementAssessment } from './assess.js';
import type { Evidence } from './checks.js';
import type { ControlStatus } from './types.js';

/** Escape text for HTML element content and double-quoted attribute values. */
export function esc(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const STATUS_LABEL: Readonly<Record<ControlStatus, string>> = {
  compliant: 'compliant',
  partial: 'partial',
  non_compliant: 'non-compliant',
  not_assessed: 'not assessed',
};

/** A status as a coloured badge (the class is the status itself, one of four known words). */
export function badge(s: ControlStatus): string {
  const known = Object.hasOwn(STATUS_LABEL, s);
  return `<span class="badge ${known ? s : 'not_assessed'}">${esc(known ? STATUS_LABEL[s] : s)}</span>`;
}

/** An ISO time as `YYYY-MM-DD HH:MM UTC` (unparsable text is shown as it is, escaped). */
export function when(iso: string): string {
  const t = Date.parse(iso);
  return esc(Number.isNaN(t) ? iso : `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`);
}

const DAY_MS = 86_400_000;
/** At most this many bars per chart: longer periods are drawn in buckets of several days. */
const MAX_BARS = 120;

type Day = ComplianceAssessment['activity'][number];
interface Bucket {
  readonly from: string;
  readonly to: string;
  decisions: number;
  denials: number;
  alerts: number;
}

/** Every UTC day of the period (the assessment leaves quiet days out), in buckets of equal length. */
export function activityBuckets(a: Pick<ComplianceAssessment, 'period' | 'activity'>): Bucket[] {
  const first = Math.floor(Date.parse(a.period.since) / DAY_MS);
  const last = Math.floor(Date.parse(a.period.until) / DAY_MS);
  if (!Number.isFinite(first) || !Number.isFinite(last) || last < first) return [];
  const days = last - first + 1;
  const size = Math.ceil(days / MAX_BARS);
  const day = (n: number) => new Date(n * DAY_MS).toISOString().slice(0, 10);
  const out: Bucket[] = [];
  for (let d = first; d <= last; d += size) out.push({ from: day(d), to: day(Math.min(d + size - 1, last)), decisions: 0, denials: 0, alerts: 0 });
  for (const x of a.activity as readonly Day[]) {
    const n = Math.floor(Date.parse(x.day) / DAY_MS);
    const b = out[Math.floor((n - first) / size)];
    if (!b || n < first) continue;
    b.decisions += x.decisions;
    b.denials += x.denials;
    b.alerts += x.alerts;
  }
  return out;
}

const W = 480;
const H = 150;
const PAD = { left: 36, right: 8, top: 10, bottom: 22 };

/**
 * One bar chart: per bucket, stacked segments (bottom first). Zero segments draw nothing, so
 * every `rect.bar` stands for some activity.
 */
function barChart(label: string, buckets: readonly Bucket[], series: readonly { cls: string; name: string; value: (b: Bucket) => number }[]): string {
  const totals = buckets.map((b) => series.reduce((s, x) => s + x.value(b), 0));
  const max = Math.max(1, ...totals);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const bw = plotW / Math.max(1, buckets.length);
  const y0 = PAD.top + plotH;
  const parts: string[] = [];
  buckets.forEach((b, i) => {
    let y = y0;
    const span = b.from === b.to ? b.from : `${b.from} to ${b.to}`;
    for (const s of series) {
      const v = s.value(b);
      if (v <= 0) continue;
      const h = (v / max) * plotH;
      y -= h;
      parts.push(`<rect class="bar ${s.cls}" x="${(PAD.left + i * bw + bw * 0.1).toFixed(2)}" y="${y.toFixed(2)}" width="${Math.max(0.5, bw * 0.8).toFixed(2)}" height="${h.toFixed(2)}"><title>${esc(`${span}: ${v} ${s.name}`)}</title></rect>`);
    }
  });
  const axis = [
    `<line class="axis" x1="${PAD.left}" y1="${y0}" x2="${W - PAD.right}" y2="${y0}"/>`,
    `<line class="axis" x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${y0}"/>`,
    `<text class="tick" x="${PAD.left - 4}" y="${PAD.top + 8}" text-anchor="end">${max}</text>`,
    `<text class="tick" x="${PAD.left - 4}" y="${y0}" text-anchor="end">0</text>`,
  ];
  if (buckets.length > 0) {
    axis.push(`<text class="tick" x="${PAD.left}" y="${H - 6}">${esc(buckets[0]!.from)}</text>`);
    axis.push(`<text class="tick" x="${W - PAD.right}" y="${H - 6}" text-anchor="end">${esc(buckets[buckets.length - 1]!.to)}</text>`);
  }
  const legend = series.map((s) => `<span class="key ${s.cls}"></span>${esc(s.name)}`).join(' &#160; ');
  return `<figure class="chart"><figcaption>${esc(label)} <span class="legend">${legend}</span></figcaption>
<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(label)}" xmlns="http://www.w3.org/2000/svg">${axis.join('')}${parts.join('')}</svg></figure>`;
}

/** The charts of the period: decisions (allowed and denied, stacked) and alerts, per day. */
export function activityCharts(a: Pick<ComplianceAssessment, 'period' | 'activity'>): string {
  const buckets = activityBuckets(a);
  const total = (k: 'decisions' | 'denials' | 'alerts') => a.activity.reduce((s, d) => s + d[k], 0);
  const per = buckets.length > 0 && buckets[0]!.from !== buckets[0]!.to ? 'per bucket of days' : 'per day (UTC)';
  const decisions =
    total('decisions') === 0
      ? '<p class="muted">No access decisions were recorded in the period.</p>'
      : barChart(`Decisions ${per}: ${total('decisions')} (${total('denials')} denied)`, buckets, [
          { cls: 'allowed', name: 'allowed', value: (b) => b.decisions - b.denials },
          { cls: 'denied', name: 'denied', value: (b) => b.denials },
        ]);
  const alerts =
    total('alerts') === 0
      ? '<p class="muted">No security alerts were raised in the period.</p>'
      : barChart(`Security alerts ${per}: ${total('alerts')}`, buckets, [{ cls: 'alert', name: 'alerts', value: (b) => b.alerts }]);
  return `${decisions}\n${alerts}`;
}

/** A reason, escaped; a manual control's `needs a person: <scope>` points at the scope column instead of repeating it. */
function reason(c: ControlAssessment, r: string): string {
  return !c.automated && r === `needs a person: ${c.scope}` ? '<span class="person">needs a person</span>: what they must show is in the scope' : esc(r);
}

/** The controls of a requirement: who assesses each, its status, reasons and scope. */
export function controlsTable(req: RequirementAssessment): string {
  const row = (c: ControlAssessment) =>
    `<tr class="control ${Object.hasOwn(STATUS_LABEL, c.status) ? c.status : ''}" data-control="${esc(c.controlId)}">` +
    `<td><strong>${esc(c.name)}</strong><div class="muted id">${esc(c.controlId)}</div></td>` +
    `<td>${c.automated ? `automated<div class="muted id">${esc(c.check ?? '')}</div>` : '<span class="person">needs a person</span>'}</td>` +
    `<td>${badge(c.status)}</td>` +
    `<td>${c.reasons.length === 0 ? '<span class="muted">—</span>' : `<ul>${c.reasons.map((r) => `<li>${reason(c, r)}</li>`).join('')}</ul>`}</td>` +
    `<td class="scope">${esc(c.scope)}</td></tr>`;
  return `<table class="controls"><thead><tr><th class="w-name">Control</th><th class="w-who">Assessed</th><th class="w-status">Status</th><th>Reasons</th><th class="w-scope">Scope</th></tr></thead>
<tbody>${req.controls.map(row).join('\n')}</tbody></table>`;
}

/** Evidence cited by a requirement's controls, once each, with the controls that cite it. */
function citedEvidence(req: RequirementAssessment): { e: Evidence; controls: string[] }[] {
  const seen = new Map<string, { e: Evidence; controls: string[] }>();
  for (const c of req.controls) {
    for (const e of c.evidence) {
      const key = JSON.stringify(e);
      const x = seen.get(key);
      if (x) x.controls.push(c.name);
      else seen.set(key, { e, controls: [c.name] });
    }
  }
  return [...seen.values()];
}

/**
 * The requirement's evidence: audit records (each cited sequence number marked when the
 * report holds its inclusion proof), configuration, and what the requirement asks for.
 */
export function evidenceTables(req: RequirementAssessment, proven: ReadonlySet<number>): string {
  const cited = citedEvidence(req);
  const records = cited.filter((x): x is { e: Extract<Evidence, { kind: 'records' }>; controls: string[] } => x.e.kind === 'records');
  const config = cited.filter((x): x is { e: Extract<Evidence, { kind: 'configuration' }>; controls: string[] } => x.e.kind === 'configuration');
  const out: string[] = [];
  if (records.length > 0) {
    const seq = (s: number) => (proven.has(s) ? `<span class="seq proven" title="inclusion proof in this report">#${s} proven</span>` : `<span class="seq unproven" title="no inclusion proof in this report">#${s} not proven</span>`);
    out.push(`<table class="evidence records"><caption>Audit records</caption><thead><tr><th>Evidence</th><th class="w-count num">Records</th><th>Cited records</th><th class="w-who">For</th></tr></thead><tbody>
${records.map(({ e, controls }) => `<tr><td>${esc(e.description)}</td><td class="num">${esc(e.count)}</td><td>${e.seqs.map(seq).join(' ')}${e.count > e.seqs.length ? ` <span class="muted">(the first ${e.seqs.length} of ${esc(e.count)})</span>` : ''}</td><td class="muted">${controls.map(esc).join('; ')}</td></tr>`).join('\n')}
</tbody></table>`);
  }
  if (config.length > 0) {
    out.push(`<table class="evidence configuration"><caption>Configuration</caption><thead><tr><th>Evidence</th><th>Source</th><th class="w-who">For</th></tr></thead><tbody>
${config.map(({ e, controls }) => `<tr><td>${esc(e.description)}</td><td class="source">${esc(e.source)}</td><td class="muted">${controls.map(esc).join('; ')}</td></tr>`).join('\n')}
</tbody></table>`);
  }
  if (cited.length === 0) out.push('<p class="muted">No evidence was collected automatically for this requirement.</p>');
  if (req.evidence.length > 0) {
    out.push(`<table class="evidence asked"><caption>Evidence the requirement asks for</caption><thead><tr><th>Type</th><th>Description</th><th class="w-n">In this report</th></tr></thead><tbody>
${req.evidence.map((e) => `<tr><td>${esc(e.type.replace(/_/g, ' '))}</td><td>${esc(e.description)}</td><td>${e.collected ? 'collected' : e.automated ? 'none in the period' : '<span class="person">a person provides it</span>'}</td></tr>`).join('\n')}
</tbody></table>`);
  }
  return out.join('\n');
}
