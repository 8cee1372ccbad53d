/**
 * `agentos run --audit` and `agentos audit …` end to end, through the built CLI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditChain } from '../../dist/audit/chain.js';
import { editRecord, rawDb } from '../helpers/audit.js';
import { fixturePath, REPO_ROOT } from '../helpers/fixtures.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const tmp = tempDir('agentos-audit-cli-');
afterAll(() => tmp.cleanup());

function agentos(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: tmp.dir, timeout: 60_000, env: { ...process.env, XDG_CACHE_HOME: join(TEST_CACHE_DIR, 'xdg') } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const jsonLines = (s: string) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

const dir = join(tmp.dir, 'audit');
const witness = join(tmp.dir, 'witness');
let agentId = '';

beforeAll(() => {
  const ws = join(tmp.dir, 'ws');
  spawnSync('mkdir', ['-p', ws]);
  writeFileSync(join(ws, 'a.txt'), 'hello');
  const policy = join(tmp.dir, 'policy.yaml');
  writeFileSync(policy, `version: 1\ncapabilities: { allowed: [read_files] }\nmounts: [{ guest: /data, host: ${ws}, mode: ro }]\nfileAccess: { readonly: ['/data/*.txt'], readwrite: [], forbidden: [] }\n`);
  for (let i = 0; i < 3; i++) {
    const r = agentos(['run', fixturePath('fsprobe'), '--policy', policy, '--task', 'read /data/a.txt\nread /data/b.bin\nwrite /data/c.txt x', '--audit', dir, '--witness', witness, '--json']);
    expect(r.status, r.stderr).toBe(0);
    agentId = (JSON.parse(r.stdout) as { agentId: string }).agentId;
  }
});

describe('agentos run --audit', () => {
  it('writes the run to a chain that verifies, with a witness holding its checkpoints', () => {
    const r = agentos(['audit', 'verify', '--dir', dir, '--witness', witness, '--json']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; size: number; trustedCheckpoints: number };
    expect(report).toMatchObject({ ok: true, trustedCheckpoints: 1 });
    expect(report.size).toBeGreaterThanOrEqual(3 * 5);
    const text = agentos(['audit', 'verify', '--dir', dir]);
    expect(text.stdout).toMatch(/^ok: the audit log in .* is intact/);
  });

  it('the default directory is .agentos/audit in the working directory, and --no-audit writes nothing', () => {
    expect(agentos(['run', fixturePath('echo'), '--task', 'x']).status).toBe(0);
    expect(agentos(['audit', 'verify']).status).toBe(0);
    const before = jsonLines(agentos(['audit', 'query', '--json']).stdout).length;
    expect(agentos(['run', fixturePath('echo'), '--task', 'x', '--no-audit']).status).toBe(0);
    expect(jsonLines(agentos(['audit', 'query', '--json']).stdout).length).toBe(before);
    expect(agentos(['run', fixturePath('echo'), '--no-audit', '--audit', 'x']).status).toBe(2);
    expect(agentos(['run', fixturePath('echo'), '--audit-durability', 'sometimes']).status).toBe(2);
  });
});

describe('agentos audit query | tail', () => {
  it('filters by agent, type, outcome and time, as JSON lines or escaped text', () => {
    const mine = jsonLines(agentos(['audit', 'query', '--dir', dir, '--agent', agentId, '--json']).stdout);
    expect(mine.length).toBeGreaterThan(3);
    expect(mine.every((r) => r['agentId'] === agentId)).toBe(true);
    const denied = jsonLines(agentos(['audit', 'query', '--dir', dir, '--type', 'capability_denied', '--outcome', 'blocked', '--json']).stdout);
    expect(denied.length).toBe(6); // two denials per run, three runs
    expect(denied.map((r) => r['resource'])).toEqual(expect.arrayContaining(['/data/b.bin', '/data/c.txt']));
    expect(denied.every((r) => typeof r['details']['reason'] === 'string' && r['hash'].length === 64)).toBe(true);
    // Load-time records (spawn, identity) precede any run and carry no run id.
    const run = mine.find((r) => r['provenance'] !== undefined)!['provenance']['correlationId'] as string;
    const byRun = jsonLines(agentos(['audit', 'query', '--dir', dir, '--correlation', run, '--json']).stdout);
    expect(byRun.length).toBeGreaterThan(0);
    expect(jsonLines(agentos(['audit', 'query', '--dir', dir, '--since', '1h', '--json']).stdout).length).toBeGreaterThan(10);
    expect(agentos(['audit', 'query', '--dir', dir, '--until', '2001-01-01', '--json']).stdout).toBe('');
    const last2 = jsonLines(agentos(['audit', 'tail', '--dir', dir, '-n', '2', '--json']).stdout);
    expect(last2).toHaveLength(2);
    expect(last2[1]!['seq']).toBe((last2[0]!['seq'] as number) + 1);
    expect(agentos(['audit', 'query', '--dir', dir, '--since', 'yesterday']).status).toBe(2);
    expect(agentos(['audit', 'query', '--dir', dir, '--outcome', 'great']).status).toBe(2);
  });

  it('text output escapes control characters and ANSI escapes an agent put in a field', async () => {
    const d = join(tmp.dir, 'hostile');
    const chain = await AuditChain.open(d);
    await chain.append({ eventType: 'capability_denied', agentId: 'evil\u001b]0;pwned\u0007', source: 'gate', action: 'read', resource: '/data/\u001b[2J\u001b[31mred\nfake line', outcome: 'blocked', details: { reason: 'x\u001b[0m' } });
    await chain.close();
    const out = agentos(['audit', 'tail', '--dir', d]).stdout;
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(out).toContain('\\u001b[2J');
    // JSON keeps the exact value, escaped by JSON itself.
    expect(jsonLines(agentos(['audit', 'query', '--dir', d, '--json']).stdout)[0]!['resource']).toBe('/data/\u001b[2J\u001b[31mred\nfake line');
  });

  it('tail --follow prints records as another process writes them', async () => {
    const d = join(tmp.dir, 'follow');
    const seed = await AuditChain.open(d);
    await seed.append({ eventType: 'agent_spawn', agentId: 'a', source: 'test', action: 'x', resource: 'first', outcome: 'success' });
    await seed.close();
    const tail = spawn(process.execPath, [CLI, 'audit', 'tail', '--dir', d, '--follow', '--interval', '50ms', '--json'], { cwd: tmp.dir });
    let out = '';
    tail.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await new Promise((r) => setTimeout(r, 300));
      // A writer holds the store (as a running sandbox would) and appends.
      const writer = spawn(process.execPath, [join(REPO_ROOT, 'test', 'fixtures', 'audit', 'writer.mjs'), d, 'hold', '3'], { stdio: ['ignore', 'pipe', 'inherit'] });
      const deadline = Date.now() + 10_000;
      while (!out.includes('held-2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      writer.kill('SIGKILL');
      const got = jsonLines(out).map((r) => r['resource']);
      expect(got).toEqual(['first', 'held-0', 'held-1', 'held-2']);
    } finally {
      tail.kill('SIGTERM');
    }
  });
});

describe('agentos audit export | checkpoint | proof | verify', () => {
  it('export verifies offline; checkpoint --out is a trusted checkpoint; proofs check', () => {
    const file = join(tmp.dir, 'export.jsonl');
    const e = agentos(['audit', 'export', '--dir', dir, '--out', file, '--json']);
    expect(e.status, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ ok: true, from: 0 });
    expect(agentos(['audit', 'verify', '--export', file]).status).toBe(0);
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[3]).toContain('"seq":2,');
    lines[3] = lines[3]!.replace(/"timestamp":[0-9]/, '"timestamp":9');
    writeFileSync(file, lines.join('\n'));
    const bad = agentos(['audit', 'verify', '--export', file, '--json']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ ok: false, firstBad: 2 });

    const cpFile = join(tmp.dir, 'cp.json');
    const c = agentos(['audit', 'checkpoint', '--dir', dir, '--out', cpFile, '--json']);
    expect(c.status, c.stderr).toBe(0);
    const { checkpoint, publicKey } = JSON.parse(c.stdout) as { checkpoint: { size: number }; publicKey: string };
    expect(agentos(['audit', 'verify', '--dir', dir, '--trusted', cpFile, '--key', publicKey]).status).toBe(0);
    expect(agentos(['audit', 'verify', '--dir', dir, '--key', 'ab'.repeat(32)]).status).toBe(1);

    const p = agentos(['audit', 'proof', '--dir', dir, '--seq', '3', '--json']);
    expect(JSON.parse(p.stdout)).toMatchObject({ kind: 'inclusion', ok: true, seq: 3, size: checkpoint.size });
    const q = agentos(['audit', 'proof', '--dir', dir, '--from', '5', '--json']);
    expect(JSON.parse(q.stdout)).toMatchObject({ kind: 'consistency', ok: true, from: 5 });
    expect(agentos(['audit', 'proof', '--dir', dir, '--seq', '99999']).status).toBe(2);
  });

  it('verify reports the first bad sequence number of an edited store and exits 1; checkpoint refuses to sign it', async () => {
    const d = join(tmp.dir, 'tampered');
    spawnSync('cp', ['-r', dir, d]);
    await rawDb(d, (db) => editRecord(db, 7, (input, hash) => [Buffer.from(input.toString().replace(/"timestamp":[0-9]/, '"timestamp":9')), hash]));
    const r = agentos(['audit', 'verify', '--dir', d, '--json']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, firstBad: 7, problems: [{ code: 'RECORD_EDITED', seq: 7 }] });
    const text = agentos(['audit', 'verify', '--dir', d]);
    expect(text.stdout).toMatch(/FAILED: .*first bad sequence number: 7/);
    expect(text.stdout).toMatch(/RECORD_EDITED at 7/);
    expect(agentos(['audit', 'checkpoint', '--dir', d]).status).toBe(1);
  });

  it('prune keeps the log verifiable; usage errors exit 2; a missing log exits 5', () => {
    const d = join(tmp.dir, 'prune');
    spawnSync('cp', ['-r', dir, d]);
    const r = agentos(['audit', 'prune', '--dir', d, '--before', '6', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true });
    expect(agentos(['audit', 'verify', '--dir', d]).status).toBe(0);
    expect(agentos(['audit', 'prune', '--dir', d]).status).toBe(2);
    expect(agentos(['audit', 'frobnicate']).status).toBe(2);
    expect(agentos(['audit']).status).toBe(2);
    const missing = agentos(['audit', 'verify', '--dir', join(tmp.dir, 'nothing-here'), '--json']);
    expect(missing.status).toBe(5);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, error: { code: 'AUDIT_UNAVAILABLE' } });
  });

  it('every subcommand has --help', () => {
    for (const sub of ['verify', 'tail', 'query', 'export', 'checkpoint', 'proof', 'prune']) {
      const r = agentos(['audit', sub, '--help']);
      expect(r.status, sub).toBe(0);
      expect(r.stdout).toMatch(/^Usage: agentos audit /);
    }
    expect(agentos(['audit', '--help']).stdout).toMatch(/verify .*tail .*query .*export .*checkpoint/s);
    expect(agentos(['run', '--help']).stdout).toMatch(/--audit DIR/);
    expect(agentos(['--help']).stdout).toMatch(/audit <command>/);
  });
});
