/**
 * Fuzz target: policy loading (`parsePolicyText`, `loadPolicyFile`, `parsePolicyObject`).
 *
 * Property, for arbitrary bytes and for structure-aware YAML/JSON built from the schema's
 * field names (prototype keys, deep nesting, long strings, random mutations):
 * - the only exception ever thrown is `PolicyError`;
 * - `Object.prototype` and `Array.prototype` are never touched;
 * - an input of at most 64 KiB is handled within 1 s (checked twice, to ride out GC pauses).
 *
 * Inputs are JSON (bytes as base64) so a failing one can be saved as a regression fixture.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PolicyError } from '../../dist/errors.js';
import { loadPolicyFile, parsePolicyObject, parsePolicyText } from '../../dist/policy/loader.js';

export const name = 'policy';

/** Per-input time cap for inputs of at most {@link CAP_BYTES}. */
const CAP_MS = 1000;
const CAP_BYTES = 64 * 1024;

const FIELDS = [
  // top level
  'version', 'agent', 'capabilities', 'roles', 'mounts', 'fileAccess', 'networkRules', 'env', 'toolAccess', 'messaging', 'storage',
  'resourceLimits', 'rateLimits', 'allowedSyscalls', 'roleDefinitions', 'accessPolicies', 'capabilityPolicies', 'securityPolicies',
  'dataPolicies', 'authz',
  // sections
  'type', 'mfaVerified', 'environment', 'allowed', 'forbidden', 'guest', 'host', 'mode', 'readonly', 'readwrite', 'allowedHosts',
  'allowedPorts', 'protocols', 'maxResponseBytes', 'maxConnections', 'dataTransferLimit', 'allow', 'set', 'usageLimits', 'calls', 'per',
  'maxMemory', 'maxFuel', 'maxCpuTime', 'maxExecutionTime', 'maxOutputBytes', 'maxFileSize', 'diskQuota', 'maxFiles', 'maxProcesses',
  'peers', 'topics', 'publish', 'subscribe', 'maxMessageBytes', 'mailbox', 'maxBytes', 'maxKeys', 'maxValueBytes',
  // authorization model
  'accessRules', 'action', 'agentId', 'agentInstanceId', 'agentType', 'agentTypes', 'alertThresholds', 'allowedProtocols', 'allowedTools',
  'anyCondition', 'attribute', 'auditLevel', 'category', 'classification', 'condition', 'conditions', 'constraints', 'createdAt',
  'dataClassifications', 'dataId', 'days', 'description', 'effect', 'effectiveFrom', 'effectiveTo', 'enforcement', 'environments',
  'eventType', 'exceptionSchema', 'field', 'from', 'hours', 'id', 'logLevel', 'monitoring', 'name', 'operator', 'parentRoles',
  'permissions', 'policyId', 'priority', 'reason', 'resource', 'retention', 'ruleId', 'rules', 'severity', 'status', 'tags', 'timezone',
  'to', 'until', 'updatedAt', 'value', 'when',
];
const EVIL_KEYS = ['__proto__', 'constructor', 'prototype', '<<', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf'];
const INTERESTING = [
  '/workspace', '/w/**', '/w/{a,b}/*.ts', '/w/[!a]?', './repo', '~/x', '/', '/a/../b', 'api.github.com', '*.example.com', '*', 'localhost',
  '10MiB', '1.5GiB', '30s', '1m', '12h', 'ro', 'rw', 'https', 'http', 'read_files', 'network_access', 'storage', 'messaging', 'id:x',
  'role:y', 'review.*', 'git.*', 'allow', 'deny', 'equals', 'in', 'matches', 'regex', 'contains', '(a+)+$', '^(a|a)*$', '.*.*.*=.*',
  'UTC', 'Europe/Paris', '09:00-17:00', 'mon', '2024-01-01T00:00:00Z', 'LANG', 'A-B', '\u0000', '\uFEFF', 'é', '😀', '\ud800', '',
  'true', 'null', '1', '-1', '0x10', '1e400', 'NaN', '.inf', '~', '&a', '*a', '!!binary', '%YAML 1.1', '---', '...', '? x',
];

const scalar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...INTERESTING) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, -1, 443, 65535, 65536, 2 ** 53, -(2 ** 53), 1e308, 0.5, -0) },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', 'é', '😀', '*', '{', '\\'), fc.integer({ min: 1, max: 60_000 })).map(([c, n]) => c.repeat(n)) },
);
const key = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...FIELDS) },
  { weight: 2, arbitrary: fc.constantFrom(...EVIL_KEYS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);

/** A value tree: `{ o: [[key, value]...] }` (entries, so duplicate and prototype keys survive) or `{ a: [...] }` or a scalar. */
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.record({ o: fc.array(fc.tuple(key, tie('tree')), { maxLength: 6 }) }),
    fc.record({ a: fc.array(tie('tree'), { maxLength: 5 }) }),
  ),
}));
const policyTree = fc
  .tuple(fc.option(fc.constantFrom(1, 2, '1', null), { nil: undefined }), fc.array(fc.tuple(key, tree), { maxLength: 8 }))
  .map(([version, entries]) => ({ o: version === undefined ? entries : [['version', version], ...entries] }));

function toJson(t) {
  if (t !== null && typeof t === 'object') {
    if ('o' in t) return `{${t.o.map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`).join(',')}}`;
    return `[${t.a.map(toJson).join(',')}]`;
  }
  return JSON.stringify(t) ?? 'null';
}

function yamlScalar(v, plain) {
  if (typeof v === 'string') return plain && /^[A-Za-z0-9_./*-][^\n:#]*$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? 'null';
}

function toYaml(t, indent, plain) {
  const pad = ' '.repeat(indent);
  if (t !== null && typeof t === 'object') {
    const items = 'o' in t ? t.o : t.a;
    if (items.length === 0) return 'o' in t ? ' {}' : ' []';
    const lines = 'o' in t
      ? t.o.map(([k, v]) => `${pad}${yamlScalar(k, plain)}:${toYaml(v, indent + 2, plain)}`)
      : t.a.map((v) => `${pad}-${toYaml(v, indent + 2, plain)}`);
    return `\n${lines.join('\n')}`;
  }
  return ` ${yamlScalar(t, plain)}`;
}

/** Random edits of a text: the path from "valid-ish" to "broken in interesting ways". */
const mutations = fc.array(
  fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace', 'dup'), fc.constantFrom('{', '}', '[', ']', ':', ',', '"', "'", '-', '\n', ' ', '\t', '&', '*', '!', '#', '|', '>', '\\', '\u0000', 'é', '\ud83d')),
  { maxLength: 4 },
);
function mutate(text, edits) {
  let s = text;
  for (const [pos, op, ch] of edits) {
    const i = s.length === 0 ? 0 : pos % (s.length + 1);
    if (op === 'insert') s = s.slice(0, i) + ch + s.slice(i);
    else if (op === 'delete') s = s.slice(0, i) + s.slice(i + 1);
    else if (op === 'replace') s = s.slice(0, i) + ch + s.slice(i + 1);
    else s = s.slice(0, i) + s.slice(i, i + 16) + s.slice(i);
  }
  return s;
}

const format = fc.constantFrom('yaml', 'json', undefined);
const structured = fc
  .tuple(policyTree, fc.constantFrom('json', 'yaml-block', 'yaml-plain'), mutations, format)
  .map(([t, how, edits, fmt]) => {
    const text = how === 'json' ? toJson(t) : toYaml(t, 0, how === 'yaml-plain').replace(/^\n/, '');
    return { mode: 'text', text: mutate(text, edits), ...(fmt ? { format: fmt } : {}) };
  });
const deep = fc
  .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":', '{"__proto__":', '{a: ', '- ', '- [', 'a:'), fc.boolean(), format)
  .map(([n, open, close, fmt]) => {
    const closer = open.startsWith('{') ? '}' : open.endsWith('[') ? ']' : '';
    let text;
    if (open.startsWith('{"') || open === '[') {
      text = `{"version":1,"x":${open.repeat(n)}1${close ? closer.repeat(n) : ''}}`;
    } else if (open === 'a:') {
      text = `version: 1\nx:\n${Array.from({ length: Math.min(n, 2000) }, (_, i) => `${' '.repeat(i + 1)}a:`).join('\n')} 1`;
    } else {
      text = `version: 1\nx: ${open.repeat(n)}1${close ? closer.repeat(n) : ''}`;
    }
    return { mode: 'text', text, ...(fmt ? { format: fmt } : {}) };
  });
const anchors = fc.integer({ min: 1, max: 30 }).map((n) => {
  // Alias expansion ("billion laughs") must be refused, not expanded.
  const lines = ['version: 1', 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < n; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
  return { mode: 'text', text: lines.join('\n') };
});
const text = fc.string({ unit: 'binary', maxLength: 400 }).map((t) => ({ mode: 'text', text: t }));
const bytes = fc
  .tuple(fc.uint8Array({ maxLength: 2048 }), fc.constantFrom('.yaml', '.json', '.txt', ''))
  .map(([b, ext]) => ({ mode: 'file', base64: Buffer.from(b).toString('base64'), ext }));
const fileOfText = fc
  .tuple(structured, fc.constantFrom('.yaml', '.yml', '.json', ''), fc.boolean())
  .map(([s, ext, bom]) => ({ mode: 'file', base64: Buffer.from((bom ? '\uFEFF' : '') + s.text, 'utf8').toString('base64'), ext }));
const object = policyTree.map((t) => ({ mode: 'object', json: toJson(t) }));

/** The fast-check arbitrary of inputs. */
export const arbitrary = fc.oneof(
  { weight: 8, arbitrary: structured },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: anchors },
  { weight: 2, arbitrary: text },
  { weight: 1, arbitrary: bytes },
  { weight: 1, arbitrary: fileOfText },
  { weight: 2, arbitrary: object },
);

let dir;
let fileNo = 0;
function tempFile(ext, data) {
  dir ??= mkdtempSync(join(tmpdir(), 'agentos-fuzz-policy-'));
  const path = join(dir, `p${fileNo++ % 8}${ext}`);
  writeFileSync(path, data);
  return path;
}
process.once('exit', () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function protoSnapshot() {
  const describe = (o) => Reflect.ownKeys(o).map((k) => String(k)).sort().join(',');
  return `${describe(Object.prototype)}|${describe(Array.prototype)}|${describe(Function.prototype)}|${Object.getPrototypeOf(Object.prototype)}`;
}
const SENTINELS = ['polluted', 'version', 'allowedHosts', 'a', 'x', 'toString'];

async function once(input) {
  if (input.mode === 'text') {
    parsePolicyText(input.text, { ...(input.format ? { format: input.format } : {}), baseDir: '/nonexistent-fuzz-base' });
  } else if (input.mode === 'file') {
    await loadPolicyFile(tempFile(input.ext, Buffer.from(input.base64, 'base64')));
  } else {
    parsePolicyObject(JSON.parse(input.json), { baseDir: '/nonexistent-fuzz-base' });
  }
}

function size(input) {
  return input.mode === 'text' ? Buffer.byteLength(input.text) : input.mode === 'file' ? (input.base64.length * 3) / 4 : input.json.length;
}

async function timed(input) {
  const start = performance.now();
  try {
    await once(input);
  } catch (e) {
    if (!(e instanceof PolicyError)) {
      throw new Error(`threw ${e?.constructor?.name ?? typeof e} instead of PolicyError: ${e instanceof Error ? e.stack : String(e)}`);
    }
  }
  return performance.now() - start;
}

/** The property, for one input; throws when it does not hold. */
export async function check(input) {
  const before = protoSnapshot();
  const sentinelsBefore = SENTINELS.map((k) => ({}[k]));
  let ms = await timed(input);
  if (protoSnapshot() !== before || SENTINELS.some((k, i) => ({}[k]) !== sentinelsBefore[i])) {
    throw new Error('Object.prototype, Array.prototype or Function.prototype changed');
  }
  if (ms > CAP_MS && size(input) <= CAP_BYTES) {
    ms = Math.min(ms, await timed(input)); // a second try rides out a GC pause or a busy machine
    if (ms > CAP_MS) throw new Error(`took ${Math.round(ms)} ms for ${size(input)} bytes (cap ${CAP_MS} ms for inputs up to ${CAP_BYTES} bytes)`);
  }
}
