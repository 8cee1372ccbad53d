/**
 * The Landlock ruleset of a native agent comes from the same file plan as its mounts: the
 * sandbox's fixed directories with fixed rights, each bind with its mode, masks inside their
 * bind's rule, TCP only to the proxy when the policy grants network; and the helper's spec text.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PolicyError } from '../errors.js';
import { validatePolicy } from '../policy/normalize.js';
import { landlockSpecText, type LandlockSpec } from './exec-helper.js';
import { describeLandlock, landlockRules } from './landlock.js';
import { planFileMounts, type FilePlan } from './mounts.js';
import { PROXY_PORT } from './native-network.js';

const tmp = mkdtempSync(join(tmpdir(), 'agentos-landlock-'));
chmodSync(tmp, 0o755);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const dir = (name: string, mode = 0o755) => {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  chmodSync(d, mode);
  return d;
};

const FIXED = [
  { access: 'ro', path: '/etc' },
  { access: 'ro', path: '/proc' },
  { access: 'dev', path: '/dev' },
  { access: 'rw', path: '/dev/shm' },
  { access: 'rw', path: '/tmp' },
];
const empty: FilePlan = { mounts: [], summary: [] };

describe('landlockRules', () => {
  it('grants the sandbox layout: /usr read + execute, /etc and /proc read, /dev its nodes, /dev/shm and /tmp everything', () => {
    const spec = landlockRules(empty, { network: false });
    expect(spec.paths[0]).toEqual({ access: 'rx', path: '/usr' });
    expect(spec.paths.filter((p) => p.access === 'rx').every((p) => p.path === '/usr' || /^\/(s?bin|lib\w*)$/.test(p.path))).toBe(true);
    expect(spec.paths.slice(-FIXED.length)).toEqual(FIXED);
    expect(spec.paths.some((p) => p.path === '/' || p.path.startsWith('/run'))).toBe(false);
    expect(spec.connectPorts).toEqual([]);
    expect(spec.bindPorts).toEqual([]);
    expect(spec.minAbi).toBeUndefined();
  });

  it('gives each mount of a real plan its mode (ro: read + execute, rw: everything); masks take their bind rule', () => {
    const data = dir('data');
    dir('data/secret');
    const work = dir('work', 0o777);
    dir('work/docs');
    const { policy } = validatePolicy(
      {
        version: 1,
        capabilities: { allowed: ['read_files', 'write_files'] },
        mounts: [{ guest: '/data', host: data, mode: 'ro' }, { guest: '/work', host: work, mode: 'rw' }],
        fileAccess: { readonly: ['/work/docs/**', '/data/**'], readwrite: ['/work/**'], forbidden: ['/data/secret/**'] },
      },
      { source: 'test' },
    );
    const plan = planFileMounts(policy);
    expect(plan.mounts.map((m) => m.kind)).toEqual(['bind', 'mask-dir', 'bind', 'bind']);
    const spec = landlockRules(plan, { network: false });
    expect(spec.paths.slice(-3)).toEqual([
      { access: 'rx', path: '/data' },
      { access: 'rw', path: '/work' },
      { access: 'rx', path: '/work/docs' },
    ]);
  });

  it('allows TCP connect only to the proxy when the policy grants network', () => {
    expect(landlockRules(empty, { network: true }).connectPorts).toEqual([PROXY_PORT]);
    expect(landlockRules(empty, { network: true, proxyPort: 8080, minAbi: 4 })).toMatchObject({ connectPorts: [8080], minAbi: 4 });
  });

  it('keeps one rule per path and mode, and refuses a path the spec cannot carry', () => {
    const plan: FilePlan = {
      mounts: [
        { kind: 'bind', host: '/h', guest: '/tmp', readonly: false },
        { kind: 'bind', host: '/h', guest: '/a', readonly: true },
        { kind: 'bind', host: '/h', guest: '/a', readonly: true },
        { kind: 'mask-file', guest: '/a/.env' },
      ],
      summary: [],
    };
    const paths = landlockRules(plan, { network: false }).paths;
    expect(paths.filter((p) => p.path === '/tmp')).toHaveLength(1);
    expect(paths.filter((p) => p.path.startsWith('/a'))).toEqual([{ access: 'rx', path: '/a' }]);
    const bad: FilePlan = { mounts: [{ kind: 'bind', host: '/h', guest: '/a\nrw /', readonly: true }], summary: [] };
    expect(() => landlockRules(bad, { network: false })).toThrow(PolicyError);
  });
});

describe('landlockSpecText', () => {
  it('writes one rule per line, ports and the ABI floor last', () => {
    const spec: LandlockSpec = { paths: [{ access: 'rx', path: '/usr' }, { access: 'rw', path: '/my work' }], connectPorts: [3128], bindPorts: [8000], minAbi: 4 };
    expect(landlockSpecText(spec)).toBe('rx /usr\nrw /my work\nconnect 3128\nbind 8000\nabi 4\n');
  });

  it('refuses relative paths, line breaks and bad ports', () => {
    const text = (paths: LandlockSpec['paths'], connectPorts: number[] = []) => () => landlockSpecText({ paths, connectPorts });
    expect(text([{ access: 'ro', path: 'etc' }])).toThrow(RangeError);
    expect(text([{ access: 'ro', path: '/etc\nrw /' }])).toThrow(RangeError);
    expect(text([], [65536])).toThrow(RangeError);
    expect(text([], [1.5])).toThrow(RangeError);
  });
});

describe('describeLandlock', () => {
  const spec = landlockRules(empty, { network: true });
  it('says what each ABI enforces', () => {
    const seven = describeLandlock(spec, 7);
    expect(seven[0]).toMatch(/^landlock ABI 7: files only as granted: rx \/usr, .*rw \/tmp$/);
    expect(seven.slice(1)).toEqual(['landlock: TCP connect only to port 3128, no bind', 'landlock: abstract unix sockets and signals only within the sandbox']);
    expect(describeLandlock(spec, 3).slice(1)).toEqual(['landlock: TCP not restricted (needs ABI 4)', 'landlock: abstract unix sockets and signals not scoped (needs ABI 6)']);
    expect(describeLandlock(spec, 0)).toEqual(['landlock: not applied (kernel ABI 0, needs 1); the mounts alone restrict files']);
    expect(describeLandlock({ ...spec, minAbi: 6 }, 5)[0]).toMatch(/not applied \(kernel ABI 5, needs 6\)/);
  });
});
