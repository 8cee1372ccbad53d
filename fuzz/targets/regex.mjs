/**
 * Fuzz target: the `matches` regular expressions of policy conditions (`regexProblem`,
 * `compileSafeRegex` in src/authz/regex.ts), which promise that an accepted pattern matches in
 * time linear in the input.
 *
 * Patterns are generated as a small syntax tree (literals, escapes, classes, groups,
 * alternation, greedy and lazy quantifiers, bounded repetitions, anchors, and now and then a
 * backreference or lookaround) and rendered to text, sometimes with a random edit. Property:
 * - the analysis never throws: it accepts, or names the problem;
 * - it never accepts what V8 refuses to compile (`new RegExp(p, 'u')`, the reference);
 * - `compileSafeRegex` throws only `PolicyError`, and returns exactly V8's RegExp otherwise;
 * - an accepted pattern, run against hostile texts built from its own characters (growing to
 *   20,000 characters, ending in one that breaks the match), takes under 100 ms at every
 *   length (twice, to ride out a GC pause): no catastrophic backtracking gets past the
 *   analysis, and the growth is seen before a blow-up could hang the run.
 */
import fc from 'fast-check';
import { PolicyError } from '../../dist/errors.js';
import { compileSafeRegex, regexProblem } from '../../dist/authz/regex.js';

export const name = 'regex';

const TIME_CAP_MS = 100;
const HOSTILE_LENGTH = 20_000;

const LITERALS = ['a', 'b', 'c', '.', '-', '_', '/', 'é', '😀', '0', '9', 'Z', ' '];
const ESCAPES = ['\\d', '\\w', '\\s', '\\D', '\\W', '\\S', '\\.', '\\-', '\\/', '\\t', '\\x41', '\\u00e9', '\\u{1F600}', '\\p{L}', '\\P{N}', '\\b', '\\B'];
const CLASSES = ['[a-z]', '[^a]', '[abc]', '[0-9a-f]', '[\\d.]', '[^\\s]', '[.]', '[é-ü]', '[-a]', '[a-]', '[]', '[^]'];
const QUANTS = ['*', '+', '?', '*?', '+?', '??', '{2}', '{1,3}', '{0,}', '{2,5}?', '{1000}', '{1001}', '{3,1}'];
const RARE = ['\\1', '(?=a)', '(?!b)', '(?<=c)', '(?<!d)', '\\k<n>', '(', ')', '[', '{', '}', '|', '\\'];

const { tree } = fc.letrec((tie) => ({
  atom: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 5, arbitrary: fc.constantFrom(...LITERALS) },
    { weight: 2, arbitrary: fc.constantFrom(...ESCAPES) },
    { weight: 2, arbitrary: fc.constantFrom(...CLASSES) },
    { weight: 1, arbitrary: fc.constant('.') },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('(', '(?:', '(?<n>'), tie('tree')).map(([open, body]) => `${open}${body})`) },
    { weight: 1, arbitrary: fc.constantFrom(...RARE) },
  ),
  piece: fc.tuple(tie('atom'), fc.option(fc.constantFrom(...QUANTS), { freq: 3 })).map(([a, q]) => a + (q ?? '')),
  branch: fc.array(tie('piece'), { maxLength: 5 }).map((ps) => ps.join('')),
  tree: fc.array(tie('branch'), { minLength: 1, maxLength: 3 }).map((bs) => bs.join('|')),
}));

const edit = fc.option(fc.tuple(fc.nat(), fc.constantFrom('(', ')', '*', '+', '|', '\\', '[', ']', '{', '^', '$')), { freq: 4 });

export const arbitrary = fc
  .tuple(fc.boolean(), tree, fc.boolean(), edit)
  .map(([start, body, end, e]) => {
    let p = (start ? '^' : '') + body + (end ? '$' : '');
    if (e) {
      const i = e[0] % (p.length + 1);
      p = p.slice(0, i) + e[1] + p.slice(i);
    }
    return p;
  });

/**
 * Lengths a hostile text grows through. A match cannot be interrupted, so a blow-up must be
 * seen before it hangs the run: small steps first (an exponential pattern at most 16× slower
 * per step of 4), then doubling (a cubic one at most 8× slower per step).
 */
const LENGTHS = [4, 8, 12, 16, 20, 24, 28, 32, 40, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, HOSTILE_LENGTH];

/** Hostile text makers from the pattern's own characters: runs that almost match, then a breaker. */
function hostileTexts(pattern) {
  const chars = [...new Set([...pattern.replace(/[\\^$()[\]{}|*+?]/g, '')])];
  if (chars.length === 0) chars.push('a');
  const makers = chars.slice(0, 4).map((c) => (n) => c.repeat(n) + '!');
  makers.push((n) => Array.from({ length: n }, (_, i) => chars[i % chars.length]).join('') + '\u0000');
  makers.push((n) => 'x'.repeat(10) + Array.from({ length: n }, (_, i) => chars[(i * 7) % chars.length]).join(''));
  return makers;
}

function timed(re, text) {
  const start = performance.now();
  re.test(text);
  return performance.now() - start;
}

/** The property, for one pattern; throws when it does not hold. */
export function check(pattern) {
  let problem;
  try {
    problem = regexProblem(pattern);
  } catch (e) {
    throw new Error(`regexProblem threw: ${e instanceof Error ? e.stack : String(e)}`);
  }
  let reference;
  try {
    reference = new RegExp(pattern, 'u');
  } catch {
    reference = undefined;
  }
  if (problem === undefined && reference === undefined) throw new Error('accepted a pattern that V8 refuses to compile');
  let compiled;
  try {
    compiled = compileSafeRegex(pattern, 'fuzz');
  } catch (e) {
    if (!(e instanceof PolicyError)) throw new Error(`compileSafeRegex threw ${e?.constructor?.name}: ${e instanceof Error ? e.stack : String(e)}`);
    if (problem === undefined) throw new Error(`compileSafeRegex refused what regexProblem accepted: ${e.message}`);
    return;
  }
  if (problem !== undefined) throw new Error(`compileSafeRegex accepted what regexProblem refused: ${problem}`);
  if (compiled.source !== reference.source || compiled.flags !== 'u') throw new Error(`compiled /${compiled.source}/${compiled.flags}, not the pattern as written`);
  for (const make of hostileTexts(pattern)) {
    for (const n of LENGTHS) {
      const text = make(n);
      let ms = timed(compiled, text);
      if (ms > TIME_CAP_MS) ms = Math.min(ms, timed(compiled, text));
      if (ms > TIME_CAP_MS) throw new Error(`accepted pattern took ${Math.round(ms)} ms on a ${text.length}-character text (cap ${TIME_CAP_MS} ms): not linear`);
    }
  }
}
