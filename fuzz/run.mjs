#!/usr/bin/env node
/**
 * Property-based fuzzing of the parsers and matchers that take untrusted input.
 *
 *   node fuzz/run.mjs [target...]        (npm run fuzz builds first)
 *
 * Each target (`fuzz/targets/<name>.mjs`) exports `name`, `arbitrary` (a fast-check
 * arbitrary of JSON-serializable inputs) and `check(input)`, which throws when the property
 * fails; optionally `setup()` (idempotent, awaited before the clock starts: fixtures built
 * once per process), `teardown()` (after the run) and `testSeconds` (its budget in the normal
 * suite, when shorter than the others'). Every target runs for FUZZ_SECONDS (default 180)
 * seconds, or until FUZZ_RUNS inputs have run; FUZZ_SEED fixes the first seed. A failing
 * input is shrunk and saved as `fuzz/regressions/<target>/<hash>.json`, which
 * `test/fuzz-regressions.test.ts` replays in the normal suite. Exit status 1 on any failure.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = dirname(HERE);
/** The targets, in the order they run. */
export const TARGETS = ['policy', 'glob', 'regex', 'cli', 'fs', 'audit', 'host', 'abi', 'smith'];
/** Where failing inputs are saved, one directory per target. */
export const REGRESSIONS_DIR = join(HERE, 'regressions');
/** At most this many distinct failures are collected per target and run. */
const MAX_FAILURES = 5;

/** Import one target module. */
export async function loadTarget(name) {
  if (!TARGETS.includes(name)) throw new Error(`unknown fuzz target ${JSON.stringify(name)}; targets: ${TARGETS.join(', ')}`);
  return import(pathToFileURL(join(HERE, 'targets', `${name}.mjs`)).href);
}

/** Save a failing input as a regression fixture; returns its path. */
export function saveRegression(target, input, error, seed) {
  const json = JSON.stringify(input);
  const hash = createHash('sha256').update(json).digest('hex').slice(0, 16);
  const dir = join(REGRESSIONS_DIR, target);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${hash}.json`);
  // The message only, without the stack or this machine's paths: fixtures are committed.
  const message = String(error).split('\n')[0].replaceAll(pathToFileURL(REPO).href, '.').replaceAll(REPO, '.').replace(/\/tmp\/[^\s:/]+/g, '<tmp>');
  writeFileSync(path, JSON.stringify({ target, seed, error: message.slice(0, 2000), input }, null, 2) + '\n');
  return path;
}

/**
 * Run one target for `ms` milliseconds, or until `maxRuns` inputs have run. Returns the inputs
 * run and the failures (each saved). After a failure the search goes on with the next seed
 * until the time or the inputs are used up.
 */
export async function runTarget(mod, ms, { seed = Date.now() % 2 ** 31, save = true, maxRuns = 2 ** 31 - 1 } = {}) {
  await mod.setup?.();
  const deadline = Date.now() + ms;
  const failures = [];
  const seen = new Set();
  let runs = 0;
  let s = seed;
  while (Date.now() < deadline && runs < maxRuns && failures.length < MAX_FAILURES) {
    const property = fc.asyncProperty(mod.arbitrary, async (input) => {
      await mod.check(input);
    });
    const result = await fc.check(property, { numRuns: maxRuns - runs, interruptAfterTimeLimit: Math.max(1, deadline - Date.now()), seed: s });
    runs += result.numRuns;
    if (!result.failed) break;
    const input = result.counterexample?.[0];
    const error = result.errorInstance instanceof Error ? result.errorInstance.message : String(result.errorInstance);
    const key = JSON.stringify(input);
    if (!seen.has(key)) {
      seen.add(key);
      failures.push({ input, error, seed: s, path: save ? saveRegression(mod.name, input, error, s) : undefined });
    }
    s = (s + 1) % 2 ** 31;
  }
  return { runs, failures };
}

async function main(argv) {
  const names = argv.length > 0 ? argv : TARGETS;
  const seconds = Number(process.env.FUZZ_SECONDS ?? 180);
  if (!(seconds > 0)) throw new Error(`FUZZ_SECONDS must be a positive number, got ${JSON.stringify(process.env.FUZZ_SECONDS)}`);
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
  const maxRuns = process.env.FUZZ_RUNS !== undefined ? Number(process.env.FUZZ_RUNS) : 2 ** 31 - 1;
  if (!(Number.isInteger(maxRuns) && maxRuns > 0)) throw new Error(`FUZZ_RUNS must be a positive integer, got ${JSON.stringify(process.env.FUZZ_RUNS)}`);
  let failed = 0;
  for (const name of names) {
    const mod = await loadTarget(name);
    await mod.setup?.();
    const start = performance.now();
    let result;
    try {
      result = await runTarget(mod, seconds * 1000, { seed, maxRuns });
    } finally {
      await mod.teardown?.();
    }
    const { runs, failures } = result;
    const secs = (performance.now() - start) / 1000;
    process.stdout.write(`${name}: ${runs} inputs in ${secs.toFixed(1)} s (${Math.round(runs / secs)}/s), seed ${seed}, ${failures.length} failures\n`);
    for (const f of failures) {
      process.stdout.write(`  FAIL (seed ${f.seed}): ${f.error.split('\n')[0]}\n  saved: ${relative(process.cwd(), f.path)}\n`);
    }
    failed += failures.length;
  }
  return failed > 0 ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`fuzz: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(2);
    },
  );
}
