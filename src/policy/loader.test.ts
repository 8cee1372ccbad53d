import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import { emptyPolicy, loadPolicyFile, MAX_POLICY_BYTES, parsePolicyObject, parsePolicyText } from './loader.js';
import { LOADED_POLICY } from './schema.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/policies/', import.meta.url));

/** The field path each bad fixture must be rejected at (`details.path`). */
const BAD_PATHS: Record<string, string | RegExp> = {
  'missing-version.yaml': 'version',
  'version-string.yaml': 'version',
  'version-two.json': 'version',
  'unknown-top-field.yaml': 'network',
  'unknown-nested-field.yaml': 'networkRules.allowedPort',
  'port-string.yaml': 'networkRules.allowedPorts[0]',
  'port-string.json': 'networkRules.allowedPorts[0]',
  'port-zero.yaml': 'networkRules.allowedPorts[0]',
  'allow-string-false.yaml': 'env.allow',
  'allow-bool.yaml': 'toolAccess.allow',
  'env-value-number.yaml': 'env.set.PORT',
  'env-bad-name.yaml': 'env.allow[0]',
  'env-bad-set-name.json': 'env.set["A-B"]',
  'duplicate-key.yaml': 'networkRules.allowedHosts',
  'duplicate-key.json': 'networkRules.allowedHosts',
  'duplicate-top-key.json': 'version',
  'proto-key.yaml': '__proto__',
  'proto-key.json': '__proto__',
  'proto-nested.json': 'env.set.__proto__',
  'constructor-key.yaml': 'env.set.constructor',
  'prototype-key.json': 'agent.prototype',
  'alias-billion-laughs.yaml': 'b[0]',
  'alias-simple.yaml': 'capabilities.forbidden',
  'merge-key.yaml': 'networkRules["<<"]',
  'tag-binary.yaml': 'agent.type',
  'tag-custom.yaml': 'agent',
  'yaml11-directive.yaml': '(top level)',
  'non-string-key.yaml': 'env.set',
  'star-host.yaml': 'networkRules.allowedHosts[0]',
  'host-with-port.yaml': 'networkRules.allowedHosts[0]',
  'host-url.yaml': 'networkRules.allowedHosts[0]',
  'host-userinfo.yaml': 'networkRules.allowedHosts[0]',
  'host-mid-wildcard.yaml': 'networkRules.allowedHosts[0]',
  'bad-protocol.yaml': 'networkRules.protocols[0]',
  'protocols-string.yaml': 'networkRules.protocols',
  'overlapping-mounts.yaml': 'mounts[1].guest',
  'same-mount.yaml': 'mounts[1].guest',
  'root-mount-overlap.json': 'mounts[1].guest',
  'relative-guest.yaml': 'mounts[0].guest',
  'dotdot-guest.yaml': 'mounts[0].guest',
  'trailing-slash-guest.yaml': 'mounts[0].guest',
  'mount-mode.yaml': 'mounts[0].mode',
  'mount-tilde.yaml': 'mounts[0].host',
  'mount-missing-host.yaml': 'mounts[0].host',
  'relative-glob.yaml': 'fileAccess.readonly[0]',
  'tilde-glob.yaml': 'fileAccess.forbidden[0]',
  'unclosed-class-glob.yaml': 'fileAccess.readonly[0]',
  'brace-bomb-glob.yaml': 'fileAccess.readonly[0]',
  'bad-size.yaml': 'resourceLimits.maxMemory',
  'size-negative.json': 'resourceLimits.maxFileSize',
  'size-bool.yaml': 'resourceLimits.maxOutputBytes',
  'memory-zero.yaml': 'resourceLimits.maxMemory',
  'bad-duration.yaml': 'resourceLimits.maxExecutionTime',
  'duration-month.yaml': 'resourceLimits.maxCpuTime',
  'fuel-string.yaml': 'resourceLimits.maxFuel',
  'fuel-fraction.json': 'resourceLimits.maxFuel',
  'fuel-unsafe.json': 'resourceLimits.maxFuel',
  'fuel-infinity.yaml': 'resourceLimits.maxFuel',
  'processes-negative.yaml': 'resourceLimits.maxProcesses',
  'capability-uppercase.yaml': 'capabilities.allowed[0]',
  'capabilities-string.yaml': 'capabilities.allowed',
  'tool-mid-wildcard.yaml': 'toolAccess.allow[0]',
  'agent-version-number.yaml': 'agent.version',
  'syscall-bad.yaml': 'allowedSyscalls[0]',
  'syntax-error.yaml': /^line \d+, column \d+$/,
  'syntax-error.json': '(top level)',
  'multiple-docs.yaml': /^line \d+, column \d+$/,
  'empty.yaml': '(top level)',
  'comments-only.yaml': '(top level)',
  'list-top-level.json': '(top level)',
  'scalar-top-level.yaml': '(top level)',
  'null-section.yaml': 'networkRules',
  'deep-nesting.json': /^agent(\[0\])+$/,
  'rate-limit-zero.yaml': 'rateLimits.network_access.calls',
  'usage-limit-proto.json': 'toolAccess.usageLimits.__proto__',
  'disk-quota-bad.yaml': 'resourceLimits.diskQuota',
};

async function listFixtures(kind: 'good' | 'bad'): Promise<string[]> {
  return (await readdir(join(FIXTURES, kind))).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();
}

describe('policy fixtures', () => {
  it('every good fixture loads', async () => {
    const files = await listFixtures('good');
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const f of files) {
      const loaded = await loadPolicyFile(join(FIXTURES, 'good', f)).catch((e: unknown) => {
        throw new Error(`${f} should load: ${String(e)}`);
      });
      expect(loaded.policy.version).toBe(1);
      expect(loaded.source).toBe(join(FIXTURES, 'good', f));
    }
  });

  it('every bad fixture throws PolicyError at the expected path', async () => {
    const files = await listFixtures('bad');
    expect(files.sort()).toEqual(Object.keys(BAD_PATHS).sort());
    for (const f of files) {
      const path = join(FIXTURES, 'bad', f);
      const err = await loadPolicyFile(path).then(
        () => {
          throw new Error(`${f} should have been rejected`);
        },
        (e: unknown) => e,
      );
      expect(err, f).toBeInstanceOf(PolicyError);
      const pe = err as PolicyError;
      expect(pe.code, f).toBe('POLICY_INVALID');
      expect(pe.details.source, f).toBe(path);
      const expected = BAD_PATHS[f];
      if (expected instanceof RegExp) expect(pe.details.path, f).toMatch(expected);
      else expect(pe.details.path, f).toBe(expected);
      // `<source>: <path>: <problem>; <what to change>`
      expect(pe.message.startsWith(`${path}: ${String(pe.details.path)}: `), `${f}: ${pe.message}`).toBe(true);
      expect(pe.message.split('\n')[0], f).toMatch(/; /);
    }
  });
});

describe('the DESIGN.md example and the seed policy', () => {
  it('the DESIGN.md example loads and normalizes', async () => {
    const { policy, warnings } = await loadPolicyFile(join(FIXTURES, 'good', 'design-example.yaml'));
    expect(warnings).toEqual([]);
    expect(policy.agent?.type).toBe('code-reviewer');
    expect(policy.mounts).toEqual([
      { guest: '/workspace', host: resolve(FIXTURES, 'good', 'repo'), mode: 'ro' },
      { guest: '/tmp', host: resolve(FIXTURES, 'good', 'scratch'), mode: 'rw' },
    ]);
    expect(policy.networkRules).toEqual({ allowedHosts: ['api.github.com'], allowedPorts: [443], protocols: ['https'] });
    expect(policy.resourceLimits).toEqual({ maxMemory: 256 * 1024 ** 2, maxFuel: 5_000_000_000, maxExecutionTime: 30_000, maxOutputBytes: 1024 ** 2 });
    expect(policy.env).toEqual({ allow: ['LANG'], set: {} });
    expect(policy.roles).toEqual(['code-reviewer']);
  });

  it('the seed codeReviewerPolicy expressed as YAML loads with the seed values', async () => {
    const { policy, warnings } = await loadPolicyFile(join(FIXTURES, 'good', 'code-reviewer-seed.yaml'));
    expect(policy.resourceLimits).toEqual({ maxMemory: 1024 ** 3, maxCpuTime: 30 * 60 * 1000, maxFileSize: 100 * 1024 ** 2, maxProcesses: 10 });
    expect(policy.networkRules.protocols).toEqual(['https', 'http']);
    expect(policy.networkRules.allowedPorts).toEqual([443, 80]);
    expect(policy.allowedSyscalls).toContain('rt_sigaction');
    expect(policy.fileAccess.forbidden).toContain('/proc/**');
    expect(policy.capabilities.forbidden).toEqual(['system_admin', 'file_system_admin', 'network_admin']);
    // The seed has file patterns but no mounts: loads, with a warning saying what is missing.
    expect(warnings.some((w) => w.includes('fileAccess') && w.includes('no mounts'))).toBe(true);
  });

  it('network hosts are canonicalized at load time', async () => {
    const { policy } = await loadPolicyFile(join(FIXTURES, 'good', 'network-wildcards.yml'));
    expect(policy.networkRules.allowedHosts).toEqual(['*.example.com', 'api.github.com', '127.0.0.1', '[::1]', '[2001:db8::1]']);
    expect(policy.networkRules.protocols).toEqual(['https', 'http']);
    expect(policy.networkRules.maxResponseBytes).toBe(10 * 1024 ** 2);
  });
});

describe('prototype pollution', () => {
  const hostile = [
    ['yaml', 'version: 1\n__proto__: { polluted: true }\n'],
    ['yaml', 'version: 1\nenv:\n  set:\n    __proto__: { polluted: "x" }\n'],
    ['yaml', 'version: 1\nagent: { constructor: { prototype: { polluted: true } } }\n'],
    ['yaml', 'version: 1\n"__proto__": [1]\n'],
    ['yaml', 'version: 1\n? __proto__\n: { polluted: true }\n'],
    ['json', '{"version": 1, "__proto__": {"polluted": true}}'],
    ['json', '{"version": 1, "env": {"set": {"__proto__": {"polluted": "x"}}}}'],
    ['json', '{"version": 1, "\\u005f_proto__": {"polluted": true}}'],
    ['json', '{"version": 1, "constructor": {"prototype": {"polluted": true}}}'],
    ['json', '{"version": 1, "mounts": [{"guest": "/w", "host": "/h", "prototype": {"polluted": true}}]}'],
  ] as const;

  it.each(hostile)('%s %s is rejected and Object.prototype is untouched', (format, text) => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    expect(() => parsePolicyText(text, { format })).toThrow(PolicyError);
    expect(() => parsePolicyText(text, { format })).toThrow(/__proto__|constructor|prototype/);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('normalized objects have no prototype and are frozen', () => {
    const { policy } = parsePolicyText('version: 1\nenv: { set: { A: b } }\nmounts: [{ guest: /w, host: /h }]\n');
    for (const o of [policy, policy.env, policy.env.set, policy.capabilities, policy.networkRules, policy.mounts[0], policy.resourceLimits]) {
      expect(Object.getPrototypeOf(o)).toBeNull();
      expect(Object.isFrozen(o)).toBe(true);
    }
    expect(Object.isFrozen(policy.env.allow)).toBe(true);
    expect(() => {
      (policy.env.allow as string[]).push('X');
    }).toThrow(TypeError);
  });
});

describe('duplicate keys', () => {
  it.each([
    ['yaml', 'version: 1\nenv:\n  allow: [A]\n  allow: [B]\n', 'env.allow'],
    ['yaml', 'version: 1\nenv: { set: { A: x, "A": y } }\n', 'env.set.A'],
    ['json', '{"version": 1, "env": {"allow": ["A"], "allow": ["B"]}}', 'env.allow'],
    ['json', '{"version": 1, "networkRules": {"allowedHosts": ["a.com"]}, "networkRules": {"allowedHosts": ["evil.test"]}}', 'networkRules'],
    ['json', '{"version": 1, "env": {"set": {"A": "1", "\\u0041": "2"}}}', 'env.set.A'],
  ] as const)('%s %j → %s', (format, text, path) => {
    try {
      parsePolicyText(text, { format, source: 'dup' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyError);
      expect((e as PolicyError).details).toMatchObject({ path, source: 'dup' });
      expect((e as PolicyError).message).toBe(`dup: ${path}: duplicate key; keep only one of them`);
    }
  });
});

describe('type confusion is rejected, never coerced', () => {
  it.each([
    ['version: 1\nnetworkRules: { allowedHosts: [a.com], allowedPorts: ["443"] }', 'networkRules.allowedPorts[0]: expected a number, got string "443"; remove the quotes'],
    ['version: 1\nenv: { allow: "false" }', 'env.allow: expected a list, got string "false"; write it as a list: [false]'],
    ['version: 1\nenv: { allow: false }', 'env.allow: expected a list, got false'],
    ['version: 1\nenv: { set: { DEBUG: true } }', 'env.set.DEBUG: expected a string, got true; put it in quotes: "true"'],
    ['version: 1\nmounts: [{ guest: /w, host: /h, mode: true }]', 'mounts[0].mode: expected one of "ro", "rw", got true'],
    ['version: 1\nresourceLimits: { maxFuel: "100" }', 'resourceLimits.maxFuel: expected a number, got string "100"'],
    ['version: 1\nresourceLimits: { maxMemory: [256MiB] }', 'resourceLimits.maxMemory: expected a size, got a list'],
    ['version: 1\ncapabilities: { allowed: [[read_files]] }', 'capabilities.allowed[0]: expected a string, got a list'],
    ['version: 1\nroles: code-reviewer', 'roles: expected a list, got string "code-reviewer"'],
  ])('%j', (text, message) => {
    expect(() => parsePolicyText(text, { source: 'p.yaml' })).toThrow(`p.yaml: ${message}`);
  });

  it('version: 1.0 is the number 1 in YAML, so it is accepted', () => {
    // YAML 1.2 core schema reads 1.0 as the float 1, which equals the literal 1.
    expect(() => parsePolicyText('version: 1.0\n')).not.toThrow();
  });
});

describe('format detection', () => {
  it('detects JSON by content and by source extension', () => {
    expect(parsePolicyText('{"version": 1}').policy.version).toBe(1);
    expect(parsePolicyText('  {"version": 1}', { source: 'x.json' }).policy.version).toBe(1);
    expect(() => parsePolicyText('{version: 1}', { source: 'x.json' })).toThrow(/invalid JSON/);
  });

  it('a YAML flow mapping is YAML', () => {
    expect(parsePolicyText('{version: 1, roles: [a]}').policy.roles).toEqual(['a']);
  });

  it('an explicit format wins', () => {
    expect(() => parsePolicyText('version: 1', { format: 'json' })).toThrow(/invalid JSON/);
    expect(parsePolicyText('{"version": 1}', { format: 'yaml' }).policy.version).toBe(1);
  });

  it('accepts a UTF-8 BOM', () => {
    expect(parsePolicyText('\uFEFFversion: 1\n').policy.version).toBe(1);
  });
});

describe('limits', () => {
  it('text over 1 MiB is refused before parsing', () => {
    const text = 'version: 1\n' + '#'.repeat(MAX_POLICY_BYTES);
    expect(() => parsePolicyText(text, { source: 'big.yaml' })).toThrow(/big\.yaml: \(top level\): the policy is .* over the 1MiB limit/);
  });

  it('a billion-laughs document is refused without expanding', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 20; i++) lines.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`);
    const start = performance.now();
    expect(() => parsePolicyText(lines.join('\n'))).toThrow(/aliases/);
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('deep nesting is refused', () => {
    const text = `{"version": 1, "agent": ${'['.repeat(2000)}${']'.repeat(2000)}}`;
    expect(() => parsePolicyText(text)).toThrow(PolicyError);
  });
});

describe('loadPolicyFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'policy-loader-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves relative mount hosts against the policy file directory', async () => {
    await mkdir(join(dir, 'conf'), { recursive: true });
    const file = join(dir, 'conf', 'p.yml');
    await writeFile(file, 'version: 1\ncapabilities: { allowed: [read_files] }\nmounts: [{ guest: /w, host: ../repo }]\n');
    const { policy, warnings } = await loadPolicyFile(file);
    expect(policy.mounts[0]?.host).toBe(join(dir, 'repo'));
    expect(warnings).toEqual([]);
  });

  it('without a baseDir, text resolves relative mount hosts against the cwd', () => {
    const { policy } = parsePolicyText('version: 1\nmounts: [{ guest: /w, host: repo }]\n');
    expect(policy.mounts[0]?.host).toBe(resolve(process.cwd(), 'repo'));
    expect(parsePolicyText('version: 1\nmounts: [{ guest: /w, host: repo }]\n', { baseDir: '/srv' }).policy.mounts[0]?.host).toBe('/srv/repo');
  });

  it('uses the extension to pick JSON', async () => {
    const file = join(dir, 'p.json');
    await writeFile(file, '{"version": 1, "roles": ["r"]}');
    expect((await loadPolicyFile(file)).policy.roles).toEqual(['r']);
  });

  it('refuses a missing file, a directory, a huge file and invalid UTF-8', async () => {
    await expect(loadPolicyFile(join(dir, 'nope.yaml'))).rejects.toThrow(/nope\.yaml: \(top level\): cannot read the policy file \(no such file\)/);
    await expect(loadPolicyFile(dir)).rejects.toThrow(PolicyError);
    const big = join(dir, 'big.yaml');
    await writeFile(big, 'version: 1\n' + '#'.repeat(MAX_POLICY_BYTES));
    await expect(loadPolicyFile(big)).rejects.toThrow(/over the 1MiB limit/);
    const latin1 = join(dir, 'latin1.yaml');
    await writeFile(latin1, Buffer.from([0x76, 0x65, 0x72, 0x3a, 0x20, 0xe9, 0x0a]));
    await expect(loadPolicyFile(latin1)).rejects.toThrow(/UTF-8/);
  });
});

describe('parsePolicyObject', () => {
  it('validates a plain object', () => {
    const { policy, source } = parsePolicyObject({ version: 1, env: { allow: ['LANG'] }, agent: undefined });
    expect(policy.env.allow).toEqual(['LANG']);
    expect(policy.agent).toBeUndefined();
    expect(source).toBe('<policy object>');
  });

  it.each([
    ['a class instance', { version: 1, agent: new (class A {})() }, /only plain objects/],
    ['a Map', { version: 1, env: new Map() }, /only plain objects/],
    ['a function', { version: 1, agent: () => 1 }, /function cannot appear/],
    ['a getter', Object.defineProperty({ version: 1 }, 'roles', { get: () => ['x'], enumerable: true }), /getters/],
    ['a JSON __proto__ key', JSON.parse('{"version": 1, "__proto__": {"x": 1}}') as unknown, /__proto__/],
    ['an object with a non-standard prototype', Object.create({ version: 1 }) as unknown, /only plain objects/],
    ['a bigint', { version: 1n }, /bigint cannot appear/],
  ])('rejects %s', (_name, value, message) => {
    expect(() => parsePolicyObject(value)).toThrow(PolicyError);
    expect(() => parsePolicyObject(value)).toThrow(message);
  });

  it('rejects cycles', () => {
    const a: Record<string, unknown> = { version: 1 };
    a.agent = a;
    expect(() => parsePolicyObject(a)).toThrow(/refers to itself/);
  });

  it('accepts an already normalized policy (round trip)', () => {
    const first = parsePolicyText('version: 1\nresourceLimits: { maxMemory: 64MiB }\nnetworkRules: { allowedHosts: [a.com] }\n').policy;
    const again = parsePolicyObject(first).policy;
    expect(again).toEqual(first);
  });
});

describe('emptyPolicy and the loaded marker', () => {
  it('emptyPolicy denies everything but compute', () => {
    const p = emptyPolicy();
    expect(p).toEqual({
      version: 1,
      capabilities: { allowed: [], forbidden: [] },
      roles: [],
      mounts: [],
      fileAccess: { readonly: [], readwrite: [], forbidden: [] },
      networkRules: { allowedHosts: [], protocols: ['https'] },
      env: { allow: [], set: {} },
      toolAccess: { allow: [] },
      messaging: { peers: [], topics: { publish: [], subscribe: [] }, maxMessageBytes: 64 * 1024, mailbox: 256 },
      storage: { maxBytes: 16 * 1024 * 1024, maxKeys: 10_000, maxValueBytes: 1024 * 1024 },
      resourceLimits: {},
      allowedSyscalls: [],
    });
  });

  it('marks loaded policies with a non-enumerable symbol that structuredClone drops', () => {
    const p = emptyPolicy();
    expect((p as unknown as Record<symbol, unknown>)[LOADED_POLICY]).toBe(true);
    expect(Object.keys(p)).not.toContain(String(LOADED_POLICY));
    const clone = structuredClone(p);
    expect(clone).toEqual(p);
    expect((clone as unknown as Record<symbol, unknown>)[LOADED_POLICY]).toBeUndefined();
    expect(JSON.parse(JSON.stringify(p))).toEqual(p);
  });
});

describe('robustness', () => {
  it('mutated fixtures only ever throw PolicyError', async () => {
    const files = await listFixtures('good');
    const texts = await Promise.all(files.map((f) => readFile(join(FIXTURES, 'good', f), 'utf8')));
    const alphabet = ['"', "'", '{', '}', '[', ']', ':', ',', '-', '*', '&', '!', '\n', ' ', '\\', '\0', '#', '%', '@', '0', 'x', '__proto__'];
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 400; round++) {
      const base = texts[round % texts.length] ?? '';
      const chars = base.split('');
      for (let k = 0; k < 1 + rand(4); k++) chars.splice(rand(chars.length + 1), rand(3), alphabet[rand(alphabet.length)] ?? '');
      const text = chars.join('');
      try {
        parsePolicyText(text, { source: 'fuzz' });
      } catch (e) {
        if (!(e instanceof PolicyError)) throw new Error(`non-PolicyError ${String(e)} for input ${JSON.stringify(text)}`);
      }
    }
  });
});
