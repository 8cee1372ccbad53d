/**
 * Exporting a log to JSON Lines, and verifying an export offline (without the store).
 *
 * Format `agentos-audit-export/1`:
 * 1. a header: `{"format","logId","publicKey","from","to","start":{"lastHash","frontier"},"anchor"?}`
 *    where `start` is the chain state before record `from` (the genesis for 0) and `anchor` the
 *    retention anchor's signed checkpoint when `from` is the prune point;
 * 2. the records `from..to-1`, one per line, each exactly its canonical bytes (what is hashed);
 * 3. `{"checkpoint":{…}}` lines: the stored checkpoints in `(from, to]` and one signed at `to`.
 *
 * Verifying an export recomputes every record's hash and link, the tree from `start`, and
 * compares every checkpoint; the unsigned `start` is covered by the signed roots that follow it.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { once } from 'node:events';
import { createPrivateKey } from 'node:crypto';
import { signCheckpoint, verifyCheckpoint, logIdOf, type Checkpoint, type LogKey } from './checkpoint.js';
import { equalBytes, fromHex, isHashHex, toHex } from './hash.js';
import { blockEntries } from './block.js';
import { BAD_LINE, exportLines, MAX_LINE_BYTES } from './export-lines.js';
import { Frontier, popcount } from './merkle.js';
import type { AuditReader } from './reader.js';
import { StreamVerifier, type Problem } from './verifier.js';
import { sortCheckpoints, type VerifyReport } from './verify.js';

/** Format name in the header line. */
export const EXPORT_FORMAT = 'agentos-audit-export/1';

/** Options of {@link exportLog}. */
export interface ExportOptions {
  readonly from?: number;
  readonly to?: number;
  /** Sign a checkpoint at `to` with this key (default: the directory's log key, when readable). */
  readonly key?: LogKey;
}

/** The log key of an audit directory (`log-key.pem`), read only; undefined when it cannot be read. */
export async function readLogKey(dir: string): Promise<LogKey | undefined> {
  try {
    const privateKey = createPrivateKey(await readFile(join(dir, 'log-key.pem'), 'utf8'));
    const { createPublicKey } = await import('node:crypto');
    const der = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
    const publicKey = new Uint8Array(der.subarray(der.length - 32));
    return { logId: logIdOf(publicKey), publicKey, privateKey };
  } catch {
    return undefined;
  }
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await once(out, 'drain');
}

/** Write records `[from, to)` of the log to `out` as JSON Lines; returns the counts. */
export async function exportLog(reader: AuditReader, out: Writable, options: ExportOptions = {}): Promise<{ from: number; to: number; records: number; checkpoints: number }> {
  const from = Math.max(options.from ?? reader.base, reader.base);
  const to = Math.min(options.to ?? reader.head.size, reader.head.size);
  if (!(from <= to)) throw new RangeError(`nothing to export: from ${from} is after to ${to}`);
  const frontier = from === reader.base && reader.anchor ? reader.anchor.frontier.map(fromHex) : await reader.source.frontierAt(from);
  const lastHash = from === 0 ? fromHex(reader.logId) : from === reader.base && reader.anchor ? fromHex(reader.anchor.checkpoint.lastHash) : await reader.source.leaf(from - 1);
  const header = {
    format: EXPORT_FORMAT,
    logId: reader.logId,
    publicKey: toHex(reader.publicKey),
    from,
    to,
    start: { lastHash: toHex(lastHash), frontier: frontier.map(toHex) },
    ...(from === reader.base && reader.anchor ? { anchor: reader.anchor.checkpoint } : {}),
    exportedAt: Date.now(),
  };
  await write(out, JSON.stringify(header) + '\n');
  const state = new Frontier(frontier, from);
  let last = lastHash;
  let n = 0;
  const dec = new TextDecoder();
  for await (const { firstSeq, block } of reader.store.blocks({ from })) {
    if (firstSeq >= to) break;
    const entries = blockEntries(block);
    let chunk = '';
    for (let i = 0; i < entries.length; i++) {
      const seq = firstSeq + i;
      if (seq < from || seq >= to) continue;
      const e = entries[i]!;
      chunk += dec.decode(e.input.subarray(1)) + '\n';
      state.push(e.hash);
      last = e.hash;
      n++;
    }
    await write(out, chunk);
  }
  let cps = 0;
  let atTo = false;
  for await (const c of reader.store.checkpoints()) {
    if (c.size <= from || c.size > to) continue;
    await write(out, `{"checkpoint":${c.json}}\n`);
    cps++;
    if (c.size === to) atTo = true;
  }
  if (!atTo && to > from) {
    const key = options.key ?? (await readLogKey(reader.dir));
    if (key && key.logId === reader.logId) {
      const cp = signCheckpoint(key, { size: to, rootHash: state.root(), lastHash: last, timestamp: Date.now() });
      await write(out, JSON.stringify({ checkpoint: cp }) + '\n');
      cps++;
    }
  }
  return { from, to, records: n, checkpoints: cps };
}

/** Options of {@link verifyExport}. */
export interface VerifyExportOptions {
  /** The public key to trust (default: the one in the export's header). */
  readonly publicKey?: Uint8Array;
  /** Checkpoints held elsewhere. */
  readonly trusted?: readonly Checkpoint[];
  /** Shown every record line with its sequence number as the verification reads it (a compliance report's evidence). */
  readonly onRecord?: (seq: number, line: string) => void;
}


/** Verify an exported file offline. Never throws for bad data; reports it. */
export async function verifyExport(file: string, options: VerifyExportOptions = {}): Promise<VerifyReport> {
  const started = performance.now();
  const problems: Problem[] = [];
  const done = (v: StreamVerifier | undefined, logId: string, base: number, counts: [number, number]): VerifyReport => {
    problems.sort((a, b) => (a.seq ?? Infinity) - (b.seq ?? Infinity));
    const firstBad = problems.find((p) => p.seq !== undefined)?.seq;
    return { ok: problems.length === 0, logId, size: v?.size ?? 0, base, rootHash: v ? toHex(v.root()) : '', checkpoints: counts[0], trustedCheckpoints: counts[1], ...(firstBad !== undefined ? { firstBad } : {}), problems, durationMs: performance.now() - started };
  };
  // Pass 1: the header and the checkpoints.
  let header: Record<string, any> | undefined;
  const cpList: unknown[] = [];
  let lineNo = 0;
  for await (const l of exportLines(file)) {
    lineNo++;
    if (l === BAD_LINE) {
      // Reported once, at the first: the file is not what was exported from here on.
      if (!problems.some((p) => p.code === 'MALFORMED')) problems.push({ code: 'MALFORMED', message: `line ${lineNo} is not valid UTF-8 or is longer than ${MAX_LINE_BYTES} bytes: not a line an export writes` });
      header ??= {};
      continue;
    }
    if (!header) {
      try {
        header = JSON.parse(l) as Record<string, any>;
      } catch {
        header = {};
      }
      continue;
    }
    if (l.startsWith('{"checkpoint":')) {
      try {
        cpList.push((JSON.parse(l) as { checkpoint: unknown }).checkpoint);
      } catch {
        problems.push({ code: 'CHECKPOINT_MALFORMED', message: 'a checkpoint line is not JSON' });
      }
    }
  }
  const h = header ?? {};
  const start = h['start'] as { lastHash?: unknown; frontier?: unknown } | undefined;
  // `from` and `to` are record counts: a negative one reached the hasher (which throws on it)
  // or came back as a negative sequence number.
  const counts = Number.isSafeInteger(h['from']) && h['from'] >= 0 && (h['to'] === undefined || (Number.isSafeInteger(h['to']) && h['to'] >= h['from']));
  if (h['format'] !== EXPORT_FORMAT || !isHashHex(h['publicKey']) || !isHashHex(h['logId']) || !counts || !isHashHex(start?.lastHash) || !Array.isArray(start?.frontier) || !(start.frontier as unknown[]).every(isHashHex)) {
    problems.push({ code: 'MALFORMED', message: `not an ${EXPORT_FORMAT} file (bad or missing header line)` });
    return done(undefined, String(h['logId'] ?? ''), 0, [0, 0]);
  }
  const headerKey = fromHex(h['publicKey'] as string);
  if (logIdOf(headerKey) !== h['logId']) problems.push({ code: 'KEY_MISMATCH', message: 'the header\'s log id is not the hash of its public key' });
  if (options.publicKey && !equalBytes(options.publicKey, headerKey)) {
    problems.push({ code: 'KEY_MISMATCH', message: 'the export names a different public key than the trusted one' });
    return done(undefined, h['logId'] as string, h['from'] as number, [0, 0]);
  }
  const key = options.publicKey ?? headerKey;
  const from = h['from'] as number;
  const frontierHex = start.frontier as string[];
  if (frontierHex.length !== popcount(from)) {
    problems.push({ code: 'MALFORMED', message: `the header's start frontier does not fit size ${from}` });
    return done(undefined, h['logId'] as string, from, [0, 0]);
  }
  if (from === 0 && start.lastHash !== h['logId']) problems.push({ code: 'CHAIN_BROKEN', seq: 0, message: 'an export from record 0 must start at the genesis (the log id)' });
  const checkpoints = sortCheckpoints(cpList, key, 'exported', problems);
  if (h['anchor'] !== undefined) {
    const a = verifyCheckpoint(h['anchor'], key);
    if (!a.ok) problems.push({ code: 'ANCHOR_INVALID', message: `the export's anchor: ${a.reason}` });
    else checkpoints.set(from, h['anchor'] as Checkpoint);
  }
  const trusted = sortCheckpoints([...(options.trusted ?? [])], key, 'trusted', problems);
  const v = new StreamVerifier({ size: from, lastHash: fromHex(start.lastHash as string), frontier: new Frontier(frontierHex.map(fromHex), from) }, checkpoints, trusted);
  v.reached(from);
  // Pass 2: the records, hashed a thousand at a time.
  let first = true;
  let chunk: string[] = [];
  const flush = (): boolean => {
    const data = Buffer.from(chunk.map((l) => '\u0000' + l).join(''));
    const offsets: number[] = [];
    const lengths: number[] = [];
    let at = 0;
    for (const l of chunk) {
      const len = 1 + Buffer.byteLength(l);
      offsets.push(at);
      lengths.push(len);
      at += len;
    }
    const n = chunk.length;
    chunk = [];
    return v.feedMany(data, offsets, lengths, n);
  };
  let seq = from;
  for await (const l of exportLines(file)) {
    if (first) {
      first = false;
      continue;
    }
    if (l === BAD_LINE) break; // reported in the first pass; the records after it cannot be placed
    if (l.startsWith('{"checkpoint":')) continue;
    options.onRecord?.(seq++, l);
    chunk.push(l);
    if (chunk.length >= 1000 && !flush()) break;
  }
  if (chunk.length > 0 && !v.problem) flush();
  if (v.problem) problems.push(v.problem);
  else {
    const covered = Math.max(from, ...checkpoints.keys());
    if (v.size > covered) problems.push({ code: 'TAIL_DELETED', seq: covered, message: `records ${covered}..${v.size - 1} are not covered by any signed checkpoint in the export` });
    for (const s of checkpoints.keys()) {
      if (s > v.size) problems.push({ code: 'TAIL_DELETED', seq: v.size, checkpointSize: s, message: `a checkpoint is signed for ${s} records but the export ends at ${v.size}: records were cut off` });
    }
    for (const s of trusted.keys()) {
      if (s > v.size) problems.push({ code: 'ROLLBACK', seq: v.size, checkpointSize: s, message: `a trusted checkpoint covers ${s} records but the export ends at ${v.size}` });
    }
    if (Number.isSafeInteger(h['to']) && h['to'] !== v.size) problems.push({ code: 'TAIL_DELETED', seq: Math.min(v.size, h['to'] as number), message: `the header says the export ends at ${h['to']}, the file ends at ${v.size}` });
  }
  return done(v, h['logId'] as string, from, [checkpoints.size, trusted.size]);
}
