/**
 * Files the host makes for one native agent: the sandbox's `/etc/passwd`, `/etc/group` and
 * `/etc/hosts` (nobody and loopback only) and the empty file that masks forbidden files. They
 * live in a directory of their own, readable by the sandbox user, removed when the agent
 * closes. The directory's name carries the host's pid (`agentos-native-<pid>-XXXXXX`): a host
 * killed before its agents closed leaves its directories behind, and the next host to make one
 * in the same temporary directory removes those whose pid is no longer alive (as
 * `cleanupStale` does for run cgroups).
 *
 * @example
 * ```ts
 * const files = await NativeFiles.create();
 * baseRootfs(files.etc); planMounts(policy, files.emptyFile);
 * await files.remove();
 * ```
 */
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EtcFiles } from './bwrap.js';
import { pidAlive } from './cgroups/files.js';

/** Name prefix of the directories, before the owner's pid. */
const PREFIX = 'agentos-native-';
/** `agentos-native-<pid>-<mkdtemp suffix>`. */
const NAME = /^agentos-native-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * Remove the directories in `dir` left by hosts that died (their pid is not alive), e.g. after
 * SIGKILL. Directories of live processes, this one's included, and names of any other form are
 * left alone; a reused pid keeps its dead predecessor's directories until it exits too. Never
 * throws; returns the names removed.
 */
export async function removeStaleNativeFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = NAME.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    try {
      await rm(join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Another user's, or already going: not ours to insist on.
    }
  }
  return removed;
}

/** Temporary directories swept in this process (once each). */
const swept = new Set<string>();

/** The sandbox's `/etc/passwd`, `/etc/group` and `/etc/hosts`: nobody, nogroup, loopback only. */
export const ETC_CONTENTS: Readonly<Record<keyof EtcFiles, string>> = Object.freeze({
  passwd: 'nobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n',
  group: 'nogroup:x:65534:\n',
  hosts: '127.0.0.1 localhost agent\n::1 localhost ip6-localhost\n',
});

export class NativeFiles {
  private constructor(
    /** The directory holding them. */
    readonly dir: string,
    readonly etc: EtcFiles,
    readonly emptyFile: string,
  ) {}

  static async create(): Promise<NativeFiles> {
    const base = tmpdir();
    if (!swept.has(base)) {
      swept.add(base);
      await removeStaleNativeFiles(base);
    }
    const dir = await mkdtemp(join(base, `${PREFIX}${process.pid}-`));
    // The sandbox user (65534) must read these through bind mounts.
    await chmod(dir, 0o755);
    const put = async (name: string, text: string) => {
      const path = join(dir, name);
      await writeFile(path, text, { mode: 0o444 });
      return path;
    };
    const etc = {
      passwd: await put('passwd', ETC_CONTENTS.passwd),
      group: await put('group', ETC_CONTENTS.group),
      hosts: await put('hosts', ETC_CONTENTS.hosts),
    };
    return new NativeFiles(dir, etc, await put('empty', ''));
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
