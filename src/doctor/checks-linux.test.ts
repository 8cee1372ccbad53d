// The Linux host checks: cgroup layouts from sample mountinfo texts (v1, v2, hybrid), and the
// real checks on this machine, with and without their programs on PATH. Whatever the host,
// each check gives a status and never throws.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi, type TestContext } from 'vitest';
import { cgroupLayout, checkCgroups, ownCgroups, parseCgroupMounts } from './cgroups.js';
import { checkBubblewrap, checkLandlock, checkRunc, checkUserNamespaces } from './checks-linux.js';
import { HYBRID_MOUNTINFO as HYBRID } from '../../test/helpers/mountinfo-samples.js';

const tmp = mkdtempSync(join(tmpdir(), 'agentos-doctor-linux-'));
const emptyPath = join(tmp, 'empty-bin');
mkdirSync(emptyPath);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

const STATUSES = ['ready', 'missing', 'unavailable', 'error'];
// The host checks read /proc and run Linux programs; elsewhere they only say "Linux only".
const onLinux = (ctx: TestContext): void => {
  if (process.platform !== 'linux') ctx.skip(`needs Linux: these checks read /proc and run Linux programs (this is ${process.platform})`);
};

const V2 = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n';

describe('cgroup layout', () => {
  it('hybrid: v1 controllers (a named hierarchy has none) beside a unified hierarchy', () => {
    const mounts = parseCgroupMounts(HYBRID);
    expect(mounts).toEqual([
      { version: 1, mountPoint: '/sys/fs/cgroup/cpu,cpuacct', controllers: ['cpu', 'cpuacct'] },
      { version: 1, mountPoint: '/sys/fs/cgroup/memory', controllers: ['memory'] },
      { version: 1, mountPoint: '/sys/fs/cgroup/pids', controllers: ['pids'] },
      { version: 1, mountPoint: '/sys/fs/cgroup/systemd', controllers: [] },
      { version: 2, mountPoint: '/sys/fs/cgroup/unified', controllers: [] },
    ]);
    expect(cgroupLayout(mounts)).toBe('hybrid');
  });

  it('v2 only, v1 only, none', () => {
    expect(cgroupLayout(parseCgroupMounts(V2))).toBe('v2');
    expect(cgroupLayout(parseCgroupMounts(HYBRID.split('\n').filter((l) => !l.includes('cgroup2')).join('\n')))).toBe('v1');
    expect(cgroupLayout(parseCgroupMounts('22 1 8:1 / / rw - ext4 /dev/sda1 rw\n'))).toBe('none');
  });

  it('favordynmods: noted on the mount, never taken for a controller; the check says whether process moves are quick', async () => {
    const favored = HYBRID.replace('cgroup2 cgroup2 rw', 'cgroup2 cgroup2 rw,favordynmods').replace('cgroup cgroup rw,memory', 'cgroup cgroup rw,memory,favordynmods');
    const mounts = parseCgroupMounts(favored);
    expect(mounts.find((m) => m.mountPoint === '/sys/fs/cgroup/memory')).toEqual({ version: 1, mountPoint: '/sys/fs/cgroup/memory', controllers: ['memory'], favorDynmods: true });
    expect(mounts.find((m) => m.version === 2)?.favorDynmods).toBe(true);
    expect((await checkCgroups({ mountinfo: favored, procSelfCgroup: '' })).detail).toContain('process moves quick (favordynmods on');
    expect((await checkCgroups({ mountinfo: HYBRID, procSelfCgroup: '' })).detail).toContain('mount -o remount,favordynmods /sys/fs/cgroup/unified');
  });

  it('mount points with escaped spaces', () => {
    expect(parseCgroupMounts('1 0 0:1 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw\n')[0]?.mountPoint).toBe('/mnt/my cgroups');
  });

  it("this process's cgroup per hierarchy", () => {
    const own = ownCgroups('9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/\n0::/user.slice\n');
    expect(own.get('memory')).toBe('/a/b');
    expect(own.get('cpuacct')).toBe('/');
    expect(own.get('')).toBe('/user.slice');
  });

  it('no cgroup mounted: unavailable with a fix', async () => {
    const r = await checkCgroups({ mountinfo: '22 1 8:1 / / rw - ext4 /dev/sda1 rw\n', procSelfCgroup: '' });
    expect(r.status).toBe('unavailable');
  });

  it('this machine: a layout and where each controller is', async (ctx) => {
    onLinux(ctx);
    const r = await checkCgroups();
    expect(STATUSES).toContain(r.status);
    expect(r.detail).toMatch(/^(v1|v2 \(unified\)|hybrid|no cgroup)/);
  });
});

describe('bubblewrap and runc', () => {
  it('not on PATH: missing, with the apt-get line', async (ctx) => {
    onLinux(ctx);
    vi.stubEnv('PATH', emptyPath);
    expect(await checkBubblewrap()).toEqual({ status: 'missing', detail: 'bwrap not found', fix: 'apt-get install bubblewrap' });
    expect(await checkRunc()).toEqual({ status: 'missing', detail: 'runc not found', fix: 'apt-get install runc' });
  });

  it('this machine: a version when ready', async (ctx) => {
    onLinux(ctx);
    for (const r of [await checkBubblewrap(), await checkRunc()]) {
      expect(STATUSES).toContain(r.status);
      if (r.status === 'ready') expect(r.detail).toMatch(/\d+\.\d+/);
    }
  });
});

describe('user namespaces and Landlock', () => {
  it('this machine: a status, and what it was based on', async (ctx) => {
    onLinux(ctx);
    const r = await checkUserNamespaces();
    expect(STATUSES).toContain(r.status);
    expect(r.detail).toMatch(/unshare/);
    const l = await checkLandlock();
    expect(['ready', 'unavailable']).toContain(l.status);
    if (l.status === 'ready') expect(l.detail).toMatch(/^ABI \d+; (applied to native agents|not applied yet: the exec helper is not built)|ABI unknown/);
  });

  it('without unshare or python3 on PATH: reported from the kernel switches and securityfs, no error', async (ctx) => {
    onLinux(ctx);
    vi.stubEnv('PATH', emptyPath);
    vi.stubEnv('AGENTOS_PYTHON', 'python3');
    const r = await checkUserNamespaces();
    expect(r.detail).toMatch(/not tried \(unshare not found\)/);
    const l = await checkLandlock();
    expect(['ready', 'unavailable']).toContain(l.status);
    expect(l.detail).toMatch(/python3 not found|not in \/sys\/kernel\/security\/lsm/);
  });
});
