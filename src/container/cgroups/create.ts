/**
 * Creating a run's cgroups: one directory `agentos/<host pid>-<run id>` per joined hierarchy,
 * the limits written, or a refusal with nothing left behind.
 *
 * @example
 * ```ts
 * const cg = createRunCgroup(detectCgroups(), { name: runId, limits: { ...SEED_CGROUP_LIMITS, memoryBytes: 64 << 20 } });
 * cg.notes; // e.g. [] — or why swap is kept off another way
 * ```
 */
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import type { CgroupHierarchy, CgroupLayout } from './detect.js';
import { readText, writeControl } from './files.js';
import { CONTROLLER_FOR, CgroupLimitError, assertEnforceable, limitsSet, planLimitWrites, refuse, validateLimits } from './limits.js';
import { type CgroupMember, type CreateRunCgroupOptions, PARENT_GROUP, RunCgroup, memberFor } from './run-cgroup.js';

/** The controllers a run joins when their hierarchy is writable, for limits and for `usage()`. */
const USED_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct'] as const;

const NAME = /^[A-Za-z0-9_.-]{1,100}$/;

function hostHasSwap(): boolean {
  return (readText('/proc/swaps') ?? '').trim().split('\n').length > 1;
}

// v2 hands a controller to children only when enabled in the parent's cgroup.subtree_control.
function enableV2(dir: string, controllers: readonly string[]): string[] {
  const failed: string[] = [];
  const on = new Set((readText(join(dir, 'cgroup.subtree_control')) ?? '').split(/\s+/));
  for (const c of controllers) {
    if (on.has(c)) continue;
    try {
      writeControl(join(dir, 'cgroup.subtree_control'), `+${c}`);
    } catch (e) {
      failed.push(`${c} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return failed;
}

/**
 * Create a run's cgroups and set its limits, or refuse. Throws {@link CgroupLimitError}
 * (`CAPABILITY_DENIED`) when a limit cannot be enforced here (controller missing, not
 * writable, the kernel refusing the value), {@link UsageError} for a bad name or value or a
 * name in use. On any failure nothing is left behind.
 *
 * @example
 * ```ts
 * const cg = createRunCgroup(detectCgroups(), { name: 'run-1', limits: { maxProcesses: 20 } });
 * ```
 */
export function createRunCgroup(layout: CgroupLayout, options: CreateRunCgroupOptions): RunCgroup {
  const limits = options.limits ?? {};
  const hostPid = options.hostPid ?? process.pid;
  if (!NAME.test(options.name) || options.name.startsWith('.')) throw new UsageError(`cgroup run name must match ${NAME.source} (got ${JSON.stringify(options.name)})`);
  if (!Number.isSafeInteger(hostPid) || hostPid <= 0) throw new UsageError(`hostPid must be a positive integer (got ${hostPid})`);
  validateLimits(limits);
  assertEnforceable(layout, limits);
  const name = `${hostPid}-${options.name}`;
  const required = new Set(limitsSet(limits).map((k) => CONTROLLER_FOR[k]));
  // hierarchy -> the controllers we want from it
  const joins = new Map<CgroupHierarchy, string[]>();
  for (const c of USED_CONTROLLERS) {
    const h = layout.controllers.get(c);
    if (h?.writable) joins.set(h, [...(joins.get(h) ?? []), c]);
  }
  if (layout.unified?.writable && !joins.has(layout.unified)) joins.set(layout.unified, []);
  const members: CgroupMember[] = [];
  const notes: string[] = [];
  const limitOf = (controller: string) => limitsSet(limits).find((k) => CONTROLLER_FOR[k] === controller)!;
  const mkGroup = (h: CgroupHierarchy, wanted: readonly string[]): void => {
    const parent = join(h.base, PARENT_GROUP);
    const dir = join(parent, name);
    const needed = wanted.find((c) => required.has(c));
    // Up to three tries: a concurrent cleanupStale({ removeEmptyParents }) may rmdir the parent
    // between our mkdir of it and of the run's group (ENOENT).
    for (let attempt = 1; ; attempt++) {
      try {
        mkdirSync(parent, { recursive: true });
        if (h.version === 2) enableV2Pair(h.base, parent, wanted);
        mkdirSync(dir);
        members.push(memberFor(h, dir));
        return;
      } catch (e) {
        if (e instanceof CgroupLimitError) throw e;
        const code = (e as NodeJS.ErrnoException).code ?? 'error';
        if (code === 'ENOENT' && attempt < 3) continue;
        if (code === 'EEXIST') throw new UsageError(`cgroup ${dir} already exists: run name ${options.name} is in use`);
        if (needed !== undefined) throw refuse(limitOf(needed), `cannot create ${dir} (${code})`, 'run as root, or in a delegated cgroup');
        notes.push(`skipped ${h.mountPoint}: cannot create ${dir} (${code}); no limit needs it`);
        return;
      }
    }
  };
  // v2: the controllers must be on in the base's and the parent's cgroup.subtree_control.
  const enableV2Pair = (base: string, parent: string, wanted: readonly string[]): void => {
    const toEnable = wanted.filter((c) => c !== 'cpuacct');
    for (const d of [base, parent]) {
      const failed = enableV2(d, toEnable);
      const hard = failed.find((f) => required.has(f.split(' ')[0]!));
      if (hard !== undefined) {
        throw refuse(limitOf(hard.split(' ')[0]!), `cannot enable it in ${d}/cgroup.subtree_control: ${hard}`, 'cgroup v2 hands controllers to children only from a cgroup without processes of its own: start the host in a leaf cgroup of a delegated subtree');
      }
      if (failed.length > 0) notes.push(`not enabled in ${d}: ${failed.join(', ')}; no limit needs it, usage() omits it`);
    }
  };
  try {
    for (const [h, wanted] of joins) mkGroup(h, wanted);
    // Without cgroup.kill, killAll freezes first so no fork slips between listing and killing.
    const hasKill = members.some((m) => m.version === 2 && existsSync(join(m.dir, 'cgroup.kill')));
    const freezer = layout.controllers.get('freezer');
    if (!hasKill && freezer?.version === 1 && freezer.writable && !joins.has(freezer)) mkGroup(freezer, ['freezer']);
    const run = new RunCgroup(name, members, layout, limits, notes);
    const versionOf = (c: string): 1 | 2 => layout.controllers.get(c)!.version;
    for (const w of planLimitWrites(limits, versionOf)) {
      const dir = run.dirOf(w.controller);
      if (dir === undefined) throw refuse(w.limit, `the run's group did not get the ${w.controller} controller`, 'check cgroup.subtree_control along the host\'s cgroup path');
      const path = join(dir, w.file);
      try {
        writeControl(path, w.value);
      } catch (e) {
        throw refuse(w.limit, `the kernel refused ${w.value} in ${path} (${(e as NodeJS.ErrnoException).code})`, 'check the value against the kernel range, or the parent group\'s own limit');
      }
    }
    if (limits.memoryBytes !== undefined) applySwap(run, versionOf('memory'), limits.memoryBytes, limits.swapBytes, notes);
    return run;
  } catch (e) {
    for (const m of members.reverse()) {
      try {
        rmdirSync(m.dir);
      } catch {
        // best effort: the group holds no process yet
      }
    }
    throw e;
  }
}

// Swap is off unless the policy gives some. Where the kernel does not account swap per group,
// a host without swap needs nothing, v1 can still keep the group out of swap with
// swappiness 0 (only for "no swap"), and anything else is refused.
function applySwap(run: RunCgroup, version: 1 | 2, memory: number, swapBytes: number | undefined, notes: string[]): void {
  const dir = run.dirOf('memory')!;
  const swap = swapBytes ?? 0;
  // A refusal names what the policy set: the swap allowance, or the memory cap whose "swap off" cannot hold.
  const limit = swapBytes === undefined ? 'memoryBytes' : 'swapBytes';
  const file = version === 1 ? 'memory.memsw.limit_in_bytes' : 'memory.swap.max';
  const value = version === 1 ? memory + swap : swap;
  if (existsSync(join(dir, file))) {
    try {
      writeControl(join(dir, file), String(value));
      return;
    } catch (e) {
      throw refuse(limit, `the kernel refused ${value} in ${join(dir, file)} (${(e as NodeJS.ErrnoException).code})`, 'check the value');
    }
  }
  if (!hostHasSwap()) {
    notes.push(`no per-cgroup swap accounting (${file} is missing), but this host has no active swap: nothing can be swapped`);
    return;
  }
  if (version === 1 && swap === 0) {
    try {
      writeControl(join(dir, 'memory.swappiness'), '0');
    } catch (e) {
      throw refuse(limit, `swap is not accounted per cgroup (${file} is missing) and the kernel refused memory.swappiness=0 (${(e as NodeJS.ErrnoException).code})`, 'boot with swap accounting (swapaccount=1), or turn swap off');
    }
    notes.push(`no per-cgroup swap accounting (${file} is missing): memory.swappiness=0 keeps the group out of swap`);
    return;
  }
  throw refuse(limit, `this kernel does not account swap per cgroup (${file} is missing) and this host has active swap`, 'boot with swap accounting (swapaccount=1), or turn swap off');
}
