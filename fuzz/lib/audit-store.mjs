/**
 * The audit target's store and export halves: corrupt values of a real LevelDB audit store
 * (blocks, Merkle nodes, the head, checkpoints, meta, the retention anchor) or lines and bytes
 * of an exported file, verify, and check the verdict. Each store input is written as one
 * LevelDB batch and undone by another, so the next input sees the log as it was built.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { verifyAuditLog } from '../../dist/audit/index.js';
import { verifyExport } from '../../dist/audit/export.js';
import { verifyStore } from '../../dist/audit/verify.js';
import { SandboxError } from '../../dist/errors.js';
import { auditLogs, kindOf, u64Key } from './audit-logs.mjs';
import { bounded } from './bounded.mjs';

/** Per-verification time cap: a log of ~300 records verifies in milliseconds. */
const CAP_MS = 10_000;
const PROBLEM_CODES = new Set(['MALFORMED', 'RECORD_EDITED', 'RECORD_MISPLACED', 'RECORD_MISSING', 'CHAIN_BROKEN', 'CHECKPOINT_MALFORMED', 'CHECKPOINT_SIGNATURE', 'CHECKPOINT_FOREIGN', 'CHECKPOINT_MISMATCH', 'TAIL_DELETED', 'ROLLBACK', 'FORK', 'HEAD_MISMATCH', 'NODE_MISMATCH', 'ANCHOR_INVALID', 'KEY_MISMATCH']);

// ---- generation ----------------------------------------------------------------------------

const b64 = (max) => fc.uint8Array({ maxLength: max }).map((b) => Buffer.from(b).toString('base64'));
const position = fc.oneof(fc.nat(), fc.constantFrom(0, 1, 5, 9, 13, 21, 41, 53, 57, 58, 73));
/** JSON values that are wrong in interesting ways (no NaN: inputs must survive JSON). */
const oddJson = fc.oneof(
  fc.constantFrom(-1, 0, 1, 100, 2 ** 53, 2 ** 53 - 1, 1e308, 1.5, -0, '0', '100', '', null, true, [], {}, 'zz', 'A'.repeat(64), '0'.repeat(64), 'ff'.repeat(32), '=='),
  fc.string({ maxLength: 12 }),
  fc.integer(),
);
const JSON_PATHS = ['size', 'rootHash', 'lastHash', 'logId', 'timestamp', 'signature', 'publicKey', 'format', 'checkpoint', 'checkpoint.size', 'checkpoint.rootHash', 'checkpoint.signature', 'frontier', 'frontier.0', 'from', 'to', 'start', 'start.lastHash', 'start.frontier', 'start.frontier.0', 'anchor', 'anchor.size', '__proto__', 'extra'];

/** One edit of a byte string (`value` of a key, or a whole export file). */
export const byteEdit = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip'), at: position, mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate'), at: position }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('extend'), bytes: b64(40) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('insert'), at: position, bytes: b64(16) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('replace'), bytes: b64(200) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('u32'), at: position, value: fc.oneof(fc.constantFrom(0, 1, 2, 21, 53, 0x7fffffff, 0xffffffff, 0x10000), fc.nat()) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('f64'), at: fc.constantFrom(5, 13), value: fc.constantFrom('NaN', 'Infinity', '-Infinity', '-0', 0, 1e300, 1_700_000_000_000) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('json'), path: fc.constantFrom(...JSON_PATHS), value: oddJson }) },
);

const mutation = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constantFrom('block', 'block', 'node', 'checkpoint', 'head', 'meta', 'anchor'), pick: fc.nat(), edit: byteEdit }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('block', 'node', 'checkpoint', 'head', 'anchor'), pick: fc.nat(), edit: fc.constant({ op: 'delete' }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('block', 'node', 'checkpoint'), pick: fc.nat(), edit: fc.record({ op: fc.constant('copy'), from: fc.nat() }) }) },
  { weight: 1, arbitrary: fc.record({ add: fc.constantFrom('block', 'node', 'checkpoint'), at: fc.nat({ max: 400 }), level: fc.constantFrom(0, 3, 4, 8), from: fc.nat() }) },
);

/** Inputs that corrupt a store and verify it. */
export const storeInput = fc.record({
  mode: fc.constant('store'),
  log: fc.constantFrom('plain', 'pruned'),
  mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
  workers: fc.boolean(),
  deep: fc.boolean(),
  trusted: fc.boolean(),
  viaReader: fc.nat({ max: 19 }).map((n) => n === 0), // the public path takes a snapshot: ~15x slower
});

const lineEdit = fc.oneof(
  fc.record({ op: fc.constantFrom('drop', 'dup'), i: fc.nat() }),
  fc.record({ op: fc.constant('swap'), i: fc.nat(), j: fc.nat() }),
  fc.record({ op: fc.constant('line'), i: fc.nat(), edit: byteEdit }),
  fc.record({ op: fc.constant('header'), edit: fc.record({ op: fc.constant('json'), path: fc.constantFrom(...JSON_PATHS), value: oddJson }) }),
);

/** Inputs that corrupt an exported file and verify it offline. */
export const exportInput = fc.record({
  mode: fc.constant('export'),
  log: fc.constantFrom('plain', 'pruned'),
  lines: fc.array(lineEdit, { maxLength: 3 }),
  bytes: fc.array(byteEdit, { maxLength: 2 }),
  eol: fc.constantFrom('\n', '\n', '\r\n', '\r'),
  key: fc.constantFrom('header', 'header', 'right', 'wrong'),
  trusted: fc.boolean(),
});

// ---- edits ---------------------------------------------------------------------------------

function setPath(obj, path, value) {
  const parts = path.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) {
    if (o === null || typeof o !== 'object') return;
    o = o[p];
  }
  if (o === null || typeof o !== 'object') return;
  Object.defineProperty(o, parts[parts.length - 1], { value, enumerable: true, writable: true, configurable: true });
}

/** Apply one edit to bytes; undefined means the key is deleted. */
export function applyEdit(bytes, e, copyFrom) {
  const b = Buffer.from(bytes);
  const at = (n) => (b.length === 0 ? 0 : n % (b.length + 1));
  switch (e.op) {
    case 'flip':
      if (b.length > 0) b[e.at % b.length] ^= e.mask;
      return b;
    case 'truncate':
      return b.subarray(0, at(e.at));
    case 'extend':
      return Buffer.concat([b, Buffer.from(e.bytes, 'base64')]);
    case 'insert':
      return Buffer.concat([b.subarray(0, at(e.at)), Buffer.from(e.bytes, 'base64'), b.subarray(at(e.at))]);
    case 'replace':
      return Buffer.from(e.bytes, 'base64');
    case 'u32':
      if (b.length >= 4) b.writeUInt32BE(e.value >>> 0, e.at % (b.length - 3));
      return b;
    case 'f64':
      if (b.length >= e.at + 8) b.writeDoubleBE(Number(e.value), e.at);
      return b;
    case 'json': {
      let v;
      try {
        v = JSON.parse(b.toString('utf8'));
      } catch {
        return b;
      }
      setPath(v, e.path, e.value);
      return Buffer.from(JSON.stringify(v));
    }
    case 'delete':
      return undefined;
    case 'copy':
      return Buffer.from(copyFrom ?? b);
    default:
      throw new Error(`unknown edit ${e.op}`);
  }
}

// ---- the properties ------------------------------------------------------------------------

/** The report is a typed verdict: ok iff no problems, each problem with a known code. */
export function checkReport(r, what) {
  const bad = (why) => new Error(`${what}: ${why}: ${JSON.stringify(r)?.slice(0, 1500)}`);
  if (r === null || typeof r !== 'object' || typeof r.ok !== 'boolean' || !Array.isArray(r.problems)) throw bad('not a VerifyReport');
  if (r.ok !== (r.problems.length === 0)) throw bad('ok disagrees with the problems');
  if (!Number.isSafeInteger(r.size) || r.size < 0 || !Number.isSafeInteger(r.base)) throw bad('size or base is not a count');
  for (const p of r.problems) {
    if (!PROBLEM_CODES.has(p?.code) || typeof p.message !== 'string') throw bad(`problem ${JSON.stringify(p)} has no known code or no message`);
    if (p.seq !== undefined && !(Number.isSafeInteger(p.seq) && p.seq >= 0)) throw bad(`problem ${p.code} names sequence number ${p.seq}`);
  }
}

const same = (a, b) => a !== undefined && b !== undefined && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

/** Patch the store, verify, check, restore. */
export async function checkStore(input) {
  const logs = await auditLogs();
  const log = logs[input.log];
  const changed = new Map(); // hex key → { key, value | undefined }
  const valueOf = (hk) => (changed.has(hk) ? changed.get(hk).value : log.original.get(hk)?.value);
  for (const m of input.mutations) {
    if (m.add) {
      const key = m.add === 'block' ? u64Key([0x62], m.at) : m.add === 'checkpoint' ? u64Key([0x63], m.at) : u64Key([0x6e, m.level], m.at % 40);
      const pool = log.byKind[m.add] ?? [];
      const hk = Buffer.from(key).toString('hex');
      if (pool.length > 0) changed.set(hk, { key, value: pool[m.from % pool.length].value });
      continue;
    }
    const pool = log.byKind[m.kind] ?? [];
    if (pool.length === 0) continue;
    const target = pool[m.pick % pool.length];
    const hk = Buffer.from(target.key).toString('hex');
    const cur = valueOf(hk);
    if (cur === undefined) continue;
    changed.set(hk, { key: target.key, value: applyEdit(cur, m.edit, m.edit.op === 'copy' ? pool[m.edit.from % pool.length].value : undefined) });
  }
  const db = log.store.db;
  const patch = db.batch();
  for (const { key, value } of changed.values()) {
    if (value === undefined) patch.del(key);
    else patch.put(key, value);
  }
  await patch.write();
  try {
    const options = {
      hashWorkers: input.workers ? 2 : 0,
      deep: input.deep,
      ...(input.trusted ? { trusted: [log.checkpoints[log.checkpoints.length - 1]] } : {}),
    };
    const metaChanged = [...changed.entries()].some(([hk, c]) => log.original.get(hk)?.kind === 'meta' && !same(c.value, log.original.get(hk).value));
    let report;
    if (input.viaReader) {
      try {
        report = await bounded('verifyAuditLog', verifyAuditLog(log.dir, options), CAP_MS);
      } catch (e) {
        if (metaChanged && e instanceof SandboxError && e.code === 'AUDIT_UNAVAILABLE') return;
        throw new Error(`verifyAuditLog threw ${e?.constructor?.name} (${metaChanged ? 'meta edited' : 'meta intact'}): ${e instanceof Error ? e.stack : String(e)}`);
      }
    } else {
      try {
        report = await bounded('verifyStore', verifyStore(log.store, options), CAP_MS);
      } catch (e) {
        throw new Error(`verifyStore threw ${e?.constructor?.name}: ${e instanceof Error ? e.stack : String(e)}`);
      }
    }
    checkReport(report, 'verifyStore');
    // Blocks and the head are covered by hashes and signatures; stored nodes are recomputed.
    // Any change to one of them must be found (a deleted node is only a cache miss).
    const essential = [...changed.entries()].filter(([hk, c]) => {
      const o = log.original.get(hk);
      if (!o) return kindOf(c.key) === 'block' && c.value !== undefined && Buffer.from(c.key).readUInt32BE(5) >= log.base;
      if (o.kind === 'block' || o.kind === 'head') return !same(c.value, o.value);
      return o.kind === 'node' && c.value !== undefined && !same(c.value, o.value);
    });
    if (essential.length > 0 && report.ok) {
      throw new Error(`verification passed a store whose ${essential.map(([, c]) => kindOf(c.key)).join(', ')} was changed: ${JSON.stringify(report).slice(0, 500)}`);
    }
  } finally {
    const undo = db.batch();
    for (const [hk, { key }] of changed) {
      const o = log.original.get(hk);
      if (o) undo.put(key, o.value);
      else undo.del(key);
    }
    await undo.write();
  }
}

let exportNo = 0;

/** Lines as `verifyExport` reads them (readline: \n, \r\n and a lone \r end a line; empty lines skipped). */
function effectiveLines(buf) {
  return buf.toString('utf8').split(/\r\n|\r|\n/).filter((l) => l.length > 0);
}
const recordLines = (lines) => lines.slice(1).filter((l) => !l.startsWith('{"checkpoint":'));

/** Edit an export, verify it offline, check the verdict. */
export async function checkExport(input) {
  const logs = await auditLogs();
  const log = logs[input.log];
  const lines = log.exportLines.map((l) => Buffer.from(l));
  for (const e of input.lines) {
    const i = lines.length === 0 ? 0 : e.i % lines.length;
    if (e.op === 'drop') lines.splice(i, 1);
    else if (e.op === 'dup') lines.splice(i, 0, lines[i] ?? Buffer.alloc(0));
    else if (e.op === 'swap') {
      const j = lines.length === 0 ? 0 : e.j % lines.length;
      [lines[i], lines[j]] = [lines[j], lines[i]];
    } else if (e.op === 'line') lines[i] = applyEdit(lines[i] ?? Buffer.alloc(0), e.edit) ?? Buffer.alloc(0);
    else if (e.op === 'header') lines[0] = applyEdit(lines[0] ?? Buffer.alloc(0), e.edit);
  }
  let buf = Buffer.concat(lines.flatMap((l) => [l, Buffer.from(input.eol)]));
  for (const e of input.bytes) buf = applyEdit(buf, e) ?? Buffer.alloc(0);
  const file = join(logs.root, `edited-${process.pid}-${exportNo++ % 4}.jsonl`);
  writeFileSync(file, buf);
  const options = {
    ...(input.key === 'right' ? { publicKey: Buffer.from(log.meta.publicKey, 'hex') } : input.key === 'wrong' ? { publicKey: Buffer.alloc(32, 7) } : {}),
    ...(input.trusted ? { trusted: [log.checkpoints[log.checkpoints.length - 1]] } : {}),
  };
  let report;
  try {
    report = await bounded('verifyExport', verifyExport(file, options), CAP_MS);
  } catch (e) {
    throw new Error(`verifyExport threw ${e?.constructor?.name}: ${e instanceof Error ? e.stack : String(e)}`);
  }
  checkReport(report, 'verifyExport');
  const got = effectiveLines(buf);
  const want = log.exportLines;
  const recordsChanged = JSON.stringify(recordLines(got)) !== JSON.stringify(recordLines(want));
  if (recordsChanged && got[0] === want[0] && report.ok) {
    throw new Error(`verifyExport passed an export whose record lines were changed (header intact): ${JSON.stringify(report).slice(0, 500)}`);
  }
}
