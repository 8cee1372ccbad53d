/**
 * `agentos compliance gdpr records | access`: GDPR Art. 30 records of processing and Art. 15
 * access histories, read from the audit chain (src/compliance/gdpr.ts).
 */
import { UsageError } from '../errors.js';
import { loadPolicyFile } from '../policy/loader.js';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';
import { accessHistory, recordsOfProcessing } from '../compliance/gdpr.js';
import { durationArg, out, safeText, type ExitStatus } from './common.js';
import type { Values } from './compliance.js';

export async function gdprCommand(values: Values, rest: readonly string[]): Promise<ExitStatus> {
  const [what, ...extra] = rest;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}; see \`agentos compliance --help\``);
  const audit = values.audit ?? DEFAULT_AUDIT_DIR;
  const since = values.since !== undefined ? Date.now() - durationArg(values.since, '--since') : undefined;
  const json = values.json === true;
  if (what === 'records') {
    const policies = [];
    for (const file of values.policy ?? []) policies.push((await loadPolicyFile(file)).policy);
    const rows = await recordsOfProcessing(audit, { ...(since !== undefined ? { since } : {}), policies });
    const text =
      rows.length === 0
        ? 'no access to classified data recorded (data is classified by the dataPolicies of a policy)'
        : rows
            .map((r) => `${safeText(r.agentId)}  ${safeText(r.dataPolicy)} (${r.classification})  ${Object.entries(r.actions).map(([a, n]) => `${a} ${n.allowed} allowed/${n.denied} denied`).join(', ')}  ${r.first} .. ${r.last}\n    ${r.resources.map(safeText).join(', ')}`)
            .join('\n');
    return out(json, rows, text);
  }
  if (what === 'access') {
    const id = values['data-id'];
    if (id === undefined || id === '') throw new UsageError('give the data id: agentos compliance gdpr access --data-id ID');
    const events = await accessHistory(audit, id, since !== undefined ? { since } : {});
    const text = events.length === 0 ? `no decision on ${safeText(id)} recorded` : events.map((e) => `${e.time}  #${e.seq}  ${safeText(e.agentId)}  ${e.action} ${safeText(e.resource)}  ${e.outcome}  ${safeText(e.reason)}`).join('\n');
    return out(json, events, text);
  }
  throw new UsageError(`gdpr takes records or access, not ${JSON.stringify(what ?? '')}; see \`agentos compliance --help\``);
}
