/**
 * Test helpers for the audit chain: build logs, and tamper with their LevelDB store the way an
 * attacker with write access to the directory would.
 */
import { ClassicLevel } from 'classic-level';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditChain, type AuditChainOptions } from '../../src/audit/chain.js';
import { blockEntries, blockHeader, BlockWriter } from '../../src/audit/block.js';
import { sha256 } from '../../src/audit/hash.js';
import type { AuditRecordInput } from '../../src/audit/record.js';

export type DB = ClassicLevel<Uint8Array, Uint8Array>;

/** A fresh temp directory. */
export function tmp(prefix = 'audit-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** The i-th test event. */
export function event(i: number, over: Partial<AuditRecordInput> = {}): AuditRecordInput {
  return {
    eventType: i % 5 === 0 ? 'capability_denied' : 'capability_used',
    agentId: `agent-${i % 3}`,
    source: 'gate',
    action: 'read',
    resource: `/workspace/file-${i}.ts`,
    outcome: i % 5 === 0 ? 'blocked' : 'success',
    timestamp: 1_700_000_000_000 + i * 1000,
    provenance: { correlationId: `run-${Math.floor(i / 10)}` },
    details: { api: 'wasi:filesystem/types#open-at', reason: `reason ${i}` },
    ...over,
  };
}

/** Open a chain in `dir`, append events `from..to-1` (in batches of `batch`), close it. */
export async function buildLog(dir: string, from: number, to: number, options: AuditChainOptions & { batch?: number } = {}): Promise<void> {
  const chain = await AuditChain.open(dir, { checkpointEvery: 100, checkpointIntervalMs: 0, maxBatch: 32, ...options });
  const batch = options.batch ?? 50;
  for (let i = from; i < to; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, to - i) }, (_, k) => chain.append(event(i + k))));
  }
  await chain.close();
}

/** Open the raw LevelDB of an audit directory (the chain must be closed). */
export async function rawDb(dir: string, fn: (db: DB) => Promise<void>): Promise<void> {
  const db: DB = new ClassicLevel<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

export function key(prefix: string, n: number): Uint8Array {
  const k = new Uint8Array(9);
  k[0] = prefix.charCodeAt(0);
  new DataView(k.buffer).setBigUint64(1, BigInt(n));
  return k;
}

/** Every block: [firstSeq, bytes]. */
export async function blocks(db: DB): Promise<[number, Uint8Array][]> {
  const out: [number, Uint8Array][] = [];
  for await (const [k, v] of db.iterator({ gte: key('b', 0), lt: Uint8Array.of(0x63) })) out.push([Number(new DataView(k.buffer, k.byteOffset).getBigUint64(1)), new Uint8Array(v)]);
  return out;
}

/** One record's leaf input and stored hash, editable: return the new [input, hash]. */
export type EntryEdit = (input: Buffer, hash: Uint8Array, seq: number) => [Uint8Array, Uint8Array][] | [Uint8Array, Uint8Array];

/** Rewrite the block holding `seq`, replacing that entry by what `edit` returns (one or more entries). */
export async function editRecord(db: DB, seq: number, edit: EntryEdit): Promise<void> {
  const all = await blocks(db);
  const found = [...all].reverse().find(([first]) => first <= seq)!;
  const [first, bytes] = found;
  const entries = blockEntries(bytes);
  const h = blockHeader(bytes);
  const w = new BlockWriter();
  entries.forEach((e, i) => {
    if (first + i !== seq) return w.add(e.hash.slice(), e.input.slice(), h.minTs);
    const r = edit(Buffer.from(e.input), e.hash.slice(), seq);
    const list = r.length === 0 || Array.isArray(r[0]) ? (r as [Uint8Array, Uint8Array][]) : [r as [Uint8Array, Uint8Array]];
    for (const [input, hash] of list) w.add(hash, input, h.minTs);
  });
  await db.put(key('b', first), w.finish());
}

/** Replace `from` with `to` in a leaf input (same length or not). */
export function replaceText(input: Buffer, from: string, to: string): Buffer {
  const s = input.toString('utf8');
  if (!s.includes(from)) throw new Error(`${from} not in record`);
  return Buffer.from(s.replace(from, to));
}

/** The leaf hash of a leaf input (which already starts with 0x00). */
export const rehash = (input: Uint8Array): Uint8Array => sha256(input);

/** Copy an audit directory (for rollback tests). */
export function copyDir(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}
