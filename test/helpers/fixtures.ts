/**
 * Where the test fixtures live. Agents in `test/fixtures/agents/` (WAT, C, JS) are built by
 * `test/global-setup.ts` into `test/fixtures/build/<name>.wasm` before any test runs; the
 * examples under `examples/` are built into `examples/<example>/build/<name>.wasm`.
 *
 * Fixtures and their tasks:
 * - `echo` — run(task) returns ok(task).
 * - `fail` — returns err("bad task").
 * - `trap` — traps (`unreachable`) in run.
 * - `loop` — loops forever in run (no calls inside the loop).
 * - `start-loop` — loops forever in the core module's start function (instantiation never ends).
 * - `log` — emits `info` <task> then `debug` "log.wat done", returns ok("logged").
 * - `fsprobe` — C/libc; task = newline-separated commands, one `ok …`/`err ERRNO` line each
 *   (see the header of `test/fixtures/agents/fsprobe.c` for the command list).
 * - `pyprobe` — Python (CPython via componentize-py): files, fetch, tools, memory and loops from
 *   Python; same command style as fsprobe (see the docstring of `test/fixtures/agents/pyprobe.py`).
 * - `typed` — StarlingMonkey, built against its own world (`typed.wit/`): `run` echoes, and `add`
 *   plus the interface `test:typed/shapes@0.1.0` export functions over every kind of WIT type.
 * - `fetchprobe` — StarlingMonkey `fetch`; task = JSON `{url, method?, body?, headers?, redirect?}`,
 *   returns JSON `{status, body, redirected, url, hops}` or `{error}`.
 * - `commsprobe` — StarlingMonkey `kv` and `messaging`; task = JSON array of steps (`send`,
 *   `receive`, `reply`, `echo-serve`, `kv.set`, …; see its header), returns one result per step.
 * - `commsc` — C with `guest/c/agentos.h`: `kv` and `messaging` commands, one per line
 *   (`kvset`, `kvget`, `send`, `recv`, `reply`, …; see its header).
 *
 * @example
 * ```ts
 * const bytes = await readFile(fixturePath('echo'));
 * ```
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Fixture agent sources. */
export const FIXTURE_SOURCES_DIR = join(REPO_ROOT, 'test', 'fixtures', 'agents');
/** Built fixture components (gitignored). */
export const FIXTURE_BUILD_DIR = join(REPO_ROOT, 'test', 'fixtures', 'build');

/** Source extensions the build understands. */
export const AGENT_EXTENSIONS = ['.wat', '.c', '.js', '.mjs', '.py'] as const;

/** The examples and the agent source of each, relative to `examples/<name>/`. */
export const EXAMPLES: Readonly<Record<string, string>> = Object.freeze({
  hello: 'hello.wat',
  'c-agent': 'agent.c',
  'code-review': 'agent.js',
  'python-agent': 'agent.py',
});

function stripWasm(name: string): string {
  return name.endsWith('.wasm') ? name.slice(0, -'.wasm'.length) : name;
}

/**
 * Path of a built fixture component, e.g. `fixturePath('echo')` →
 * `<repo>/test/fixtures/build/echo.wasm`.
 *
 * @param name - the fixture's base name (with or without `.wasm`).
 * @throws Error when the component has not been built (the global setup builds all of them).
 */
export function fixturePath(name: string): string {
  const path = join(FIXTURE_BUILD_DIR, `${stripWasm(name)}.wasm`);
  if (!existsSync(path)) {
    throw new Error(`fixture ${name} is not built (${path}); the vitest global setup builds test/fixtures/agents/*`);
  }
  return path;
}

/** Path of a fixture's source (`test/fixtures/agents/<name>.{wat,c,js,mjs,py}`). */
export function fixtureSourcePath(name: string): string {
  for (const ext of AGENT_EXTENSIONS) {
    const path = join(FIXTURE_SOURCES_DIR, `${stripWasm(name)}${ext}`);
    if (existsSync(path)) return path;
  }
  throw new Error(`no source for fixture ${name} in ${FIXTURE_SOURCES_DIR}`);
}

/** Where an example's component is built: `examples/<example>/build/<source base name>.wasm`. */
export function exampleBuildPath(example: string): string {
  const source = EXAMPLES[example];
  if (source === undefined) throw new Error(`unknown example ${example} (known: ${Object.keys(EXAMPLES).join(', ')})`);
  return join(REPO_ROOT, 'examples', example, 'build', source.replace(/\.\w+$/, '.wasm'));
}

/** Path of a built example component, e.g. `examplePath('hello')`; throws when not built. */
export function examplePath(example: string): string {
  const path = exampleBuildPath(example);
  if (!existsSync(path)) throw new Error(`example ${example} is not built (${path}); the vitest global setup builds it`);
  return path;
}

/** Directory of an example (its policy.yaml, data, workspace). */
export function exampleDir(example: string): string {
  return join(REPO_ROOT, 'examples', example);
}
