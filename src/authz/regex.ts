/**
 * `matches` patterns that cannot backtrack catastrophically, checked at load.
 *
 * V8's regular expressions backtrack: `^(a+)+$` against fifty `a`s and a `!` takes longer
 * than the universe has existed, and even `a*b` against 100k `a`s takes seconds (every start
 * position rescans to the end). So a pattern is parsed here (the Unicode-mode syntax, subset
 * below) and analysed before it is compiled, and rejected with a {@link PolicyError} unless
 * the analysis shows that matching takes time linear in the input:
 *
 * 1. Syntax: literals, escapes (`\d \w \s \D \W \S \t \n \xHH \uHHHH \u{…} \p{…}`), classes,
 *    groups (`(…)`, `(?:…)`, `(?<name>…)`), alternation, quantifiers (`* + ? {n} {n,} {n,m}`,
 *    lazy or greedy), anchors (`^ $ \b \B`). Backreferences and lookaround are rejected:
 *    they need backtracking by definition.
 * 2. Limits: at most {@link REGEX_LIMITS}.maxLength characters; quantifier bounds at most
 *    {@link REGEX_LIMITS}.maxBound.
 * 3. Nested quantifiers (a repeated group containing a repetition, "star height > 1":
 *    `(a+)+`, `(\d{2})*`) are rejected, as is a repeated group whose body can match empty
 *    text or contains an alternation whose branches can begin with the same character
 *    (`(a|ab)+`): these are the exponential cases.
 * 4. Ambiguity: the pattern's position automaton (Glushkov; small bounded repetitions are
 *    unrolled, larger ones treated as unbounded, anchors as empty) must not reach the same
 *    position by two different paths on the same text. That excludes every exponential and
 *    polynomial blow-up inside one match attempt (`^\d+\d+$`, `^.*a.*$`) — with a
 *    deterministic path per position, an attempt explores at most (positions × input) paths.
 * 5. Unanchored patterns: a pattern that does not start with `^` is tried at every start
 *    position, so a repetition that the pattern can enter from its start while reading only
 *    characters the repetition itself accepts (`a*b`, `[a-z]+\.ts`, `.*secret`) makes the
 *    total quadratic; it is rejected (anchor it with `^`, or begin with a fixed character).
 *
 * The analysis over-approximates (it can reject a pattern that is in fact fast, e.g.
 * `^(ab)+a+$`), never the reverse. Patterns compile with the `u` flag.
 *
 * @example
 * ```ts
 * compileSafeRegex('^api\\.(github|gitlab)\\.com$', 'conditions[0].value').test('api.github.com'); // true
 * compileSafeRegex('^(a+)+$', 'conditions[0].value'); // throws PolicyError: nested quantifiers
 * ```
 */
import { PolicyError } from '../errors.js';

/** Limits of {@link compileSafeRegex}. */
export const REGEX_LIMITS = Object.freeze({
  /** Longest pattern, in UTF-16 code units. */
  maxLength: 512,
  /** Largest `{n,m}` bound. */
  maxBound: 1000,
  /** Positions added by unrolling bounded repetitions (beyond that they count as unbounded). */
  maxUnrolled: 256,
  /**
   * In a pattern without `^`: the total bound of the repetitions a match can begin with
   * (`\d{1,5}` is 5). Each start position may consume that much before failing.
   */
  maxStartRepetition: 5,
  /** Work units the ambiguity analysis may spend before giving up (and rejecting). */
  maxWork: 1_000_000,
});

// ---- character sets: sorted, merged, inclusive code point ranges [lo0, hi0, lo1, hi1, …] ----

type CharSet = readonly number[];
const MAX_CP = 0x10ffff;
const ALL: CharSet = [0, MAX_CP];

function normalizeSet(ranges: number[][]): CharSet {
  const sorted = ranges.filter((r) => r[0]! <= r[1]!).sort((a, b) => a[0]! - b[0]!);
  const out: number[] = [];
  for (const [lo, hi] of sorted as [number, number][]) {
    const n = out.length;
    if (n > 0 && lo <= out[n - 1]! + 1) out[n - 1] = Math.max(out[n - 1]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function pairs(s: CharSet): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < s.length; i += 2) out.push([s[i]!, s[i + 1]!]);
  return out;
}

function negate(s: CharSet): CharSet {
  const out: number[][] = [];
  let next = 0;
  for (const [lo, hi] of pairs(s) as [number, number][]) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CP) out.push([next, MAX_CP]);
  return normalizeSet(out);
}

function intersects(a: CharSet, b: CharSet): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    if (a[i + 1]! < b[j]!) i += 2;
    else if (b[j + 1]! < a[i]!) j += 2;
    else return true;
  }
  return false;
}

const cp = (c: string): number => c.codePointAt(0)!;
const DIGIT = normalizeSet([[48, 57]]);
const WORD = normalizeSet([[48, 57], [65, 90], [95, 95], [97, 122]]);
const SPACE = normalizeSet([[9, 13], [32, 32], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]]);
const DOT = negate(normalizeSet([[10, 10], [13, 13], [0x2028, 0x2029]]));
const CLASS_ESCAPES: Readonly<Record<string, CharSet>> = { d: DIGIT, D: negate(DIGIT), w: WORD, W: negate(WORD), s: SPACE, S: negate(SPACE) };
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { t: 9, n: 10, v: 11, f: 12, r: 13 };
const SYNTAX = '^$\\.*+?()[]{}|/';

// ---- syntax tree ----

type Node =
  | { readonly k: 'char'; readonly set: CharSet; readonly at: number }
  | { readonly k: 'seq'; readonly items: readonly Node[]; readonly at: number }
  | { readonly k: 'alt'; readonly branches: readonly Node[]; readonly at: number }
  | { readonly k: 'group'; readonly body: Node; readonly at: number }
  | { readonly k: 'assert'; readonly kind: '^' | '$' | 'b' | 'B'; readonly at: number }
  | { readonly k: 'rep'; readonly body: Node; readonly min: number; readonly max: number; readonly at: number };

class RegexProblem extends Error {}

/** A recursive-descent parser for the Unicode-mode subset described in the module doc. */
class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  private fail(message: string, at = this.i): never {
    throw new RegexProblem(`at offset ${at}: ${message}`);
  }

  private peek(): string | undefined {
    const c = this.src.codePointAt(this.i);
    return c === undefined ? undefined : String.fromCodePoint(c);
  }

  private next(): string {
    const c = this.peek();
    if (c === undefined) this.fail('unexpected end of pattern');
    this.i += c.length;
    return c;
  }

  parse(): Node {
    const node = this.disjunction();
    if (this.i < this.src.length) this.fail(this.peek() === ')' ? 'unmatched ")"; escape it as "\\)"' : `unexpected ${JSON.stringify(this.peek())}`);
    return node;
  }

  private disjunction(): Node {
    const at = this.i;
    const branches = [this.alternative()];
    while (this.peek() === '|') {
      this.i++;
      branches.push(this.alternative());
    }
    return branches.length === 1 ? branches[0]! : { k: 'alt', branches, at };
  }

  private alternative(): Node {
    const at = this.i;
    const items: Node[] = [];
    for (let c = this.peek(); c !== undefined && c !== '|' && c !== ')'; c = this.peek()) items.push(this.term());
    return items.length === 1 ? items[0]! : { k: 'seq', items, at };
  }

  private term(): Node {
    const at = this.i;
    const c = this.peek();
    if (c === '^' || c === '$') {
      this.i++;
      this.noQuantifier('an anchor');
      return { k: 'assert', kind: c, at };
    }
    if (c === '\\' && (this.src[this.i + 1] === 'b' || this.src[this.i + 1] === 'B')) {
      this.i += 2;
      this.noQuantifier('a word boundary');
      return { k: 'assert', kind: this.src[this.i - 1] as 'b' | 'B', at };
    }
    const atom = this.atom();
    return this.quantifier(atom, at);
  }

  private noQuantifier(what: string): void {
    const c = this.peek();
    if (c === '*' || c === '+' || c === '?' || c === '{') this.fail(`${what} cannot be repeated`);
  }

  private number(): number | undefined {
    const m = /^\d+/.exec(this.src.slice(this.i, this.i + 12));
    if (!m) return undefined;
    this.i += m[0].length;
    return Number(m[0]);
  }

  private quantifier(body: Node, at: number): Node {
    const c = this.peek();
    let min: number;
    let max: number;
    const qAt = this.i;
    if (c === '*') [min, max] = [0, Infinity];
    else if (c === '+') [min, max] = [1, Infinity];
    else if (c === '?') [min, max] = [0, 1];
    else if (c === '{') {
      this.i++;
      const lo = this.number();
      if (lo === undefined) this.fail('"{" must start a quantifier {n}, {n,} or {n,m}; escape a literal brace as "\\{"', qAt);
      let hi = lo;
      if (this.peek() === ',') {
        this.i++;
        hi = this.peek() === '}' ? Infinity : (this.number() ?? this.fail('expected a number or "}" after "," in a quantifier'));
      }
      if (this.peek() !== '}') this.fail('unclosed quantifier; write {n}, {n,} or {n,m}', qAt);
      if (hi < lo) this.fail(`quantifier {${lo},${hi}} has its bounds in the wrong order`, qAt);
      const big = Math.max(lo, hi === Infinity ? 0 : hi);
      if (big > REGEX_LIMITS.maxBound) this.fail(`quantifier bound ${big} is over the limit of ${REGEX_LIMITS.maxBound}; use a smaller bound or "+"`, qAt);
      [min, max] = [lo, hi];
    } else return body;
    this.i++;
    if (this.peek() === '?') this.i++; // lazy: same paths, other order
    const q = this.peek();
    if (q === '*' || q === '+' || q === '?' || q === '{') this.fail('a quantifier cannot follow a quantifier; group the repeated part instead');
    return { k: 'rep', body, min, max, at };
  }

  private atom(): Node {
    const at = this.i;
    const c = this.next();
    switch (c) {
      case '.':
        return { k: 'char', set: DOT, at };
      case '[':
        return { k: 'char', set: this.charClass(), at };
      case '(':
        return this.group(at);
      case '\\':
        return { k: 'char', set: this.atomEscape(at), at };
      case '*':
      case '+':
      case '?':
        return this.fail(`nothing to repeat before "${c}"; escape it as "\\${c}"`, at);
      case '{':
      case '}':
      case ']':
        return this.fail(`a literal "${c}" must be escaped as "\\${c}"`, at);
      default:
        return { k: 'char', set: [cp(c), cp(c)], at };
    }
  }

  private group(at: number): Node {
    if (this.peek() === '?') {
      const look = this.src.slice(this.i, this.i + 3);
      if (look.startsWith('?=') || look.startsWith('?!') || look === '?<=' || look === '?<!') {
        this.fail('lookahead and lookbehind ("(?=", "(?!", "(?<=", "(?<!") are not supported: they need backtracking; match the text itself instead', at);
      }
      if (look.startsWith('?:')) this.i += 2;
      else if (look.startsWith('?<')) {
        const m = /^\?<([A-Za-z_$][A-Za-z0-9_$]*)>/.exec(this.src.slice(this.i, this.i + 200));
        if (!m) this.fail('invalid group name; write (?<name>…) with a name of letters, digits and "_"', at);
        this.i += m[0].length;
      } else this.fail('unsupported group syntax after "(?"; use "(?:…)" or "(?<name>…)"', at);
    }
    const body = this.disjunction();
    if (this.peek() !== ')') this.fail('unclosed group; add ")"', at);
    this.i++;
    return { k: 'group', body, at };
  }

  /** After `\` outside a class. */
  private atomEscape(at: number): CharSet {
    const c = this.peek();
    if (c !== undefined && /[1-9]/.test(c)) this.fail('backreferences ("\\1") are not supported: they need backtracking; repeat the text or use a condition per value', at);
    if (c === 'k') this.fail('backreferences ("\\k<name>") are not supported: they need backtracking', at);
    return this.characterEscape(at, false);
  }

  /** The escape after `\` (shared by atoms and classes); `inClass` allows `\b` (backspace) and `\-`. */
  private characterEscape(at: number, inClass: boolean): CharSet {
    const c = this.next();
    const single = (n: number): CharSet => [n, n];
    if (Object.hasOwn(CLASS_ESCAPES, c)) return CLASS_ESCAPES[c]!;
    if (Object.hasOwn(CONTROL_ESCAPES, c)) return single(CONTROL_ESCAPES[c]!);
    if (c === 'p' || c === 'P') {
      const m = /^\{[A-Za-z0-9_=]+\}/.exec(this.src.slice(this.i, this.i + 80));
      if (!m) this.fail('"\\p" needs a property in braces, e.g. "\\p{L}"', at);
      this.i += m[0].length;
      return ALL; // over-approximation: analysis treats it as "any character"
    }
    if (c === 'c') {
      const l = this.next();
      if (!/[A-Za-z]/.test(l)) this.fail('"\\c" must be followed by a letter', at);
      return single(cp(l) % 32);
    }
    if (c === '0') {
      if (/[0-9]/.test(this.peek() ?? '')) this.fail('"\\0" cannot be followed by a digit (octal escapes are not supported); write "\\x00"', at);
      return single(0);
    }
    if (c === 'x') {
      const m = /^[0-9A-Fa-f]{2}/.exec(this.src.slice(this.i, this.i + 2));
      if (!m) this.fail('"\\x" needs two hex digits', at);
      this.i += 2;
      return single(parseInt(m[0], 16));
    }
    if (c === 'u') return single(this.unicodeEscape(at));
    if (inClass && (c === 'b' || c === '-')) return single(c === 'b' ? 8 : 45);
    if (SYNTAX.includes(c)) return single(cp(c));
    return this.fail(`unknown escape "\\${c}"; in Unicode mode only syntax characters ${SYNTAX} can be escaped`, at);
  }

  private unicodeEscape(at: number): number {
    const rest = this.src.slice(this.i, this.i + 12);
    let m = /^\{([0-9A-Fa-f]{1,6})\}/.exec(rest);
    if (m) {
      const v = parseInt(m[1]!, 16);
      if (v > MAX_CP) this.fail('code point out of range', at);
      this.i += m[0].length;
      return v;
    }
    m = /^[0-9A-Fa-f]{4}/.exec(rest);
    if (!m) this.fail('"\\u" needs four hex digits or "{…}"', at);
    this.i += 4;
    const hi = parseInt(m[0], 16);
    const low = /^\\u([dD][c-fC-F][0-9A-Fa-f]{2})/.exec(this.src.slice(this.i, this.i + 6));
    if (hi >= 0xd800 && hi <= 0xdbff && low) {
      this.i += 6;
      return 0x10000 + ((hi - 0xd800) << 10) + (parseInt(low[1]!, 16) - 0xdc00);
    }
    return hi;
  }

  private charClass(): CharSet {
    const at = this.i - 1;
    const negated = this.peek() === '^';
    if (negated) this.i++;
    const ranges: number[][] = [];
    for (;;) {
      const c = this.peek();
      if (c === undefined) this.fail('unclosed character class; add "]"', at);
      if (c === ']') {
        this.i++;
        break;
      }
      const lo = this.classAtom();
      if (this.peek() === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length) {
        const dash = this.i++;
        const hi = this.classAtom();
        if (lo.length !== 2 || hi.length !== 2 || lo[0] !== lo[1] || hi[0] !== hi[1]) this.fail('a class range needs single characters at both ends; escape "-" as "\\-"', dash);
        if (hi[0]! < lo[0]!) this.fail('class range out of order', dash);
        ranges.push([lo[0]!, hi[0]!]);
      } else ranges.push(...pairs(lo));
    }
    const set = normalizeSet(ranges);
    return negated ? negate(set) : set;
  }

  private classAtom(): CharSet {
    const at = this.i;
    const c = this.next();
    if (c === '\\') return this.characterEscape(at, true);
    return [cp(c), cp(c)];
  }
}

// ---- structural checks (limits 3) ----

function maxRep(n: Node): number {
  switch (n.k) {
    case 'rep':
      return Math.max(n.max, maxRep(n.body));
    case 'seq':
      return Math.max(0, ...n.items.map(maxRep));
    case 'alt':
      return Math.max(0, ...n.branches.map(maxRep));
    case 'group':
      return maxRep(n.body);
    default:
      return 0;
  }
}

interface Shape {
  readonly nullable: boolean;
  readonly first: CharSet;
}

/** Whether a node can match empty text, and the characters it can begin with. */
function shape(n: Node): Shape {
  switch (n.k) {
    case 'char':
      return { nullable: false, first: n.set };
    case 'assert':
      return { nullable: true, first: [] };
    case 'group':
      return shape(n.body);
    case 'rep': {
      const s = shape(n.body);
      return { nullable: n.min === 0 || s.nullable, first: s.first };
    }
    case 'alt': {
      const ss = n.branches.map(shape);
      return { nullable: ss.some((s) => s.nullable), first: normalizeSet(ss.flatMap((s) => pairs(s.first))) };
    }
    case 'seq': {
      const firsts: number[][] = [];
      for (const item of n.items) {
        const s = shape(item);
        firsts.push(...pairs(s.first));
        if (!s.nullable) return { nullable: false, first: normalizeSet(firsts) };
      }
      return { nullable: true, first: normalizeSet(firsts) };
    }
  }
}

function checkStructure(n: Node): void {
  switch (n.k) {
    case 'rep':
      if (n.max > 1) {
        if (maxRep(n.body) > 1) {
          throw new RegexProblem(`at offset ${n.at}: nested quantifiers (a repeated group containing a repetition, like "(a+)+") can take exponential time; flatten the repetition`);
        }
        if (shape(n.body).nullable) throw new RegexProblem(`at offset ${n.at}: the repeated part can match empty text; make it match at least one character`);
        checkAlternations(n.body);
      }
      checkStructure(n.body);
      return;
    case 'seq':
      n.items.forEach(checkStructure);
      return;
    case 'alt':
      n.branches.forEach(checkStructure);
      return;
    case 'group':
      checkStructure(n.body);
      return;
    default:
      return;
  }
}

/** Inside a repetition, every alternation must choose its branch by its first character. */
function checkAlternations(n: Node): void {
  if (n.k === 'alt') {
    const ss = n.branches.map(shape);
    for (let a = 0; a < ss.length; a++) {
      if (ss[a]!.nullable) throw new RegexProblem(`at offset ${n.at}: an alternative inside a repeated group can match empty text; remove the empty alternative`);
      for (let b = 0; b < a; b++) {
        if (intersects(ss[a]!.first, ss[b]!.first)) {
          throw new RegexProblem(`at offset ${n.at}: inside a repeated group, alternatives ${b + 1} and ${a + 1} can begin with the same character (like "(a|ab)+"), which can take exponential time; make each alternative begin differently`);
        }
      }
    }
  }
  if (n.k === 'alt') n.branches.forEach(checkAlternations);
  else if (n.k === 'seq') n.items.forEach(checkAlternations);
  else if (n.k === 'group' || n.k === 'rep') checkAlternations(n.body);
}

// ---- position automaton (limits 4 and 5) ----

interface Automaton {
  readonly sets: CharSet[];
  readonly at: number[];
  readonly follow: Set<number>[];
  readonly first: number[];
  /** The positions of each repetition and its bound (Infinity: unbounded). */
  readonly reps: { readonly positions: readonly number[]; readonly max: number }[];
}

interface Frag {
  readonly nullable: boolean;
  readonly first: number[];
  readonly last: number[];
}

function buildAutomaton(root: Node): Automaton {
  const a: Automaton = { sets: [], at: [], follow: [], first: [], reps: [] };
  const range = (start: number): number[] => Array.from({ length: a.sets.length - start }, (_, k) => start + k);
  let budget = REGEX_LIMITS.maxUnrolled;
  const link = (from: readonly number[], to: readonly number[]) => {
    for (const f of from) for (const t of to) a.follow[f]!.add(t);
  };
  const seq = (x: Frag, y: Frag): Frag => {
    link(x.last, y.first);
    return {
      nullable: x.nullable && y.nullable,
      first: x.nullable ? [...x.first, ...y.first] : x.first,
      last: y.nullable ? [...x.last, ...y.last] : y.last,
    };
  };
  const empty: Frag = { nullable: true, first: [], last: [] };
  const size = (n: Node): number =>
    n.k === 'char' ? 1 : n.k === 'assert' ? 0 : n.k === 'group' ? size(n.body) : n.k === 'rep' ? size(n.body) : n.k === 'seq' ? n.items.reduce((s, x) => s + size(x), 0) : n.branches.reduce((s, x) => s + size(x), 0);
  const build = (n: Node): Frag => {
    switch (n.k) {
      case 'char': {
        const p = a.sets.length;
        a.sets.push(n.set);
        a.at.push(n.at);
        a.follow.push(new Set());
        return { nullable: false, first: [p], last: [p] };
      }
      case 'assert':
        return empty; // over-approximation: an anchor only ever removes paths
      case 'group':
        return build(n.body);
      case 'seq':
        return n.items.reduce((f, item) => seq(f, build(item)), empty);
      case 'alt': {
        const fs = n.branches.map(build);
        return { nullable: fs.some((f) => f.nullable), first: fs.flatMap((f) => f.first), last: fs.flatMap((f) => f.last) };
      }
      case 'rep': {
        // X* and X+ are exact as loops; other counts are unrolled while the budget lasts.
        if (n.max === Infinity && n.min <= 1) return loop(n.body, n.min);
        const copies = n.max === Infinity ? n.min + 1 : n.max;
        const extra = (copies - 1) * size(n.body);
        if (copies > 1 && extra <= budget) {
          // Unroll: X{2,4} → X X (X (X)?)?, nested so that the unrolled form stays unambiguous.
          budget -= extra;
          const start = a.sets.length;
          let f = empty;
          for (let k = 0; k < n.min; k++) f = seq(f, build(n.body));
          if (n.max === Infinity) return seq(f, loop(n.body, 0));
          let tail = empty;
          const optional: Frag[] = [];
          for (let k = n.min; k < n.max; k++) optional.push(build(n.body));
          for (let k = optional.length - 1; k >= 0; k--) {
            const body = optional[k]!;
            tail = seq(body, tail);
            tail = { nullable: true, first: tail.first, last: tail.last };
          }
          a.reps.push({ positions: range(start), max: n.max });
          return seq(f, tail);
        }
        if (n.max <= 1) {
          const f = build(n.body);
          return n.min === 0 ? { nullable: true, first: f.first, last: f.last } : f;
        }
        return loop(n.body, n.min);
      }
    }
  };
  // A repetition kept as a loop (over-approximating a bounded one by an unbounded one).
  const loop = (body: Node, min: number): Frag => {
    const start = a.sets.length;
    const f = build(body);
    link(f.last, f.first);
    a.reps.push({ positions: range(start), max: Infinity });
    return { nullable: min === 0 || f.nullable, first: f.first, last: f.last };
  };
  a.first.push(...build(root).first);
  return a;
}

/** Two different paths reaching the same position on the same text: returns that position. */
function findAmbiguity(a: Automaton): number | undefined {
  const n = a.sets.length;
  const START = n;
  const followOf = (x: number): Iterable<number> => (x === START ? a.first : a.follow[x]!);
  const inter = new Uint8Array(n * n); // 0 unknown, 1 disjoint, 2 overlapping
  const overlap = (x: number, y: number): boolean => {
    const k = x * n + y;
    if (inter[k] === 0) inter[k] = inter[y * n + x] = intersects(a.sets[x]!, a.sets[y]!) ? 2 : 1;
    return inter[k] === 2;
  };
  const seen = new Uint8Array((n + 1) * (n + 1));
  const queue: number[] = [START * (n + 1) + START];
  seen[queue[0]!] = 1;
  let work = 0;
  while (queue.length > 0) {
    const key = queue.pop()!;
    const x = Math.floor(key / (n + 1));
    const y = key % (n + 1);
    for (const x2 of followOf(x)) {
      for (const y2 of followOf(y)) {
        if (++work > REGEX_LIMITS.maxWork) throw new RegexProblem('the pattern is too complex to verify; simplify it');
        if (x === y && y2 < x2) continue; // symmetric pairs from the diagonal: keep one
        if (!overlap(x2, y2)) continue;
        if (x2 === y2 && x !== y) return x2;
        const k = x2 * (n + 1) + y2;
        if (!seen[k]) {
          seen[k] = 1;
          queue.push(k);
        }
      }
    }
  }
  return undefined;
}

/**
 * For a pattern tried at every start position: a repetition the pattern can enter from its
 * start while reading only characters the repetition accepts (so that every start position
 * of a long run re-enters it) — any unbounded one, or bounded ones whose bounds add up to more
 * than {@link REGEX_LIMITS}.maxStartRepetition. Returns the position where it is entered.
 */
function findStartRepetition(a: Automaton): number | undefined {
  let total = 0;
  for (const rep of a.reps) {
    const inRep = new Set(rep.positions);
    const sigma = normalizeSet(rep.positions.flatMap((p) => pairs(a.sets[p]!)));
    const seen = new Set<number>();
    const stack = a.first.filter((p) => intersects(a.sets[p]!, sigma));
    for (const p of stack) seen.add(p);
    while (stack.length > 0) {
      const p = stack.pop()!;
      if (inRep.has(p)) {
        total += rep.max;
        if (total > REGEX_LIMITS.maxStartRepetition) return p;
        break;
      }
      for (const q of a.follow[p]!) {
        if (!seen.has(q) && intersects(a.sets[q]!, sigma)) {
          seen.add(q);
          stack.push(q);
        }
      }
    }
  }
  return undefined;
}

function anchoredAtStart(n: Node): boolean {
  switch (n.k) {
    case 'assert':
      return n.kind === '^';
    case 'seq':
      return n.items.length > 0 && anchoredAtStart(n.items[0]!);
    case 'alt':
      return n.branches.every(anchoredAtStart);
    case 'group':
      return anchoredAtStart(n.body);
    default:
      return false;
  }
}

/**
 * Check a pattern without compiling it: `undefined` when it is accepted, else the problem
 * (a sentence without the field path).
 *
 * @example
 * ```ts
 * regexProblem('^(a+)+$'); // 'at offset 1: nested quantifiers …'
 * regexProblem('\\d{1,5}'); // undefined
 * ```
 */
export function regexProblem(pattern: string): string | undefined {
  if (typeof pattern !== 'string') return `expected a regular expression string, got ${typeof pattern}`;
  if (pattern.length > REGEX_LIMITS.maxLength) return `the pattern is ${pattern.length} characters long, over the limit of ${REGEX_LIMITS.maxLength}; shorten it`;
  try {
    const root = new Parser(pattern).parse();
    checkStructure(root);
    const a = buildAutomaton(root);
    const amb = findAmbiguity(a);
    if (amb !== undefined) {
      return `at offset ${a.at[amb]}: the text there can be matched in more than one way (overlapping repetitions or alternatives, like "\\d+\\d+" or ".*a.*"), which can take polynomial or exponential time; make the parts before it match disjoint characters`;
    }
    if (!anchoredAtStart(root)) {
      const p = findStartRepetition(a);
      if (p !== undefined) {
        return `at offset ${a.at[p]}: a pattern without "^" is retried at every position, and this one can begin with a repetition (like "a*b", ".*x" or "[a-z]{1,20}x"), which takes quadratic time; anchor it with "^" (e.g. "^.*x" becomes "^[^x]*x"), begin it with a character the repetition does not accept, or bound the repetition to at most ${REGEX_LIMITS.maxStartRepetition}`;
      }
    }
  } catch (e) {
    if (e instanceof RegexProblem) return e.message;
    throw e;
  }
  try {
    new RegExp(pattern, 'u');
  } catch (e) {
    return `invalid regular expression: ${e instanceof Error ? e.message : String(e)}`;
  }
  return undefined;
}

const cache = new Map<string, RegExp | string>();
const CACHE_MAX = 1024;

/**
 * Compile a `matches` pattern after proving that it matches in linear time (see the module
 * doc for what is accepted). Results are cached by pattern; the returned RegExp has no `g`
 * or `y` flag, so sharing it is safe.
 *
 * @param pattern the regular expression source (no slashes, no flags; compiled with `u`)
 * @param path the policy field, for the error message and `details.path`
 * @throws PolicyError (`POLICY_INVALID`) naming the field and what to change
 * @example
 * ```ts
 * compileSafeRegex('^[a-z0-9._-]+\\.ts$', 'conditions[0].value').test('main.ts'); // true
 * ```
 */
export function compileSafeRegex(pattern: string, path: string): RegExp {
  let hit = cache.get(pattern);
  if (hit === undefined) {
    const problem = regexProblem(pattern);
    hit = problem ?? new RegExp(pattern, 'u');
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(pattern, hit);
  }
  if (typeof hit === 'string') {
    throw new PolicyError(`${path}: ${hit} (pattern ${JSON.stringify(String(pattern).slice(0, 80))})`, { path, pattern: String(pattern).slice(0, 200) });
  }
  return hit;
}
