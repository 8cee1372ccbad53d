/**
 * `agentos kv`: an operator lists, reads and deletes agents' key-value data from a real store
 * written by a real agent; every read and delete is in the audit log before it happens, and bad
 * arguments exit 2 with a message.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSandbox } from '../../dist/index.js';
import { AuditChain } from '../../dist/audit/chain.js';
import { agentosIn } from '../helpers/cli.js';
import { fixturePath } from '../helpers/fixtures.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';

/** The last record of the chain, as JSON text. */
async function lastRecord(auditDir: string): Promise<string> {
  const chain = await AuditChain.open(auditDir);
  try {
    return JSON.stringify(await chain.read(chain.size - 1));
  } finally {
    await chain.close();
  }
}

describe('agentos kv', () => {
  it('lists, reads (audited) and deletes what an agent stored', async () => {
    const { dir, cleanup } = tempDir('agentos-kvcli-');
    try {
      const auditDir = join(dir, 'audit');
      const kvDir = join(dir, 'kv');
      const sandbox = createSandbox({ cacheDir: TEST_CACHE_DIR, audit: { dir: auditDir }, kv: { dir: kvDir } });
      const agent = await sandbox.load(fixturePath('commsprobe'), { agentId: 'orchestrator', policy: { version: 1, capabilities: { allowed: ['storage'] } } });
      await agent.run(JSON.stringify([{ op: 'kv.set', key: 'progress/r1', value: 'done' }, { op: 'kv.set', key: 'review/summary', value: '3 findings' }]));
      await sandbox.close();
      const agentos = agentosIn(dir);
      const flags = ['--kv', kvDir, '--audit', auditDir];
      // The same agent id run from the command line finds its state again.
      const policyFile = join(dir, 'policy.json');
      writeFileSync(policyFile, JSON.stringify({ version: 1, capabilities: { allowed: ['storage'] } }));
      const again = agentos(['run', fixturePath('commsprobe'), '--policy', policyFile, '--agent-id', 'orchestrator', ...flags, '--json', '--task', JSON.stringify([{ op: 'kv.get', key: 'progress/r1' }])]);
      expect(again.status, again.stderr).toBe(0);
      expect(JSON.parse(JSON.parse(again.stdout).output)).toEqual([{ ok: 'done' }]);
      const all = agentos(['kv', 'list', ...flags, '--json']);
      expect(all.status, all.stderr).toBe(0);
      expect(JSON.parse(all.stdout).agents).toEqual([{ agent: 'orchestrator', keys: 2, bytes: expect.any(Number) }]);
      const keys = agentos(['kv', 'list', ...flags, '--agent-id', 'orchestrator', '--prefix', 'progress/']);
      expect(keys.stdout).toMatch(/^progress\/r1 {2}4 B/);
      const got = agentos(['kv', 'get', ...flags, '--agent-id', 'orchestrator', 'review/summary', '--by', 'alice']);
      expect(got.status, got.stderr).toBe(0);
      expect(got.stdout.trim()).toBe('3 findings');
      const read = await lastRecord(auditDir);
      for (const part of ['"agentId":"orchestrator"', '"action":"read"', 'kv/review/summary', 'agentos kv get', '"by":"alice"']) expect(read).toContain(part);
      expect(read).not.toContain('3 findings');
      const del = agentos(['kv', 'delete', ...flags, '--agent-id', 'orchestrator', 'progress/r1', '--json']);
      expect(JSON.parse(del.stdout)).toMatchObject({ ok: true, deleted: true });
      expect(await lastRecord(auditDir)).toContain('kv/progress/r1');
      expect(JSON.parse(agentos(['kv', 'list', ...flags, '--agent-id', 'orchestrator', '--json']).stdout).entries.map((e: { key: string }) => e.key)).toEqual(['review/summary']);
      // A wrong key file fails closed, with the store's wrapping key named.
      const wrong = agentos(['kv', 'list', ...flags, '--key-file', join(dir, 'other.key')]);
      expect(wrong.status).not.toBe(0);
      expect(wrong.stderr).toMatch(/wrapped/);
    } finally {
      cleanup();
    }
  });

  it('refuses odd arguments with exit 2 and a message', () => {
    const agentos = agentosIn(tempDir().dir);
    for (const args of [['kv', 'frob'], ['kv', 'get', 'k'], ['kv', 'get', '--agent-id', 'a'], ['kv', 'list', 'x'], ['kv', 'list', '--bogus']]) {
      const r = agentos(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^agentos: USAGE: .*kv/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(agentos(['kv', '--help']).stdout).toContain('Usage: agentos kv');
  });
});
