/**
 * `agentos incident`: list, show, export, release and resolve the incidents the security
 * monitor opened (`src/monitor/incidents.ts`), kept in `incidents/` of the audit directory.
 *
 * A release (or resolve) is recorded in the audit chain with who did it and why. When a running
 * sandbox holds the chain (LevelDB allows one process), the release is written into the
 * incident for that sandbox to carry out and record; the command says which happened.
 */
import { cp, readdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';
import { IncidentStore, type Incident } from '../monitor/incidents.js';
import { releaseIncident, resolveIncident } from '../monitor/incident-release.js';
import { parse, reportError, safeText, type ExitStatus, out, print } from './common.js';
import { FLAGS, flagLine } from './flags.js';

export const INCIDENT_OPTIONS = {
  audit: FLAGS.audit,
  incidents: { name: 'incidents', type: 'string', arg: 'DIR', help: 'the incident directory (default: incidents/ in the audit directory)' },
  reason: { ...FLAGS.reason, help: 'why (required; recorded in the audit log)' },
  by: { name: 'by', type: 'string', arg: 'NAME', help: 'who does it (default: the user running the command)' },
  out: { ...FLAGS.out, arg: 'DIR', help: 'write the incident and its forensic snapshot into DIR' },
  json: FLAGS.json,
  help: FLAGS.help,
} as const;

export const INCIDENT_HELP = `Usage: agentos incident <command> [options]

The incidents the security monitor opened: what was detected (the alert and the audit records
it names as evidence), its classification, what containment did, its timeline, and its state
(open -> contained -> resolved). A contained agent is quarantined: its calls are refused and
its agent id and component may not load until released.

Commands:
  list                  every incident, newest first
  show <id>             one incident: detection, containment, timeline, related records
  export <id> -o DIR    copy the incident and its forensic snapshot (audit slice verifiable
                        offline with agentos audit verify --export DIR/forensics/audit-slice.jsonl)
  release <id>          lift a contained incident's quarantine (--reason TEXT) and resolve it
  resolve <id>          resolve an open incident that was never contained (--reason TEXT)

Options:
${flagLine(INCIDENT_OPTIONS.audit, undefined, 22)}
${flagLine(INCIDENT_OPTIONS.incidents, undefined, 22)}
${flagLine(INCIDENT_OPTIONS.reason, undefined, 22)}
${flagLine(INCIDENT_OPTIONS.by, undefined, 22)}
${flagLine(INCIDENT_OPTIONS.out, undefined, 22)}
${flagLine(INCIDENT_OPTIONS.json, undefined, 22)}
${flagLine(INCIDENT_OPTIONS.help, undefined, 22)}

release and resolve are recorded in the audit log with who did it and why. While a sandbox
holds the audit log, release is handed to it through the incident file: it lifts the
quarantine within a second and records it.
Exit status: 0 ok, 2 bad input (an unknown incident, a missing --reason), 5 internal error.`;

const when = (t: number) => new Date(t).toISOString();

function line(i: Incident): string {
  return `${i.id}  ${i.state.padEnd(9)} ${i.classification.severity.padEnd(8)} ${i.classification.type.padEnd(28)} agent ${safeText(i.agentId)}  ${when(i.detection.time)}`;
}

function describe(i: Incident): string {
  const out = [
    `incident   ${i.id}`,
    `state      ${i.state}`,
    `agent      ${safeText(i.agentId)}${i.componentHash ? `  component ${i.componentHash}` : ''}`,
    `class      ${i.classification.type} (${i.classification.severity})`,
    `detected   ${when(i.detection.time)} by ${i.detection.detector}: ${safeText(i.detection.message)}`,
    `alerts     ${i.alerts.join(', ')}`,
    `records    ${i.relatedSeqs.length > 0 ? i.relatedSeqs.join(', ') : '(none: no audit log)'}`,
  ];
  if (i.containment) out.push(`contained  ${when(i.containment.time)}: ${i.containment.actions.join('; ')}`);
  if (i.forensics) out.push(`forensics  ${i.forensics}/`);
  if (i.releaseRequest) out.push(`release    asked by ${safeText(i.releaseRequest.by)} at ${when(i.releaseRequest.time)}: ${safeText(i.releaseRequest.reason)} (waiting for the sandbox that holds the quarantine)`);
  out.push('timeline');
  for (const t of i.timeline) out.push(`  ${when(t.time)}  ${t.step.padEnd(17)} ${safeText(t.by).padEnd(10)} ${safeText(t.note)}${t.seq !== undefined ? `  [record ${t.seq}]` : ''}`);
  return out.join('\n');
}

async function run(sub: string, argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, INCIDENT_OPTIONS, `incident ${sub}`);
  if (values.help) return print(INCIDENT_HELP);
  const auditDir = values.audit ?? DEFAULT_AUDIT_DIR;
  const store = new IncidentStore(values.incidents ?? join(auditDir, 'incidents'));
  const json = values.json ?? false;
  const wanted = sub === 'list' ? 0 : 1;
  if (positionals.length !== wanted) throw new UsageError(`incident ${sub} takes ${wanted === 0 ? 'no arguments' : 'one argument, the incident id'}; see \`agentos incident --help\``);
  if (sub === 'list') {
    const all = store.list();
    return out(json, { ok: true, incidents: all }, all.length === 0 ? `no incidents in ${store.dir}` : all.map(line).join('\n'));
  }
  const id = positionals[0]!;
  const i = store.get(id);
  if (!i) throw new UsageError(`no incident ${JSON.stringify(id)} in ${store.dir}; see \`agentos incident list\``);
  switch (sub) {
    case 'show':
      return out(json, { ok: true, incident: i }, describe(i));
    case 'export': {
      const dest = values.out;
      if (!dest) throw new UsageError('incident export needs -o DIR (where to write the incident and its snapshot)');
      const existing = await readdir(dest).catch(() => []);
      if (existing.length > 0) throw new UsageError(`${dest} is not empty; give a new directory`);
      await cp(store.pathOf(id), dest, { recursive: true, filter: (src) => !/\/\.incident\./.test(src) });
      return out(json, { ok: true, incident: id, dir: dest }, `wrote incident ${id} to ${dest}${i.forensics ? ` (verify its audit slice: agentos audit verify --export ${join(dest, i.forensics, 'audit-slice.jsonl')})` : ''}`);
    }
    case 'release':
    case 'resolve': {
      const reason = values.reason;
      if (reason === undefined || reason.trim() === '') throw new UsageError(`incident ${sub} needs --reason TEXT (recorded in the audit log)`);
      const by = values.by ?? userInfo().username;
      if (sub === 'resolve') {
        const r = await resolveIncident(store, auditDir, id, by, reason);
        return out(json, { ok: true, incident: r.incident, recorded: r.seq !== undefined }, `resolved incident ${id}${r.seq !== undefined ? ` (audit record ${r.seq})` : ''}`);
      }
      const r = await releaseIncident(store, auditDir, id, by, reason);
      if (r.handedOver) {
        return out(json, { ok: true, incident: r.incident, handedOver: true }, `a sandbox holds the audit log: the release of ${id} was handed to it (it lifts the quarantine within a second and records it)`);
      }
      return out(json, { ok: true, incident: r.incident, recorded: true }, `released incident ${id} (audit record ${r.seq}): agent ${safeText(i.agentId)}${i.componentHash ? ` and component ${i.componentHash.slice(0, 16)}…` : ''} may load again`);
    }
    default:
      throw new UsageError(`unknown incident command ${JSON.stringify(sub)}; see \`agentos incident --help\``);
  }
}

/** Run `agentos incident …`; returns the exit status. */
export async function incidentCommand(argv: string[]): Promise<ExitStatus> {
  const [sub, ...rest] = argv;
  const json = argv.includes('--json');
  try {
    if (sub === undefined || sub === '--help' || sub === '-h') return print(INCIDENT_HELP);
    if (!['list', 'show', 'export', 'release', 'resolve'].includes(sub)) throw new UsageError(`unknown incident command ${JSON.stringify(sub)}; see \`agentos incident --help\``);
    return await run(sub, rest);
  } catch (e) {
    return reportError(e, json);
  }
}
