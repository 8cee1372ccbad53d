import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { event, tmp } from '../../test/helpers/audit.js';
import { REPO_ROOT } from '../../test/helpers/fixtures.js';
import { AuditChain, checkConsistencyProof, checkInclusionProof } from './chain.js';
import { verifyCheckpoint, type Checkpoint } from './checkpoint.js';
import { fromHex } from './hash.js';
import { queryRecords } from './query.js';
import { openAuditReader } from './reader.js';
import { verifyStore } from './verify.js';
import { skipWhen } from '../../test/helpers/skip.js';

const WRITER = join(REPO_ROOT, 'test', 'fixtures', 'audit', 'writer.mjs');

describe('AuditChain: appends, group commit, durability', () => {
  it('assigns gap-free sequence numbers, acknowledges in order, and reads records back', async () => {
    const chain = await AuditChain.open(tmp(), { checkpointIntervalMs: 0 });
    const acks: number[] = [];
    const all = Array.from({ length: 500 }, (_, i) => chain.append(event(i)).then((r) => (acks.push(r.seq), r.seq)));
    expect(await Promise.all(all)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(acks).toEqual([...acks].sort((a, b) => a - b));
    expect(chain.size).toBe(500);
    const r = await chain.read(42);
    expect(r).toMatchObject({ seq: 42, resource: '/workspace/file-42.ts', agentId: 'agent-0', provenance: { correlationId: 'run-4' } });
    expect(await chain.read(500)).toBeUndefined();
    await chain.close();
  });

  it('groups the appends that arrive during a write into the next batch (group commit), bounded by maxBatch', async () => {
    const chain = await AuditChain.open(tmp(), { maxBatch: 64, checkpointIntervalMs: 0 });
    const writes: { records: number; sync: boolean }[] = [];
    const blocks: number[] = [];
    const orig = chain.store.write.bind(chain.store);
    chain.store.write = (w, sync) => {
      // A write holds one block per batch (several when batches were encoded during a write).
      const sizes = w.blocks.map((b) => new DataView(b.block.buffer, b.block.byteOffset).getUint32(1));
      blocks.push(...sizes);
      writes.push({ records: sizes.reduce((a, n) => a + n, 0), sync });
      return orig(w, sync);
    };
    await Promise.all(Array.from({ length: 1000 }, (_, i) => chain.append(event(i))));
    expect(writes.reduce((a, w) => a + w.records, 0)).toBe(1000);
    expect(Math.max(...blocks)).toBeLessThanOrEqual(64);
    expect(writes.length).toBeLessThan(40);
    expect(writes.every((w) => w.sync)).toBe(true); // durability 'sync': every batch fsynced
    await chain.close();
  });

  it("durability 'async' writes without fsync and still survives a reopen", async () => {
    const dir = tmp();
    const chain = await AuditChain.open(dir, { durability: 'async', checkpointIntervalMs: 0 });
    const syncs: boolean[] = [];
    const orig = chain.store.write.bind(chain.store);
    chain.store.write = (w, sync) => (syncs.push(sync), orig(w, sync));
    await Promise.all(Array.from({ length: 100 }, (_, i) => chain.append(event(i))));
    expect(syncs.every((s) => !s)).toBe(true);
    await chain.close();
    const again = await AuditChain.open(dir);
    expect(again.size).toBe(100);
    await again.close();
  });

  it('writes a deferred record in its place: with the next batch, when flushed, when waited for, or after its bound', async () => {
    const chain = await AuditChain.open(tmp(), { checkpointIntervalMs: 0 });
    const batches: number[] = [];
    const orig = chain.store.write.bind(chain.store);
    chain.store.write = (w, sync) => (batches.push(...w.blocks.map((b) => new DataView(b.block.buffer, b.block.byteOffset).getUint32(1))), orig(w, sync));
    const settle = () => new Promise((r) => setTimeout(r, 30));
    const until = async (size: number) => {
      for (let i = 0; i < 200 && chain.size < size; i++) await new Promise((r) => setTimeout(r, 5));
    };

    // Alone, it waits (the bound here is far away)…
    expect(chain.enqueueDeferred(event(0), 60_000)).toBe(0);
    await settle();
    expect(batches).toEqual([]);
    expect(chain.enqueued).toBe(1);
    // …until something flushes.
    chain.flushSoon();
    await until(1);
    expect(batches).toEqual([1]);

    // Behind it, an ordinary record takes it along, in order.
    chain.enqueueDeferred(event(1), 60_000);
    await chain.append(event(2));
    expect(batches).toEqual([1, 2]);

    // Waiting for it writes it.
    await chain.whenDurable(chain.enqueueDeferred(event(3), 60_000));
    expect(batches).toEqual([1, 2, 1]);

    // Nothing else happening: written once the bound runs out.
    chain.enqueueDeferred(event(4), 5);
    await until(5);
    expect(batches).toEqual([1, 2, 1, 1]);

    // close() writes what is deferred.
    chain.enqueueDeferred(event(5), 60_000);
    await chain.close();
    expect(batches).toEqual([1, 2, 1, 1, 1]);
    const reader = await openAuditReader(chain.dir);
    expect((await verifyStore(reader.store)).ok).toBe(true);
    const seqs: number[] = [];
    for await (const r of queryRecords(reader.store, {})) seqs.push(r.seq);
    expect(seqs).toEqual([0, 1, 2, 3, 4, 5]);
    await reader.close();
  });

  it('reopens where it left off: the next record chains to the last one and the tree continues', async () => {
    const dir = tmp();
    let chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
    for (let i = 0; i < 37; i++) await chain.append(event(i));
    const root37 = await chain.rootAt();
    await chain.close();
    chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
    expect(chain.size).toBe(37);
    expect(await chain.rootAt()).toEqual(root37);
    for (let i = 37; i < 80; i++) await chain.append(event(i));
    expect((await chain.read(37))!.prevHash).toBe((await chain.read(36))!.hash);
    const p = await chain.consistencyProof(37);
    expect(checkConsistencyProof(p)).toBe(true);
    await chain.close();
    const reader = await openAuditReader(dir);
    expect((await verifyStore(reader.store)).ok).toBe(true);
    await reader.close();
  });

  it('rejects malformed records at enqueue without using up a sequence number', async () => {
    const chain = await AuditChain.open(tmp(), { checkpointIntervalMs: 0 });
    expect(() => chain.enqueue({ ...event(0), eventType: 'nope' as never })).toThrow(TypeError);
    expect(() => chain.enqueue({ ...event(0), outcome: 'ok' as never })).toThrow(TypeError);
    expect((await chain.append(event(1))).seq).toBe(0);
    await chain.close();
  });
});

describe('AuditChain: checkpoints, witness, proofs', () => {
  it('signs a checkpoint every N records and on close, publishes each to the witness, and never moves the witness backwards', async () => {
    const dir = tmp();
    const witness = tmp('witness-');
    const chain = await AuditChain.open(dir, { checkpointEvery: 100, checkpointIntervalMs: 0, witness, maxBatch: 50 });
    const seen: Checkpoint[] = [];
    chain.on('checkpoint', (c) => seen.push(c));
    for (let i = 0; i < 250; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => chain.append(event(i + k))));
    await chain.close();
    expect(seen.map((c) => c.size)).toEqual([100, 200, 250]);
    for (const c of seen) expect(verifyCheckpoint(c, chain.publicKey)).toEqual({ ok: true });
    const latest = JSON.parse(readFileSync(join(witness, `${chain.logId}.latest.json`), 'utf8')) as Checkpoint;
    expect(latest.size).toBe(250);
    // The first line is the empty log's checkpoint, published when the log was opened with the witness.
    const history = readFileSync(join(witness, `${chain.logId}.checkpoints.jsonl`), 'utf8').trim().split('\n');
    expect(history.map((l) => (JSON.parse(l) as Checkpoint).size)).toEqual([0, 100, 200, 250]);
    // An older checkpoint published later (say, by a stale process) does not replace the latest.
    const { Witness } = await import('./checkpoint.js');
    await new Witness(witness).publish(seen[0]!);
    expect((JSON.parse(readFileSync(join(witness, `${chain.logId}.latest.json`), 'utf8')) as Checkpoint).size).toBe(250);
  });

  it('a witness learns of the log when it is opened: a host killed before its first checkpoint still verifies against it', async () => {
    const dir = tmp();
    const witness = tmp('witness-');
    const first = await AuditChain.open(dir, { checkpointIntervalMs: 60_000, witness });
    await first.append(event(0));
    // No periodic checkpoint yet; the witness already holds the log's opening one (size 0).
    const { Witness } = await import('./checkpoint.js');
    expect((await new Witness(witness).latest(first.logId))?.size).toBe(0);
    await first.close();
    const again = await AuditChain.open(dir, { checkpointIntervalMs: 60_000, witness });
    expect((await new Witness(witness).latest(again.logId))?.size).toBe(1); // close signed one; reopening adds none
    await again.close();
  });

  it('signs on a timer while records trickle in', async () => {
    const chain = await AuditChain.open(tmp(), { checkpointEvery: 1_000_000, checkpointIntervalMs: 30 });
    const seen: number[] = [];
    chain.on('checkpoint', (c) => seen.push(c.size));
    await chain.append(event(0));
    await new Promise((r) => setTimeout(r, 120));
    await chain.append(event(1));
    await new Promise((r) => setTimeout(r, 120));
    expect(seen).toEqual([1, 2]);
    await chain.close();
  });

  it('inclusion proofs of every record verify against the signed checkpoint root, and consistency proofs between checkpoints', async () => {
    const chain = await AuditChain.open(tmp(), { checkpointEvery: 40, checkpointIntervalMs: 0, maxBatch: 16 });
    const cps: Checkpoint[] = [];
    chain.on('checkpoint', (c) => cps.push(c));
    for (let i = 0; i < 130; i++) await chain.append(event(i));
    const cp = await chain.checkpoint();
    expect(cp.size).toBe(130);
    for (let seq = 0; seq < 130; seq += 7) {
      const p = await chain.inclusionProof(seq);
      expect(checkInclusionProof(p, cp.rootHash)).toBe(true);
      expect(checkInclusionProof({ ...p, seq: (seq + 1) % 130 }, cp.rootHash)).toBe(false);
    }
    const older = cps[0]!;
    const p = await chain.consistencyProof(older.size, cp.size);
    expect(p.fromRoot).toBe(older.rootHash);
    expect(p.toRoot).toBe(cp.rootHash);
    expect(checkConsistencyProof(p)).toBe(true);
    expect(checkConsistencyProof({ ...p, fromRoot: cp.rootHash })).toBe(false);
    // Proofs in an older tree too.
    const q = await chain.inclusionProof(3, older.size);
    expect(checkInclusionProof(q, older.rootHash)).toBe(true);
    await chain.close();
  });
});

describe('AuditChain: fail closed', () => {
  it('when the store is closed underneath it, appends fail with AUDIT_UNAVAILABLE and keep failing', async () => {
    const chain = await AuditChain.open(tmp(), { checkpointIntervalMs: 0 });
    await chain.append(event(0));
    const failed: string[] = [];
    chain.on('failed', (e) => failed.push(e.code));
    await chain.store.db.close();
    const pending = Array.from({ length: 5 }, (_, i) => chain.append(event(i + 1)));
    for (const p of pending) await expect(p).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE' });
    expect(failed).toEqual(['AUDIT_UNAVAILABLE']);
    expect(() => chain.enqueue(event(9))).toThrow(expect.objectContaining({ code: 'AUDIT_UNAVAILABLE' }));
    expect(chain.failed?.code).toBe('AUDIT_UNAVAILABLE');
    await chain.close();
  });

  const tmpfs = join(tmp('full-'), 'mnt');
  mkdirSync(tmpfs);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', tmpfs]).status === 0;
  afterAll(() => {
    if (mounted) spawnSync('umount', [tmpfs]);
  });
  it('when the disk is full (a real 512 KiB tmpfs), the failing batch and everything after it is refused', async (ctx) => {
    skipWhen(ctx, !mounted, 'needs a tmpfs mount (mount -t tmpfs): run the tests as root, as .ci/run does');
    const chain = await AuditChain.open(join(tmpfs, 'audit'), { checkpointIntervalMs: 0 });
    const big = 'x'.repeat(4000);
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      try {
        await chain.append(event(i, { resource: `${i}-${big}` }));
        ok++;
      } catch (e) {
        expect((e as { code: string }).code).toBe('AUDIT_UNAVAILABLE');
        refused++;
      }
    }
    expect(ok).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(0);
    expect(chain.failed?.message).toMatch(/write failed|space/i);
    await chain.close();
  });

  it('refuses to open a store locked by another process (after waiting), while readers still get a snapshot', async () => {
    const dir = tmp();
    const child = spawn(process.execPath, [WRITER, dir, 'hold', '25'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        child.once('exit', (c) => reject(new Error(`writer exited ${c}`)));
      });
      const t = Date.now();
      await expect(AuditChain.open(dir, { lockWaitMs: 300 })).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringMatching(/another process/) });
      expect(Date.now() - t).toBeGreaterThanOrEqual(250);
      const reader = await openAuditReader(dir);
      const held = [];
      for await (const r of queryRecords(reader.store, {})) held.push(r.resource);
      expect(held).toEqual(Array.from({ length: 25 }, (_, i) => `held-${i}`));
      expect((await verifyStore(reader.store)).ok).toBe(true);
      await reader.close();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses a store with a damaged head at open, naming verify', async () => {
    const dir = tmp();
    const chain = await AuditChain.open(dir, { checkpointIntervalMs: 0 });
    await chain.append(event(0));
    await chain.close();
    const { ClassicLevel } = await import('classic-level');
    const db = new ClassicLevel<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' });
    await db.put(Uint8Array.of(0x6d, 0x68), Uint8Array.of(1, 2, 3));
    await db.close();
    await expect(AuditChain.open(dir)).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringMatching(/audit verify/) });
  });

  it('refuses an unusable key file rather than starting a new log', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'log-key.pem'), 'not a key');
    await expect(AuditChain.open(dir)).rejects.toMatchObject({ code: 'AUDIT_UNAVAILABLE', message: expect.stringMatching(/log key/) });
  });
});

describe('public key and log id', () => {
  it('the log id is the SHA-256 of the public key and record 0 chains to it', async () => {
    const chain = await AuditChain.open(tmp(), { checkpointIntervalMs: 0 });
    await chain.append(event(0));
    const r = await chain.read(0);
    expect(r!.prevHash).toBe(chain.logId);
    const { logIdOf } = await import('./checkpoint.js');
    expect(logIdOf(chain.publicKey)).toBe(chain.logId);
    expect(fromHex(chain.logId)).toHaveLength(32);
    await chain.close();
  });
});
