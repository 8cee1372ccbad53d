/**
 * The security monitor on real agents in a real sandbox (real LevelDB audit chain): the seeds'
 * rules, security policies' actions, capability policies' thresholds, and containment of one
 * agent while another carries on.
 */
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Agent, Alert, QuarantineEntry, Sandbox } from '../../dist/index.js';
import { tripwire } from '../helpers/tripwire.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox, tempDir } from '../helpers/sandbox.js';

const open: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** A recording sandbox (real audit chain) with these options, closed after the test. */
function sandbox(options: Parameters<typeof recordingSandbox>[0] = {}) {
  const r = recordingSandbox(options);
  open.push(r.sandbox);
  return r;
}

/** A workspace with one public and one secret file, and a policy that mounts it read-only. */
function workspace(extra: Record<string, unknown> = {}) {
  const ws = tempDir('agentos-monitor-');
  writeFileSync(join(ws.dir, 'a.txt'), 'a');
  writeFileSync(join(ws.dir, 'secret.txt'), 's');
  const policy = {
    version: 1,
    capabilities: { allowed: ['read_files'] },
    mounts: [{ guest: '/w', host: ws.dir, mode: 'ro' }],
    fileAccess: { readonly: ['/w/**'], readwrite: [], forbidden: ['/w/secret.txt'] },
    ...extra,
  };
  return { ws, policy };
}

function alerts(s: Sandbox): Alert[] {
  const out: Alert[] = [];
  s.on('alert', (a) => out.push(a));
  return out;
}

const lines = (cmd: string, n: number) => Array.from({ length: n }, () => cmd).join('\n');

describe('the seeds\' rules', () => {
  it('ten denials of one resource within the hour: suspicious_resource_access (medium), with the denials as evidence in the chain', async () => {
    const { sandbox: s } = sandbox();
    const seen = alerts(s);
    const { ws, policy } = workspace();
    const a = await s.load(fixturePath('fsprobe'), { policy });
    expect((await a.run(lines('read /w/secret.txt', 9))).output).toBe(lines('err ENOENT', 9));
    await vi.waitFor(() => expect(s.monitor.stats()?.queued).toBe(0));
    expect(seen).toEqual([]);
    const t0 = Date.now();
    await a.run('read /w/secret.txt');
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    const alert = seen[0]!;
    expect(alert).toMatchObject({ type: 'suspicious_resource_access', severity: 'medium', agentId: a.id, resource: '/w/secret.txt', contained: false });
    expect(alert.time - t0).toBeLessThan(1000);
    // The evidence names the ten denials' records; the alert is a record of its own.
    expect(alert.evidence).toHaveLength(10);
    const chain = (await s.auditLog())!;
    await chain.drain();
    for (const seq of alert.evidence) expect(await chain.read(seq)).toMatchObject({ eventType: 'capability_denied', agentId: a.id, resource: '/w/secret.txt' });
    await vi.waitFor(async () => {
      await chain.drain();
      const last = await chain.read(chain.enqueued - 1);
      expect(last).toMatchObject({ eventType: 'security_alert', severity: 'medium', action: 'suspicious_resource_access', details: { alertId: alert.id, evidence: alert.evidence } });
    });
    // The agent is not contained for a medium alert.
    expect((await a.run('read /w/a.txt')).output).toBe('ok a');
    ws.cleanup();
  });

  it('five authentication failures within five minutes: brute_force_attack (high); contained when containAt is high', async () => {
    const { sandbox: s } = sandbox({ monitor: { containAt: 'high' } });
    const seen = alerts(s);
    const contained: QuarantineEntry[] = [];
    s.on('quarantine', (q) => contained.push(q));
    const { ws, policy } = workspace();
    const a = await s.load(fixturePath('fsprobe'), { policy });
    const b = await s.load(fixturePath('fsprobe'), { policy });
    a.revokeIdentity({ reason: 'test: the key leaked' });
    // Every call of a revoked identity is an authentication failure; the fifth is a burst.
    await a.run(lines('read /w/a.txt', 5)).catch(() => {});
    await vi.waitFor(() => expect(seen.map((x) => x.type)).toContain('brute_force_attack'));
    const alert = seen.find((x) => x.type === 'brute_force_attack')!;
    expect(alert).toMatchObject({ severity: 'high', agentId: a.id, contained: true });
    expect(alert.evidence).toHaveLength(5);
    expect(contained).toEqual([expect.objectContaining({ agentId: a.id, componentHash: a.componentHash })]);
    // The contained agent is refused; the other agent (same component) still runs.
    await expect(a.run('read /w/a.txt')).rejects.toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'quarantined', alertId: alert.id } });
    expect((await b.run('read /w/a.txt')).output).toBe('ok a');
    ws.cleanup();
  });

  it('a denial by a security policy rule, or one an advisory rule would have made: security_policy_violation (high)', async () => {
    const { sandbox: s } = sandbox();
    const seen = alerts(s);
    const rule = (mode: string) => ({
      id: `no-secrets-${mode}`,
      name: 'no secrets',
      scope: {},
      rules: [{ id: 'r1', name: 'secret files', condition: { when: { eventType: 'file_read' }, where: { path: '/w/a.txt' } }, action: { type: 'deny' }, severity: 'high' }],
      enforcement: { mode, exceptions: [] },
    });
    const { ws, policy } = workspace();
    const enf = await s.load(fixturePath('fsprobe'), { policy: { ...policy, securityPolicies: [rule('enforcing')] } });
    const adv = await s.load(fixturePath('fsprobe'), { policy: { ...policy, securityPolicies: [rule('advisory')] } });
    expect((await enf.run('read /w/a.txt')).output).toBe('err EACCES');
    expect((await adv.run('read /w/a.txt')).output).toBe('ok a');
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    expect(seen.find((x) => x.agentId === enf.id)).toMatchObject({ type: 'security_policy_violation', severity: 'high', resource: '/w/a.txt', details: { rule: 'security:no-secrets-enforcing/r1' } });
    expect(seen.find((x) => x.agentId === adv.id)).toMatchObject({ type: 'security_policy_violation', details: { wouldDeny: { policyId: 'no-secrets-advisory', ruleId: 'r1' } } });
    ws.cleanup();
  });
});

describe('containment', () => {
  it("a security policy's quarantine action contains its agent at once while a second agent completes; loads of it are refused until released", async () => {
    const { sandbox: s, audit } = sandbox();
    const seen = alerts(s);
    const { ws, policy } = workspace({
      securityPolicies: [tripwire('/w/a.txt')],
    });
    const bad = await s.load(fixturePath('fsprobe'), { policy });
    const good = await s.load(fixturePath('echo'));
    // The canary read is denied by the rule; the monitor then quarantines the agent, so its
    // later calls in the same run are refused too (or the run is stopped first).
    const running = bad.run(`read /w/a.txt\n${lines('read /w/a.txt', 200)}`).catch((e: unknown) => e);
    const other = good.run('still here');
    await vi.waitFor(() => expect(seen.map((x) => x.type)).toContain('policy_quarantine'));
    expect(seen.find((x) => x.type === 'policy_quarantine')).toMatchObject({ severity: 'critical', agentId: bad.id, contained: true, details: { policyId: 'tripwire', ruleId: 'canary' } });
    const r = await running;
    if (r instanceof Error) expect(r).toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'quarantined' } });
    expect((await other).output).toBe('still here');
    await expect(bad.run('read /w/a.txt')).rejects.toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'quarantined' } });
    // The same component may not load again, under any id, until released.
    await expect(s.load(fixturePath('fsprobe'), { policy })).rejects.toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'quarantined' } });
    expect(s.monitor.quarantined()).toEqual([expect.objectContaining({ agentId: bad.id, componentHash: bad.componentHash })]);
    await expect(s.monitor.release(bad.id, { by: 'alice', reason: '' })).rejects.toMatchObject({ code: 'USAGE' });
    expect(await s.monitor.release(bad.componentHash, { by: 'alice', reason: 'the canary rule was a test' })).toHaveLength(1);
    expect(s.monitor.quarantined()).toEqual([]);
    const again = await s.load(fixturePath('fsprobe'), { policy: { ...policy, securityPolicies: [] } });
    expect((await again.run('read /w/a.txt')).output).toBe('ok a');
    // Every step is in the audit log: the alert, the quarantine, the release and who did it.
    // (The rule's denial is also a security policy violation: two detectors, two alerts.)
    await vi.waitFor(() => expect(audit.filter((e) => e.api === 'monitor').map((e) => e.action)).toEqual(['security_policy_violation', 'policy_quarantine', 'quarantine', 'release']));
    expect(audit.find((e) => e.action === 'release')).toMatchObject({ type: 'authorization_granted', agentId: bad.id, details: { by: 'alice', releaseReason: 'the canary rule was a test' } });
    ws.cleanup();
  });

  it('an advisory quarantine rule alerts but never contains', async () => {
    const { sandbox: s } = sandbox();
    const seen = alerts(s);
    const { ws, policy } = workspace({
      securityPolicies: [
        {
          id: 'watch',
          name: 'watch',
          scope: {},
          rules: [{ id: 'canary', name: 'reads the canary', condition: { when: { eventType: 'file_read' }, where: { path: '/w/a.txt' } }, action: { type: 'quarantine' }, severity: 'critical' }],
          enforcement: { mode: 'advisory', exceptions: [] },
        },
      ],
    });
    const a = await s.load(fixturePath('fsprobe'), { policy });
    expect((await a.run('read /w/a.txt')).output).toBe('ok a');
    await vi.waitFor(() => expect(seen.map((x) => x.type)).toContain('policy_quarantine'));
    expect(seen.find((x) => x.type === 'policy_quarantine')).toMatchObject({ contained: false, details: { advisory: true } });
    expect((await a.run('read /w/a.txt')).output).toBe('ok a');
    expect(s.monitor.quarantined()).toEqual([]);
    ws.cleanup();
  });
});

describe('capability policies: monitoring.alertThresholds', () => {
  it('suspiciousOperations: 3 per hour raises threshold_exceeded at the third denial', async () => {
    const { sandbox: s } = sandbox();
    const seen = alerts(s);
    const { ws, policy } = workspace({ agent: { type: 'reviewer' }, capabilityPolicies: [{ policyId: 'cap-1', agentType: 'reviewer', status: 'active', monitoring: { alertThresholds: { suspiciousOperations: 3 } } }] });
    const a = await s.load(fixturePath('fsprobe'), { policy });
    await a.run('read /w/secret.txt\nread /w/secret.txt');
    await vi.waitFor(() => expect(s.monitor.stats()?.queued).toBe(0));
    expect(seen.filter((x) => x.type === 'threshold_exceeded')).toEqual([]);
    await a.run('read /w/secret.txt');
    await vi.waitFor(() => expect(seen.map((x) => x.type)).toContain('threshold_exceeded'));
    expect(seen.find((x) => x.type === 'threshold_exceeded')).toMatchObject({ severity: 'high', agentId: a.id, details: { threshold: 'suspiciousOperations', limit: 3 } });
    ws.cleanup();
  });
});

describe('the monitor itself', () => {
  it('monitor: false raises nothing', async () => {
    const { sandbox: s } = sandbox({ monitor: false });
    const seen = alerts(s);
    const { ws, policy } = workspace();
    const a = await s.load(fixturePath('fsprobe'), { policy });
    await a.run(lines('read /w/secret.txt', 12));
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([]);
    expect(s.monitor.stats()).toBeUndefined();
    ws.cleanup();
  });

  it('a full queue drops events but says so: one monitor_overflow alert with the count', async () => {
    const { sandbox: s } = sandbox({ monitor: { maxQueue: 4 } });
    const seen = alerts(s);
    const { ws, policy } = workspace();
    const a = await s.load(fixturePath('fsprobe'), { policy });
    await a.run(lines('read /w/a.txt', 40));
    await vi.waitFor(() => expect(seen.map((x) => x.type)).toContain('monitor_overflow'));
    const o = seen.find((x) => x.type === 'monitor_overflow')!;
    expect(o.severity).toBe('high');
    expect(o.details?.['dropped']).toBeGreaterThan(0);
    expect(s.monitor.stats()!.dropped).toBe(o.details?.['dropped']);
    ws.cleanup();
  });

  it('refuses monitor settings that are not an object', () => {
    expect(() => sandbox({ monitor: 'on' as never })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('indicators: a threat-intelligence list', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));
  /** The agent's answer, or the error its run ended with. */
  const fetchOrError = (a: Agent, url: string) => a.run(JSON.stringify({ url })).then((r) => JSON.parse(r.output) as { status?: number; error?: string }, (e: unknown) => e as Error);
  /** The refusal's alert contains the agent at once: its run ends with the fetch's error, or is stopped as quarantined. */
  const expectRefused = (r: { status?: number; error?: string } | Error) => {
    if (r instanceof Error) expect(r).toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'quarantined' } });
    else expect(r).toMatchObject({ error: expect.any(String) });
  };
  const net = (host: string) => ({ version: 1, capabilities: { allowed: ['network_access'] }, networkRules: { allowedHosts: [host], allowedPorts: [port], protocols: ['http'] } });

  it('refuses to load a blocked component, records why and alerts', async () => {
    const hash = createHash('sha256').update(readFileSync(fixturePath('echo'))).digest('hex');
    const dir = tempDir('agentos-intel-');
    const file = join(dir.dir, 'intel.yaml');
    writeFileSync(file, `components: [${hash.toUpperCase()}]\nhosts: []\n`);
    const { sandbox: s, audit } = sandbox({ monitor: { indicators: file } });
    const seen = alerts(s);
    await expect(s.load(fixturePath('echo'))).rejects.toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'blocked indicator', componentHash: hash } });
    await vi.waitFor(() => expect(seen).toEqual([expect.objectContaining({ type: 'blocked_indicator', severity: 'critical', resource: hash, contained: false })]));
    expect(audit.find((e) => e.action === 'load' && e.outcome === 'denied')).toMatchObject({ target: hash, reason: expect.stringContaining(file) });
    expect((await s.load(fixturePath('fsprobe'))).id).toBeTruthy();
    dir.cleanup();
  });

  it('refuses a bad indicator file with POLICY_INVALID naming the entry', () => {
    expect(() => sandbox({ monitor: { indicators: { ipRanges: ['10.0.0.0/33'] } } })).toThrow(expect.objectContaining({ code: 'POLICY_INVALID', message: expect.stringContaining('ipRanges[0]') }));
    expect(() => sandbox({ monitor: { indicators: { components: ['abc'] } } })).toThrow(expect.objectContaining({ code: 'POLICY_INVALID' }));
  });

  it('denies a blocked address on the network decision and contains the agent; a name that resolves into a blocked range is refused at connect', async () => {
    const { sandbox: s, audit } = sandbox({ monitor: { indicators: { ipRanges: ['127.0.0.0/8'] } } });
    const seen = alerts(s);
    const byIp = await s.load(fixturePath('fetchprobe'), { policy: net('127.0.0.1') });
    expectRefused(await fetchOrError(byIp, `http://127.0.0.1:${port}/`));
    expect(audit.find((e) => e.agentId === byIp.id && e.capability === 'network_access')).toMatchObject({ outcome: 'denied', matched: ['indicator:127.0.0.0/8'] });
    await vi.waitFor(() => expect(seen.find((a) => a.agentId === byIp.id)).toMatchObject({ type: 'blocked_indicator', severity: 'critical', contained: true }));
    // Its component is quarantined now; released for the next case.
    expect(await s.monitor.release(byIp.componentHash, { by: 'test', reason: 'the next case loads it again' })).toHaveLength(1);
    // By name: the policy allows localhost, the list does not name it, but it resolves into the range.
    const byName = await s.load(fixturePath('fetchprobe'), { policy: net('localhost') });
    expectRefused(await fetchOrError(byName, `http://localhost:${port}/`));
    await vi.waitFor(() => expect(audit.find((e) => e.agentId === byName.id && e.outcome === 'denied' && e.capability === 'network_access')).toMatchObject({ reason: expect.stringContaining('resolved to 127.0.0.1') }));
  });
});

describe('alert channels', () => {
  it('a webhook gets each alert signed (HMAC-SHA256 over timestamp.body), retried after a 500 with the same delivery id; a JSON Lines file gets every severity', async () => {
    const secret = 'a shared secret, 32 characters!!';
    const got: { body: string; headers: Record<string, string | string[] | undefined> }[] = [];
    let failures = 1;
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push({ body, headers: req.headers });
        res.statusCode = failures-- > 0 ? 500 : 204;
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const dir = tempDir('agentos-channels-');
    const file = join(dir.dir, 'alerts.jsonl');
    try {
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts`;
      const { sandbox: s } = sandbox({ monitor: { channels: { webhook: { url, secret, minSeverity: 'high', backoffMs: 20 }, file: { path: file } } } });
      const { ws, policy } = workspace();
      const a = await s.load(fixturePath('fsprobe'), { policy });
      // A medium alert (file only), then a high one (file and webhook).
      await a.run(lines('read /w/secret.txt', 10));
      a.revokeIdentity({ reason: 'test' });
      await a.run(lines('read /w/a.txt', 5)).catch(() => {});
      await vi.waitFor(() => expect(got).toHaveLength(2), { timeout: 5000 });
      expect(got[0]!.headers['x-agentos-delivery']).toBe(got[1]!.headers['x-agentos-delivery']);
      for (const g of got) {
        const expected = createHmac('sha256', secret).update(`${String(g.headers['x-agentos-timestamp'])}.${g.body}`).digest('hex');
        expect(g.headers['x-agentos-signature']).toBe(`sha256=${expected}`);
      }
      expect(JSON.parse(got[1]!.body)).toMatchObject({ type: 'brute_force_attack', severity: 'high', agentId: a.id });
      await vi.waitFor(() => expect(s.monitor.stats()!.channels.find((c) => c.name.startsWith('webhook'))).toMatchObject({ delivered: 1, retried: 1, failed: 0 }));
      await vi.waitFor(() => expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as Alert).type)).toEqual(['suspicious_resource_access', 'brute_force_attack']));
      ws.cleanup();
    } finally {
      await new Promise((r) => hook.close(r));
      dir.cleanup();
    }
  });

  it('refuses a webhook without a real secret', () => {
    expect(() => sandbox({ monitor: { channels: { webhook: { url: 'http://127.0.0.1:1/', secret: 'short' } } } })).toThrow(expect.objectContaining({ code: 'USAGE', message: expect.stringContaining('secret') }));
  });
});

describe('anomaly detection against a learned baseline', () => {
  it('an agent whose behaviour changes after its type\'s baseline: potential_compromise, contained; the baseline survives a restart', async () => {
    const { ws, policy } = workspace({ agent: { type: 'summarizer' } });
    mkdirSync(join(ws.dir, 'private'));
    writeFileSync(join(ws.dir, 'private', 'keys.txt'), 'k');
    const { sandbox: s, auditDir } = sandbox({ monitor: { anomaly: { warmupRuns: 5 } } });
    const seen = alerts(s);
    const a = await s.load(fixturePath('fsprobe'), { policy });
    for (let i = 0; i < 5; i++) expect((await a.run('read /w/a.txt')).output).toBe('ok a');
    await s.monitor.settle();
    expect(seen).toEqual([]);
    // Forty reads, under a directory no summarizer touched.
    await a.run(lines('read /w/private/keys.txt', 40)).catch(() => {});
    await vi.waitFor(() => expect(seen.map((x) => x.type)).toContain('potential_compromise'));
    expect(seen.map((x) => x.type)).toEqual(expect.arrayContaining(['unusual_resource_usage', 'abnormal_task_patterns']));
    expect(seen.find((x) => x.type === 'potential_compromise')).toMatchObject({ severity: 'critical', agentId: a.id, contained: true });
    await s.close();
    // A new sandbox on the same audit directory knows summarizers already: no new warm-up.
    const again = recordingSandbox({ audit: { dir: auditDir }, monitor: { anomaly: { warmupRuns: 5 } } });
    open.push(again.sandbox);
    const later = alerts(again.sandbox);
    // The quarantine outlived the first sandbox too: released (and recorded) first.
    expect(await again.sandbox.monitor.release(a.componentHash, { by: 'test', reason: 'the restart case' })).toHaveLength(1);
    const b = await again.sandbox.load(fixturePath('fsprobe'), { policy });
    await b.run('read /w/private/keys.txt');
    await vi.waitFor(() => expect(later.map((x) => x.type)).toContain('abnormal_task_patterns'));
    ws.cleanup();
  });
});

describe('metrics', () => {
  it('sandbox.metrics() is Prometheus text: decisions by capability and outcome with the gate\'s decision time, denials, alerts, runs, quarantined agents, audit acknowledgements', async () => {
    const { sandbox: s } = sandbox();
    const seen = alerts(s);
    const { ws, policy } = workspace();
    const a = await s.load(fixturePath('fsprobe'), { policy });
    await a.run(`read /w/a.txt\n${lines('read /w/secret.txt', 10)}`);
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    await s.monitor.settle();
    const text = await s.metrics();
    const value = (line: string) => Number(text.split('\n').find((l) => l.startsWith(line))?.slice(line.length + 1));
    expect(value('agentos_decisions_total{capability="read_files",outcome="allowed"}')).toBeGreaterThanOrEqual(1);
    expect(value('agentos_decisions_total{capability="read_files",outcome="denied"}')).toBe(10);
    expect(value('agentos_denials_total{capability="read_files"}')).toBe(10);
    expect(value('agentos_decision_duration_seconds_count{capability="read_files"}')).toBeGreaterThanOrEqual(11);
    expect(value('agentos_alerts_total{type="suspicious_resource_access",severity="medium"}')).toBe(1);
    expect(value('agentos_runs_total{outcome="ok"}')).toBe(1);
    expect(value('agentos_quarantined_agents')).toBe(0);
    expect(value('agentos_agents')).toBe(1);
    expect(value('agentos_audit_ack_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(text).toContain('# TYPE agentos_decision_duration_seconds histogram');
    ws.cleanup();
  });
});
