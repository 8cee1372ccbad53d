/**
 * `wasi:filesystem/preopens` and `wasi:filesystem/types`.
 *
 * Only the policy's mounts exist, and only when the policy grants `read_files` or
 * `write_files`; each is a preopened directory at its guest path. What happens under them is
 * decided per operation by the gate (see descriptor.ts).
 */
import { closeSync, constants, openSync, realpathSync } from 'node:fs';
import type { HostContext } from '../context.js';
import { Descriptor, DirectoryEntryStream, type FsState } from './descriptor.js';
import { DiskQuota } from './disk-quota.js';
import { isFsErrorCode, type FsErrorCode } from './errors.js';
import { IoError } from '../io.js';
import type { RealMount } from './paths.js';

/** Build the filesystem imports for one instance. */
export function filesystemImports(ctx: HostContext): { imports: Record<string, Record<string, unknown>>; close(): void } {
  const limits = ctx.gate.quota?.policy;
  const st: FsState = { ctx, openFds: new Set(), quota: new DiskQuota({ diskQuota: limits?.diskQuota, maxFiles: limits?.maxFiles }, ctx.gate) };
  let preopens: [Descriptor, string][] | undefined;
  const getDirectories = (): [Descriptor, string][] => {
    if (!preopens) {
      const gate = ctx.gate;
      const granted = gate.capabilityGranted('read_files').allowed || gate.capabilityGranted('write_files').allowed;
      preopens = [];
      if (granted) {
        for (const m of gate.mounts) {
          let real: string;
          let rootFd: number;
          try {
            real = realpathSync(m.host);
            // Every path under the mount is resolved from this descriptor (beneath.ts).
            rootFd = openSync(real, constants.O_RDONLY | constants.O_DIRECTORY);
          } catch {
            continue; // a missing host directory was reported when the policy was loaded
          }
          st.openFds.add(rootFd);
          const mount: RealMount = { guest: m.guest, host: m.host, mode: m.mode, real, rootFd };
          preopens.push([
            new Descriptor(st, mount, m.guest, 'directory', undefined, { read: true, write: m.mode === 'rw', append: false }),
            m.guest,
          ]);
        }
      }
    }
    return preopens.slice();
  };
  return {
    imports: {
      'wasi:filesystem/preopens': { getDirectories },
      'wasi:filesystem/types': {
        Descriptor,
        DirectoryEntryStream,
        // A failed file stream carries the filesystem error it met (see descriptor.ts), so
        // libc gets EDQUOT or EFBIG rather than a bare EIO.
        filesystemErrorCode: (e: unknown): FsErrorCode | undefined => {
          const code = e instanceof IoError ? e.toDebugString() : undefined;
          return code !== undefined && isFsErrorCode(code) ? code : undefined;
        },
      },
    },
    close() {
      for (const fd of st.openFds) {
        try {
          closeSync(fd);
        } catch {
          // ignore
        }
      }
      st.openFds.clear();
    },
  };
}
