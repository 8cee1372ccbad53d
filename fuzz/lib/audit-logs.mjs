/**
 * The audit fuzz target's fixtures: two real audit logs written by the project's own writer
 * (`AuditChain`, LevelDB), built once per process in a temporary directory, and an export of
 * each (`exportLog`). Inputs then patch one store's values in place and restore them, which is
 * thousands of times cheaper than building a log per input.
 *
 * - `plain`: 300 records from genesis (the first 100 in the version-1 record layout, the rest
 *   version 2), blocks of at most 32 records, checkpoints at 100, 200 and 300;
 * - `pruned`: the same, then pruned before record 64 (a retention anchor), then 20 more records.
 */
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditChain } from '../../dist/audit/chain.js';
import { exportLog } from '../../dist/audit/export.js';
import { openAuditReader } from '../../dist/audit/reader.js';
import { pruneChain } from '../../dist/audit/retention.js';
import { sealing } from '../../dist/audit/seal.js';
import { AuditStore, u64Key } from '../../dist/audit/store.js';

/** The i-th test event (the shape `test/helpers/audit.ts` uses). */
export function event(i) {
  return {
    eventType: i % 5 === 0 ? 'capability_denied' : 'capability_used',
    agentId: `agent-${i % 3}`,
    source: 'gate',
    action: 'read',
    resource: `/workspace/file-${i}.ts`,
    outcome: i % 5 === 0 ? 'blocked' : 'success',
    timestamp: 1_700_000_000_000 + i * 1000,
    provenance: { correlationId: `run-${Math.floor(i / 10)}` },
    details: { api: 'wasi:filesystem/types#open-at', reason: `reason ${i}`, text: 'é😀"\\' },
  };
}

async function append(chain, from, to) {
  for (let i = from; i < to; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, to - i) }, (_, k) => chain.append(event(i + k))));
  }
}

/** Key kinds by their first byte(s) (see `src/audit/store.ts`). */
export function kindOf(key) {
  if (key[0] === 0x62) return 'block';
  if (key[0] === 0x6e) return 'node';
  if (key[0] === 0x63) return 'checkpoint';
  if (key[0] === 0x6d) return key[1] === 0x68 ? 'head' : key[1] === 0x69 ? 'meta' : key[1] === 0x61 ? 'anchor' : 'other';
  return 'other';
}

const hexKey = (k) => Buffer.from(k).toString('hex');

async function build(root, name, prune) {
  const dir = join(root, name);
  const chain = await AuditChain.open(dir, { checkpointEvery: 100, checkpointIntervalMs: 0, maxBatch: 32 });
  sealing.version = 1;
  try {
    await append(chain, 0, 100);
  } finally {
    sealing.version = 2;
  }
  await append(chain, 100, 300);
  if (prune) {
    await pruneChain(chain, { before: 64 });
    await append(chain, 300, 320);
  }
  await chain.close();
  // The export (with a checkpoint signed at its end: the directory's key is readable).
  const file = join(root, `${name}.jsonl`);
  const reader = await openAuditReader(dir);
  try {
    const out = createWriteStream(file);
    await exportLog(reader, out);
    out.end();
    await once(out, 'finish');
  } finally {
    await reader.close();
  }
  const exportText = readFileSync(file, 'utf8');
  const store = await AuditStore.open(join(dir, 'db'));
  /** Every key and value as written: hex key → { key, value, kind }. */
  const original = new Map();
  for await (const [k, v] of store.db.iterator()) original.set(hexKey(k), { key: new Uint8Array(k), value: new Uint8Array(v), kind: kindOf(k) });
  const byKind = {};
  for (const e of original.values()) (byKind[e.kind] ??= []).push(e);
  const meta = JSON.parse(Buffer.from(byKind.meta[0].value).toString('utf8'));
  const checkpoints = byKind.checkpoint.map((e) => JSON.parse(Buffer.from(e.value).toString('utf8')));
  const base = prune ? JSON.parse(Buffer.from(byKind.anchor[0].value).toString('utf8')).checkpoint.size : 0;
  return { name, dir, store, original, byKind, meta, checkpoints, base, exportText, exportLines: exportText.split('\n').filter((l) => l !== '') };
}

let logs;

/** Build both logs (once per process); later calls return the same promise. */
export function auditLogs() {
  logs ??= (async () => {
    const root = mkdtempSync(join(tmpdir(), 'agentos-fuzz-audit-'));
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    const plain = await build(root, 'plain', false);
    const pruned = await build(root, 'pruned', true);
    return { root, plain, pruned };
  })();
  return logs;
}

/** Close the stores (the temporary directory goes at exit). */
export async function closeAuditLogs() {
  if (!logs) return;
  const l = await logs;
  logs = undefined;
  await l.plain.store.close();
  await l.pruned.store.close();
}

/** `prefix` and a u64 big-endian number, as the store's keys are written. */
export { u64Key };
