/**
 * The audit target's pure decoders, at high throughput: blocks (`blockLayout`, `blockEntries`),
 * the per-record checks of the wasm hasher (`checkRecords`, on both digest sources) against a
 * reference written here from the documented record layouts, `peekHeader`, heads and
 * checkpoints. Real values from the fixture logs are mutated, and synthetic records are built
 * with hashes and links recomputed, so the checks past the hash comparison are reached too.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { batchHasher } from '../../dist/audit/batch-hash.js';
import { BlockFormatError, blockEntries, blockLayout, BlockWriter } from '../../dist/audit/block.js';
import { parseCheckpoint, verifyCheckpoint } from '../../dist/audit/checkpoint.js';
import { decodeHead, encodeHead } from '../../dist/audit/head.js';
import { decodeRecord, encodeRecord, peekHeader } from '../../dist/audit/record.js';
import { auditLogs, event } from './audit-logs.mjs';
import { applyEdit, byteEdit } from './audit-store.mjs';

const sha256 = (b) => createHash('sha256').update(b).digest();
const hex = (b) => Buffer.from(b).toString('hex');

// ---- generation ----------------------------------------------------------------------------

const recordSpec = fc.record({
  version: fc.constantFrom(1, 2),
  seq: fc.option(fc.constantFrom('0', '00', '01', '-1', '1e2', '9007199254740993', '12345678901234567', '', ' 1', '1.0', '4294967296'), { nil: null, freq: 3 }),
  ts: fc.option(fc.constantFrom('0', '-0', '-5', '1e+21', '1.5', '1234567890123456', '12345678901234567', '-9999999999999999', '"x"', 'null', '1E3', '-'), { nil: null, freq: 3 }),
  link: fc.constantFrom('ok', 'ok', 'ok', 'wrong', 'upper'),
  hash: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'wrong'),
  edits: fc.array(fc.record({ at: fc.nat(), op: fc.constantFrom('insert', 'replace', 'delete'), ch: fc.constantFrom('"', ',', '}', '{', '0', '9', 'a', 'é', '\\', ' ', ':') }), { maxLength: 2 }),
  text: fc.string({ maxLength: 24 }),
});

/** Synthetic blocks of records: the checks of `checkRecords` against the reference. */
export const recordsInput = fc.record({
  mode: fc.constant('records'),
  firstSeq: fc.oneof(fc.nat({ max: 1000 }), fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32, 1e15, 2 ** 53 - 10)),
  prev: fc.constantFrom('none', 'ok', 'wrong'),
  recs: fc.array(recordSpec, { minLength: 1, maxLength: 6 }),
  digests: fc.constantFrom('wasm', 'crypto'),
});

/** Mutated real values, or random bytes, for each decoder. */
export const decodeInput = fc.record({
  mode: fc.constant('decode'),
  what: fc.constantFrom('block', 'block', 'head', 'checkpoint', 'record'),
  log: fc.constantFrom('plain', 'pruned'),
  pick: fc.nat(),
  random: fc.option(fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('base64')), { nil: null, freq: 4 }),
  edits: fc.array(byteEdit, { maxLength: 3 }),
  firstSeq: fc.nat({ max: 400 }),
  digests: fc.constantFrom('wasm', 'crypto'),
});

// ---- the reference -------------------------------------------------------------------------

const MARK = 13; // '{"v":1,"seq":', ',"prevHash":"', ',"timestamp":' are 13 bytes each
const TAIL = 66; // a version-2 record ends with 64 hex digits and '"}'
const starts = (b, at, s) => at >= 0 && at + s.length <= b.length && b.toString('latin1', at, at + s.length) === s;

/** Layout of a block per the documented format, or null. */
function refLayout(b) {
  if (b.length < 21 || b[0] !== 1) return null;
  const count = b.readUInt32BE(1);
  const entries = [];
  let at = 21;
  for (let i = 0; i < count; i++) {
    if (at + 36 > b.length) return null;
    const len = b.readUInt32BE(at + 32);
    const start = at + 36;
    if (len < 2 || start + len > b.length || b[start] !== 0) return null;
    entries.push({ hashAt: at, inputAt: start, len });
    at = start + len;
  }
  return at === b.length ? entries : null;
}

/** Version, exact sequence number (BigInt), link and timestamp offsets of record JSON `j`, or null. */
function refHeader(j) {
  if (j.length < MARK + MARK + TAIL) return null;
  const version = starts(j, 0, '{"v":2,"seq":') ? 2 : starts(j, 0, '{"v":1,"seq":') ? 1 : 0;
  if (!version) return null;
  let i = MARK;
  while (i < j.length && j[i] >= 0x30 && j[i] <= 0x39 && i - MARK < 16) i++;
  if (i === MARK || (j[MARK] === 0x30 && i - MARK > 1)) return null;
  const seq = BigInt(j.toString('latin1', MARK, i));
  if (version === 1) {
    const link = i + MARK;
    if (!starts(j, i, ',"prevHash":"') || link + 65 > j.length || j[link + 64] !== 0x22 || !starts(j, link + 65, ',"timestamp":')) return null;
    return { version, seq, link, ts: link + 65 + MARK };
  }
  const link = j.length - TAIL;
  if (!starts(j, i, ',"timestamp":') || link < i + 2 * MARK || !starts(j, link - MARK, ',"prevHash":"') || !starts(j, j.length - 2, '"}')) return null;
  return { version, seq, link, ts: i + MARK };
}

/** What `checkRecords` must answer for entries of `b` (reference). */
function refCheck(b, entries, firstSeq, prev) {
  const digests = entries.map((e) => sha256(b.subarray(e.inputAt, e.inputAt + e.len)));
  let lo = Infinity;
  let hi = -Infinity;
  let odd = 0;
  let i = 0;
  for (; i < entries.length; i++) {
    const e = entries[i];
    const j = b.subarray(e.inputAt + 1, e.inputAt + e.len);
    const h = refHeader(j);
    if (!h || h.seq !== BigInt(firstSeq) + BigInt(i)) break;
    if (!digests[i].equals(b.subarray(e.hashAt, e.hashAt + 32))) break;
    const p = i === 0 ? prev : digests[i - 1];
    if (p && j.toString('latin1', h.link, h.link + 64) !== hex(p)) break;
    const m = /^(-?)([0-9]{1,16}),/.exec(j.toString('latin1', h.ts, h.ts + 18));
    if (m) {
      const t = Number(m[2]) * (m[1] ? -1 : 1);
      lo = Math.min(lo, t);
      hi = Math.max(hi, t);
    } else odd++;
  }
  return { bad: i, digests, lo, hi, odd };
}

// ---- the properties ------------------------------------------------------------------------

/** `checkRecords` (and `peekHeader`) against the reference on block `b`. */
function compareChecks(b, entries, firstSeq, prev, digests, what) {
  const hasher = batchHasher();
  const saved = hasher.digests;
  hasher.digests = digests;
  const out = new Uint8Array(32 * entries.length);
  const times = new Float64Array(3);
  let bad;
  try {
    bad = hasher.checkRecords(b, entries.map((e) => e.inputAt), entries.map((e) => e.len), entries.length, entries.map((e) => e.hashAt), prev, firstSeq, out, times);
  } finally {
    hasher.digests = saved;
  }
  const ref = refCheck(b, entries, firstSeq, prev);
  const show = () => `${what} (${digests} digests, firstSeq ${firstSeq}): ${JSON.stringify(entries.map((e) => b.toString('utf8', e.inputAt + 1, e.inputAt + e.len)))}`;
  if (bad !== ref.bad) throw new Error(`checkRecords says record ${bad} is the first bad one, the reference says ${ref.bad}: ${show()}`);
  for (let i = 0; i < bad; i++) if (!ref.digests[i].equals(out.subarray(32 * i, 32 * i + 32))) throw new Error(`checkRecords digest ${i} is wrong: ${show()}`);
  if (bad > 0 && (times[0] !== ref.lo || times[1] !== ref.hi || times[2] !== ref.odd)) {
    throw new Error(`checkRecords time span ${[...times]} differs from the reference ${[ref.lo, ref.hi, ref.odd]}: ${show()}`);
  }
  // The JS reader (what the verifier uses to describe a bad record) agrees on every header.
  for (const e of entries) {
    const h = refHeader(b.subarray(e.inputAt + 1, e.inputAt + e.len));
    const p = peekHeader(b, e.inputAt + 1, e.inputAt + e.len);
    if (!h !== !p) throw new Error(`peekHeader ${p ? 'accepts' : 'refuses'} a record the reference ${h ? 'accepts' : 'refuses'}: ${show()}`);
    if (h && (h.version !== p.version || p.prevAt !== e.inputAt + 1 + h.link || (h.seq < 2n ** 53n && BigInt(p.seq) !== h.seq))) {
      throw new Error(`peekHeader reads ${JSON.stringify(p)}, the reference ${JSON.stringify({ ...h, seq: String(h.seq) })}: ${show()}`);
    }
  }
}

function editText(s, edits) {
  let t = s;
  for (const { at, op, ch } of edits) {
    const i = at % (t.length + 1);
    t = op === 'insert' ? t.slice(0, i) + ch + t.slice(i) : op === 'replace' ? t.slice(0, i) + ch + t.slice(i + 1) : t.slice(0, i) + t.slice(i + 1);
  }
  return t;
}

/** Build a block of synthetic records and compare the checks. */
export function checkRecordsInput(input) {
  const prevBytes = input.prev === 'none' ? undefined : sha256(Buffer.from('previous'));
  const w = new BlockWriter();
  let last = prevBytes ?? sha256(Buffer.from('genesis'));
  input.recs.forEach((r, i) => {
    const seq = input.firstSeq + i;
    const link = r.link === 'wrong' ? 'ab'.repeat(32) : r.link === 'upper' ? hex(last).toUpperCase() : hex(last);
    let json = encodeRecord(seq, i === 0 && input.prev === 'wrong' ? 'cd'.repeat(32) : link, { ...event(i), details: { text: r.text } }, 1_700_000_000_000 + i, r.version);
    if (r.seq !== null) json = json.replace(/"seq":[0-9]+/, `"seq":${r.seq}`);
    if (r.ts !== null) json = json.replace(/"timestamp":[0-9]+/, `"timestamp":${r.ts}`);
    const input0 = Buffer.concat([Buffer.of(0), Buffer.from(editText(json, r.edits))]);
    const digest = sha256(input0);
    w.add(r.hash === 'ok' ? digest : sha256(Buffer.from('other')), input0, 0);
    last = digest;
  });
  const b = Buffer.from(w.finish());
  const entries = refLayout(b);
  if (!entries) throw new Error('the reference cannot read a block BlockWriter wrote');
  compareChecks(b, entries, input.firstSeq, prevBytes, input.digests, 'synthetic block');
}

function expectThrows(what, fn, ...types) {
  try {
    return { value: fn() };
  } catch (e) {
    if (types.some((t) => e instanceof t)) return { error: e };
    throw new Error(`${what} threw ${e?.constructor?.name}, not ${types.map((t) => t.name).join(' or ')}: ${e instanceof Error ? e.stack : String(e)}`);
  }
}

/** One decoder on a mutated real value or random bytes. */
export async function checkDecodeInput(input) {
  const logs = await auditLogs();
  const log = logs[input.log];
  const kind = input.what === 'record' ? 'block' : input.what;
  const pool = log.byKind[kind];
  const realValue = Buffer.from(pool[input.pick % pool.length].value);
  let b = input.random !== null ? Buffer.from(input.random, 'base64') : realValue;
  if (input.what === 'record') {
    // One record's JSON, out of a real block.
    const entries = refLayout(realValue);
    const e = entries[input.pick % entries.length];
    b = realValue.subarray(e.inputAt + 1, e.inputAt + e.len);
  }
  for (const e of input.edits) b = applyEdit(b, e) ?? Buffer.alloc(0);
  b = Buffer.from(b); // its own buffer, offset 0
  if (input.what === 'block') {
    const ref = refLayout(b);
    const got = expectThrows('blockLayout', () => blockLayout(b), BlockFormatError);
    if (!ref !== !got.value) throw new Error(`blockLayout ${got.value ? 'accepts' : 'refuses'} a block the reference ${ref ? 'accepts' : 'refuses'} (${b.length} bytes: ${b.toString('base64').slice(0, 400)})`);
    if (!ref) return;
    const l = got.value;
    const same = l.count === ref.length && ref.every((e, i) => l.hashAt[i] === e.hashAt && l.inputAt[i] === e.inputAt && l.inputLength[i] === e.len);
    if (!same || blockEntries(b).length !== ref.length) throw new Error(`blockLayout disagrees with the reference on the entries of a ${b.length}-byte block`);
    compareChecks(b, ref, input.firstSeq, undefined, input.digests, 'mutated block');
  } else if (input.what === 'head') {
    const got = expectThrows('decodeHead', () => decodeHead(b), TypeError);
    // A head that decodes is the encoding of what it decoded to.
    if (got.value && got.value.size < 2 ** 53 && !Buffer.from(encodeHead(got.value.size, got.value.lastHash, got.value.frontier)).equals(b)) {
      throw new Error(`decodeHead accepted ${b.toString('hex')} but it is not the encoding of what it returned`);
    }
  } else if (input.what === 'checkpoint') {
    const text = b.toString('utf8');
    const parsed = expectThrows('parseCheckpoint', () => parseCheckpoint(text), SyntaxError);
    const key = Buffer.from(log.meta.publicKey, 'hex');
    const r = expectThrows('verifyCheckpoint', () => verifyCheckpoint(parsed.error ? text : parsed.value, key));
    const v = r.value;
    if (!(v?.ok === true || (v?.ok === false && ['CHECKPOINT_MALFORMED', 'CHECKPOINT_FOREIGN', 'CHECKPOINT_SIGNATURE'].includes(v.code) && typeof v.reason === 'string'))) {
      throw new Error(`verifyCheckpoint returned ${JSON.stringify(v)}`);
    }
    if (input.random === null && input.edits.length === 0 && !v.ok) throw new Error(`verifyCheckpoint refuses a checkpoint the log signed: ${v.reason}`);
  } else {
    expectThrows('decodeRecord', () => decodeRecord(b.toString('utf8'), ''), TypeError, SyntaxError);
  }
}
