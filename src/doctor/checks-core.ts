/**
 * The core checks: what the default jco engine needs to run an agent (Node, the jco package,
 * WebAssembly, a writable transpile cache, a writable audit directory). When one of these is
 * not ready, `agentos doctor` exits 5.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { access, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { resolvePackage } from '../build/js.js';
import { engineAdvisories, parseVersion, upgradeAdvice } from '../engine/advisories.js';
import { errno } from '../util/errno.js';
import { displayPath } from './probe.js';
import type { CheckResult } from './types.js';

/** The oldest Node major release the runtime supports (package.json `engines`). */
export const MIN_NODE_MAJOR = 20;

/** Node's version against {@link MIN_NODE_MAJOR}, and against the advisory table (`createSandbox` refuses an affected Node). */
export function checkNode(version: string = process.versions.node): CheckResult {
  const major = Number(version.split('.')[0]);
  const refused = parseVersion(version) !== undefined ? engineAdvisories('node', version) : [];
  if (refused.length > 0) {
    return { status: 'missing', detail: `node ${version} has known sandbox-escape advisories: ${refused.map((a) => a.id).join(', ')}`, fix: upgradeAdvice('node', refused, version) };
  }
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return { status: 'ready', detail: `node ${version}` };
  return { status: 'missing', detail: `node ${version}; ${MIN_NODE_MAJOR} or later is required`, fix: `install Node ${MIN_NODE_MAJOR} or later` };
}

// (module (func (export "f") (result i32) i32.const 42)): proves compile, instantiate and call.
const ANSWER_MODULE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, // type: () -> i32
  0x03, 0x02, 0x01, 0x00, // func 0: type 0
  0x07, 0x05, 0x01, 0x01, 0x66, 0x00, 0x00, // export "f" = func 0
  0x0a, 0x06, 0x01, 0x04, 0x00, 0x41, 0x2a, 0x0b, // body: i32.const 42
]);

/**
 * Paths under a mount are walked from the mount's directory descriptor through
 * `/proc/self/fd/<fd>/<name>` (src/capabilities/filesystem/beneath.ts). Without a usable
 * `/proc` every file operation of an agent fails closed; say so before an agent finds out.
 */
export function checkMountPaths(): CheckResult {
  let dir: string | undefined;
  let fd: number | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'agentos-doctor-'));
    writeFileSync(join(dir, 'probe'), 'ok');
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    const names = readdirSync(`/proc/self/fd/${fd}`);
    const text = readFileSync(`/proc/self/fd/${fd}/probe`, 'utf8');
    if (!names.includes('probe') || text !== 'ok') throw new Error('/proc/self/fd/<fd> does not lead to the directory the descriptor holds');
    return { status: 'ready', detail: 'paths resolve beneath a directory descriptor (/proc/self/fd)' };
  } catch (e) {
    return {
      status: 'missing',
      detail: `paths cannot be resolved beneath a mount's directory descriptor: ${(e as Error).message}; agents' file operations would all be refused`,
      fix: 'run on Linux with /proc mounted (mount -t proc proc /proc in a container)',
    };
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether this Node can compile, instantiate and call a WebAssembly module (it can be disabled, e.g. `--jitless`). */
export async function webAssemblyWorks(): Promise<string | undefined> {
  try {
    if (typeof WebAssembly !== 'object') return 'WebAssembly is not available in this Node';
    const { instance } = await WebAssembly.instantiate(ANSWER_MODULE);
    const f = instance.exports['f'] as () => number;
    return f() === 42 ? undefined : 'a WebAssembly test module returned a wrong answer';
  } catch (e) {
    return `WebAssembly does not work here: ${(e as Error).message}`;
  }
}

/** The jco package resolves (with its version) and WebAssembly runs. */
export async function checkJco(): Promise<CheckResult> {
  let version: string;
  try {
    const api = resolvePackage('@bytecodealliance/jco');
    // The package exports no package.json; it sits two levels above dist/api.js.
    const pkg = join(dirname(dirname(api)), 'package.json');
    version = existsSync(pkg) ? ((JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version ?? 'unknown version') : 'unknown version';
  } catch (e) {
    return {
      status: 'missing',
      detail: `@bytecodealliance/jco does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      fix: 'reinstall the package\'s dependencies (npm install)',
    };
  }
  const wasm = await webAssemblyWorks();
  if (wasm !== undefined) return { status: 'unavailable', detail: `jco ${version}; ${wasm}`, fix: 'run Node without flags that disable WebAssembly (--jitless)' };
  return { status: 'ready', detail: `jco ${version}, WebAssembly ok` };
}

/**
 * The transpile cache: created (mode 0700) when absent, then a temporary file is written and
 * removed in it — the same operations the jco engine performs.
 */
export async function checkCacheDir(dir: string): Promise<CheckResult> {
  const fix = 'pass a writable directory with --cache-dir DIR (or set XDG_CACHE_HOME)';
  const shown = displayPath(resolve(dir));
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    return { status: 'missing', detail: `${shown}: cannot create it (${errno(e)})`, fix };
  }
  const probeFile = join(dir, `.doctor-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(probeFile, 'agentos doctor\n', { flag: 'wx', mode: 0o600 });
  } catch (e) {
    return { status: 'missing', detail: `${shown}: not writable (${errno(e)})`, fix };
  } finally {
    await rm(probeFile, { force: true }).catch(() => undefined);
  }
  return { status: 'ready', detail: `${shown} (writable)` };
}

/**
 * The audit directory: it, or its nearest existing ancestor when it does not exist yet, must
 * be a writable directory. Nothing is created and the log is not opened (a running sandbox
 * may hold its lock).
 */
export async function checkAuditDir(dir: string): Promise<CheckResult> {
  const fix = 'pass a writable directory with --audit DIR';
  const target = resolve(dir);
  const shown = displayPath(target);
  let existing = target;
  for (;;) {
    try {
      const s = await stat(existing);
      if (!s.isDirectory()) {
        return { status: 'missing', detail: `${shown}: ${displayPath(existing)} is not a directory`, fix };
      }
      break;
    } catch (e) {
      // ENOTDIR: a file on the way; walking up finds it and says so.
      if (errno(e) !== 'ENOENT' && errno(e) !== 'ENOTDIR') return { status: 'missing', detail: `${shown}: cannot inspect ${displayPath(existing)} (${errno(e)})`, fix };
      const parent = dirname(existing);
      if (parent === existing) return { status: 'missing', detail: `${shown}: no ancestor exists`, fix };
      existing = parent;
    }
  }
  try {
    await access(existing, constants.W_OK | constants.X_OK);
  } catch (e) {
    return { status: 'missing', detail: `${shown}: ${displayPath(existing)} is not writable (${errno(e)})`, fix };
  }
  return {
    status: 'ready',
    detail: existing === target ? `${shown} (exists, writable)` : `${shown} (will be created in ${displayPath(existing)})`,
  };
}
