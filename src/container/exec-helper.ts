/**
 * The exec helper `agentos-exec` (`native/exec/`, built by `npm run build:native`): one small
 * static binary that closes inherited descriptors, sets rlimits, applies a Landlock ruleset and
 * a seccomp filter, then execs a program in its place. On the host it replaces
 * `bash -c 'exec N>&-…' prlimit … bwrap` (two execs fewer per run); inside the sandbox it runs
 * before the agent's command to apply Landlock (a second file-system layer under the mounts).
 *
 * It never execs with less than it was asked for: a restriction it cannot apply ends it with
 * {@link EXEC_EXIT}`.setup` (125) and one `agentos-exec: …` line on stderr.
 *
 * @example
 * ```ts
 * const helper = findExecHelper();                  // undefined: not built, use bash + prlimit
 * const host = hostExecPrefix(helper!, { keepFds: [0, 1, 2, 3, 4], rlimits: { nofile: 100, core: 0 } });
 * spawn(host[0]!, [...host.slice(1), 'bwrap', ...bwrapArgs]);
 * // inside: bwrap … --ro-bind <helper> /run/agentos/exec … -- /run/agentos/exec --landlock '<spec>' -- <agent command>
 * ```
 */
import { accessSync, chmodSync, constants, copyFileSync, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonPackageName, nativeTriple } from '../engine/wasmtime/platform.js';
import type { FileMount } from './mounts.js';

/** Set to the helper's path to use that binary; set to the empty string to use none. */
export const EXEC_HELPER_ENV = 'AGENTOS_EXEC';

/** Where the helper is bound (read-only) inside the sandbox. */
export const SANDBOX_EXEC_PATH = '/run/agentos/exec';

/** The helper's own exit statuses (only when it did not exec; like env(1)'s). */
export const EXEC_EXIT = Object.freeze({
  /** A requested step failed (usage, descriptors, rlimits, Landlock, seccomp): nothing ran. */
  setup: 125,
  /** The program exists but could not be executed (permissions, Landlock, format). */
  cannotExecute: 126,
  /** The program was not found. */
  notFound: 127,
});

/** Where `npm run build:native` puts the helper of this platform, whether or not it is built. */
export function localExecHelperPath(): string {
  return fileURLToPath(new URL(`../../native/agentos-exec.${process.platform}-${process.arch}`, import.meta.url));
}

/** The helper's file name inside the prebuilt addon package of `triple` (native/platform.mjs has the same). */
export function execHelperFileName(triple: string = nativeTriple()): string {
  return `agentos-exec.${triple}`;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Find the helper, first match wins: `AGENTOS_EXEC` (the empty string: none), the local build
 * ({@link localExecHelperPath}), then the one in the prebuilt addon package of this platform.
 *
 * @param where - for tests: another environment, local path, and file package resolution starts from.
 * @returns the path, or `undefined` when there is none (the caller keeps bash + prlimit, and no Landlock).
 */
export function findExecHelper(where: { env?: NodeJS.ProcessEnv; localPath?: string; resolveFrom?: string } = {}): string | undefined {
  const override = (where.env ?? process.env)[EXEC_HELPER_ENV];
  if (override !== undefined) return override === '' ? undefined : override; // explicit: a wrong path fails loudly at spawn
  const local = where.localPath ?? localExecHelperPath();
  if (executable(local)) return local;
  try {
    const pkg = createRequire(where.resolveFrom ?? import.meta.url).resolve(`${addonPackageName()}/package.json`);
    const inPackage = join(dirname(pkg), execHelperFileName());
    return executable(inPackage) ? inPackage : undefined;
  } catch {
    return undefined; // no prebuilt package either
  }
}

/** The rlimits the helper knows (its `--rlimit NAME=VALUE`). */
export type RlimitName = 'as' | 'core' | 'cpu' | 'data' | 'fsize' | 'locks' | 'memlock' | 'msgqueue' | 'nice' | 'nofile' | 'nproc' | 'rss' | 'rtprio' | 'rttime' | 'sigpending' | 'stack';

/** Limits, soft = hard; `Infinity` is `unlimited`. */
export type ExecRlimits = Partial<Readonly<Record<RlimitName, number>>>;

function limitValue(name: string, v: number): string {
  if (v === Infinity) return 'unlimited';
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`rlimit ${name}: ${v} is not a non-negative integer`);
  return String(v);
}

function fdList(fds: Iterable<number>): string {
  const list = [...new Set(fds)].sort((a, b) => a - b);
  for (const fd of list) if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) throw new RangeError(`keepFds: ${fd} is not a descriptor number`);
  return list.join(',');
}

/** What the host side does before bwrap. */
export interface HostExecOptions {
  /** The only descriptors bwrap inherits (0–2 and the runtime's own slots): every other one is closed. */
  readonly keepFds: Iterable<number>;
  /** Set on bwrap, and so inherited by the agent (process.ts: `{ nofile, core: 0, fsize }`). */
  readonly rlimits?: ExecRlimits;
}

/**
 * The argv prefix that runs bwrap through the helper, replacing bash + prlimit: `[helper,
 * …flags, '--']`; append `bwrap` and its arguments. Spawn it as bwrap was spawned (uid 65534
 * when the host is root: see {@link stageExecHelper}).
 */
export function hostExecPrefix(helper: string, opts: HostExecOptions): string[] {
  const out = [helper, '--keep-fds', fdList(opts.keepFds)];
  for (const [name, v] of Object.entries(opts.rlimits ?? {})) {
    if (v !== undefined) out.push('--rlimit', `${name}=${limitValue(name, v)}`);
  }
  out.push('--');
  return out;
}

/** Access of one Landlock rule: read; read + execute; everything; read + write + device ioctls. */
export type LandlockAccess = 'ro' | 'rx' | 'rw' | 'dev';

/** A Landlock ruleset for the helper (see `landlock.ts` for the one a policy gets). */
export interface LandlockSpec {
  /** Hierarchies and what they allow; every path must exist inside the sandbox. */
  readonly paths: readonly { readonly access: LandlockAccess; readonly path: string }[];
  /** TCP ports the agent may connect to (ABI ≥ 4 enforces; no port: no TCP connect at all). */
  readonly connectPorts: readonly number[];
  /** TCP ports the agent may bind (ABI ≥ 4). */
  readonly bindPorts?: readonly number[];
  /** Refuse to run on a kernel below this ABI (default 1). */
  readonly minAbi?: number;
}

/**
 * The helper's spec text (`--landlock`): one rule per line.
 *
 * @throws {RangeError} for a path that is not absolute or holds a line break, or a bad port.
 */
export function landlockSpecText(spec: LandlockSpec): string {
  const lines: string[] = [];
  for (const { access, path } of spec.paths) {
    if (!path.startsWith('/') || /[\n\r\0]/.test(path)) throw new RangeError(`landlock: ${JSON.stringify(path)} is not an absolute path on one line`);
    lines.push(`${access} ${path}`);
  }
  const port = (p: number) => {
    if (!Number.isInteger(p) || p < 0 || p > 65535) throw new RangeError(`landlock: ${p} is not a TCP port`);
    return p;
  };
  for (const p of spec.connectPorts) lines.push(`connect ${port(p)}`);
  for (const p of spec.bindPorts ?? []) lines.push(`bind ${port(p)}`);
  if (spec.minAbi !== undefined) lines.push(`abi ${spec.minAbi}`);
  return `${lines.join('\n')}\n`;
}

/** What the helper does inside the sandbox before the agent's command. */
export interface SandboxExecOptions {
  readonly landlock?: LandlockSpec;
  /** Run without Landlock where the kernel lacks the spec's ABI (default: refuse to run). */
  readonly landlockOptional?: boolean;
  /**
   * Load the seccomp filter (BPF bytes) from this inherited descriptor after Landlock, instead of
   * bwrap's `--seccomp`: bwrap would load it before the helper runs, and the default allowlist
   * has no landlock calls.
   */
  readonly seccompFd?: number;
  /**
   * Load that filter with a listener and send the listener over this inherited unix socket
   * before the exec (`--seccomp-notify-fd`; needs `seccompFd`); the helper then closes both.
   */
  readonly seccompNotifyFd?: number;
  /** Descriptors the agent keeps (default: all it inherits from bwrap). */
  readonly keepFds?: Iterable<number>;
}

/** The argv prefix inside bwrap, before the agent's command: `[SANDBOX_EXEC_PATH, …flags, '--']`. */
export function sandboxExecPrefix(opts: SandboxExecOptions): string[] {
  const out = [SANDBOX_EXEC_PATH];
  if (opts.keepFds) out.push('--keep-fds', fdList(opts.keepFds));
  if (opts.landlock) out.push('--landlock', landlockSpecText(opts.landlock));
  if (opts.landlockOptional) out.push('--landlock-optional');
  if (opts.seccompFd !== undefined) out.push('--seccomp-fd', fdList([opts.seccompFd]));
  if (opts.seccompNotifyFd !== undefined) {
    if (opts.seccompFd === undefined) throw new RangeError('seccompNotifyFd needs seccompFd');
    out.push('--seccomp-notify-fd', fdList([opts.seccompNotifyFd]));
  }
  out.push('--');
  return out;
}

/** The read-only bind that puts the helper at {@link SANDBOX_EXEC_PATH} (bwrap: `--ro-bind helper /run/agentos/exec`). */
export function sandboxExecMount(helper: string): FileMount {
  return { kind: 'bind', host: helper, guest: SANDBOX_EXEC_PATH, readonly: true };
}

/** Whether "others" may execute `path` (search every parent directory, execute the file). */
function othersCanExecute(path: string): boolean {
  try {
    if ((statSync(path).mode & 0o001) === 0) return false;
    for (let d = dirname(path); ; d = dirname(d)) {
      if ((statSync(d).mode & 0o001) === 0) return false;
      if (dirname(d) === d) return true;
    }
  } catch {
    return false;
  }
}

/**
 * The helper as uid 65534 can run and bind it: `helper` itself when others may execute it,
 * else a copy (mode 0555) in `dir`, a directory others can search (the agent's `NativeFiles`
 * directory). bwrap runs as 65534 when the host is root, and a clone or a `node_modules` under
 * `/root` is not reachable for it.
 */
export function stageExecHelper(helper: string, dir: string): string {
  if (othersCanExecute(helper)) return helper;
  const copy = join(dir, 'agentos-exec');
  if (!existsSync(copy)) {
    copyFileSync(helper, copy);
    chmodSync(copy, 0o555);
  }
  return copy;
}
