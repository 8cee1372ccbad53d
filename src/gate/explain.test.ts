import { describe, expect, it } from 'vitest';
import { parsePolicyText } from '../policy/loader.js';
import { explainRequest } from './explain.js';

const { policy } = parsePolicyText(
  JSON.stringify({
    version: 1,
    capabilities: { allowed: ['read_files', 'network_access'] },
    mounts: [{ guest: '/w', host: '/tmp', mode: 'ro' }],
    fileAccess: { readonly: ['/w/**'], forbidden: ['/w/secret/**'] },
    networkRules: { allowedHosts: ['api.github.com'] },
    env: { allow: ['LANG'] },
    toolAccess: { allow: ['search'] },
  }),
  { format: 'json' },
);

describe('explainRequest', () => {
  it('decides each resource kind with the rules that decided it, recording nothing', () => {
    const read = explainRequest(policy, { resource: 'file', action: 'read', attributes: { path: '/w/a.txt' } });
    expect(read).toMatchObject({ decision: { allowed: true }, layer: 'sandbox + model' });
    expect(read.decision.matched.length).toBeGreaterThan(0);
    expect(read.events).toHaveLength(1);
    expect(explainRequest(policy, { resource: 'file', action: 'read', attributes: { path: '/w/secret/k' } }).decision.allowed).toBe(false);
    expect(explainRequest(policy, { resource: 'network', action: 'connect', attributes: { url: 'https://api.github.com/x' } }).decision.allowed).toBe(true);
    expect(explainRequest(policy, { resource: 'network', action: 'connect', attributes: { host: 'evil.test', port: 443 } }).decision.allowed).toBe(false);
    expect(explainRequest(policy, { resource: 'env', action: 'read', attributes: { name: 'LANG' } })).toMatchObject({ decision: { allowed: true, matched: ['env:LANG'] }, layer: 'sandbox' });
    expect(explainRequest(policy, { resource: 'env', action: 'read', attributes: { name: 'HOME' } }).decision.reason).toMatch(/not in env\.allow/);
    expect(explainRequest(policy, { resource: 'tool', action: 'invoke', attributes: { name: 'search' } }).decision.matched).toEqual(expect.arrayContaining(['toolAccess:search']));
    expect(explainRequest(policy, { resource: 'system', action: 'execute' })).toMatchObject({ decision: { allowed: false }, layer: 'model' });
  });

  it('a malformed request is a usage error', () => {
    expect(() => explainRequest(policy, { resource: 'file', action: 'read' })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => explainRequest(policy, { resource: 'network', action: 'connect', attributes: { url: 'not a url' } })).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(() => explainRequest(policy, { resource: '', action: 'read' })).toThrow(/request\.resource/);
  });
});
