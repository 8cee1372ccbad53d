/**
 * Agent-to-agent messaging and the key-value store, end to end with real components (the
 * StarlingMonkey fixture `commsprobe`), a real audit chain and a real LevelDB store: what is
 * allowed arrives and is recorded without its contents; what is tampered, replayed, sent by a
 * revoked identity, not allowed by the policy or addressed to a quarantined agent is refused,
 * recorded, and the guest told with its interface's error.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyStore, type Agent, type AuditEvent, type Sandbox } from '../../dist/index.js';
import { LocalBus } from '../../dist/messaging/transport.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox } from '../helpers/sandbox.js';
import { tripwire } from '../helpers/tripwire.js';
import { startNats } from '../helpers/nats.js';
import { needs } from '../helpers/requirements.js';
import { describeNeeds } from '../helpers/skip.js';
import { connect } from 'nats';

type Step = Record<string, unknown>;
type Outcome = { ok?: unknown; err?: { tag: string; val: string } };

const open: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

function sandbox(options: Parameters<typeof recordingSandbox>[0] = {}) {
  const kvDir = mkdtempSync(join(tmpdir(), 'agentos-kv-'));
  const s = recordingSandbox({ kv: { dir: join(kvDir, 'kv') }, ...options });
  open.push(s.sandbox);
  return { ...s, kvDir };
}

const policy = (type: string, extra: Record<string, unknown> = {}) => ({ version: 1, agent: { type }, capabilities: { allowed: ['messaging', 'storage'] }, ...extra });

async function steps(agent: Agent, list: Step[]): Promise<Outcome[]> {
  return JSON.parse((await agent.run(JSON.stringify(list))).output) as Outcome[];
}

function load(s: Sandbox, id: string, p: Record<string, unknown>): Promise<Agent> {
  return s.load(fixturePath('commsprobe'), { agentId: id, policy: p, isolation: 'thread' });
}

const comms = (audit: AuditEvent[]) => audit.filter((e) => e.capability === 'messaging' || e.capability === 'storage');

describe('messaging in one sandbox', () => {
  it('delivers, verifies and records a message and its reply, never its contents', async () => {
    const { sandbox: s, audit } = sandbox();
    const alice = await load(s, 'alice', policy('orchestrator', { messaging: { peers: ['code-reviewer'] } }));
    const bob = await load(s, 'bob', policy('code-reviewer'));
    const served = bob.run(JSON.stringify([{ op: 'echo-serve', count: 1, timeout: 10_000 }]));
    const [peers, sent, got] = await steps(alice, [{ op: 'peers' }, { op: 'send', to: 'bob', body: 'secret-plan-42' }, { op: 'receive', timeout: 10_000 }]);
    expect(peers).toEqual([{ id: 'bob', agentType: 'code-reviewer', roles: [] }]);
    expect(typeof sent!.ok).toBe('string');
    const reply = got!.ok as { sender: string; senderType: string; replyTo: string; body: string };
    expect(reply).toMatchObject({ sender: 'bob', senderType: 'code-reviewer', replyTo: sent!.ok, body: 'echo:secret-plan-42' });
    expect(JSON.parse((await served).output)).toEqual([{ ok: 1 }]);
    const records = comms(audit);
    expect(records.map((e) => `${e.agentId} ${e.action} ${e.target} ${e.outcome}`)).toEqual(
      expect.arrayContaining(['alice send agent:bob allowed', 'bob receive agent:alice allowed', 'bob reply agent:alice allowed', 'alice receive agent:bob allowed']),
    );
    const send = records.find((e) => e.action === 'send')!;
    expect(send.details).toMatchObject({ messageId: sent!.ok, bytes: 'secret-plan-42'.length });
    expect(JSON.stringify(audit)).not.toContain('secret-plan-42');
  });

  it('refuses a recipient the policy does not allow, an unknown one, and a reply to a message never received', async () => {
    const { sandbox: s, audit } = sandbox();
    const alice = await load(s, 'alice', policy('orchestrator', { messaging: { peers: ['code-reviewer'] } }));
    await load(s, 'mallory', policy('intruder'));
    const noCap = await load(s, 'carol', { version: 1, agent: { type: 'x' } });
    const [toMallory, toNobody, bogusReply] = await steps(alice, [
      { op: 'send', to: 'mallory', body: 'x' },
      { op: 'send', to: 'nobody', body: 'x' },
      { op: 'reply', id: '00000000-0000-4000-8000-000000000000', body: 'x' },
    ]);
    expect(toMallory!.err).toEqual({ tag: 'denied', val: expect.stringContaining('not in messaging.peers') });
    expect(toNobody!.err?.tag).toBe('not-found');
    expect(bogusReply!.err?.tag).toBe('invalid');
    const [carolSend] = await steps(noCap, [{ op: 'send', to: 'alice', body: 'x' }]);
    expect(carolSend!.err).toEqual({ tag: 'denied', val: expect.stringContaining('capabilities.allowed') });
    const denied = comms(audit).filter((e) => e.outcome === 'denied').map((e) => `${e.agentId} ${e.action} ${e.target}`);
    expect(denied).toEqual(expect.arrayContaining(['alice send agent:mallory', 'alice send agent:nobody', 'carol send agent:alice']));
  });

  it('decides who may message whom with the authorization model (RBAC on resource agent, action message)', async () => {
    const { sandbox: s, audit } = sandbox();
    const roles = [
      { name: 'lead', permissions: [{ resource: 'agent', action: 'message', effect: 'allow', conditions: [{ field: 'resource.agentType', operator: 'eq', value: 'code-reviewer' }] }] },
    ];
    const lead = await load(s, 'lead', policy('orchestrator', { roles: ['lead'], roleDefinitions: roles }));
    await load(s, 'rev', policy('code-reviewer'));
    await load(s, 'ops', policy('operator'));
    const [toRev, toOps] = await steps(lead, [{ op: 'send', to: 'rev', body: 'a' }, { op: 'send', to: 'ops', body: 'b' }]);
    expect(typeof toRev!.ok).toBe('string');
    expect(toOps!.err?.tag).toBe('denied');
    expect(comms(audit).find((e) => e.target === 'agent:rev' && e.action === 'send')?.matched).toEqual(expect.arrayContaining([expect.stringContaining('lead')]));
  });

  it('refuses a sender whose identity was revoked, and a quarantined recipient', async () => {
    const { sandbox: s, audit } = sandbox();
    const alice = await load(s, 'alice', policy('orchestrator', { messaging: { peers: ['*'] } }));
    const bob = await load(s, 'bob', policy('code-reviewer', { securityPolicies: [{ ...tripwire('/none'), rules: [{ id: 'canary', name: 'reads the canary', condition: { when: { eventType: 'data_read' }, where: { dataId: 'kv/canary' } }, action: { type: 'quarantine' }, severity: 'critical' }] }] }));
    const eve = await load(s, 'eve', policy('orchestrator', { messaging: { peers: ['*'] } }));
    // bob trips the wire: the monitor quarantines him.
    await steps(bob, [{ op: 'kv.get', key: 'canary' }]).catch(() => undefined);
    await s.monitor.settle();
    await expect.poll(() => bob.isQuarantined, { timeout: 5000 }).toBe(true);
    const [toBob] = await steps(alice, [{ op: 'send', to: 'bob', body: 'x' }]);
    expect(toBob!.err).toEqual({ tag: 'denied', val: expect.stringContaining('quarantined') });
    eve.revokeIdentity({ reason: 'key leaked' });
    await expect(steps(eve, [{ op: 'send', to: 'alice', body: 'x' }])).resolves.toEqual([{ err: { tag: 'denied', val: expect.stringContaining('AUTHENTICATION_FAILED') } }]);
    expect(audit.some((e) => e.agentId === 'eve' && e.type === 'authentication_failure' && e.action === 'send')).toBe(true);
    expect(audit.some((e) => e.agentId === 'alice' && e.action === 'send' && e.target === 'agent:bob' && e.outcome === 'denied')).toBe(true);
  });
});

describe('a receive cut short', () => {
  it('leaves the next message for the next run when the run waiting for it is stopped', async () => {
    const { sandbox: s } = sandbox();
    const alice = await load(s, 'alice', policy('orchestrator', { messaging: { peers: ['*'] } }));
    // On a shared thread the stopped instance lives on: its host-side wait must end untaken.
    const bob = await s.load(fixturePath('commsprobe'), { agentId: 'bob', policy: policy('code-reviewer'), isolation: 'shared' });
    await expect(bob.run(JSON.stringify([{ op: 'receive', timeout: 60_000 }]), { timeout: 500 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await steps(alice, [{ op: 'send', to: 'bob', body: 'after the timeout' }]);
    const [got] = await steps(bob, [{ op: 'receive', timeout: 5000 }]);
    expect((got!.ok as { body: string }).body).toBe('after the timeout');
  });
});

describe('messaging between sandboxes over a transport', () => {
  async function pair(bus: LocalBus) {
    const a = sandbox({ messaging: { transport: bus.transport() } });
    const b = sandbox({ messaging: { transport: bus.transport() } });
    const alice = await load(a.sandbox, 'alice', policy('orchestrator', { messaging: { peers: ['*'] } }));
    const bob = await load(b.sandbox, 'bob', policy('code-reviewer'));
    await expect.poll(async () => (await steps(alice, [{ op: 'peers' }]))[0], { timeout: 5000 }).toEqual([{ id: 'bob', agentType: 'code-reviewer', roles: [] }]);
    return { a, b, alice, bob };
  }

  it('carries only ciphertext, and refuses a tampered and a replayed message with a record', async () => {
    const bus = new LocalBus();
    const { b, alice, bob } = await pair(bus);
    const msgs = () => bus.published.filter((p) => p.subject.includes('.msg.'));
    const [sent] = await steps(alice, [{ op: 'send', to: 'bob', body: 'top-secret-payload' }]);
    expect(typeof sent!.ok).toBe('string');
    expect(msgs()).toHaveLength(1);
    const original = msgs()[0]!;
    expect(Buffer.from(original.bytes).includes(Buffer.from('top-secret-payload'))).toBe(false);
    // Replay the very bytes, and send a copy with one ciphertext byte flipped.
    const transport = bus.transport();
    transport.publish(original.subject, original.bytes);
    const alerts: unknown[] = [];
    b.sandbox.on('alert', (a) => alerts.push(a));
    // A flood of forgeries: each refused and recorded, none held against bob by the monitor.
    for (let i = 0; i < 25; i++) {
      const tampered = original.bytes.slice();
      const at = tampered.length - 1 - i; // in the signature
      tampered[at] = tampered[at]! ^ 1;
      transport.publish(original.subject, tampered);
    }
    await expect.poll(() => comms(b.audit).filter((e) => e.outcome === 'denied' && e.action === 'deliver').length, { timeout: 5000 }).toBe(26);
    const refusals = new Set(comms(b.audit).filter((e) => e.outcome === 'denied').map((e) => String((e.details as { code?: string }).code)));
    expect([...refusals].sort()).toEqual(['BAD_SIGNATURE', 'REPLAY']);
    await b.sandbox.monitor.settle();
    expect(alerts).toEqual([]);
    expect(bob.isQuarantined).toBe(false);
    const got = await steps(bob, [{ op: 'receive', timeout: 2000 }, { op: 'receive', timeout: 300 }]);
    expect((got[0]!.ok as { body: string }).body).toBe('top-secret-payload');
    expect(got[1]!.ok).toBeNull();
  });

  it('refuses, on the receiving side, a message from an identity revoked while it was in transit', async () => {
    const bus = new LocalBus();
    const { b, alice, bob } = await pair(bus);
    const held: Array<{ subject: string; bytes: Uint8Array }> = [];
    bus.intercept = (subject, bytes) => {
      if (!subject.includes('.msg.')) return bytes;
      held.push({ subject, bytes });
      return undefined;
    };
    await steps(alice, [{ op: 'send', to: 'bob', body: 'sent before revocation' }]);
    expect(held).toHaveLength(1);
    bus.intercept = undefined;
    alice.revokeIdentity({ compromised: true });
    await new Promise((r) => setTimeout(r, 100)); // the withdrawal reaches b
    bus.transport().publish(held[0]!.subject, held[0]!.bytes);
    await expect.poll(() => comms(b.audit).some((e) => e.outcome === 'denied' && (e.details as { code?: string } | undefined)?.code === 'UNKNOWN_SENDER'), { timeout: 5000 }).toBe(true);
    expect((await steps(bob, [{ op: 'receive', timeout: 300 }]))[0]!.ok).toBeNull();
  });
});

describe('the key-value store', () => {
  it('keeps values per agent, encrypted on disk, and lists by prefix', async () => {
    const { sandbox: s, audit, kvDir } = sandbox();
    const a = await load(s, 'a', policy('t'));
    const b = await load(s, 'b', policy('t'));
    const r = await steps(a, [{ op: 'kv.set', key: 'notes/1', value: 'plaintext-canary-a' }, { op: 'kv.set', key: 'notes/2', value: 'two' }, { op: 'kv.set', key: 'other', value: 'x' }, { op: 'kv.get', key: 'notes/1' }, { op: 'kv.list', prefix: 'notes/' }, { op: 'kv.delete', key: 'notes/2' }, { op: 'kv.list', prefix: 'notes/' }]);
    expect(r.map((x) => x.ok)).toEqual([null, null, null, 'plaintext-canary-a', ['notes/1', 'notes/2'], true, ['notes/1']]);
    expect((await steps(b, [{ op: 'kv.get', key: 'notes/1' }, { op: 'kv.list', prefix: '' }])).map((x) => x.ok)).toEqual([null, []]);
    expect(comms(audit).filter((e) => e.agentId === 'a').map((e) => `${e.action} ${e.target}`)).toEqual(expect.arrayContaining(['write kv/notes/1', 'read kv/notes/1', 'delete kv/notes/2', 'read kv/notes/*']));
    await s.close();
    // Nothing on disk holds the plaintext: read every file of the store.
    const files = readdirSync(join(kvDir, 'kv'));
    for (const f of files) expect(readFileSync(join(kvDir, 'kv', f)).includes(Buffer.from('plaintext-canary-a')), f).toBe(false);
  });

  it('fails closed under a wrong data key', async () => {
    const first = sandbox();
    const a = await load(first.sandbox, 'a', policy('t'));
    await steps(a, [{ op: 'kv.set', key: 'k', value: 'v' }]);
    await first.sandbox.close();
    const other = mkdtempSync(join(tmpdir(), 'agentos-kek-'));
    const second = sandbox({ kv: { dir: join(first.kvDir, 'kv'), keyFile: join(other, 'kv.key') } });
    const a2 = await load(second.sandbox, 'a', policy('t'));
    const [got] = await steps(a2, [{ op: 'kv.get', key: 'k' }]);
    expect(got!.err?.tag).toBe('unavailable');
    expect(got!.err?.val).toMatch(/key|wrapped/i);
  });

  it('wraps the data key with a key store key, and re-wraps it when that key is rotated', async () => {
    const keys = await KeyStore.open(mkdtempSync(join(tmpdir(), 'agentos-kvkeys-')), { passphrase: 'kv test passphrase' });
    const first = await keys.generate('kv-data');
    const kvDir = join(mkdtempSync(join(tmpdir(), 'agentos-kv-')), 'kv');
    const one = sandbox({ kv: { dir: kvDir, keys } });
    await steps(await load(one.sandbox, 'a', policy('t')), [{ op: 'kv.set', key: 'k', value: 'kept across rotation' }]);
    await one.sandbox.close();
    const { current } = await keys.rotate('kv-data', { overlapMs: 60_000 });
    const two = sandbox({ kv: { dir: kvDir, keys } });
    expect((await steps(await load(two.sandbox, 'a', policy('t')), [{ op: 'kv.get', key: 'k' }]))[0]!.ok).toBe('kept across rotation');
    const rewrap = two.audit.find((e) => e.action === 'rewrap');
    expect(rewrap).toMatchObject({ target: current.kid, reason: expect.stringContaining(first.kid) });
  });

  it('applies data policies by role, quotas, time to live and retention', async () => {
    const { sandbox: s, audit } = sandbox({ kv: { dir: join(mkdtempSync(join(tmpdir(), 'agentos-kv-')), 'kv'), sweepInterval: '1h' } });
    const roles = [{ name: 'worker', permissions: [] }];
    const dataPolicies = [
      { dataId: 'kv/progress/*', classification: 'internal', accessRules: { readRoles: ['worker'], writeRoles: ['worker'], deleteRoles: ['worker'] }, retention: { retentionPeriod: 1000, autoDelete: true }, audit: { logReads: true, logWrites: true, logDeletes: true } },
      { dataId: 'kv/secret/*', classification: 'restricted', accessRules: { readRoles: ['auditor'], writeRoles: ['worker'], deleteRoles: [] } },
    ];
    const a = await load(s, 'a', policy('t', { roles: ['worker'], roleDefinitions: roles, dataPolicies, storage: { maxKeys: 3 } }));
    const r = await steps(a, [
      { op: 'kv.set', key: 'progress/x', value: '1' },
      { op: 'kv.set', key: 'secret/s', value: 's' },
      { op: 'kv.get', key: 'secret/s' },
      { op: 'kv.set', key: 'elsewhere', value: 'e' },
      { op: 'kv.set', key: 'progress/ttl', value: 't', ttl: 200 },
      { op: 'kv.set', key: 'progress/y', value: '2' },
    ]);
    expect(r.map((x) => x.ok === null ? 'ok' : x.err?.tag)).toEqual(['ok', 'ok', 'denied', 'denied', 'ok', 'quota']);
    expect(r[3]!.err?.val).toContain('no data access policy covers kv/elsewhere');
    expect(audit.some((e) => e.type === 'limit_exceeded' && e.target === 'kv/progress/y')).toBe(true);
    await new Promise((res) => setTimeout(res, 300));
    expect((await steps(a, [{ op: 'kv.get', key: 'progress/ttl' }]))[0]!.ok).toBeNull();
    await new Promise((res) => setTimeout(res, 900));
    expect(await s.sweepKv()).toBeGreaterThanOrEqual(1);
    expect((await steps(a, [{ op: 'kv.get', key: 'progress/x' }]))[0]!.ok).toBeNull();
    expect(audit.some((e) => e.api === 'sandbox.kv.sweep' && e.target === 'kv/progress/x')).toBe(true);
  });
});

describeNeeds(needs.natsServer(), 'messaging across processes through a real nats-server', () => {
  it('reaches an agent of another sandbox; the broker holds only ciphertext, and a replay read off the broker is refused', async () => {
    const nats = await startNats();
    const spy = await connect({ servers: nats.url });
    try {
      const seen: Array<{ subject: string; data: Uint8Array }> = [];
      const sub = spy.subscribe('agentos.>', { callback: (_e, m) => seen.push({ subject: m.subject, data: m.data }) });
      const a = sandbox({ messaging: { nats: nats.url } });
      const b = sandbox({ messaging: { nats: nats.url } });
      const alice = await load(a.sandbox, 'alice', policy('orchestrator', { messaging: { peers: ['code-reviewer'] } }));
      const bob = await load(b.sandbox, 'bob', policy('code-reviewer'));
      await expect.poll(async () => (await steps(alice, [{ op: 'peers' }]))[0], { timeout: 10_000 }).toEqual([{ id: 'bob', agentType: 'code-reviewer', roles: [] }]);
      const served = bob.run(JSON.stringify([{ op: 'echo-serve', count: 1, timeout: 10_000 }]));
      const [sent, got] = await steps(alice, [{ op: 'send', to: 'bob', body: 'nats-secret-body' }, { op: 'receive', timeout: 10_000 }]);
      expect((got!.ok as { body: string; replyTo: string }).body).toBe('echo:nats-secret-body');
      expect((got!.ok as { replyTo: string }).replyTo).toBe(sent!.ok);
      await served;
      await spy.flush();
      const msgs = seen.filter((m) => m.subject.includes('.msg.'));
      expect(msgs.length).toBe(2);
      for (const m of [...seen]) expect(Buffer.from(m.data).includes(Buffer.from('nats-secret-body'))).toBe(false);
      // Replay bob's copy straight onto the broker: refused and recorded by b, never delivered.
      const toBob = msgs[0]!;
      spy.publish(toBob.subject, toBob.data);
      await spy.flush();
      await expect.poll(() => b.audit.some((e) => e.outcome === 'denied' && (e.details as { code?: string } | undefined)?.code === 'REPLAY'), { timeout: 5000 }).toBe(true);
      expect((await steps(bob, [{ op: 'receive', timeout: 300 }]))[0]!.ok).toBeNull();
      sub.unsubscribe();
    } finally {
      await Promise.all(open.splice(0).map((s) => s.close()));
      await spy.close();
      await nats.stop();
    }
  });
});
