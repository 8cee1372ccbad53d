/**
 * The generated filter loaded by real bubblewrap (`--seccomp 3`, the bytes over a pipe), bwrap
 * itself run as uid/gid 65534 when the tests run as root (as the native runtime does): the
 * denied calls fail with EPERM (ENOSYS for clone3) inside, ordinary programs still run.
 *
 * Probes use Debian's /usr/bin/python3 (the sandbox sees only /usr) and ctypes' `syscall()`,
 * with the numbers from our tables so the same probes run on aarch64. Arguments are chosen so
 * the kernel's own answer without the filter would differ (success, EINVAL, EFAULT, ENOTTY,
 * ENOSPC; measured with an allow-all filter), so an EPERM can only come from the filter; only
 * pivot_root, userfaultfd, open_by_handle_at and AF_PACKET refuse an unprivileged caller with
 * EPERM before looking at anything (the interpreted tests cover their rule).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { describeNeeds, skipWhen } from '../../../test/helpers/skip.js';
import { needs } from '../../../test/helpers/requirements.js';
import { seccompFilter } from './filter.js';
import { DEFAULT_ALLOWED_SYSCALLS, hostSeccompArch } from './rules.js';
import { SYSCALLS } from './syscall-tables.js';

const FLAGS = [
  '--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
  '--ro-bind', '/usr', '/usr', '--symlink', 'usr/bin', '/bin', '--symlink', 'usr/lib', '/lib', '--symlink', 'usr/lib64', '/lib64',
  '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--clearenv',
];
const PYTHON = '/usr/bin/python3';
const arch = hostSeccompArch();
const NR = arch ? SYSCALLS[arch] : {};

interface Ran { code: number | null; signal: string | null; stdout: string; stderr: string }

function sandbox(filter: Uint8Array, argv: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const child = spawn('bwrap', [...FLAGS, '--seccomp', '3', '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], ...asNobody });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const pipe = child.stdio[3] as Writable;
    pipe.on('error', () => {}); // bwrap failing before it reads: its exit status says why
    pipe.end(Buffer.from(filter));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Each probe prints [return value, errno]. `sc` wraps every int in c_long: syscall() is variadic. */
const PROBES = String.raw`
import ctypes, json, os, socket, subprocess, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
NR = json.loads(sys.argv[1])
def arg(a):
    return ctypes.c_long(a) if isinstance(a, int) else a
def sc(name, *args):
    ctypes.set_errno(0)
    nr = NR[name] if isinstance(name, str) else name
    return [libc.syscall(ctypes.c_long(nr), *[arg(a) for a in args]), ctypes.get_errno()]
def sock(family, kind):
    try:
        socket.socket(family, kind, 0).close()
        return [0, 0]
    except OSError as e:
        return [-1, e.errno]
buf = ctypes.create_string_buffer(256)
out = {
  'unshare': sc('unshare', 0x10000000),                       # w/o filter: ENOSPC (--disable-userns)
  'setns': sc('setns', 0, 0),                                  # w/o filter: EINVAL
  'ptrace': sc('ptrace', 0, 0, 0, 0),                          # PTRACE_TRACEME; w/o filter: 0
  'bpf': sc('bpf', 0, None, 0),
  'keyctl': sc('keyctl', 0, -3, 0),                            # KEYCTL_GET_KEYRING_ID session; w/o: ok
  'add_key': sc('add_key', b'user', b'k', b'v', 1, -3),
  'mount': sc('mount', b'none', b'/tmp', 1, 0, None),          # bad type pointer; w/o filter: EFAULT
  'umount2': sc('umount2', b'/tmp', 0x80000000),               # bad flags; w/o filter: EINVAL
  'pivot_root': sc('pivot_root', b'/tmp', b'/tmp'),
  'io_uring_setup': sc('io_uring_setup', 1, buf),
  'perf_event_open': sc('perf_event_open', buf, 0, -1, -1, 0),
  'userfaultfd': sc('userfaultfd', 0),
  'process_vm_readv': sc('process_vm_readv', os.getpid(), None, 0, None, 0, 0),
  'open_by_handle_at': sc('open_by_handle_at', -100, buf, 0),
  'tiocsti': sc('ioctl', 0, 0x5412, buf),                      # w/o filter: ENOTTY (fd 0 is /dev/null)
  'tiocsti_high_bits': sc('ioctl', 0, (1 << 32) | 0x5412, buf),
  'tioclinux': sc('ioctl', 0, 0x541c, buf),
  'tcgets': sc('ioctl', 0, 0x5401, buf),                       # allowed: ENOTTY from the kernel
  'clone3': sc('clone3', None, 0),                             # w/o filter: EFAULT/EINVAL
  'clone_newuser': sc('clone', 0x10000000 | 0x10000 | 17, 0, 0, 0, 0),   # + CLONE_THREAD: w/o filter EINVAL
  'clone_newnet': sc('clone', 0x40000000 | 0x10000 | 17, 0, 0, 0, 0),
  'unknown_number': sc(1000),
  'netlink': sock(socket.AF_NETLINK, socket.SOCK_RAW),
  'packet': sock(17, socket.SOCK_RAW),
  'inet': sock(socket.AF_INET, socket.SOCK_STREAM),
  'inet6': sock(socket.AF_INET6, socket.SOCK_DGRAM),
  'unix': sock(socket.AF_UNIX, socket.SOCK_STREAM),
}
t = threading.Thread(target=lambda: None); t.start(); t.join()
out['subprocess'] = [subprocess.run(['/bin/true']).returncode, 0]
pid = os.fork()
if pid == 0:
    os._exit(7)
out['fork'] = [os.waitpid(pid, 0)[1] >> 8, 0]
try:
    out['uname'] = [len(os.uname().sysname), 0]
except OSError as e:
    out['uname'] = [-1, e.errno]
print(json.dumps(out))
`;

const EPERM = 1;
const ENOSYS = 38;
const ENOTTY = 25;

describeNeeds(needs.bwrap(), 'seccomp filter under bubblewrap', () => {
  const probe = async (filter: Uint8Array): Promise<Record<string, [number, number]>> => {
    const r = await sandbox(filter, [PYTHON, '-I', '-c', PROBES, JSON.stringify(NR)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Record<string, [number, number]>;
  };

  it('ordinary programs run under the default filter', async (ctx) => {
    skipWhen(ctx, !existsSync(PYTHON), `needs Debian's ${PYTHON} (the sandbox sees only /usr) — enable with: apt-get install python3`);
    const filter = seccompFilter();
    expect(await sandbox(filter, ['/bin/true'])).toMatchObject({ code: 0, stderr: '' });
    expect(await sandbox(filter, ['/bin/sh', '-c', 'echo hi; ls / >/dev/null; cat /proc/self/status | grep -c Seccomp'])).toMatchObject({ code: 0, stdout: 'hi\n2\n' });
    expect(await sandbox(filter, [PYTHON, '-I', '-c', 'print(1)'])).toMatchObject({ code: 0, stdout: '1\n', stderr: '' });
  });

  it('denied calls answer EPERM, clone3 and unknown numbers ENOSYS, allowed ones work', async (ctx) => {
    skipWhen(ctx, !existsSync(PYTHON), `needs Debian's ${PYTHON} (the sandbox sees only /usr) — enable with: apt-get install python3`);
    const out = await probe(seccompFilter());
    const denied = ['unshare', 'setns', 'ptrace', 'bpf', 'keyctl', 'add_key', 'mount', 'umount2', 'pivot_root', 'io_uring_setup', 'perf_event_open', 'userfaultfd', 'process_vm_readv', 'open_by_handle_at', 'tiocsti', 'tiocsti_high_bits', 'tioclinux', 'clone_newuser', 'clone_newnet', 'netlink', 'packet'];
    for (const name of denied) expect({ name, result: out[name] }).toEqual({ name, result: [-1, EPERM] });
    expect(out['clone3']).toEqual([-1, ENOSYS]);
    expect(out['unknown_number']).toEqual([-1, ENOSYS]);
    expect(out['tcgets']).toEqual([-1, ENOTTY]);
    for (const name of ['inet', 'inet6', 'unix', 'subprocess']) expect({ name, result: out[name] }).toEqual({ name, result: [0, 0] });
    expect(out['fork']).toEqual([7, 0]);
    expect(out['uname']![0]).toBeGreaterThan(0);
  });

  it('a policy list replaces the default but cannot lift the always-denied calls', async (ctx) => {
    skipWhen(ctx, !existsSync(PYTHON), `needs Debian's ${PYTHON} (the sandbox sees only /usr) — enable with: apt-get install python3`);
    const list = [...DEFAULT_ALLOWED_SYSCALLS.filter((n) => n !== 'uname' && NR[n] !== undefined), 'ptrace', 'unshare', 'mount', 'keyctl', 'clone3'];
    const out = await probe(seccompFilter({ allowedSyscalls: list }));
    expect(out['uname']).toEqual([-1, EPERM]);
    for (const name of ['ptrace', 'unshare', 'mount', 'keyctl']) expect({ name, result: out[name] }).toEqual({ name, result: [-1, EPERM] });
    expect(out['clone3']).toEqual([-1, ENOSYS]);
  });

  it('an x32 system call kills the process (SIGSYS)', async (ctx) => {
    skipWhen(ctx, !existsSync(PYTHON), `needs Debian's ${PYTHON} (the sandbox sees only /usr) — enable with: apt-get install python3`);
    skipWhen(ctx, arch !== 'x86_64', 'x32 exists only on x86_64');
    const r = await sandbox(seccompFilter(), [PYTHON, '-I', '-c', 'import ctypes; print("before", flush=True); ctypes.CDLL(None).syscall(ctypes.c_long(0x40000000 | 39)); print("after")']);
    expect(r.stdout).toBe('before\n');
    // bwrap reports a child killed by a signal as 128 + signal; SIGSYS is 31.
    expect(r.code).toBe(128 + 31);
  });
});
