import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import { loadIndicators } from '../monitor/indicators.js';
import { parsePolicyText } from './loader.js';
import { MAX_SYNTAX_DEPTH, parseYamlBounded, YamlNestingError } from './yaml-parse.js';

// Shapes that nest by syntax alone. Unbounded, a few hundred levels of any of them brought the
// yaml composer near the stack limit, where V8 aborted the process while compiling a regular
// expression (fuzz/regressions/policy/ holds the input the long fuzz run found).
const DEEP: Array<[string, (n: number) => string]> = [
  ['flow sequences', (n) => '['.repeat(n)],
  ['flow mappings', (n) => '{'.repeat(n)],
  ['flow mappings with keys', (n) => '{a: '.repeat(n)],
  ['block sequences on one line', (n) => `${'- '.repeat(n)}1`],
  ['explicit keys', (n) => `${'? '.repeat(n)}1`],
  // Depth d by indentation takes about d²/2 bytes: 1,400 levels fit under the 1 MiB policy cap.
  ['indentation', (n) => Array.from({ length: Math.min(n, 1_400) }, (_, i) => `${' '.repeat(i)}a:`).join('\n')],
  // An apostrophe inside a plain scalar opens no string: a bracket counter that followed
  // quotes the way JSON does saw these brackets as quoted text.
  ['brackets after an apostrophe', (n) => `version: 1\nnote: it's\nx: ${'['.repeat(n)}`],
];

describe('parseYamlBounded', () => {
  it.each(DEEP)('refuses %s nested past the bound, with the line and column of the first token beyond it', (_, shape) => {
    for (const n of [MAX_SYNTAX_DEPTH + 1, 1_000, 50_000]) {
      let thrown: unknown;
      try {
        parseYamlBounded(shape(n), {});
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(YamlNestingError);
      if (!(thrown instanceof YamlNestingError)) continue;
      expect(thrown.line).toBeGreaterThanOrEqual(1);
      expect(thrown.col).toBeGreaterThanOrEqual(1);
      expect(thrown.message).toMatch(/nested more than 64 levels deep/);
    }
  });

  it('composes text at the bound as usual', () => {
    const text = `${'['.repeat(MAX_SYNTAX_DEPTH)}1${']'.repeat(MAX_SYNTAX_DEPTH)}`;
    const { doc } = parseYamlBounded(text, {});
    expect(doc.errors).toEqual([]);
    let value: unknown = doc.toJS();
    for (let i = 0; i < MAX_SYNTAX_DEPTH; i++) value = (value as unknown[])[0];
    expect(value).toBe(1);
    expect(() => parseYamlBounded(`[${text}]`, {})).toThrow(YamlNestingError);
    const block = Array.from({ length: MAX_SYNTAX_DEPTH }, (_, i) => `${' '.repeat(i)}a:`).join('\n');
    expect(() => parseYamlBounded(`${block} 1`, {})).not.toThrow();
    expect(() => parseYamlBounded(`${block}\n${' '.repeat(MAX_SYNTAX_DEPTH)}a: 1`, {})).toThrow(YamlNestingError);
  });

  it('reports a second document with its offset', () => {
    const { doc, secondDocumentAt, position } = parseYamlBounded('a: 1\n---\nb: 2\n', {});
    expect(doc.toJS()).toEqual({ a: 1 });
    expect(secondDocumentAt).toBeDefined();
    expect(position(secondDocumentAt!)).toEqual({ line: 2, col: 1 });
  });
});

// The shape the long fuzz run found: brackets after a double quote that YAML ends at the line.
const UNCLOSED_QUOTE: [string, (n: number) => string] = ['brackets after an unclosed quote', (n) => `version: 1\nx: "a\n${'{'.repeat(n)}`];

describe('deep YAML through the loaders', () => {
  it.each([...DEEP, UNCLOSED_QUOTE])('a policy of %s is a PolicyError, every time it is read', (_, shape) => {
    const text = shape(5_000);
    // Several reads: V8 compiles a regular expression natively on a later use, which is when
    // the unbounded composer aborted the process.
    for (let i = 0; i < 4; i++) {
      let thrown: unknown;
      try {
        parsePolicyText(text, {});
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(PolicyError);
      expect((thrown as PolicyError).message).toMatch(/nested more than 64 levels deep|fix the YAML syntax/);
    }
  });

  const dir = mkdtempSync(join(tmpdir(), 'agentos-yaml-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a threat-intelligence file nested too deep is a PolicyError naming the line', () => {
    const file = join(dir, 'intel.yaml');
    writeFileSync(file, `hosts: ${'['.repeat(5_000)}`);
    for (let i = 0; i < 4; i++) expect(() => loadIndicators(file)).toThrow(/intel\.yaml: not YAML or JSON: nested more than 64 levels deep.*\(line 1, column \d+\)/);
  });

  it('a threat-intelligence file with a syntax error or two documents names the line', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'hosts: [a.example\n');
    expect(() => loadIndicators(bad)).toThrow(/bad\.yaml: not YAML or JSON: .*\(line \d+, column \d+\)/);
    const two = join(dir, 'two.yaml');
    writeFileSync(two, 'hosts: [a.example]\n---\nhosts: [b.example]\n');
    expect(() => loadIndicators(two)).toThrow(/two\.yaml: not YAML or JSON: more than one YAML document; keep one \(line 2, column 1\)/);
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'hosts: [evil.example]\nipRanges: [203.0.113.0/24]\n');
    expect(loadIndicators(good).hosts).toEqual(['evil.example']);
  });
});
