/**
 * Cleaning up after a host that died mid-run: its run groups stay behind (cgroups outlive
 * processes), possibly with the agent's processes still inside if `--die-with-parent` could
 * not reach them. The spawner calls {@link cleanupStale} when it starts, so a crash is
 * cleaned on the next start.
 *
 * @example
 * ```ts
 * const { removed, failed } = await cleanupStale(detectCgroups());
 * for (const f of failed) console.warn(`stale cgroup ${f.name}: ${f.message}`);
 * ```
 */
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import type { CgroupLayout } from './detect.js';
import { pidAlive } from './files.js';
import { PARENT_GROUP, RunCgroup, type CgroupMember, memberFor } from './run-cgroup.js';

/** What {@link cleanupStale} did. */
export interface StaleCleanup {
  /** Run groups (`<pid>-<run id>`) removed from every hierarchy. */
  readonly removed: readonly string[];
  /** Run groups it could not remove, with the reason. */
  readonly failed: readonly { readonly name: string; readonly message: string }[];
}

/** Options of {@link cleanupStale}. */
export interface CleanupOptions {
  /**
   * Also remove the `agentos` parent groups when they end up empty (default false: a
   * concurrently starting host may be about to use them, and an empty parent costs nothing).
   * A host shutting down for good, or a test, sets it.
   */
  readonly removeEmptyParents?: boolean;
}

/** The run groups under `agentos` in every writable hierarchy, by name. */
export function listRunGroups(layout: CgroupLayout): Map<string, CgroupMember[]> {
  const groups = new Map<string, CgroupMember[]>();
  for (const h of layout.hierarchies) {
    if (!h.writable) continue;
    const parent = join(h.base, PARENT_GROUP);
    let entries: string[];
    try {
      entries = readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    } catch {
      continue;
    }
    for (const name of entries) {
      if (!/^\d+-/.test(name)) continue;
      groups.set(name, [...(groups.get(name) ?? []), memberFor(h, join(parent, name))]);
    }
  }
  return groups;
}

/**
 * Remove every run group whose host pid is no longer alive, killing
 * whatever still runs inside first. Groups of live hosts, this one included, are left alone;
 * a reused pid keeps its dead predecessor's groups until that pid exits too (we never guess
 * that a live process is not a host). Never throws: failures are listed.
 */
export async function cleanupStale(layout: CgroupLayout, options: CleanupOptions = {}): Promise<StaleCleanup> {
  const removed: string[] = [];
  const failed: { name: string; message: string }[] = [];
  for (const [name, members] of listRunGroups(layout)) {
    const pid = Number(name.slice(0, name.indexOf('-')));
    if (pid === process.pid || pidAlive(pid)) continue;
    const group = new RunCgroup(name, members, layout, {}, []);
    try {
      await group.killAll();
      await group.remove();
      removed.push(name);
    } catch (e) {
      failed.push({ name, message: e instanceof Error ? e.message : String(e) });
    }
  }
  if (options.removeEmptyParents) {
    for (const h of layout.hierarchies) {
      const parent = join(h.base, PARENT_GROUP);
      if (!h.writable || !existsSync(parent)) continue;
      try {
        rmdirSync(parent);
      } catch {
        // not empty (another host's runs) or busy: leave it
      }
    }
  }
  return { removed, failed };
}
