/**
 * Files the host makes for one native agent: the sandbox's `/etc/passwd`, `/etc/group` and
 * `/etc/hosts` (nobody and loopback only) and the empty file that masks forbidden files. They
 * live in a directory of their own, readable by the sandbox user, removed when the agent
 * closes.
 *
 * @example
 * ```ts
 * const files = await NativeFiles.create();
 * baseRootfs(files.etc); planMounts(policy, files.emptyFile);
 * await files.remove();
 * ```
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EtcFiles } from './bwrap.js';

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
    const dir = await mkdtemp(join(tmpdir(), 'agentos-native-'));
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
