import { describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import { formatBytes, formatDuration, parseDuration, parseSize, tryParseDuration, tryParseSize } from './units.js';

describe('parseSize', () => {
  it.each([
    [0, 0],
    [1024, 1024],
    [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    ['0', 0],
    ['1024', 1024],
    ['10B', 10],
    ['512KiB', 512 * 1024],
    ['64MiB', 64 * 1024 ** 2],
    ['1GiB', 1024 ** 3],
    ['2TiB', 2 * 1024 ** 4],
    ['10kB', 10_000],
    ['10KB', 10_000],
    ['100MB', 100_000_000],
    ['3GB', 3_000_000_000],
    ['1TB', 1e12],
    ['64mib', 64 * 1024 ** 2],
    ['64 MiB', 64 * 1024 ** 2],
    ['1.5GiB', 1.5 * 1024 ** 3],
    ['1.5KiB', 1536],
    ['0.5B', 0],
    ['1.0009KiB', 1024],
    ['0.1MB', 100_000],
    ['8191.99TiB', Math.floor((819199 * 1024 ** 4) / 100)],
  ] as const)('%j → %d', (input, expected) => {
    expect(parseSize(input)).toBe(expected);
  });

  it.each([
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.MAX_SAFE_INTEGER + 1,
    '',
    ' ',
    '-1',
    '-1MiB',
    '1.5.5MiB',
    '.5MiB',
    '1.MiB',
    'MiB',
    '64XiB',
    '64 mebibytes',
    '64  MiB',
    ' 64MiB',
    '64MiB ',
    '1e3',
    '0x10',
    '9007199254740992',
    '8192TiB',
    '1'.repeat(100),
    '١٢',
  ])('rejects %j', (input) => {
    expect(() => parseSize(input)).toThrow(PolicyError);
  });

  it('rejects non-string non-number input at runtime', () => {
    expect(() => parseSize(true as unknown as number)).toThrow(PolicyError);
    expect(() => parseSize(null as unknown as number)).toThrow(PolicyError);
  });

  it('names the field and shows an example', () => {
    try {
      parseSize('12 apples', 'resourceLimits.maxMemory');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyError);
      const err = e as PolicyError;
      expect(err.code).toBe('POLICY_INVALID');
      expect(err.message).toContain('resourceLimits.maxMemory');
      expect(err.message).toContain('"12 apples"');
      expect(err.message).toContain('64MiB');
      expect(err.details).toMatchObject({ path: 'resourceLimits.maxMemory' });
    }
  });
});

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [1500, 1500],
    ['250', 250],
    ['500ms', 500],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['30d', 2_592_000_000],
    ['1.5s', 1500],
    ['0.0015s', 1],
    ['1.5h', 5_400_000],
    ['2 s', 2000],
  ] as const)('%j → %d', (input, expected) => {
    expect(parseDuration(input)).toBe(expected);
  });

  it.each([-1, 0.5, Number.NaN, '', '-5s', '5M', '5S', '1D', '1.5.s', 's', '30 seconds', '1e3ms', '99999999999999999h'])(
    'rejects %j', (input) => {
    expect(() => parseDuration(input)).toThrow(PolicyError);
  });

  it('names the field and shows an example', () => {
    expect(() => parseDuration('soon', 'resourceLimits.maxExecutionTime')).toThrow(
      /resourceLimits\.maxExecutionTime: invalid duration "soon".*"30s"/,
    );
  });
});

describe('formatBytes', () => {
  it.each([
    [0, '0B'],
    [512, '512B'],
    [1024, '1KiB'],
    [1536, '1.5KiB'],
    [64 * 1024 ** 2, '64MiB'],
    [1024 ** 3, '1GiB'],
    [1.33 * 1024 ** 3, '1.33GiB'],
    [-2048, '-2KiB'],
  ])('%d → %s', (n, text) => {
    expect(formatBytes(n)).toBe(text);
  });

  it('round-trips exact values through parseSize', () => {
    for (const n of [0, 7, 1024, 3 * 1024 ** 2, 5 * 1024 ** 4]) expect(parseSize(formatBytes(n))).toBe(n);
  });
});

describe('formatDuration', () => {
  it.each([
    [250, '250ms'],
    [1500, '1.5s'],
    [30_000, '30s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
  ])('%d → %s', (n, text) => {
    expect(formatDuration(n)).toBe(text);
    expect(parseDuration(text)).toBe(n);
  });
});

describe('tryParseSize / tryParseDuration', () => {
  it('return undefined instead of throwing', () => {
    expect(tryParseSize('2KiB')).toBe(2048);
    expect(tryParseSize('2 apples')).toBeUndefined();
    expect(tryParseSize({})).toBeUndefined();
    expect(tryParseDuration('2m')).toBe(120_000);
    expect(tryParseDuration(true)).toBeUndefined();
  });
});
