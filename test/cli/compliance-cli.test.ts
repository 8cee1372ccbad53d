/**
 * Compliance end to end: a real agent in a real sandbox makes a known set of events (allowed
 * reads, ten denials that raise a monitor alert, an unsigned component); `agentos compliance
 * report` assesses SOC 2 and PCI DSS from that audit log and the policy files, and each
 * automated control gets the expected status and reason; the signed report verifies offline
 * against an export, and a tampered record, a tampered report and a foreign checkpoint each
 * make `agentos compliance verify` fail.
 */
import { sign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox } from '../../dist/index.js';
import { generateLogKey, loadOrCreateLogKey, signCheckpoint } from '../../dist/audit/checkpoint.js';
import { reportMessage, type ComplianceReport } from '../../dist/compliance/report.js';
import type { ControlAssessment } from '../../dist/compliance/assess.js';
import { fixturePath } from '../helpers/fixtures.js';
import { agentosIn } from '../helpers/cli.js';
import { TEST_CACHE_DIR, tempDir } from '../helpers/sandbox.js';

const tmp = tempDir('agentos-compliance-cli-');
afterAll(() => tmp.cleanup());

const agentos = agentosIn(tmp.dir);

const auditDir = join(tmp.dir, 'audit');
const data = join(tmp.dir, 'data');
const good = {
  version: 1,
  capabilities: { allowed: ['read_files'], forbidden: ['network_access'] },
  mounts: [{ guest: '/w', host: data, mode: 'ro' }],
  fileAccess: { forbidden: ['/w/secret.txt'] },
};
/** Classified data: files under data policies (the code-reviewer role reads .ts files). */
const classified = {
  version: 1,
  roles: ['code-reviewer'],
  capabilities: { allowed: ['read_files'], forbidden: ['network_access'] },
  mounts: [{ guest: '/w', host: data, mode: 'ro' }],
  dataPolicies: [
    { dataId: '/w/customers/*', classification: 'restricted', accessRules: { readRoles: ['code-reviewer'] } },
    { dataId: '/w/hr/*', classification: 'confidential', accessRules: { readRoles: ['data-analyst'] } },
  ],
};
const wide = { version: 1, capabilities: { allowed: ['read_files', 'write_files'] }, mounts: [{ guest: '/host-etc', host: '/etc', mode: 'rw' }], toolAccess: { allow: ['*'] } };

/** Every control of the report, by check. */
function byCheck(r: ComplianceReport): Map<string, ControlAssessment> {
  const m = new Map<string, ControlAssessment>();
  for (const req of r.assessment.requirements) for (const c of req.controls) if (c.check) m.set(c.check, c);
  return m;
}

describe('agentos compliance', () => {
  beforeAll(async () => {
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'a.txt'), 'a');
    writeFileSync(join(data, 'secret.txt'), 's');
    writeFileSync(join(tmp.dir, 'good.json'), JSON.stringify(good));
    writeFileSync(join(tmp.dir, 'wide.json'), JSON.stringify(wide));
    writeFileSync(join(tmp.dir, 'classified.json'), JSON.stringify(classified));
    mkdirSync(join(data, 'customers'));
    mkdirSync(join(data, 'hr'));
    writeFileSync(join(data, 'customers', 'alice.ts'), 'alice');
    writeFileSync(join(data, 'hr', 'bob.ts'), 'bob');
    const sandbox = createSandbox({ audit: { dir: auditDir }, cacheDir: TEST_CACHE_DIR });
    try {
      const agent = await sandbox.load(fixturePath('fsprobe'), { policy: good });
      await agent.run(['read /w/a.txt', 'read /w/a.txt', ...Array.from({ length: 10 }, () => 'read /w/secret.txt')].join('\n'));
      const reviewer = await sandbox.load(fixturePath('fsprobe'), { policy: classified, agentId: 'reviewer-1' });
      await reviewer.run('read /w/customers/alice.ts\nread /w/customers/alice.ts\nread /w/hr/bob.ts');
      await sandbox.monitor.settle();
    } finally {
      await sandbox.close();
    }
  }, 120_000);

  it('report: each automated control of SOC 2 gets the status its evidence calls for, with reasons and proven records', () => {
    const r = agentos(['compliance', 'report', '--framework', 'soc2', '--audit', auditDir, '--policy', 'good.json', '-o', 'soc2.json']);
    expect(r.stderr).toMatch(/SOC 2.*written to soc2\.json/);
    expect(r.status).toBe(0);
    const report = JSON.parse(readFileSync(join(tmp.dir, 'soc2.json'), 'utf8')) as ComplianceReport;
    const c = byCheck(report);
    expect(c.get('decisions-logged')).toMatchObject({ status: 'compliant', reasons: [expect.stringMatching(/access decisions recorded \(10 denials\)/)] });
    expect(c.get('data-access-logging')).toBeUndefined(); // SOC 2 maps no control to it
    expect(c.get('least-privilege')).toMatchObject({ status: 'compliant' });
    expect(c.get('authentication')?.status).toBe('compliant');
    expect(c.get('monitoring')).toMatchObject({ status: 'compliant', reasons: [expect.stringMatching(/alerts raised and recorded \(1 medium\)/)] });
    // Signed checkpoints but no witness: partial, saying what is missing.
    expect(c.get('audit-integrity')).toMatchObject({ status: 'partial', reasons: [expect.stringMatching(/no witness/)] });
    // The component was not signed.
    expect(c.get('component-integrity')).toMatchObject({ status: 'non_compliant', reasons: [expect.stringMatching(/none of the 1 components started had a verified signature/)] });
    expect(c.get('change-management')?.status).toBe('compliant');
    expect(c.get('incident-response')).toMatchObject({ status: 'compliant', reasons: ['no incident in the period'] });
    expect(report.assessment.overallStatus).toBe('non_compliant');
    // Controls that need a person are never passed off as checked.
    const manual = report.assessment.requirements.flatMap((q) => q.controls).filter((x) => !x.automated);
    expect(manual.length).toBeGreaterThan(0);
    expect(manual.every((x) => x.status === 'not_assessed' && x.reasons[0]!.startsWith('needs a person'))).toBe(true);
    expect(report.assessment.summary.manual).toBe(manual.length);
    // Every cited record is proven.
    const cited = new Set(report.assessment.requirements.flatMap((q) => q.controls.flatMap((x) => x.evidence.flatMap((e) => (e.kind === 'records' ? e.seqs : [])))));
    expect(cited.size).toBeGreaterThan(3);
    expect(new Set(report.proofs.map((p) => p.seq))).toEqual(cited);
  }, 120_000);

  it('report: a policy that mounts /etc read-write and allows every tool is non-compliant and named; PCI DSS retention is assessed against its 12 months', () => {
    const r = agentos(['compliance', 'report', '--framework', 'pci-dss', '--audit', auditDir, '--policy', 'good.json', '--policy', 'wide.json', '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as ComplianceReport;
    const c = byCheck(report);
    expect(c.get('least-privilege')).toMatchObject({ status: 'non_compliant', reasons: ['wide.json: mounts /etc read-write at /host-etc', 'wide.json: toolAccess.allow allows every tool'] });
    expect(c.get('retention')).toMatchObject({ status: 'compliant', reasons: [expect.stringMatching(/nothing was ever pruned.*required: 365 days/)] });
  }, 120_000);

  it('verify: the report checks offline against an export; an altered record, an altered report and a foreign checkpoint each fail', () => {
    expect(agentos(['audit', 'export', '--audit', auditDir, '-o', 'log.jsonl']).status).toBe(0);
    const ok = agentos(['compliance', 'verify', 'soc2.json', '--export', 'log.jsonl']);
    expect(ok.stdout).toMatch(/report ok: soc2 .* evidence records proven against the export/);
    expect(ok.status).toBe(0);

    // An altered evidence record in the export.
    const report = JSON.parse(readFileSync(join(tmp.dir, 'soc2.json'), 'utf8')) as ComplianceReport;
    const lines = readFileSync(join(tmp.dir, 'log.jsonl'), 'utf8').split('\n');
    const seq = report.proofs[0]!.seq;
    lines[1 + seq] = lines[1 + seq]!.replace('"outcome":"', '"outcome":"x');
    writeFileSync(join(tmp.dir, 'tampered-log.jsonl'), lines.join('\n'));
    const badRecord = agentos(['compliance', 'verify', 'soc2.json', '--export', 'tampered-log.jsonl', '--json']);
    expect(badRecord.status).toBe(1);
    expect(JSON.parse(badRecord.stdout).problems.join('\n')).toMatch(new RegExp(`evidence record ${seq} in the export is not the record the report proves`));

    // An altered report (a status changed).
    const altered = structuredClone(report) as { assessment: { overallStatus: string } };
    altered.assessment.overallStatus = 'compliant';
    writeFileSync(join(tmp.dir, 'altered.json'), JSON.stringify(altered));
    const badReport = agentos(['compliance', 'verify', 'altered.json', '--export', 'log.jsonl', '--json']);
    expect(badReport.status).toBe(1);
    expect(JSON.parse(badReport.stdout).problems.join('\n')).toMatch(/report's signature does not verify/);
  }, 120_000);

  it('verify: a checkpoint of another log fails, even in a report re-signed with the right key', async () => {
    const report = JSON.parse(readFileSync(join(tmp.dir, 'soc2.json'), 'utf8')) as ComplianceReport;
    const foreign = generateLogKey();
    const cp = report.checkpoint!;
    const { signature: _s, ...body } = { ...report, checkpoint: signCheckpoint(foreign, { size: cp.size, rootHash: Buffer.from(cp.rootHash, 'hex'), lastHash: Buffer.from(cp.lastHash, 'hex'), timestamp: cp.timestamp }) };
    const key = await loadOrCreateLogKey(join(auditDir, 'log-key.pem'));
    const resigned = { ...body, signature: sign(null, reportMessage(body), key.privateKey).toString('base64') };
    writeFileSync(join(tmp.dir, 'foreign.json'), JSON.stringify(resigned));
    const r = agentos(['compliance', 'verify', 'foreign.json', '--export', 'log.jsonl', '--json']);
    expect(r.status).toBe(1);
    const problems = (JSON.parse(r.stdout) as { problems: string[] }).problems;
    expect(problems.join('\n')).toMatch(/the report's checkpoint: /);
    expect(problems.join('\n')).not.toMatch(/signature does not verify under the log's key/);
  }, 60_000);

  it('GDPR: the data-access control, Art. 30 records of processing and an Art. 15 access history from the chain', () => {
    const r = agentos(['compliance', 'report', '--framework', 'gdpr', '--audit', auditDir, '--policy', 'classified.json', '--json']);
    expect(r.status).toBe(0);
    const c = byCheck(JSON.parse(r.stdout) as ComplianceReport);
    expect(c.get('data-access-logging')).toMatchObject({ status: 'compliant', reasons: ['3 decisions on 2 classified data ids recorded, each with its agent and policy'] });
    const records = agentos(['compliance', 'gdpr', 'records', '--audit', auditDir, '--policy', 'classified.json', '--json']);
    expect(records.status).toBe(0);
    expect(JSON.parse(records.stdout)).toEqual([
      expect.objectContaining({ agentId: 'reviewer-1', dataPolicy: '/w/customers/*', classification: 'restricted', resources: ['/w/customers/alice.ts'], actions: { read: { allowed: 2, denied: 0 } } }),
      expect.objectContaining({ agentId: 'reviewer-1', dataPolicy: '/w/hr/*', classification: 'confidential', resources: ['/w/hr/bob.ts'] }),
    ]);
    const access = agentos(['compliance', 'gdpr', 'access', '--data-id', '/w/customers/alice.ts', '--audit', auditDir, '--json']);
    expect(access.status).toBe(0);
    const events = JSON.parse(access.stdout) as { seq: number; agentId: string; outcome: string; dataPolicy: string }[];
    expect(events.map((e) => [e.agentId, e.outcome, e.dataPolicy])).toEqual([['reviewer-1', 'success', '/w/customers/*'], ['reviewer-1', 'success', '/w/customers/*']]);
    expect(events[0]!.seq).toBeLessThan(events[1]!.seq);
    expect(agentos(['compliance', 'gdpr', 'access', '--audit', auditDir]).status).toBe(2);
  }, 120_000);

  it('list and status; usage errors exit 2', () => {
    const list = agentos(['compliance', 'list']);
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^soc2 {2}SOC 2/m);
    expect(list.stdout).toMatch(/\[a person\]/);
    const status = agentos(['compliance', 'status', '--audit', auditDir, '--json']);
    expect(status.status).toBe(0);
    expect((JSON.parse(status.stdout) as { framework: string }[]).map((s) => s.framework)).toEqual(['gdpr', 'pci-dss', 'soc2']);
    expect(agentos(['compliance', 'report', '--framework', 'sox', '--audit', auditDir]).status).toBe(2);
    expect(agentos(['compliance', 'verify', 'soc2.json']).status).toBe(2);
    expect(agentos(['compliance', '--help']).stdout).toMatch(/Usage: agentos compliance/);
  }, 60_000);
});
