/**
 * The data half of `wasi:filesystem/types.descriptor`: what an open file does (streams, reads
 * and writes at offsets, sync, size, flags, close), on the host file descriptor whose rights
 * were decided when it was opened. The path half, where every decision is made, is
 * descriptor.ts.
 */
import * as fs from 'node:fs';
import type { HostContext } from '../context.js';
import { err, InputStream, IoError, ok, OutputStream, alwaysReady, type Result, type StreamError } from '../io.js';
import type { DiskQuota } from './disk-quota.js';
import { FsFailure, fsErrorCode, type FsErrorCode } from './errors.js';
import type { RealMount } from './paths.js';
import { typeOf, type DescriptorFlags, type DescriptorType } from './values.js';

export const API = 'wasi:filesystem/types#';

/** Run `fn`, turning FsFailure and Node errors into `err(code)`. */
export function attempt<T>(fn: () => T): Result<T, FsErrorCode> {
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
/** A descriptor's state and its file operations; {@link Descriptor} adds the path operations. */
export abstract class FileOps {
  protected fdClosed = false;

  constructor(
    protected readonly st: FsState,
    readonly mount: RealMount,
    /** Canonical guest path (for a directory, the base of relative paths). */
    readonly guestPath: string,
    readonly kind: 'directory' | 'file',
    readonly fd: number | undefined,
    readonly flags: { read: boolean; write: boolean; append: boolean },
  ) {}

  // ---- streams and data --------------------------------------------------------------------

  protected fileFd(need: 'read' | 'write'): number {
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

  protected sizeCheck(fd: number, end: bigint): void {
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
