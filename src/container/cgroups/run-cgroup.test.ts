// Real cgroups on this machine: a run's group with the seeds' limits, a real process moved in,
// pids.max stopping a fork loop, the memory cap OOM-killing a filler, the CPU quota, killAll on
// the whole tree (through cgroup.kill, and through the freezer where that is missing),
// remove() leaving nothing, and cleanupStale after a host that died. Every group is created
// under this process's own cgroups and removed in afterAll, so the host is unaffected.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeNeeds } from '../../../test/helpers/skip.js';
import { needs } from '../../../test/helpers/requirements.js';
import { createRunCgroup } from './create.js';
import { type CgroupLayout, detectCgroups } from './detect.js';
import { pidAlive } from './files.js';
import { type CgroupLimits, SEED_CGROUP_LIMITS } from './limits.js';
import { PARENT_GROUP, type RunCgroup } from './run-cgroup.js';
import { cleanupStale, listRunGroups } from './stale.js';

const tag = `t${Math.random().toString(36).slice(2, 8)}`;
const created: RunCgroup[] = [];
let n = 0;

function group(layout: CgroupLayout, limits: CgroupLimits, hostPid?: number): RunCgroup {
  const g = createRunCgroup(layout, { name: `${tag}-${++n}`, limits, ...(hostPid === undefined ? {} : { hostPid }) });
  created.push(g);
  return g;
}

/** `sh -c script` that waits for a line on stdin first, so it is in the group before it forks. */
function gated(g: RunCgroup, script: string): { child: ChildProcess; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> } {
  const child = spawn('sh', ['-c', `read _ ; ${script}`], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  g.addProcess(child.pid!);
  child.stdin!.write('\n');
  return { child, exit };
}

const deadOrZombie = (pid: number): boolean => {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
  } catch {
    return true;
  }
};

const until = async (cond: () => boolean, ms = 5_000): Promise<boolean> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
};

describeNeeds(needs.cgroups(), 'run cgroups on this host', () => {
  const layout = detectCgroups();

  afterAll(async () => {
    for (const g of created) await g.remove().catch(() => {});
    // Anything of ours a failed test left, then the parents if nobody else uses them.
    for (const [name, members] of listRunGroups(layout)) {
      if (name.includes(`-${tag}-`)) for (const m of members) spawnSync('rmdir', [m.dir]);
    }
    await cleanupStale(layout, { removeEmptyParents: true });
    expect([...listRunGroups(layout).keys()].filter((k) => k.includes(`-${tag}-`))).toEqual([]);
  });

  it('creates a group per hierarchy with the seeds\' limits, swap off, and moves a real process in', async () => {
    const g = group(layout, { ...SEED_CGROUP_LIMITS, memoryBytes: 256 << 20 });
    const read = (c: string, f: string) => readFileSync(join(g.dirOf(c)!, f), 'utf8').trim();
    const v1 = layout.controllers.get('memory')!.version === 1;
    expect(read('pids', 'pids.max')).toBe('20');
    if (v1) {
      expect(read('memory', 'memory.limit_in_bytes')).toBe(String(256 << 20));
      if (existsSync(join(g.dirOf('memory')!, 'memory.memsw.limit_in_bytes'))) expect(read('memory', 'memory.memsw.limit_in_bytes')).toBe(String(256 << 20));
      expect(read('cpu', 'cpu.shares')).toBe('512');
      expect(read('cpu', 'cpu.cfs_quota_us')).toBe('50000');
      expect(read('cpu', 'cpu.cfs_period_us')).toBe('100000');
    } else {
      expect(read('memory', 'memory.max')).toBe(String(256 << 20));
      expect(read('memory', 'memory.swap.max')).toBe('0');
      expect(read('cpu', 'cpu.max')).toBe('50000 100000');
    }
    const { child, exit } = gated(g, 'sleep 30');
    expect(await until(() => g.pids().length === 2)).toBe(true); // sh and sleep
    expect(g.pids()).toContain(child.pid);
    expect(g.usage()).toMatchObject({ pidsCurrent: 2 });
    expect(g.usage().memoryCurrentBytes).toBeGreaterThan(0);
    expect(g.events()).toEqual({ oomKilled: false, pidsLimitHit: false, cpuTimeExceeded: false });
    await g.killAll();
    expect((await exit).signal).toBe('SIGKILL');
    expect(g.pids()).toEqual([]);
    await g.remove();
    for (const m of g.members) expect(existsSync(m.dir)).toBe(false);
  });

  it('pids.max stops a fork loop (pidsLimitHit) and killAll ends the whole tree', async () => {
    const g = group(layout, { maxProcesses: 5 });
    const { exit } = gated(g, 'for i in $(seq 50); do sleep 30 & done; wait');
    expect(await until(() => g.events().pidsLimitHit)).toBe(true);
    expect(g.usage().pidsCurrent).toBeLessThanOrEqual(5);
    const tree = g.pids();
    expect(tree.length).toBeGreaterThan(1);
    await g.killAll();
    const r = await exit;
    // dash gives up at the first failed fork (or dies of the kill); its sleeps stay in the group either way.
    expect(r.code === 2 || r.signal === 'SIGKILL').toBe(true);
    expect(r.stderr).toMatch(/fork|resource|again/i);
    expect(g.pids()).toEqual([]);
    // Dead: gone, or a zombie waiting for whoever inherited it (pid 1 may reap lazily).
    expect(await until(() => tree.every(deadOrZombie))).toBe(true);
  });

  it('the memory cap OOM-kills a filler (oomKilled) and nothing outside the group', async () => {
    const g = group(layout, { memoryBytes: 64 << 20 });
    // tail keeps a line that never ends in memory: 300 MiB against a 64 MiB cap.
    const { exit } = gated(g, 'head -c 300M /dev/zero | tail -n 1 > /dev/null; echo "filler status $?" >&2');
    const r = await exit;
    expect(r.stderr).toMatch(/filler status 137/); // tail died of SIGKILL; the shell itself survived
    expect(g.events().oomKilled).toBe(true);
    expect(g.usage().memoryPeakBytes).toBeLessThanOrEqual((64 << 20) + (1 << 20));
    expect(pidAlive(process.pid)).toBe(true);
  });

  it('the CPU quota holds a busy loop near half a core, and cpu time reaches maxCpuTimeNs', async () => {
    const g = group(layout, { cpuQuotaUs: 50_000, cpuPeriodUs: 100_000, maxCpuTimeNs: 100_000_000 });
    const { exit } = gated(g, 'while :; do :; done');
    const t0 = g.cpuTimeNs()!;
    const w0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, 1_000));
    const used = g.cpuTimeNs()! - t0;
    const wall = Number(process.hrtime.bigint() - w0);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThan(wall * 0.5 + 150_000_000); // 50 ms per 100 ms, plus one period's slack
    expect(g.events().cpuTimeExceeded).toBe(true);
    await g.killAll();
    expect((await exit).signal).toBe('SIGKILL');
  });

  it('killAll without cgroup.kill: freeze, SIGKILL every pid, thaw, until empty', async () => {
    // The same host seen without its unified hierarchy: the run joins the v1 freezer instead.
    const noUnified: CgroupLayout = { ...layout, hierarchies: layout.hierarchies.filter((h) => h !== layout.unified), unified: undefined };
    const g = group(noUnified, { maxProcesses: 20 });
    expect(g.members.some((m) => m.version === 2)).toBe(false);
    const { exit } = gated(g, 'for i in 1 2 3 4 5; do sh -c "sleep 30 & sleep 30" & done; wait');
    expect(await until(() => g.pids().length >= 11)).toBe(true);
    await g.killAll();
    expect((await exit).signal).toBe('SIGKILL');
    expect(g.pids()).toEqual([]);
    if (noUnified.controllers.get('freezer')?.writable) {
      expect(readFileSync(join(g.dirOf('freezer')!, 'freezer.state'), 'utf8').trim()).toBe('THAWED');
    }
  });

  it('cleanupStale removes a group named after a dead host pid, killing what is inside', async () => {
    const dead = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
    const deadPid = Number(dead);
    expect(pidAlive(deadPid)).toBe(false);
    const stale = group(layout, { maxProcesses: 5 }, deadPid);
    const mine = group(layout, { maxProcesses: 5 });
    const { exit } = gated(stale, 'sleep 30');
    const r = await cleanupStale(layout);
    expect(r.removed).toContain(stale.name);
    expect(r.removed).not.toContain(mine.name);
    expect((await exit).signal).toBe('SIGKILL');
    for (const m of stale.members) expect(existsSync(m.dir)).toBe(false);
    for (const m of mine.members) expect(existsSync(m.dir)).toBe(true);
    expect(existsSync(join(layout.controllers.get('pids')!.base, PARENT_GROUP))).toBe(true);
  });
});
