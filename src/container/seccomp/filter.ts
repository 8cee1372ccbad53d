/**
 * The seccomp filter of a native agent as classic BPF bytes, for `bwrap --seccomp FD` (bwrap
 * loads it with no_new_privs just before it execs the agent; the agent and its children inherit
 * it and cannot remove it).
 *
 * Layout (see `rules.ts` for what is decided):
 *
 * ```
 *   A = arch;  arch != ours            → KILL_PROCESS
 *   A = nr;    x86_64: nr >= 0x40000000 → KILL_PROCESS (x32 calls, and -1)
 *              nr > last known         → ERRNO(ENOSYS)
 *   binary search on nr over the allowed numbers; each leaf compares up to LEAF_SIZE numbers
 *   with JEQ and runs that call's action inline (ALLOW, ERRNO, or an argument check); no match
 *                                      → ERRNO(EPERM)
 * ```
 *
 * Why a search tree: a linear chain of ~165 JEQs costs up to ~165 comparisons for a call late in
 * the chain or denied, the tree about 8 plus at most LEAF_SIZE in a leaf. Since Linux
 * 5.11 the kernel also caches, per call number, "this filter always allows it" (it emulates the
 * filter on the number alone), so calls without an argument check (read, write, futex, …) skip
 * the filter entirely after the first; the tree mostly speeds up the first call and the checked
 * and denied ones. Every subtree ends in RETs, so each is placed without fix-ups; a jump over a
 * subtree longer than 255 instructions goes through a `ja`.
 *
 * Measured (default allowlist: 165 calls on x86_64, 139 on aarch64; `layout: 'linear'` for the
 * comparison): the tree is 479 instructions on x86_64 (385 on aarch64) and runs at most 17
 * before deciding; the linear chain is 353 (299) and runs up to 172 (145). Under bwrap on this
 * project's VM, a denied call (a full scan for the chain) took 159 ns with the tree against
 * 210 ns with the chain; calls the kernel caches cost the same in both. Both are far below the
 * kernel's 4096 instructions; allowing the whole x86_64 table takes 950.
 *
 * @example
 * ```ts
 * const bytes = seccompFilter({ allowedSyscalls: policy.allowedSyscalls }); // Buffer, 8 bytes per instruction
 * spawn('bwrap', [...flags, '--seccomp', '5', '--', cmd], { stdio: [..., 'pipe'] }).stdio[5].end(bytes);
 * ```
 */
import { SandboxError } from '../../errors.js';
import { argLow, AUDIT_ARCH, BPF_MAXINSNS, encodeProgram, ja, jeq, jge, jgt, jset, ldAbs, ret, retErrno, SECCOMP_DATA, SECCOMP_RET, type SockFilter } from './bpf.js';
import { ENOSYS, EPERM, type SeccompOptions, type SeccompRules, seccompRules, type SyscallAction } from './rules.js';

/** x86_64's x32 ABI marks its call numbers with this bit (__X32_SYSCALL_BIT). */
export const X32_SYSCALL_BIT = 0x40000000;

/** How many call numbers a leaf of the search tree compares one after another. */
const LEAF_SIZE = 4;

/**
 * What a call the rules deny returns: `errno` (the default) answers EPERM in the kernel;
 * `notify` returns `SECCOMP_RET_USER_NOTIF`, so the call waits for the process that holds the
 * filter's listener (the host, `syscall-audit.ts`), which records it and answers EPERM: the
 * agent sees the same error, and the host sees every denied call. Only the policy's denials go
 * to the notifier (a call outside the allowlist, an {@link ALWAYS_DENIED} one, `clone` with a
 * namespace flag, `socket` of another family, `ioctl` TIOCSTI/TIOCLINUX); the kernel-level
 * answers stay in the kernel: a foreign architecture or an x32 call kills, a number past our
 * tables and `clone3` answer ENOSYS (libc's fallback signals, not denials). Without a listener
 * (never handed over, or closed) the kernel answers such a call ENOSYS: still denied.
 */
export type DeniedAction = 'errno' | 'notify';

/** Layout options, for measurements and tests: `linear` is one chain of JEQs. */
export interface SeccompProgramOptions extends SeccompOptions {
  readonly layout?: 'tree' | 'linear';
  /** What a denied call returns (default `errno`: EPERM). */
  readonly denied?: DeniedAction;
}

/**
 * The filter as instructions (see {@link seccompFilter} for the bytes).
 *
 * @throws PolicyError for an unknown system call name (see `seccompRules`).
 * @example
 * ```ts
 * seccompProgram({ arch: 'aarch64' }).length; // instruction count
 * ```
 */
export function seccompProgram(opts: SeccompProgramOptions = {}): SockFilter[] {
  return programFor(seccompRules(opts), opts.layout ?? 'tree', opts.denied ?? 'errno');
}

/**
 * The filter as `struct sock_filter[]` bytes, ready for `bwrap --seccomp FD`.
 *
 * @throws PolicyError naming the entry for an unknown system call name, e.g.
 *   `allowedSyscalls[3]: unknown system call "foo" on x86_64`.
 * @example
 * ```ts
 * const bytes = seccompFilter({ allowedSyscalls: ['read', 'write', 'exit_group'], arch: 'x86_64' });
 * bytes.length / 8; // instruction count
 * ```
 */
export function seccompFilter(opts: SeccompOptions & { readonly denied?: DeniedAction } = {}): Buffer {
  return encodeProgram(seccompProgram(opts));
}

/** The program for already resolved rules; `denied`: what a call the rules deny returns. */
export function programFor(rules: SeccompRules, layout: 'tree' | 'linear' = 'tree', denied: DeniedAction = 'errno'): SockFilter[] {
  const deny = denied === 'notify' ? SECCOMP_RET.USER_NOTIF : retErrno(EPERM);
  const prog: SockFilter[] = [
    ldAbs(SECCOMP_DATA.arch),
    jeq(AUDIT_ARCH[rules.arch], 1, 0),
    ret(SECCOMP_RET.KILL_PROCESS),
    ldAbs(SECCOMP_DATA.nr),
  ];
  // On x86_64 the x32 ABI enters the same table with bit 30 set and the same audit arch, so
  // the arch check alone does not catch it.
  if (rules.arch === 'x86_64') prog.push(jge(X32_SYSCALL_BIT, 0, 1), ret(SECCOMP_RET.KILL_PROCESS));
  prog.push(jgt(rules.maxKnown, 0, 1), ret(retErrno(ENOSYS)));
  const entries = [...rules.actions].sort((a, b) => a[0] - b[0]);
  prog.push(...(layout === 'linear' ? leaf(entries, deny) : tree(entries, deny)));
  if (prog.length > BPF_MAXINSNS) {
    // 165 calls take 479 instructions, the whole table 950: this is a guard, not a case we expect.
    throw new SandboxError('INTERNAL', `the seccomp filter has ${prog.length} instructions, more than the kernel's ${BPF_MAXINSNS}`, { instructions: prog.length });
  }
  return prog;
}

type Entry = readonly [number, SyscallAction];

/** A = nr on entry; every path ends in a RET, so the block can sit anywhere. */
function tree(entries: readonly Entry[], deny: number): SockFilter[] {
  if (entries.length <= LEAF_SIZE) return leaf(entries, deny);
  const mid = entries.length >> 1;
  const lo = tree(entries.slice(0, mid), deny);
  const hi = tree(entries.slice(mid), deny);
  const pivot = entries[mid]![0];
  // nr >= pivot → fall into hi; else jump over it to lo.
  if (hi.length <= 255) return [jge(pivot, 0, hi.length), ...hi, ...lo];
  return [jge(pivot, 1, 0), ja(hi.length), ...hi, ...lo];
}

function leaf(entries: readonly Entry[], deny: number): SockFilter[] {
  const out: SockFilter[] = [];
  for (const [nr, action] of entries) {
    const body = actionCode(action, deny);
    out.push(jeq(nr, 0, body.length), ...body);
  }
  out.push(ret(deny));
  return out;
}

/** The code of one call's action; it loads arguments into A, so it must end in RETs. */
function actionCode(action: SyscallAction, deny: number): SockFilter[] {
  const allow = ret(SECCOMP_RET.ALLOW);
  const eperm = ret(deny);
  switch (action.kind) {
    case 'allow':
      return [allow];
    case 'errno':
      return [ret(retErrno(action.errno))];
    case 'clone':
      // flags are args[0]; every namespace flag sits in the low 32 bits.
      return [ldAbs(argLow(0)), jset(action.deniedFlags, 0, 1), eperm, allow];
    case 'socket': {
      // family is an int: the kernel uses only the low 32 bits.
      const n = action.families.length;
      return [ldAbs(argLow(0)), ...action.families.map((f, i) => jeq(f, n - i, 0)), eperm, allow];
    }
    case 'ioctl': {
      // request is an unsigned int to the kernel: compare the low 32 bits, or 1<<32|TIOCSTI
      // would slip past a 64-bit comparison.
      const n = action.deniedRequests.length;
      return [ldAbs(argLow(1)), ...action.deniedRequests.map((r, i) => jeq(r, n - i, 0)), allow, eperm];
    }
  }
}
