/**
 * Locating and bundling the WIT package agents are built against.
 *
 * wasm-tools (inside jco) reads a WIT *directory* through preview2-shim's filesystem, which has
 * no preopens in our process (and must not get a `/` preopen: that state is process-global and
 * would leak to any guest wired to the ambient shim). So we read the directory ourselves and
 * hand wasm-tools one WIT *source* in which every dependency package is a nested
 * `package ns:name@ver { ... }` block.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';

/** The world agents export `run` from, in `agent-os:sandbox@0.1.0`. */
export const DEFAULT_WORLD = 'agent';

/**
 * Our own `wit/` directory. Resolved relative to this module, so it is the same from
 * `src/build/` (tests, through vitest) and `dist/build/` (the published package).
 */
export function defaultWitDir(): string {
  return fileURLToPath(new URL('../../wit/', import.meta.url));
}

/**
 * Make sure `wit/deps/` exists. For our own `wit/` it is generated from the installed jco by
 * `scripts/wit-deps.mjs` (never committed), so when it is missing we run that script; for any
 * other directory a missing `deps/` is left to wasm-tools to report if it matters.
 */
export function ensureWitDeps(witDir: string): void {
  const dir = resolve(witDir);
  if (existsSync(join(dir, 'deps'))) return;
  if (dir !== resolve(defaultWitDir())) return;
  const script = fileURLToPath(new URL('../../scripts/wit-deps.mjs', import.meta.url));
  if (!existsSync(script)) {
    throw new UsageError(`${join(dir, 'deps')} is missing and ${script} was not found to generate it`);
  }
  const r = spawnSync(process.execPath, [script], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new UsageError(`generating ${join(dir, 'deps')} failed: ${(r.stderr || r.stdout || '').trim()}`);
  }
}

const PACKAGE_DECL = /^[ \t]*package[ \t]+([^\s;{]+)[ \t]*;/m;

interface WitFile {
  path: string;
  text: string;
}

function witFilesIn(dir: string): WitFile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.wit'))
    .sort()
    .map((name) => ({ path: join(dir, name), text: readFileSync(join(dir, name), 'utf8') }))
    .filter((f) => statSync(f.path).isFile());
}

/** Group files by their `package` declaration and return `package x { ... }` blocks. */
function nestedPackages(files: WitFile[]): string[] {
  const byPackage = new Map<string, string[]>();
  for (const f of files) {
    const m = PACKAGE_DECL.exec(f.text);
    if (!m?.[1]) throw new UsageError(`${f.path}: a WIT dependency file needs a \`package\` declaration`);
    const body = f.text.slice(0, m.index) + f.text.slice(m.index + m[0].length);
    const list = byPackage.get(m[1]) ?? [];
    list.push(`// ${f.path}\n${body}`);
    byPackage.set(m[1], list);
  }
  return [...byPackage].map(([name, bodies]) => `package ${name} {\n${bodies.join('\n')}\n}\n`);
}

/**
 * Read a WIT directory (the root package's `*.wit` files plus `deps/<pkg>/*.wit` or
 * `deps/<pkg>.wit`) into one WIT source that wasm-tools can resolve without file access.
 *
 * @param witDir - defaults to our own `wit/` ({@link defaultWitDir}); its `deps/` is generated if missing.
 * @returns the bundled source; the root package comes first, so worlds are named by their bare name.
 * @throws {UsageError} when the directory has no `.wit` files.
 * @example
 * ```ts
 * const source = bundleWit();            // agent-os:sandbox@0.1.0 plus the WASI packages
 * await componentEmbed({ binary, witSource: source, world: 'agent' });
 * ```
 */
export function bundleWit(witDir: string = defaultWitDir()): string {
  const dir = resolve(witDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`WIT directory ${dir} not found`);
  ensureWitDeps(dir);
  const roots = witFilesIn(dir);
  if (roots.length === 0) throw new UsageError(`no .wit files in ${dir}`);
  // Files of the root package: keep the first `package` declaration, drop repeats.
  let rootName: string | undefined;
  const rootParts = roots.map((f) => {
    const m = PACKAGE_DECL.exec(f.text);
    if (!m?.[1]) return f.text;
    if (rootName === undefined) {
      rootName = m[1];
      return f.text;
    }
    return f.text.slice(0, m.index) + f.text.slice(m.index + m[0].length);
  });
  const deps: WitFile[] = [];
  const depsDir = join(dir, 'deps');
  if (existsSync(depsDir)) {
    for (const entry of readdirSync(depsDir).sort()) {
      const p = join(depsDir, entry);
      if (statSync(p).isDirectory()) deps.push(...witFilesIn(p));
      else if (entry.endsWith('.wit')) deps.push({ path: p, text: readFileSync(p, 'utf8') });
    }
  }
  return [...rootParts, ...nestedPackages(deps)].join('\n');
}
