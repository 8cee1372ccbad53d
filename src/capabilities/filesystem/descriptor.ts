/**
 * `wasi:filesystem/types.descriptor` for one agent instance.
 *
 * Directories are held as canonical guest paths (every operation under them is resolved and
 * decided anew); files are held as open host file descriptors whose read/write rights were
 * decided when they were opened. Every path operation: canonicalize once → hide forbidden →
 * walk beneath the mount's root descriptor, following symlinks only inside the mount
 * (beneath.ts) → gate → act on the location the walk pinned, the final component never
 * followed, so neither a directory renamed above it nor a link swapped in after the decision
 * can redirect the operation (FS-07).
 */
import * as fs from 'node:fs';
import type { Result } from '../io.js';
import { FsFailure, type FsErrorCode } from './errors.js';
import { API, attempt, FileOps } from './file-ops.js';
import { checkSymlinkTarget, joinGuestPath } from './paths.js';
import { EscapeFailure, resolveBeneath, withBeneath, type Anchor } from './beneath.js';
import {
  DirectoryEntryStream,
  hashOf,
  statOf,
  toTime,
  typeOf,
  type DescriptorFlags,
  type NewTimestamp,
  type OpenFlags,
  type PathFlags,
} from './values.js';

export { DirectoryEntryStream } from './values.js';
export type { FsState } from './file-ops.js';

/** What a path operation needs from the gate. */
type Need = 'read' | 'write';

/** `descriptor` */
export class Descriptor extends FileOps {
  // ---- the decision path -------------------------------------------------------------------

  /**
   * Canonicalize `rel` under this directory, hide forbidden paths, walk it beneath the mount
   * (symlinks followed only inside it) and ask the gate for `needs`, both for the named path
   * and for the real target. The caller must release the anchor; {@link at} does.
   */
  private locate(rel: string, needs: Need[], api: string, follow: boolean): Anchor {
    if (this.kind !== 'directory') throw new FsFailure('not-directory');
    const gate = this.st.ctx.gate;
    const named = this.join(rel, needs[0]!, api);
    if (gate.isHidden(named.path)) {
      gate.file(needs[0]!, named.path, API + api);
      throw new FsFailure('no-entry');
    }
    let r: Anchor;
    try {
      r = resolveBeneath(this.mount, named.path, { follow });
    } catch (e) {
      if (e instanceof EscapeFailure) {
        gate.refuse(
          { capability: needs[0] === 'read' ? 'read_files' : 'write_files', resource: 'file', action: needs[0]!, target: named.path, api: API + api },
          `${named.path} resolves outside mount ${this.mount.guest} (symlink escape)`,
        );
      }
      throw e;
    }
    try {
      const isDir = r.stat?.isDirectory() ?? false;
      if (named.mustBeDir && r.stat && !isDir) throw new FsFailure('not-directory');
      for (const need of needs) {
        for (const target of r.guest === named.path ? [named.path] : [named.path, r.guest]) {
          const d = gate.file(need, target, API + api, isDir, r.stat?.size);
          if (!d.allowed) throw new FsFailure(d.quota ? 'quota' : d.hidden ? 'no-entry' : 'access');
        }
      }
      return r;
    } catch (e) {
      r.release();
      throw e;
    }
  }

  /**
   * Canonicalize `rel` under this directory. A path that climbs above the mount or is
   * absolute is refused and recorded (a guest probing for the host's files is worth a
   * record); a malformed one (NUL, invalid UTF-8, too long) is only an error to the guest.
   */
  private join(rel: string, need: Need, api: string): ReturnType<typeof joinGuestPath> {
    try {
      return joinGuestPath(this.mount, this.guestPath, rel);
    } catch (e) {
      if (e instanceof FsFailure && e.code === 'not-permitted') {
        const target = `${this.guestPath === '/' ? '' : this.guestPath}/${String(rel).slice(0, 256)}`;
        this.st.ctx.gate.refuse(
          { capability: need === 'read' ? 'read_files' : 'write_files', resource: 'file', action: need, target, api: API + api },
          `${JSON.stringify(String(rel).slice(0, 256))} leaves mount ${this.mount.guest} (absolute, or ".." above its root)`,
        );
      }
      throw e;
    }
  }

  /** {@link locate}, run `fn` on the location, release it. */
  private at<T>(rel: string, needs: Need[], api: string, follow: boolean, fn: (r: Anchor) => T): T {
    const r = this.locate(rel, needs, api, follow);
    try {
      return fn(r);
    } finally {
      r.release();
    }
  }

  /**
   * Run `fn` on this directory itself, re-resolved beneath the mount. It must still be the
   * directory the guest opened, at the same real path: a directory replaced by a link (even
   * one inside the mount) is gone for this descriptor, since the gate decided on its path.
   */
  private self<T>(fn: (r: Anchor) => T): T {
    return withBeneath(this.mount, this.guestPath, { follow: true, descend: true }, (r) => {
      if (r.missing || r.guest !== this.guestPath) throw new FsFailure('no-entry');
      if (!r.stat!.isDirectory() || r.selfFd === undefined) throw new FsFailure('not-directory');
      return fn(r);
    });
  }

  setTimes(atime: NewTimestamp, mtime: NewTimestamp): Result<undefined, FsErrorCode> {
    return attempt(() => {
      if (this.kind === 'directory') {
        const d = this.st.ctx.gate.file('write', this.guestPath, API + 'set-times', true);
        if (!d.allowed) throw new FsFailure(d.hidden ? 'no-entry' : 'access');
        return this.self((r) => {
          fs.futimesSync(r.selfFd!, toTime(atime, r.stat!.atimeNs), toTime(mtime, r.stat!.mtimeNs));
          return undefined;
        });
      }
      const fd = this.fileFd('write');
      const cur = fs.fstatSync(fd, { bigint: true });
      fs.futimesSync(fd, toTime(atime, cur.atimeNs), toTime(mtime, cur.mtimeNs));
      return undefined;
    });
  }

  stat(): Result<ReturnType<typeof statOf>, FsErrorCode> {
    return attempt(() => {
      if (this.kind === 'directory') return this.self((r) => statOf(r.stat!));
      if (this.fd === undefined || this.fdClosed) throw new FsFailure('bad-descriptor');
      return statOf(fs.fstatSync(this.fd, { bigint: true }));
    });
  }

  // ---- directory operations ----------------------------------------------------------------

  readDirectory(): Result<DirectoryEntryStream, FsErrorCode> {
    return attempt(() => {
      if (this.kind !== 'directory') throw new FsFailure('not-directory');
      const gate = this.st.ctx.gate;
      const d = gate.file('read', this.guestPath, API + 'read-directory', true);
      if (!d.allowed) throw new FsFailure(d.hidden ? 'no-entry' : 'access');
      const entries = this.self((r) => fs.readdirSync(r.path, { withFileTypes: true }));
      const base = this.guestPath === '/' ? '' : this.guestPath;
      const visible = entries
        .filter((e) => gate.isListable(`${base}/${e.name}`, e.isDirectory() || e.isSymbolicLink()))
        .map((e) => ({ type: typeOf(e), name: e.name }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return new DirectoryEntryStream(visible);
    });
  }

  statAt(pathFlags: PathFlags, path: string): Result<ReturnType<typeof statOf>, FsErrorCode> {
    return attempt(() => {
      return this.at(path, ['read'], 'stat-at', !!pathFlags.symlinkFollow, (r) => {
        if (r.missing) throw new FsFailure('no-entry');
        return statOf(r.stat!);
      });
    });
  }

  setTimesAt(pathFlags: PathFlags, path: string, atime: NewTimestamp, mtime: NewTimestamp): Result<undefined, FsErrorCode> {
    return attempt(() => {
      return this.at(path, ['write'], 'set-times-at', !!pathFlags.symlinkFollow, (r) => {
        if (r.missing) throw new FsFailure('no-entry');
        const cur = r.stat!;
        // Never follow: the walk already followed what it was asked to, inside the mount.
        if (r.selfFd !== undefined) fs.futimesSync(r.selfFd, toTime(atime, cur.atimeNs), toTime(mtime, cur.mtimeNs));
        else fs.lutimesSync(r.path, toTime(atime, cur.atimeNs), toTime(mtime, cur.mtimeNs));
        return undefined;
      });
    });
  }

  linkAt(oldPathFlags: PathFlags, oldPath: string, newDescriptor: Descriptor, newPath: string): Result<undefined, FsErrorCode> {
    return attempt(() => {
      // A hard link makes the source writable under the new name: the source must be writable too.
      return this.at(oldPath, ['read', 'write'], 'link-at', !!oldPathFlags.symlinkFollow, (from) => {
        if (from.missing) throw new FsFailure('no-entry');
        if (from.selfFd !== undefined) throw new FsFailure('not-permitted');
        return newDescriptor.sameMountOrFail(this).at(newPath, ['write'], 'link-at', false, (to) => {
          if (!to.missing) throw new FsFailure('exist');
          this.st.quota.charge(this.mount, 0, 1, 'create', to.guest, API + 'link-at');
          fs.linkSync(from.path, to.path);
          return undefined;
        });
      });
    });
  }

  private sameMountOrFail(other: Descriptor): Descriptor {
    if (other.mount !== this.mount) throw new FsFailure('cross-device');
    return this;
  }

  openAt(pathFlags: PathFlags, path: string, openFlags: OpenFlags, flags: DescriptorFlags): Result<Descriptor, FsErrorCode> {
    return attempt(() => {
      const wantsWrite = !!(flags.write || flags.mutateDirectory || openFlags.create || openFlags.truncate);
      const wantsRead = !!flags.read || !wantsWrite;
      const needs: Need[] = [];
      if (wantsRead) needs.push('read');
      if (wantsWrite) needs.push('write');
      return this.at(path, needs, 'open-at', !!pathFlags.symlinkFollow, (r) => {
        if (r.missing && !openFlags.create) throw new FsFailure('no-entry');
        if (!r.missing && openFlags.create && openFlags.exclusive) throw new FsFailure('exist');
        const isDir = r.stat?.isDirectory() ?? false;
        if (r.stat?.isSymbolicLink()) throw new FsFailure('loop');
        if (openFlags.directory || isDir) {
          if (r.missing) throw new FsFailure('no-entry');
          if (!isDir) throw new FsFailure('not-directory');
          if (flags.write || openFlags.truncate) throw new FsFailure('is-directory');
          return new Descriptor(this.st, this.mount, r.guest, 'directory', undefined, {
            read: true,
            write: !!flags.mutateDirectory,
            append: false,
          });
        }
        let mode = fs.constants.O_NOFOLLOW;
        mode |= flags.write ? (flags.read ? fs.constants.O_RDWR : fs.constants.O_WRONLY) : fs.constants.O_RDONLY;
        if (openFlags.create) mode |= fs.constants.O_CREAT;
        if (openFlags.exclusive) mode |= fs.constants.O_EXCL;
        if (openFlags.truncate) mode |= fs.constants.O_TRUNC;
        if (openFlags.truncate && !flags.write) mode = (mode & ~fs.constants.O_RDONLY) | fs.constants.O_RDWR;
        if (r.missing) this.st.quota.charge(this.mount, 0, 1, 'create', r.guest, API + 'open-at');
        let fd: number;
        try {
          fd = fs.openSync(r.path, mode, 0o644);
        } catch (e) {
          if (r.missing) this.st.quota.release(this.mount, 0, 1);
          throw e;
        }
        if (openFlags.truncate && r.stat) this.st.quota.release(this.mount, Number(r.stat.size), 0);
        this.st.openFds.add(fd);
        return new Descriptor(this.st, this.mount, r.guest, 'file', fd, {
          read: wantsRead,
          write: !!flags.write,
          append: false,
        });
      });
    });
  }

  readlinkAt(path: string): Result<string, FsErrorCode> {
    return attempt(() =>
      this.at(path, ['read'], 'readlink-at', false, (r) => {
        if (r.missing) throw new FsFailure('no-entry');
        if (!r.stat!.isSymbolicLink()) throw new FsFailure('invalid');
        return fs.readlinkSync(r.path, 'utf8');
      }),
    );
  }

  createDirectoryAt(path: string): Result<undefined, FsErrorCode> {
    return attempt(() =>
      this.at(path, ['write'], 'create-directory-at', false, (r) => {
        if (!r.missing) throw new FsFailure('exist');
        this.st.quota.charge(this.mount, 0, 1, 'create', r.guest, API + 'create-directory-at');
        fs.mkdirSync(r.path);
        return undefined;
      }),
    );
  }

  removeDirectoryAt(path: string): Result<undefined, FsErrorCode> {
    return attempt(() =>
      this.at(path, ['write'], 'remove-directory-at', false, (r) => {
        if (r.missing) throw new FsFailure('no-entry');
        if (r.guest === this.mount.guest) throw new FsFailure('busy');
        fs.rmdirSync(r.path);
        this.st.quota.release(this.mount, 0, 1);
        return undefined;
      }),
    );
  }

  renameAt(oldPath: string, newDescriptor: Descriptor, newPath: string): Result<undefined, FsErrorCode> {
    return attempt(() =>
      this.at(oldPath, ['write'], 'rename-at', false, (from) => {
        if (from.missing) throw new FsFailure('no-entry');
        if (from.guest === this.mount.guest) throw new FsFailure('busy');
        if (from.stat?.isDirectory() && this.st.ctx.gate.mayHideBelow(from.guest)) {
          this.st.ctx.gate.refuse(
            { capability: 'write_files', resource: 'file', action: 'write', target: from.guest, api: API + 'rename-at' },
            `${from.guest} may contain paths matched by fileAccess.forbidden; moving it would expose them`,
          );
          throw new FsFailure('access');
        }
        return newDescriptor.sameMountOrFail(this).at(newPath, ['write'], 'rename-at', false, (to) => {
          if (to.guest === this.mount.guest) throw new FsFailure('busy');
          fs.renameSync(from.path, to.path);
          return undefined;
        });
      }),
    );
  }

  symlinkAt(oldPath: string, newPath: string): Result<undefined, FsErrorCode> {
    return attempt(() =>
      this.at(newPath, ['write'], 'symlink-at', false, (link) => {
        if (!link.missing) throw new FsFailure('exist');
        // The target must be relative and stay inside the mount; it is re-checked on every use.
        let target: string;
        try {
          target = checkSymlinkTarget(this.mount, link.guest, oldPath);
        } catch (e) {
          if (e instanceof FsFailure && e.code === 'not-permitted') {
            this.st.ctx.gate.refuse(
              { capability: 'write_files', resource: 'file', action: 'write', target: link.guest, api: API + 'symlink-at' },
              `a link to ${JSON.stringify(String(oldPath).slice(0, 256))} would point outside mount ${this.mount.guest} (absolute, or ".." above its root)`,
            );
          }
          throw e;
        }
        if (this.st.ctx.gate.isHidden(target)) {
          this.st.ctx.gate.file('read', target, API + 'symlink-at');
          throw new FsFailure('no-entry');
        }
        this.st.quota.charge(this.mount, 0, 1, 'create', link.guest, API + 'symlink-at');
        fs.symlinkSync(oldPath, link.path);
        return undefined;
      }),
    );
  }

  unlinkFileAt(path: string): Result<undefined, FsErrorCode> {
    return attempt(() =>
      this.at(path, ['write'], 'unlink-file-at', false, (r) => {
        if (r.missing) throw new FsFailure('no-entry');
        if (r.stat!.isDirectory()) throw new FsFailure('is-directory');
        fs.unlinkSync(r.path);
        this.st.quota.release(this.mount, r.stat!.isFile() && r.stat!.nlink === 1n ? Number(r.stat!.size) : 0, 1);
        return undefined;
      }),
    );
  }

  isSameObject(other: Descriptor): boolean {
    try {
      const a = this.identity();
      const b = other.identity();
      return a.dev === b.dev && a.ino === b.ino;
    } catch {
      return false;
    }
  }

  private identity(): fs.BigIntStats {
    if (this.fd !== undefined && !this.fdClosed) return fs.fstatSync(this.fd, { bigint: true });
    if (this.kind === 'file') throw new FsFailure('bad-descriptor');
    return this.self((r) => r.stat!);
  }

  metadataHash(): Result<{ lower: bigint; upper: bigint }, FsErrorCode> {
    return attempt(() => hashOf(this.identity()));
  }

  metadataHashAt(pathFlags: PathFlags, path: string): Result<{ lower: bigint; upper: bigint }, FsErrorCode> {
    return attempt(() =>
      this.at(path, ['read'], 'metadata-hash-at', !!pathFlags.symlinkFollow, (r) => {
        if (r.missing) throw new FsFailure('no-entry');
        return hashOf(r.stat!);
      }),
    );
  }
}
