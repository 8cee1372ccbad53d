/**
 * What the seccomp filter of a native agent decides, as data, before it becomes BPF
 * (`filter.ts`) or an OCI profile (`oci.ts`): the policy's `allowedSyscalls` (or our default
 * allowlist), minus the calls denied whatever the policy says, plus argument checks on `clone`,
 * `socket` and `ioctl`.
 *
 * Decisions, in order (the same in both forms):
 * 1. a foreign architecture (i386 or arm compat, x32 on x86_64) kills the process: a filter
 *    keyed on x86_64 numbers means nothing for another table;
 * 2. `clone3` answers ENOSYS, so libc falls back to `clone`, whose flags a filter can read
 *    (clone3 passes them in memory that seccomp cannot see);
 * 3. the {@link ALWAYS_DENIED} calls answer EPERM even when the policy lists them;
 * 4. `clone` with any namespace flag, `socket` outside AF_UNIX/AF_INET/AF_INET6 and `ioctl`
 *    TIOCSTI/TIOCLINUX answer EPERM (when the call is allowed at all);
 * 5. the allowlist is allowed; numbers above the table's last entry (newer than our tables)
 *    answer ENOSYS, so a newer libc falls back as it would on an older kernel; everything else
 *    answers EPERM.
 *
 * @example
 * ```ts
 * const rules = seccompRules({ allowedSyscalls: policy.allowedSyscalls, arch: 'x86_64' });
 * rules.actions.get(SYSCALLS.x86_64.socket); // { kind: 'socket', families: [1, 2, 10] }
 * ```
 */
import { PolicyError } from '../../errors.js';
import { type SeccompArch, SYSCALLS } from './syscall-tables.js';

export type { SeccompArch } from './syscall-tables.js';

/** Options of the generators. */
export interface SeccompOptions {
  /**
   * System call names to allow: the policy's top-level `allowedSyscalls`. Absent or empty: the
   * {@link DEFAULT_ALLOWED_SYSCALLS}. Never lifts {@link ALWAYS_DENIED}.
   */
  readonly allowedSyscalls?: readonly string[];
  /** Which table to use. Default: this process's architecture (`process.arch`). */
  readonly arch?: SeccompArch;
}

/** What one allowed (or specially denied) system call does. */
export type SyscallAction =
  | { readonly kind: 'allow' }
  | { readonly kind: 'errno'; readonly errno: number }
  /** Allowed unless args[0] has one of `deniedFlags` (EPERM). */
  | { readonly kind: 'clone'; readonly deniedFlags: number }
  /** Allowed only for these address families in args[0] (else EPERM). */
  | { readonly kind: 'socket'; readonly families: readonly number[] }
  /** Allowed unless the request (args[1], 32 bits) is one of `deniedRequests` (EPERM). */
  | { readonly kind: 'ioctl'; readonly deniedRequests: readonly number[] };

/** The resolved rules for one architecture. */
export interface SeccompRules {
  readonly arch: SeccompArch;
  /** Number → action, for every call that is not simply EPERM. */
  readonly actions: ReadonlyMap<number, SyscallAction>;
  /** The allowed names (with argument checks where noted above), sorted. */
  readonly allowed: readonly string[];
  /** Names the policy listed that stay denied (always-denied), for a warning or an audit record. */
  readonly overridden: readonly string[];
  /** Numbers above this are unknown to our tables and answer ENOSYS. */
  readonly maxKnown: number;
}

export const EPERM = 1;
export const ENOSYS = 38;

/** Namespace flags of clone(2) (linux/sched.h): any of them in args[0] is refused. */
export const CLONE_NS_FLAGS = Object.freeze({
  CLONE_NEWTIME: 0x00000080,
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
});
/** All of {@link CLONE_NS_FLAGS} or'ed: 0x7e020080. */
export const CLONE_NS_MASK = Object.values(CLONE_NS_FLAGS).reduce((a, b) => (a | b) >>> 0, 0);

/** Socket families a native agent may open: AF_UNIX (1), AF_INET (2), AF_INET6 (10). */
export const ALLOWED_SOCKET_FAMILIES: readonly number[] = Object.freeze([1, 2, 10]);

/** ioctl requests refused on every fd: TIOCSTI (0x5412, type into a terminal), TIOCLINUX (0x541c). */
export const DENIED_IOCTLS: readonly number[] = Object.freeze([0x5412, 0x541c]);

/**
 * Denied whatever the policy says: namespaces, mounts and root changes, tracing and other
 * processes' memory, kernel objects that have been a steady source of privilege escalations
 * (bpf, keyrings, perf, userfaultfd, io_uring), file handles that bypass path checks, and
 * system administration. `clone3` is here too but answers ENOSYS (see above).
 */
export const ALWAYS_DENIED: readonly string[] = Object.freeze([
  'unshare', 'setns', 'clone3', 'mount', 'umount2', 'pivot_root', 'chroot',
  'ptrace', 'process_vm_readv', 'process_vm_writev',
  'bpf', 'keyctl', 'add_key', 'request_key', 'perf_event_open', 'userfaultfd',
  'open_by_handle_at', 'name_to_handle_at', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module',
  'swapon', 'swapoff', 'reboot', 'acct', 'quotactl',
  'fsopen', 'fsmount', 'fsconfig', 'fspick', 'move_mount', 'open_tree', 'mount_setattr',
]);

/**
 * Allowed even when a policy's list omits them: bwrap installs the filter and then execs the
 * agent, so `execve` must pass or nothing starts; a process must be able to end (`exit`,
 * `exit_group`); the kernel itself issues `rt_sigreturn` and `restart_syscall` after signals.
 */
export const ALWAYS_ALLOWED: readonly string[] = Object.freeze(['execve', 'exit', 'exit_group', 'rt_sigreturn', 'restart_syscall']);

/**
 * The default allowlist (when the policy has no `allowedSyscalls`), derived by running
 * `/bin/sh`, coreutils and friends (ls, cp -a, mv, mkdir, rm, stat, sort, find, du, df, dd,
 * sha256sum, install, timeout, nice, tar czf/xzf, gzip, sed -i, ps, …), `python3 -I` (startup,
 * json, subprocess, threading, multiprocessing, tempfile, asyncio, ssl, sqlite3, sockets,
 * getaddrinfo) and `curl`/`wget` through an HTTP proxy under bwrap, traced by strace from
 * outside with this filter loaded and every EPERM looked at; then adding the variants other libc
 * versions and the other architecture use for the same operations (aarch64 has only the `*at`,
 * `p*` and `*3` forms; glibc ≥ 2.33 tries `faccessat2`, ≥ 2.39 `fchmodat2`, and fails rather
 * than falling back when they answer EPERM). Names an architecture lacks are skipped there.
 * Deliberately absent: everything in {@link ALWAYS_DENIED}, set*id/capabilities, prctl (ps and
 * chown probe capabilities with it and carry on), sync/syncfs (they flush the host's disks),
 * seccomp, landlock, memfd, inotify/fanotify, timerfd, SysV IPC, mlock, scheduling policy,
 * mknod, and anything about other processes (kcmp, pidfd_getfd). A policy that needs one lists
 * its own `allowedSyscalls`.
 */
export const DEFAULT_ALLOWED_SYSCALLS: readonly string[] = Object.freeze([
  // process start, memory and threads
  'execve', 'exit', 'exit_group', 'brk', 'mmap', 'munmap', 'mprotect', 'mremap', 'madvise',
  'arch_prctl', 'set_tid_address', 'set_robust_list', 'rseq', 'futex', 'getrandom',
  'prlimit64', 'getrlimit', 'sched_getaffinity', 'sched_yield',
  // processes (clone is checked for namespace flags)
  'clone', 'vfork', 'wait4', 'waitid', 'kill', 'tgkill', 'getpid', 'getppid', 'gettid',
  'getuid', 'geteuid', 'getgid', 'getegid', 'getgroups', 'getresuid', 'getresgid',
  'getpgrp', 'getpgid', 'setpgid', 'getsid', 'setsid', 'getpriority', 'setpriority', 'uname', 'sysinfo', 'getrusage', 'times', 'umask',
  // signals and time
  'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigsuspend', 'sigaltstack', 'restart_syscall',
  'alarm', 'setitimer', 'getitimer', 'timer_create', 'timer_settime', 'timer_gettime', 'timer_delete', 'nanosleep', 'clock_nanosleep', 'clock_gettime', 'clock_getres',
  'gettimeofday', 'time',
  // files and descriptors (ioctl is checked for TIOCSTI/TIOCLINUX)
  'read', 'write', 'readv', 'writev', 'pread64', 'pwrite64', 'lseek', 'close', 'close_range',
  'open', 'openat', 'creat', 'stat', 'lstat', 'fstat', 'newfstatat', 'statx', 'statfs', 'fstatfs',
  'access', 'faccessat', 'faccessat2', 'readlink', 'readlinkat', 'getdents64', 'getcwd', 'chdir', 'fchdir',
  'mkdir', 'mkdirat', 'rmdir', 'unlink', 'unlinkat', 'rename', 'renameat', 'renameat2',
  'link', 'linkat', 'symlink', 'symlinkat', 'chmod', 'fchmod', 'fchmodat', 'fchmodat2', 'utimensat',
  // chown can only give a file to the agent's own ids (the user namespace maps nothing else);
  // install, cp -a and tar call it
  'chown', 'fchown', 'lchown', 'fchownat',
  'ftruncate', 'fsync', 'fdatasync', 'fcntl', 'flock', 'dup', 'dup2', 'dup3', 'pipe', 'pipe2', 'ioctl',
  'fadvise64', 'copy_file_range', 'sendfile',
  // extended attributes of files the agent can reach (cp -a/-p copies ACLs and fails on EPERM)
  'getxattr', 'lgetxattr', 'fgetxattr', 'listxattr', 'llistxattr', 'flistxattr', 'setxattr', 'lsetxattr', 'fsetxattr',
  // waiting for descriptors
  'poll', 'ppoll', 'select', 'pselect6', 'epoll_create', 'epoll_create1', 'epoll_ctl', 'epoll_wait', 'epoll_pwait', 'eventfd2',
  // sockets (socket is checked for the address family; the sandbox has only loopback)
  'socket', 'socketpair', 'connect', 'bind', 'listen', 'accept', 'accept4', 'getsockname', 'getpeername',
  'setsockopt', 'getsockopt', 'sendto', 'recvfrom', 'sendmsg', 'recvmsg', 'sendmmsg', 'shutdown',
]);

/** `process.arch` → our architecture name, or undefined where we have no table. */
export function hostSeccompArch(nodeArch: string = process.arch): SeccompArch | undefined {
  return nodeArch === 'x64' ? 'x86_64' : nodeArch === 'arm64' ? 'aarch64' : undefined;
}

function resolveArch(arch: SeccompArch | undefined): SeccompArch {
  const a = arch ?? hostSeccompArch();
  if (a === undefined || !(a in SYSCALLS)) throw new PolicyError(`seccomp filters exist for x86_64 and aarch64 only; this host is ${process.arch}`, { path: 'allowedSyscalls', arch: process.arch });
  return a;
}

/**
 * Resolve the rules for one architecture.
 *
 * @throws PolicyError naming the entry, e.g. `allowedSyscalls[3]: unknown system call "foo" on
 *   x86_64`, for a name that architecture does not have.
 * @example
 * ```ts
 * seccompRules({ allowedSyscalls: ['read', 'write', 'mount'] }).overridden; // ['mount']
 * ```
 */
export function seccompRules(opts: SeccompOptions = {}): SeccompRules {
  const arch = resolveArch(opts.arch);
  const table = SYSCALLS[arch];
  const fromPolicy = opts.allowedSyscalls !== undefined && opts.allowedSyscalls.length > 0;
  const names = new Set<string>();
  if (fromPolicy) {
    opts.allowedSyscalls!.forEach((name, i) => {
      if (table[name] === undefined) {
        throw new PolicyError(`allowedSyscalls[${i}]: unknown system call "${name}" on ${arch}; use the kernel's name for it (e.g. "openat", "newfstatat") or remove it`, { path: `allowedSyscalls[${i}]`, arch, syscall: name });
      }
      names.add(name);
    });
    for (const n of ALWAYS_ALLOWED) names.add(n);
  } else {
    // The default list spans both architectures; each keeps the names it has.
    for (const n of DEFAULT_ALLOWED_SYSCALLS) if (table[n] !== undefined) names.add(n);
  }
  const denied = new Set(ALWAYS_DENIED);
  const overridden = [...names].filter((n) => denied.has(n)).sort();
  const actions = new Map<number, SyscallAction>();
  for (const name of names) {
    if (denied.has(name)) continue;
    actions.set(table[name]!, actionFor(name));
  }
  // clone3 → ENOSYS whether or not the policy lists it: it is how libc learns to use clone.
  if (table['clone3'] !== undefined) actions.set(table['clone3'], { kind: 'errno', errno: ENOSYS });
  const allowed = [...names].filter((n) => !denied.has(n)).sort();
  return { arch, actions, allowed, overridden, maxKnown: Math.max(...Object.values(table)) };
}

function actionFor(name: string): SyscallAction {
  switch (name) {
    case 'clone': return { kind: 'clone', deniedFlags: CLONE_NS_MASK };
    case 'socket': return { kind: 'socket', families: ALLOWED_SOCKET_FAMILIES };
    case 'ioctl': return { kind: 'ioctl', deniedRequests: DENIED_IOCTLS };
    default: return { kind: 'allow' };
  }
}
