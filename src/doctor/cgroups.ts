/**
 * The cgroup check: which hierarchy layout the host has (v1, v2 unified, or hybrid), which of
 * the controllers a native sandbox caps agents with are available and where, and whether this
 * process can create cgroups there. Read from `/proc/self/mountinfo` and `/proc/self/cgroup`,
 * never written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroups } from '../container/cgroups/detect.js';
import { cgroupLayoutKind, ownCgroups, parseCgroupMounts, type CgroupLayoutKind, type CgroupMount } from '../container/cgroups/mountinfo.js';
import type { CheckResult } from './types.js';

// The parsing lives with the runtime that creates the cgroups (src/container/cgroups/); the
// doctor reports what that same detection finds, so the two cannot disagree.
export { ownCgroups, parseCgroupMounts, cgroupLayoutKind as cgroupLayout, type CgroupLayoutKind, type CgroupMount };

/** The controllers the native runtimes use: memory and process caps, CPU shares and accounting. */
export const WANTED_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'] as const;

function readMountinfo(): string {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
}

/**
 * Layout, wanted controllers and where they are, writability, whether process moves are quick. Ready when memory and pids are
 * available and this process can create cgroups under them.
 */
export async function checkCgroups(files: { mountinfo?: string; procSelfCgroup?: string } = {}): Promise<CheckResult> {
  if (process.platform !== 'linux') return { status: 'unavailable', detail: `cgroups are Linux only (this is ${process.platform})` };
  // One read of mountinfo for the layout and the favordynmods note.
  const mountinfo = files.mountinfo ?? readMountinfo();
  const layout = detectCgroups({ ...files, mountinfo });
  if (layout.kind === 'none') return { status: 'unavailable', detail: 'no cgroup hierarchy is mounted', fix: 'mount cgroup2 at /sys/fs/cgroup' };
  const where = layout.controllers;
  const notes: string[] = [];
  if (layout.unified) {
    const u = layout.unified;
    const kill = existsSync(join(u.base, 'cgroup.kill')) ? ', cgroup.kill' : '';
    notes.push(`unified hierarchy at ${u.mountPoint} (controllers: ${u.controllers.join(' ') || 'none'}${kill})`);
  }
  const available = WANTED_CONTROLLERS.filter((c) => where.has(c));
  const absent = WANTED_CONTROLLERS.filter((c) => !where.has(c));
  const byVersion = (v: 1 | 2) => available.filter((c) => where.get(c)!.version === v);
  const parts: string[] = [layout.kind === 'v2' ? 'v2 (unified)' : layout.kind];
  if (byVersion(1).length > 0) parts.push(`${byVersion(1).join(' ')} on v1`);
  if (byVersion(2).length > 0) parts.push(`${byVersion(2).join(' ')} on v2`);
  if (absent.length > 0) parts.push(`no ${absent.join(' ')}`);
  parts.push(...notes);
  // Each native run moves its sandbox into a group; without favordynmods the move waits for an
  // RCU grace period (5–25 ms measured on a 2-core VM), the largest part of a run's overhead.
  const mounts = parseCgroupMounts(mountinfo);
  const favored = mounts.find((m) => m.favorDynmods);
  const tunable = mounts.find((m) => m.version === 2) ?? mounts[0];
  parts.push(
    favored
      ? `process moves quick (favordynmods on ${favored.mountPoint})`
      : `process moves wait for an RCU grace period (+5–25 ms per native run; mount -o remount,favordynmods ${tunable?.mountPoint ?? '/sys/fs/cgroup'} makes them quick, host-wide)`,
  );
  const readOnly: string[] = [];
  for (const c of available) if (!where.get(c)!.writable) readOnly.push(c);
  parts.push(readOnly.length === 0 ? (available.length > 0 ? 'writable' : 'nothing to write') : `not writable: ${readOnly.join(' ')}`);
  const detail = parts.join('; ');
  if (!where.has('memory') || !where.has('pids')) {
    return { status: 'unavailable', detail, fix: 'enable the memory and pids controllers (kernel boot options, or a container runtime that delegates them)' };
  }
  if (readOnly.includes('memory') || readOnly.includes('pids')) {
    return { status: 'unavailable', detail, fix: 'run as root, or in a cgroup delegated to this user (systemd-run --user --scope -p Delegate=yes)' };
  }
  return { status: 'ready', detail };
}
