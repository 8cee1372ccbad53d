/**
 * vitest global setup: build every fixture agent (`test/fixtures/agents/*.{wat,c,js,mjs}`)
 * into `test/fixtures/build/<name>.wasm`, and every example into `examples/<x>/build/`.
 *
 * A build is skipped when `<output>.key` holds the same key: sha256 of the source,
 * `wit/world.wit`, the toolchain versions (jco, componentize-js, clang) and the builder
 * modules that kind of source goes through (`src/build/{js,c,wat,…}.ts`). The StarlingMonkey builds take ~15–30 s each, so only the first
 * run (or a change) pays for them.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, extname, join, relative } from 'node:path';
import { buildAgent, toolchainVersions } from '../src/build/index.js';
import { AGENT_EXTENSIONS, EXAMPLES, exampleBuildPath, FIXTURE_BUILD_DIR, FIXTURE_SOURCES_DIR, REPO_ROOT } from './helpers/fixtures.js';

interface Job {
  source: string;
  output: string;
}

function jobs(): Job[] {
  const list: Job[] = [];
  for (const file of readdirSync(FIXTURE_SOURCES_DIR).sort()) {
    if (!(AGENT_EXTENSIONS as readonly string[]).includes(extname(file))) continue;
    list.push({ source: join(FIXTURE_SOURCES_DIR, file), output: join(FIXTURE_BUILD_DIR, `${basename(file, extname(file))}.wasm`) });
  }
  for (const [example, source] of Object.entries(EXAMPLES)) {
    list.push({ source: join(REPO_ROOT, 'examples', example, source), output: exampleBuildPath(example) });
  }
  return list;
}

// The builder modules each kind of source goes through: editing one rebuilds only its kind.
const BUILDER_FILES: Readonly<Record<string, readonly string[]>> = {
  js: ['js.ts', 'process.ts', 'preopen-preload.ts', 'preview2-shim-hooks.ts'],
  c: ['c.ts', 'process.ts', 'wat.ts', 'wit.ts'],
  wat: ['wat.ts', 'wit.ts'],
};

function kindOf(source: string): string {
  const ext = extname(source);
  return ext === '.c' ? 'c' : ext === '.wat' ? 'wat' : 'js';
}

function keyOf(job: Job, toolchain: string): string {
  const hash = createHash('sha256');
  hash.update(toolchain);
  hash.update(readFileSync(join(REPO_ROOT, 'wit', 'world.wit')));
  for (const file of BUILDER_FILES[kindOf(job.source)] ?? []) {
    hash.update(file).update(readFileSync(join(REPO_ROOT, 'src', 'build', file)));
  }
  hash.update(readFileSync(job.source));
  return hash.digest('hex');
}

function upToDate(job: Job, key: string): boolean {
  const keyFile = `${job.output}.key`;
  return existsSync(job.output) && existsSync(keyFile) && readFileSync(keyFile, 'utf8').trim() === key;
}

/** Run `task` over `items` with at most `limit` at a time. */
async function pool<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const workers = Array.from({ length: Math.min(limit, queue.length) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await task(item);
  });
  await Promise.all(workers);
}

async function build(job: Job, key: string): Promise<void> {
  const started = Date.now();
  const lines: string[] = [];
  const result = await buildAgent(job.source, job.output, { onLog: (line) => lines.push(line) });
  await writeFile(`${job.output}.key`, `${key}\n`);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const size = result.bytes > 1 << 20 ? `${(result.bytes / (1 << 20)).toFixed(1)} MiB` : `${result.bytes} B`;
  console.log(`[fixtures] built ${relative(REPO_ROOT, job.output)} (${result.kind}, ${size}) in ${seconds} s`);
}

export async function setup(): Promise<void> {
  if (!existsSync(join(REPO_ROOT, 'wit', 'deps'))) {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'wit-deps.mjs')], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('node scripts/wit-deps.mjs failed');
  }
  await mkdir(FIXTURE_BUILD_DIR, { recursive: true });
  const toolchain = JSON.stringify(toolchainVersions());
  const pending = jobs()
    .map((job) => ({ job, key: keyOf(job, toolchain) }))
    .filter(({ job, key }) => !upToDate(job, key));
  if (pending.length === 0) return;
  // JS builds are child processes of ~0.9 GB each; the rest are quick and in process.
  const slow = pending.filter(({ job }) => /\.m?js$/.test(job.source));
  const fast = pending.filter(({ job }) => !/\.m?js$/.test(job.source));
  const jsParallel = Math.max(1, Math.min(3, availableParallelism()));
  console.log(`[fixtures] building ${pending.length} component(s)${slow.length ? ` (${slow.length} with StarlingMonkey, ~20 s each)` : ''}`);
  await Promise.all([
    pool(slow, jsParallel, ({ job, key }) => build(job, key)),
    pool(fast, 1, ({ job, key }) => build(job, key)),
  ]);
}
