/**
 * Disk quota and file count for writable mounts (`resourceLimits.diskQuota`, `maxFiles`).
 *
 * What a mount holds is measured when the instance first changes something under it (a walk of
 * the host directory, bounded), then kept up to date by the operations that add or remove
 * bytes and entries. An operation that would go over is refused with the filesystem's own
 * `quota` error and recorded as `limit_exceeded`; nothing is written.
 *
 * @example
 * ```ts
 * const quota = new DiskQuota({ diskQuota: 10 * 2 ** 20, maxFiles: 100 }, gate);
 * quota.charge(mount, grownBytes, 0, 'write', '/scratch/out.txt'); // throws FsFailure('quota') when over
 * ```
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Gate } from '../../gate/gate.js';
import { FsFailure } from './errors.js';
import type { RealMount } from './paths.js';

/** Entries walked at most when measuring a mount; a bigger tree counts as over any file quota. */
const WALK_LIMIT = 200_000;

interface Usage {
  bytes: number;
  files: number;
}

/** Per-instance accounting of writable mounts. */
export class DiskQuota {
  private readonly usage = new Map<string, Usage>();

  constructor(
    private readonly limits: { readonly diskQuota?: number | undefined; readonly maxFiles?: number | undefined },
    private readonly gate: Gate,
  ) {}

  /** Whether any quota applies. */
  get active(): boolean {
    return this.limits.diskQuota !== undefined || this.limits.maxFiles !== undefined;
  }

  private measure(mount: RealMount): Usage {
    let u = this.usage.get(mount.guest);
    if (u) return u;
    u = { bytes: 0, files: 0 };
    const stack = [mount.real];
    let seen = 0;
    while (stack.length > 0 && seen < WALK_LIMIT) {
      const dir = stack.pop()!;
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (++seen > WALK_LIMIT) break;
        try {
          const st = lstatSync(join(dir, name));
          u.files++;
          if (st.isFile()) u.bytes += st.size;
          else if (st.isDirectory()) stack.push(join(dir, name));
        } catch {
          // Gone meanwhile: not counted.
        }
      }
    }
    if (seen >= WALK_LIMIT) u.files = Math.max(u.files, WALK_LIMIT);
    this.usage.set(mount.guest, u);
    return u;
  }

  /**
   * Account for an operation under `mount` that adds `bytes` and `files` (either may be 0).
   * Throws `FsFailure('quota')`, after recording the refusal, when it would exceed a quota.
   */
  charge(mount: RealMount, bytes: number, files: number, action: string, target: string, api: string): void {
    if (!this.active || mount.mode !== 'rw' || (bytes <= 0 && files <= 0)) return;
    const u = this.measure(mount);
    const over =
      this.limits.diskQuota !== undefined && bytes > 0 && u.bytes + bytes > this.limits.diskQuota
        ? { limit: 'resourceLimits.diskQuota', requested: bytes, allowed: this.limits.diskQuota, used: u.bytes }
        : this.limits.maxFiles !== undefined && files > 0 && u.files + files > this.limits.maxFiles
          ? { limit: 'resourceLimits.maxFiles', requested: files, allowed: this.limits.maxFiles, used: u.files }
          : undefined;
    if (over) {
      this.gate.record({
        type: 'limit_exceeded',
        capability: 'write_files',
        resource: 'file',
        action,
        target,
        outcome: 'denied',
        reason: `QUOTA_EXCEEDED: ${over.limit} allows ${over.allowed} under mount ${mount.guest} and ${over.used} are used; raise it in the policy or free space`,
        api,
        details: over,
      });
      throw new FsFailure('quota');
    }
    u.bytes += Math.max(0, bytes);
    u.files += Math.max(0, files);
  }

  /** Account for bytes and entries removed under `mount`. */
  release(mount: RealMount, bytes: number, files: number): void {
    const u = this.usage.get(mount.guest);
    if (!u) return;
    u.bytes = Math.max(0, u.bytes - Math.max(0, bytes));
    u.files = Math.max(0, u.files - Math.max(0, files));
  }
}
