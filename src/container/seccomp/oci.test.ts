/** The OCI form says what the BPF form says: the same names, and argument rules that match exactly. */
import { describe, expect, it } from 'vitest';
import { complementPrefixes, ociSeccompProfile, type OciSeccompArg } from './oci.js';
import { CLONE_NS_MASK, seccompRules } from './rules.js';

/** libseccomp's MASKED_EQ on a 64-bit argument: (arg & mask) == value. */
function matches(arg: bigint, cmp: OciSeccompArg): boolean {
  expect(cmp.op).toBe('SCMP_CMP_MASKED_EQ');
  return (arg & BigInt(cmp.value)) === BigInt(cmp.valueTwo ?? 0);
}

function allowedBy(profile: ReturnType<typeof ociSeccompProfile>, name: string, index: number, arg: bigint): boolean {
  return profile.syscalls.some((r) => r.names.includes(name) && r.action === 'SCMP_ACT_ALLOW' && (r.args ?? []).every((c) => c.index === index && matches(arg, c)));
}

describe('OCI seccomp profile', () => {
  for (const arch of ['x86_64', 'aarch64'] as const) {
    it(`${arch}: same names as the BPF rules, default EPERM, one architecture`, () => {
      const profile = ociSeccompProfile({ arch });
      expect(profile).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: [arch === 'x86_64' ? 'SCMP_ARCH_X86_64' : 'SCMP_ARCH_AARCH64'] });
      const allowNames = new Set(profile.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW').flatMap((r) => r.names));
      expect([...allowNames].sort()).toEqual([...seccompRules({ arch }).allowed]);
      expect(profile.syscalls).toContainEqual({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
      // Each name appears either unconditionally or only in conditional rules, never both.
      const plain = new Set(profile.syscalls.filter((r) => !r.args).flatMap((r) => r.names));
      for (const r of profile.syscalls.filter((x) => x.args)) for (const n of r.names) expect(plain.has(n)).toBe(false);
      expect(JSON.parse(JSON.stringify(profile))).toEqual(profile);
    });
  }

  it('clone: allowed exactly without namespace flags', () => {
    const p = ociSeccompProfile({ arch: 'x86_64' });
    expect(allowedBy(p, 'clone', 0, 0x11n)).toBe(true);
    expect(allowedBy(p, 'clone', 0, 0x3d0f00n | (1n << 40n))).toBe(true);
    for (let bit = 0; bit < 32; bit++) if (CLONE_NS_MASK & (1 << bit)) expect(allowedBy(p, 'clone', 0, BigInt((1 << bit) >>> 0) | 0x11n)).toBe(false);
  });

  it('socket: AF_UNIX, AF_INET, AF_INET6 only, compared on the 32 bits the kernel reads', () => {
    const p = ociSeccompProfile({ arch: 'x86_64' });
    for (const f of [1n, 2n, 10n, (1n << 32n) | 2n]) expect(allowedBy(p, 'socket', 0, f)).toBe(true);
    for (const f of [0n, 16n, 17n, 40n, (1n << 32n) | 16n]) expect(allowedBy(p, 'socket', 0, f)).toBe(false);
  });

  it('ioctl: everything but TIOCSTI and TIOCLINUX, high bits or not', () => {
    const p = ociSeccompProfile({ arch: 'x86_64' });
    for (const req of [0x5401n, 0x5411n, 0x5413n, 0x541bn, 0x541dn, 0n, 0xffffffffn, 0x80045430n, (1n << 32n) | 0x5401n]) expect(allowedBy(p, 'ioctl', 1, req)).toBe(true);
    for (const req of [0x5412n, 0x541cn, (1n << 32n) | 0x5412n, (0xffffffffn << 32n) | 0x541cn]) expect(allowedBy(p, 'ioctl', 1, req)).toBe(false);
  });

  it('complementPrefixes covers every 32-bit value but the excluded ones, each once', () => {
    expect(complementPrefixes([])).toEqual([[0, 0]]);
    expect(complementPrefixes([0])).toHaveLength(32);
    const excluded = [0x5412, 0x541c];
    const rules = complementPrefixes(excluded);
    const hits = (v: number): number => rules.filter(([m, p]) => ((v & m) >>> 0) === p).length;
    const samples = [0, 1, 0xffffffff, 0x80000000, ...excluded.flatMap((e) => Array.from({ length: 64 }, (_, i) => e - 32 + i))];
    for (let i = 0; i < 2000; i++) samples.push(Math.floor(Math.random() * 2 ** 32));
    for (const v of samples) expect(hits(v >>> 0)).toBe(excluded.includes(v) ? 0 : 1);
  });
});
