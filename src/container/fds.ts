/**
 * File descriptors the host process would pass on to a child without meaning to.
 *
 * Node opens its own descriptors close-on-exec, but a descriptor the host *inherited* without
 * that flag (from a shell, a supervisor, a test runner) reaches every process it spawns —
 * through bwrap, into the sandbox. We find them here, from `/proc/self/fdinfo` (the `flags`
 * field, octal, with O_CLOEXEC = 02000000), so the spawner can close them in the child before
 * bwrap runs.
 *
 * @example
 * ```ts
 * leakedFds() // [] normally; [251] when a parent left fd 251 open without O_CLOEXEC
 * ```
 */
import { readdirSync, readFileSync } from 'node:fs';

const O_CLOEXEC = 0o2000000;

/** Descriptors ≥ 3 of this process that are not close-on-exec (so a child would inherit them). */
export function leakedFds(): number[] {
  let names: string[];
  try {
    names = readdirSync('/proc/self/fdinfo');
  } catch {
    return [];
  }
  const leaked: number[] = [];
  for (const name of names) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd < 3) continue;
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile (readdir's own descriptor, for one)
    }
    const flags = /^flags:\s+([0-7]+)/m.exec(info)?.[1];
    if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) leaked.push(fd);
  }
  return leaked.sort((a, b) => a - b);
}
