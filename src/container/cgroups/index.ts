/**
 * cgroups for native agents: detect where the controllers live (v1, v2 or hybrid), create one
 * group per run with the policy's limits (or refuse), move the sandbox's first process in,
 * read usage and limit events, kill the whole tree, remove the groups, and clean up after a
 * host that crashed.
 *
 * @example
 * ```ts
 * import { cleanupStale, createRunCgroup, detectCgroups, SEED_CGROUP_LIMITS } from './cgroups/index.js';
 * const layout = detectCgroups();
 * await cleanupStale(layout);                        // once, when the spawner starts
 * const cg = createRunCgroup(layout, { name: runId, limits: { ...SEED_CGROUP_LIMITS, memoryBytes: 256 << 20 } });
 * cg.addProcess(bwrapChildPid);                      // from --info-fd, before releasing --block-fd
 * // ... run; poll cg.events().cpuTimeExceeded if maxCpuTimeNs is set ...
 * const { oomKilled, pidsLimitHit } = cg.events();   // MEMORY_LIMIT / QUOTA_EXCEEDED
 * await cg.killAll();
 * await cg.remove();
 * ```
 */
export { createRunCgroup } from './create.js';
export { detectCgroups, type CgroupHierarchy, type CgroupLayout, type DetectSources } from './detect.js';
export {
  CgroupLimitError,
  SEED_CGROUP_LIMITS,
  assertEnforceable,
  cpuWeightFromShares,
  planLimitWrites,
  validateLimits,
  type CgroupLimits,
  type LimitWrite,
} from './limits.js';
export { cgroupLayoutKind, ownCgroups, parseCgroupMounts, type CgroupLayoutKind, type CgroupMount } from './mountinfo.js';
export { PARENT_GROUP, RunCgroup, type CgroupEvents, type CgroupMember, type CgroupUsage, type CreateRunCgroupOptions } from './run-cgroup.js';
export { cleanupStale, listRunGroups, type CleanupOptions, type StaleCleanup } from './stale.js';
