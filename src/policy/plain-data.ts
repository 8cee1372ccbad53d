/**
 * Turning untrusted policy text or caller objects into plain data safely, before validation.
 *
 * YAML and JSON go through the `yaml` package's AST, which we convert ourselves into
 * null-prototype objects: keys never touch a prototype, `__proto__` / `constructor` /
 * `prototype` keys are rejected wherever they appear, duplicate keys are rejected with their
 * path (JSON.parse would silently keep the last one), aliases are refused (no billion
 * laughs), explicit tags are refused (no `!!binary`, no custom types), and nesting depth is
 * capped (in the syntax tree before composing, see `yaml-parse.ts`, and in the data).
 * Internal to the policy module; the public entry is `loader.ts`.
 *
 * @example
 * ```ts
 * const data = yamlToData('version: 1\n', 'policy.yaml');
 * ```
 */
import { isAlias, isMap, isScalar, isSeq } from 'yaml';
import { formatPath, policyIssuesError, type PolicyIssue } from './issues.js';
import { parseYamlBounded, YamlNestingError, type BoundedYaml } from './yaml-parse.js';

/** Keys that could reach a prototype if some later code assigned them to a plain object. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Deepest nesting accepted; real policies need about 4. */
export const MAX_DEPTH = 32;

type Path = (string | number)[];

/** Thrown inside the walkers; converted to a PolicyError with the source by the callers. */
class DataProblem extends Error {
  constructor(readonly issue: PolicyIssue) {
    super(issue.message);
  }
}

const problem = (path: Path, message: string): DataProblem => new DataProblem({ path: formatPath(path), message });

function checkKey(key: string, path: Path, seen: Set<string>): void {
  if (FORBIDDEN_KEYS.has(key)) {
    throw problem([...path, key], `the key "${key}" is not allowed in a policy (it could reach a JavaScript prototype); remove it`);
  }
  if (seen.has(key)) throw problem([...path, key], 'duplicate key; keep only one of them');
  seen.add(key);
}

/** Convert one node of a `yaml` document into plain data. */
function nodeToData(node: unknown, path: Path, depth: number): unknown {
  if (depth > MAX_DEPTH) throw problem(path, `nested more than ${MAX_DEPTH} levels deep; flatten it`);
  if (node === null || node === undefined) return null; // `key:` with no value
  if (isAlias(node)) throw problem(path, `YAML aliases (*${node.source}) are not allowed in a policy; repeat the value instead`);
  const tag = (node as { tag?: unknown }).tag;
  if (tag !== undefined) {
    const shown = String(tag).replace(/^tag:yaml\.org,2002:/, '!!');
    throw problem(path, `YAML tags (${shown}) are not allowed in a policy; write a plain value (quote it if it must be a string)`);
  }
  if (isMap(node)) {
    const out = Object.create(null) as Record<string, unknown>;
    const seen = new Set<string>();
    for (const pair of node.items) {
      const k = pair.key;
      if (!isScalar(k) || typeof k.value !== 'string' || (k as { tag?: unknown }).tag !== undefined) {
        throw problem(path, `every key must be a plain string, found ${isScalar(k) ? JSON.stringify(k.value) : 'a complex key'}; quote the key`);
      }
      checkKey(k.value, path, seen);
      out[k.value] = nodeToData(pair.value, [...path, k.value], depth + 1);
    }
    return out;
  }
  if (isSeq(node)) return node.items.map((item, i) => nodeToData(item, [...path, i], depth + 1));
  if (isScalar(node)) {
    const v = node.value;
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
    throw problem(path, `unsupported value of type ${typeof v}; use a string, number, true/false or a list/mapping`);
  }
  throw problem(path, 'unsupported YAML node; use a string, number, true/false or a list/mapping');
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

/**
 * Parse YAML (1.2 core schema) into plain null-prototype data.
 *
 * @throws PolicyError on syntax errors (with line and column), multiple documents, a
 *   `%YAML` version other than 1.2, aliases, tags, non-string or duplicate keys, forbidden
 *   keys, or excessive nesting
 * @example
 * ```ts
 * yamlToData('a: [1, 2]', 'p.yaml'); // { a: [1, 2] } (null prototype)
 * ```
 */
export function yamlToData(text: string, source: string): unknown {
  let parsed: BoundedYaml;
  try {
    // uniqueKeys is off because nodeToData reports duplicates with their field path. There
    // is no maxAliasCount here: that is a toJS option, and we never call toJS — nodeToData
    // refuses every alias, so no expansion (billion laughs) can happen at all.
    parsed = parseYamlBounded(text, { version: '1.2', schema: 'core', merge: false, uniqueKeys: false, strict: true });
  } catch (e) {
    if (e instanceof YamlNestingError) throw policyIssuesError(source, [{ path: `line ${e.line}, column ${e.col}`, message: e.message }]);
    throw policyIssuesError(source, [{ path: '(top level)', message: `cannot be parsed: ${e instanceof Error ? e.message : String(e)}` }], e);
  }
  const { doc, position, secondDocumentAt } = parsed;
  const at = (offset: number) => {
    const { line, col } = position(offset);
    return `line ${line}, column ${col}`;
  };
  const issues: PolicyIssue[] = doc.errors.slice(0, 5).map((e) => ({ path: e.pos[0] >= 0 ? at(e.pos[0]) : '(top level)', message: `${firstLine(e.message)}; fix the YAML syntax` }));
  if (secondDocumentAt !== undefined && issues.length < 5) {
    issues.push({ path: at(secondDocumentAt), message: 'the file holds more than one YAML document; keep a single document (remove the "---" separator)' });
  }
  if (issues.length > 0) throw policyIssuesError(source, issues);
  const version = doc.directives?.yaml;
  if (version?.explicit && version.version !== '1.2') {
    throw policyIssuesError(source, [{ path: '(top level)', message: `%YAML ${version.version} is not supported; remove the directive (policies are YAML 1.2)` }]);
  }
  try {
    return nodeToData(doc.contents, [], 0);
  } catch (e) {
    if (e instanceof DataProblem) throw policyIssuesError(source, [e.issue]);
    throw policyIssuesError(source, [{ path: '(top level)', message: `cannot be read: ${e instanceof Error ? e.message : String(e)}` }], e);
  }
}

/**
 * Parse strict JSON into plain null-prototype data. `JSON.parse` checks the syntax; the
 * `yaml` AST (YAML 1.2 is a JSON superset) then supplies duplicate-key detection with paths.
 *
 * @throws PolicyError as {@link yamlToData}, or for invalid JSON
 * @example
 * ```ts
 * jsonToData('{"version": 1}', 'p.json');
 * ```
 */
export function jsonToData(text: string, source: string): unknown {
  try {
    JSON.parse(text);
  } catch (e) {
    throw policyIssuesError(source, [{ path: '(top level)', message: `invalid JSON: ${e instanceof Error ? e.message : String(e)}; fix the syntax` }]);
  }
  return yamlToData(text, source);
}

function objectToData(value: unknown, path: Path, depth: number, stack: Set<object>): unknown {
  if (depth > MAX_DEPTH) throw problem(path, `nested more than ${MAX_DEPTH} levels deep (or cyclic); flatten it`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number') return value;
  if (typeof value !== 'object') throw problem(path, `a ${typeof value} cannot appear in a policy; use a string, number, true/false or a list/mapping`);
  if (stack.has(value)) throw problem(path, 'the object refers to itself; policies must be trees');
  stack.add(value);
  try {
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (let i = 0; i < value.length; i++) {
        const d = Object.getOwnPropertyDescriptor(value, i);
        if (!d || !('value' in d)) throw problem([...path, i], 'list entries must be plain values (no holes or getters)');
        out.push(objectToData(d.value, [...path, i], depth + 1, stack));
      }
      return out;
    }
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) throw problem(path, 'only plain objects are accepted (no class instances, Maps or Dates)');
    const out = Object.create(null) as Record<string, unknown>;
    const seen = new Set<string>();
    for (const key of Object.keys(value)) {
      checkKey(key, path, seen);
      const d = Object.getOwnPropertyDescriptor(value, key);
      if (!d || !('value' in d)) throw problem([...path, key], 'getters are not accepted; use plain values');
      if (d.value === undefined) continue; // `{ agent: undefined }` means "absent", as in JSON
      out[key] = objectToData(d.value, [...path, key], depth + 1, stack);
    }
    return out;
  } finally {
    stack.delete(value);
  }
}

/**
 * Copy a caller's policy object into plain null-prototype data, with the same key rules as
 * the file parsers. Symbol keys are ignored; `undefined` properties count as absent.
 *
 * @throws PolicyError for class instances, functions, getters, cycles, forbidden keys
 * @example
 * ```ts
 * objectToPlainData({ version: 1 }, '<policy object>');
 * ```
 */
export function objectToPlainData(value: unknown, source: string): unknown {
  try {
    return objectToData(value, [], 0, new Set());
  } catch (e) {
    if (e instanceof DataProblem) throw policyIssuesError(source, [e.issue]);
    throw policyIssuesError(source, [{ path: '(top level)', message: `cannot be read: ${e instanceof Error ? e.message : String(e)}` }], e);
  }
}
