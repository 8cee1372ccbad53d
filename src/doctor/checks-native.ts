/**
 * Optional toolchains and engines: the wasmtime addon (and cargo, which builds it), the C
 * toolchain for C agents, componentize-py for Python agents.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { C_TOOLCHAIN_PACKAGES, clangCommand } from '../build/c.js';
import { findComponentizePy } from '../build/python-toolchain.js';
import { ADVISORIES, ADVISORIES_REVIEWED, engineAdvisories, NODE_END_OF_LIFE, nodeEndOfLife, parseVersion, upgradeAdvice } from '../engine/advisories.js';
import { findWasmtimeAddon } from '../engine/wasmtime/addon.js';
import { addonPackageName } from '../engine/wasmtime/platform.js';
import { displayPath, firstLine, probe, probeFailure } from './probe.js';
import type { CheckResult } from './types.js';

const ADDON_LOAD_TIMEOUT_MS = 20_000;

// Loads the addon and asks its engine for the wasmtime release. In a child process, so an
// addon built for another Node ABI (or one that crashes) cannot take the doctor down with it.
const LOAD_ADDON = `const a = require(process.argv[1]);
const e = new a.Engine({ epochTickMs: 1000 });
process.stdout.write(String(e.wasmtimeVersion));
process.exit(0);`;

/** `cargo 1.91.0` from `cargo --version`, or undefined when cargo is not on PATH (or does not run). */
export async function cargoVersion(): Promise<string | undefined> {
  const r = await probe('cargo', ['--version']);
  return r.ok ? firstLine(r.stdout).split(' ').slice(0, 2).join(' ') : undefined;
}

/** Where to look for the addon, and whether this copy is installed (for tests; defaults: this copy). */
export interface AddonWhere {
  /** The local build's path (default `localAddonPath()`). */
  readonly localPath?: string;
  /** The file the prebuilt package is resolved from (default: the addon loader's module). */
  readonly resolveFrom?: string;
  /** Installed under node_modules rather than a clone (default: decided from this module's path). */
  readonly installed?: boolean;
}

/**
 * The wasmtime addon: found the way the engine finds it (`findWasmtimeAddon`: the local build,
 * then the prebuilt platform package), and loads. Also says whether cargo is on PATH, since
 * building the addon needs it.
 */
export async function checkWasmtimeAddon(where: AddonWhere = {}): Promise<CheckResult> {
  const cargo = await cargoVersion();
  const cargoNote = cargo !== undefined ? `${cargo} on PATH` : 'cargo not on PATH';
  // The same rule as the addon loader's: a copy under node_modules is installed, else a clone.
  const installed = where.installed ?? fileURLToPath(import.meta.url).split(sep).includes('node_modules');
  const build = installed
    ? `install a Rust toolchain (rustup) so cargo is on PATH, then npm rebuild agent-os-sandbox (the addon is built at install), or install ${addonPackageName()}`
    : 'npm run build:native (needs a Rust toolchain: rustup)';
  const found = findWasmtimeAddon({
    ...(where.localPath !== undefined ? { localPath: where.localPath } : {}),
    ...(where.resolveFrom !== undefined ? { resolveFrom: where.resolveFrom } : {}),
  });
  if (found === undefined) {
    return { status: 'missing', detail: `not built for ${process.platform}-${process.arch}, no prebuilt package installed; ${cargoNote}`, fix: build };
  }
  const shown = displayPath(found.path) + (found.source === 'package' ? ' (prebuilt package)' : '');
  const r = await probe(process.execPath, ['-e', LOAD_ADDON, found.path], { timeoutMs: ADDON_LOAD_TIMEOUT_MS });
  if (!r.ok) {
    // A failed require's stack names the cause on its "Error:" line (wrong ABI, missing symbol).
    const why = r.timedOut ? probeFailure(r, ADDON_LOAD_TIMEOUT_MS) : (r.stderr.split('\n').find((l) => /Error/.test(l)) ?? probeFailure(r)).trim();
    const fix = found.source === 'package' ? `reinstall ${addonPackageName()}` : installed ? build : 'rebuild it: npm run build:native';
    return { status: 'unavailable', detail: `${shown} does not load (${why}); ${cargoNote}`, fix };
  }
  return { status: 'ready', detail: `${shown} (wasmtime ${r.stdout.trim()}); ${cargoNote}` };
}

/**
 * The wasmtime release of the addon the engine would load (loaded in a child process, as
 * {@link checkWasmtimeAddon} does), or undefined when there is none or it does not load.
 */
export async function addonWasmtimeRelease(where: AddonWhere = {}): Promise<string | undefined> {
  const found = findWasmtimeAddon({
    ...(where.localPath !== undefined ? { localPath: where.localPath } : {}),
    ...(where.resolveFrom !== undefined ? { resolveFrom: where.resolveFrom } : {}),
  });
  if (found === undefined) return undefined;
  const r = await probe(process.execPath, ['-e', LOAD_ADDON, found.path], { timeoutMs: ADDON_LOAD_TIMEOUT_MS });
  return r.ok ? r.stdout.trim() : undefined;
}

/** What {@link checkEngineAdvisories} checks (for tests; defaults: this Node, the addon found, today). */
export interface EngineVersions {
  /** Default `process.versions.node`. */
  readonly node?: string;
  /** Default: the addon's ({@link addonWasmtimeRelease}); null: no addon to check. */
  readonly wasmtime?: string | null;
  /** YYYY-MM-DD, default today (UTC): compared with the Node line's end of life. */
  readonly today?: string;
}

/**
 * Node and the wasmtime addon against the advisory table (src/engine/advisories.ts): `missing`
 * when either has a known sandbox escape (the engine refuses to run), `warning` when the Node
 * line is past its end of life (no more security fixes), else `ready`.
 */
export async function checkEngineAdvisories(versions: EngineVersions = {}): Promise<CheckResult> {
  const node = versions.node ?? process.versions.node;
  const wasmtime = versions.wasmtime === undefined ? await addonWasmtimeRelease() : (versions.wasmtime ?? undefined);
  const today = versions.today ?? new Date().toISOString().slice(0, 10);
  const parts: string[] = [];
  const fixes: string[] = [];
  const verdict = (engine: 'node' | 'wasmtime', version: string): void => {
    if (parseVersion(version) === undefined) {
      parts.push(`${engine} ${JSON.stringify(version)} is not a version (not checked)`);
      return;
    }
    const hits = engineAdvisories(engine, version);
    if (hits.length > 0) {
      parts.push(`${engine} ${version} refused: ${hits.map((a) => a.id).join(', ')}`);
      fixes.push(upgradeAdvice(engine, hits, version));
    } else parts.push(`${engine} ${version}: no known advisory`);
  };
  verdict('node', node);
  if (wasmtime !== undefined) verdict('wasmtime', wasmtime);
  else parts.push('wasmtime: no addon loads (not checked)');
  const table = `table of ${ADVISORIES.length}, reviewed ${ADVISORIES_REVIEWED}`;
  if (fixes.length > 0) return { status: 'missing', detail: `${parts.join('; ')} (${table})`, fix: fixes.join('; ') };
  const eol = nodeEndOfLife(node);
  if (eol !== undefined && eol <= today) {
    const supported = Object.entries(NODE_END_OF_LIFE).filter(([, d]) => d > today).map(([m]) => Number(m)).filter((m) => m % 2 === 0);
    return {
      status: 'warning',
      detail: `${parts.join('; ')} (${table}); the Node ${parseVersion(node)!.nums[0]} line reached end of life on ${eol}: no more security fixes`,
      fix: supported.length > 0 ? `upgrade to a supported Node line (${supported.join(' or ')})` : 'upgrade to a supported Node line',
    };
  }
  return { status: 'ready', detail: `${parts.join('; ')} (${table})` };
}

/** The WASI sysroot clang is given (`AGENTOS_WASI_SYSROOT`, default `/usr`), as `clangArgs` uses it. */
export function wasiSysroot(): string {
  return process.env['AGENTOS_WASI_SYSROOT'] ?? '/usr';
}

/**
 * The C toolchain: clang runs, and the pieces of the Debian packages it needs are there —
 * wasi-libc's headers in the sysroot, `wasm-ld` (lld) and the wasm32 compiler-rt builtins.
 */
export async function checkCToolchain(): Promise<CheckResult> {
  const clang = clangCommand();
  const fix = `apt-get install ${C_TOOLCHAIN_PACKAGES}`;
  const version = await probe(clang, ['--version']);
  if (!version.ok) return { status: 'missing', detail: `${clang} ${probeFailure(version)}`, fix };
  const found = firstLine(version.stdout);
  const absent: string[] = [];
  const headers = join(wasiSysroot(), 'include', 'wasm32-wasi');
  if (!existsSync(headers)) absent.push(`wasi-libc headers (${headers})`);
  // clang prints a bare name when it has no such program; a path means it found one.
  const ld = await probe(clang, ['-print-prog-name=wasm-ld']);
  const ldPath = firstLine(ld.stdout);
  if (!ld.ok || !isAbsolute(ldPath) || !existsSync(ldPath)) absent.push('wasm-ld (lld)');
  const rt = await probe(clang, ['--target=wasm32-wasi', '-Wno-deprecated', '-print-libgcc-file-name']);
  const rtPath = firstLine(rt.stdout);
  if (!rt.ok || !existsSync(rtPath)) absent.push('wasm32 compiler-rt builtins');
  if (absent.length > 0) return { status: 'missing', detail: `${clang}: ${found}; missing ${absent.join(', ')}`, fix };
  return { status: 'ready', detail: `${clang}: ${found}, sysroot ${wasiSysroot()}` };
}

/** componentize-py, the pinned release, through the same lookup `agentos build` uses for `.py` agents. */
export async function checkComponentizePy(): Promise<CheckResult> {
  // Blocks the event loop (spawnSync): runDoctor runs it after the concurrent checks.
  const found = findComponentizePy();
  if (!found.ok) return { status: 'missing', detail: found.reason, fix: found.install };
  return { status: 'ready', detail: `componentize-py ${found.version} (${found.source === 'toolchain-dir' ? 'toolchain directory' : found.source === 'env' ? 'AGENTOS_COMPONENTIZE_PY' : 'on PATH'})` };
}
