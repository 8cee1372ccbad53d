// The advisory table and the version check: affected and patched versions of a few entries,
// the edges of their ranges, and version strings that are not versions.
import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import {
  ADVISORIES,
  checkEngineVersion,
  compareVersions,
  engineAdvisories,
  fixedIn,
  isAffected,
  nodeEndOfLife,
  parseVersion,
  satisfies,
  type Advisory,
} from './advisories.js';

const byId = (id: string): Advisory => {
  const a = ADVISORIES.find((x) => x.id === id);
  if (!a) throw new Error(`no ${id} in the table`);
  return a;
};
const v = (s: string) => parseVersion(s)!;

describe('versions', () => {
  it('parses releases, a leading v, pre-releases and build metadata', () => {
    expect(parseVersion('48.0.8')).toEqual({ nums: [48, 0, 8], pre: [] });
    expect(parseVersion('v20.20.2')).toEqual({ nums: [20, 20, 2], pre: [] });
    expect(parseVersion('1.2.3-rc.1+build.5')).toEqual({ nums: [1, 2, 3], pre: ['rc', '1'] });
    for (const bad of ['', '48', '48.0', '48.0.x', '01.0.0', '1.2.3.4', 'latest', ' - ']) expect(parseVersion(bad), bad).toBeUndefined();
  });

  it('orders by semver precedence', () => {
    const order = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0', '10.0.0'];
    for (let i = 0; i + 1 < order.length; i++) {
      expect(compareVersions(v(order[i]!), v(order[i + 1]!)), `${order[i]} < ${order[i + 1]}`).toBeLessThan(0);
      expect(compareVersions(v(order[i + 1]!), v(order[i]!))).toBeGreaterThan(0);
    }
    expect(compareVersions(v('1.0.0+a'), v('1.0.0+b'))).toBe(0);
  });

  it('requirements: comma-separated comparators, all must hold', () => {
    expect(satisfies(v('1.0.2'), '>= 1.0.2, < 2.0.0')).toBe(true);
    expect(satisfies(v('2.0.0'), '>= 1.0.2, < 2.0.0')).toBe(false);
    expect(satisfies(v('1.0.1'), '>= 1.0.2, < 2.0.0')).toBe(false);
    expect(satisfies(v('3.0.0'), '> 2.0.0')).toBe(true);
    expect(satisfies(v('2.0.0'), '<= 2.0.0')).toBe(true);
    expect(satisfies(v('2.0.0'), '= 2.0.0')).toBe(true);
  });

  it('every requirement in the table parses, and every entry says why it is there', () => {
    for (const a of ADVISORIES) {
      for (const r of [...a.patched, ...a.unaffected]) expect(() => satisfies(v('1.0.0'), r), `${a.id} ${r}`).not.toThrow();
      expect(a.why, a.id).not.toBe('');
      expect(a.aliases.length, a.id).toBeGreaterThan(0);
      expect(a.date, a.id).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    }
    expect(new Set(ADVISORIES.map((a) => a.id)).size).toBe(ADVISORIES.length);
  });
});

describe('the table', () => {
  it('the wasmtime this package builds (48.0.8) has no known advisory', () => {
    expect(engineAdvisories('wasmtime', '48.0.8')).toEqual([]);
    expect(() => checkEngineVersion('wasmtime', '48.0.8')).not.toThrow();
  });

  it('the Node running the tests is not refused', () => {
    expect(() => checkEngineVersion('node', process.versions.node)).not.toThrow();
  });

  it('Winch sandbox escape (RUSTSEC-2026-0095): range edges', () => {
    const a = byId('RUSTSEC-2026-0095');
    expect(isAffected(a, '36.0.6')).toBe(true);
    expect(isAffected(a, '36.0.7')).toBe(false);
    expect(isAffected(a, '37.0.0')).toBe(true);
    expect(isAffected(a, '42.0.1')).toBe(true);
    expect(isAffected(a, '42.0.2')).toBe(false);
    expect(isAffected(a, '43.0.0')).toBe(true);
    expect(isAffected(a, '43.0.1')).toBe(false);
    expect(isAffected(a, '48.0.8')).toBe(false);
  });

  it('an unaffected range (RUSTSEC-2026-0223): older releases never had the bug', () => {
    const a = byId('RUSTSEC-2026-0223');
    expect(isAffected(a, '45.9.9')).toBe(false);
    expect(isAffected(a, '46.0.0')).toBe(true);
    expect(isAffected(a, '46.0.1')).toBe(true);
    expect(isAffected(a, '46.0.2')).toBe(false);
    expect(isAffected(a, '47.0.2')).toBe(true);
    expect(isAffected(a, '47.0.3')).toBe(false);
  });

  it('a patched range open below (RUSTSEC-2026-0006: "< 29.0.0")', () => {
    const a = byId('RUSTSEC-2026-0006');
    expect(isAffected(a, '28.9.9')).toBe(false);
    expect(isAffected(a, '29.0.0')).toBe(true);
    expect(isAffected(a, '40.0.2')).toBe(true);
    expect(isAffected(a, '40.0.3')).toBe(false);
    expect(isAffected(a, '41.0.0')).toBe(true);
    expect(isAffected(a, '41.0.1')).toBe(false);
  });

  it('the pooling allocator leak (RUSTSEC-2022-0075): patched in 1.0.2 and 2.0.2', () => {
    const a = byId('RUSTSEC-2022-0075');
    expect(isAffected(a, '1.0.1')).toBe(true);
    expect(isAffected(a, '1.0.2')).toBe(false);
    expect(isAffected(a, '2.0.1')).toBe(true);
    expect(isAffected(a, '2.0.2')).toBe(false);
  });

  it('a pre-release of a fixed release is still affected', () => {
    expect(isAffected(byId('RUSTSEC-2026-0095'), '43.0.1-rc.1')).toBe(true);
    expect(isAffected(byId('RUSTSEC-2026-0095'), '43.0.1+local')).toBe(false);
  });

  it('fixedIn names the nearest fixed release', () => {
    expect(fixedIn(byId('RUSTSEC-2026-0095'), '42.0.1')).toBe('42.0.2');
    expect(fixedIn(byId('RUSTSEC-2026-0095'), '37.0.0')).toBe('42.0.2');
    expect(fixedIn(byId('RUSTSEC-2026-0095'), '43.0.0')).toBe('43.0.1');
    expect(fixedIn(byId('RUSTSEC-2026-0222'), '47.0.0')).toBe('47.0.3');
  });
});

describe('checkEngineVersion', () => {
  it('an affected wasmtime: UsageError naming the ids and the fixed releases', () => {
    let err: unknown;
    try {
      checkEngineVersion('wasmtime', '42.0.1');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const u = err as UsageError;
    expect(u.code).toBe('USAGE');
    expect(u.message).toMatch(/^wasmtime 42\.0\.1 has known sandbox-escape advisories: /);
    for (const id of ['RUSTSEC-2026-0086', 'RUSTSEC-2026-0088', 'RUSTSEC-2026-0095', 'RUSTSEC-2026-0096', 'RUSTSEC-2026-0222']) expect(u.message).toContain(id);
    expect(u.message).toContain('RUSTSEC-2026-0095 (fixed in 42.0.2)');
    expect(u.message).toContain('RUSTSEC-2026-0222 (fixed in 46.0.2)');
    expect(u.details['advisories']).toEqual(engineAdvisories('wasmtime', '42.0.1').map((a) => a.id));
  });

  it('garbage and pre-release strings: UsageError or a verdict, nothing else', () => {
    for (const s of ['', 'banana', '48', 'v', '48.0.8.1', '../../etc', '９.0.0', '1e3.0.0']) {
      expect(() => checkEngineVersion('wasmtime', s), s).toThrow(UsageError);
      expect(() => engineAdvisories('node', s), s).toThrow(UsageError);
    }
    expect(engineAdvisories('wasmtime', '48.0.8-dev')).toEqual([]); // above every fix: a verdict, not an error
    expect(() => checkEngineVersion('wasmtime', '43.0.1-rc.1')).toThrow(UsageError); // below 43.0.1: affected
  });

  it('a Node entry is checked against the Node version only', () => {
    const table: Advisory[] = [{ id: 'CVE-0000-0001', aliases: [], engine: 'node', title: 't', date: '2026-01-01', patched: ['>= 22.1.0, < 23.0.0', '>= 24.2.0'], unaffected: ['< 22.0.0'], why: 'test' }];
    expect(() => checkEngineVersion('node', '22.0.5', table)).toThrow(/CVE-0000-0001 \(fixed in 22\.1\.0\).*upgrade Node to 22\.1\.0/);
    expect(() => checkEngineVersion('node', '22.1.0', table)).not.toThrow();
    expect(() => checkEngineVersion('node', '20.20.2', table)).not.toThrow();
    expect(() => checkEngineVersion('wasmtime', '22.0.5', table)).not.toThrow();
  });

  it('Node end of life', () => {
    expect(nodeEndOfLife('20.20.2')).toBe('2026-04-30');
    expect(nodeEndOfLife('v24.1.0')).toBe('2028-04-30');
    expect(nodeEndOfLife('99.0.0')).toBeUndefined();
    expect(nodeEndOfLife('garbage')).toBeUndefined();
  });
});
