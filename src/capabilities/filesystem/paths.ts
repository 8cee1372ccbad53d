/**
 * Path canonicalization for `wasi:filesystem`, done once per operation:
 *
 * 1. the guest's relative path is checked (no NUL, no invalid UTF-8, not absolute, bounded);
 * 2. it is joined to the descriptor's canonical guest path, resolving `.` and `..` lexically,
 *    never above the mount root;
 * 3. the path is walked beneath the mount's root descriptor (beneath.ts), following symlinks
 *    only while they stay inside the mount, which gives the real guest path the gate decides
 *    on and the pinned location the operation then uses.
 */
import { FsFailure } from './errors.js';

/** Longest path a guest may pass. */
export const MAX_PATH = 4096;

/** A mount with its resolved real host root. */
export interface RealMount {
  readonly guest: string;
  readonly host: string;
  readonly mode: 'ro' | 'rw';
  /** realpath of `host`, resolved when the instance starts. */
  readonly real: string;
  /** Descriptor of the mount's root directory, opened when the instance starts; every path is resolved from it. */
  readonly rootFd: number;
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
