/**
 * Regular expressions for `matches` conditions. Only patterns that cannot backtrack
 * catastrophically are accepted: no backreferences, no lookaround, no quantified group that
 * itself contains a quantifier or an alternation (star height 1), bounded counts and length.
 */
import { PolicyError } from '../errors.js';

/** Longest pattern accepted. */
export const MAX_PATTERN = 512;

function reject(path: string, pattern: string, why: string): never {
  throw new PolicyError(`${path}: pattern ${JSON.stringify(pattern)} ${why}; rewrite it without nested repetition (e.g. ^a+$ instead of ^(a+)+$)`, { path });
}

/** Compile a `matches` pattern after checking it is linear-time safe. */
export function compileSafeRegex(pattern: string, path: string): RegExp {
  if (typeof pattern !== 'string') reject(path, String(pattern), 'is not a string');
  if (pattern.length > MAX_PATTERN) reject(path, pattern.slice(0, 40) + '…', `is longer than ${MAX_PATTERN} characters`);
  // Group stack: for each open group, whether it contains a quantifier or an alternation.
  const stack: { risky: boolean }[] = [];
  let lastGroupRisky = false;
  let prevWasGroupEnd = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\') {
      const next = pattern[i + 1] ?? '';
      if (/[1-9]/.test(next) || next === 'k') reject(path, pattern, 'uses a backreference');
      i++;
      prevWasGroupEnd = false;
      continue;
    }
    if (ch === '[') {
      // Skip the class (escapes inside included).
      let j = i + 1;
      if (pattern[j] === '^') j++;
      if (pattern[j] === ']') j++;
      while (j < pattern.length && pattern[j] !== ']') j += pattern[j] === '\\' ? 2 : 1;
      i = j;
      prevWasGroupEnd = false;
      continue;
    }
    if (ch === '(') {
      if (pattern[i + 1] === '?') {
        const kind = pattern.slice(i + 2, i + 4);
        if (kind.startsWith('=') || kind.startsWith('!') || kind === '<=' || kind === '<!') reject(path, pattern, 'uses lookaround');
      }
      stack.push({ risky: false });
      prevWasGroupEnd = false;
      continue;
    }
    if (ch === ')') {
      const g = stack.pop();
      lastGroupRisky = g?.risky ?? false;
      if (g?.risky && stack.length > 0) stack[stack.length - 1]!.risky = true;
      prevWasGroupEnd = true;
      continue;
    }
    if (ch === '|') {
      if (stack.length > 0) stack[stack.length - 1]!.risky = true;
      prevWasGroupEnd = false;
      continue;
    }
    if (ch === '*' || ch === '+' || ch === '?' || ch === '{') {
      let quantified = ch !== '?';
      if (ch === '{') {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (!m) {
          prevWasGroupEnd = false;
          continue;
        }
        const hi = m[3] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
        if (Number(m[1]) > 1000 || (hi !== Infinity && hi > 1000)) reject(path, pattern, 'has a repetition count over 1000');
        quantified = hi > 1;
        i += m[0].length - 1;
      }
      if (quantified && prevWasGroupEnd && lastGroupRisky) reject(path, pattern, 'repeats a group that itself repeats or alternates (catastrophic backtracking)');
      if (quantified && stack.length > 0) stack[stack.length - 1]!.risky = true;
      if (pattern[i + 1] === '?' || pattern[i + 1] === '+') i++;
      prevWasGroupEnd = false;
      continue;
    }
    prevWasGroupEnd = false;
  }
  try {
    return new RegExp(pattern, 'u');
  } catch (e) {
    throw new PolicyError(`${path}: pattern ${JSON.stringify(pattern)} is not a valid regular expression: ${(e as Error).message}`, { path });
  }
}
