/**
 * The wasmtime addon (native/), through its own check script: compile and the on-disk cache,
 * run, traps, fuel (loops in run, in a start function, in cabi_realloc), epoch timeouts, the
 * memory and table caps, the pooling allocator's slots, the import bridge to JavaScript with
 * resources (the C fsprobe agent), a worker thread. Real components, real wasmtime.
 *
 * `npm install` builds the addon when a Rust toolchain is present (`npm run build:native`
 * builds it on demand). Without cargo on PATH there is nothing to test and the suite says so;
 * with cargo, a missing addon is a failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { describeNeeds } from '../helpers/skip.js';

const ADDON = join(REPO_ROOT, 'native', `agentos-wasmtime.${process.platform}-${process.arch}.node`);
const hasCargo = spawnSync('cargo', ['--version'], { stdio: 'ignore' }).status === 0;

// Where cargo exists the addon must have been built (npm install builds it): a missing addon
// fails here instead of being skipped.
describeNeeds(hasCargo ? [] : [needs.wasmtimeAddon()], 'wasmtime addon', () => {
  it('is built', () => {
    expect(existsSync(ADDON), 'the wasmtime addon is missing: run npm run build:native').toBe(true);
  });

  it('passes every check of native/test.mjs', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'native', 'test.mjs'), '--quick', '--no-timing'], { encoding: 'utf8', timeout: 240_000 });
    const lines = r.stdout.split('\n').filter(Boolean);
    const failed = lines.filter((l) => l.startsWith('FAIL'));
    expect(failed, r.stdout + r.stderr).toEqual([]);
    expect(r.status, r.stderr).toBe(0);
    // The checks that matter most for the sandbox ran and passed.
    for (const name of ['fuel: loop with fuel 5e6 → FUEL_EXHAUSTED', 'epoch: loop with timeoutMs 200', 'memory: hostile G grows until refused', 'fsprobe: print (resources', 'worker: the addon loads and runs in a worker_thread', 'worker: setting the interrupt cell', 'interrupt: a set cell ends the run with CANCELLED', 'compile: second compile is a hit']) {
      expect(lines.some((l) => l.startsWith('ok') && l.includes(name)), name).toBe(true);
    }
  }, 300_000);
});
