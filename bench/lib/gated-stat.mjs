/**
 * The cost of one gated `stat` call of the C fsprobe agent through a sandbox, for sandboxes
 * that differ in one setting (the audit's durability, the monitor on or off). The agents are
 * loaded together and their runs interleaved, so that the shared machine's drift weighs on each
 * the same. Per call = (run of `calls` stats − run of one `clock`) / `calls`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSandbox } from '../../dist/index.js';
import { buildAgent } from '../../dist/build/index.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * `variants`: `[label, sandbox options]` pairs (cacheDir and prewarmWorkers are added).
 * Returns, per label, the per-call times (ms) of the `reps` interleaved rounds.
 */
export async function gatedStatPerCall(scratch, variants, { calls, reps }) {
  const wasm = join(scratch, 'fsprobe.wasm');
  await buildAgent(join(REPO, 'test', 'fixtures', 'agents', 'fsprobe.c'), wasm);
  const data = join(scratch, 'data');
  await mkdir(data, { recursive: true });
  await writeFile(join(data, 'x.txt'), 'x');
  const policy = { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/data', host: data, mode: 'ro' }] };
  const task = Array.from({ length: calls }, () => 'stat /data/x.txt').join('\n');
  const loaded = [];
  for (const [label, options] of variants) {
    const sandbox = createSandbox({ ...options, cacheDir: join(scratch, 'cache'), prewarmWorkers: 0 });
    const agent = await sandbox.load(wasm, { policy });
    await agent.run(task);
    loaded.push({ label, sandbox, agent, per: [] });
  }
  for (let r = 0; r < reps; r++) {
    for (const v of loaded) {
      const t0 = performance.now();
      await v.agent.run(task);
      const full = performance.now() - t0;
      const e0 = performance.now();
      await v.agent.run('clock');
      v.per.push((full - (performance.now() - e0)) / calls);
    }
  }
  const out = {};
  for (const v of loaded) {
    await v.sandbox.close();
    out[v.label] = v.per;
  }
  return out;
}
