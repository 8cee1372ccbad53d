/**
 * What the native (non-WebAssembly) sandbox needs from a Linux host: bubblewrap or runc, user
 * namespaces and Landlock. (cgroups are in `cgroups.ts`.) On other platforms each is
 * `unavailable`.
 */
import { findExecHelper } from '../container/exec-helper.js';
import { readFile } from 'node:fs/promises';
import { pythonCommand } from '../build/python-toolchain.js';
import { firstLine, probe, probeFailure } from './probe.js';
import type { CheckResult } from './types.js';

const USERNS_TIMEOUT_MS = 5_000;

const linuxOnly = (what: string): CheckResult | undefined =>
  process.platform === 'linux' ? undefined : { status: 'unavailable', detail: `${what} is Linux only (this is ${process.platform})` };

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A program that reports its version: ready with the version line, else missing with an
 * `apt-get install` hint.
 */
async function checkProgram(program: string, pkg: string): Promise<CheckResult> {
  const r = await probe(program, ['--version']);
  if (!r.ok) return { status: 'missing', detail: `${program} ${probeFailure(r)}`, fix: `apt-get install ${pkg}` };
  return { status: 'ready', detail: firstLine(r.stdout) || firstLine(r.stderr) };
}

/** bubblewrap (`bwrap --version`). */
export async function checkBubblewrap(): Promise<CheckResult> {
  return linuxOnly('bubblewrap') ?? checkProgram('bwrap', 'bubblewrap');
}

/** runc (`runc --version`). */
export async function checkRunc(): Promise<CheckResult> {
  return linuxOnly('runc') ?? checkProgram('runc', 'runc');
}

/**
 * User namespaces: the kernel switches (`kernel.unprivileged_userns_clone` on Debian kernels,
 * `user.max_user_namespaces`, Ubuntu's AppArmor restriction), then an actual `unshare -U true`
 * when `unshare` exists — the switches alone do not say whether seccomp or a container allows it.
 */
export async function checkUserNamespaces(): Promise<CheckResult> {
  const notLinux = linuxOnly('user namespaces');
  if (notLinux) return notLinux;
  const clone = await readNumber('/proc/sys/kernel/unprivileged_userns_clone');
  const max = await readNumber('/proc/sys/user/max_user_namespaces');
  const apparmor = await readNumber('/proc/sys/kernel/apparmor_restrict_unprivileged_userns');
  const facts: string[] = [];
  if (clone !== undefined) facts.push(`unprivileged_userns_clone=${clone}`);
  if (max !== undefined) facts.push(`max_user_namespaces=${max}`);
  if (apparmor === 1) facts.push('AppArmor restricts unprivileged user namespaces');
  const switches = facts.length > 0 ? facts.join(', ') : 'no sysctls found';
  const sysctls = ['user.max_user_namespaces=15000'];
  if (clone === 0) sysctls.unshift('kernel.unprivileged_userns_clone=1');
  if (apparmor === 1) sysctls.push('kernel.apparmor_restrict_unprivileged_userns=0');
  const sysctlFix = `sysctl -w ${sysctls.join(' ')}`;
  if (max === 0) return { status: 'unavailable', detail: switches, fix: sysctlFix };
  const r = await probe('unshare', ['-U', 'true'], { timeoutMs: USERNS_TIMEOUT_MS });
  if (r.spawnError === 'ENOENT') {
    // Without unshare the switches are all there is to go on.
    const off = clone === 0 && process.getuid?.() !== 0;
    return off
      ? { status: 'unavailable', detail: `${switches}; not tried (unshare not found)`, fix: sysctlFix }
      : { status: 'ready', detail: `${switches}; not tried (unshare not found)` };
  }
  if (!r.ok) return { status: 'unavailable', detail: `${switches}; unshare -U: ${probeFailure(r, USERNS_TIMEOUT_MS)}`, fix: sysctlFix };
  return { status: 'ready', detail: `${switches}; unshare -U works` };
}

// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) returns the ABI version.
// 444 is its number on x86_64 and in the generic syscall table (arm64, riscv64, …).
const LANDLOCK_PROBE = `import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
r = libc.syscall(ctypes.c_long(444), ctypes.c_void_p(None), ctypes.c_size_t(0), ctypes.c_uint32(1))
print(r, ctypes.get_errno())`;

const ERRNO_ENOSYS = 38;
const ERRNO_EOPNOTSUPP = 95;

/** Whether the LSM list in securityfs names landlock; undefined when it cannot be read. */
async function lsmListsLandlock(): Promise<boolean | undefined> {
  try {
    return (await readFile('/sys/kernel/security/lsm', 'utf8')).split(',').map((s) => s.trim()).includes('landlock');
  } catch {
    return undefined;
  }
}

/**
 * The Landlock ABI version, asked of the kernel through `python3` and ctypes (Node has no
 * syscall API); without python3, whether the LSM list names landlock (ABI unknown).
 */
export async function checkLandlock(): Promise<CheckResult> {
  const notLinux = linuxOnly('Landlock');
  if (notLinux) return notLinux;
  const fix = 'a kernel 5.13 or later with CONFIG_SECURITY_LANDLOCK=y and landlock in its lsm= boot option';
  let asked = 'python3 not found';
  if (['x64', 'arm64', 'riscv64', 'loong64'].includes(process.arch)) {
    const r = await probe(pythonCommand(), ['-c', LANDLOCK_PROBE]);
    const m = /^(-?\d+) (\d+)$/.exec(firstLine(r.stdout));
    if (r.ok && m) {
      const [value, err] = [Number(m[1]), Number(m[2])];
      if (value > 0) {
        // The kernel has it; native agents get it only through the exec helper.
        const used = findExecHelper() !== undefined ? 'applied to native agents (bwrap) by the exec helper' : 'not applied yet: the exec helper is not built (npm run build:native)';
        return { status: 'ready', detail: `ABI ${value}; ${used}` };
      }
      if (err === ERRNO_ENOSYS) return { status: 'unavailable', detail: 'this kernel has no Landlock (ENOSYS)', fix };
      if (err === ERRNO_EOPNOTSUPP) return { status: 'unavailable', detail: 'Landlock is built in but disabled at boot (EOPNOTSUPP)', fix };
      return { status: 'unavailable', detail: `landlock_create_ruleset failed (errno ${err})`, fix };
    }
    if (r.spawnError !== 'ENOENT') asked = `${pythonCommand()} ${probeFailure(r)}`;
  } else asked = `no syscall number known for ${process.arch}`;
  // Fall back to the LSM list: it says whether Landlock is on, not which ABI.
  const listed = await lsmListsLandlock();
  if (listed === true) return { status: 'ready', detail: `listed in /sys/kernel/security/lsm (ABI unknown: ${asked})` };
  if (listed === false) return { status: 'unavailable', detail: 'not in /sys/kernel/security/lsm', fix };
  return { status: 'unavailable', detail: `not available (cannot ask the kernel: ${asked}, and /sys/kernel/security/lsm cannot be read)` };
}
