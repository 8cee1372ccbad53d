// Running host programs for checks: every outcome is data, never an exception or a hang.
import { describe, expect, it } from 'vitest';
import { firstLine, probe, probeFailure } from './probe.js';

describe('probe', () => {
  it('collects the output of a program that succeeds', async () => {
    const r = await probe(process.execPath, ['-e', 'console.log("one"); console.error("two")']);
    expect(r).toMatchObject({ ok: true, status: 0, timedOut: false });
    expect(r.stdout.trim()).toBe('one');
    expect(r.stderr.trim()).toBe('two');
  });

  it('a missing program is ENOENT, "not found"', async () => {
    const r = await probe('agentos-no-such-program', ['--version']);
    expect(r).toMatchObject({ ok: false, status: null, spawnError: 'ENOENT' });
    expect(probeFailure(r)).toBe('not found');
  });

  it('a non-zero exit says its status and first line', async () => {
    const r = await probe(process.execPath, ['-e', 'console.error("broken\\nmore"); process.exit(3)']);
    expect(r.ok).toBe(false);
    expect(probeFailure(r)).toBe('exit 3: broken');
  });

  it('a program that hangs is killed at the timeout', async () => {
    const started = Date.now();
    const r = await probe(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { timeoutMs: 300 });
    expect(r).toMatchObject({ ok: false, timedOut: true });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(probeFailure(r, 300)).toBe('timed out after 0.3 s');
  });

  it('a command no system call accepts is an error result, not a throw', async () => {
    const r = await probe('bad\0name', []);
    expect(r.ok).toBe(false);
    expect(r.spawnError).toBeDefined();
  });

  it('firstLine skips blank lines', () => {
    expect(firstLine('\n  \n  bubblewrap 0.8.0 \nx')).toBe('bubblewrap 0.8.0');
    expect(firstLine('')).toBe('');
  });
});
