/**
 * The fuzzers in the normal suite: replays every saved failing input
 * (`fuzz/regressions/<target>/*.json`) through its target's property, and runs each target
 * for a short budget (FUZZ_TEST_SECONDS, default 3, or the target's own `testSeconds` when
 * shorter: the abi target loads an agent per input) so every commit exercises them. Fixtures
 * a target builds once (audit logs, hostile components and sandboxes) are built before its
 * clock starts and closed after the file. `npm run fuzz` runs the long budget. Needs `dist/`
 * (`npm test` builds first).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import { skipUnless } from './helpers/skip.js';

interface FuzzTarget {
  readonly name: string;
  /** Seconds in this suite when shorter than the default. */
  readonly testSeconds?: number;
  check(input: unknown): unknown;
  teardown?(): unknown;
  /** Why the target cannot run on this machine (a helper that needs cargo, say), if it cannot. */
  unavailable?(): string | undefined;
  /** The command that makes it available. */
  readonly enable?: string;
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
const targets = new Map<string, FuzzTarget>();
for (const name of runner.TARGETS) targets.set(name, await runner.loadTarget(name));
/** A target's budget here: FUZZ_TEST_SECONDS when set, else 3 s or its own shorter one. */
const secondsOf = (mod: FuzzTarget): number => (process.env.FUZZ_TEST_SECONDS !== undefined ? SECONDS : Math.min(SECONDS, mod.testSeconds ?? SECONDS));

afterAll(async () => {
  for (const mod of targets.values()) await mod.teardown?.();
});

/** Skip (with the target's reason and how to enable it) when the target cannot run here. */
function skipUnavailable(ctx: TestContext, name: string, mod: FuzzTarget): void {
  const reason = mod.unavailable?.();
  if (reason !== undefined) skipUnless(ctx, { id: `fuzz-${name}`, ok: false, what: `the ${name} fuzz target's helpers`, reason, enable: mod.enable ?? 'see the target' });
}

describe.each([...runner.TARGETS])('fuzz target %s', (name) => {
  const dir = join(runner.REGRESSIONS_DIR, name);
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : [];

  const mod = targets.get(name)!;
  const seconds = secondsOf(mod);

  // it.for, not it.each: its callback gets the test context (to skip with a reason).
  it.for(files.length > 0 ? files : ['(none saved)'])('replays regression %s', { timeout: 120_000 }, async (file, ctx) => {
    if (files.length === 0) return;
    skipUnavailable(ctx, name, mod);
    const saved = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { target: string; input: unknown };
    expect(saved.target).toBe(name);
    // Twice: some failures show only on a repeat in one process (V8 compiles a regular
    // expression natively on a later use; the policy input that aborted the host did so then).
    await mod.check(saved.input);
    await mod.check(saved.input);
  });

  it(`holds for ${seconds} s of generated inputs`, async (ctx) => {
    skipUnavailable(ctx, name, mod);
    // Not saved from the suite (no writes into the tree); `npm run fuzz` saves, or rerun with FUZZ_SEED.
    const { runs, failures } = await runner.runTarget(mod, seconds * 1000, { save: false });
    expect(failures.map((f) => `${f.error} (seed ${f.seed}, input ${JSON.stringify(f.input)})`)).toEqual([]);
    expect(runs).toBeGreaterThan(0);
  }, 180_000 + seconds * 1000);
});
