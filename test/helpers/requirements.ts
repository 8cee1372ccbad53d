/**
 * What some tests need from the machine beyond Node, and how to get it. A test that needs
 * something absent is skipped *with its reason and the command that enables it*: the skip
 * carries a note (`ctx.skip(note)`) that the closing summary (`test/summary-reporter.ts`)
 * prints, so nothing is skipped silently.
 *
 * `npm install` obtains what it can from package registries (componentize-py from PyPI, the
 * wasmtime addon where cargo exists); the C toolchain is a system package, so C fixtures come
 * prebuilt (`test/fixtures/prebuilt/`) and only the check of those bytes needs clang.
 *
 * This module does not import vitest (the global setup uses it too); the skipping helpers
 * are in `skip.ts`.
 *
 * @example
 * ```ts
 * if (!needs.clang().ok) console.log(skipNote(needs.clang()));
 * ```
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { C_TOOLCHAIN_PACKAGES, clangCommand } from '../../src/build/c.js';
import { COMPONENTIZE_PY_INSTALL, findComponentizePy } from '../../src/build/python-toolchain.js';
import { wasmtimeAddonPath } from '../../src/engine/wasmtime/addon.js';
import { detectCgroups } from '../../src/container/cgroups/detect.js';
import { baseRootfs } from '../../src/container/bwrap.js';
import { findExecHelper } from '../../src/container/exec-helper.js';

/** Set to 1 where every requirement is installed (CI): a missing one then fails instead of skipping. */
export const REQUIRE_ALL_ENV = 'AGENTOS_TEST_REQUIRE_ALL';

/** One thing tests may need, whether this machine has it, and how to get it. */
export interface Requirement {
  readonly id: string;
  readonly ok: boolean;
  /** What it is, for people: "the C toolchain (clang-22 + wasi-libc)". */
  readonly what: string;
  /** Why it is not usable here (empty when ok). */
  readonly reason: string;
  /** The command that provides it. */
  readonly enable: string;
}

const cache = new Map<string, Requirement>();
function memo(id: string, make: () => Omit<Requirement, 'id'>): Requirement {
  let r = cache.get(id);
  if (!r) cache.set(id, (r = { id, ...make() }));
  return r;
}

function runs(command: string, args: string[]): boolean {
  const r = spawnSync(command, args, { stdio: 'ignore', timeout: 20_000 });
  return r.error === undefined && r.status === 0;
}

/** The Chromium executable: $AGENTOS_CHROMIUM, else Debian's. */
export function chromiumPath(): string | undefined {
  for (const p of [process.env['AGENTOS_CHROMIUM'], '/usr/bin/chromium', '/usr/bin/chromium-browser']) if (p && existsSync(p)) return p;
  return undefined;
}

/** Requirements by name. Each is computed once per process. */
export const needs = {
  clang: (): Requirement =>
    memo('clang', () => {
      const ok = runs(clangCommand(), ['--version']) && existsSync(`${process.env['AGENTOS_WASI_SYSROOT'] ?? '/usr'}/include/wasm32-wasi`);
      return { ok, what: 'the C toolchain (clang-22 + wasi-libc)', reason: ok ? '' : `${clangCommand()} or the wasi-libc sysroot is not installed`, enable: `apt-get install ${C_TOOLCHAIN_PACKAGES}` };
    }),
  componentizePy: (): Requirement =>
    memo('componentize-py', () => {
      const found = findComponentizePy();
      return { ok: found.ok, what: 'componentize-py (Python agents)', reason: found.ok ? '' : found.reason, enable: `node scripts/python-toolchain.mjs (or ${COMPONENTIZE_PY_INSTALL})` };
    }),
  wasmtimeAddon: (): Requirement =>
    memo('wasmtime-addon', () => {
      const ok = existsSync(wasmtimeAddonPath());
      return { ok, what: 'the wasmtime addon', reason: ok ? '' : 'the addon is not built (it needs a Rust toolchain)', enable: 'npm run build:native (with cargo from rustup)' };
    }),
  bwrap: (): Requirement =>
    memo('bwrap', () => {
      // Present and able to make a user namespace (a kernel may forbid them to unprivileged users).
      // The sandbox's own root file system (the host's /etc files stand in for the generated ones).
      const base = baseRootfs({ passwd: '/etc/passwd', group: '/etc/group', hosts: '/etc/hosts' });
      const r = spawnSync('bwrap', ['--unshare-user', ...base, '--', '/usr/bin/true'], { stdio: 'ignore', timeout: 20_000, ...(process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}) });
      const ok = r.error === undefined && r.status === 0;
      return { ok, what: 'bubblewrap with user namespaces', reason: ok ? '' : r.error ? 'bwrap is not installed' : `bwrap cannot create a sandbox here (exit ${r.status})`, enable: 'apt-get install bubblewrap (and allow unprivileged user namespaces)' };
    }),
  runc: (): Requirement =>
    memo('runc', () => {
      // Rootful runc: rootless runc fails once a config sets resources (issue 13).
      const installed = runs('runc', ['--version']);
      const root = process.getuid?.() === 0;
      const reason = !installed ? 'runc is not installed' : !root ? `not root (uid ${process.getuid?.() ?? '?'}); rootless runc cannot set the resources` : '';
      return { ok: installed && root, what: 'runc, run as root', reason, enable: 'apt-get install runc, and run the tests as root' };
    }),
  cargo: (): Requirement =>
    memo('cargo', () => {
      const ok = runs('cargo', ['--version']);
      return { ok, what: 'a Rust toolchain (cargo)', reason: ok ? '' : 'cargo is not on PATH', enable: 'rustup (then npm run build:native)' };
    }),
  execHelper: (): Requirement =>
    memo('exec-helper', () => {
      // Built and able to run here (it is a Linux binary).
      const path = findExecHelper();
      const ok = path !== undefined && runs(path, ['--probe-abi']);
      const reason =
        ok ? ''
        : process.env['AGENTOS_EXEC'] === '' ? 'AGENTOS_EXEC is set to the empty string (no helper)'
        : path === undefined ? 'agentos-exec is not built (it needs a Rust toolchain, and Linux)'
        : `${path} does not run here`;
      return { ok, what: 'the exec helper (agentos-exec)', reason, enable: 'npm run build:native (with cargo from rustup)' };
    }),
  chromium: (): Requirement =>
    memo('chromium', () => {
      // A real headless browser for the dashboard's page: Debian's chromium, driven by playwright-core.
      const path = chromiumPath();
      const ok = path !== undefined && runs(path, ['--version']);
      return { ok, what: 'a headless Chromium (Debian chromium)', reason: ok ? '' : 'chromium is not installed', enable: 'apt-get install chromium' };
    }),
  natsServer: (): Requirement =>
    memo('nats-server', () => {
      // A real broker, for agents of two processes messaging each other through it.
      const ok = runs('nats-server', ['--version']);
      return { ok, what: 'a NATS server (nats-server)', reason: ok ? '' : 'nats-server is not on PATH', enable: 'apt-get install nats-server' };
    }),
  pdftoppm: (): Requirement =>
    memo('pdftoppm', () => {
      // Poppler's rasteriser, to look at the pages of a PDF the product printed.
      const ok = runs('pdftoppm', ['-v']);
      return { ok, what: 'pdftoppm (poppler-utils)', reason: ok ? '' : 'pdftoppm is not on PATH', enable: 'apt-get install poppler-utils' };
    }),
  cgroups: (): Requirement =>
    memo('cgroups', () => {
      // Real cgroups for native agents: memory and pids controllers this process may write (root or a delegated cgroup).
      const layout = detectCgroups();
      const lacking = ['memory', 'pids'].filter((c) => !layout.controllers.get(c)?.writable);
      const reason = lacking.length === 0 ? '' : `${process.platform !== 'linux' ? `not Linux (${process.platform})` : `no writable ${lacking.join(' and ')} controller (layout ${layout.kind}, uid ${process.getuid?.() ?? '?'})`}`;
      return { ok: lacking.length === 0, what: 'writable cgroups (memory, pids)', reason, enable: 'run the tests as root, or in a delegated cgroup (systemd-run --scope -p Delegate=yes)' };
    }),
};

/** The note a skipped test carries: `needs X: reason — enable with: command`. */
export function skipNote(req: Requirement): string {
  return `needs ${req.what}: ${req.reason} — enable with: ${req.enable}`;
}
