/**
 * Capability grants of the MCP adapter (host-adapters/mcp/grant.ts): only lists that add
 * permissions, checked by the policy schema and made canonical; widening joins them to the
 * policy and leaves every deny, fixed value and limit as it was.
 */
import { describe, expect, it } from 'vitest';
import { parsePolicyText } from 'agent-os-sandbox';
import { grantText, parseGrant, widenPolicy } from 'agent-os-sandbox/mcp';

const policy = (value: object) => parsePolicyText(JSON.stringify({ version: 1, ...value }), { format: 'json' }).policy;

describe('parseGrant', () => {
  it('keeps only the lists given, canonical and without duplicates', () => {
    expect(parseGrant({ networkRules: { allowedHosts: ['API.Example.COM', 'api.example.com'] } })).toEqual({ networkRules: { allowedHosts: ['api.example.com'] } });
    expect(parseGrant({ env: { allow: ['LANG'] }, toolAccess: { allow: ['search'] }, fileAccess: { readwrite: [] } })).toEqual({ env: { allow: ['LANG'] }, toolAccess: { allow: ['search'] } });
    expect(grantText(parseGrant({ capabilities: { allowed: ['read_files'] }, fileAccess: { readonly: ['/w/**'] } }))).toBe('capabilities.allowed ["read_files"], fileAccess.readonly ["/w/**"]');
  });

  it('refuses anything that is not an added permission, naming it', () => {
    const cases: [unknown, RegExp][] = [
      [null, /expected an object/],
      [['x'], /expected an object/],
      [{ capabilities: { forbidden: ['x'] } }, /grant\.capabilities\.forbidden: a grant can only add/],
      [{ env: { set: { A: 'b' } } }, /grant\.env\.set/],
      [{ resourceLimits: { maxFuel: 1 } }, /grant\.resourceLimits/],
      [{ roles: ['admin'] }, /grant\.roles/],
      [{ networkRules: { maxConnections: 9 } }, /grant\.networkRules\.maxConnections/],
      [{ env: { allow: 'HOME' } }, /grant\.env\.allow: expected a list/],
      [{ env: { allow: ['1BAD'] } }, /env\.allow/],
      [{ networkRules: { allowedHosts: ['https://x.test'] } }, /allowedHosts/],
      [{ toolAccess: { allow: ['x'.repeat(20_000)] } }, /over 16384 bytes/],
    ];
    for (const [value, message] of cases) expect(() => parseGrant(value), JSON.stringify(value)?.slice(0, 80)).toThrow(message);
    expect(() => parseGrant({ mounts: [] })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });
});

describe('widenPolicy', () => {
  it('joins each list and keeps every deny, fixed value, limit and rule', () => {
    const before = policy({
      capabilities: { allowed: ['read_files'], forbidden: ['network_access'] },
      fileAccess: { readonly: ['/w/a'], forbidden: ['/w/secret/**'] },
      env: { allow: ['LANG'], set: { TOKEN: 'abc' } },
      resourceLimits: { maxFuel: 1000 },
      roles: ['code-reviewer'],
    });
    const { policy: after, warnings } = widenPolicy(before, parseGrant({ capabilities: { allowed: ['network_access', 'read_files'] }, fileAccess: { readonly: ['/w/b'] }, env: { allow: ['HOME'] } }));
    expect(after.capabilities).toEqual({ allowed: ['read_files', 'network_access'], forbidden: ['network_access'] });
    expect(after.fileAccess).toEqual({ readonly: ['/w/a', '/w/b'], readwrite: [], forbidden: ['/w/secret/**'] });
    expect(after.env.allow).toEqual(['LANG', 'HOME']);
    expect(after.env.set).toEqual({ TOKEN: 'abc' });
    expect(after.resourceLimits.maxFuel).toBe(1000);
    expect(after.roles).toEqual(['code-reviewer']);
    expect(warnings.join('\n')).toMatch(/network_access.*forbidden wins/);
  });

  it("adding ports keeps the protocols' default ports: a grant never narrows", () => {
    const before = policy({ capabilities: { allowed: ['network_access'] }, networkRules: { allowedHosts: ['a.test'] } });
    const ports = widenPolicy(before, parseGrant({ networkRules: { allowedPorts: [8443] } })).policy.networkRules;
    expect(ports).toMatchObject({ allowedHosts: ['a.test'], allowedPorts: [443, 8443], protocols: ['https'] });
    const hosts = widenPolicy(before, parseGrant({ networkRules: { allowedHosts: ['b.test'], protocols: ['http'] } })).policy.networkRules;
    expect(hosts.allowedHosts).toEqual(['a.test', 'b.test']);
    expect(hosts.protocols).toEqual(['https', 'http']);
    expect(hosts.allowedPorts).toBeUndefined();
  });
});
