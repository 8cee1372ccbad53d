import { describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import { GLOB_LIMITS, compileGlob, compileGlobSet, isCanonicalPath, splitCanonicalPath } from './glob.js';
import { expandBraces } from './glob-braces.js';

/** [pattern, path, expected] */
const MATCH_CASES: [string, string, boolean][] = [
  // literals and segment boundaries
  ['/data', '/data', true],
  ['/data', '/database', false],
  ['/data', '/data/x', false],
  ['/data', '/dat', false],
  ['/', '/', true],
  ['/', '/a', false],
  // *
  ['/data/*', '/data/a', true],
  ['/data/*', '/data/a/b', false],
  ['/data/*', '/data', false],
  ['/data/*', '/data/.hidden', true],
  ['/w/*', '/w/.env', true],
  ['/*', '/', false],
  ['/*', '/etc', true],
  ['/data/*.json', '/data/a.json', true],
  ['/data/*.json', '/data/.json', true],
  ['/data/*.json', '/data/a.json.bak', false],
  ['/data/*.json', '/data/sub/a.json', false],
  ['/home/u/.ssh/*.pub', '/home/u/.ssh/id_rsa.pub', true],
  ['/home/u/.ssh/*.pub', '/home/u/.ssh/id_rsa', false],
  ['/a/*b*c*', '/a/xbyc', true],
  ['/a/*b*c*', '/a/bc', true],
  ['/a/*b*c*', '/a/cb', false],
  ['/a/x**y', '/a/xzzy', true],
  ['/a/x**y', '/a/x/y', false],
  // ?
  ['/a/?', '/a/b', true],
  ['/a/?', '/a/bc', false],
  ['/a/?', '/a', false],
  ['/a/?.txt', '/a/é.txt', true],
  ['/a/?', '/a/😀', true],
  // **
  ['/data/**', '/data', true],
  ['/data/**', '/data/a', true],
  ['/data/**', '/data/a/b/c', true],
  ['/data/**', '/database', false],
  ['/data/**', '/', false],
  ['/**', '/', true],
  ['/**', '/anything/at/all', true],
  ['/workspace/**/*.ts', '/workspace/a.ts', true],
  ['/workspace/**/*.ts', '/workspace/src/deep/a.ts', true],
  ['/workspace/**/*.ts', '/workspace/src/a.js', false],
  ['/workspace/**/*.ts', '/workspace/.git/x.ts', true],
  ['/workspace/**/*.ts', '/other/a.ts', false],
  ['/a/**/b/**/c', '/a/b/c', true],
  ['/a/**/b/**/c', '/a/x/b/y/z/c', true],
  ['/a/**/b/**/c', '/a/x/y/c', false],
  ['/a/**/**/b', '/a/b', true],
  ['/**/.env', '/x/y/.env', true],
  ['/**/.env', '/.env', true],
  // classes
  ['/a/[abc]', '/a/b', true],
  ['/a/[abc]', '/a/d', false],
  ['/a/[a-z]x', '/a/qx', true],
  ['/a/[a-z]x', '/a/Qx', false],
  ['/a/[!a]', '/a/b', true],
  ['/a/[!a]', '/a/a', false],
  ['/a/[^a]', '/a/a', false],
  ['/a/[!a]', '/a/.', false],
  ['/a/[]]', '/a/]', true],
  ['/a/[!]]', '/a/]', false],
  ['/a/[a-]', '/a/-', true],
  ['/a/[\\]]', '/a/]', true],
  ['/a/[{,}]', '/a/,', true],
  ['/a/[*?]', '/a/*', true],
  ['/a/[*?]', '/a/x', false],
  // braces
  ['/src/{a,b}.ts', '/src/a.ts', true],
  ['/src/{a,b}.ts', '/src/b.ts', true],
  ['/src/{a,b}.ts', '/src/c.ts', false],
  ['/src/{a,b/{c,d}}.ts', '/src/b/d.ts', true],
  ['/src/{a,b/{c,d}}.ts', '/src/b/e.ts', false],
  ['/src/{,x}y', '/src/y', true],
  ['/src/{,x}y', '/src/xy', true],
  ['/{etc,root}/**', '/root/.ssh/id', true],
  ['/{etc,root}/**', '/home/u', false],
  ['/w/{**/*.ts,*.md}', '/w/a/b.ts', true],
  ['/w/{**/*.ts,*.md}', '/w/README.md', true],
  ['/w/{**/*.ts,*.md}', '/w/a/README.md', false],
  // escapes
  ['/a/\\*', '/a/*', true],
  ['/a/\\*', '/a/x', false],
  ['/a/\\?', '/a/x', false],
  ['/a/\\[x]', '/a/[x]', true],
  ['/a/\\{b,c\\}', '/a/{b,c}', true],
  ['/a/\\{b,c\\}', '/a/b', false],
  ['/a/\\\\', '/a/\\', true],
  ['/a/\\**', '/a/*x', true],
  ['/a/\\**', '/a/x', false],
  ['/a/\\*\\*', '/a/**', true],
  ['/a/\\*\\*', '/a/b/c', false],
  ['/a/~', '/a/~', true],
  // non-canonical paths never match, even against "match everything"
  ['/**', '/a/../etc/passwd', false],
  ['/**', '/a/./b', false],
  ['/**', '/a//b', false],
  ['/**', '/a/', false],
  ['/**', 'a/b', false],
  ['/**', '', false],
  ['/**', '/a\0b', false],
  ['/data/**', '/data/../etc', false],
];

describe('compileGlob().matches', () => {
  it.each(MATCH_CASES)('%s vs %s → %s', (pattern, path, expected) => {
    expect(compileGlob(pattern).matches(path)).toBe(expected);
  });
});

/** [pattern, dir, expected] */
const MAY_CONTAIN_CASES: [string, string, boolean][] = [
  ['/workspace/**/*.ts', '/workspace/src/deep', true],
  ['/workspace/**/*.ts', '/workspace', true],
  ['/workspace/**/*.ts', '/', true],
  ['/workspace/**/*.ts', '/etc', false],
  ['/workspace/**/*.ts', '/workspaces', false],
  ['/data/*.json', '/data', true],
  ['/data/*.json', '/data/sub', false],
  ['/data/*.json', '/', true],
  ['/data/*.json', '/data/a.json', true],
  ['/data/**', '/data', true],
  ['/data/**', '/data/x/y', true],
  ['/data/**', '/dat', false],
  ['/data', '/data', true],
  ['/data', '/data/x', false],
  ['/a/b/c', '/a', true],
  ['/a/b/c', '/a/x', false],
  ['/{a,b}/c', '/b', true],
  // a segment that can only spell "..": nothing real below can match
  ['/a/.[.]/x', '/a', false],
  ['/a/[!\u0000-\u{10FFFF}]', '/a', false],
  ['/a/[!\u0000-\u{10FFFF}]*', '/a', false],
  ['/a/[!\u0000-\u002d0-\u{10FFFF}]', '/a', false],
  ['/a/[!\u0000-\u002d0-\u{10FFFF}]x', '/a', true],
  ['/a/*', '/a/../b', false],
];

describe('compileGlob().mayContain', () => {
  it.each(MAY_CONTAIN_CASES)('%s may contain under %s → %s', (pattern, dir, expected) => {
    expect(compileGlob(pattern).mayContain(dir)).toBe(expected);
  });
});

describe('compileGlob rejects bad patterns with PolicyError', () => {
  it.each([
    ['relative', 'data/**'],
    ['tilde', '~/x'],
    ['empty', ''],
    ['unclosed class', '/a/[bc'],
    ['reversed range', '/a/[z-a]'],
    ['unclosed brace', '/a/{b,c'],
    ['stray close brace', '/a/b}'],
    ['double slash', '/a//b'],
    ['trailing slash', '/a/'],
    ['dot segment', '/a/./b'],
    ['dotdot segment', '/a/../b'],
    ['escaped dot segment', '/a/\\./b'],
    ['dotdot via braces', '/a/{..,b}'],
    ['trailing backslash', '/a/b\\'],
    ['escaped slash', '/a\\/b'],
    ['slash in class', '/a[/]b'],
    ['too long', '/' + 'a'.repeat(GLOB_LIMITS.maxPatternLength)],
    ['too many segments', '/a'.repeat(GLOB_LIMITS.maxSegments + 1)],
    ['too many alternatives', '/' + '{a,b}'.repeat(9)],
    ['too deeply nested', '/' + '{a,'.repeat(9) + 'b' + '}'.repeat(9)],
  ])('%s: %j', (_name, pattern) => {
    expect(() => compileGlob(pattern)).toThrow(PolicyError);
  });

  it('says what is wrong and how to fix it', () => {
    expect(() => compileGlob('workspace/**')).toThrow(/invalid glob "workspace\/\*\*": it is not absolute.*start it with "\/"/);
    try {
      compileGlob('/a/[x');
    } catch (e) {
      expect((e as PolicyError).code).toBe('POLICY_INVALID');
      expect((e as PolicyError).details).toEqual({ pattern: '/a/[x' });
    }
  });

  it('accepts patterns right at the limits', () => {
    expect(() => compileGlob('/' + '{a,b}'.repeat(8))).not.toThrow();
    expect(() => compileGlob('/a'.repeat(GLOB_LIMITS.maxSegments))).not.toThrow();
    expect(() => compileGlob('/' + '{a,'.repeat(8) + 'b' + '}'.repeat(8))).not.toThrow();
  });
});

describe('expandBraces', () => {
  it('expands nested groups, keeps escapes and classes verbatim, removes duplicates', () => {
    expect(expandBraces('/a/{b,c{d,e}}', 256, 8)).toEqual(['/a/b', '/a/cd', '/a/ce']);
    expect(expandBraces('/a/\\{b,c\\}', 256, 8)).toEqual(['/a/\\{b,c\\}']);
    expect(expandBraces('/a/[{]{x,y}', 256, 8)).toEqual(['/a/[{]x', '/a/[{]y']);
    expect(expandBraces('/{a,a}', 256, 8)).toEqual(['/a']);
  });
});

/** Fastest of a few runs: a correctness guard against super-linear blowups, robust to a busy CI box. */
function fastestMs(fn: () => void, runs = 5): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

describe('linear time', () => {
  const deep = '/' + Array.from({ length: 200 }, (_, i) => `s${i}`).join('/');

  it('/**/**/**/**/**/**/**/**/x against a 200-segment path finishes fast', () => {
    const g = compileGlob('/**/**/**/**/**/**/**/**/x');
    expect(g.matches(deep)).toBe(false);
    expect(g.matches(deep + '/x')).toBe(true);
    expect(fastestMs(() => g.matches(deep) || g.matches(deep + '/x') || g.mayContain(deep))).toBeLessThan(50);
  });

  // [pattern, matches deep + '/x', may contain deep]
  it.each([
    ['/**/*s*/**/*s*/**/*s*/**/*s*/**/x', true, true],
    ['/**/*a*/**/*a*/**/*a*/**/*a*/**/x', false, true],
    ['/' + '*'.repeat(500) + 'x', false, false],
    ['/**/' + '*a'.repeat(100) + 'x', false, true],
    ['/**/*' + '?'.repeat(100) + 'x*', false, true],
    ['/{**/*a*,*b*/**,**/[!x]*[!y]*}/x', true, true],
  ] as const)('%s stays fast on deep paths and long segments', (pattern, deepX, mayContainDeep) => {
    const g = compileGlob(pattern);
    const longSegment = '/' + 'a'.repeat(5000);
    expect(g.matches(deep)).toBe(false);
    expect(g.matches(deep + '/x')).toBe(deepX);
    expect(g.matches(longSegment)).toBe(false);
    expect(g.mayContain(deep)).toBe(mayContainDeep);
    const ms = fastestMs(() => {
      g.matches(deep);
      g.matches(deep + '/x');
      g.matches(longSegment);
      g.mayContain(deep);
    });
    expect(ms).toBeLessThan(50);
  });
});

describe('compileGlobSet', () => {
  const set = compileGlobSet(['/etc/**', '/root/**', '/home/*/.ssh/**']);

  it('matches any member and reports the first matching pattern', () => {
    expect(set.matches('/etc/passwd')).toBe(true);
    expect(set.firstMatch('/etc/passwd')).toBe('/etc/**');
    expect(set.firstMatch('/home/u/.ssh/id_rsa')).toBe('/home/*/.ssh/**');
    expect(set.firstMatch('/tmp/x')).toBeUndefined();
    expect(set.matches('/tmp/x')).toBe(false);
    expect(set.mayContain('/home')).toBe(true);
    expect(set.mayContain('/tmp')).toBe(false);
    expect(set.patterns).toEqual(['/etc/**', '/root/**', '/home/*/.ssh/**']);
  });

  it('an empty set matches nothing', () => {
    const empty = compileGlobSet([]);
    expect(empty.matches('/')).toBe(false);
    expect(empty.mayContain('/')).toBe(false);
    expect(empty.firstMatch('/a')).toBeUndefined();
  });

  it('rejects an invalid member', () => {
    expect(() => compileGlobSet(['/ok/**', 'bad'])).toThrow(PolicyError);
  });
});

describe('splitCanonicalPath', () => {
  it.each([
    ['/', []],
    ['/a', ['a']],
    ['/a/b.c/.d', ['a', 'b.c', '.d']],
    ['/a/...', ['a', '...']],
    ['a', undefined],
    ['/a/', undefined],
    ['//a', undefined],
    ['/a/..', undefined],
    ['/./a', undefined],
    ['', undefined],
  ] as [string, string[] | undefined][])('%j → %j', (path, parts) => {
    expect(splitCanonicalPath(path)).toEqual(parts);
    expect(isCanonicalPath(path)).toBe(parts !== undefined);
  });
});
