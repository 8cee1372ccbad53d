/**
 * The cgroup check: which hierarchy layout the host has (v1, v2 unified, or hybrid), which of
 * the controllers a native sandbox caps agents with are available and where, and whether this
 * process can create cgroups there. Read from `/proc/self/mountinfo` and `/proc/self/cgroup`,
 * never written.
 */
import { constants, existsSync } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckResult } from './types.js';

/** The controllers the native runtimes use: memory and process caps, CPU shares and accounting. */
export const WANTED_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'] as const;

/** One mounted cgroup hierarchy. */
export interface CgroupMount {
  readonly version: 1 | 2;
  readonly mountPoint: string;
  /** v1: the controllers bound to this hierarchy (named hierarchies such as `name=systemd` have none). */
  readonly controllers: readonly string[];
}

/** `v1`, `v2` (unified only), `hybrid` (v1 controllers beside a v2 hierarchy) or `none`. */
export type CgroupLayout = 'v1' | 'v2' | 'hybrid' | 'none';

// mountinfo escapes space, tab, newline and backslash as \ooo.
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The cgroup hierarchies in a `/proc/self/mountinfo` text. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <fstype> <source> <super options>"
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const mountPoint = left.split(' ')[4];
    const [fstype, , superOptions = ''] = right.split(' ');
    if (mountPoint === undefined) continue;
    if (fstype === 'cgroup2') mounts.push({ version: 2, mountPoint: unescape(mountPoint), controllers: [] });
    else if (fstype === 'cgroup') {
      const controllers = superOptions.split(',').filter((o) => /^[a-z_]+$/.test(o) && !['rw', 'ro', 'relatime', 'noexec', 'nosuid', 'nodev', 'xattr', 'clone_children', 'noprefix', 'nsdelegate'].includes(o));
      mounts.push({ version: 1, mountPoint: unescape(mountPoint), controllers });
    }
  }
  return mounts;
}

/** The layout those mounts make. */
export function cgroupLayout(mounts: readonly CgroupMount[]): CgroupLayout {
  const v1 = mounts.some((m) => m.version === 1 && m.controllers.length > 0);
  const v2 = mounts.some((m) => m.version === 2);
  return v1 && v2 ? 'hybrid' : v1 ? 'v1' : v2 ? 'v2' : 'none';
}

/**
 * This process's cgroup per hierarchy, from `/proc/self/cgroup` (`4:memory:/a/b`): keyed by
 * each v1 controller, and by `''` for the v2 hierarchy (`0::/a/b`).
 */
export function ownCgroups(procSelfCgroup: string): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const key of m[1] === '' ? [''] : m[1]!.split(',')) own.set(key, m[2]!);
  }
  return own;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

// Our own cgroup directory inside a hierarchy when it is visible there, else the hierarchy's root.
function dirIn(mountPoint: string, own: string | undefined): string {
  const candidate = own !== undefined && own !== '/' ? join(mountPoint, own) : mountPoint;
  return existsSync(candidate) ? candidate : mountPoint;
}

async function writable(dir: string): Promise<boolean> {
  try {
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Layout, wanted controllers and where they are, writability. Ready when memory and pids are
 * available and this process can create cgroups under them.
 */
export async function checkCgroups(files: { mountinfo?: string; procSelfCgroup?: string } = {}): Promise<CheckResult> {
  if (process.platform !== 'linux') return { status: 'unavailable', detail: `cgroups are Linux only (this is ${process.platform})` };
  const mounts = parseCgroupMounts(files.mountinfo ?? (await readText('/proc/self/mountinfo')) ?? '');
  const layout = cgroupLayout(mounts);
  if (layout === 'none') return { status: 'unavailable', detail: 'no cgroup hierarchy is mounted', fix: 'mount cgroup2 at /sys/fs/cgroup' };
  const own = ownCgroups(files.procSelfCgroup ?? (await readText('/proc/self/cgroup')) ?? '');
  // controller -> the directory a sandbox would create its cgroups under
  const where = new Map<string, { version: 1 | 2; dir: string }>();
  for (const m of mounts.filter((x) => x.version === 1)) {
    for (const c of m.controllers) if (!where.has(c)) where.set(c, { version: 1, dir: dirIn(m.mountPoint, own.get(c)) });
  }
  const notes: string[] = [];
  for (const m of mounts.filter((x) => x.version === 2)) {
    const dir = dirIn(m.mountPoint, own.get(''));
    const controllers = ((await readText(join(dir, 'cgroup.controllers'))) ?? '').split(/\s+/).filter((c) => c !== '');
    for (const c of controllers) if (!where.has(c)) where.set(c, { version: 2, dir });
    // v2 folds CPU accounting into every cgroup's cpu.stat.
    if (controllers.includes('cpu') && !where.has('cpuacct')) where.set('cpuacct', { version: 2, dir });
    const kill = existsSync(join(dir, 'cgroup.kill')) ? ', cgroup.kill' : '';
    notes.push(`unified hierarchy at ${m.mountPoint} (controllers: ${controllers.join(' ') || 'none'}${kill})`);
  }
  const available = WANTED_CONTROLLERS.filter((c) => where.has(c));
  const absent = WANTED_CONTROLLERS.filter((c) => !where.has(c));
  const byVersion = (v: 1 | 2) => available.filter((c) => where.get(c)!.version === v);
  const parts = [layout === 'v2' ? 'v2 (unified)' : layout];
  if (byVersion(1).length > 0) parts.push(`${byVersion(1).join(' ')} on v1`);
  if (byVersion(2).length > 0) parts.push(`${byVersion(2).join(' ')} on v2`);
  if (absent.length > 0) parts.push(`no ${absent.join(' ')}`);
  parts.push(...notes);
  const readOnly: string[] = [];
  for (const c of available) if (!(await writable(where.get(c)!.dir))) readOnly.push(c);
  parts.push(readOnly.length === 0 ? (available.length > 0 ? 'writable' : 'nothing to write') : `not writable: ${readOnly.join(' ')}`);
  const detail = parts.join('; ');
  if (!where.has('memory') || !where.has('pids')) {
    return { status: 'unavailable', detail, fix: 'enable the memory and pids controllers (kernel boot options, or a container runtime that delegates them)' };
  }
  if (readOnly.includes('memory') || readOnly.includes('pids')) {
    return { status: 'unavailable', detail, fix: 'run as root, or in a cgroup delegated to this user (systemd-run --user --scope -p Delegate=yes)' };
  }
  return { status: 'ready', detail };
}
