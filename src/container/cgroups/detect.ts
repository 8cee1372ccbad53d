/**
 * Where this host's cgroup controllers live and whether this process may create cgroups
 * there: v1 (one hierarchy per controller or per group of controllers, under
 * `/sys/fs/cgroup/<controller>`), v2 (one unified hierarchy whose controllers are listed in
 * `cgroup.controllers`) or hybrid (v1 controllers beside a v2 hierarchy that may have none, but
 * still offers `cgroup.kill` and `cpu.stat`). Only reads; nothing is created here.
 *
 * Our groups go under this process's own cgroup in each hierarchy (when it is visible in the
 * mount), not under the hierarchy's root: so the agents stay inside whatever limits the host
 * itself runs under, and a host in a delegated subtree (systemd `Delegate=yes`, a container
 * with its own cgroup namespace) finds the one place it may write.
 *
 * @example
 * ```ts
 * const layout = detectCgroups();
 * layout.kind;                           // 'hybrid'
 * layout.controllers.get('pids')?.base;  // '/sys/fs/cgroup/pids'
 * ```
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CgroupLayoutKind, cgroupLayoutKind, ownCgroups, parseCgroupMounts } from './mountinfo.js';

/** One hierarchy this runtime could put agents in. */
export interface CgroupHierarchy {
  readonly version: 1 | 2;
  readonly mountPoint: string;
  /** v1: the controllers bound to it; v2: those `base/cgroup.controllers` offers to children. */
  readonly controllers: readonly string[];
  /** The directory our `agentos` parent group goes in: this process's own cgroup when visible, else the mount point. */
  readonly base: string;
  /** Whether this process may create directories in `base` (root, or a delegated cgroup). */
  readonly writable: boolean;
}

/** The cgroup layout of this host, as {@link detectCgroups} found it. */
export interface CgroupLayout {
  readonly kind: CgroupLayoutKind;
  /** Hierarchies with controllers (v1 named hierarchies such as `name=systemd` are left out), plus the v2 one if mounted. */
  readonly hierarchies: readonly CgroupHierarchy[];
  /**
   * Controller → the hierarchy providing it. A controller is bound to one hierarchy at a time,
   * so v1 and v2 never both have it. `cpuacct` maps to the v2 hierarchy when no v1 hierarchy
   * has it, since every v2 cgroup accounts CPU time in `cpu.stat` (`usage_usec`).
   */
  readonly controllers: ReadonlyMap<string, CgroupHierarchy>;
  /** The v2 (unified) hierarchy, if one is mounted, whatever its controllers: it offers `cgroup.kill`. */
  readonly unified: CgroupHierarchy | undefined;
}

/** Texts to read instead of the real files (tests, the doctor's samples). */
export interface DetectSources {
  /** The text of `/proc/self/mountinfo`. */
  readonly mountinfo?: string;
  /** The text of `/proc/self/cgroup`. */
  readonly procSelfCgroup?: string;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

// Our own cgroup directory inside a hierarchy when it is visible there, else the hierarchy's root.
// (Inside a cgroup namespace, /proc/self/cgroup says "/" and the mount shows our subtree as its root.)
function dirIn(mountPoint: string, own: string | undefined): string {
  const candidate = own !== undefined && own !== '/' ? join(mountPoint, own) : mountPoint;
  return existsSync(candidate) ? candidate : mountPoint;
}

function isWritable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Read `/proc/self/mountinfo` and `/proc/self/cgroup` (or the texts given) and say where each
 * controller lives. On a non-Linux host, or with nothing mounted, `kind` is `'none'` and the
 * maps are empty. Never throws.
 *
 * @example
 * ```ts
 * const layout = detectCgroups();
 * if (!layout.controllers.get('memory')?.writable) console.log('cannot cap memory here');
 * ```
 */
export function detectCgroups(sources: DetectSources = {}): CgroupLayout {
  const mountinfo = sources.mountinfo ?? (process.platform === 'linux' ? readText('/proc/self/mountinfo') : undefined) ?? '';
  const mounts = parseCgroupMounts(mountinfo);
  const own = ownCgroups(sources.procSelfCgroup ?? (process.platform === 'linux' ? readText('/proc/self/cgroup') : undefined) ?? '');
  const hierarchies: CgroupHierarchy[] = [];
  const controllers = new Map<string, CgroupHierarchy>();
  let unified: CgroupHierarchy | undefined;
  for (const m of mounts) {
    if (m.version === 1) {
      if (m.controllers.length === 0 || m.controllers.every((c) => controllers.has(c))) continue;
      const base = dirIn(m.mountPoint, own.get(m.controllers[0]!));
      const h: CgroupHierarchy = { version: 1, mountPoint: m.mountPoint, controllers: m.controllers, base, writable: isWritable(base) };
      hierarchies.push(h);
      for (const c of m.controllers) if (!controllers.has(c)) controllers.set(c, h);
    } else if (unified === undefined) {
      const base = dirIn(m.mountPoint, own.get(''));
      const offered = (readText(join(base, 'cgroup.controllers')) ?? '').split(/\s+/).filter((c) => c !== '');
      unified = { version: 2, mountPoint: m.mountPoint, controllers: offered, base, writable: isWritable(base) };
      hierarchies.push(unified);
    }
  }
  // v1 first: in a hybrid layout a controller is on v1 unless v1 lacks it.
  if (unified) {
    for (const c of unified.controllers) if (!controllers.has(c)) controllers.set(c, unified);
    if (!controllers.has('cpuacct')) controllers.set('cpuacct', unified);
  }
  return { kind: cgroupLayoutKind(mounts), hierarchies, controllers, unified };
}
