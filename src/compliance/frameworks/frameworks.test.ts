import { describe, expect, it } from 'vitest';
import { CHECK_IDS, type CheckId } from '../types.js';
import { FRAMEWORKS, frameworkById } from './index.js';

const EXPECTED: Record<string, readonly string[]> = {
  soc2: ['CC6.1', 'CC6.2', 'CC6.3', 'CC6.6', 'CC6.7', 'CC6.8', 'CC7.1', 'CC7.2', 'CC7.3', 'CC7.4', 'CC8.1'],
  iso27001: ['A.5.15', 'A.5.16', 'A.5.17', 'A.5.18', 'A.5.28', 'A.8.2', 'A.8.3', 'A.8.5', 'A.8.9', 'A.8.12', 'A.8.15', 'A.8.16', 'A.8.20', 'A.8.24'],
  gdpr: ['Art. 5(1)(f)', 'Art. 25', 'Art. 30', 'Art. 32', 'Art. 33'],
  hipaa: ['164.308(a)(1)(ii)(D)', '164.312(a)(1)', '164.312(b)', '164.312(c)(1)', '164.312(d)', '164.312(e)(1)'],
  'pci-dss': ['7.2', '8.2', '8.3', '10.2', '10.3', '10.5', '10.7', '11.5'],
};

describe('compliance frameworks as data', () => {
  it('has the five frameworks in order, each with exactly its requirement ids', () => {
    expect(FRAMEWORKS.map((f) => f.id)).toEqual(['soc2', 'iso27001', 'gdpr', 'hipaa', 'pci-dss']);
    for (const f of FRAMEWORKS) {
      expect(f.requirements.map((r) => r.id), f.id).toEqual(EXPECTED[f.id]);
      expect(f.revision).toBe(1);
      expect(f.assessmentIntervalDays).toBeGreaterThan(0);
      expect(f.retentionBasis, f.id).toBeTruthy();
    }
  });

  it('finds frameworks by id', () => {
    for (const f of FRAMEWORKS) expect(frameworkById(f.id)).toBe(f);
    expect(frameworkById('nist-800-53')).toBeUndefined();
  });

  it('states retention where the framework does: PCI DSS 12 months, HIPAA 6 years, none for the others', () => {
    expect(frameworkById('pci-dss')?.retentionDays).toBe(365);
    expect(frameworkById('hipaa')?.retentionDays).toBe(2190);
    for (const id of ['soc2', 'iso27001', 'gdpr']) expect(frameworkById(id)?.retentionDays, id).toBeUndefined();
  });

  it('keeps control ids unique and lower-case within a framework', () => {
    for (const f of FRAMEWORKS) {
      const ids = f.requirements.flatMap((r) => r.controls.map((c) => c.id));
      expect(new Set(ids).size, f.id).toBe(ids.length);
      for (const id of ids) expect(id, f.id).toBe(id.toLowerCase());
    }
  });

  it('maps controls only to known checks, each with a scope', () => {
    const known = new Set<string>(CHECK_IDS);
    for (const f of FRAMEWORKS) {
      for (const r of f.requirements) {
        for (const c of r.controls) {
          if (c.check !== undefined) expect(known.has(c.check), `${f.id} ${c.id}: ${c.check}`).toBe(true);
          expect(c.scope.length, `${f.id} ${c.id}`).toBeGreaterThan(0);
          expect(c.implementation.length, `${f.id} ${c.id}`).toBeGreaterThan(0);
        }
      }
    }
  });

  it('gives every requirement 1–4 controls, 1–3 evidence items and 1–2 monitoring items', () => {
    for (const f of FRAMEWORKS) {
      for (const r of f.requirements) {
        const where = `${f.id} ${r.id}`;
        expect(r.controls.length, where).toBeGreaterThanOrEqual(1);
        expect(r.controls.length, where).toBeLessThanOrEqual(4);
        expect(r.evidence.length, where).toBeGreaterThanOrEqual(1);
        expect(r.evidence.length, where).toBeLessThanOrEqual(3);
        expect(r.monitoring.length, where).toBeGreaterThanOrEqual(1);
        expect(r.monitoring.length, where).toBeLessThanOrEqual(2);
        // Only what the report collects itself (audit records, policy configuration) is automated.
        for (const e of r.evidence) if (e.automated) expect(['audit_logs', 'configuration'], where).toContain(e.type);
      }
    }
  });

  it('uses every check somewhere (network-restriction may be unused)', () => {
    const used = new Set<CheckId>();
    for (const f of FRAMEWORKS) for (const r of f.requirements) for (const c of r.controls) if (c.check) used.add(c.check);
    const unused = CHECK_IDS.filter((id) => !used.has(id) && id !== 'network-restriction');
    expect(unused).toEqual([]);
  });

  it('leaves encryption in transit (TLS, which the sandbox does not terminate) to a person', () => {
    for (const id of ['soc2', 'iso27001', 'gdpr', 'hipaa']) {
      const inTransit = (frameworkById(id)?.requirements ?? []).flatMap((r) => r.controls).filter((c) => /in transit/i.test(c.name));
      expect(inTransit.length, id).toBeGreaterThan(0);
      for (const c of inTransit) expect(c.check, `${id} ${c.id}`).toBeUndefined();
    }
  });
});
