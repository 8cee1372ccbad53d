/**
 * Parsing of the two files that say where cgroups live: `/proc/self/mountinfo` (which
 * hierarchies are mounted, v1 or v2, and which v1 controllers each carries) and
 * `/proc/self/cgroup` (this process's cgroup in each hierarchy). Pure functions over text,
 * shared by the runtime ({@link detectCgroups} in `detect.ts`) and `agentos doctor`.
 *
 * @example
 * ```ts
 * const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
 * cgroupLayoutKind(mounts); // 'hybrid' on a host with v1 controllers beside cgroup2
 * ```
 */

/** One mounted cgroup hierarchy. */
export interface CgroupMount {
  readonly version: 1 | 2;
  readonly mountPoint: string;
  /** v1: the controllers bound to this hierarchy (named hierarchies such as `name=systemd` have none); v2: always empty (read `cgroup.controllers`). */
  readonly controllers: readonly string[];
  /**
   * Mounted with `favordynmods`: the kernel keeps the lock that moving a process between groups
   * takes ready for writers, so a move does not wait for an RCU grace period (milliseconds;
   * one per native run otherwise). The setting is host-wide once any hierarchy has it.
   */
  readonly favorDynmods?: boolean;
}

/** `v1`, `v2` (unified only), `hybrid` (v1 controllers beside a v2 hierarchy) or `none`. */
export type CgroupLayoutKind = 'v1' | 'v2' | 'hybrid' | 'none';

// mountinfo escapes space, tab, newline and backslash as \ooo.
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

// Mount options that share the super-options field with v1 controller names.
const NOT_CONTROLLERS = new Set([
  'rw', 'ro', 'relatime', 'noexec', 'nosuid', 'nodev', 'xattr', 'clone_children', 'noprefix', 'nsdelegate',
  'favordynmods', 'cpuset_v2_mode', 'memory_localevents', 'memory_recursiveprot', 'memory_hugetlb_accounting', 'pids_localevents',
]);

/**
 * The cgroup hierarchies in a `/proc/self/mountinfo` text, in mount order. A hierarchy
 * mounted twice (bind mounts) appears twice; callers take the first.
 *
 * @example
 * ```ts
 * parseCgroupMounts('35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n');
 * // [{ version: 1, mountPoint: '/sys/fs/cgroup/memory', controllers: ['memory'] }]
 * ```
 */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    // "<id> <parent> <maj:min> <root> <mount point> <options> [optional...] - <fstype> <source> <super options>"
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const mountPoint = left.split(' ')[4];
    const [fstype, , superOptions = ''] = right.split(' ');
    if (mountPoint === undefined) continue;
    const options = superOptions.split(',');
    const favor = options.includes('favordynmods') ? { favorDynmods: true } : {};
    if (fstype === 'cgroup2') mounts.push({ version: 2, mountPoint: unescape(mountPoint), controllers: [], ...favor });
    else if (fstype === 'cgroup') {
      const controllers = options.filter((o) => /^[a-z_]+$/.test(o) && !NOT_CONTROLLERS.has(o));
      mounts.push({ version: 1, mountPoint: unescape(mountPoint), controllers, ...favor });
    }
  }
  return mounts;
}

/**
 * The layout those mounts make.
 *
 * @example
 * ```ts
 * cgroupLayoutKind([{ version: 2, mountPoint: '/sys/fs/cgroup', controllers: [] }]); // 'v2'
 * ```
 */
export function cgroupLayoutKind(mounts: readonly CgroupMount[]): CgroupLayoutKind {
  const v1 = mounts.some((m) => m.version === 1 && m.controllers.length > 0);
  const v2 = mounts.some((m) => m.version === 2);
  return v1 && v2 ? 'hybrid' : v1 ? 'v1' : v2 ? 'v2' : 'none';
}

/**
 * This process's cgroup per hierarchy, from `/proc/self/cgroup` (`4:memory:/a/b`): keyed by
 * each v1 controller, and by `''` for the v2 hierarchy (`0::/a/b`).
 *
 * @example
 * ```ts
 * ownCgroups('4:memory:/a/b\n0::/\n').get('memory'); // '/a/b'
 * ```
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
