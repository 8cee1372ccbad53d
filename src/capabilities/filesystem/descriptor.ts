/**
 * `wasi:filesystem/types.descriptor` for one agent instance.
 *
 * Directories are held as canonical paths (every operation under them is resolved and decided
 * anew); files are held as open host file descriptors whose read/write rights were decided when
 * they were opened. Every path operation: canonicalize once → hide forbidden → resolve symlinks
 * inside the mount → gate → act on the resolved host path (final component opened with
 * O_NOFOLLOW so a link swapped in later is not followed).
 */
import * as fs from 'node:fs';
import type { HostContext } from '../context.js';
import { err, InputStream, IoError, ok, OutputStream, alwaysReady, type Result, type StreamError } from '../io.js';
import { FsFailure, fsErrorCode, type FsErrorCode } from './errors.js';
import type { DiskQuota } from './disk-quota.js';
import { checkSymlinkTarget, EscapeFailure, joinGuestPath, resolveReal, type RealMount, type Resolved } from './paths.js';

const API = 'wasi:filesystem/types#';

type DescriptorType = 'unknown' | 'block-device' | 'character-device' | 'directory' | 'fifo' | 'symbolic-link' | 'regular-file' | 'socket';
interface Datetime {
  seconds: bigint;
  nanoseconds: number;
}
type NewTimestamp = { tag: 'no-change' } | { tag: 'now' } | { tag: 'timestamp'; val: Datetime };
interface PathFlags {
  symlinkFollow?: boolean;
}
interface OpenFlags {
  create?: boolean;
  directory?: boolean;
  exclusive?: boolean;
  truncate?: boolean;
}
interface DescriptorFlags {
  read?: boolean;
  write?: boolean;
  fileIntegritySync?: boolean;
  dataIntegritySync?: boolean;
  requestedWriteSync?: boolean;
  mutateDirectory?: boolean;
}

function typeOf(st: fs.Stats | fs.BigIntStats | fs.Dirent): DescriptorType {
  if (st.isFile()) return 'regular-file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symbolic-link';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'unknown';
}

function datetime(ns: bigint): Datetime {
  return { seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) };
}

function statOf(st: fs.BigIntStats) {
  return {
    type: typeOf(st),
    linkCount: st.nlink,
    size: st.size,
    dataAccessTimestamp: datetime(st.atimeNs),
    dataModificationTimestamp: datetime(st.mtimeNs),
    statusChangeTimestamp: datetime(st.ctimeNs),
  };
}

function toTime(t: NewTimestamp, current: bigint): number | Date {
  if (t.tag === 'now') return new Date();
  if (t.tag === 'timestamp') return Number(t.val.seconds) + t.val.nanoseconds / 1e9;
  return Number(current) / 1e9;
}

/** Run `fn`, turning FsFailure and Node errors into `err(code)`. */
function attempt<T>(fn: () => T): Result<T, FsErrorCode> {
  try {
    return ok(fn());
  } catch (e) {
    if (e instanceof FsFailure) return err(e.code);
    return err(fsErrorCode(e));
  }
}

/** Per-instance filesystem state shared by all descriptors. */
export interface FsState {
  readonly ctx: HostContext;
  readonly openFds: Set<number>;
  /** Disk quota and file count of writable mounts. */
  readonly quota: DiskQuota;
}

/** What a path operation needs from the gate. */
type Need = 'read' | 'write';

/** `descriptor` */
export class Descriptor {
  private fdClosed = false;

  constructor(
    private readonly st: FsState,
    readonly mount: RealMount,
    /** Canonical guest path (for a directory, the base of relative paths). */
    readonly guestPath: string,
    readonly hostPath: string,
    readonly kind: 'directory' | 'file',
    readonly fd: number | undefined,
    readonly flags: { read: boolean; write: boolean; append: boolean },
  ) {}

  // ---- the decision path -------------------------------------------------------------------

  /**
   * Canonicalize `rel` under this directory, hide forbidden paths, resolve symlinks inside the
   * mount and ask the gate for `needs`, both for the named path and for the real target.
   */
  private locate(rel: string, needs: Need[], api: string, follow: boolean): Resolved & { stat?: fs.BigIntStats } {
    if (this.kind !== 'directory') throw new FsFailure('not-directory');
    const gate = this.st.ctx.gate;
    const named = joinGuestPath(this.mount, this.guestPath, rel);
    if (gate.isHidden(named.path)) {
      gate.file(needs[0]!, named.path, API + api);
      throw new FsFailure('no-entry');
    }
    let resolved: Resolved;
    try {
      resolved = resolveReal(this.mount, named.path, follow);
    } catch (e) {
      if (e instanceof EscapeFailure) {
        gate.refuse(
          { capability: needs[0] === 'read' ? 'read_files' : 'write_files', resource: 'file', action: needs[0]!, target: named.path, api: API + api },
          `${named.path} resolves outside mount ${this.mount.guest} (symlink escape)`,
        );
      }
      throw e;
    }
    let stat: fs.BigIntStats | undefined;
    if (!resolved.missing) {
      try {
        stat = fs.lstatSync(resolved.host, { bigint: true });
      } catch (e) {
        const code = fsErrorCode(e);
        if (code !== 'no-entry') throw new FsFailure(code);
        resolved = { ...resolved, missing: true };
      }
    }
    const isDir = stat?.isDirectory() ?? false;
    if (named.mustBeDir && stat && !isDir) throw new FsFailure('not-directory');
    for (const need of needs) {
      for (const target of resolved.guest === named.path ? [named.path] : [named.path, resolved.guest]) {
        const d = gate.file(need, target, API + api, isDir, stat?.size);
        if (!d.allowed) throw new FsFailure(d.quota ? 'quota' : d.hidden ? 'no-entry' : 'access');
      }
    }
    return stat ? { ...resolved, stat } : resolved;
  }

  // ---- streams and data --------------------------------------------------------------------

  private fileFd(need: 'read' | 'write'): number {
    if (this.kind !== 'file' || this.fd === undefined || this.fdClosed) throw new FsFailure('bad-descriptor');
    if (need === 'read' && !this.flags.read) throw new FsFailure('bad-descriptor');
    if (need === 'write' && !this.flags.write) throw new FsFailure('bad-descriptor');
    return this.fd;
  }

  readViaStream(offset: bigint): Result<InputStream, FsErrorCode> {
    return attempt(() => {
      const fd = this.fileFd('read');
      let pos = offset;
      return new InputStream({
        waitable: alwaysReady,
        read: (max) => {
          try {
            const buf = new Uint8Array(max);
            const n = fs.readSync(fd, buf, 0, max, pos);
            if (n === 0 && max > 0) return null;
            pos += BigInt(n);
            return buf.subarray(0, n);
          } catch (e) {
            return { tag: 'last-operation-failed', val: new IoError(fsErrorCode(e)) } as StreamError;
          }
        },
      });
    });
  }

  private sizeCheck(fd: number, end: bigint): void {
    const max = BigInt(this.st.ctx.caps.maxFileSize);
    if (end > max) throw new FsFailure('file-too-large');
    if (this.st.quota.active) {
      const cur = fs.fstatSync(fd, { bigint: true }).size;
      if (end > cur) this.st.quota.charge(this.mount, Number(end - cur), 0, 'write', this.guestPath, API + 'write');
    }
  }

  writeViaStream(offset: bigint): Result<OutputStream, FsErrorCode> {
    return attempt(() => this.outputStream(offset, false));
  }

  appendViaStream(): Result<OutputStream, FsErrorCode> {
    return attempt(() => this.outputStream(0n, true));
  }

  private outputStream(offset: bigint, append: boolean): OutputStream {
    const fd = this.fileFd('write');
    let pos = offset;
    return new OutputStream({
      capacity: () => 1 << 20,
      write: (bytes) => {
        try {
          const at = append ? fs.fstatSync(fd, { bigint: true }).size : pos;
          this.sizeCheck(fd, at + BigInt(bytes.length));
          const n = fs.writeSync(fd, bytes, 0, bytes.length, Number(at));
          pos = at + BigInt(n);
          return undefined;
        } catch (e) {
          const code = e instanceof FsFailure ? e.code : fsErrorCode(e);
          return { tag: 'last-operation-failed', val: new IoError(code) };
        }
      },
    });
  }

  read(length: bigint, offset: bigint): Result<[Uint8Array, boolean], FsErrorCode> {
    return attempt(() => {
      const fd = this.fileFd('read');
      const len = Math.min(Number(length > 1n << 20n ? 1n << 20n : length), 1 << 20);
      const buf = new Uint8Array(len);
      const n = fs.readSync(fd, buf, 0, len, offset);
      return [buf.subarray(0, n), n < len || (n === 0 && len > 0)] as [Uint8Array, boolean];
    });
  }

  write(buffer: Uint8Array, offset: bigint): Result<bigint, FsErrorCode> {
    return attempt(() => {
      const fd = this.fileFd('write');
      this.sizeCheck(fd, offset + BigInt(buffer.length));
      return BigInt(fs.writeSync(fd, buffer, 0, buffer.length, Number(offset)));
    });
  }

  advise(): Result<undefined, FsErrorCode> {
    return ok(undefined);
  }

  syncData(): Result<undefined, FsErrorCode> {
    return attempt(() => {
      if (this.fd !== undefined && !this.fdClosed) fs.fdatasyncSync(this.fd);
      return undefined;
    });
  }

  sync(): Result<undefined, FsErrorCode> {
    return attempt(() => {
      if (this.fd !== undefined && !this.fdClosed) fs.fsyncSync(this.fd);
      return undefined;
    });
  }

  getFlags(): Result<DescriptorFlags, FsErrorCode> {
    return ok({ read: this.flags.read, write: this.flags.write, mutateDirectory: this.kind === 'directory' && this.flags.write });
  }

  getType(): Result<DescriptorType, FsErrorCode> {
    return attempt(() => {
      if (this.kind === 'directory') return 'directory';
      if (this.fd === undefined || this.fdClosed) throw new FsFailure('bad-descriptor');
      return typeOf(fs.fstatSync(this.fd));
    });
  }

  setSize(size: bigint): Result<undefined, FsErrorCode> {
    return attempt(() => {
      const fd = this.fileFd('write');
      const before = this.st.quota.active ? fs.fstatSync(fd, { bigint: true }).size : 0n;
      this.sizeCheck(fd, size);
      fs.ftruncateSync(fd, Number(size));
      if (size < before) this.st.quota.release(this.mount, Number(before - size), 0);
      return undefined;
    });
  }

  setTimes(atime: NewTimestamp, mtime: NewTimestamp): Result<undefined, FsErrorCode> {
    return attempt(() => {
      if (this.kind === 'directory') {
        const d = this.st.ctx.gate.file('write', this.guestPath, API + 'set-times', true);
        if (!d.allowed) throw new FsFailure(d.hidden ? 'no-entry' : 'access');
        const cur = fs.statSync(this.hostPath, { bigint: true });
        fs.utimesSync(this.hostPath, toTime(atime, cur.atimeNs), toTime(mtime, cur.mtimeNs));
        return undefined;
      }
      const fd = this.fileFd('write');
      const cur = fs.fstatSync(fd, { bigint: true });
      fs.futimesSync(fd, toTime(atime, cur.atimeNs), toTime(mtime, cur.mtimeNs));
      return undefined;
    });
  }

  stat(): Result<ReturnType<typeof statOf>, FsErrorCode> {
    return attempt(() => {
      if (this.kind === 'directory') return statOf(fs.statSync(this.hostPath, { bigint: true }));
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
      const entries = fs.readdirSync(this.hostPath, { withFileTypes: true });
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
      const r = this.locate(path, ['read'], 'stat-at', !!pathFlags.symlinkFollow);
      if (r.missing) throw new FsFailure('no-entry');
      const st = pathFlags.symlinkFollow ? fs.statSync(r.host, { bigint: true }) : r.stat!;
      return statOf(st);
    });
  }

  setTimesAt(pathFlags: PathFlags, path: string, atime: NewTimestamp, mtime: NewTimestamp): Result<undefined, FsErrorCode> {
    return attempt(() => {
      const r = this.locate(path, ['write'], 'set-times-at', !!pathFlags.symlinkFollow);
      if (r.missing) throw new FsFailure('no-entry');
      const cur = r.stat!;
      if (r.stat!.isSymbolicLink()) fs.lutimesSync(r.host, toTime(atime, cur.atimeNs), toTime(mtime, cur.mtimeNs));
      else fs.utimesSync(r.host, toTime(atime, cur.atimeNs), toTime(mtime, cur.mtimeNs));
      return undefined;
    });
  }

  linkAt(oldPathFlags: PathFlags, oldPath: string, newDescriptor: Descriptor, newPath: string): Result<undefined, FsErrorCode> {
    return attempt(() => {
      // A hard link makes the source writable under the new name: the source must be writable too.
      const from = this.locate(oldPath, ['read', 'write'], 'link-at', !!oldPathFlags.symlinkFollow);
      if (from.missing) throw new FsFailure('no-entry');
      const to = newDescriptor.sameMountOrFail(this).locate(newPath, ['write'], 'link-at', false);
      if (!to.missing) throw new FsFailure('exist');
      this.st.quota.charge(this.mount, 0, 1, 'create', to.guest, API + 'link-at');
      fs.linkSync(from.host, to.host);
      return undefined;
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
      const r = this.locate(path, needs, 'open-at', !!pathFlags.symlinkFollow);
      if (r.missing && !openFlags.create) throw new FsFailure('no-entry');
      if (!r.missing && openFlags.create && openFlags.exclusive) throw new FsFailure('exist');
      const isDir = r.stat?.isDirectory() ?? false;
      if (r.stat?.isSymbolicLink()) throw new FsFailure('loop');
      if (openFlags.directory || isDir) {
        if (r.missing) throw new FsFailure('no-entry');
        if (!isDir) throw new FsFailure('not-directory');
        if (flags.write || openFlags.truncate) throw new FsFailure('is-directory');
        return new Descriptor(this.st, this.mount, r.guest, r.host, 'directory', undefined, {
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
        fd = fs.openSync(r.host, mode, 0o644);
      } catch (e) {
        if (r.missing) this.st.quota.release(this.mount, 0, 1);
        throw e;
      }
      if (openFlags.truncate && r.stat) this.st.quota.release(this.mount, Number(r.stat.size), 0);
      this.st.openFds.add(fd);
      return new Descriptor(this.st, this.mount, r.guest, r.host, 'file', fd, {
        read: wantsRead,
        write: !!flags.write,
        append: false,
      });
    });
  }

  readlinkAt(path: string): Result<string, FsErrorCode> {
    return attempt(() => {
      const r = this.locate(path, ['read'], 'readlink-at', false);
      if (r.missing) throw new FsFailure('no-entry');
      if (!r.stat!.isSymbolicLink()) throw new FsFailure('invalid');
      return fs.readlinkSync(r.host, 'utf8');
    });
  }

  createDirectoryAt(path: string): Result<undefined, FsErrorCode> {
    return attempt(() => {
      const r = this.locate(path, ['write'], 'create-directory-at', false);
      if (!r.missing) throw new FsFailure('exist');
      this.st.quota.charge(this.mount, 0, 1, 'create', r.guest, API + 'create-directory-at');
      fs.mkdirSync(r.host);
      return undefined;
    });
  }

  removeDirectoryAt(path: string): Result<undefined, FsErrorCode> {
    return attempt(() => {
      const r = this.locate(path, ['write'], 'remove-directory-at', false);
      if (r.missing) throw new FsFailure('no-entry');
      if (r.guest === this.mount.guest) throw new FsFailure('busy');
      fs.rmdirSync(r.host);
      this.st.quota.release(this.mount, 0, 1);
      return undefined;
    });
  }

  renameAt(oldPath: string, newDescriptor: Descriptor, newPath: string): Result<undefined, FsErrorCode> {
    return attempt(() => {
      const from = this.locate(oldPath, ['write'], 'rename-at', false);
      if (from.missing) throw new FsFailure('no-entry');
      if (from.guest === this.mount.guest) throw new FsFailure('busy');
      if (from.stat?.isDirectory() && this.st.ctx.gate.mayHideBelow(from.guest)) {
        this.st.ctx.gate.refuse(
          { capability: 'write_files', resource: 'file', action: 'write', target: from.guest, api: API + 'rename-at' },
          `${from.guest} may contain paths matched by fileAccess.forbidden; moving it would expose them`,
        );
        throw new FsFailure('access');
      }
      const to = newDescriptor.sameMountOrFail(this).locate(newPath, ['write'], 'rename-at', false);
      fs.renameSync(from.host, to.host);
      return undefined;
    });
  }

  symlinkAt(oldPath: string, newPath: string): Result<undefined, FsErrorCode> {
    return attempt(() => {
      const link = this.locate(newPath, ['write'], 'symlink-at', false);
      if (!link.missing) throw new FsFailure('exist');
      // The target must be relative and stay inside the mount; it is re-checked on every use.
      const target = checkSymlinkTarget(this.mount, link.guest, oldPath);
      if (this.st.ctx.gate.isHidden(target)) {
        this.st.ctx.gate.file('read', target, API + 'symlink-at');
        throw new FsFailure('no-entry');
      }
      this.st.quota.charge(this.mount, 0, 1, 'create', link.guest, API + 'symlink-at');
      fs.symlinkSync(oldPath, link.host);
      return undefined;
    });
  }

  unlinkFileAt(path: string): Result<undefined, FsErrorCode> {
    return attempt(() => {
      const r = this.locate(path, ['write'], 'unlink-file-at', false);
      if (r.missing) throw new FsFailure('no-entry');
      if (r.stat!.isDirectory()) throw new FsFailure('is-directory');
      fs.unlinkSync(r.host);
      this.st.quota.release(this.mount, r.stat!.isFile() && r.stat!.nlink === 1n ? Number(r.stat!.size) : 0, 1);
      return undefined;
    });
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
    return fs.statSync(this.hostPath, { bigint: true });
  }

  metadataHash(): Result<{ lower: bigint; upper: bigint }, FsErrorCode> {
    return attempt(() => hashOf(this.identity()));
  }

  metadataHashAt(pathFlags: PathFlags, path: string): Result<{ lower: bigint; upper: bigint }, FsErrorCode> {
    return attempt(() => {
      const r = this.locate(path, ['read'], 'metadata-hash-at', !!pathFlags.symlinkFollow);
      if (r.missing) throw new FsFailure('no-entry');
      return hashOf(pathFlags.symlinkFollow ? fs.statSync(r.host, { bigint: true }) : r.stat!);
    });
  }

  [Symbol.dispose](): void {
    if (this.fd !== undefined && !this.fdClosed) {
      this.fdClosed = true;
      this.st.openFds.delete(this.fd);
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
    }
  }
}

function hashOf(st: fs.BigIntStats): { lower: bigint; upper: bigint } {
  const mask = (1n << 64n) - 1n;
  return { lower: (st.ino ^ (st.mtimeNs << 7n)) & mask, upper: (st.dev ^ st.size ^ (st.ctimeNs << 3n)) & mask };
}

/** `directory-entry-stream` */
export class DirectoryEntryStream {
  private index = 0;
  constructor(private readonly entries: { type: DescriptorType; name: string }[]) {}
  readDirectoryEntry(): Result<{ type: DescriptorType; name: string } | undefined, FsErrorCode> {
    return ok(this.entries[this.index++]);
  }
}
