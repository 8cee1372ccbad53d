/**
 * One path segment of a glob: tokenizing (`*`, `?`, classes, escapes) and matching. Kept
 * apart from `glob.ts` (segment-level automaton and public API) so each file stays small.
 * Internal to the policy module.
 *
 * Matching inside a segment cuts the pattern at its stars and places each chunk at its
 * leftmost possible position, which is exact for globs (a star absorbs anything) and needs
 * no backtracking.
 *
 * @example
 * ```ts
 * const seg = compileSegment('/a/*.ts', '*.ts');
 * segmentMatches(seg, 'x.ts'); // true
 * ```
 */
import { globError } from './glob-braces.js';

/** Code point of `/`, which no segment contains. */
export const SLASH = 0x2f;
const DOT = 0x2e;
const MAX_CODE_POINT = 0x10ffff;

/** One element of a segment pattern. `ranges` holds inclusive [lo, hi] pairs, flattened. */
type Token =
  | { readonly kind: 'lit'; readonly cp: number }
  | { readonly kind: 'any' }
  | { readonly kind: 'star' }
  | { readonly kind: 'class'; readonly negated: boolean; readonly ranges: readonly number[] };

type ClassToken = Extract<Token, { kind: 'class' }>;

/** One segment of a pattern: `**`, a literal string (fast path), or a token automaton. */
export type Segment =
  | { readonly kind: 'globstar' }
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'tokens'; readonly tokens: readonly Token[]; readonly chunks: Chunks };

/**
 * A segment pattern cut at its stars: `head*m1*m2*tail`. Because a star absorbs anything,
 * placing each middle chunk at its leftmost possible position is always optimal, so matching
 * needs no backtracking: O(len(segment) × tokens) in the worst case, near-linear in practice.
 */
interface Chunks {
  readonly head: readonly Token[];
  readonly middle: readonly (readonly Token[])[];
  readonly tail: readonly Token[];
  readonly hasStar: boolean;
  /** Number of non-star tokens: the shortest segment that can match. */
  readonly minLength: number;
}

function toChunks(tokens: readonly Token[]): Chunks {
  const parts: Token[][] = [[]];
  for (const t of tokens) {
    if (t.kind === 'star') parts.push([]);
    else parts[parts.length - 1]?.push(t);
  }
  const head = parts[0] ?? [];
  if (parts.length === 1) return { head, middle: [], tail: [], hasStar: false, minLength: head.length };
  const middle = parts.slice(1, -1).filter((c) => c.length > 0);
  const tail = parts[parts.length - 1] ?? [];
  return { head, middle, tail, hasStar: true, minLength: tokens.length - (parts.length - 1) };
}

/** Parse the class body in code points `cps` starting at the `[` at `start`. */
function parseClass(pattern: string, cps: string[], start: number): { token: Token; next: number } {
  let i = start + 1;
  let negated = false;
  if (cps[i] === '!' || cps[i] === '^') {
    negated = true;
    i++;
  }
  const ranges: number[] = [];
  let first = true;
  for (;;) {
    let c = cps[i];
    if (c === undefined) throw globError(pattern, 'a "[" class is not closed', 'add "]"');
    if (c === ']' && !first) return { token: { kind: 'class', negated, ranges }, next: i + 1 };
    first = false;
    if (c === '\\') c = cps[++i] ?? '\\';
    const lo = c.codePointAt(0) ?? 0;
    let hi = lo;
    if (cps[i + 1] === '-' && cps[i + 2] !== undefined && cps[i + 2] !== ']') {
      let h = cps[i + 2] ?? '';
      i += 2;
      if (h === '\\') h = cps[++i] ?? '\\';
      hi = h.codePointAt(0) ?? 0;
      if (hi < lo) throw globError(pattern, `class range "${c}-${h}" is reversed`, `write it as "${h}-${c}"`);
    }
    ranges.push(lo, hi);
    i++;
  }
}

/**
 * Compile one raw segment (braces already expanded, no unescaped `/`). `pattern` is the whole
 * source pattern, for error messages.
 *
 * @throws PolicyError for an unclosed class, a reversed range, or a `.`/`..` segment
 * @example
 * ```ts
 * compileSegment('/a/[ab]*', '[ab]*'); // { kind: 'tokens', … }
 * ```
 */
export function compileSegment(pattern: string, raw: string): Segment {
  if (raw === '**') return { kind: 'globstar' };
  const cps = Array.from(raw);
  const tokens: Token[] = [];
  for (let i = 0; i < cps.length; ) {
    const c = cps[i] ?? '';
    if (c === '\\') {
      tokens.push({ kind: 'lit', cp: (cps[i + 1] ?? '').codePointAt(0) ?? 0 });
      i += 2;
    } else if (c === '*') {
      // Consecutive stars are one star: fewer states, same language.
      if (tokens[tokens.length - 1]?.kind !== 'star') tokens.push({ kind: 'star' });
      i++;
    } else if (c === '?') {
      tokens.push({ kind: 'any' });
      i++;
    } else if (c === '[') {
      const { token, next } = parseClass(pattern, cps, i);
      tokens.push(token);
      i = next;
    } else {
      tokens.push({ kind: 'lit', cp: c.codePointAt(0) ?? 0 });
      i++;
    }
  }
  if (tokens.every((t) => t.kind === 'lit')) {
    const text = String.fromCodePoint(...tokens.map((t) => (t.kind === 'lit' ? t.cp : 0)));
    if (text === '.' || text === '..') {
      throw globError(pattern, `a "${text}" segment never matches a canonical path`, 'write the path without "." and ".." segments');
    }
    return { kind: 'literal', text };
  }
  return { kind: 'tokens', tokens, chunks: toChunks(tokens) };
}

function classHas(t: ClassToken, cp: number): boolean {
  let inRanges = false;
  for (let k = 0; k < t.ranges.length; k += 2) {
    if (cp >= (t.ranges[k] ?? 0) && cp <= (t.ranges[k + 1] ?? -1)) {
      inRanges = true;
      break;
    }
  }
  return inRanges !== t.negated;
}

/** Does the class match some code point outside `excluded`? (Exact, not a heuristic.) */
function classHasMemberExcept(t: ClassToken, excluded: readonly number[]): boolean {
  // The smallest member of a non-empty set complement is 0 or one past a boundary point,
  // so checking those candidates is complete.
  const candidates = [0, ...excluded.map((e) => e + 1)];
  for (let k = 0; k < t.ranges.length; k += 2) candidates.push(t.negated ? (t.ranges[k + 1] ?? 0) + 1 : (t.ranges[k] ?? 0));
  return candidates.some((c) => c <= MAX_CODE_POINT && !excluded.includes(c) && classHas(t, c));
}

/**
 * Can the segment pattern match some real segment (non-empty, not `.` or `..`)? Exact.
 *
 * @example
 * ```ts
 * segmentSatisfiable(compileSegment('/x/.[.]', '.[.]')); // false: it can only spell ".."
 * ```
 */
export function segmentSatisfiable(seg: Segment): boolean {
  if (seg.kind !== 'tokens') return true;
  const fixed = seg.tokens.filter((t) => t.kind !== 'star');
  if (!fixed.every((t) => t.kind !== 'class' || classHasMemberExcept(t, [SLASH]))) return false;
  // A star can produce "x", and a fixed length of 3+ can't spell "." or "..".
  if (fixed.length !== seg.tokens.length || fixed.length >= 3) return true;
  return fixed.some((t) => (t.kind === 'lit' ? t.cp !== DOT : t.kind === 'any' || (t.kind === 'class' && classHasMemberExcept(t, [SLASH, DOT]))));
}

/** Does `chunk` (no stars) match the code points `cps` starting at `pos`? */
function chunkAt(chunk: readonly Token[], cps: readonly number[], pos: number): boolean {
  for (let k = 0; k < chunk.length; k++) {
    const t = chunk[k] as Token;
    const cp = cps[pos + k] ?? -1;
    if (t.kind === 'lit' ? t.cp !== cp : t.kind === 'class' && !classHas(t, cp)) return false;
  }
  return true;
}

/** Match a segment against a tokenized pattern (see {@link Chunks} for why greedy is exact). */
function matchChunks(c: Chunks, segment: string): boolean {
  if (segment.length < c.minLength) return false; // UTF-16 length ≥ code point count
  const cps: number[] = [];
  for (const ch of segment) cps.push(ch.codePointAt(0) ?? 0);
  const n = cps.length;
  if (!c.hasStar) return n === c.head.length && chunkAt(c.head, cps, 0);
  if (n < c.minLength || !chunkAt(c.head, cps, 0)) return false;
  const end = n - c.tail.length;
  if (!chunkAt(c.tail, cps, end)) return false;
  let pos = c.head.length;
  for (const chunk of c.middle) {
    let found = -1;
    for (let p = pos; p + chunk.length <= end; p++) {
      if (chunkAt(chunk, cps, p)) {
        found = p;
        break;
      }
    }
    if (found < 0) return false;
    pos = found + chunk.length;
  }
  return true;
}

/**
 * Does the (canonical, non-empty) path segment match the compiled segment pattern?
 *
 * @example
 * ```ts
 * segmentMatches(compileSegment('/a/*.ts', '*.ts'), '.d.ts'); // true: `*` matches leading dots
 * ```
 */
export function segmentMatches(seg: Segment, segment: string): boolean {
  switch (seg.kind) {
    case 'globstar':
      return true;
    case 'literal':
      return seg.text === segment;
    case 'tokens':
      return matchChunks(seg.chunks, segment);
  }
}
