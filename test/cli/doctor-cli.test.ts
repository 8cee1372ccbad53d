/**
 * `agentos doctor` through the built CLI: one JSON object, exit 0 when the core is ready, 5
 * when it is not, 2 on bad usage.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { tempDir } from '../helpers/sandbox.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-doctor-cli-');
afterAll(() => tmp.cleanup());

function agentos(args: string[]) {
  // In a temp working directory, so the default audit directory is checked there.
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: tmp.dir, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function jsonOf(stdout: string, stderr: string): Record<string, any> {
  const lines = stdout.trim().split('\n');
  expect(lines, stdout + stderr).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, any>;
}

const CORE = ['node', 'jco', 'cache-dir', 'audit-dir', 'mount-paths'];

describe('agentos doctor', () => {
  it('--json: one object, exit 0, the core ready, every check with a status', () => {
    const r = agentos(['doctor', '--json', '--cache-dir', join(tmp.dir, 'cache')]);
    const body = jsonOf(r.stdout, r.stderr);
    expect(r.status, r.stderr).toBe(0);
    expect(body).toMatchObject({ ok: expect.any(Boolean), core: true, checks: expect.any(Array) });
    for (const c of body.checks as Record<string, unknown>[]) {
      expect(c).toMatchObject({ id: expect.any(String), feature: expect.any(String), status: expect.stringMatching(/^(ready|missing|unavailable|warning|error)$/), core: expect.any(Boolean), detail: expect.any(String) });
    }
    const core = (body.checks as { id: string; core: boolean; status: string }[]).filter((c) => c.core);
    expect(core.map((c) => c.id)).toEqual(CORE);
    expect(core.every((c) => c.status === 'ready')).toBe(true);
  });

  it('text: one aligned line per check and a summary', () => {
    const r = agentos(['doctor', '--cache-dir', join(tmp.dir, 'cache'), '--audit', join(tmp.dir, 'audit')]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(14 + 2);
    expect(lines[0]).toMatch(/^ready +Node\.js +node \d+/);
    expect(lines.at(-1)).toMatch(/^core ready: /);
  });

  it('5 when the core is not ready (an unusable cache directory)', () => {
    const file = join(tmp.dir, 'a-file');
    writeFileSync(file, '');
    const r = agentos(['doctor', '--json', '--cache-dir', join(file, 'cache')]);
    const body = jsonOf(r.stdout, r.stderr);
    expect(r.status).toBe(5);
    expect(body).toMatchObject({ ok: false, core: false });
    expect(body.checks.find((c: { id: string }) => c.id === 'cache-dir')).toMatchObject({ status: 'missing', fix: expect.stringMatching(/--cache-dir/) });
  });

  it('2: unknown flags and arguments are usage errors', () => {
    const r = agentos(['doctor', '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/USAGE: .*--bogus.*agentos doctor --help/);
    const j = agentos(['doctor', '--json', 'extra']);
    expect(j.status).toBe(2);
    expect(jsonOf(j.stdout, j.stderr)).toMatchObject({ ok: false, error: { code: 'USAGE' } });
  });

  it('--help says what it checks and the exit statuses', () => {
    const r = agentos(['doctor', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: agentos doctor/);
    expect(r.stdout).toMatch(/Exit status: 0 when the core is ready/);
    expect(agentos(['--help']).stdout).toMatch(/^ {2}doctor /m);
  });
});
