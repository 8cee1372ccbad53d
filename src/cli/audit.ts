/**
 * `agentos audit`: verify, read and maintain the tamper-evident audit log.
 *
 * Reading commands (verify, tail, query, export, checkpoint, proof) work on a snapshot of the
 * store, so they run while a sandbox is writing it. `prune` changes the store and needs it to
 * be free.
 */
import { readFile } from 'node:fs/promises';
import { AuditChain, checkConsistencyProof, checkInclusionProof } from '../audit/chain.js';
import { loadOrCreateLogKey, parseCheckpoint, signCheckpoint, Witness, type Checkpoint } from '../audit/checkpoint.js';
import { verifyExport } from '../audit/export.js';
import { fromHex, toHex } from '../audit/hash.js';
import { consistencyPath, inclusionPath } from '../audit/merkle.js';
import { openAuditReader } from '../audit/reader.js';
import { pruneChain } from '../audit/retention.js';
import { verifyStore } from '../audit/verify.js';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';
import { UsageError } from '../errors.js';
import { join } from 'node:path';
import { parse, reportError, type ExitStatus, print } from './common.js';
import { formatReport, parseCount, parseTime, safeLine } from './audit-format.js';
import { AUDIT_COMMON, commonHelp, EXPORT_OPTIONS, exportCommand, QUERY_OPTIONS, queryCommand, TAIL_OPTIONS, tailCommand } from './audit-read.js';
import { FLAGS, flagLine, withAliases } from './flags.js';

const VERIFY_OPTIONS = {
  ...AUDIT_COMMON,
  witness: FLAGS.witness,
  trusted: { type: 'string', multiple: true },
  // --key was the first name; elsewhere --key NAME is a signing key's name in the key store.
  'log-key': withAliases({ name: 'log-key', type: 'string', arg: 'HEX|FILE', help: "the log's public key (64 hex digits, or a file holding them) to trust instead\nof the one recorded in the store" }, 'key'),
  export: { type: 'string' },
  deep: { type: 'boolean' },
} as const;
const CHECKPOINT_OPTIONS = { ...AUDIT_COMMON, out: FLAGS.out, witness: FLAGS.witness } as const;
const PROOF_OPTIONS = { ...AUDIT_COMMON, seq: { type: 'string' }, size: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } } as const;
const PRUNE_OPTIONS = { ...AUDIT_COMMON, before: { type: 'string' }, 'older-than': { type: 'string' } } as const;

/** The options of each `agentos audit` command (the flag table's test walks them). */
export const AUDIT_OPTIONS = {
  verify: VERIFY_OPTIONS,
  tail: TAIL_OPTIONS,
  query: QUERY_OPTIONS,
  export: EXPORT_OPTIONS,
  checkpoint: CHECKPOINT_OPTIONS,
  proof: PROOF_OPTIONS,
  prune: PRUNE_OPTIONS,
} as const;

export const AUDIT_HELP = `Usage: agentos audit <command> [options]

Verify, read and maintain the tamper-evident audit log that every gate decision is written
to (a hash chain and Merkle tree in LevelDB, with ed25519-signed checkpoints).

Commands:
  verify        check every record, link, checkpoint and stored Merkle node; report the first bad
                sequence number and why (exit 0 intact, 1 problems found)
  tail          print the last records; --follow keeps printing new ones
  query         select records by agent, type, outcome, time, correlation id or sequence range
  export        write records as JSON Lines that 'verify --export' checks offline
  checkpoint    verify the log, then sign a checkpoint of its current state; print it, write it
                to a file (--out) or a witness directory (--witness)
  proof         an inclusion proof (--seq N) or a consistency proof (--from A --to B), checked
  prune         retention: remove old records, keeping the rest verifiable from a signed anchor

Common options:
${flagLine(AUDIT_COMMON.audit, undefined, 19)}
${flagLine(AUDIT_COMMON.json, 'machine-readable output (one JSON object; JSON Lines for tail and query)', 19)}
${flagLine(AUDIT_COMMON.help, 'help for a command: agentos audit <command> --help', 19)}

Reading commands use a snapshot of the store, so they work while an agent is running.
Text output shows control characters and ANSI escapes escaped.`;

const VERIFY_HELP = `Usage: agentos audit verify [--audit DIR] [--witness DIR] [--trusted FILE]... [--log-key HEX|FILE] [--deep] [--json]
       agentos audit verify --export FILE [--log-key HEX|FILE] [--trusted FILE]... [--json]

Check the audit log: each record's hash and its link to the one before, sequence numbers,
every signed checkpoint (signature, log id, root), the stored Merkle nodes and the head.
Detects edited, deleted, swapped or inserted records, a deleted tail, checkpoints copied from
another log, and — given a checkpoint held elsewhere (--witness, --trusted) — a rollback to an
older, validly signed copy of the store.

Options:
${flagLine(VERIFY_OPTIONS.witness, "a witness directory (see 'agentos run --witness'); its latest checkpoint is trusted", 19)}
  --trusted FILE   a checkpoint file held elsewhere (from 'audit checkpoint --out'); repeatable
${flagLine(VERIFY_OPTIONS['log-key'], undefined, 19)}
  --export FILE    verify an exported file offline instead of the store
  --deep           also parse every record (slower)
${commonHelp('print the report as one JSON object')}

Exit status: 0 intact, 1 problems found, 2 bad input, 5 the log cannot be read.`;

const CHECKPOINT_HELP = `Usage: agentos audit checkpoint [--audit DIR] [--out FILE] [--witness DIR] [--json]

Verify the log, then sign a checkpoint {logId, size, rootHash, lastHash, timestamp} of its
current state with the log key (DIR/log-key.pem) and print it. Keep the checkpoint somewhere
the log's host cannot change: 'audit verify --trusted FILE' then detects a deleted tail or a
rollback. Refuses (exit 1) when the log does not verify.

Options:
${flagLine(CHECKPOINT_OPTIONS.out, 'also write the checkpoint to FILE', 19)}
${flagLine(CHECKPOINT_OPTIONS.witness, 'also publish it to a witness directory', 19)}
${commonHelp()}`;

const PROOF_HELP = `Usage: agentos audit proof --seq N [--size M] [--audit DIR] [--json]
       agentos audit proof --from A [--to B] [--audit DIR] [--json]

Print an RFC 6962 inclusion proof of record N in the tree of size M (default: the whole log),
or a consistency proof that the tree of size B extends the tree of size A, after checking it.

Options:
${commonHelp()}`;

const PRUNE_HELP = `Usage: agentos audit prune (--before SEQ | --older-than DURATION) [--audit DIR] [--json]

Retention: remove the records before SEQ, or those older than DURATION (e.g. 90d, 24h), whole
blocks at a time. A checkpoint signed at the prune point becomes the log's anchor, so the rest
still verifies; the prune itself is recorded as an audit_pruned event. Needs the store to be
free (no agent running on it).

Options:
${commonHelp()}`;

async function readKey(spec: string): Promise<Uint8Array> {
  const text = /^[0-9a-fA-F]{64}$/.test(spec) ? spec : (await readFile(spec, 'utf8').catch(() => '')).trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new UsageError(`--log-key ${JSON.stringify(spec)}: expected 64 hex digits or a file holding them (the publicKey printed by 'agentos audit checkpoint')`);
  return fromHex(text.toLowerCase());
}

async function readTrusted(files: readonly string[]): Promise<Checkpoint[]> {
  const out: Checkpoint[] = [];
  for (const f of files) {
    try {
      out.push(parseCheckpoint(await readFile(f, 'utf8')));
    } catch (e) {
      throw new UsageError(`--trusted ${f}: not a checkpoint file (${(e as Error).message})`);
    }
  }
  return out;
}

async function verifyCommand(argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, VERIFY_OPTIONS, 'audit verify');
  if (values.help) return print(VERIFY_HELP);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; see \`agentos audit verify --help\``);
  const trusted = await readTrusted(values.trusted ?? []);
  const publicKey = values['log-key'] !== undefined ? await readKey(values['log-key']) : undefined;
  let report;
  let what: string;
  if (values.export !== undefined) {
    what = `export ${values.export}`;
    try {
      await readFile(values.export, { flag: 'r' }).then(() => undefined);
    } catch (e) {
      throw new UsageError(`--export ${values.export}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    report = await verifyExport(values.export, { trusted, ...(publicKey ? { publicKey } : {}) });
  } else {
    const dir = values.audit ?? DEFAULT_AUDIT_DIR;
    what = `the audit log in ${dir}`;
    const reader = await openAuditReader(dir);
    try {
      report = await verifyStore(reader.store, { trusted, ...(publicKey ? { publicKey } : {}), ...(values.witness !== undefined ? { witness: values.witness } : {}), deep: values.deep ?? false });
    } finally {
      await reader.close();
    }
  }
  if (values.json) process.stdout.write(JSON.stringify(report) + '\n');
  else process.stdout.write(formatReport(report, what) + '\n');
  return report.ok ? 0 : 1;
}

async function checkpointCommand(argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, CHECKPOINT_OPTIONS, 'audit checkpoint');
  if (values.help) return print(CHECKPOINT_HELP);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; see \`agentos audit checkpoint --help\``);
  const dir = values.audit ?? DEFAULT_AUDIT_DIR;
  const reader = await openAuditReader(dir);
  let cp: Checkpoint;
  try {
    const report = await verifyStore(reader.store);
    if (!report.ok) {
      process.stderr.write(formatReport(report, `the audit log in ${dir}`) + '\n');
      process.stderr.write('agentos: refusing to sign a checkpoint of a log that does not verify\n');
      return 1;
    }
    const key = await loadOrCreateLogKey(join(dir, 'log-key.pem'));
    if (key.logId !== reader.logId) throw new UsageError(`${dir}/log-key.pem is not this log's key`);
    cp = signCheckpoint(key, { size: report.size, rootHash: fromHex(report.rootHash), lastHash: report.size === 0 ? fromHex(reader.logId) : await reader.source.leaf(report.size - 1), timestamp: Date.now() });
  } finally {
    await reader.close();
  }
  const text = JSON.stringify(cp) + '\n';
  if (values.out !== undefined) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(values.out, text);
  }
  if (values.witness !== undefined) await new Witness(values.witness).publish(cp);
  if (values.json) process.stdout.write(JSON.stringify({ checkpoint: cp, publicKey: toHex(reader.publicKey) }) + '\n');
  else {
    process.stdout.write(`checkpoint of log ${cp.logId}\n  size ${cp.size}\n  root ${cp.rootHash}\n  time ${new Date(cp.timestamp).toISOString()}\n`);
    process.stdout.write(`public key ${toHex(reader.publicKey)}\n`);
    if (values.out !== undefined) process.stdout.write(`written to ${values.out}\n`);
    if (values.witness !== undefined) process.stdout.write(`published to witness ${values.witness}\n`);
  }
  return 0;
}

async function proofCommand(argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, PROOF_OPTIONS, 'audit proof');
  if (values.help) return print(PROOF_HELP);
  if (positionals.length > 0 || (values.seq === undefined) === (values.from === undefined)) throw new UsageError('give --seq N (inclusion) or --from A (consistency); see `agentos audit proof --help`');
  const reader = await openAuditReader(values.audit ?? DEFAULT_AUDIT_DIR);
  try {
    const size = reader.head.size;
    const src = reader.source;
    const num = (v: string | undefined, flag: string, dflt: number) => (v === undefined ? dflt : parseCount(v, flag));
    let out: Record<string, unknown>;
    let ok: boolean;
    if (values.seq !== undefined) {
      const seq = parseCount(values.seq, '--seq');
      const n = num(values.size, '--size', size);
      if (seq >= n || n > size) throw new UsageError(`--seq ${seq} --size ${n}: the log has ${size} records (the tree size must be at most that, and above the sequence number)`);
      const path = (await inclusionPath(src, seq, n)).map(toHex);
      const proof = { logId: reader.logId, seq, size: n, leafHash: toHex(await src.leaf(seq)), rootHash: toHex(await src.rootAt(n)), path };
      ok = checkInclusionProof(proof);
      out = { kind: 'inclusion', ok, ...proof };
    } else {
      const from = parseCount(values.from!, '--from');
      const to = num(values.to, '--to', size);
      if (from > to || to > size) throw new UsageError(`--from ${from} --to ${to}: need from ≤ to ≤ ${size}`);
      const proof = { logId: reader.logId, from, to, fromRoot: toHex(await src.rootAt(from)), toRoot: toHex(await src.rootAt(to)), path: (await consistencyPath(src, from, to)).map(toHex) };
      ok = checkConsistencyProof(proof);
      out = { kind: 'consistency', ok, ...proof };
    }
    if (values.json) process.stdout.write(JSON.stringify(out) + '\n');
    else {
      for (const [k, v] of Object.entries(out)) process.stdout.write(`${k}: ${Array.isArray(v) ? `\n  ${v.join('\n  ')}` : safeLine(String(v))}\n`);
    }
    return ok ? 0 : 1;
  } finally {
    await reader.close();
  }
}

async function pruneCommand(argv: string[]): Promise<ExitStatus> {
  const { values, positionals } = parse(argv, PRUNE_OPTIONS, 'audit prune');
  if (values.help) return print(PRUNE_HELP);
  if (positionals.length > 0 || (values.before === undefined) === (values['older-than'] === undefined)) throw new UsageError('give exactly one of --before SEQ or --older-than DURATION; see `agentos audit prune --help`');
  const chain = await AuditChain.open(values.audit ?? DEFAULT_AUDIT_DIR, { lockWaitMs: 2000 });
  try {
    const r = await pruneChain(chain, values.before !== undefined ? { before: parseCount(values.before, '--before'), by: 'agentos audit prune' } : { olderThan: parseTime(values['older-than']!, '--older-than'), by: 'agentos audit prune' });
    if (values.json) process.stdout.write(JSON.stringify({ ok: true, ...r }) + '\n');
    else process.stdout.write(r.removedRecords === 0 ? `nothing to prune (the log starts at ${r.base})\n` : `removed ${r.removedRecords} records in ${r.removedBlocks} blocks; the log now starts at ${r.base} (anchored by a signed checkpoint)\n`);
    return 0;
  } finally {
    await chain.close();
  }
}

/** Run `agentos audit …`. */
export async function auditCommand(argv: string[]): Promise<ExitStatus> {
  const [sub, ...rest] = argv;
  const json = argv.includes('--json');
  try {
    switch (sub) {
      case 'verify':
        return await verifyCommand(rest);
      case 'tail':
        return await tailCommand(rest);
      case 'query':
        return await queryCommand(rest);
      case 'export':
        return await exportCommand(rest);
      case 'checkpoint':
        return await checkpointCommand(rest);
      case 'proof':
        return await proofCommand(rest);
      case 'prune':
        return await pruneCommand(rest);
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        process.stdout.write(AUDIT_HELP + '\n');
        return sub === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown audit command ${JSON.stringify(sub)}; see \`agentos audit --help\``);
    }
  } catch (e) {
    return reportError(e, json);
  }
}
