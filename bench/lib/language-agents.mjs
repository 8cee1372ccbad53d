/**
 * The echo agent in every language an agent can be written in, for the languages section
 * (bench/languages.mjs): `run(task)` returns the task, nothing else.
 *
 * - WAT: bench/agents/echo.wat with watToComponent (the echo of sections 1–2 and 8);
 * - C: bench/agents/echo.c, clang-22 + wasi-libc (reactor) + the WASI preview1 adapter;
 * - JavaScript, StarlingMonkey: bench/agents/echo.js against our world;
 * - JavaScript, QuickJS: the same file against a world with only the `run` export (componentize-js
 *   cannot build QuickJS for worlds that import wasi:http, and ours does);
 * - Python: bench/agents/echo.py with componentize-py (CPython + the module + agent_os), built
 *   from a copy in an empty directory (the build puts the module's directory on the Python path).
 *
 * Everything but WAT goes through `buildAgent` (dist/build), in this process, and is cached in
 * bench/.cache/agents/lang-<key>-<hash>.wasm, the hash covering the source, the world, the
 * toolchain's version, our compiled builder modules and (Python) the agent_os package. A missing
 * toolchain (clang-22, componentize-py) makes the agent `skipped` with the reason and the
 * command that installs it; a failing build makes it `skipped` with the build's first line.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { buildAgent, C_TOOLCHAIN_PACKAGES, COMPONENTIZE_PY_VERSION, findComponentizePy, toolchainVersions } from '../../dist/build/index.js';
import { BENCH, CACHE, REPO, watAgent } from './agents.mjs';
import { clangVersion } from './compute-components.mjs';

/** The world the QuickJS agent targets: ours without any import (QuickJS cannot do wasi:http). */
export const QUICKJS_WORLD = `package agent-os:sandbox@0.1.0;

world agent {
  export run: func(task: string) -> result<string, string>;
}
`;

/** The languages, in table order. `key` names the cache file; `source` is under bench/agents. */
export const LANGUAGES = [
  { key: 'wat', title: 'WAT', source: 'echo.wat' },
  { key: 'c', title: 'C', source: 'echo.c' },
  { key: 'js-starlingmonkey', title: 'JavaScript (StarlingMonkey)', source: 'echo.js', backend: 'starlingmonkey' },
  { key: 'js-quickjs', title: 'JavaScript (QuickJS)', source: 'echo.js', backend: 'quickjs' },
  { key: 'python', title: 'Python (CPython)', source: 'echo.py' },
];

const OUT_DIR = join(CACHE, 'agents');

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

/** Our compiled build modules (a change to any of them rebuilds). */
function builderBytes() {
  const dir = join(REPO, 'dist', 'build');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}

/** Every file of the agent_os package (Python builds embed it). */
function agentOsBytes() {
  const dir = join(REPO, 'python', 'agent_os');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.py'))
    .sort()
    .flatMap((f) => [Buffer.from(f), readFileSync(join(dir, f))]);
}

/**
 * What a language needs before it can be built: `{ toolchain }` (a version line for the table) or
 * `{ skipped }` (why not, and how to install it).
 */
function toolchainOf(lang, versions) {
  if (lang.key === 'wat') return { toolchain: 'watToComponent (wasm-tools)' };
  if (lang.key === 'c') {
    const v = clangVersion();
    return v === undefined ? { skipped: `clang-22 not found (apt-get install ${C_TOOLCHAIN_PACKAGES}; or set AGENTOS_CLANG)` } : { toolchain: v };
  }
  if (lang.backend) return { toolchain: `componentize-js ${versions['componentize-js']} (jco ${versions.jco}), ${lang.backend}` };
  const py = findComponentizePy();
  if (!py.ok) return { skipped: `${py.reason} (${py.install})` };
  return { toolchain: `componentize-py ${py.version}${py.version === COMPONENTIZE_PY_VERSION ? '' : ` (pinned ${COMPONENTIZE_PY_VERSION})`}` };
}

/** Build one language's agent into `out` (through a temporary file). */
async function build(lang, out, work) {
  const source = join(BENCH, 'agents', lang.source);
  const tmp = `${out}.tmp-${process.pid}`;
  if (lang.key === 'python') {
    const dir = join(work, 'py');
    await mkdir(dir, { recursive: true });
    await copyFile(source, join(dir, lang.source));
    await buildAgent(join(dir, lang.source), tmp);
  } else if (lang.backend === 'quickjs') {
    const witDir = join(work, 'wit-quickjs');
    await mkdir(witDir, { recursive: true });
    await writeFile(join(witDir, 'world.wit'), QUICKJS_WORLD);
    await buildAgent(source, tmp, { backend: 'quickjs', witDir });
  } else {
    await buildAgent(source, tmp, lang.backend ? { backend: lang.backend } : {});
  }
  await rename(tmp, out);
}

/**
 * Every language's echo agent: `{ ...language, toolchain, path, bytes, built, seconds }`, or
 * `{ ...language, skipped }`. `progress` receives one line per build.
 */
export async function languageAgents(progress = () => {}) {
  const versions = toolchainVersions();
  const world = readFileSync(join(REPO, 'wit', 'world.wit'));
  const builders = builderBytes();
  const out = [];
  await mkdir(OUT_DIR, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'agentos-bench-lang-'));
  try {
    for (const lang of LANGUAGES) {
      const tc = toolchainOf(lang, versions);
      if (tc.skipped) {
        out.push({ ...lang, skipped: tc.skipped });
        continue;
      }
      if (lang.key === 'wat') {
        const path = await watAgent('echo');
        out.push({ ...lang, ...tc, path, bytes: (await stat(path)).size, built: false, seconds: 0 });
        continue;
      }
      const source = readFileSync(join(BENCH, 'agents', lang.source));
      const extra = lang.key === 'python' ? agentOsBytes() : [];
      const key = sha256(source, lang.key, lang.backend === 'quickjs' ? QUICKJS_WORLD : world, tc.toolchain, ...builders, ...extra).slice(0, 16);
      const path = join(OUT_DIR, `lang-${lang.key}-${key}.wasm`);
      let built = false;
      const t0 = performance.now();
      if (!existsSync(path)) {
        for (const f of await readdir(OUT_DIR)) if (f.startsWith(`lang-${lang.key}-`) && f !== basename(path)) await rm(join(OUT_DIR, f), { force: true });
        progress(`languages: building the ${lang.title} echo agent (${tc.toolchain}; cached afterwards in ${path.slice(REPO.length)})`);
        try {
          await build(lang, path, work);
        } catch (e) {
          const first = String(e instanceof Error ? e.message : e).split('\n')[0];
          out.push({ ...lang, skipped: `the build failed: ${first}` });
          continue;
        }
        built = true;
      }
      out.push({ ...lang, ...tc, path, bytes: (await stat(path)).size, built, seconds: (performance.now() - t0) / 1000 });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return out;
}
