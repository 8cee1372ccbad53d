/**
 * Glob matching for guest file paths (`fileAccess` in the policy).
 *
 * Paths are absolute, `/`-separated and canonical (no `.`/`..` segments, no empty segments,
 * no trailing slash except the root `/`); a path that is not canonical never matches, so a
 * caller that forgot to canonicalize fails closed.
 *
 * Syntax:
 * - `*` any run of characters inside one segment (never `/`). It DOES match a leading dot:
 *   `forbidden: ['/w/*']` must hide `/w/.env`.
 * - `?` one character (a Unicode code point) except `/`.
 * - `**` as a whole segment: zero or more whole segments (`/data/**` matches `/data`,
 *   `/data/a`, `/data/a/b`). Inside a segment (`a**b`) it is the same as `*`.
 * - `[abc]`, `[a-z]`, `[!a]` (or `[^a]`) character classes; `]` first in a class is literal.
 * - `{a,b,c}` alternation, nesting allowed; alternatives may contain `/`.
 * - `\` escapes the next character. `~` is not expanded; patterns must start with `/`.
 *
 * Matching is a simulation of a non-deterministic automaton over a set of states (per
 * segment, then per character inside a segment), never a backtracking regex, so the time is
 * linear in the path length for a given pattern, whatever the pattern.
 *
 * @example
 * ```ts
 * const g = compileGlob('/workspace/**\/*.ts');
 * g.matches('/workspace/src/a.ts');      // true
 * g.mayContain('/workspace/src/deep');   // true: something below could match
 * g.mayContain('/etc');                  // false
 * ```
 */
import { PolicyError } from '../errors.js';
import { classEnd, expandBraces, globError } from './glob-braces.js';
import { compileSegment, segmentMatches, segmentSatisfiable, SLASH, type Segment } from './glob-segment.js';

/** A compiled glob. */
export interface Glob {
  /** The source pattern, as written in the policy. */
  readonly pattern: string;
  /** True when the canonical absolute `path` matches. Non-canonical paths never match. */
  matches(path: string): boolean;
  /**
   * True when `dirPath` itself or some path below it could match: whether a directory may be
   * listed or traversed. Non-canonical paths return false.
   */
  mayContain(dirPath: string): boolean;
}

/** Several globs compiled together; a path matches the set when it matches any member. */
export interface GlobSet {
  /** The source patterns, in order. */
  readonly patterns: readonly string[];
  /** True when any pattern matches `path`. */
  matches(path: string): boolean;
  /** True when any pattern may match `dirPath` or something below it. */
  mayContain(dirPath: string): boolean;
  /** The first pattern (in order) that matches `path`, for decision reasons; else `undefined`. */
  firstMatch(path: string): string | undefined;
}

/** Size bounds of a pattern; larger patterns are rejected with `PolicyError`. */
export const GLOB_LIMITS = Object.freeze({
  /** Characters in the source pattern. */
  maxPatternLength: 1024,
  /** Segments in one alternative after brace expansion. */
  maxSegments: 64,
  /** Alternatives produced by brace expansion. */
  maxAlternatives: 256,
  /** Nesting depth of `{…}`. */
  maxBraceDepth: 8,
});

/**
 * Split a canonical absolute path into its segments (`/` → `[]`), or `undefined` when the
 * path is not canonical: relative, empty segments (`//`, trailing `/`), `.`/`..` segments
 * or NUL characters. Shared with the policy schema, which requires canonical mount paths.
 *
 * @example
 * ```ts
 * splitCanonicalPath('/a/b'); // ['a', 'b']
 * splitCanonicalPath('/a/../b'); // undefined
 * ```
 */
export function splitCanonicalPath(path: string): string[] | undefined {
  if (typeof path !== 'string' || path.charCodeAt(0) !== SLASH || path.includes('\0')) return undefined;
  if (path === '/') return [];
  const parts = path.slice(1).split('/');
  for (const p of parts) if (p === '' || p === '.' || p === '..') return undefined;
  return parts;
}

/** True when `path` is absolute and canonical (see {@link splitCanonicalPath}). */
export function isCanonicalPath(path: string): boolean {
  return splitCanonicalPath(path) !== undefined;
}

/** Split one brace-free alternative on unescaped `/` outside classes. */
function splitAlternative(pattern: string, alt: string): string[] {
  const segments: string[] = [];
  let cur = '';
  for (let i = 0; i < alt.length; i++) {
    const c = alt[i];
    if (c === '\\') {
      const next = alt[i + 1];
      if (next === undefined) throw globError(pattern, 'it ends with a lone "\\"', 'escape a backslash as "\\\\"');
      if (next === '/') throw globError(pattern, '"\\/" cannot match: a path segment never contains "/"', 'remove the backslash');
      cur += c + next;
      i++;
    } else if (c === '[') {
      const end = classEnd(alt, i);
      if (end < 0) throw globError(pattern, 'a "[" class is not closed', 'add "]" or escape the bracket as "\\["');
      const body = alt.slice(i, end + 1);
      if (body.includes('/')) throw globError(pattern, 'a class cannot contain "/"', 'match "/" with a separate segment');
      cur += body;
      i = end;
    } else if (c === '/') {
      segments.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  segments.push(cur);
  return segments;
}

/** One brace-free alternative: a segment-level NFA whose `**` states loop on any segment. */
class Alternative {
  /** canFinish[i]: from state i, some sequence of real segments reaches the accept state. */
  private readonly canFinish: boolean[];

  constructor(private readonly segs: readonly Segment[]) {
    const n = segs.length;
    this.canFinish = new Array<boolean>(n + 1).fill(false);
    this.canFinish[n] = true;
    for (let i = n - 1; i >= 0; i--) {
      const s = segs[i] as Segment;
      this.canFinish[i] = (this.canFinish[i + 1] ?? false) && (s.kind === 'globstar' || segmentSatisfiable(s));
    }
  }

  /** The set of states after consuming `parts`, or `undefined` once it is empty. */
  private run(parts: readonly string[]): Uint8Array | undefined {
    const n = this.segs.length;
    let cur = new Uint8Array(n + 1);
    let next = new Uint8Array(n + 1);
    const close = (set: Uint8Array): void => {
      for (let i = 0; i < n; i++) if (set[i] && this.segs[i]?.kind === 'globstar') set[i + 1] = 1;
    };
    cur[0] = 1;
    close(cur);
    for (const part of parts) {
      next.fill(0);
      let any = false;
      for (let i = 0; i < n; i++) {
        if (!cur[i]) continue;
        const s = this.segs[i] as Segment;
        if (s.kind === 'globstar') next[i] = 1;
        else if (segmentMatches(s, part)) next[i + 1] = 1;
        else continue;
        any = true;
      }
      if (!any) return undefined;
      close(next);
      [cur, next] = [next, cur];
    }
    return cur;
  }

  matches(parts: readonly string[]): boolean {
    return this.run(parts)?.[this.segs.length] === 1;
  }

  mayContain(parts: readonly string[]): boolean {
    const states = this.run(parts);
    return states !== undefined && states.some((on, i) => on === 1 && this.canFinish[i] === true);
  }
}

/**
 * Compile a glob pattern (see the module doc for the syntax).
 *
 * Limits ({@link GLOB_LIMITS}): at most 1024 characters, 256 alternatives after brace
 * expansion, brace nesting depth 8, 64 segments per alternative.
 *
 * @throws PolicyError (`POLICY_INVALID`, `details.pattern`) for a relative pattern, an
 *   unclosed `[` or `{`, a stray `}`, a reversed class range, an empty segment (`//`), a
 *   `.`/`..` segment, a trailing `\`, or a pattern over the limits
 * @example
 * ```ts
 * compileGlob('/home/u/.ssh/*.pub').matches('/home/u/.ssh/id_rsa'); // false
 * compileGlob('/data/**').matches('/data');                          // true
 * ```
 */
export function compileGlob(pattern: string): Glob {
  if (typeof pattern !== 'string') throw new PolicyError(`glob pattern must be a string, got ${typeof pattern}; write it in quotes`, { pattern: String(pattern) });
  if (pattern.length > GLOB_LIMITS.maxPatternLength) {
    throw globError(pattern, `it is ${pattern.length} characters long (limit ${GLOB_LIMITS.maxPatternLength})`, 'shorten it or split it into several patterns');
  }
  if (!pattern.startsWith('/')) {
    throw globError(pattern, 'it is not absolute (`~` and relative paths are not expanded)', 'start it with "/", e.g. "/workspace/**"');
  }
  const alternatives: Alternative[] = [];
  for (const alt of expandBraces(pattern, GLOB_LIMITS.maxAlternatives, GLOB_LIMITS.maxBraceDepth)) {
    if (!alt.startsWith('/')) throw globError(pattern, `the alternative "${alt}" is not absolute`, 'start every alternative with "/"');
    const raws = alt === '/' ? [] : splitAlternative(pattern, alt).slice(1);
    if (raws.length > GLOB_LIMITS.maxSegments) {
      throw globError(pattern, `it has ${raws.length} segments (limit ${GLOB_LIMITS.maxSegments})`, 'use "**" for deep paths');
    }
    if (raws.includes('')) throw globError(pattern, 'it has an empty segment ("//" or a trailing "/")', 'remove the extra "/"');
    const segs: Segment[] = [];
    for (const raw of raws) {
      const seg = compileSegment(pattern, raw);
      // "**/**" is the same language as "**": collapsing keeps the state set small.
      if (seg.kind === 'globstar' && segs[segs.length - 1]?.kind === 'globstar') continue;
      segs.push(seg);
    }
    alternatives.push(new Alternative(segs));
  }
  return Object.freeze({
    pattern,
    matches(path: string): boolean {
      const parts = splitCanonicalPath(path);
      return parts !== undefined && alternatives.some((a) => a.matches(parts));
    },
    mayContain(dirPath: string): boolean {
      const parts = splitCanonicalPath(dirPath);
      return parts !== undefined && alternatives.some((a) => a.mayContain(parts));
    },
  });
}

/**
 * Compile several patterns into one set (e.g. `fileAccess.forbidden`). An empty list matches
 * nothing.
 *
 * @throws PolicyError as {@link compileGlob}, for the first invalid pattern
 * @example
 * ```ts
 * const s = compileGlobSet(['/etc/**', '/root/**']);
 * s.firstMatch('/etc/passwd'); // '/etc/**'
 * ```
 */
export function compileGlobSet(patterns: readonly string[]): GlobSet {
  const globs = patterns.map((p) => compileGlob(p));
  return Object.freeze({
    patterns: Object.freeze([...patterns]),
    matches: (path: string) => globs.some((g) => g.matches(path)),
    mayContain: (dirPath: string) => globs.some((g) => g.mayContain(dirPath)),
    firstMatch: (path: string) => globs.find((g) => g.matches(path))?.pattern,
  });
}
