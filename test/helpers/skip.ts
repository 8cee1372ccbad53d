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
import { type Requirement, skipNote } from './requirements.js';

/** Skip the running test, with its reason, unless every requirement holds. */
export function skipUnless(ctx: TestContext, ...reqs: Requirement[]): void {
  const missing = reqs.find((r) => !r.ok);
  if (missing) ctx.skip(skipNote(missing));
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
    it(`(${missing.id} is not available)`, (ctx) => ctx.skip(skipNote(missing)));
    describe.skip(name, fn);
  });
}
