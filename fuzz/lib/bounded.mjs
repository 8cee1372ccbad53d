/**
 * A time cap for one check: a hang is reported as a failure instead of stalling the fuzzer
 * (the stuck work itself cannot be cancelled from here).
 */

/** Race `promise` against `ms` milliseconds; rejects naming `what` when the time is up. */
export async function bounded(what, promise, ms) {
  let timer;
  const cap = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([promise, cap]);
  } finally {
    clearTimeout(timer);
  }
}
