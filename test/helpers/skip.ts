/**
 * Skipping tests whose requirements this machine lacks, always with the reason and the
 * command that enables them (see `requirements.ts`; the closing summary prints the notes).
 *
 * @example
 * ```ts
 * describeNeeds(needs.componentizePy(), 'python agents', () => { ... });
 * it('…', (ctx) => { skipUnless(ctx, needs.clang()); … });
 * ```
 */
import { describe, it, type TestContext } from 'vitest';
import { type Requirement, REQUIRE_ALL_ENV, skipNote } from './requirements.js';

/**
 * Where everything is meant to be installed (`.ci/run` sets AGENTOS_TEST_REQUIRE_ALL=1), a
 * missing requirement fails the test instead of skipping it: CI must not lose coverage quietly.
 */
const requireAll = process.env[REQUIRE_ALL_ENV] === '1';

function skipOrFail(ctx: TestContext, note: string): never {
  if (requireAll) throw new Error(`${note} (${REQUIRE_ALL_ENV}=1: nothing may be skipped here)`);
  return ctx.skip(note);
}

/** Skip the running test, with its reason, unless every requirement holds. */
export function skipUnless(ctx: TestContext, ...reqs: Requirement[]): void {
  const missing = reqs.find((r) => !r.ok);
  if (missing) skipOrFail(ctx, skipNote(missing));
}

/** Skip the running test with `note` when `condition` holds (fails instead where nothing may be skipped). */
export function skipWhen(ctx: TestContext, condition: boolean, note: string): void {
  if (condition) skipOrFail(ctx, note);
}

/**
 * `describe` that runs only when every requirement holds. Otherwise the suite's tests are
 * collected as skipped (their hooks do not run) beside one skipped test that carries the
 * reason, so the closing summary names it and counts them.
 */
export function describeNeeds(reqs: Requirement | Requirement[], name: string, fn: () => void): void {
  const list = Array.isArray(reqs) ? reqs : [reqs];
  const missing = list.find((r) => !r.ok);
  if (!missing) {
    describe(name, fn);
    return;
  }
  describe(name, () => {
    it(`(${missing.id} is not available)`, (ctx) => skipOrFail(ctx, skipNote(missing)));
    describe.skip(name, fn);
  });
}
