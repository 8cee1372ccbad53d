// Pure parts of the cgroup module: detection from sample texts, limit validation, the files
// each limit writes on v1 and v2, and refusal where a controller is missing or not writable.
// None of it touches /sys/fs/cgroup.
import { describe, expect, it } from 'vitest';
import { SandboxError, UsageError } from '../../errors.js';
import { type CgroupHierarchy, type CgroupLayout, detectCgroups } from './detect.js';
import { CgroupLimitError, SEED_CGROUP_LIMITS, assertEnforceable, cpuWeightFromShares, planLimitWrites, validateLimits } from './limits.js';
import { HYBRID_MOUNTINFO as HYBRID } from '../../../test/helpers/mountinfo-samples.js';


function fakeLayout(controllers: Record<string, Partial<CgroupHierarchy>>): CgroupLayout {
  const map = new Map<string, CgroupHierarchy>();
  for (const [c, h] of Object.entries(controllers)) {
    map.set(c, { version: 1, mountPoint: `/sys/fs/cgroup/${c}`, controllers: [c], base: `/sys/fs/cgroup/${c}`, writable: true, ...h });
  }
  return { kind: 'v1', hierarchies: [...new Set(map.values())], controllers: map, unified: undefined };
}

describe('detectCgroups from sample texts', () => {
  it('hybrid: one hierarchy per v1 mount (named ones left out), co-mounted cpu,cpuacct shared, the unified one kept', () => {
    const layout = detectCgroups({ mountinfo: HYBRID, procSelfCgroup: '4:memory:/\n0::/\n' });
    expect(layout.kind).toBe('hybrid');
    expect(layout.hierarchies.map((h) => h.mountPoint)).toEqual(['/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/memory', '/sys/fs/cgroup/pids', '/sys/fs/cgroup/unified']);
    expect(layout.controllers.get('cpu')).toBe(layout.controllers.get('cpuacct'));
    expect(layout.controllers.get('memory')?.version).toBe(1);
    expect(layout.unified?.mountPoint).toBe('/sys/fs/cgroup/unified');
  });

  it('nothing mounted: kind none, no controllers', () => {
    const layout = detectCgroups({ mountinfo: '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n', procSelfCgroup: '' });
    expect(layout).toMatchObject({ kind: 'none', hierarchies: [], unified: undefined });
    expect(layout.controllers.size).toBe(0);
  });

  it('pure v2: cpu accounting maps to the unified hierarchy (every v2 group has cpu.stat)', () => {
    const layout = detectCgroups({ mountinfo: '30 23 0:26 / /nonexistent/cgroup rw - cgroup2 cgroup2 rw\n', procSelfCgroup: '0::/\n' });
    expect(layout.kind).toBe('v2');
    expect(layout.controllers.get('cpuacct')).toBe(layout.unified);
  });
});

describe('limits', () => {
  it('validates ranges and swap without memory', () => {
    expect(() => validateLimits(SEED_CGROUP_LIMITS)).not.toThrow();
    expect(() => validateLimits({ maxProcesses: 0 })).toThrow(UsageError);
    expect(() => validateLimits({ memoryBytes: 1.5 })).toThrow(/memoryBytes must be an integer/);
    expect(() => validateLimits({ cpuPeriodUs: 5_000_000 })).toThrow(/cpuPeriodUs/);
    expect(() => validateLimits({ swapBytes: 0 })).toThrow(/needs memoryBytes/);
  });

  it('cpu.weight from cpu.shares as runc maps it', () => {
    expect(cpuWeightFromShares(2)).toBe(1);
    expect(cpuWeightFromShares(512)).toBe(20);
    expect(cpuWeightFromShares(1024)).toBe(39);
    expect(cpuWeightFromShares(262144)).toBe(10000);
  });

  it('v1 files, period before quota', () => {
    const w = planLimitWrites({ ...SEED_CGROUP_LIMITS, memoryBytes: 64 << 20 }, () => 1);
    expect(w.map((x) => `${x.file}=${x.value}`)).toEqual([
      'memory.limit_in_bytes=67108864',
      'pids.max=20',
      'cpu.shares=512',
      'cpu.cfs_period_us=100000',
      'cpu.cfs_quota_us=50000',
    ]);
  });

  it('v2 files: memory.max, cpu.weight, cpu.max in one line', () => {
    const w = planLimitWrites({ ...SEED_CGROUP_LIMITS, memoryBytes: 64 << 20 }, () => 2);
    expect(w.map((x) => `${x.file}=${x.value}`)).toEqual(['memory.max=67108864', 'pids.max=20', 'cpu.weight=20', 'cpu.max=50000 100000']);
    expect(planLimitWrites({ cpuPeriodUs: 20_000 }, () => 2).map((x) => x.value)).toEqual(['max 20000']);
  });

  it('refuses a limit whose controller is missing, naming the limit and the controller', () => {
    const layout = fakeLayout({ pids: {} });
    const e = (() => {
      try {
        assertEnforceable(layout, { maxProcesses: 20, memoryBytes: 1 << 30 });
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(CgroupLimitError);
    expect(e).toBeInstanceOf(SandboxError);
    expect((e as SandboxError).code).toBe('CAPABILITY_DENIED');
    expect((e as SandboxError).message).toMatch(/maxMemory \(memoryBytes\).*memory controller is missing/);
    expect((e as SandboxError).details).toMatchObject({ limit: 'memoryBytes', controller: 'memory' });
  });

  it('refuses a limit whose hierarchy is not writable (not root, not delegated)', () => {
    const layout = fakeLayout({ pids: { writable: false } });
    expect(() => assertEnforceable(layout, { maxProcesses: 20 })).toThrow(/maxProcesses.*not writable.*run as root/);
    expect(() => assertEnforceable(layout, {})).not.toThrow();
  });
});
