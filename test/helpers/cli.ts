/**
 * The built CLI (`dist/cli/main.js`) run as a user runs it: a fresh node process in `cwd`, its
 * cache under the tests' cache directory.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './fixtures.js';
import { TEST_CACHE_DIR } from './sandbox.js';

export const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');

/** A runner of `agentos …` in `cwd`; each call returns its exit status and output. */
export function agentosIn(cwd: string, timeout = 120_000) {
  return (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout, env: { ...process.env, XDG_CACHE_HOME: join(TEST_CACHE_DIR, 'xdg'), ...env } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}
