/**
 * `agentos run --native -- CMD`: the same --json object and exit statuses as a component, and
 * the run in the same audit chain.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { tempDir } from '../helpers/sandbox.js';
import { describeNeeds } from '../helpers/skip.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-native-cli-');
chmodSync(tmp.dir, 0o755);
afterAll(() => tmp.cleanup());

function agentos(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: tmp.dir, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout.trim()) as Record<string, any> };
}

describeNeeds(needs.bwrap(), 'agentos run --native', () => {
  it('0: a Python program from a mount gets the task on stdin; its stdout is the output', () => {
    const agentDir = join(tmp.dir, 'agent');
    mkdirSync(agentDir, { mode: 0o755 });
    writeFileSync(join(agentDir, 'main.py'), 'import json, sys\nt = json.load(sys.stdin)\nprint(json.dumps({"sum": sum(t["n"])}))\n', { mode: 0o644 });
    const r = agentos(['run', '--native', '--no-audit', '--mount', `/agent=${agentDir}`, '--task', '{"n":[1,2,5]}', '--json', '--', 'python3', '-I', '/agent/main.py']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ ok: true, output: '{"sum": 8}\n', fuelUsed: 0 });
  });

  it('1: another exit status; 3: the wall clock; 2: wasm-only flags, a missing command, a refused policy rule', () => {
    expect(agentos(['run', '--native', '--no-audit', '--json', '--', 'sh', '-c', 'exit 4'])).toMatchObject({ status: 1 });
    const slow = agentos(['run', '--native', '--no-audit', '--json', '--timeout', '300ms', '--', 'sleep', '5']);
    expect(slow.status).toBe(3);
    expect(slow.json().error.code).toBe('TIMEOUT');
    expect(agentos(['run', '--native', '--no-audit', '--fuel', '5', '--', 'true']).status).toBe(2);
    expect(agentos(['run', '--native', '--no-audit']).status).toBe(2);
    expect(agentos(['run', '--no-audit', '--', 'true']).status).toBe(2);
    const policy = join(tmp.dir, 'limits.yaml');
    writeFileSync(policy, 'version: 1\nenv: { set: { LD_PRELOAD: /tmp/x.so } }\n');
    const refused = agentos(['run', '--native', '--no-audit', '--policy', policy, '--json', '--', 'true']);
    expect(refused.status).toBe(2);
    expect(refused.json().error).toMatchObject({ code: 'POLICY_INVALID', message: expect.stringContaining('LD_PRELOAD') });
  });

  it('the run lands in the same audit chain: agent_spawn with the backend and the executable hash', () => {
    const audit = join(tmp.dir, 'audit');
    expect(agentos(['run', '--native', '--audit', audit, '--task', 'x', '--', 'cat']).status).toBe(0);
    const q = agentos(['audit', 'query', '--audit', audit, '--json']);
    expect(q.status, q.stderr).toBe(0);
    const records = q.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    const spawnRecord = records.find((r) => r['eventType'] === 'agent_spawn');
    expect(spawnRecord).toMatchObject({ resource: expect.stringMatching(/^[0-9a-f]{64}$/), details: { backend: 'bwrap', command: ['cat'], executable: { guest: '/usr/bin/cat' } } });
    expect(records.some((r) => r['eventType'] === 'agent_terminate' && r['resource'] === 'exit 0')).toBe(true);
    expect(agentos(['audit', 'verify', '--audit', audit]).status).toBe(0);
  });
});

describeNeeds(needs.runc(), 'agentos run --native --runtime runc', () => {
  it('runs the command in runc under the same policy; the audit says so; an unknown runtime is exit 2', () => {
    const audit = join(tmp.dir, 'audit-runc');
    const r = agentos(['run', '--native', '--runtime', 'runc', '--audit', audit, '--task', 'hi', '--json', '--', 'sh', '-c', 'read t; echo "$t from $(id -u)"']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ ok: true, output: 'hi from 65534\n' });
    const q = agentos(['audit', 'query', '--audit', audit, '--json']);
    const records = q.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    expect(records.find((x) => x['eventType'] === 'agent_spawn')).toMatchObject({ details: { backend: 'runc', command: ['sh', '-c', expect.any(String)] } });
    const bad = agentos(['run', '--native', '--no-audit', '--runtime', 'docker', '--json', '--', 'true']);
    expect(bad.status).toBe(2);
    expect(bad.json().error.message).toContain('bwrap, runc');
  });
});
