/**
 * Loading sandbox policies from YAML or JSON text, files, or caller objects.
 *
 * Pipeline: size cap → format detection → safe parse into null-prototype data
 * (`plain-data.ts`: no prototype keys, no duplicates, no aliases or tags) → strict schema
 * validation → normalization (`normalize.ts`). Every failure is a `PolicyError` with code
 * `POLICY_INVALID` whose message reads `<source>: <path>: <problem>; <what to change>` and
 * whose `details` carry `{ path, source }`.
 *
 * @example
 * ```ts
 * const { policy, warnings } = await loadPolicyFile('policy.yaml');
 * for (const w of warnings) console.warn(w);
 * ```
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { PolicyError } from '../errors.js';
import { formatBytes } from '../util/units.js';
import { policyIssuesError } from './issues.js';
import { validatePolicy } from './normalize.js';
import { jsonToData, objectToPlainData, yamlToData } from './plain-data.js';
import type { SandboxPolicy } from './schema.js';

/** A validated, normalized policy with its warnings and where it came from. */
export interface LoadedPolicy {
  readonly policy: SandboxPolicy;
  /** Likely mistakes that are not errors, each `<source>: <path>: <message>`. */
  readonly warnings: string[];
  /** The file path or label given when loading. */
  readonly source: string;
}

/** Options for {@link parsePolicyText}. */
export interface ParsePolicyOptions {
  /** Default: from the `source` extension (`.json`, `.yaml`, `.yml`), else from the content. */
  readonly format?: 'yaml' | 'json';
  /** Label used in messages. Default `'<policy>'`. */
  readonly source?: string;
  /** Relative `mounts[].host` paths resolve against this. Default `process.cwd()`. */
  readonly baseDir?: string;
}

/** Largest policy accepted, in bytes (1 MiB). Real policies are a few KiB. */
export const MAX_POLICY_BYTES = 1024 * 1024;

function formatFromName(name: string | undefined): 'yaml' | 'json' | undefined {
  const ext = name ? extname(name).toLowerCase() : '';
  return ext === '.json' ? 'json' : ext === '.yaml' || ext === '.yml' ? 'yaml' : undefined;
}

/** Content sniffing: text that starts with `{` and is valid JSON is JSON; anything else YAML. */
function sniffFormat(text: string): 'yaml' | 'json' {
  if (!text.trimStart().startsWith('{')) return 'yaml';
  try {
    JSON.parse(text);
    return 'json';
  } catch {
    return 'yaml'; // e.g. a YAML flow mapping `{version: 1}`
  }
}

function tooLarge(source: string, size: number): PolicyError {
  return policyIssuesError(source, [
    { path: '(top level)', message: `the policy is ${formatBytes(size)}, over the ${formatBytes(MAX_POLICY_BYTES)} limit; a policy should be a few KiB` },
  ]);
}

/**
 * Parse, validate and normalize policy text (YAML 1.2 or JSON).
 *
 * @throws PolicyError (`POLICY_INVALID`) for text over {@link MAX_POLICY_BYTES}, syntax
 *   errors, duplicate or prototype keys, aliases, tags, unknown fields, wrong types (no
 *   coercion: `port: "443"` is an error) and invalid values
 * @example
 * ```ts
 * const { policy } = parsePolicyText('version: 1\nnetworkRules: { allowedHosts: [api.github.com] }\n');
 * policy.networkRules.protocols; // ['https']
 * ```
 */
export function parsePolicyText(text: string, opts: ParsePolicyOptions = {}): LoadedPolicy {
  const source = opts.source ?? '<policy>';
  if (typeof text !== 'string') throw policyIssuesError(source, [{ path: '(top level)', message: 'policy text must be a string' }]);
  if (text.length > MAX_POLICY_BYTES || Buffer.byteLength(text, 'utf8') > MAX_POLICY_BYTES) {
    throw tooLarge(source, Buffer.byteLength(text, 'utf8'));
  }
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const format = opts.format ?? formatFromName(opts.source) ?? sniffFormat(body);
  const data = format === 'json' ? jsonToData(body, source) : yamlToData(body, source);
  if (data === null) {
    throw policyIssuesError(source, [{ path: '(top level)', message: 'the policy is empty; write at least "version: 1"' }]);
  }
  const { policy, warnings } = validatePolicy(data, { source, ...(opts.baseDir !== undefined ? { baseDir: opts.baseDir } : {}) });
  return { policy, warnings, source };
}

/**
 * Validate and normalize a policy given as a JavaScript object (library use). The object is
 * copied into plain data first: class instances, functions, getters, cycles and prototype
 * keys are refused; `undefined` properties count as absent.
 *
 * @example
 * ```ts
 * parsePolicyObject({ version: 1, env: { allow: ['LANG'] } }).policy.env.allow; // ['LANG']
 * ```
 */
export function parsePolicyObject(value: unknown, opts: Omit<ParsePolicyOptions, 'format'> = {}): LoadedPolicy {
  const source = opts.source ?? '<policy object>';
  const data = objectToPlainData(value, source);
  const { policy, warnings } = validatePolicy(data, { source, ...(opts.baseDir !== undefined ? { baseDir: opts.baseDir } : {}) });
  return { policy, warnings, source };
}

/**
 * Read, validate and normalize a policy file. The format comes from the extension (`.json`;
 * `.yaml`/`.yml`), else from the content. Relative mount host paths resolve against the
 * file's directory. Files over {@link MAX_POLICY_BYTES} are refused before being read.
 *
 * @throws PolicyError when the file cannot be read (missing, a directory, not UTF-8, too
 *   large) or is invalid
 * @example
 * ```ts
 * const { policy } = await loadPolicyFile('examples/reviewer/policy.yaml');
 * ```
 */
export async function loadPolicyFile(path: string): Promise<LoadedPolicy> {
  const source = String(path);
  let text: string;
  try {
    // O_NONBLOCK: opening a FIFO must not hang; the isFile() check below then refuses it.
    const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw policyIssuesError(source, [{ path: '(top level)', message: 'not a regular file; pass the path of a .yaml or .json policy' }]);
      if (st.size > MAX_POLICY_BYTES) throw tooLarge(source, st.size);
      // Read at most one byte past the cap so a file that grows after stat is still caught.
      const buf = Buffer.alloc(MAX_POLICY_BYTES + 1);
      let len = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, len, buf.length - len, len);
        if (bytesRead === 0) break;
        len += bytesRead;
        if (len > MAX_POLICY_BYTES) throw tooLarge(source, len);
      }
      text = new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, len));
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof PolicyError) throw e;
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : e instanceof Error ? e.message : String(e);
    throw policyIssuesError(source, [{ path: '(top level)', message: `cannot read the policy file (${why}); check the path and that it is UTF-8 text` }], e);
  }
  return parsePolicyText(text, { source, baseDir: dirname(resolve(path)), ...(formatFromName(path) ? { format: formatFromName(path) } : {}) });
}

/**
 * The normalized `version: 1` policy: no capabilities, mounts, hosts, env or tools. An agent
 * under it can compute, log and read clocks and randomness, and nothing else.
 *
 * @example
 * ```ts
 * emptyPolicy().mounts; // []
 * ```
 */
export function emptyPolicy(): SandboxPolicy {
  return validatePolicy({ version: 1 }, { source: '<empty policy>' }).policy;
}
