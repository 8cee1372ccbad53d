import { describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import { compileSafeRegex, regexProblem, REGEX_LIMITS } from './regex.js';

/** Best of `runs` timings of `fn`, in ms (a correctness guard, not a benchmark). */
function best(fn: () => void, runs = 5): number {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

describe('accepted patterns', () => {
  it.each([
    ['^[a-z0-9._-]+\\.ts$', ['main.ts', 'a.b-c_d.ts'], ['main.tsx', 'Main.ts', '.ts']],
    ['^api\\.(github|gitlab)\\.com$', ['api.github.com', 'api.gitlab.com'], ['api.gitHub.com', 'api.github.org']],
    ['\\d{1,5}', ['1', 'port 8080'], ['none']],
    ['^src/[a-z]+\\.ts$', ['src/main.ts'], ['src/main.tsx']],
    ['\\.env$', ['/w/.env', 'a.env'], ['/w/.envrc']],
    ['secret', ['my-secret-key'], ['public']],
    ['foo\\d+', ['xfoo12'], ['foo']],
    ['^(ab?)+$', ['abaab', 'a'], ['b', 'abb']],
    ['^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}$', ['10.0.0.1'], ['10.0.0', '1000.0.0.1']],
    ['^[^/]*/[^/]*$', ['a/b'], ['a/b/c']],
    ['^.*\\.example\\.com$', ['x.y.example.com'], ['example.com']],
    ['^\\w+@\\w+\\.com$', ['a@b.com'], ['a@b.org']],
    ['^[0-9a-f]{40}$', ['a'.repeat(40)], ['a'.repeat(39)]],
    ['^(get|post|put|delete)$', ['post'], ['patch']],
    ['^(.*\\.ts|.*\\.js)$', ['a.ts', 'b.js'], ['c.py']],
    ['^\\d{4}-\\d{2}-\\d{2}$', ['2025-01-15'], ['2025-1-15']],
    ['\\bfoo\\b', ['a foo b'], ['afoob']],
    ['^\\p{L}+$', ['héllo'], ['h3llo']],
    ['^(?<scheme>https?)://[a-z.]+$', ['https://a.b'], ['ftp://a.b']],
    ['^\\u{1F600}$', ['\u{1F600}'], ['x']],
    ['^[\\-+]?\\d+$', ['-12', '+3', '4'], ['--1']],
  ])('%s', (pattern, yes, no) => {
    expect(regexProblem(pattern)).toBeUndefined();
    const re = compileSafeRegex(pattern, 'p');
    for (const s of yes) expect(re.test(s), s).toBe(true);
    for (const s of no) expect(re.test(s), s).toBe(false);
  });

  it('compiles with the u flag and no stateful flags', () => {
    const re = compileSafeRegex('^a$', 'p');
    expect(re.flags).toBe('u');
    expect(compileSafeRegex('^a$', 'p')).toBe(re); // cached
  });
});

describe('rejected patterns', () => {
  it.each([
    ['^(a+)+$', /nested quantifiers/],
    ['(a*)*', /nested quantifiers/],
    ['^(\\d{2})+$', /nested quantifiers/],
    ['(\\d{1,3}\\.){3}\\d{1,3}', /nested quantifiers/],
    ['^(a|ab)+$', /alternatives 1 and 2 can begin with the same character/],
    ['(a|a)*', /alternatives 1 and 2/],
    ['^([a-c]x|[c-e]y)+$', /alternatives 1 and 2/],
    ['^(a|b|)+$', /can match empty text/],
    ['^(?:\\b)+$', /can match empty text/],
    ['^(a?a)+$', /more than one way/],
    ['^a+a+$', /more than one way/],
    ['^\\d+\\d+$', /more than one way/],
    ['^.*a.*$', /more than one way/],
    ['.*secret.*', /more than one way/],
    ['^(a|a)(a|a)b', /more than one way/],
    ['^\\w+\\s*\\w+$', /more than one way/],
    ['a*b', /retried at every position/],
    ['[a-z]+\\.ts', /retried at every position/],
    ['[0-9a-f]{40}', /retried at every position/],
    ['a[a-z]{1,16}!', /retried at every position/],
    ['(a)\\1', /backreferences/],
    ['(?<x>a)\\k<x>', /backreferences/],
    ['(?=a)', /lookahead and lookbehind/],
    ['(?!a)b', /lookahead and lookbehind/],
    ['(?<=a)b', /lookahead and lookbehind/],
    ['(?<!a)b', /lookahead and lookbehind/],
    ['a{1001}', /over the limit of 1000/],
    ['a{2,1001}', /over the limit of 1000/],
    ['a{3,2}', /wrong order/],
    ['a**', /cannot follow a quantifier/],
    ['(a', /unclosed group/],
    ['a)', /unmatched/],
    ['[a-', /unclosed character class/],
    ['[z-a]', /out of order/],
    ['\\q', /unknown escape/],
    ['a{', /must start a quantifier/],
    ['^*', /cannot be repeated/],
    ['+a', /nothing to repeat/],
  ])('%s', (pattern, why) => {
    expect(regexProblem(pattern)).toMatch(why);
    expect(() => compileSafeRegex(pattern, 'conditions[0].value')).toThrow(PolicyError);
  });

  it('rejects patterns over the length limit', () => {
    expect(regexProblem('a'.repeat(REGEX_LIMITS.maxLength + 1))).toMatch(/over the limit of 512/);
    expect(regexProblem('a'.repeat(REGEX_LIMITS.maxLength))).toBeUndefined();
  });

  it('the error names the field and the pattern', () => {
    try {
      compileSafeRegex('^(a+)+$', 'accessPolicies[0].condition.value');
      throw new Error('not thrown');
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyError);
      const pe = e as PolicyError;
      expect(pe.code).toBe('POLICY_INVALID');
      expect(pe.details.path).toBe('accessPolicies[0].condition.value');
      expect(pe.message).toMatch(/^accessPolicies\[0\]\.condition\.value: at offset 1: nested quantifiers.*\(pattern "\^\(a\+\)\+\$"\)$/);
    }
  });

  it('a pathological but syntactically fine pattern is refused quickly', () => {
    const many = `^${'(?:[a-z]|[0-9])'.repeat(30)}$`;
    expect(best(() => regexProblem(many), 1)).toBeLessThan(500);
    const wide = `^${'[a-z]{1,9}'.repeat(40)}$`.slice(0, 512);
    expect(best(() => regexProblem(wide), 1)).toBeLessThan(2000);
  });
});

describe('linear time on adversarial input', () => {
  const n = 100_000;
  const inputs = [
    'a'.repeat(n),
    'a'.repeat(n) + '!',
    '.'.repeat(n),
    '.t'.repeat(n / 2),
    '1'.repeat(n),
    '1'.repeat(n) + 'x',
    'x'.repeat(n),
    ' '.repeat(n),
    'ab'.repeat(n / 2),
    'github'.repeat(n / 6),
    'api.git'.repeat(n / 7),
    '1.'.repeat(n / 2),
    'a@'.repeat(n / 2),
  ];
  const accepted = [
    '^[a-z0-9._-]+\\.ts$',
    '^api\\.(github|gitlab)\\.com$',
    '\\d{1,5}',
    '\\d{1,5}x',
    '^(ab?)+$',
    '^[^/]*/[^/]*$',
    '^.*\\.example\\.com$',
    '^\\w+@\\w+\\.com$',
    '^(.*\\.ts|.*\\.js)$',
    '\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}x',
    '^[a-z]{1,200}!',
    '[a-z]{1,5}!',
  ];

  it.each(accepted)('%s stays under 10 ms on 100k characters', (pattern) => {
    const re = compileSafeRegex(pattern, 'p');
    for (const s of inputs) expect(best(() => re.test(s)), `${pattern} on ${JSON.stringify(s.slice(0, 10))}…`).toBeLessThan(10);
  });

  it('^(a+)+$ against fifty a and a ! is rejected at load (it would never finish)', () => {
    expect(() => compileSafeRegex('^(a+)+$', 'p')).toThrow(/nested quantifiers/);
  });
});
