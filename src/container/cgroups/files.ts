/**
 * Small synchronous readers and writers for cgroup control files. cgroupfs files are tiny and
 * answer from kernel memory, so synchronous calls cost microseconds and keep the kill and
 * cleanup loops free of interleavings.
 *
 * @example
 * ```ts
 * readKeyed('/sys/fs/cgroup/pids/agentos/1-a/pids.events').get('max'); // 0
 * ```
 */
import { readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** The file's text, or undefined when it cannot be read (absent, group gone). */
export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** A file holding one integer (`pids.current`, `cpuacct.usage`), or undefined; `max` reads as Infinity. */
export function readNumber(path: string): number | undefined {
  const t = readText(path)?.trim();
  if (t === undefined || t === '') return undefined;
  if (t === 'max') return Infinity;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** A flat-keyed file (`key value` lines: `memory.events`, `pids.events`, `cpu.stat`, `memory.oom_control`). */
export function readKeyed(path: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of (readText(path) ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^\d+$/.test(v)) out.set(k, Number(v));
  }
  return out;
}

/** The pids in a `cgroup.procs` file (empty when the group is gone). */
export function readPids(path: string): number[] {
  return (readText(path) ?? '').split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
}

/** Write a control file; the kernel's errno surfaces as the thrown error's `code`. */
export function writeControl(path: string, value: string): void {
  writeFileSync(path, value);
}

/**
 * rmdir a cgroup directory, retrying on EBUSY for up to `ms` (a killed task can take a moment to
 * leave its css_set). ENOENT counts as removed. Returns whether the directory is gone.
 */
export async function rmdirRetry(dir: string, ms = 2_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      rmdirSync(dir);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return true;
      if (code !== 'EBUSY' || Date.now() >= deadline) return false;
    }
    await sleep(20);
  }
}

/** Whether a process with this pid exists (EPERM means it does, owned by someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export { sleep };
