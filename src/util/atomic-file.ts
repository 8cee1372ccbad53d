/**
 * Replace a file atomically and durably: write a temporary file beside it, fsync it, rename it
 * over the target, fsync the directory. A crash leaves the old file or the new one, never a
 * mix; a failed write removes its temporary file.
 *
 * @example
 * ```ts
 * await writeFileAtomic(join(dir, 'ca.json'), JSON.stringify(state), 0o600);
 * ```
 */
import { randomBytes } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Write `data` to `file` atomically, with `mode` for a new file. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const h = await open(tmp, 'wx', mode);
  try {
    await h.writeFile(data);
    await h.sync();
    await h.close();
    await rename(tmp, file);
  } catch (e) {
    await h.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  const d = await open(dir, 'r').catch(() => undefined); // not possible on Windows
  await d?.sync().catch(() => undefined); // unsupported by some file systems
  await d?.close();
}
