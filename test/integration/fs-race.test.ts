/**
 * FS-07: a directory on an agent's path swapped for a symlink out of its mount while the agent
 * reads through it. Two racers run against one reader for FS_RACE_SECONDS (default 3) on each
 * engine: a second agent that shares the host directory through a wider writable mount (where
 * its link stays inside its own mount, so the gate lets it make it), and a host process. The
 * reader must only ever see the inside file or a refusal, never a byte from outside.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../dist/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox, settle, tempDir } from '../helpers/sandbox.js';

const SECONDS = Number(process.env['FS_RACE_SECONDS'] ?? 3);
const { sandbox, audit } = recordingSandbox();
const tmp = tempDir('agentos-fsrace-');
const shared = join(tmp.dir, 'shared');
let reader: Agent;
let racer: Agent;

/** A host process swapping `dir` for a symlink to `target` and back until killed. */
const HOST_RACER = `
const fs = require('node:fs');
const [dir, target] = process.argv.slice(1);
for (;;) {
  try {
    fs.renameSync(dir, dir + '.tmp');
    fs.symlinkSync(target, dir);
    fs.unlinkSync(dir);
    fs.renameSync(dir + '.tmp', dir);
  } catch {}
}`;

beforeAll(async () => {
  for (const d of ['a/d', 'a/e', 'outside']) mkdirSync(join(shared, d), { recursive: true });
  writeFileSync(join(shared, 'a', 'd', 'f.txt'), 'inside');
  writeFileSync(join(shared, 'a', 'e', 'f.txt'), 'inside');
  writeFileSync(join(shared, 'outside', 'f.txt'), 'OUTSIDE');
  reader = await sandbox.load(fixturePath('fsprobe'), {
    isolation: 'thread',
    policy: {
      version: 1,
      capabilities: { allowed: ['read_files'] },
      mounts: [{ guest: '/a', host: join(shared, 'a'), mode: 'ro' }],
      fileAccess: { readonly: ['/a/**'] },
    },
  });
  racer = await sandbox.load(fixturePath('fsprobe'), {
    isolation: 'thread',
    policy: {
      version: 1,
      capabilities: { allowed: ['read_files', 'write_files'] },
      mounts: [{ guest: '/b', host: shared, mode: 'rw' }],
      fileAccess: { readwrite: ['/b/**'] },
    },
  });
});
afterAll(async () => {
  await sandbox.close();
  tmp.cleanup();
});

describe('filesystem: no check-then-use race (FS-07)', () => {
  it(`reads racing a directory swapped for a link out of the mount never return a byte from outside (${SECONDS} s)`, async () => {
    // The racing agent: its link ../outside, made in /b/a, points inside /b but outside /a.
    const swap = 'rename /b/a/d /b/a/d.tmp\nsymlink ../outside /b/a/d\nunlink /b/a/d\nrename /b/a/d.tmp /b/a/d\n';
    const host = spawn(process.execPath, ['-e', HOST_RACER, join(shared, 'a', 'e'), join(shared, 'outside')], { stdio: 'ignore' });
    const deadline = Date.now() + SECONDS * 1000;
    const seen = new Map<string, number>();
    let swaps = 0;
    try {
      const racing = (async () => {
        while (Date.now() < deadline) {
          const out = (await racer.run(swap.repeat(50))).output.split('\n');
          swaps += out.filter((l) => l === 'ok').length;
        }
      })();
      while (Date.now() < deadline) {
        const out = (await reader.run('read /a/d/f.txt\nread /a/e/f.txt\n'.repeat(100))).output.split('\n');
        for (const line of out) if (line !== '') seen.set(line, (seen.get(line) ?? 0) + 1);
      }
      await racing;
    } finally {
      host.kill('SIGKILL');
    }
    await settle();
    const lines = [...seen.keys()];
    // Never the outside file; only the inside one or a refusal (the link seen, or the directory gone).
    expect(lines.filter((l) => l.includes('OUTSIDE'))).toEqual([]);
    expect(lines.every((l) => l === 'ok inside' || l.startsWith('err '))).toBe(true);
    // The race really ran: reads succeeded, the agent swapped, and some reads met the swapped state.
    expect(seen.get('ok inside') ?? 0).toBeGreaterThan(100);
    expect(swaps).toBeGreaterThan(100);
    expect([...seen].filter(([l]) => l.startsWith('err ')).reduce((n, [, c]) => n + c, 0)).toBeGreaterThan(0);
    // A link met on the way out of the mount was refused and recorded as an escape.
    expect(audit.some((e) => e.type === 'capability_denied' && e.reason.includes('symlink escape'))).toBe(true);
  });
});
