/**
 * `agentos container spec`: one JSON object (the OCI config) and exit 0; a bad or refused
 * policy exit 2 naming the rule; `-o` writes a bundle that rootful runc runs as is.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { tempDir } from '../helpers/sandbox.js';
import { skipUnless } from '../helpers/skip.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-container-cli-');
chmodSync(tmp.dir, 0o755);
afterAll(() => tmp.cleanup());

function agentos(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: tmp.dir, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout.trim()) as Record<string, any> };
}

describe('agentos container spec', () => {
  const agentDir = join(tmp.dir, 'agent');
  mkdirSync(agentDir, { mode: 0o755 });
  writeFileSync(join(agentDir, 'x'), 'agent file\n', { mode: 0o644 });

  it('prints one JSON object, the config, and exits 0', () => {
    const r = agentos(['container', 'spec', '--mount', `/agent=${agentDir}`, '--json', '--', 'python3', '-I', '/agent/main.py']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.json()).toMatchObject({
      ociVersion: expect.any(String),
      process: { args: ['python3', '-I', '/agent/main.py'], user: { uid: 65534, gid: 65534 }, noNewPrivileges: true, cwd: '/agent' },
      root: { path: 'rootfs', readonly: true },
      mounts: expect.arrayContaining([{ destination: '/agent', type: 'bind', source: agentDir, options: ['rbind', 'nosuid', 'nodev', 'ro', 'rro'] }]),
      linux: { seccomp: { defaultAction: 'SCMP_ACT_ERRNO' }, resources: { pids: { limit: 20 } } },
    });
    // Without --json: the same config, indented.
    const pretty = agentos(['container', 'spec', '--mount', `/agent=${agentDir}`, '--', 'python3', '-I', '/agent/main.py']);
    expect(pretty.status).toBe(0);
    expect(JSON.parse(pretty.stdout)).toEqual(r.json());
  });

  it('2: a bad policy, a refused rule (named), no command, an unknown subcommand; --runner-limits keeps the runner limits', () => {
    const bad = join(tmp.dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\nresourceLimits: { maxMemory: lots }\n');
    const r = agentos(['container', 'spec', '--policy', bad, '--json', '--', 'true']);
    expect(r.status).toBe(2);
    expect(r.json()).toMatchObject({ ok: false, error: { code: 'POLICY_INVALID' } });
    const injecting = join(tmp.dir, 'inject.yaml');
    writeFileSync(injecting, 'version: 1\nenv: { set: { LD_PRELOAD: /tmp/x.so } }\n');
    expect(agentos(['container', 'spec', '--policy', injecting, '--json', '--', 'true']).json().error.message).toContain('LD_PRELOAD');
    const timed = join(tmp.dir, 'timed.yaml');
    writeFileSync(timed, 'version: 1\nresourceLimits: { maxExecutionTime: 10s }\n');
    const refused = agentos(['container', 'spec', '--policy', timed, '--json', '--', 'true']);
    expect(refused.status).toBe(2);
    expect(refused.json().error.message).toMatch(/resourceLimits\.maxExecutionTime.*--runner-limits/);
    const kept = agentos(['container', 'spec', '--policy', timed, '--runner-limits', '--json', '--', 'true']);
    expect(kept.status, kept.stderr).toBe(0);
    expect(kept.json().annotations).toEqual({ 'org.agentos.resourceLimits.maxExecutionTime': '10000' });
    expect(agentos(['container', 'spec', '--json']).status).toBe(2);
    expect(agentos(['container', 'spec', 'true']).status).toBe(2);
    expect(agentos(['container', 'run']).status).toBe(2);
    expect(agentos(['container']).status).toBe(2);
    expect(agentos(['container', 'spec', '--help']).stdout).toContain('Usage: agentos container spec');
    expect(agentos(['--help']).stdout).toContain('container spec');
  });

  it('-o FILE writes the bundle (config, bound files, mount points), and rootful runc runs it', (ctx) => {
    const bundle = join(tmp.dir, 'bundle');
    mkdirSync(bundle, { mode: 0o755 });
    const r = agentos(['container', 'spec', '--mount', `/agent=${agentDir}`, '-o', join(bundle, 'config.json'), '--json', '--', 'sh', '-c', 'id -u; cat /agent/x; touch /usr/y 2>/dev/null || echo ro']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json()).toEqual({ ok: true, config: join(bundle, 'config.json'), bundle, rootfs: join(bundle, 'rootfs') });
    expect(JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')).process.args[0]).toBe('sh');
    expect(existsSync(join(bundle, 'files/empty')), 'only written when a mask binds it').toBe(false);
    for (const f of ['files/passwd', 'files/group', 'files/hosts', 'rootfs/usr', 'rootfs/agent', 'rootfs/etc/passwd']) expect(existsSync(join(bundle, f)), f).toBe(true);
    skipUnless(ctx, needs.runc());
    const id = `agentos-cli-test-${process.pid}`;
    try {
      const run = spawnSync('runc', ['run', '--bundle', bundle, id], { encoding: 'utf8', input: '', timeout: 30_000 });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toBe('65534\nagent file\nro\n');
    } finally {
      spawnSync('runc', ['delete', '-f', id], { stdio: 'ignore', timeout: 20_000 });
    }
  });
});
