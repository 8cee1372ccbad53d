/**
 * docs/threat-model.md names, for each threat and attack, the test that shows it is stopped
 * (`file`: "describe > test title"). Every reference must name a test file that exists and a
 * test title that file still contains, so the page cannot silently point at nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const page = readFileSync(new URL('../docs/threat-model.md', import.meta.url), 'utf8').replace(/\s+/g, ' ');
const refs = [...page.matchAll(/`([^`]+\.test\.ts)`: "([^"]+)"/g)].map((m) => ({ file: m[1]!, title: m[2]! }));

/** The part of a title that is literal in the source: up to the first number (often `${N}` there). */
const literalPart = (title: string): string => title.split(' > ').pop()!.split(/\d/)[0]!.trim();

describe('docs/threat-model.md', () => {
  it('references tests', () => {
    expect(refs.length).toBeGreaterThan(100);
  });

  it('every referenced test file exists and still holds the named test', () => {
    const missing = refs.filter(({ file, title }) => {
      if (!existsSync(file)) return true;
      const source = readFileSync(file, 'utf8').replace(/\s+/g, ' ').replaceAll("\\'", "'");
      return !source.includes(literalPart(title));
    });
    expect(missing).toEqual([]);
  });
});
