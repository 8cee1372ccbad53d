/**
 * The components the benchmark runs, built on demand:
 * - `echo` and `hostcall` from bench/agents/*.wat with watToComponent (in process, < 1 s);
 * - the JavaScript example agent (examples/code-review/agent.js, StarlingMonkey, ~25 s) with
 *   `agentos build` into a temporary directory, cached in bench/.cache/agents/ under a key of
 *   its source, the WIT world, the toolchain versions and our JS builder modules.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolchainVersions, watToComponent } from '../../dist/build/index.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const BENCH = join(REPO, 'bench');
export const CACHE = join(BENCH, '.cache');

function sha256(...parts) {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** Build bench/agents/<name>.wat into bench/.cache/agents/<name>.wasm; returns the path. */
export async function watAgent(name) {
  const wat = await readFile(join(BENCH, 'agents', `${name}.wat`), 'utf8');
  const out = join(CACHE, 'agents', `${name}.wasm`);
  await mkdir(join(CACHE, 'agents'), { recursive: true });
  await writeFile(out, await watToComponent(wat));
  return out;
}

/** The JS example agent, from the build cache or built now. Returns { path, built, seconds }. */
export async function jsAgent(log) {
  const source = join(REPO, 'examples', 'code-review', 'agent.js');
  const builders = ['js.js', 'process.js', 'preopen-preload.js']
    .map((f) => join(REPO, 'dist', 'build', f))
    .filter((f) => existsSync(f))
    .map((f) => readFileSync(f));
  const key = sha256(readFileSync(source), readFileSync(join(REPO, 'wit', 'world.wit')), JSON.stringify(toolchainVersions()), ...builders).slice(0, 16);
  const cached = join(CACHE, 'agents', `code-review-${key}.wasm`);
  if (existsSync(cached)) return { path: cached, built: false, seconds: 0 };
  log(`building the JS example agent (StarlingMonkey, ~25 s; cached afterwards in ${cached.slice(REPO.length)})`);
  const t0 = performance.now();
  const dir = await mkdtemp(join(tmpdir(), 'agentos-bench-'));
  try {
    const out = join(dir, 'agent.wasm');
    const r = spawnSync(process.execPath, [join(REPO, 'dist', 'cli', 'main.js'), 'build', source, '-o', out], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`agentos build failed (${r.status}):\n${r.stderr}${r.stdout}`);
    await mkdir(join(CACHE, 'agents'), { recursive: true });
    const tmp = `${cached}.tmp-${process.pid}`;
    await copyFile(out, tmp);
    await rename(tmp, cached);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return { path: cached, built: true, seconds: (performance.now() - t0) / 1000 };
}

/** Whether the wasmtime addon loads here (the wasmtime rows are measured only then). */
export async function hasWasmtimeAddon() {
  const { loadWasmtimeAddon } = await import('../../dist/engine/wasmtime/addon.js');
  try {
    loadWasmtimeAddon();
    return true;
  } catch {
    return false;
  }
}
