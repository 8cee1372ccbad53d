/**
 * Brace expansion for {@link compileGlob} (`/src/{a,b/{c,d}}.ts` → three brace-free
 * patterns), kept apart from the matcher so each file stays small. Internal to the policy
 * module; the public entry is `glob.ts`.
 *
 * Expansion is bounded: nesting depth and the number of alternatives are capped and checked
 * while multiplying, so a hostile pattern such as `{a,b}{a,b}{a,b}…` fails fast instead of
 * allocating millions of strings.
 */
import { PolicyError } from '../errors.js';

/**
 * The `PolicyError` every glob problem throws: says what is wrong and what to change.
 *
 * @example
 * ```ts
 * throw globError('/a/[b', 'a "[" class is not closed', 'add "]"');
 * ```
 */
export function globError(pattern: string, problem: string, hint: string): PolicyError {
  return new PolicyError(`invalid glob ${JSON.stringify(pattern)}: ${problem}; ${hint}`, { pattern });
}

/**
 * Index of the `]` that closes the class opening at `s[start] === '['`, or -1 when it is
 * not closed. A `]` right after `[` or `[!`/`[^` is a member, and `\` escapes one character.
 *
 * @example
 * ```ts
 * classEnd('[]a]x', 0); // 3
 * ```
 */
export function classEnd(s: string, start: number): number {
  let i = start + 1;
  if (s[i] === '!' || s[i] === '^') i++;
  if (s[i] === ']') i++;
  for (; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === ']') return i;
  }
  return -1;
}

/** A parsed pattern: raw text runs and alternation groups (each a list of sequences). */
type Sequence = (string | Sequence[])[];

function parse(pattern: string, maxDepth: number): Sequence {
  let i = 0;
  const sequence = (depth: number, inGroup: boolean): Sequence => {
    const out: Sequence = [];
    let text = '';
    while (i < pattern.length) {
      const c = pattern[i] as string;
      if (c === '\\') {
        // Keep escapes verbatim: the segment compiler interprets them later.
        text += pattern.slice(i, i + 2);
        i += 2;
      } else if (c === '[') {
        // Braces and commas inside a class are members, not syntax.
        const end = classEnd(pattern, i);
        const stop = end < 0 ? i : end;
        text += pattern.slice(i, stop + 1);
        i = stop + 1;
      } else if (c === '{') {
        if (depth >= maxDepth) {
          throw globError(pattern, `braces are nested more than ${maxDepth} deep`, 'flatten the alternatives');
        }
        i++;
        const alternatives: Sequence[] = [];
        for (;;) {
          alternatives.push(sequence(depth + 1, true));
          const d = pattern[i];
          i++;
          if (d === '}') break;
          if (d !== ',') throw globError(pattern, 'a "{" is not closed', 'add "}" or escape the brace as "\\{"');
        }
        if (text) out.push(text);
        text = '';
        out.push(alternatives);
      } else if (inGroup && (c === ',' || c === '}')) {
        break;
      } else if (c === '}') {
        throw globError(pattern, 'a "}" has no matching "{"', 'remove it or escape it as "\\}"');
      } else {
        text += c;
        i++;
      }
    }
    if (text) out.push(text);
    return out;
  };
  return sequence(0, false);
}

function expand(pattern: string, seq: Sequence, max: number): string[] {
  let acc = [''];
  for (const part of seq) {
    if (typeof part === 'string') {
      acc = acc.map((a) => a + part);
      continue;
    }
    const options: string[] = [];
    for (const alt of part) options.push(...expand(pattern, alt, max));
    // Check before multiplying so the product is never materialized when too large.
    if (acc.length * options.length > max) {
      throw globError(pattern, `braces expand to more than ${max} alternatives`, 'use fewer alternatives or several patterns');
    }
    acc = acc.flatMap((a) => options.map((o) => a + o));
  }
  return acc;
}

/**
 * Expand every `{a,b}` group of `pattern` (escapes and classes are left verbatim).
 * Duplicates are removed; order is preserved.
 *
 * @param maxAlternatives reject patterns expanding to more alternatives than this
 * @param maxDepth reject braces nested deeper than this
 * @throws PolicyError for an unclosed `{`, a stray `}`, or a pattern over the limits
 * @example
 * ```ts
 * expandBraces('/a/{b,c{d,e}}', 256, 8); // ['/a/b', '/a/cd', '/a/ce']
 * ```
 */
export function expandBraces(pattern: string, maxAlternatives: number, maxDepth: number): string[] {
  return [...new Set(expand(pattern, parse(pattern, maxDepth), maxAlternatives))];
}
