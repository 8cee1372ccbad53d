/**
 * The verification workers (hash-pool.ts, verify-worker.ts) give the same answers as the main
 * thread for intact and tampered blocks. Workers run the built package (dist/), as users do.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildLog, tmp } from '../../test/helpers/audit.js';
import { REPO_ROOT } from '../../test/helpers/fixtures.js';
import { skipWhen } from '../../test/helpers/skip.js';
import { blockLayout, BlockFormatError } from './block.js';
import type { CheckedBlock, HashPool as Pool } from './hash-pool.js';
import { openAuditReader } from './reader.js';
import { checkLeaves } from './verifier.js';

const DIST = join(REPO_ROOT, 'dist', 'audit');
const built = existsSync(join(DIST, 'verify-worker.js'));

async function readBlocks(dir: string): Promise<[number, Uint8Array][]> {
  const r = await openAuditReader(dir);
  try {
    const out: [number, Uint8Array][] = [];
    for await (const { firstSeq, block } of r.store.blocks()) out.push([firstSeq, new Uint8Array(block)]);
    return out;
  } finally {
    await r.close();
  }
}

/** What the main thread finds for a block (the same shape as a worker's answer). */
function here(block: Uint8Array, firstSeq: number): { malformed: string } | { check: ReturnType<typeof checkLeaves> } {
  try {
    return { check: checkLeaves(block, blockLayout(block), firstSeq) };
  } catch (e) {
    if (e instanceof BlockFormatError) return { malformed: e.message };
    throw e;
  }
}

function same(worker: CheckedBlock, local: ReturnType<typeof here>, what: string): void {
  if ('malformed' in local) {
    expect(worker.malformed, what).toBe(local.malformed);
    return;
  }
  expect(worker.malformed, what).toBeUndefined();
  const { check } = worker as Extract<CheckedBlock, { check: unknown }>;
  expect(check.bad, what).toBe(local.check.bad);
  expect(check.times, what).toEqual(local.check.times);
  const upTo = 32 * Math.min(local.check.bad + 1, blockLayout(worker.block).count);
  expect(Buffer.from(check.hashes.subarray(0, upTo)).equals(Buffer.from(local.check.hashes.subarray(0, upTo))), what).toBe(true);
}

describe('verification workers', () => {
  it('parse, hash and check blocks as the main thread does, intact or tampered, transferred or copied', async (ctx) => {
    skipWhen(ctx, !built, 'the workers run from dist/: run `npm run build` first');
    const { HashPool } = (await import(pathToFileURL(join(DIST, 'hash-pool.js')).href)) as { HashPool: new (n: number) => Pool };
    const dir = tmp('pool-');
    await buildLog(dir, 0, 200, { maxBatch: 32 });
    const all = await readBlocks(dir);
    const pool = new HashPool(2);
    try {
      await pool.ready();
      const variants: [string, number, Uint8Array][] = [];
      for (const [firstSeq, block] of all) {
        const l = blockLayout(block);
        const at = (i: number) => l.inputAt[i]!;
        const flip = (name: string, offset: number) => {
          const b = new Uint8Array(block);
          b[offset] = b[offset]! ^ 1;
          variants.push([`${name} in the block at ${firstSeq}`, firstSeq, b]);
        };
        variants.push([`the block at ${firstSeq}`, firstSeq, new Uint8Array(block)]);
        flip('a stored hash', l.hashAt[3]!);
        flip('a record byte', at(5) + 40);
        flip('a link', at(7) + l.inputLength[7]! - 10);
        flip('the first link', at(0) + l.inputLength[0]! - 10);
        flip('a sequence number', at(9) + 14);
        flip('a length', l.hashAt[2]! + 32 + 3);
        flip('the time span', 8);
        variants.push([`the block at ${firstSeq}, shifted by one`, firstSeq + 1, new Uint8Array(block)]);
      }
      const jobs: [string, ReturnType<typeof here>, Promise<CheckedBlock>][] = [];
      let malformed = 0;
      for (const [what, firstSeq, block] of variants) {
        const local = here(new Uint8Array(block), firstSeq);
        if ('malformed' in local) malformed++;
        // Half of them as views into a larger buffer: those are copied, not transferred.
        const view = jobs.length % 2 === 0 ? block : new Uint8Array([0, ...block, 0]).subarray(1, block.length + 1);
        let job: Promise<CheckedBlock> | undefined;
        while (!(job = pool.offer(view, firstSeq))) await Promise.all(jobs.slice(-6).map((j) => j[2]));
        if (view === block) expect(block.length).toBe(0); // transferred: detached here
        else expect(view.length).toBe(block.length); // copied: still usable here
        jobs.push([what, local, job]);
      }
      for (const [what, local, job] of jobs) same(await job, local, what);
      expect(jobs.length).toBe(9 * all.length);
      expect(malformed).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  });

  it('the shared pool serves verifications from its workers and never keeps the process alive once they are done', (ctx) => {
    skipWhen(ctx, !built, 'the workers run from dist/: run `npm run build` first');
    const dir = tmp('shared-');
    const url = (f: string) => pathToFileURL(join(DIST, f)).href;
    // The child exits with 7 if anything (an idle worker) still holds it 3 s after its work,
    // well before the pool's own idle timeout would end the workers.
    const script = `
      const { AuditChain } = await import(${JSON.stringify(url('chain.js'))});
      const { openAuditReader } = await import(${JSON.stringify(url('reader.js'))});
      const { verifyStore } = await import(${JSON.stringify(url('verify.js'))});
      const { sharedHashPool } = await import(${JSON.stringify(url('hash-pool.js'))});
      const chain = await AuditChain.open(${JSON.stringify(dir)}, { checkpointIntervalMs: 0, maxBatch: 16 });
      for (let i = 0; i < 2000; i++) chain.enqueue({ eventType: 'capability_used', agentId: 'a', source: 's', action: 'x', resource: 'r' + i, outcome: 'success' });
      await chain.close();
      const pool = sharedHashPool(2);
      await pool.ready();
      let offered = 0;
      const offer = pool.offer.bind(pool);
      pool.offer = (...a) => { const j = offer(...a); if (j) offered++; return j; };
      for (let k = 0; k < 2; k++) {
        const reader = await openAuditReader(${JSON.stringify(dir)});
        const r = await verifyStore(reader.store, { hashWorkers: 2 });
        await reader.close();
        if (!r.ok || r.size !== 2000) throw new Error(JSON.stringify(r.problems));
      }
      console.log(JSON.stringify({ offered, size: pool.size }));
      setTimeout(() => process.exit(7), 3000).unref();
    `;
    // A file, not --eval: workers inherit the process's flags, and --input-type would stop them.
    const file = join(tmp('shared-script-'), 'verify-twice.mjs');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { offered: number; size: number };
    expect(out.size).toBe(2);
    expect(out.offered).toBeGreaterThan(0);
  });
});
