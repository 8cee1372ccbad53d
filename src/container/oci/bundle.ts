/**
 * An OCI bundle on disk for a config from `ociSpec`: `config.json`, the files it binds relative
 * to the bundle (`files/passwd`, `group`, `hosts`, `empty`) and, in the rootfs, a mount point
 * for every mount. The rootfs stays read-only and owned by the host's root: runc's setup runs
 * as the container's root, which maps to an unprivileged host id, so it cannot make mount
 * points itself; with them made here, an empty directory is a whole rootfs.
 *
 * @example
 * ```ts
 * const config = ociSpec(policy, { command: ['/usr/bin/id'], rootfs: 'rootfs' });
 * await writeBundle('/var/lib/agents/a1', config);
 * // runc run --bundle /var/lib/agents/a1 a1
 * ```
 */
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { BUNDLE_FILE_CONTENTS, BUNDLE_FILES } from './mounts.js';
import type { OciSpec } from './spec.js';

/** Whether `path` is strictly below `dir` (guest paths). */
function below(path: string, dir: string): boolean {
  return path.startsWith(dir === '/' ? '/' : `${dir}/`) && path !== dir;
}

/**
 * The mount points `config` needs in its rootfs: `[guest path, 'dir' | 'file']`, skipping those
 * inside an earlier mount (they come from it). Bind sources relative to the bundle are looked
 * up there.
 *
 * @example
 * ```ts
 * await mountPoints(config, dir); // [['/usr', 'dir'], …, ['/etc/passwd', 'file'], ['/proc', 'dir'], …]
 * ```
 */
export async function mountPoints(config: OciSpec, bundle: string): Promise<[string, 'dir' | 'file'][]> {
  const out: [string, 'dir' | 'file'][] = [];
  const seen: string[] = [];
  for (const m of config.mounts) {
    if (seen.some((d) => below(m.destination, d))) continue;
    seen.push(m.destination);
    let kind: 'dir' | 'file' = 'dir';
    if (m.type === 'bind') {
      const st = await stat(isAbsolute(m.source) ? m.source : join(bundle, m.source)).catch(() => undefined);
      kind = st && !st.isDirectory() ? 'file' : 'dir';
    }
    out.push([m.destination, kind]);
  }
  return out;
}

/** The `mode=` of the tmpfs mounted at `guest`, if one is. */
function tmpfsMode(config: OciSpec, guest: string): number | undefined {
  const m = config.mounts.find((x) => x.destination === guest && x.type === 'tmpfs');
  const opt = m?.options?.find((o) => o.startsWith('mode='));
  return opt === undefined ? undefined : parseInt(opt.slice(5), 8);
}

/**
 * Write the bundle: `config.json` (or `opts.configFile`, a path in the bundle), the
 * bundle-relative files the config binds, and the rootfs's mount points. Returns the path of
 * the config file.
 *
 * @example
 * ```ts
 * await writeBundle(dir, ociSpec(policy, { command: ['true'], rootfs: 'rootfs' }));
 * ```
 */
export async function writeBundle(bundle: string, config: OciSpec, opts: { readonly configFile?: string } = {}): Promise<string> {
  await mkdir(bundle, { recursive: true, mode: 0o755 });
  await writeBundleFiles(bundle, config);
  const rootfs = resolve(bundle, config.root.path);
  await mkdir(rootfs, { recursive: true, mode: 0o755 });
  for (const [guest, kind] of await mountPoints(config, bundle)) {
    const path = join(rootfs, guest);
    if (relative(rootfs, path).startsWith('..')) continue;
    if (kind === 'dir') {
      await mkdir(path, { recursive: true, mode: 0o755 });
      // runc gives a tmpfs the mode of the directory it is mounted on, whatever its `mode=`
      // option says: a /tmp made 0755 here would be a /tmp the agent cannot write.
      const mode = tmpfsMode(config, guest);
      if (mode !== undefined) await chmod(path, mode);
    } else {
      await mkdir(dirname(path), { recursive: true, mode: 0o755 });
      await writeFile(path, '', { flag: 'a', mode: 0o444 });
    }
  }
  const file = resolve(bundle, opts.configFile ?? 'config.json');
  await writeFile(file, JSON.stringify(config, null, 2) + '\n', { mode: 0o644 });
  return file;
}

/**
 * The bundle-relative files `config` binds (those of `BUNDLE_FILES` it names), written under
 * `bundle` and readable by the sandbox user.
 *
 * @example
 * ```ts
 * await writeBundleFiles(dirname(out), config); // files/passwd, group, hosts, empty
 * ```
 */
export async function writeBundleFiles(bundle: string, config: OciSpec): Promise<string[]> {
  const sources = new Set(config.mounts.map((m) => m.source));
  const written: string[] = [];
  for (const [key, rel] of Object.entries(BUNDLE_FILES) as [keyof typeof BUNDLE_FILES, string][]) {
    if (!sources.has(rel)) continue;
    const path = join(bundle, rel);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await chmod(dirname(path), 0o755);
    await writeFile(path, BUNDLE_FILE_CONTENTS[key], { mode: 0o444 }).catch(async (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EACCES') throw e;
      await chmod(path, 0o644);
      await writeFile(path, BUNDLE_FILE_CONTENTS[key]);
    });
    await chmod(path, 0o444);
    written.push(path);
  }
  return written;
}
