/**
 * Running fixture builds side by side so that the first failure ends them all: the others
 * are aborted (a build's AbortSignal kills its toolchain's child process), queued ones never
 * start, and the caller gets that first error once everything has stopped. Without this a
 * failed global setup left StarlingMonkey builds running and the test runner hung on them.
 *
 * @example
 * ```ts
 * await runAllOrAbort([{ items: jobs, limit: 3 }], (job, signal) => buildAgent(job.src, job.out, { signal }));
 * ```
 */

/** A queue of items and how many of them may run at once. */
export interface Lane<T> {
  items: readonly T[];
  limit: number;
}

/**
 * Run `task` over every lane's items (each lane with its own concurrency limit).
 *
 * @returns when every item succeeded.
 * @throws the first failure (passed through `describe`), after every running task settled.
 */
export async function runAllOrAbort<T>(
  lanes: readonly Lane<T>[],
  task: (item: T, signal: AbortSignal) => Promise<void>,
  describe: (item: T, error: unknown) => unknown = (_item, error) => error,
): Promise<void> {
  const abort = new AbortController();
  let first: { error: unknown } | undefined;
  const runLane = async ({ items, limit }: Lane<T>) => {
    const queue = [...items];
    const workers = Array.from({ length: Math.min(Math.max(1, limit), queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined && !abort.signal.aborted; item = queue.shift()) {
        try {
          await task(item, abort.signal);
        } catch (e) {
          if (first === undefined && !abort.signal.aborted) {
            first = { error: describe(item, e) };
            abort.abort();
          }
        }
      }
    });
    await Promise.all(workers);
  };
  await Promise.all(lanes.map(runLane));
  if (first !== undefined) throw first.error;
}
