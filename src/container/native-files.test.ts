import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NativeFiles, removeStaleNativeFiles } from './native-files.js';

/** A pid that no process has now: one that just exited (reaped by spawnSync). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('native agent files after a host died', () => {
  const made: string[] = [];
  afterEach(() => {
    for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('removes the directories of dead hosts and keeps those of live ones and other names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentos-nf-test-'));
    made.push(dir);
    const dead = `agentos-native-${deadPid()}-AbC123`;
    const mine = `agentos-native-${process.pid}-XyZ789`;
    const alive = `agentos-native-1-QwE456`; // pid 1 is always alive
    const legacy = 'agentos-native-Old123'; // no pid: whose it is cannot be told
    for (const n of [dead, mine, alive, legacy]) {
      mkdirSync(join(dir, n));
      writeFileSync(join(dir, n, 'passwd'), 'x');
    }
    expect(await removeStaleNativeFiles(dir)).toEqual([dead]);
    expect(readdirSync(dir).sort()).toEqual([alive, legacy, mine].sort());
  });

  it('names its directory after this process, and a new host sweeps its temporary directory once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentos-nf-test-'));
    made.push(dir);
    const stale = join(dir, `agentos-native-${deadPid()}-AbC123`);
    mkdirSync(stale);
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = dir;
    try {
      const files = await NativeFiles.create();
      expect(files.dir.startsWith(join(dir, `agentos-native-${process.pid}-`))).toBe(true);
      expect(existsSync(stale)).toBe(false);
      await files.remove();
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
    }
  });
});
