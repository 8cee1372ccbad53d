/**
 * Path canonicalization for `wasi:filesystem`, done once per operation:
 *
 * 1. the guest's relative path is checked (no NUL, no invalid UTF-8, not absolute, bounded);
 * 2. it is joined to the descriptor's canonical guest path, resolving `.` and `..` lexically,
 *    never above the mount root;
 * 3. the host path is resolved with `realpath` (following symlinks, or all but the last
 *    component when the operation must not follow) and must stay inside the mount's real root;
 * 4. the real host path is mapped back to a guest path, which is what the gate decides on and
 *    what the operation then uses.
 */
import { realpathSync } from 'node:fs';
import { FsFailure, fsErrorCode } from './errors.js';

/** Longest path a guest may pass. */
export const MAX_PATH = 4096;

/** A mount with its resolved real host root. */
export interface RealMount {
  readonly guest: string;
  readonly host: string;
  readonly mode: 'ro' | 'rw';
  /** realpath of `host`, resolved when the instance starts. */
  readonly real: string;
}

/** The result of {@link joinGuestPath}. */
export interface GuestPath {
  /** Canonical absolute guest path. */
  readonly path: string;
  /** The guest wrote a trailing slash: the target must be a directory. */
  readonly mustBeDir: boolean;
}

/** Join `rel` to the canonical directory `base` inside `mount`; throws {@link FsFailure}. */
export function joinGuestPath(mount: RealMount, base: string, rel: string): GuestPath {
  if (typeof rel !== 'string' || rel.length === 0) throw new FsFailure('no-entry');
  if (rel.length > MAX_PATH) throw new FsFailure('name-too-long');
  if (rel.includes('\0')) throw new FsFailure('invalid');
  // jco decodes guest strings leniently; a replacement character means the bytes were not UTF-8.
  if (rel.includes('\uFFFD')) throw new FsFailure('illegal-byte-sequence');
  if (rel.startsWith('/')) throw new FsFailure('not-permitted');
  const rootDepth = mount.guest === '/' ? 0 : mount.guest.split('/').length - 1;
  const parts = base === '/' ? [] : base.split('/').slice(1);
  for (const seg of rel.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length <= rootDepth) throw new FsFailure('not-permitted');
      parts.pop();
      continue;
    }
    parts.push(seg);
  }
  return { path: '/' + parts.join('/'), mustBeDir: rel.endsWith('/') };
}

/** The host path of a canonical guest path inside `mount` (no symlink resolution). */
export function hostPathOf(mount: RealMount, guestPath: string): string {
  const rest = mount.guest === '/' ? guestPath : guestPath.slice(mount.guest.length);
  return rest === '' || rest === '/' ? mount.real : mount.real + rest;
}

function guestPathOf(mount: RealMount, real: string): string | undefined {
  if (real === mount.real) return mount.guest;
  if (!real.startsWith(mount.real === '/' ? '/' : mount.real + '/')) return undefined;
  const rest = mount.real === '/' ? real : real.slice(mount.real.length);
  return mount.guest === '/' ? rest : mount.guest + rest;
}

/** A resolved location: where the operation acts, and the guest path the gate decides on. */
export interface Resolved {
  readonly host: string;
  readonly guest: string;
  /** The target does not exist (only possible for the last component). */
  readonly missing: boolean;
}

function realpathOrMissing(host: string): { real: string; missing: boolean } {
  try {
    return { real: realpathSync(host), missing: false };
  } catch (e) {
    const code = fsErrorCode(e);
    if (code !== 'no-entry') throw new FsFailure(code);
    // The last component may not exist yet (create); its parent must.
    const slash = host.lastIndexOf('/');
    const parent = slash <= 0 ? '/' : host.slice(0, slash);
    let realParent: string;
    try {
      realParent = realpathSync(parent);
    } catch (e2) {
      throw new FsFailure(fsErrorCode(e2));
    }
    return { real: (realParent === '/' ? '' : realParent) + host.slice(slash), missing: true };
  }
}

/**
 * Resolve a canonical guest path to its real host location. `follow` resolves a final
 * symlink too; otherwise the final component is taken as it is. Throws `FsFailure('no-entry')`
 * when the real location is outside the mount (a symlink escape), so it looks like nothing.
 */
export function resolveReal(mount: RealMount, guest: string, follow: boolean): Resolved {
  const host = hostPathOf(mount, guest);
  if (host === mount.real) return { host, guest: mount.guest, missing: false };
  let real: string;
  let missing: boolean;
  if (follow) {
    ({ real, missing } = realpathOrMissing(host));
  } else {
    const slash = host.lastIndexOf('/');
    const parent = realpathOrMissing(host.slice(0, slash) || '/');
    if (parent.missing) throw new FsFailure('no-entry');
    real = (parent.real === '/' ? '' : parent.real) + host.slice(slash);
    missing = false;
  }
  const mapped = guestPathOf(mount, real);
  if (mapped === undefined) throw new EscapeFailure(real);
  return { host: real, guest: mapped, missing };
}

/** A symlink led outside the mount. Reported to the guest as `no-entry`. */
export class EscapeFailure extends FsFailure {
  constructor(readonly real: string) {
    super('no-entry');
  }
}

/**
 * Check a symlink target written by the guest: relative, and inside the mount when resolved
 * lexically from the link's directory. Returns the canonical guest path it points to.
 */
export function checkSymlinkTarget(mount: RealMount, linkGuestPath: string, target: string): string {
  if (target.startsWith('/')) throw new FsFailure('not-permitted');
  const slash = linkGuestPath.lastIndexOf('/');
  const dir = slash <= 0 ? '/' : linkGuestPath.slice(0, slash);
  return joinGuestPath(mount, dir, target).path;
}
