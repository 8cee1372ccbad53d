/**
 * The forensic snapshot of a contained agent, written into its incident's directory:
 *
 *   forensics/audit-slice.jsonl  the audit records from the incident's first evidence to the
 *                                containment, as an `agentos audit export` file (verifiable
 *                                offline: `agentos audit verify --export`), ending in a checkpoint
 *                                signed at its last record
 *   forensics/proofs.json        that checkpoint and an inclusion proof of every related record
 *   forensics/policy.json        the policy in force
 *   forensics/component.json     the component's SHA-256 and its signature claims
 *   forensics/logs.jsonl         the agent's recent log lines
 *   forensics/usage.json         its quota and limit usage
 *   forensics/manifest.json      the SHA-256 of each file above
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import type { AuditChain } from '../audit/chain.js';
import { exportLog } from '../audit/export.js';
import { openAuditReader } from '../audit/reader.js';
import type { Incident } from './incidents.js';

/** What the sandbox knows of the agent at containment. */
export interface ForensicContext {
  readonly policy?: unknown;
  /** The component's hash and signature claims, or a native agent's executable and its hash. */
  readonly component?: { readonly hash: string; readonly claims?: unknown; readonly executable?: unknown } | undefined;
  readonly logs: readonly unknown[];
  readonly usage?: unknown;
}

/** At most this many records go into the audit slice (the newest, up to the containment). */
export const MAX_SLICE_RECORDS = 100_000;

/** Write the snapshot; returns its directory relative to the incident's (`forensics`). */
export async function writeForensics(incidentDir: string, incident: Incident, audit: { readonly dir: string; readonly chain: AuditChain } | undefined, ctx: ForensicContext): Promise<string> {
  const out = join(incidentDir, 'forensics');
  await mkdir(out, { recursive: true, mode: 0o700 });
  const files: string[] = [];
  const put = async (name: string, data: string) => {
    await writeFile(join(out, name), data, { mode: 0o600 });
    files.push(name);
  };
  await put('policy.json', JSON.stringify(ctx.policy ?? null, null, 2) + '\n');
  await put('component.json', JSON.stringify(ctx.component ?? null, null, 2) + '\n');
  await put('logs.jsonl', ctx.logs.map((l) => JSON.stringify(l)).join('\n') + (ctx.logs.length ? '\n' : ''));
  await put('usage.json', JSON.stringify(ctx.usage ?? null, null, 2) + '\n');
  if (audit) {
    // Everything recorded so far (the alert and the quarantine included) is durable and
    // covered by a signed checkpoint before the slice is cut.
    const cp = await audit.chain.checkpoint();
    const to = cp.size;
    const first = incident.relatedSeqs.length > 0 ? Math.min(...incident.relatedSeqs) : to;
    const from = Math.max(0, Math.min(first, to), to - MAX_SLICE_RECORDS);
    const reader = await openAuditReader(audit.dir);
    try {
      const stream = createWriteStream(join(out, 'audit-slice.jsonl'), { mode: 0o600 });
      await exportLog(reader, stream, { from, to });
      stream.end();
      await once(stream, 'close');
      files.push('audit-slice.jsonl');
    } finally {
      await reader.close();
    }
    const proofs = [];
    for (const seq of incident.relatedSeqs) if (seq < to) proofs.push(await audit.chain.inclusionProof(seq, to));
    await put('proofs.json', JSON.stringify({ checkpoint: cp, slice: { from, to }, proofs }, null, 2) + '\n');
  }
  const manifest: Record<string, string> = {};
  for (const f of files) manifest[f] = createHash('sha256').update(await readFile(join(out, f))).digest('hex');
  await writeFile(join(out, 'manifest.json'), JSON.stringify({ incident: incident.id, written: Date.now(), sha256: manifest }, null, 2) + '\n', { mode: 0o600 });
  return 'forensics';
}
