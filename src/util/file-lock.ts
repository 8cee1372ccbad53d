/**
 * A lock between processes on one file: exclusive create of `path` holding the owner's pid.
 * A lock whose process is gone is taken over; one held by a live process is waited for up to
 * `waitMs`, then refused with a message naming the file to remove if no process uses it.
 *
 * @example
 * ```ts
 * await withFileLock(join(dir, 'store.lock'), `key store ${dir}`, () => rewrite(dir));
 * ```
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { errno } from './errno.js';


/** Whether process `pid` exists (EPERM: it exists, owned by someone else). */
function alive(pid: number): boolean {
  try {
    return process.kill(pid, 0);
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

/** Run `fn` holding the lock file `path`; `what` names the locked thing in errors. */
export async function withFileLock<T>(path: string, what: string, fn: () => Promise<T>, waitMs = 10_000): Promise<T> {
  for (const deadline = Date.now() + waitMs; ; await new Promise((r) => setTimeout(r, 20))) {
    const h = await open(path, 'wx', 0o600).catch((e: unknown) => {
      if (errno(e) === 'EEXIST') return undefined;
      throw new UsageError(`cannot lock ${what} (${errno(e)})`);
    });
    if (h) {
      await h.writeFile(String(process.pid)).finally(() => h.close());
      break;
    }
    const pid = Number(await readFile(path, 'utf8').catch(() => ''));
    if (pid > 0 && !alive(pid)) await unlink(path).catch(() => undefined);
    else if (Date.now() > deadline) throw new UsageError(`${what} is locked by process ${pid || '?'}; remove ${path} if no agentos process uses it`);
  }
  try {
    return await fn();
  } finally {
    await unlink(path).catch(() => undefined);
  }
}
