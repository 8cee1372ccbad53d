/**
 * vitest global setup: build every fixture agent (`test/fixtures/agents/*.{wat,c,js,mjs,py}`)
 * into `test/fixtures/build/<name>.wasm`, and every example into `examples/<x>/build/`.
 *
 * - A build is skipped when `<output>.key` holds the same key: sha256 of the source,
 *   `wit/world.wit`, the versions of the toolchain that kind of source goes through and its
 *   builder modules (`src/build/{js,c,wat,python,…}.ts`). StarlingMonkey and CPython builds
 *   take 10–30 s each, so only the first run (or a change) pays for them.
 * - C sources need clang-22, a system package: where it is missing, the committed components
 *   in `test/fixtures/prebuilt/` are used when they were built from the same source (else the
 *   run stops and says how to refresh them).
 * - Python sources need componentize-py (PyPI; `npm install` fetches it): where it is missing
 *   they are not built, and the tests that need them are skipped with that reason.
 * - A failing build ends the run at once: the other builds are aborted (their child processes
 *   killed), so nothing keeps the runner alive, and the error names the source.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, extname, join, relative } from 'node:path';
import { buildAgent, toolchainVersions } from '../src/build/index.js';
import { AGENT_EXTENSIONS, EXAMPLES, exampleBuildPath, FIXTURE_BUILD_DIR, FIXTURE_SOURCES_DIR, REPO_ROOT } from './helpers/fixtures.js';
import { runAllOrAbort } from './helpers/build-pool.js';
import { prebuiltFor } from './helpers/prebuilt.js';
import { needs, skipNote } from './helpers/requirements.js';

type Kind = 'js' | 'c' | 'wat' | 'python';

interface Job {
  source: string;
  output: string;
  kind: Kind;
  /** A fixture with its own world: `<name>.wit/` beside it, world `<name>` (e.g. `typed`). */
  witDir?: string;
}

function kindOf(source: string): Kind {
  const ext = extname(source);
  return ext === '.c' ? 'c' : ext === '.wat' ? 'wat' : ext === '.py' ? 'python' : 'js';
}

function jobs(): Job[] {
  const list: Job[] = [];
  for (const file of readdirSync(FIXTURE_SOURCES_DIR).sort()) {
    if (!(AGENT_EXTENSIONS as readonly string[]).includes(extname(file))) continue;
    const source = join(FIXTURE_SOURCES_DIR, file);
    const name = basename(file, extname(file));
    const witDir = join(FIXTURE_SOURCES_DIR, `${name}.wit`);
    list.push({ source, output: join(FIXTURE_BUILD_DIR, `${name}.wasm`), kind: kindOf(source), ...(existsSync(witDir) ? { witDir } : {}) });
  }
  for (const [example, file] of Object.entries(EXAMPLES)) {
    const source = join(REPO_ROOT, 'examples', example, file);
    list.push({ source, output: exampleBuildPath(example), kind: kindOf(source) });
  }
  return list;
}

// The builder modules and toolchain versions each kind of source goes through: editing one
// rebuilds only its kind.
const BUILDER_FILES: Readonly<Record<Kind, readonly string[]>> = {
  js: ['js.ts', 'process.ts', 'preopen-preload.ts', 'preview2-shim-hooks.ts'],
  c: ['c.ts', 'process.ts', 'wat.ts', 'wit.ts'],
  wat: ['wat.ts', 'wit.ts'],
  python: ['python.ts', 'python-toolchain.ts', 'process.ts', 'wit.ts'],
};
const TOOLCHAIN_OF: Readonly<Record<Kind, readonly string[]>> = {
  js: ['jco', 'componentize-js'],
  c: ['jco', 'clang'],
  wat: ['jco'],
  python: ['componentize-py'],
};

function keyOf(job: Job, toolchain: Record<string, string>): string {
  const hash = createHash('sha256');
  for (const tool of TOOLCHAIN_OF[job.kind]) hash.update(`${tool}=${toolchain[tool] ?? ''}\n`);
  hash.update(readFileSync(join(REPO_ROOT, 'wit', 'world.wit')));
  for (const file of BUILDER_FILES[job.kind]) {
    hash.update(file).update(readFileSync(join(REPO_ROOT, 'src', 'build', file)));
  }
  if (job.kind === 'python') {
    for (const file of readdirSync(join(REPO_ROOT, 'python', 'agent_os')).sort()) {
      if (file.endsWith('.py')) hash.update(file).update(readFileSync(join(REPO_ROOT, 'python', 'agent_os', file)));
    }
  }
  // C agents may include the guest helper header (guest/c/agentos.h).
  if (job.kind === 'c') {
    for (const file of readdirSync(join(REPO_ROOT, 'guest', 'c')).sort()) hash.update(file).update(readFileSync(join(REPO_ROOT, 'guest', 'c', file)));
  }
  if (job.witDir) for (const file of readdirSync(job.witDir).sort()) hash.update(file).update(readFileSync(join(job.witDir, file)));
  hash.update(readFileSync(job.source));
  return hash.digest('hex');
}

function upToDate(job: Job, key: string): boolean {
  const keyFile = `${job.output}.key`;
  return existsSync(job.output) && existsSync(keyFile) && readFileSync(keyFile, 'utf8').trim() === key;
}

async function build(job: Job, key: string, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const world = job.witDir ? { witDir: job.witDir, world: basename(job.source, extname(job.source)) } : {};
  const result = await buildAgent(job.source, job.output, { signal, ...world });
  await writeFile(`${job.output}.key`, `${key}\n`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const size = result.bytes > 1 << 20 ? `${(result.bytes / (1 << 20)).toFixed(1)} MiB` : `${result.bytes} B`;
  console.log(`[fixtures] built ${relative(REPO_ROOT, job.output)} (${result.kind}, ${size}) in ${seconds} s`);
}

/** Without clang: put the committed component in place (true when it was not already there), or explain why there is none. */
async function usePrebuilt(job: Job): Promise<boolean> {
  const found = prebuiltFor(relative(REPO_ROOT, job.source));
  if (!found.ok) {
    throw new Error(`${relative(REPO_ROOT, job.source)}: ${found.reason}. ${skipNote(needs.clang())}, then run: npm run fixtures:prebuilt`);
  }
  if (existsSync(job.output) && readFileSync(job.output).equals(readFileSync(found.path))) return false;
  await mkdir(join(job.output, '..'), { recursive: true });
  copyFileSync(found.path, job.output);
  return true;
}

async function buildAll(): Promise<void> {
  if (!existsSync(join(REPO_ROOT, 'wit', 'deps'))) {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'wit-deps.mjs')], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('node scripts/wit-deps.mjs failed');
  }
  await mkdir(FIXTURE_BUILD_DIR, { recursive: true });
  const toolchain = toolchainVersions();
  const all = jobs();
  if (!needs.clang().ok) {
    let copied = 0;
    for (const job of all.filter((j) => j.kind === 'c')) if (await usePrebuilt(job)) copied++;
    if (copied > 0) console.log(`[fixtures] C agents: using the committed components in test/fixtures/prebuilt/ (${needs.clang().reason})`);
  }
  const python = needs.componentizePy();
  const pythonJobs = all.filter((j) => j.kind === 'python');
  if (!python.ok && pythonJobs.some((j) => !existsSync(j.output))) console.log(`[fixtures] Python agents are not built: ${skipNote(python)}`);
  const pending = all
    .filter((job) => (job.kind !== 'c' || needs.clang().ok) && (job.kind !== 'python' || python.ok))
    .map((job) => ({ job, key: keyOf(job, toolchain) }))
    .filter(({ job, key }) => !upToDate(job, key));
  if (pending.length === 0) return;
  // JS and Python builds are child processes of up to ~1 GB each; the rest are quick.
  const slow = pending.filter(({ job }) => job.kind === 'js' || job.kind === 'python');
  const fast = pending.filter(({ job }) => job.kind !== 'js' && job.kind !== 'python');
  const parallel = Math.max(1, Math.min(3, availableParallelism()));
  console.log(`[fixtures] building ${pending.length} component(s)${slow.length ? ` (${slow.length} with StarlingMonkey or CPython, ~20 s each)` : ''}`);
  // The first failure aborts every other build (killing its child process) and is what the
  // run reports.
  const describeFailure = ({ job }: { job: Job }, e: unknown) =>
    new Error(`building ${relative(REPO_ROOT, job.source)} failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  await runAllOrAbort(
    [
      { items: slow, limit: parallel },
      { items: fast, limit: 1 },
    ],
    ({ job, key }, signal) => build(job, key, signal),
    describeFailure,
  );
}

export async function setup(): Promise<void> {
  try {
    await buildAll();
  } catch (e) {
    // vitest reports a failed global setup but can then wait on whatever the setup left
    // running; end the run here, with the error and a non-zero status.
    process.stderr.write(`\n[fixtures] global setup failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
