/**
 * The generated filter, run by the interpreter over every system call number of both
 * architectures and the argument values that matter, against an independent statement of the
 * rules (the `expected` function below), in both layouts.
 */
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../errors.js';
import { AUDIT_ARCH, decodeProgram, encodeProgram, SECCOMP_RET } from './bpf.js';
import { seccompFilter, seccompProgram } from './filter.js';
import { describeRet, runSeccomp } from './interpret.js';
import { ALWAYS_DENIED, DEFAULT_ALLOWED_SYSCALLS, seccompRules, type SeccompArch } from './rules.js';
import { SYSCALLS } from './syscall-tables.js';

const ARCHES: SeccompArch[] = ['x86_64', 'aarch64'];
const ALLOW = 'ALLOW';
const EPERM = 'ERRNO(1)';
const ENOSYS = 'ERRNO(38)';
const KILL = 'KILL_PROCESS';
const NS_FLAGS = [0x80, 0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000];
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

/** The rules, restated without the generator's code. */
function expected(arch: SeccompArch, allowed: ReadonlySet<string>, name: string | undefined, nr: number, args: readonly bigint[]): string {
  if (arch === 'x86_64' && nr >= 0x40000000) return KILL;
  if (name === undefined) return nr > 462 ? ENOSYS : EPERM;
  if (name === 'clone3') return ENOSYS;
  if (ALWAYS_DENIED.includes(name) || !allowed.has(name)) return EPERM;
  const low = (i: number): number => Number((args[i] ?? 0n) & 0xffffffffn);
  if (name === 'clone') return NS_FLAGS.some((f) => (low(0) & f) !== 0) ? EPERM : ALLOW;
  if (name === 'socket') return [1, 2, 10].includes(low(0)) ? ALLOW : EPERM;
  if (name === 'ioctl') return [TIOCSTI, TIOCLINUX].includes(low(1)) ? EPERM : ALLOW;
  return ALLOW;
}

/** Argument vectors worth trying for a call. */
function argCases(name: string | undefined): bigint[][] {
  if (name === 'clone') return [[0x11n], [0x3d0f00n], [0x11n | (1n << 40n)], ...NS_FLAGS.map((f) => [BigInt(f) | 0x11n])];
  if (name === 'socket') return [0, 1, 2, 10, 16, 17, 40, 0xffff].map((f) => [BigInt(f)]).concat([[(1n << 32n) | 16n], [(1n << 32n) | 2n]]);
  if (name === 'ioctl') return [[1n, 0x5401n], [1n, BigInt(TIOCSTI)], [1n, BigInt(TIOCLINUX)], [1n, (1n << 32n) | BigInt(TIOCSTI)], [1n, 0x5413n]];
  return [[]];
}

function checkAll(arch: SeccompArch, allowedSyscalls: readonly string[] | undefined, layout: 'tree' | 'linear', denied: 'errno' | 'notify' = 'errno'): number {
  const prog = seccompProgram({ arch, allowedSyscalls, layout, denied });
  const allowed = new Set(allowedSyscalls && allowedSyscalls.length > 0 ? [...allowedSyscalls, 'execve', 'exit', 'exit_group', 'rt_sigreturn', 'restart_syscall'] : DEFAULT_ALLOWED_SYSCALLS);
  const byNr = new Map(Object.entries(SYSCALLS[arch]).map(([n, v]) => [v, n]));
  const nrs = [...Array.from({ length: 520 }, (_, i) => i), 1000, 0x3fffffff, 0x40000000, 0x40000027, 0x400001ff, 0x7fffffff, 0xffffffff];
  let checked = 0;
  for (const nr of nrs) {
    const name = byNr.get(nr);
    for (const args of argCases(name)) {
      const got = describeRet(runSeccomp(prog, { nr, arch: AUDIT_ARCH[arch], args }));
      const rule = expected(arch, allowed, name, nr, args);
      // The notifier gets exactly the policy's denials; ENOSYS and KILL stay in the kernel.
      const want = denied === 'notify' && rule === EPERM ? 'USER_NOTIF' : rule;
      if (got !== want) expect.fail(`${arch} ${layout}: ${name ?? '?'} (${nr}) args ${args.map((a) => `0x${a.toString(16)}`).join(',')}: got ${got}, want ${want}`);
      checked++;
    }
  }
  return checked;
}

describe('seccomp filter (interpreted)', () => {
  for (const arch of ARCHES) {
    for (const layout of ['tree', 'linear'] as const) {
      it(`${arch}, ${layout}: every call number, default allowlist`, () => {
        expect(checkAll(arch, undefined, layout)).toBeGreaterThan(520);
      });
      it(`${arch}, ${layout}: a policy list replaces the default and cannot lift the always-denied`, () => {
        const list = ['read', 'write', 'openat', 'clone', 'socket', 'ioctl', ...ALWAYS_DENIED.filter((n) => SYSCALLS[arch][n] !== undefined)];
        checkAll(arch, list, layout);
        const rules = seccompRules({ arch, allowedSyscalls: list });
        expect(rules.overridden).toContain('ptrace');
        expect(rules.allowed).not.toContain('ptrace');
      });
    }

    for (const layout of ['tree', 'linear'] as const) {
      it(`${arch}, ${layout}, denied: 'notify': every EPERM becomes USER_NOTIF (allowlist, always-denied, clone/socket/ioctl arguments), nothing else changes`, () => {
        expect(checkAll(arch, undefined, layout, 'notify')).toBeGreaterThan(520);
        checkAll(arch, ['read', 'write', 'close', 'sendmsg', 'clone', 'socket', 'ioctl', 'ptrace', 'mount'], layout, 'notify');
        // The same instructions but the denying RETs.
        const plain = seccompProgram({ arch, layout });
        const notify = seccompProgram({ arch, layout, denied: 'notify' });
        expect(notify.length).toBe(plain.length);
        const differing = plain.flatMap((ins, i) => (ins.k !== notify[i]!.k || ins.code !== notify[i]!.code ? [[ins, notify[i]!]] : []));
        expect(differing.length).toBeGreaterThan(0);
        for (const [a, b] of differing) expect([a!.code, a!.k, b!.code, b!.k]).toEqual([0x06, 0x00050001, 0x06, SECCOMP_RET.USER_NOTIF]);
      });
    }

    it(`${arch}: allowing the whole table (jumps over subtrees longer than 255 go through ja)`, () => {
      const all = Object.keys(SYSCALLS[arch]);
      expect(seccompProgram({ arch, allowedSyscalls: all }).some((i) => i.code === 0x05)).toBe(true);
      checkAll(arch, all, 'tree');
    });

    it(`${arch}: a foreign architecture is killed whatever the number`, () => {
      const prog = seccompProgram({ arch });
      for (const foreign of [AUDIT_ARCH.i386, AUDIT_ARCH.arm, arch === 'x86_64' ? AUDIT_ARCH.aarch64 : AUDIT_ARCH.x86_64, 0]) {
        for (const nr of [0, 1, 39, 59, 63, 221]) expect(describeRet(runSeccomp(prog, { nr, arch: foreign }))).toBe(KILL);
      }
    });

    it(`${arch}: the default allowlist runs python's startup and a proxied client`, () => {
      const { allowed } = seccompRules({ arch });
      const needed = ['rseq', 'getrandom', 'prlimit64', 'set_robust_list', 'futex', 'clone', 'execve', 'wait4', 'pipe2', 'dup3', 'openat', 'newfstatat', 'statx', 'getdents64', 'mmap', 'socket', 'connect', 'sendto', 'recvfrom', 'ppoll', 'epoll_pwait', 'faccessat2'];
      expect(needed.filter((n) => !allowed.includes(n))).toEqual([]);
      expect(allowed.filter((n) => ALWAYS_DENIED.includes(n))).toEqual([]);
    });

    it(`${arch}: the program fits the kernel's limit even allowing the whole table`, () => {
      expect(seccompProgram({ arch }).length).toBeLessThan(500);
      expect(seccompProgram({ arch, allowedSyscalls: Object.keys(SYSCALLS[arch]) }).length).toBeLessThan(4096);
    });
  }

  it('x86_64: x32 calls and -1 are killed; aarch64 answers numbers past its table with ENOSYS', () => {
    const x = seccompProgram({ arch: 'x86_64' });
    for (const nr of [0x40000000, 0x40000000 + 39, 0x40000000 + 512, 0xffffffff]) expect(describeRet(runSeccomp(x, { nr, arch: AUDIT_ARCH.x86_64 }))).toBe(KILL);
    const a = seccompProgram({ arch: 'aarch64' });
    expect(describeRet(runSeccomp(a, { nr: 0x40000000 + 63, arch: AUDIT_ARCH.aarch64 }))).toBe(ENOSYS);
    expect(describeRet(runSeccomp(a, { nr: 63, arch: AUDIT_ARCH.aarch64 }))).toBe(ALLOW); // read
  });

  it('unknown names are a PolicyError naming the entry and the architecture', () => {
    expect(() => seccompFilter({ arch: 'x86_64', allowedSyscalls: ['read', 'write', 'exit', 'foo'] })).toThrow(PolicyError);
    expect(() => seccompFilter({ arch: 'x86_64', allowedSyscalls: ['read', 'write', 'exit', 'foo'] })).toThrow('allowedSyscalls[3]: unknown system call "foo" on x86_64');
    // The seeds' list names x86_64-only calls: fine there, an error on aarch64.
    const seed = ['read', 'write', 'open', 'close', 'stat', 'fstat', 'mmap', 'munmap', 'brk', 'rt_sigaction'];
    expect(seccompRules({ arch: 'x86_64', allowedSyscalls: seed }).allowed).toContain('open');
    expect(() => seccompRules({ arch: 'aarch64', allowedSyscalls: seed })).toThrow('allowedSyscalls[2]: unknown system call "open" on aarch64');
    for (const name of ['toString', '__proto__', 'constructor']) expect(() => seccompRules({ arch: 'x86_64', allowedSyscalls: [name] })).toThrow(PolicyError);
    try {
      seccompRules({ arch: 'x86_64', allowedSyscalls: ['read', 'nope'] });
    } catch (e) {
      expect((e as PolicyError).code).toBe('POLICY_INVALID');
      expect((e as PolicyError).details).toMatchObject({ path: 'allowedSyscalls[1]', syscall: 'nope', arch: 'x86_64' });
    }
  });

  it('an empty list means the default; the host architecture is the default', () => {
    expect(seccompRules({ allowedSyscalls: [] }).allowed).toEqual(seccompRules().allowed);
    expect(seccompRules().arch).toBe(process.arch === 'arm64' ? 'aarch64' : 'x86_64');
  });

  it('bytes are struct sock_filter, little-endian, 8 bytes each', () => {
    const bytes = seccompFilter({ arch: 'x86_64' });
    expect(bytes.length % 8).toBe(0);
    // ld [4]: code 0x0020, jt 0, jf 0, k 4.
    expect([...bytes.subarray(0, 8)]).toEqual([0x20, 0, 0, 0, 4, 0, 0, 0]);
    // jeq AUDIT_ARCH_X86_64 (0xc000003e), jt 1, jf 0.
    expect([...bytes.subarray(8, 16)]).toEqual([0x15, 0, 1, 0, 0x3e, 0, 0, 0xc0]);
    expect(encodeProgram(decodeProgram(bytes))).toEqual(bytes);
    expect(runSeccomp(decodeProgram(bytes), { nr: 0, arch: AUDIT_ARCH.x86_64 })).toBe(SECCOMP_RET.ALLOW);
  });

  it('the interpreter refuses what the kernel would', () => {
    expect(() => runSeccomp([{ code: 0x20, jt: 0, jf: 0, k: 2 }, { code: 6, jt: 0, jf: 0, k: 0 }], { nr: 0, arch: 0 })).toThrow(RangeError);
    expect(() => runSeccomp([{ code: 0x20, jt: 0, jf: 0, k: 64 }, { code: 6, jt: 0, jf: 0, k: 0 }], { nr: 0, arch: 0 })).toThrow(RangeError);
    expect(() => runSeccomp([{ code: 0x15, jt: 5, jf: 0, k: 0 }, { code: 6, jt: 0, jf: 0, k: 0 }], { nr: 0, arch: 0 })).toThrow(RangeError);
    expect(() => runSeccomp([{ code: 0x20, jt: 0, jf: 0, k: 0 }], { nr: 0, arch: 0 })).toThrow(RangeError);
    expect(() => runSeccomp([{ code: 0x07, jt: 0, jf: 0, k: 0 }], { nr: 0, arch: 0 })).toThrow(RangeError);
  });
});
