/**
 * The dashboard's one page: plain HTML, CSS and JavaScript, no external assets (the server's
 * Content-Security-Policy allows only its own, with a nonce). Everything it shows comes from
 * `/api/state` (every 2 s) and `/api/stream` (server-sent events: each new audit record as it
 * is read). Text from records is always set with `textContent`, never as HTML.
 */
export function dashboardPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Agent OS Sandbox — security monitor</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style nonce="${nonce}">
  :root { --bg: #0f1419; --panel: #182029; --text: #dce3ea; --muted: #8a98a8; --deny: #ff6b6b; --ok: #4cd17a; --warn: #ffb347; --crit: #ff3b6b; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 13px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--text); }
  header { display: flex; align-items: center; gap: 16px; padding: 10px 16px; background: var(--panel); border-bottom: 1px solid #26313d; }
  header h1 { font-size: 16px; margin: 0; }
  header .status { margin-left: auto; display: flex; gap: 12px; align-items: center; }
  .pill { padding: 2px 8px; border-radius: 10px; font-weight: 600; }
  .pill.ok { background: #18391f; color: var(--ok); } .pill.bad { background: #3d1a1f; color: var(--deny); }
  main { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; padding: 12px; }
  section { background: var(--panel); border-radius: 6px; padding: 10px 12px; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 8px; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #222c37; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 340px; }
  th { color: var(--muted); font-weight: 500; }
  tr.denied td { color: var(--deny); } tr.alert td { color: var(--warn); }
  .sev-critical { color: var(--crit); font-weight: 700; } .sev-high { color: var(--deny); } .sev-medium { color: var(--warn); }
  .state-quarantined { color: var(--crit); font-weight: 700; }
  #stream { max-height: 360px; overflow-y: auto; display: block; }
  .risk { display: inline-block; height: 8px; background: var(--deny); border-radius: 4px; vertical-align: middle; margin-right: 6px; }
  button { background: #2b6cb0; color: white; border: 0; border-radius: 4px; padding: 3px 10px; cursor: pointer; }
  input { background: #0f1419; color: var(--text); border: 1px solid #2c3845; border-radius: 4px; padding: 3px 6px; }
  svg { width: 100%; height: 120px; }
  .muted { color: var(--muted); }
  #message { color: var(--warn); }
</style>
</head>
<body>
<header>
  <h1>Agent OS Sandbox — security monitor</h1>
  <span class="muted" id="dir"></span>
  <div class="status">
    <span>audit chain <span id="verify" class="pill">…</span></span>
    <span class="muted" id="checkpoint"></span>
    <label>token <input id="token" type="password" size="20" autocomplete="off" placeholder="for actions"></label>
    <a href="/metrics" class="muted">/metrics</a>
  </div>
</header>
<main>
  <section><h2>Agents</h2><table><thead><tr><th>agent</th><th>type</th><th>state</th><th>risk</th><th>decisions</th><th>denials (1 h)</th></tr></thead><tbody id="agents"></tbody></table></section>
  <section><h2>Denials and alerts per minute (last hour)</h2><svg id="chart" viewBox="0 0 600 120" preserveAspectRatio="none"></svg><div class="muted"><span class="sev-high">■</span> denials <span class="sev-medium">■</span> alerts</div></section>
  <section class="wide"><h2>Live decisions</h2><table id="stream"><thead><tr><th>seq</th><th>time</th><th>agent</th><th>event</th><th>action</th><th>resource</th><th>outcome</th><th>reason</th></tr></thead><tbody id="records"></tbody></table></section>
  <section><h2>Alerts</h2><table><thead><tr><th>time</th><th>severity</th><th>alert</th><th>agent</th><th>what</th></tr></thead><tbody id="alerts"></tbody></table></section>
  <section><h2>Incidents</h2><div id="message"></div><table><thead><tr><th>incident</th><th>state</th><th>class</th><th>agent</th><th></th></tr></thead><tbody id="incidents"></tbody></table></section>
</main>
<script nonce="${nonce}">
'use strict';
const $ = (id) => document.getElementById(id);
const short = (s) => (s && s.length > 14 ? s.slice(0, 8) + '…' : s || '');
const time = (t) => new Date(t).toLocaleTimeString();
function cell(tr, text, cls) { const td = document.createElement('td'); td.textContent = String(text); if (cls) td.className = cls; td.title = String(text); tr.appendChild(td); return td; }
function fill(tbody, rows, make) { tbody.replaceChildren(...rows.map(make)); }
function recordRow(r) {
  const tr = document.createElement('tr');
  tr.dataset.seq = r.seq;
  if (r.outcome !== 'success') tr.className = r.type === 'security_alert' ? 'alert' : 'denied';
  cell(tr, r.seq); cell(tr, time(r.time)); cell(tr, short(r.agentId)); cell(tr, r.type); cell(tr, r.action); cell(tr, r.resource); cell(tr, r.outcome); cell(tr, r.reason);
  return tr;
}
const seen = new Set();
function addRecords(list) {
  const body = $('records');
  for (const r of list) {
    if (seen.has(r.seq)) continue;
    seen.add(r.seq);
    body.insertBefore(recordRow(r), body.firstChild);
  }
  while (body.children.length > 300) body.removeChild(body.lastChild);
}
function chart(points) {
  const svg = $('chart'); const max = Math.max(1, ...points.map((p) => Math.max(p.denials, p.alerts)));
  const w = 600 / points.length; const parts = [];
  points.forEach((p, i) => {
    const dh = (p.denials / max) * 110, ah = (p.alerts / max) * 110;
    parts.push('<rect x="' + (i * w) + '" y="' + (115 - dh) + '" width="' + (w * 0.45) + '" height="' + dh + '" fill="#ff6b6b"><title>' + p.denials + ' denials</title></rect>');
    parts.push('<rect x="' + (i * w + w * 0.5) + '" y="' + (115 - ah) + '" width="' + (w * 0.45) + '" height="' + ah + '" fill="#ffb347"><title>' + p.alerts + ' alerts</title></rect>');
  });
  svg.innerHTML = parts.join('');
}
async function release(id) {
  const token = $('token').value;
  if (!token) { $('message').textContent = 'enter the dashboard token to release'; return; }
  const reason = prompt('Why may this agent run again? (recorded in the audit log)');
  if (!reason) return;
  const res = await fetch('/api/incidents/' + encodeURIComponent(id) + '/release', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body: JSON.stringify({ reason, by: 'dashboard' }) });
  const body = await res.json().catch(() => ({}));
  $('message').textContent = res.ok ? (body.handedOver ? 'release handed to the running sandbox' : 'released') : ('release refused: ' + (body.error && body.error.message || res.status));
  refresh();
}
async function refresh() {
  const s = await (await fetch('/api/state')).json();
  $('dir').textContent = s.dir;
  const v = $('verify');
  if (s.verification) { v.textContent = s.verification.ok ? 'verified · first ' + s.verification.size + ' records at ' + time(s.verification.checkedAt) : 'BROKEN at record ' + s.verification.firstBad; v.className = 'pill ' + (s.verification.ok ? 'ok' : 'bad'); v.title = s.verification.problem || ''; }
  $('checkpoint').textContent = s.checkpoint ? 'checkpoint ' + s.checkpoint.size + ' · ' + time(s.checkpoint.timestamp) : 'no checkpoint yet';
  fill($('agents'), s.agents, (a) => { const tr = document.createElement('tr'); tr.dataset.agent = a.id; cell(tr, short(a.id)); cell(tr, a.type); cell(tr, a.state, 'state-' + a.state); const td = cell(tr, ''); const bar = document.createElement('span'); bar.className = 'risk'; bar.style.width = (a.risk * 0.6) + 'px'; td.append(bar, String(a.risk)); cell(tr, a.decisions); cell(tr, a.denials); return tr; });
  fill($('alerts'), s.alerts, (a) => { const tr = document.createElement('tr'); tr.dataset.alert = a.action; cell(tr, time(a.time)); cell(tr, a.severity, 'sev-' + a.severity); cell(tr, a.action); cell(tr, short(a.agentId)); cell(tr, a.reason); return tr; });
  fill($('incidents'), s.incidents, (i) => { const tr = document.createElement('tr'); tr.dataset.incident = i.id; tr.dataset.state = i.state; cell(tr, i.id); cell(tr, i.state, 'state-' + (i.state === 'contained' ? 'quarantined' : i.state)); cell(tr, i.classification.type + ' (' + i.classification.severity + ')'); cell(tr, short(i.agentId)); const td = document.createElement('td'); if (i.state === 'contained') { const b = document.createElement('button'); b.textContent = 'release'; b.className = 'release'; b.addEventListener('click', () => release(i.id)); td.appendChild(b); } tr.appendChild(td); return tr; });
  chart(s.timeline);
}
const stream = new EventSource('/api/stream');
stream.addEventListener('records', (e) => addRecords(JSON.parse(e.data)));
fetch('/api/records').then((r) => r.json()).then((list) => addRecords(list));
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`;
}
