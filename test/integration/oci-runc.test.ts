/**
 * The OCI config from `ociSpec`, run for real with rootful runc: uid 65534 inside and on the
 * host, a read-only root, the policy's mounts with their mode and masks, no capabilities,
 * `no_new_privs`, the seccomp profile (`unshare` fails), rlimits. Skipped, with the reason,
 * without runc or root (rootless runc cannot set the resources).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ociSpec, writeBundle } from '../../src/container/oci/index.js';
import { validatePolicy } from '../../src/policy/normalize.js';
import { needs } from '../helpers/requirements.js';
import { tempDir } from '../helpers/sandbox.js';
import { describeNeeds } from '../helpers/skip.js';

describeNeeds(needs.runc(), 'OCI config under runc', () => {
  const tmp = tempDir('agentos-oci-runc-');
  chmodSync(tmp.dir, 0o755);
  const data = join(tmp.dir, 'data');
  const out = join(tmp.dir, 'out');
  mkdirSync(join(data, 'secret'), { recursive: true, mode: 0o755 });
  mkdirSync(out, { mode: 0o777 });
  chmodSync(out, 0o777);
  writeFileSync(join(data, 'x'), 'from the policy mount\n', { mode: 0o644 });
  writeFileSync(join(data, '.env'), 'TOKEN=secret\n', { mode: 0o644 });
  writeFileSync(join(data, 'secret', 'key'), 'top secret\n', { mode: 0o644 });
  const policy = validatePolicy({
    version: 1,
    capabilities: { allowed: ['read_files', 'write_files'] },
    mounts: [{ guest: '/data', host: data, mode: 'ro' }, { guest: '/out', host: out, mode: 'rw' }],
    fileAccess: { forbidden: ['/data/secret/**', '/data/.env'] },
    resourceLimits: { maxMemory: '128MiB', maxProcesses: 16, maxFileSize: '1MiB', diskQuota: '8MiB' },
  }, { source: 'test' }).policy;
  const ids: string[] = [];
  afterAll(() => {
    for (const id of ids) spawnSync('runc', ['delete', '-f', id], { stdio: 'ignore', timeout: 20_000 });
    tmp.cleanup();
  });

  /** Write a bundle for `command` and run it; the container is deleted whatever happens. */
  async function runc(name: string, command: string[]) {
    const bundle = join(tmp.dir, `bundle-${name}`);
    await writeBundle(bundle, ociSpec(policy, { command, rootfs: 'rootfs' }));
    const id = `agentos-test-${process.pid}-${name}`;
    ids.push(id);
    try {
      const r = spawnSync('runc', ['run', '--bundle', bundle, id], { encoding: 'utf8', input: '', timeout: 30_000 });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    } finally {
      spawnSync('runc', ['delete', '-f', id], { stdio: 'ignore', timeout: 20_000 });
    }
  }

  it('runs as uid and gid 65534 (named by the generated /etc/passwd and /etc/group)', async () => {
    const r = await runc('id', ['/usr/bin/id']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)');
  });

  it('read-only root and /usr, the policy mounts with their mode, masks, no capabilities, no_new_privs, seccomp, rlimits', async () => {
    const script = [
      'cat /data/x',
      'touch /usr/y 2>/dev/null || echo ro-usr',
      'touch /newfile 2>/dev/null || echo ro-root',
      'touch /data/y 2>/dev/null || echo ro-data',
      'echo w > /out/w && echo rw-out',
      'echo "env=[$(cat /data/.env)]"',
      'echo "secret=$(ls -A /data/secret | wc -l)"',
      'unshare -U true 2>/dev/null || echo unshare-denied',
      "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t '",
      'echo "nofile=$(ulimit -n) core=$(ulimit -c)"',
      'echo "kcore=$(head -c1 /proc/kcore 2>/dev/null | wc -c)"',
      'echo > /proc/sysrq-trigger 2>/dev/null || echo sysrq-denied',
      'echo "cwd=$(pwd) host=$(hostname)"',
    ].join('\n');
    const r = await runc('files', ['sh', '-c', script]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toEqual([
      'from the policy mount', 'ro-usr', 'ro-root', 'ro-data', 'rw-out', 'env=[]', 'secret=0', 'unshare-denied',
      'CapEff:0000000000000000', 'CapBnd:0000000000000000', 'NoNewPrivs:1', 'Seccomp:2',
      'nofile=100 core=0', 'kcore=0', 'sysrq-denied', 'cwd=/data host=agent',
    ]);
    // The host is unaffected and what the agent wrote belongs to 65534 on the host too.
    expect(readFileSync(join(data, '.env'), 'utf8')).toBe('TOKEN=secret\n');
    expect(statSync(join(out, 'w')).uid).toBe(65534);
  });
});
