/**
 * The OCI config of a native agent holds every field issue 13 item 9 lists, from the same
 * decisions as the bubblewrap path (mounts, environment, limits, seccomp), and refuses what it
 * cannot express, naming the rule.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validatePolicy } from '../../policy/normalize.js';
import type { SandboxPolicy } from '../../policy/schema.js';
import { planMounts } from '../mounts.js';
import { ociSeccompProfile } from '../seccomp/index.js';
import { BUNDLE_FILE_CONTENTS, BUNDLE_FILES, OCI_MASKED_PATHS, OCI_READONLY_PATHS, ociSpec, SETUP_HOST_ID, writeBundle, type OciMount } from './index.js';

const tmp = mkdtempSync(join(tmpdir(), 'agentos-oci-spec-'));
chmodSync(tmp, 0o755);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function dir(name: string, files: Record<string, string> = {}): string {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(d, rel, '..'), { recursive: true, mode: 0o755 });
    writeFileSync(join(d, rel), text, { mode: 0o644 });
  }
  return d;
}

const data = dir('data', { 'notes.txt': 'n', 'secret/key': 'k', '.env': 'E=1' });
const work = dir('work', { 'docs/a.md': 'a' });
chmodSync(work, 0o777);

const policy = (raw: Record<string, unknown>): SandboxPolicy => validatePolicy({ version: 1, ...raw }, { source: 'test' }).policy;
const full = policy({
  capabilities: { allowed: ['read_files', 'write_files'] },
  mounts: [{ guest: '/data', host: data, mode: 'ro' }, { guest: '/work', host: work, mode: 'rw' }],
  fileAccess: { readonly: ['/work/docs/**'], readwrite: ['/work/**', '/data/**'], forbidden: ['/data/secret/**', '/data/.env'] },
  env: { allow: ['AGENT_TOKEN', 'ABSENT'], set: { MODE: 'test' } },
  resourceLimits: { maxMemory: '128MiB', maxProcesses: 8, maxFileSize: '1MiB', diskQuota: '16MiB' },
  allowedSyscalls: ['read', 'write', 'exit_group'],
});
const spec = ociSpec(full, { command: ['python3', '-I', '/work/main.py'], rootfs: 'rootfs', hostEnv: { AGENT_TOKEN: 't0k', HOME: '/root' }, env: { EXTRA: '1' } });
const mount = (destination: string): OciMount | undefined => spec.mounts.find((m) => m.destination === destination);

describe('ociSpec', () => {
  it('process: args, environment from nativeEnv, cwd, uid 65534, no capabilities, noNewPrivileges, rlimits', () => {
    expect(spec.ociVersion).toMatch(/^1\.0\./);
    expect(spec.process).toMatchObject({ terminal: false, args: ['python3', '-I', '/work/main.py'], cwd: '/data', user: { uid: 65534, gid: 65534 }, noNewPrivileges: true });
    expect(spec.process.env).toEqual(['PATH=/usr/local/bin:/usr/bin:/bin', 'HOME=/tmp', 'TMPDIR=/tmp', 'LANG=C.UTF-8', 'USER=nobody', 'AGENT_TOKEN=t0k', 'MODE=test', 'EXTRA=1']);
    expect(spec.process.capabilities).toEqual({ bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] });
    expect(spec.process.rlimits).toEqual([
      { type: 'RLIMIT_NOFILE', hard: 100, soft: 100 },
      { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
      { type: 'RLIMIT_FSIZE', hard: 1024 * 1024, soft: 1024 * 1024 },
    ]);
    expect(ociSpec(policy({}), { command: ['true'], rootfs: 'r' }).process).toMatchObject({ cwd: '/tmp', rlimits: [{ type: 'RLIMIT_NOFILE' }, { type: 'RLIMIT_CORE' }] });
    expect(ociSpec(full, { command: ['true'], rootfs: 'r', cwd: '/work' }).process.cwd).toBe('/work');
  });

  it('root read-only, hostname, every namespace, 65534 mapped to 65534 (root only for runc setup), masked and read-only /proc paths', () => {
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.hostname).toBe('agent');
    expect(spec.linux.namespaces.map((n) => n.type).sort()).toEqual(['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
    for (const m of [spec.linux.uidMappings, spec.linux.gidMappings]) {
      expect(m).toEqual([{ containerID: 0, hostID: SETUP_HOST_ID, size: 1 }, { containerID: 65534, hostID: 65534, size: 1 }]);
    }
    expect(spec.linux.maskedPaths).toEqual(OCI_MASKED_PATHS);
    expect(spec.linux.maskedPaths).toEqual(expect.arrayContaining(['/proc/kcore', '/proc/keys', '/proc/timer_list']));
    expect(spec.linux.readonlyPaths).toEqual(expect.arrayContaining(['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus', '/proc/fs']));
    expect(spec.linux.readonlyPaths).toEqual(OCI_READONLY_PATHS);
    expect(spec.linux.rootfsPropagation).toBe('private');
  });

  it('mounts: /usr and its links read-only, the /etc files, /proc, a minimal /dev, /tmp at diskQuota', () => {
    const ro = ['rbind', 'nosuid', 'nodev', 'ro', 'rro'];
    expect(spec.mounts[0]).toEqual({ destination: '/usr', type: 'bind', source: '/usr', options: ro });
    if (existsSync('/bin')) expect(mount('/bin')).toMatchObject({ type: 'bind', options: ro, source: expect.stringMatching(/^\/(usr\/)?bin$/) });
    expect(mount('/etc/passwd')).toEqual({ destination: '/etc/passwd', type: 'bind', source: BUNDLE_FILES.passwd, options: ro });
    expect(mount('/etc/group')?.source).toBe(BUNDLE_FILES.group);
    expect(mount('/etc/hosts')?.source).toBe(BUNDLE_FILES.hosts);
    expect(spec.mounts.filter((m) => m.destination.startsWith('/etc/') && m.type === 'bind' && m.source.startsWith('/')).every((m) => m.source === m.destination)).toBe(true);
    expect(mount('/proc')).toMatchObject({ type: 'proc', source: 'proc' });
    expect(mount('/dev')).toMatchObject({ type: 'tmpfs', options: expect.arrayContaining(['nosuid', 'noexec', 'mode=755']) });
    expect(mount('/dev/pts')).toMatchObject({ type: 'devpts', options: expect.arrayContaining(['newinstance']) });
    expect(mount('/tmp')).toMatchObject({ type: 'tmpfs', options: expect.arrayContaining(['mode=1777', `size=${16 * 1024 * 1024}`, 'nosuid', 'nodev']) });
    expect(ociSpec(policy({}), { command: ['true'], rootfs: 'r' }).mounts.find((m) => m.destination === '/tmp')?.options).toContain(`size=${64 * 1024 * 1024}`);
    expect(spec.linux.devices.map((d) => d.path)).toEqual(['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty']);
  });

  it("mounts: the policy's files exactly as bwrap plans them (mode, read-only subtree, masked file and directory)", () => {
    expect(mount('/data')).toEqual({ destination: '/data', type: 'bind', source: data, options: ['rbind', 'nosuid', 'nodev', 'ro', 'rro'] });
    expect(mount('/work')).toEqual({ destination: '/work', type: 'bind', source: work, options: ['rbind', 'nosuid', 'nodev', 'rw'] });
    expect(mount('/work/docs')).toMatchObject({ type: 'bind', source: join(work, 'docs'), options: expect.arrayContaining(['ro', 'rro']) });
    expect(mount('/data/.env')).toMatchObject({ type: 'bind', source: BUNDLE_FILES.empty, options: expect.arrayContaining(['ro']) });
    expect(mount('/data/secret')).toMatchObject({ type: 'tmpfs', options: expect.arrayContaining(['ro', 'noexec']) });
    expect(mount('/data/notes.txt')).toBeUndefined();
    // Same steps, same order as the bwrap argv.
    const bwrap = planMounts(full, '/empty');
    const policyPart = spec.mounts.slice(spec.mounts.findIndex((m) => m.destination === '/tmp') + 1);
    expect(policyPart.map((m) => m.destination)).toEqual(bwrap.mounts.map((m) => m.guest));
    // After /tmp come only the policy's files; masks come after the bind they cover.
    expect(spec.mounts.findIndex((m) => m.destination === '/data/secret')).toBeGreaterThan(spec.mounts.findIndex((m) => m.destination === '/data'));
  });

  it('linux.resources from cgroupLimitsOf: memory with swap off, pids, the seeds CPU share and quota, only the minimal devices', () => {
    expect(spec.linux.resources).toMatchObject({
      memory: { limit: 128 * 1024 * 1024, swap: 128 * 1024 * 1024 },
      pids: { limit: 8 },
      cpu: { shares: 512, quota: 50_000, period: 100_000 },
    });
    expect(spec.linux.resources.devices[0]).toEqual({ allow: false, access: 'rwm' });
    expect(spec.linux.resources.devices.slice(1)).toContainEqual({ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' });
    const plain = ociSpec(policy({}), { command: ['true'], rootfs: 'r' }).linux.resources;
    expect(plain.memory).toBeUndefined();
    expect(plain.pids).toEqual({ limit: 20 });
  });

  it('linux.seccomp is the OCI profile of allowedSyscalls (default allowlist without)', () => {
    expect(spec.linux.seccomp).toEqual(ociSeccompProfile({ allowedSyscalls: full.allowedSyscalls }));
    expect(spec.linux.seccomp.syscalls[0]?.names).toEqual(expect.arrayContaining(['read', 'write', 'exit_group']));
    expect(ociSpec(policy({}), { command: ['true'], rootfs: 'r' }).linux.seccomp).toEqual(ociSeccompProfile({}));
  });

  it('refuses, naming the rule, what bwrap refuses and what the config cannot hold', () => {
    const refused = (raw: Record<string, unknown>, pattern: RegExp, runnerLimits = false) =>
      expect(() => ociSpec(policy(raw), { command: ['true'], rootfs: 'r', runnerLimits })).toThrow(expect.objectContaining({ code: 'POLICY_INVALID', message: expect.stringMatching(pattern) }));
    refused({ env: { set: { LD_PRELOAD: '/x.so' } } }, /env\.set\.LD_PRELOAD/);
    refused({ resourceLimits: { maxFuel: 5 } }, /resourceLimits\.maxFuel/);
    refused({ allowedSyscalls: ['no_such_call'] }, /no_such_call/);
    refused({ capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/data', host: data }], fileAccess: { readonly: ['/data/**/*.txt'] } }, /fileAccess\.readonly\[0\].*grants part of the mount/);
    refused({ capabilities: { allowed: ['read_files', 'write_files'] }, mounts: [{ guest: '/work', host: work, mode: 'rw' }], fileAccess: { forbidden: ['/work/**/*.key'] } }, /fileAccess\.forbidden\[0\]/);
    for (const name of ['maxExecutionTime', 'maxCpuTime', 'maxOutputBytes']) refused({ resourceLimits: { [name]: 1000 } }, new RegExp(`resourceLimits\\.${name}.*--runner-limits`));
    const kept = ociSpec(policy({ resourceLimits: { maxExecutionTime: '10s', maxOutputBytes: '64KiB' } }), { command: ['true'], rootfs: 'r', runnerLimits: true });
    expect(kept.annotations).toEqual({ 'org.agentos.resourceLimits.maxExecutionTime': '10000', 'org.agentos.resourceLimits.maxOutputBytes': '65536' });
    expect(spec.annotations).toBeUndefined();
    expect(() => ociSpec(policy({}), { command: [], rootfs: 'r' })).toThrow(/non-empty/);
  });

  it('writeBundle: config.json, the bound files, a mount point for every mount outside another', async () => {
    const bundle = join(tmp, 'bundle');
    const file = await writeBundle(bundle, spec);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(JSON.parse(JSON.stringify(spec)));
    for (const [key, rel] of Object.entries(BUNDLE_FILES)) expect(readFileSync(join(bundle, rel), 'utf8')).toBe(BUNDLE_FILE_CONTENTS[key as keyof typeof BUNDLE_FILES]);
    expect(statSync(join(bundle, BUNDLE_FILES.passwd)).mode & 0o777).toBe(0o444);
    const rootfs = join(bundle, 'rootfs');
    for (const d of ['usr', 'proc', 'dev', 'tmp', 'data', 'work']) expect(statSync(join(rootfs, d)).isDirectory(), d).toBe(true);
    expect(statSync(join(rootfs, 'etc/passwd')).isFile()).toBe(true);
    for (const inside of ['dev/pts', 'data/secret', 'data/.env', 'work/docs']) expect(existsSync(join(rootfs, inside)), inside).toBe(false);
    await writeBundle(bundle, spec); // again: idempotent
  });
});
