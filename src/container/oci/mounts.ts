/**
 * The OCI `mounts` of a native agent, from the same neutral plans as bubblewrap's argv: the
 * read-only base (`baseMounts`: /usr, its merged-/usr links, a minimal /etc), a fresh /proc,
 * a minimal /dev, a size-capped /tmp, then the policy's files (`planFileMounts`: binds with
 * their mode, masked files, masked directories), in that order.
 *
 * - Binds are recursive (`rbind`, as bwrap binds), `nosuid` and `nodev`; read-only ones are
 *   `ro` and `rro` (recursively read-only, as `bwrap --ro-bind` makes submounts too).
 * - A link of the merged /usr (`/bin` → `usr/bin`) becomes a read-only bind of its target: an
 *   OCI config cannot make links, and the rootfs is read-only.
 * - A masked file is a read-only bind of an empty file; a masked directory an empty read-only
 *   tmpfs: exactly what bwrap does.
 * - Host files the config binds (the generated passwd, group, hosts and the empty file) are
 *   paths relative to the bundle unless the caller gives host paths ({@link OciFiles}).
 *
 * @example
 * ```ts
 * const mounts = ociMounts(baseMounts(files), planFileMounts(policy).mounts, { tmpBytes: 64 << 20, empty: files.empty });
 * ```
 */
import { resolve } from 'node:path';
import type { BaseMount, EtcFiles } from '../bwrap.js';
import type { FileMount } from '../mounts.js';
import { ETC_CONTENTS } from '../native-files.js';

/** runtime-spec `Mount`. */
export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options?: readonly string[];
}

/** runtime-spec `LinuxDevice`. */
export interface OciDevice {
  readonly path: string;
  readonly type: 'c';
  readonly major: number;
  readonly minor: number;
  readonly fileMode: number;
  readonly uid: number;
  readonly gid: number;
}

/** runtime-spec `LinuxDeviceCgroup`. */
export interface OciDeviceRule {
  readonly allow: boolean;
  readonly type?: 'c';
  readonly major?: number;
  readonly minor?: number;
  readonly access: 'rwm';
}

/** Host files the config binds: the generated `/etc` files and the empty file that masks. */
export interface OciFiles extends EtcFiles {
  readonly empty: string;
}

/** Where the bundle keeps the files the config binds, relative to the bundle directory. */
export const BUNDLE_FILES: OciFiles = Object.freeze({ passwd: 'files/passwd', group: 'files/group', hosts: 'files/hosts', empty: 'files/empty' });

/** What each of {@link BUNDLE_FILES} holds. */
export const BUNDLE_FILE_CONTENTS: Readonly<Record<keyof OciFiles, string>> = Object.freeze({ ...ETC_CONTENTS, empty: '' });

/** The device nodes of the minimal /dev (as bwrap's `--dev`). */
export const OCI_DEVICES: readonly OciDevice[] = Object.freeze(
  ([['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]] as const).map(
    ([name, major, minor]): OciDevice => ({ path: `/dev/${name}`, type: 'c', major, minor, fileMode: 0o666, uid: 0, gid: 0 }),
  ),
);

/** The device cgroup: nothing but {@link OCI_DEVICES}. */
export function ociDeviceRules(): OciDeviceRule[] {
  return [{ allow: false, access: 'rwm' }, ...OCI_DEVICES.map((d): OciDeviceRule => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: 'rwm' }))];
}

const BIND = ['rbind', 'nosuid', 'nodev'];
const bind = (source: string, destination: string, readonly: boolean): OciMount => ({
  destination, type: 'bind', source, options: [...BIND, ...(readonly ? ['ro', 'rro'] : ['rw'])],
});

/** `/proc`, the minimal `/dev` (a tmpfs with {@link OCI_DEVICES} and devpts) and `/tmp` of `tmpBytes`. */
export function ociSystemMounts(tmpBytes: number): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'noexec', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
    { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'mode=1777', `size=${tmpBytes}`] },
  ];
}

/**
 * All mounts, in order: the read-only base, /proc, /dev, /tmp, the policy's files.
 *
 * @example
 * ```ts
 * ociMounts([{ kind: 'bind', host: '/usr', guest: '/usr' }], [], { tmpBytes: 1 << 20, empty: 'files/empty' })[0];
 * // { destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'nosuid', 'nodev', 'ro', 'rro'] }
 * ```
 */
export function ociMounts(base: readonly BaseMount[], files: readonly FileMount[], opts: { readonly tmpBytes: number; readonly empty: string }): OciMount[] {
  const out = base.map((m) => bind(m.kind === 'bind' ? m.host : resolve(m.guest, '..', m.target), m.guest, true));
  out.push(...ociSystemMounts(opts.tmpBytes));
  for (const m of files) {
    if (m.kind === 'bind') out.push(bind(m.host, m.guest, m.readonly));
    else if (m.kind === 'mask-file') out.push(bind(opts.empty, m.guest, true));
    else out.push({ destination: m.guest, type: 'tmpfs', source: 'tmpfs', options: ['ro', 'nosuid', 'nodev', 'noexec', 'mode=555', 'size=4k'] });
  }
  return out;
}
