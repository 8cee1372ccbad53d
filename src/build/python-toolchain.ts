/**
 * Finding componentize-py, the toolchain that builds Python agents (CPython compiled to
 * WebAssembly plus the agent's modules, as one component of our world).
 *
 * It comes from PyPI, pinned to {@link COMPONENTIZE_PY_VERSION} (the version our world was
 * checked against). Where it is looked for, first match wins:
 * 1. `AGENTOS_COMPONENTIZE_PY`: a command to run (a path, or a name on PATH);
 * 2. `componentize-py` on PATH;
 * 3. the toolchain directory `<cache>/toolchains/componentize-py-<version>/`, a
 *    `pip install --target` tree that `npm install` in a clone of this repository fills
 *    (`scripts/python-toolchain.mjs`), run with the machine's `python3`.
 *
 * @example
 * ```ts
 * const found = findComponentizePy();
 * if (!found.ok) console.error(found.reason, found.install);
 * ```
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The componentize-py release our world is built and tested with. */
export const COMPONENTIZE_PY_VERSION = '0.25.1';

/** How a user installs the pinned toolchain. */
export const COMPONENTIZE_PY_INSTALL = `python3 -m pip install componentize-py==${COMPONENTIZE_PY_VERSION}`;

/** A usable componentize-py: run `command[0]` with `command.slice(1)` then its own arguments. */
export interface ComponentizePyFound {
  readonly ok: true;
  readonly command: readonly string[];
  /** Extra environment the command needs (PYTHONPATH for the toolchain directory). */
  readonly env: Readonly<Record<string, string>>;
  readonly version: string;
  /** Where it was found: `env`, `path` or `toolchain-dir`. */
  readonly source: 'env' | 'path' | 'toolchain-dir';
}

/** No usable componentize-py, with what to do about it. */
export interface ComponentizePyMissing {
  readonly ok: false;
  readonly reason: string;
  readonly install: string;
}

/**
 * The toolchain directory filled by `scripts/python-toolchain.mjs`:
 * `$XDG_CACHE_HOME/agent-os-sandbox/toolchains/componentize-py-<version>` (or under `~/.cache`).
 */
export function componentizePyToolchainDir(): string {
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'agent-os-sandbox', 'toolchains', `componentize-py-${COMPONENTIZE_PY_VERSION}`);
}

/** The Python interpreter used for the toolchain directory (override: `AGENTOS_PYTHON`). */
export function pythonCommand(): string {
  return process.env['AGENTOS_PYTHON'] ?? 'python3';
}

// Runs componentize-py's console entry point from a `pip install --target` tree.
const SCRIPT_ENTRY = 'import sys; from componentize_py import script; sys.argv[0] = "componentize-py"; sys.exit(script())';

function versionOf(command: readonly string[], env: Readonly<Record<string, string>>): string | undefined {
  const [program, ...args] = command;
  if (program === undefined) return undefined;
  const r = spawnSync(program, [...args, '--version'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  if (r.status !== 0) return undefined;
  return /componentize-py\s+(\S+)/.exec(r.stdout)?.[1];
}

/**
 * Locate componentize-py and check its version (a different minor release is refused: its
 * generated bindings and CPython build are not the ones our world was checked with).
 *
 * @returns the command to run, or why there is none and the command that installs it.
 */
export function findComponentizePy(): ComponentizePyFound | ComponentizePyMissing {
  const install = `${COMPONENTIZE_PY_INSTALL} (or, in a clone of this repository, npm install)`;
  const pinnedMinor = COMPONENTIZE_PY_VERSION.split('.').slice(0, 2).join('.');
  const candidates: { command: string[]; env: Record<string, string>; source: ComponentizePyFound['source'] }[] = [];
  const fromEnv = process.env['AGENTOS_COMPONENTIZE_PY'];
  if (fromEnv) candidates.push({ command: [fromEnv], env: {}, source: 'env' });
  candidates.push({ command: ['componentize-py'], env: {}, source: 'path' });
  const dir = componentizePyToolchainDir();
  if (existsSync(join(dir, 'componentize_py'))) {
    candidates.push({ command: [pythonCommand(), '-c', SCRIPT_ENTRY], env: { PYTHONPATH: dir }, source: 'toolchain-dir' });
  }
  const wrong: string[] = [];
  for (const c of candidates) {
    const version = versionOf(c.command, c.env);
    if (version === undefined) continue;
    if (version.split('.').slice(0, 2).join('.') !== pinnedMinor) {
      wrong.push(`${c.command[0]} is componentize-py ${version}`);
      continue;
    }
    return { ok: true, command: c.command, env: c.env, version, source: c.source };
  }
  const reason = wrong.length > 0
    ? `componentize-py ${COMPONENTIZE_PY_VERSION} is needed to build Python agents, found only: ${wrong.join('; ')}`
    : `componentize-py ${COMPONENTIZE_PY_VERSION} is needed to build Python agents and was not found`;
  return { ok: false, reason, install };
}
