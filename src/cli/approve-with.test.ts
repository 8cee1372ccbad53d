import { describe, expect, it } from 'vitest';
import { approveFlags, splitCommandLine } from './approve-with.js';

describe('splitCommandLine', () => {
  it('splits words as a shell would, expanding nothing', () => {
    expect(splitCommandLine("sh -c 'exit 0'")).toEqual(['sh', '-c', 'exit 0']);
    expect(splitCommandLine('  a   "b c"  d\\ e ')).toEqual(['a', 'b c', 'd e']);
    expect(splitCommandLine(`x "say \\"hi\\" \\n" '$HOME' ~ *`)).toEqual(['x', 'say "hi" \\n', '$HOME', '~', '*']);
    expect(splitCommandLine("a''b \"\"")).toEqual(['ab', '']);
  });

  it('refuses what it cannot split', () => {
    for (const bad of ["sh -c 'exit 0", 'a "b', 'a\\', '', '   ']) expect(() => splitCommandLine(bad), bad).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('approveFlags', () => {
  it('reads --approve-with and --approve-timeout', () => {
    expect(approveFlags({})).toBeUndefined();
    expect(approveFlags({ 'approve-with': 'ok' })).toEqual({ command: ['ok'] });
    expect(approveFlags({ 'approve-with': 'ok --x', 'approve-timeout': '2m' })).toEqual({ command: ['ok', '--x'], timeoutMs: 120_000 });
    expect(() => approveFlags({ 'approve-timeout': '2m' })).toThrow(/--approve-timeout goes with --approve-with/);
    expect(() => approveFlags({ 'approve-with': 'ok', 'approve-timeout': 'soon' })).toThrow(/--approve-timeout/);
  });
});
