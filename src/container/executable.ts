/**
 * Which host file a native agent's command is, for its `agent_spawn` audit record: the command
 * is resolved the way the sandbox will (its PATH, inside its view: `/usr` as on the host, the
 * policy's mounts at their guest paths), then mapped back to the host file and hashed.
 *
 * @example
 * ```ts
 * executableOf('python3', '/usr/bin:/bin', mounts) // { guest: '/usr/bin/python3', host: '/usr/bin/python3.11', sha256: '…' }
 * ```
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyMount } from '../policy/schema.js';

/** Largest executable hashed; a bigger one is recorded by size only. */
const MAX_HASH_BYTES = 512 * 1024 * 1024;

/** The executable as resolved, or why it could not be. */
export interface ExecutableInfo {
  readonly guest: string;
  readonly host?: string;
  readonly sha256?: string;
  readonly bytes?: number;
  readonly note?: string;
}

function hostPathOf(guest: string, mounts: readonly PolicyMount[]): string | undefined {
  const mount = mounts.find((m) => guest === m.guest || guest.startsWith(`${m.guest}/`));
  if (mount) return join(mount.host, guest.slice(mount.guest.length));
  if (guest.startsWith('/usr/') || /^\/(bin|sbin|lib|lib64)\//.test(guest)) return guest;
  return undefined;
}

function sha256File(path: string, size: number): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let done = 0; done < size; ) {
      const n = readSync(fd, buf, 0, buf.length, done);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** Resolve and hash `command` as the sandbox will run it. Never throws. */
export function executableOf(command: string, path: string, mounts: readonly PolicyMount[]): ExecutableInfo {
  const candidates = command.includes('/') ? [command] : path.split(':').filter(Boolean).map((d) => `${d}/${command}`);
  for (const guest of candidates) {
    const host = hostPathOf(guest, mounts);
    if (host === undefined) continue;
    try {
      const real = realpathSync(host);
      const st = statSync(real);
      if (!st.isFile()) continue;
      if (st.size > MAX_HASH_BYTES) return { guest, host: real, bytes: st.size, note: 'too large to hash' };
      return { guest, host: real, bytes: st.size, sha256: sha256File(real, st.size) };
    } catch {
      continue;
    }
  }
  return { guest: command, note: 'not found on the sandbox PATH at load (it may still be created at run time)' };
}
