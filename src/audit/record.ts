/**
 * Audit records: the fields (the seed's `SecurityEvent` / `AuditEvent`), their caps, and the
 * canonical encoding that is hashed.
 *
 * Canonical form: one line of JSON, no whitespace, with the top-level members in a fixed order
 * and every nested object's members sorted by UTF-16 code unit (as RFC 8785). Strings are
 * escaped as `JSON.stringify` does (control characters and lone surrogates become `\uXXXX`),
 * numbers are integers, `provenance` and `details` are omitted when empty. The record's hash is
 * the Merkle leaf hash `SHA-256(0x00 || UTF-8(canonical JSON))`, and `prevHash` is the previous
 * record's hash (the log id for record 0), so the records form a hash chain as well as the
 * leaves of the tree. Two layouts exist, told apart by `v`, the first member:
 *
 * - version 2 (written today): `v, seq, timestamp, eventType, severity, agentId, source, action,
 *   resource, outcome, provenance, details, prevHash`. The link comes last, so everything before
 *   the record's last two or three 64-byte SHA-256 blocks depends on no other record: a batch
 *   of records is hashed four at a time (SIMD lanes) and only those last blocks one record after
 *   another (see `batch-hash.ts` `hashChained`).
 * - version 1 (logs written before): `v, seq, prevHash, timestamp, …, details`. The link sits in
 *   the first block, so each record had to be hashed whole after the one before it.
 *
 * A log may hold version-1 records followed by version-2 ones (a log written before and after an
 * upgrade); each record is hashed and linked by its own layout, and the version is inside the
 * hashed bytes, so it cannot be changed without breaking the record's hash. Because the order is
 * fixed, `seq` and the position of the link are read from the bytes without parsing.
 *
 * Agent-supplied text is kept as structured fields, never spliced into other text: long values
 * are cut with a visible marker ({@link TRUNCATION_MARK}).
 */

/** The event types of the seed's `SecurityEventType`. */
export const SEED_EVENT_TYPES = [
  'authentication_success',
  'authentication_failure',
  'authorization_granted',
  'authorization_denied',
  'capability_used',
  'capability_denied',
  'resource_access_granted',
  'resource_access_denied',
  'policy_violation',
  'security_alert',
  'data_access',
  'data_modification',
  'agent_spawn',
  'agent_terminate',
  'system_anomaly',
] as const;

/** Types the runtime adds for what the seed's list has no name for. */
export const EXTRA_EVENT_TYPES = ['usage_summary', 'limit_exceeded', 'agent_error', 'policy_updated', 'policy_rejected', 'audit_pruned'] as const;

/** Every event type a record may carry. */
export const EVENT_TYPES: readonly string[] = [...SEED_EVENT_TYPES, ...EXTRA_EVENT_TYPES];

/** One of {@link EVENT_TYPES}. */
export type EventType = (typeof SEED_EVENT_TYPES)[number] | (typeof EXTRA_EVENT_TYPES)[number];

/** Severity, as in the seed. */
export type Severity = 'low' | 'medium' | 'high' | 'critical';
/** Outcome, as in the seed: `blocked` is a denial by policy, `failure` an error. */
export type Outcome = 'success' | 'failure' | 'blocked';

export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
export const OUTCOMES: readonly Outcome[] = ['success', 'failure', 'blocked'];

/** Chain of custody (the seed's `provenance`). */
export interface Provenance {
  /** Groups the events of one run (the run id) or one operation. */
  readonly correlationId?: string;
  /** The event (or request) that caused this one. */
  readonly causationId?: string;
}

/** What a caller appends; the chain adds `seq`, `prevHash` and (if absent) `timestamp`. */
export interface AuditRecordInput {
  readonly eventType: EventType;
  readonly severity?: Severity;
  readonly agentId: string;
  /** The component that produced the event: `gate`, `sandbox`, `policy`, `identity`, … */
  readonly source: string;
  readonly action: string;
  /** The canonical resource (guest path, origin, variable, tool name). */
  readonly resource: string;
  readonly outcome: Outcome;
  readonly provenance?: Provenance;
  readonly details?: Readonly<Record<string, unknown>>;
  /** Milliseconds since the epoch; default: when the chain encodes the record. */
  readonly timestamp?: number;
}

/** A stored record, decoded. */
export interface AuditRecord extends Omit<AuditRecordInput, 'eventType' | 'severity' | 'timestamp'> {
  /** The layout version (see the module doc): 2 for records written today, 1 for older ones. */
  readonly v: RecordVersion;
  readonly seq: number;
  readonly prevHash: string;
  readonly timestamp: number;
  readonly eventType: string;
  readonly severity: Severity;
  /** The record's leaf hash (hex); not part of the hashed bytes. */
  readonly hash: string;
}

/** A record layout version (see the module doc). */
export type RecordVersion = 1 | 2;

/** The layout new records are written in. */
export const RECORD_VERSION: RecordVersion = 2;

/** Appended to a cut string: `…[truncated N chars]`. */
export const TRUNCATION_MARK = '…[truncated ';

/** Caps (UTF-16 code units) on stored text. */
export const CAPS = Object.freeze({
  /** agentId, source, action, ids in provenance. */
  short: 256,
  /** resource. */
  resource: 4096,
  /** any string inside details. */
  detailString: 4096,
  /** the whole canonical `details` object. */
  details: 16 * 1024,
  /** nesting depth inside details. */
  depth: 6,
  /** members of one object or items of one array inside details. */
  members: 64,
});

/** Cut `s` to at most `max` code units (marker included), never splitting a surrogate pair. */
export function capText(s: string, max: number): string {
  if (s.length <= max) return s;
  const mark = (n: number) => `${TRUNCATION_MARK}${n} chars]`;
  let keep = Math.max(0, max - mark(s.length).length);
  const c = s.charCodeAt(keep - 1);
  if (keep > 0 && c >= 0xd800 && c <= 0xdbff) keep--;
  return s.slice(0, keep) + mark(s.length - keep);
}

/** Printable ASCII without `"` and `\\`: such a string is its own JSON body. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Recently quoted short strings: most fields repeat (agent ids, APIs, reasons, capabilities). */
const quoted = new Map<string, string>();

/** JSON string literal of `s` (what `JSON.stringify` gives; faster for plain ASCII). */
function quoteOnce(s: string): string {
  return s.length < 512 && PLAIN.test(s) ? '"' + s + '"' : JSON.stringify(s);
}

/** JSON string literal of `s` (what `JSON.stringify` gives; faster for short repeated strings). */
export function quote(s: string): string {
  if (s.length > 128) return JSON.stringify(s);
  let q = quoted.get(s);
  if (q === undefined) {
    q = PLAIN.test(s) ? '"' + s + '"' : JSON.stringify(s);
    if (quoted.size >= 8192) quoted.clear();
    quoted.set(s, q);
  }
  return q;
}

/** Key lists seen lately and their sorted order (unsorted at even, sorted at odd indexes). */
const keyOrders: string[][] = [];
const KEY_ORDERS = 8;

/**
 * The own enumerable keys of `o`, sorted. Details objects mostly come from a few object
 * literals, whose keys come in the same order each time: the sorted order is looked up by
 * comparing the lists (a few pointer compares of interned strings) instead of sorting again
 * (~0.1 µs for the gate's five keys). The result must not be modified.
 */
function sortedKeys(o: object): readonly string[] {
  const keys = Object.keys(o);
  if (keys.length < 2) return keys;
  outer: for (let i = 0; i < keyOrders.length; i += 2) {
    const seen = keyOrders[i]!;
    if (seen.length !== keys.length) continue;
    for (let k = 0; k < keys.length; k++) if (seen[k] !== keys[k]) continue outer;
    return keyOrders[i + 1]!;
  }
  const sorted = keys.slice().sort();
  // Long lists are not kept: they are rarely repeated, and would hold memory.
  if (keys.length > CAPS.members) return sorted;
  if (keyOrders.length >= 2 * KEY_ORDERS) keyOrders.splice(0, 2);
  keyOrders.push(keys, sorted);
  return sorted;
}

/** Canonical JSON of a details value: sorted members, capped strings, bounded depth and size. */
function canonValue(v: unknown, depth: number, stringCap: number): string {
  switch (typeof v) {
    case 'string':
      return quote(v.length > stringCap ? capText(v, stringCap) : v);
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(Math.trunc(v) === v ? v : Math.round(v * 1e6) / 1e6) : 'null';
    case 'bigint':
      return JSON.stringify(v.toString());
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (depth >= CAPS.depth) return JSON.stringify(`${TRUNCATION_MARK}nested too deep]`);
      if (Array.isArray(v)) {
        const n = Math.min(v.length, CAPS.members);
        let out = '[';
        for (let i = 0; i < n; i++) out += (i ? ',' : '') + canonValue(v[i], depth + 1, stringCap);
        if (v.length > CAPS.members) out += `,${JSON.stringify(`${TRUNCATION_MARK}${v.length - CAPS.members} items]`)}`;
        return out + ']';
      }
      if (v instanceof Uint8Array) return JSON.stringify(capText(Buffer.from(v).toString('base64'), stringCap));
      const o = v as Record<string, unknown>;
      const keys = sortedKeys(o);
      let out = '{';
      let written = 0;
      let skipped = 0;
      for (const k of keys) {
        const x = o[k];
        if (x === undefined) continue;
        if (written === CAPS.members) {
          skipped++;
          continue;
        }
        out += (written++ ? ',' : '') + quote(k.length > CAPS.short ? capText(k, CAPS.short) : k) + ':' + canonValue(x, depth + 1, stringCap);
      }
      if (skipped > 0) out += `,"${TRUNCATION_MARK}":${skipped}`;
      return out + '}';
    }
    default:
      return 'null';
  }
}

/** Canonical JSON of `details`, within {@link CAPS.details}. */
export function canonDetails(details: Readonly<Record<string, unknown>>): string {
  let out = canonValue(details, 0, CAPS.detailString);
  if (out.length > CAPS.details) out = canonValue(details, 0, 256);
  if (out.length > CAPS.details) out = `{"${TRUNCATION_MARK}":${JSON.stringify(capText(out, 1024))}}`;
  return out;
}

function str(s: unknown, max: number): string {
  const t = typeof s === 'string' ? s : String(s);
  return quote(t.length > max ? capText(t, max) : t);
}

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
const SEVERITY_SET: ReadonlySet<string> = new Set(SEVERITIES);
const OUTCOME_SET: ReadonlySet<string> = new Set(OUTCOMES);

/**
 * The canonical JSON of a record in layout `version` (default {@link RECORD_VERSION}; see the
 * module doc). `prevHash` is the previous record's hash in hex. Throws `TypeError` on an
 * unknown event type, severity or outcome.
 *
 * @example
 * ```ts
 * encodeRecord(0, logId, { eventType: 'agent_spawn', agentId, source: 'sandbox', action: 'load',
 *   resource: 'agent.wasm', outcome: 'success' }, Date.now()); // '{"v":2,"seq":0,…,"prevHash":"…"}'
 * ```
 */
export function encodeRecord(seq: number, prevHash: string, input: AuditRecordInput, now: number, version: RecordVersion = RECORD_VERSION): string {
  if (!EVENT_TYPE_SET.has(input.eventType)) throw new TypeError(`unknown audit event type ${JSON.stringify(input.eventType)}`);
  const severity = input.severity ?? defaultSeverity(input.eventType, input.outcome);
  if (!SEVERITY_SET.has(severity)) throw new TypeError(`unknown severity ${JSON.stringify(severity)}`);
  if (!OUTCOME_SET.has(input.outcome)) throw new TypeError(`unknown outcome ${JSON.stringify(input.outcome)}`);
  const ts = Number.isFinite(input.timestamp) ? Math.trunc(input.timestamp!) : now;
  let s =
    (version === 1 ? `{"v":1,"seq":${seq},"prevHash":"${prevHash}","timestamp":` : `{"v":2,"seq":${seq},"timestamp":`) +
    `${ts},"eventType":"${input.eventType}","severity":"${severity}",` +
    `"agentId":${str(input.agentId, CAPS.short)},"source":${str(input.source, CAPS.short)},"action":${str(input.action, CAPS.short)},` +
    `"resource":${quoteOnce(typeof input.resource === 'string' && input.resource.length <= CAPS.resource ? input.resource : capText(String(input.resource), CAPS.resource))},"outcome":"${input.outcome}"`;
  const p = input.provenance;
  if (p && (p.causationId !== undefined || p.correlationId !== undefined)) {
    s += ',"provenance":{';
    if (p.causationId !== undefined) s += `"causationId":${str(p.causationId, CAPS.short)}`;
    if (p.correlationId !== undefined) s += `${p.causationId !== undefined ? ',' : ''}"correlationId":${str(p.correlationId, CAPS.short)}`;
    s += '}';
  }
  const d = input.details;
  if (d) {
    // Cheaper than Object.keys(d).length: stops at the first own key.
    for (const k in d) {
      if (Object.hasOwn(d, k)) {
        s += `,"details":${canonDetails(d)}`;
        break;
      }
    }
  }
  return version === 1 ? s + '}' : `${s},"prevHash":"${prevHash}"}`;
}

/** The severity an event gets when the caller names none. */
export function defaultSeverity(type: string, outcome: Outcome): Severity {
  switch (type) {
    case 'authentication_failure':
    case 'policy_violation':
    case 'limit_exceeded':
    case 'security_alert':
    case 'system_anomaly':
      return 'high';
    case 'capability_denied':
    case 'authorization_denied':
    case 'resource_access_denied':
    case 'policy_rejected':
    case 'agent_error':
      return 'medium';
    default:
      return outcome === 'success' ? 'low' : 'medium';
  }
}

const PREFIX_V1 = Buffer.from('{"v":1,"seq":');
const PREFIX_V2 = Buffer.from('{"v":2,"seq":');
/** Version 1: follows the sequence number; version 2: ends the record, before the 64 hex digits and `"}`. */
const PREV = Buffer.from(',"prevHash":"');
/** Version 2: follows the sequence number; version 1: follows the link. */
const TIMESTAMP = Buffer.from(',"timestamp":');
/** Bytes from the start of a version-2 record's link to its end: 64 hex digits and `"}`. */
export const LINK_TAIL = 66;

/** What {@link peekHeader} reads from a record's bytes. */
export interface RecordHeader {
  readonly version: RecordVersion;
  readonly seq: number;
  /** Where the 64 hex digits of `prevHash` start. */
  readonly prevAt: number;
}

function startsWith(b: Uint8Array, at: number, what: Uint8Array): boolean {
  for (let i = 0; i < what.length; i++) if (b[at + i] !== what[i]) return false;
  return true;
}

/**
 * Read the version, `seq` and the offset of the `prevHash` hex from canonical record bytes
 * `b[start, end)` without parsing the JSON. Returns undefined when the bytes do not start (and,
 * for version 2, end) like a record of a known version.
 */
export function peekHeader(b: Uint8Array, start = 0, end = b.length): RecordHeader | undefined {
  if (end - start < PREFIX_V1.length + PREV.length + LINK_TAIL) return undefined;
  const version = startsWith(b, start, PREFIX_V2) ? 2 : startsWith(b, start, PREFIX_V1) ? 1 : 0;
  if (version === 0) return undefined;
  let i = start + PREFIX_V1.length;
  let seq = 0;
  const digitsFrom = i;
  while (i < end && b[i]! >= 0x30 && b[i]! <= 0x39 && i - digitsFrom < 16) seq = seq * 10 + (b[i++]! - 0x30);
  if (i === digitsFrom || (b[digitsFrom] === 0x30 && i - digitsFrom > 1)) return undefined;
  if (version === 1) {
    if (!startsWith(b, i, PREV)) return undefined;
    const prevAt = i + PREV.length;
    if (prevAt + 65 + TIMESTAMP.length > end || b[prevAt + 64] !== 0x22 || !startsWith(b, prevAt + 65, TIMESTAMP)) return undefined;
    return { version, seq, prevAt };
  }
  const prevAt = end - LINK_TAIL;
  if (!startsWith(b, i, TIMESTAMP) || prevAt - PREV.length < i + TIMESTAMP.length || !startsWith(b, prevAt - PREV.length, PREV)) return undefined;
  if (b[end - 2] !== 0x22 || b[end - 1] !== 0x7d) return undefined;
  return { version, seq, prevAt };
}

/**
 * Decode canonical record JSON. Throws `TypeError` when it is not a well-formed record of a
 * known version (so an edited record cannot smuggle in extra structure).
 */
export function decodeRecord(json: string, hash: string): AuditRecord {
  const r = JSON.parse(json) as Record<string, unknown>;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new TypeError('record is not a JSON object');
  const need = (k: string, t: string) => {
    if (typeof r[k] !== t) throw new TypeError(`record field ${k} is not a ${t}`);
  };
  if (r['v'] !== 1 && r['v'] !== 2) throw new TypeError('record version is not 1 or 2');
  for (const k of ['seq', 'timestamp']) need(k, 'number');
  for (const k of ['prevHash', 'eventType', 'severity', 'agentId', 'source', 'action', 'resource', 'outcome']) need(k, 'string');
  if (!OUTCOMES.includes(r['outcome'] as Outcome)) throw new TypeError('record outcome is invalid');
  if (!SEVERITIES.includes(r['severity'] as Severity)) throw new TypeError('record severity is invalid');
  return { ...(r as unknown as Omit<AuditRecord, 'hash'>), hash };
}
