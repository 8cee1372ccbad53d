/**
 * The bubblewrap command line of a native agent: every namespace new (user, pid, mount,
 * network with loopback only, uts, ipc, cgroup), no further user namespaces inside, uid and
 * gid 65534, no capabilities, a new session (no TIOCSTI into the host's terminal), killed with
 * its parent, a read-only root that holds `/usr` (and the merged-/usr links), a minimal `/etc`,
 * a fresh `/proc`, a minimal `/dev`, a size-capped `/tmp`, and the policy's mounts.
 *
 * bwrap runs as uid 65534 itself when the host is root: run as root, its bind mounts would act
 * with root's rights on the host. `--info-fd` reports the child's pid and `--block-fd` holds
 * it before exec, so the host can put it into cgroups before it runs anything.
 *
 * @example
 * ```ts
 * const argv = bwrapArgs({ rootfs: baseRootfs(dir), mounts, env, cwd: '/work', tmpBytes: 64 << 20, fds: { info: 3, block: 4 }, command: ['python3', 'agent.py'] });
 * ```
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { SandboxError } from '../errors.js';

/** The bubblewrap binary (override with `AGENTOS_BWRAP`). */
export function bwrapCommand(): string {
  return process.env['AGENTOS_BWRAP'] ?? 'bwrap';
}

/** Host paths of the generated `/etc` files (see `native-files.ts`). */
export interface EtcFiles {
  readonly passwd: string;
  readonly group: string;
  readonly hosts: string;
}

/** Top-level directories that Debian's merged /usr turns into links (`/bin` → `usr/bin`). */
const USR_LINKS = ['bin', 'sbin', 'lib', 'lib64', 'lib32', 'libx32'];

/** Read-only `/etc` entries a program may need: certificates, the loader cache, the time zone. */
const ETC_ENTRIES = ['ssl', 'ca-certificates', 'ca-certificates.conf', 'ld.so.cache', 'ld.so.conf', 'ld.so.conf.d', 'alternatives', 'localtime', 'mime.types'];

/** One step of the read-only base: a read-only bind, or a link (merged /usr: `/bin` → `usr/bin`). */
export type BaseMount =
  | { readonly kind: 'bind'; readonly host: string; readonly guest: string }
  | { readonly kind: 'symlink'; readonly target: string; readonly guest: string };

/**
 * The read-only base as neutral steps (for bwrap and the OCI config alike): /usr, its links,
 * a minimal /etc, the generated passwd, group and hosts.
 *
 * @example
 * ```ts
 * baseMounts(files.etc)[0]; // { kind: 'bind', host: '/usr', guest: '/usr' }
 * ```
 */
export function baseMounts(etc: EtcFiles): BaseMount[] {
  const out: BaseMount[] = [{ kind: 'bind', host: '/usr', guest: '/usr' }];
  for (const name of USR_LINKS) {
    const host = `/${name}`;
    let st;
    try {
      st = lstatSync(host);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) out.push({ kind: 'symlink', target: readlinkSync(host), guest: host });
    else if (st.isDirectory()) out.push({ kind: 'bind', host, guest: host });
  }
  for (const name of ETC_ENTRIES) {
    if (existsSync(`/etc/${name}`)) out.push({ kind: 'bind', host: `/etc/${name}`, guest: `/etc/${name}` });
  }
  out.push({ kind: 'bind', host: etc.passwd, guest: '/etc/passwd' }, { kind: 'bind', host: etc.group, guest: '/etc/group' }, { kind: 'bind', host: etc.hosts, guest: '/etc/hosts' });
  return out;
}

/** The read-only base as bwrap arguments: /usr, its links, a minimal /etc. */
export function baseRootfs(etc: EtcFiles): string[] {
  return baseMounts(etc).flatMap((m) => (m.kind === 'bind' ? ['--ro-bind', m.host, m.guest] : ['--symlink', m.target, m.guest]));
}

/** What {@link bwrapArgs} needs. */
export interface BwrapSpec {
  readonly rootfs: readonly string[];
  readonly mounts: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Working directory inside the sandbox. */
  readonly cwd: string;
  /** Size of the `/tmp` tmpfs in bytes. */
  readonly tmpBytes: number;
  /** Descriptor numbers in the child: info (pid report), block (held before exec), seccomp filter. */
  readonly fds: { readonly info: number; readonly block: number; readonly seccomp?: number };
  readonly command: readonly string[];
}

/** The full bwrap argument list (without the program name). */
export function bwrapArgs(spec: BwrapSpec): string[] {
  const args = [
    '--unshare-all', '--unshare-user', '--disable-userns',
    '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
    '--uid', '65534', '--gid', '65534', '--hostname', 'agent',
    '--clearenv',
  ];
  for (const [k, v] of Object.entries(spec.env)) args.push('--setenv', k, v);
  args.push(...spec.rootfs, '--proc', '/proc', '--dev', '/dev', '--size', String(spec.tmpBytes), '--perms', '1777', '--tmpfs', '/tmp');
  args.push(...spec.mounts);
  args.push('--remount-ro', '/', '--chdir', spec.cwd);
  args.push('--info-fd', String(spec.fds.info), '--block-fd', String(spec.fds.block));
  if (spec.fds.seccomp !== undefined) args.push('--seccomp', String(spec.fds.seccomp));
  args.push('--', ...spec.command);
  return args;
}

/** bwrap's version, or why it cannot be used. */
export function bwrapStatus(): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(bwrapCommand(), ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error || r.status !== 0) return { ok: false, reason: `${bwrapCommand()} is not installed (${r.error?.message ?? r.stderr.trim()})` };
  return { ok: true, version: r.stdout.trim() };
}

/**
 * Refuse to go on without bubblewrap: a native agent never runs with less isolation.
 *
 * @throws {SandboxError} `INTERNAL` naming the package to install.
 */
export function requireBwrap(): string {
  const s = bwrapStatus();
  if (!s.ok) throw new SandboxError('INTERNAL', `native agents need bubblewrap and it is missing: ${s.reason}; install it (apt-get install bubblewrap) — agentos doctor checks the host`);
  return s.version;
}
