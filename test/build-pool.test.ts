/**
 * A failing fixture build ends the global setup at once: the other builds' child processes
 * are killed, queued builds never start, and the first error is what is reported.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildAgent } from '../src/build/index.js';
import { runAllOrAbort } from './helpers/build-pool.js';
import { tempDir } from './helpers/sandbox.js';

const tmp = tempDir('agentos-pool-');
afterAll(() => tmp.cleanup());

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('runAllOrAbort', () => {
  it('the first failure kills a running toolchain process and skips the queue', async () => {
    // A stand-in componentize-py that records its pid and would build for a minute.
    const fake = join(tmp.dir, 'slow-componentize-py');
    const pidFile = join(tmp.dir, 'pid');
    writeFileSync(fake, `#!/bin/sh\nif [ "$1" = "--version" ]; then echo "componentize-py 0.25.1"; exit 0; fi\necho $$ > ${pidFile}\nexec sleep 60\n`, { mode: 0o755 });
    const agent = join(tmp.dir, 'slow.py');
    writeFileSync(agent, 'def run(task):\n    return task\n');
    process.env['AGENTOS_COMPONENTIZE_PY'] = fake;
    const started: string[] = [];
    const t0 = Date.now();
    try {
      const result = runAllOrAbort<string>(
        [
          { items: ['slow'], limit: 1 },
          { items: ['broken', 'queued'], limit: 1 },
        ],
        async (item, signal) => {
          started.push(item);
          if (item === 'slow') return void (await buildAgent(agent, join(tmp.dir, 'slow.wasm'), { signal }));
          // Fails once the slow build's child is running.
          for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 25));
          throw new Error(`${item} failed`);
        },
        (item, e) => new Error(`building ${item}: ${(e as Error).message}`),
      );
      await expect(result).rejects.toThrow('building broken: broken failed');
    } finally {
      delete process.env['AGENTOS_COMPONENTIZE_PY'];
    }
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(started).toEqual(['slow', 'broken']);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    expect(alive(pid), `the toolchain process ${pid} was left running`).toBe(false);
  });

  it('resolves when every item succeeds', async () => {
    const done: number[] = [];
    await runAllOrAbort([{ items: [1, 2, 3], limit: 2 }], async (n) => void done.push(n));
    expect(done.sort()).toEqual([1, 2, 3]);
  });
});
