/**
 * The fuzzers in the normal suite: replays every saved failing input
 * (`fuzz/regressions/<target>/*.json`) through its target's property, and runs each target
 * for a short budget (FUZZ_TEST_SECONDS, default 3) so every commit exercises them.
 * `npm run fuzz` runs the long budget. Needs `dist/` (`npm test` builds first).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

interface FuzzTarget {
  readonly name: string;
  check(input: unknown): unknown;
}
interface FuzzRunner {
  readonly TARGETS: readonly string[];
  readonly REGRESSIONS_DIR: string;
  loadTarget(name: string): Promise<FuzzTarget>;
  runTarget(mod: FuzzTarget, ms: number, opts?: { seed?: number; save?: boolean }): Promise<{ runs: number; failures: { error: string; input: unknown; seed: number }[] }>;
}

const RUNNER = pathToFileURL(fileURLToPath(new URL('../fuzz/run.mjs', import.meta.url))).href;
const runner = (await import(RUNNER)) as FuzzRunner;
const SECONDS = Number(process.env.FUZZ_TEST_SECONDS ?? 3);

describe.each([...runner.TARGETS])('fuzz target %s', (name) => {
  const dir = join(runner.REGRESSIONS_DIR, name);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];

  it.each(files.length > 0 ? files : ['(none saved)'])('replays regression %s', async (file) => {
    if (files.length === 0) return;
    const mod = await runner.loadTarget(name);
    const saved = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { target: string; input: unknown };
    expect(saved.target).toBe(name);
    await mod.check(saved.input);
  });

  it(`holds for ${SECONDS} s of generated inputs`, async () => {
    const mod = await runner.loadTarget(name);
    // Not saved from the suite (no writes into the tree); `npm run fuzz` saves, or rerun with FUZZ_SEED.
    const { runs, failures } = await runner.runTarget(mod, SECONDS * 1000, { save: false });
    expect(failures.map((f) => `${f.error} (seed ${f.seed}, input ${JSON.stringify(f.input)})`)).toEqual([]);
    expect(runs).toBeGreaterThan(0);
  }, 60_000 + SECONDS * 1000);
});
