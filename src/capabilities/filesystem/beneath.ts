/**
 * Race-free path resolution beneath a mount (catalogue FS-07).
 *
 * A path checked with `realpath` and then used by name can be redirected between the check and
 * the use: another agent sharing a writable mount, or any host process, renames a directory on
 * the path and puts a symlink to somewhere else in its place. So nothing here is ever resolved
 * by name from `/`. Each mount holds an open descriptor of its root directory, taken when the
 * instance starts; a path is walked one component at a time from that descriptor, each
 * directory opened with `O_NOFOLLOW | O_DIRECTORY` relative to the one before
 * (`/proc/self/fd/<fd>/<name>`: Node has no `openat`, and the kernel resolves that magic link
 * to the very directory the descriptor holds, whatever its name is now). A symlink met on the
 * way is read and its target walked the same way, from the directory that holds it; `..` never
 * climbs above the mount's root, and an absolute target is accepted only when it names a place
 * inside the mount (the walk then restarts at the root descriptor). This is what
 * `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)` does in the kernel, done in user space:
 * the guest cannot name a magic link, since every component it controls is opened without
 * following and every link target it planted is walked by this code.
 *
 * The walk ends holding the descriptor of the directory that contains the target. The
 * operation then acts on `<that descriptor>/<final name>`, so renaming anything above it after
 * the decision changes nothing; the final component itself is acted on without following.
 */
import * as fs from 'node:fs';
import { FsFailure, fsErrorCode } from './errors.js';
import type { RealMount } from './paths.js';

/** Most symlinks followed in one resolution (Linux's own limit is 40). */
export const MAX_SYMLINKS = 40;

const DIR_FLAGS = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW;

/** The path the kernel resolves to exactly what `fd` holds. */
export function fdPath(fd: number, name = ''): string {
  return name === '' ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** A symlink led outside the mount. Reported to the guest as `no-entry`. */
export class EscapeFailure extends FsFailure {
  constructor(readonly real: string) {
    super('no-entry');
  }
}

/** A resolved location, pinned by the open descriptor of the directory that holds it. */
export interface Anchor {
  /** Canonical guest path of the real location (symlinks resolved), what the gate decides on. */
  readonly guest: string;
  /** The path to hand to a syscall: `/proc/self/fd/<dir>/<name>`, or the directory itself. */
  readonly path: string;
  /** The target does not exist (only possible for the last component). */
  readonly missing: boolean;
  /**
   * The descriptor of the target itself, when the walk ended on a directory it holds (the
   * mount's root, `descend`, or a link to a directory); `path` then names that descriptor.
   */
  readonly selfFd: number | undefined;
  /** `lstat` of the target as the walk found it (`fstat` when it is `selfFd`); undefined when missing. */
  readonly stat: fs.BigIntStats | undefined;
  /** Close the descriptors the walk opened (never the mount's root). */
  release(): void;
}

/** How to resolve the final component. */
export interface ResolveOptions {
  /** Follow a final symlink (still only beneath the mount). */
  readonly follow: boolean;
  /**
   * The target is a directory to act on as a whole (list it, stat it): end holding its own
   * descriptor, so `path` names the directory itself rather than an entry of its parent.
   */
  readonly descend?: boolean;
}

/** One open directory on the walk. */
interface Step {
  readonly fd: number;
  readonly name: string;
}

function lstatAt(fd: number, name: string): fs.BigIntStats | undefined {
  try {
    return fs.lstatSync(fdPath(fd, name), { bigint: true });
  } catch (e) {
    const code = fsErrorCode(e);
    if (code === 'no-entry') return undefined;
    throw new FsFailure(code);
  }
}

/** Open the directory entry `name` of `fd` without following it; undefined if it is not a directory now. */
function openDirAt(fd: number, name: string): number | undefined {
  try {
    return fs.openSync(fdPath(fd, name), DIR_FLAGS);
  } catch (e) {
    const code = fsErrorCode(e);
    // A symlink or a file swapped in after lstat: the caller looks again.
    if (code === 'not-directory' || code === 'loop') return undefined;
    throw new FsFailure(code);
  }
}

/**
 * Resolve the canonical guest path `guest` (inside `mount`) beneath the mount's root
 * descriptor. Throws {@link EscapeFailure} when a symlink leads outside the mount, and
 * `FsFailure` for a missing parent (`no-entry`), a file used as a directory (`not-directory`)
 * or too many links (`loop`).
 */
export function resolveBeneath(mount: RealMount, guest: string, opts: ResolveOptions): Anchor {
  const rest = mount.guest === '/' ? guest : guest.slice(mount.guest.length);
  const queue = rest.split('/').filter((s) => s !== '' && s !== '.');
  const stack: Step[] = [];
  const top = (): number => (stack.length === 0 ? mount.rootFd : stack[stack.length - 1]!.fd);
  const closeAll = (): void => {
    for (const s of stack.splice(0)) {
      try {
        fs.closeSync(s.fd);
      } catch {
        // already closed
      }
    }
  };
  let links = 0;
  const followLink = (name: string): void => {
    if (++links > MAX_SYMLINKS) throw new FsFailure('loop');
    let target: string;
    try {
      target = fs.readlinkSync(fdPath(top(), name), 'utf8');
    } catch (e) {
      throw new FsFailure(fsErrorCode(e));
    }
    if (target.startsWith('/')) {
      // An absolute link is only followed when it names a place inside the mount.
      const inside = mount.real === '/' ? target : target === mount.real ? '' : target.startsWith(mount.real + '/') ? target.slice(mount.real.length) : undefined;
      if (inside === undefined) throw new EscapeFailure(target);
      closeAll();
      queue.unshift(...inside.split('/').filter((s) => s !== '' && s !== '.'));
      return;
    }
    queue.unshift(...target.split('/').filter((s) => s !== '' && s !== '.'));
  };
  try {
    let final: string | undefined;
    let stat: fs.BigIntStats | undefined;
    while (queue.length > 0) {
      const name = queue.shift()!;
      if (name === '..') {
        if (stack.length === 0) throw new EscapeFailure(`${mount.real}/..`);
        fs.closeSync(stack.pop()!.fd);
        continue;
      }
      const last = queue.length === 0;
      const st = lstatAt(top(), name);
      if (st === undefined) {
        if (!last) throw new FsFailure('no-entry');
        final = name;
        break;
      }
      if (st.isSymbolicLink() && (!last || opts.follow)) {
        followLink(name);
        continue;
      }
      if (last && !(opts.descend && st.isDirectory())) {
        final = name;
        stat = st;
        break;
      }
      if (!st.isDirectory()) throw new FsFailure('not-directory');
      const fd = openDirAt(top(), name);
      if (fd === undefined) {
        // Changed between lstat and open: look at it again.
        if (++links > MAX_SYMLINKS) throw new FsFailure('loop');
        queue.unshift(name);
        continue;
      }
      stack.push({ fd, name });
    }
    const dirGuest = joinGuest(mount.guest, stack.map((s) => s.name));
    const dirFd = top();
    if (final === undefined) {
      // The walk ended on a directory it holds (the root, `descend`, or a link to a directory).
      if (stat === undefined) stat = fs.fstatSync(dirFd, { bigint: true });
    }
    const owned = stack.map((s) => s.fd);
    let released = false;
    return {
      guest: final === undefined ? dirGuest : joinGuest(dirGuest, [final]),
      path: fdPath(dirFd, final ?? ''),
      selfFd: final === undefined ? dirFd : undefined,
      missing: final !== undefined && stat === undefined,
      stat,
      release(): void {
        if (released) return;
        released = true;
        for (const fd of owned) {
          try {
            fs.closeSync(fd);
          } catch {
            // already closed
          }
        }
      },
    };
  } catch (e) {
    closeAll();
    throw e;
  }
}

function joinGuest(base: string, names: readonly string[]): string {
  if (names.length === 0) return base;
  return (base === '/' ? '' : base) + '/' + names.join('/');
}

/** Run `fn` on the resolved location, releasing it afterwards whatever happens. */
export function withBeneath<T>(mount: RealMount, guest: string, opts: ResolveOptions, fn: (a: Anchor) => T): T {
  const a = resolveBeneath(mount, guest, opts);
  try {
    return fn(a);
  } finally {
    a.release();
  }
}
