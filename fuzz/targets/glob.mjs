/**
 * Fuzz target: glob matching (`compileGlob`, `compileGlobSet` in src/policy/glob.ts).
 *
 * Patterns are generated as a small syntax tree (literals, `*`, `?`, `**` segments, classes,
 * braces, `/`) and rendered to text. A reference written here from the documented syntax
 * (brace expansion over the tree, then one regular expression per alternative) decides
 * validity and matching; the property is that `compileGlob` agrees on both, that
 * `mayContain` holds for every ancestor of a matched path, that `compileGlobSet.firstMatch`
 * picks the first matching pattern, and that matching a 4 KiB path takes under 100 ms.
 */
import fc from 'fast-check';
import { PolicyError } from '../../dist/errors.js';
import { compileGlob, compileGlobSet } from '../../dist/policy/glob.js';

export const name = 'glob';

const TIME_CAP_MS = 100;
const SPECIAL = new Set(['\\', '*', '?', '[', ']', '{', '}', ',', '/']);
const CLASS_SPECIAL = new Set(['\\', ']', '-', '!', '^', '[', '/']);
const CHARS = ['a', 'b', 'c', '.', '-', '_', 'é', '😀', '*', '?', '[', ']', '{', '}', ',', '\\', '!', '^', 'Z', '0'];

// ---- generation: a pattern is a list of nodes -------------------------------------------
// { t: 'lit', c } | { t: 'star' } | { t: 'q' } | { t: 'slash' } | { t: 'gs' } (a "/**" segment)
// | { t: 'cls', neg: '' | '!' | '^', items: [[lo, hi]] } | { t: 'alt', alts: [nodes[]] }

const lit = fc.constantFrom(...CHARS).map((c) => ({ t: 'lit', c }));
const cls = fc.record({
  t: fc.constant('cls'),
  neg: fc.constantFrom('', '', '!', '^'),
  items: fc.array(
    fc.oneof(
      fc.constantFrom(...CHARS).map((c) => [c, c]),
      fc.tuple(fc.constantFrom('a', 'b', '.', '-', '0', 'é'), fc.constantFrom('b', 'z', '.', '9', '😀', '-')),
    ),
    { minLength: 1, maxLength: 3 },
  ),
});
const { nodes } = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    { weight: 5, arbitrary: lit },
    { weight: 2, arbitrary: fc.constant({ t: 'star' }) },
    { weight: 1, arbitrary: fc.constant({ t: 'q' }) },
    { weight: 2, arbitrary: fc.constant({ t: 'slash' }) },
    { weight: 1, arbitrary: fc.constant({ t: 'gs' }) },
    { weight: 1, arbitrary: cls },
    { weight: 1, arbitrary: fc.record({ t: fc.constant('alt'), alts: fc.array(tie('nodes'), { minLength: 1, maxLength: 3 }) }) },
  ),
  nodes: fc.array(tie('node'), { maxLength: 6 }),
}));
const patternTree = fc.oneof(
  { weight: 6, arbitrary: nodes.map((ns) => [{ t: 'slash' }, ...ns]) },
  { weight: 1, arbitrary: nodes }, // may be relative: must be refused
);

const segChar = fc.constantFrom('a', 'b', 'c', '.', '-', 'é', '😀', '*', '?', '[', ']', '{', '}', ',', '\\', '!', 'Z', '0', '\ud800');
const segment = fc.oneof(
  { weight: 6, arbitrary: fc.array(segChar, { minLength: 1, maxLength: 5 }).map((cs) => cs.join('')) },
  { weight: 1, arbitrary: fc.constantFrom('.', '..', '', 'a\0') },
);
const path = fc.oneof(
  { weight: 10, arbitrary: fc.array(segment, { maxLength: 6 }).map((s) => `/${s.join('/')}`) },
  { weight: 1, arbitrary: fc.constantFrom('', 'a/b', '/a/', '//a', '/a//b', '/./a') },
);

/** Paths derived from a pattern (so matches are common, not only non-matches). */
function samplePaths(tree) {
  const out = new Set();
  for (const alt of expandTree(tree).slice(0, 4)) {
    let s = '';
    for (const n of alt) {
      if (n.t === 'lit') s += n.c;
      else if (n.t === 'star') s += 'ab';
      else if (n.t === 'q') s += 'c';
      else if (n.t === 'slash') s += '/';
      else if (n.t === 'gs') s += '/x/y';
      else if (n.t === 'cls') s += n.neg ? 'q' : n.items[0][0];
    }
    out.add(s);
  }
  return [...out];
}

/** The fast-check arbitrary of inputs: 1–3 patterns, paths, and a long path shape. */
export const arbitrary = fc.record({
  patterns: fc.array(patternTree, { minLength: 1, maxLength: 3 }),
  paths: fc.array(path, { maxLength: 8 }),
  long: fc.record({
    unit: fc.constantFrom('a', 'ab', 'a/', 'aaaaaaaa/', '😀', '.a/', 'ab*'),
    tail: fc.constantFrom('', 'b', '/b', '.ts'),
  }),
});

// ---- rendering and the reference ---------------------------------------------------------

function escClassChar(c) {
  return CLASS_SPECIAL.has(c) ? `\\${c}` : c;
}
function render(ns) {
  let s = '';
  for (const n of ns) {
    if (n.t === 'lit') s += SPECIAL.has(n.c) && n.c !== '/' ? `\\${n.c}` : n.c;
    else if (n.t === 'star') s += '*';
    else if (n.t === 'q') s += '?';
    else if (n.t === 'slash') s += '/';
    else if (n.t === 'gs') s += '/**';
    else if (n.t === 'cls') s += `[${n.neg}${n.items.map(([lo, hi]) => (lo === hi ? escClassChar(lo) : `${escClassChar(lo)}-${escClassChar(hi)}`)).join('')}]`;
    else s += `{${n.alts.map(render).join(',')}}`;
  }
  return s;
}

/** Brace-free alternatives of a tree, each a flat node list (duplicates kept). */
function expandTree(ns) {
  let acc = [[]];
  for (const n of ns) {
    if (n.t !== 'alt') {
      acc = acc.map((a) => [...a, n]);
      continue;
    }
    const options = n.alts.flatMap(expandTree);
    if (acc.length * options.length > 100_000) throw new Error('too large');
    acc = acc.flatMap((a) => options.map((o) => [...a, ...o]));
  }
  return acc;
}
function braceDepth(ns) {
  return Math.max(0, ...ns.map((n) => (n.t === 'alt' ? 1 + Math.max(0, ...n.alts.map(braceDepth)) : 0)));
}
function countAlternatives(ns) {
  let acc = 1;
  for (const n of ns) if (n.t === 'alt') acc *= n.alts.reduce((sum, a) => sum + countAlternatives(a), 0);
  return acc;
}

const cp = (c) => c.codePointAt(0);
const hex = (c) => `\\u{${cp(c).toString(16)}}`;

/** The reference: `{ ok: false }` for an invalid pattern, else one RegExp per alternative. */
export function reference(tree) {
  const text = render(tree);
  if (!text.startsWith('/') || text.length > 1024 || braceDepth(tree) > 8 || countAlternatives(tree) > 256) return { ok: false, text };
  const regexps = [];
  for (const alt of expandTree(tree)) {
    // "gs" is "/" followed by a "**" segment.
    const flat = alt.flatMap((n) => (n.t === 'gs' ? [{ t: 'slash' }, { t: 'star' }, { t: 'star' }] : [n]));
    if (flat[0]?.t !== 'slash') return { ok: false, text };
    const segs = [[]];
    for (const n of flat.slice(1)) {
      if (n.t === 'slash') segs.push([]);
      else segs[segs.length - 1].push(n);
    }
    if (flat.length === 1) segs.pop(); // the pattern "/"
    if (segs.length > 64) return { ok: false, text };
    let re = '';
    for (const seg of segs) {
      if (seg.length === 0) return { ok: false, text };
      if (seg.every((n) => n.t === 'lit') && ['.', '..'].includes(seg.map((n) => n.c).join(''))) return { ok: false, text };
      if (seg.length === 2 && seg[0].t === 'star' && seg[1].t === 'star') {
        re += '(?:/[^/]+)*';
        continue;
      }
      re += '/';
      for (const n of seg) {
        if (n.t === 'lit') re += hex(n.c);
        else if (n.t === 'star') re += '[^/]*';
        else if (n.t === 'q') re += '[^/]';
        else {
          for (const [lo, hi] of n.items) if (cp(hi) < cp(lo)) return { ok: false, text };
          const body = n.items.map(([lo, hi]) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`)).join('');
          re += n.neg ? `(?!/)[^${body}]` : `(?!/)[${body}]`;
        }
      }
    }
    regexps.push(new RegExp(`^${re}$`, 'u'));
  }
  return { ok: true, text, regexps };
}

/** Canonical: absolute, no NUL, no empty, "." or ".." segments, no trailing "/" except "/". */
function canonical(p) {
  if (!p.startsWith('/') || p.includes('\0')) return false;
  return p === '/' || p.slice(1).split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}
function refMatches(ref, p) {
  return canonical(p) && ref.regexps.some((re) => re.test(p === '/' ? '' : p));
}

// ---- the property ------------------------------------------------------------------------

function compile(text) {
  try {
    return compileGlob(text);
  } catch (e) {
    if (e instanceof PolicyError) return undefined;
    throw new Error(`compileGlob(${JSON.stringify(text)}) threw ${e?.constructor?.name}, not PolicyError: ${e instanceof Error ? e.stack : String(e)}`);
  }
}

function timeMatch(glob, p) {
  const start = performance.now();
  glob.matches(p);
  glob.mayContain(p);
  return performance.now() - start;
}

/** The property, for one input; throws when it does not hold. */
export function check(input) {
  const valid = [];
  for (const tree of input.patterns) {
    const ref = reference(tree);
    const glob = compile(ref.text);
    if (!ref.ok || !glob) {
      if (ref.ok !== Boolean(glob)) {
        throw new Error(`pattern ${JSON.stringify(ref.text)}: compileGlob ${glob ? 'accepted' : 'refused'} it, the reference ${ref.ok ? 'accepts' : 'refuses'} it`);
      }
      continue;
    }
    valid.push({ ref, glob });
    for (const p of [...input.paths, ...samplePaths(tree)]) {
      const want = refMatches(ref, p);
      const got = glob.matches(p);
      if (got !== want) throw new Error(`compileGlob(${JSON.stringify(ref.text)}).matches(${JSON.stringify(p)}) is ${got}, the reference says ${want}`);
      if (got) {
        const parts = p.split('/');
        for (let i = 1; i <= parts.length; i++) {
          const dir = parts.slice(0, i).join('/') || '/';
          if (!glob.mayContain(dir)) throw new Error(`compileGlob(${JSON.stringify(ref.text)}) matches ${JSON.stringify(p)} but mayContain(${JSON.stringify(dir)}) is false`);
        }
      }
    }
    // A 4 KiB path: linear time, whatever the pattern.
    const long = `/${input.long.unit.repeat(Math.ceil(4096 / input.long.unit.length)).replace(/\/+$/, '')}${input.long.tail}`.replace(/\/\//g, '/a/');
    let ms = timeMatch(glob, long);
    if (ms > TIME_CAP_MS) ms = Math.min(ms, timeMatch(glob, long)); // ride out a GC pause
    if (ms > TIME_CAP_MS) throw new Error(`compileGlob(${JSON.stringify(ref.text)}) took ${Math.round(ms)} ms on a ${long.length}-character path (cap ${TIME_CAP_MS} ms)`);
  }
  if (valid.length > 0) {
    const set = compileGlobSet(valid.map((v) => v.ref.text));
    for (const p of input.paths) {
      const want = valid.find((v) => refMatches(v.ref, p))?.ref.text;
      const got = set.firstMatch(p);
      if (got !== want) throw new Error(`compileGlobSet(${JSON.stringify(set.patterns)}).firstMatch(${JSON.stringify(p)}) is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      if (set.matches(p) !== (want !== undefined)) throw new Error(`compileGlobSet(${JSON.stringify(set.patterns)}).matches(${JSON.stringify(p)}) disagrees with firstMatch`);
    }
  }
}
