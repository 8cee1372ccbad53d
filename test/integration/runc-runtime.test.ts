/**
 * What only the runc runtime has (the shared native suite runs on both runtimes in
 * `native.test.ts`): its bundle is the `agentos container spec` config plus the hold hook; a
 * run that is killed leaves no container; containers of a host that died are deleted at the
 * next load.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ociSpec, writeBundle } from '../../src/container/oci/index.js';
import { deleteStaleContainers, HOST_PID_ANNOTATION, RUNC_ROOT, runc } from '../../src/container/runc.js';
import { validatePolicy } from '../../src/policy/normalize.js';
import { needs } from '../helpers/requirements.js';
import { recordingSandbox, tempDir } from '../helpers/sandbox.js';
import { describeNeeds } from '../helpers/skip.js';

/** The ids of agentos containers runc knows. */
async function containers(): Promise<{ id: string; status: string }[]> {
  const r = await runc(['list', '--format', 'json']);
  return (JSON.parse(r.stdout || 'null') as { id: string; status: string }[] | null) ?? [];
}

describeNeeds(needs.runc(), 'the runc runtime', () => {
  const { sandbox } = recordingSandbox();
  const tmp = tempDir('agentos-runc-');
  chmodSync(tmp.dir, 0o755);
  afterAll(async () => {
    await sandbox.close();
    tmp.cleanup();
  });

  it('the bundle is the container spec of the same policy, plus the hold hook and the host pid', async () => {
    const policy = { version: 1, resourceLimits: { maxMemory: '64MiB' } };
    const agent = await sandbox.loadNative({ command: ['true'], policy, container: { runtime: 'runc' } });
    try {
      const dir = (agent as unknown as { files: { dir: string } }).files.dir;
      const config = JSON.parse(readFileSync(join(dir, 'bundle', 'config.json'), 'utf8')) as Record<string, any>;
      const printed = ociSpec(validatePolicy(policy, { source: 'test' }).policy, { command: ['true'], rootfs: 'rootfs', runnerLimits: true });
      expect(config['linux']).toMatchObject({ namespaces: printed.linux.namespaces, uidMappings: printed.linux.uidMappings, seccomp: printed.linux.seccomp, resources: printed.linux.resources });
      expect(config['process']).toMatchObject({ user: printed.process.user, capabilities: printed.process.capabilities, rlimits: printed.process.rlimits, noNewPrivileges: true });
      expect(config['annotations']).toMatchObject({ [HOST_PID_ANNOTATION]: String(process.pid) });
      expect(config['hooks'].createRuntime).toHaveLength(1);
      expect((await agent.run('')).exitCode).toBe(0);
    } finally {
      await agent.close();
    }
  });

  it('a run killed at its time limit leaves no container behind', async () => {
    const agent = await sandbox.loadNative({ command: ['sh', '-c', 'sleep 30 & sleep 30'], policy: { version: 1 }, container: { runtime: 'runc' } });
    try {
      await expect(agent.run('', { timeout: '500ms' })).rejects.toMatchObject({ code: 'TIMEOUT' });
      expect((await containers()).filter((c) => c.id.startsWith('agentos-'))).toEqual([]);
    } finally {
      await agent.close();
    }
  });

  it('containers of a host process that is gone are deleted (what runs inside is killed)', async () => {
    // A "host" that exits at once: its pid is dead when the cleanup looks.
    const dead = spawnSync('true').pid!;
    const bundle = join(tmp.dir, 'orphan');
    const config = ociSpec(validatePolicy({ version: 1 }, { source: 'test' }).policy, { command: ['sleep', '60'], rootfs: 'rootfs' });
    await writeBundle(bundle, { ...config, annotations: { [HOST_PID_ANNOTATION]: String(dead) } });
    const id = `agentos-orphan-${process.pid}`;
    const started = spawnSync('runc', ['--root', RUNC_ROOT, 'run', '--detach', '--bundle', bundle, id], { stdio: 'ignore', timeout: 20_000 });
    expect(started.status).toBe(0);
    try {
      expect((await containers()).find((c) => c.id === id)?.status).toBe('running');
      expect(await deleteStaleContainers()).toContain(id);
      expect((await containers()).find((c) => c.id === id)).toBeUndefined();
    } finally {
      await runc(['delete', '--force', id]);
    }
  });
});
