/**
 * The package as users get it: `npm pack` of this repository, then `npm install <tgz>` in an
 * empty project, and everything a user does next — import the library, `npx agentos build` and
 * `run` (WAT and StarlingMonkey JS), type-check a TypeScript consumer — from that project only.
 *
 * Slow (a minute or more; the JS build alone is ~20 s). The packages come from npm's cache
 * (`--prefer-offline`: the repository's own install has put every dependency there). The pack
 * uses `--ignore-scripts`: its `prepare` would regenerate wit/deps/ and dist/ while the other
 * test files read them, so it packs what `npm run build` (the first step of `npm test`) made.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures.js';
import type { Requirement } from '../helpers/requirements.js';
import { describeNeeds } from '../helpers/skip.js';

const MINUTE = 60_000;
const npmVersion = spawnSync('npm', ['--version'], { encoding: 'utf8', timeout: MINUTE });
const npmReq: Requirement = {
  id: 'npm',
  ok: npmVersion.status === 0,
  what: 'npm',
  reason: `npm is not available (${npmVersion.error?.message ?? String(npmVersion.stderr).trim()})`,
  enable: 'install Node.js with its npm',
};

/** The environment of a user's shell: none of the test runner's npm run or agentos settings. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_package_|npm_lifecycle_|AGENTOS_)|^(npm_command|npm_config_local_prefix|INIT_CWD)$/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

describeNeeds(npmReq, 'agent-os-sandbox packed and installed in an empty project', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'agentos-package-'));
  const app = join(tmp, 'app');
  // The agents' transpile cache stays in the temp directory too.
  const env = userEnv({ XDG_CACHE_HOME: join(tmp, 'cache'), AGENTOS_SKIP_NATIVE_BUILD: '1' });
  let installLog = '';

  /** Run a command in the project; every process has a timeout. */
  function sh(cmd: string, args: string[], timeout: number, opts: SpawnSyncOptions = {}) {
    const r = spawnSync(cmd, args, { cwd: app, env, encoding: 'utf8', timeout, ...opts });
    const out = `${cmd} ${args.join(' ')} → ${r.status ?? r.signal ?? r.error?.message}\n${String(r.stdout)}\n${String(r.stderr)}`;
    return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr), out };
  }
  const agentos = (args: string[], timeout = 5 * MINUTE) => sh('npx', ['--no', 'agentos', ...args], timeout);

  beforeAll(() => {
    for (const built of ['dist/index.js', 'dist/cli/main.js', 'wit/deps']) {
      if (!existsSync(join(REPO_ROOT, built))) throw new Error(`${built} is missing: run \`npm run build\` first`);
    }
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 5 * MINUTE });
    if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stdout}\n${pack.stderr}`);
    const tgz = readdirSync(tmp).find((f) => /^agent-os-sandbox-.*\.tgz$/.test(f));
    if (!tgz) throw new Error(`npm pack wrote no tarball in ${tmp}`);
    const tarball = join(tmp, tgz);
    mkdirSync(app);
    // What a user's project declares: the install scripts it allows (npm 11's allowScripts, read
    // from the project's own package.json only). A tarball is approved by its file: spec, a
    // registry install by name (`"agent-os-sandbox": true`).
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', allowScripts: { [`file:${tarball}`]: true, 'classic-level': true } }, null, 2),
    );
    const install = sh('npm', ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts'], 15 * MINUTE);
    installLog = install.out;
    if (install.status !== 0) throw new Error(`npm install failed:\n${install.out}`);
  }, 25 * MINUTE);

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('installs with our install script run (and skipped by AGENTOS_SKIP_NATIVE_BUILD), every install script approved', () => {
    expect(installLog).toContain('AGENTOS_SKIP_NATIVE_BUILD=1: the wasmtime addon is not built');
    expect(installLog).not.toMatch(/not yet covered by allowScripts/);
  });

  it('ships what users need and nothing from tests', () => {
    const pkg = join(app, 'node_modules', 'agent-os-sandbox');
    for (const f of ['dist/index.d.ts', 'dist/cli/main.js', 'wit/world.wit', 'wit/deps/cli/package.wit', 'native/Cargo.toml', 'native/build.mjs', 'native/src/lib.rs']) {
      expect(existsSync(join(pkg, f)), f).toBe(true);
    }
    for (const f of ['test', 'src', 'bench', 'native/test.mjs', 'native/npm', 'scripts', `native/agentos-wasmtime.${process.platform}-${process.arch}.node`]) {
      expect(existsSync(join(pkg, f)), f).toBe(false);
    }
    // Nothing the consumer installs needs this repository's devDependencies.
    expect(existsSync(join(app, 'node_modules', 'vitest'))).toBe(false);
  });

  it('npx agentos builds and runs the hello agent', () => {
    copyFileSync(join(REPO_ROOT, 'examples', 'hello', 'hello.wat'), join(app, 'hello.wat'));
    const build = agentos(['build', 'hello.wat', '-o', 'hello.wasm']);
    expect(build.status, build.out).toBe(0);
    const run = agentos(['run', 'hello.wasm', '--task', 'Ada']);
    expect(run.status, run.out).toBe(0);
    expect(run.stdout).toContain('Hello, Ada!');
  }, 10 * MINUTE);

  it('the library imports and runs an agent', () => {
    writeFileSync(
      join(app, 'lib.mjs'),
      `import { buildAgent, createSandbox } from 'agent-os-sandbox';
await buildAgent('hello.wat', 'lib-hello.wasm');
const sandbox = createSandbox({ audit: { dir: '.agentos/lib-audit' } });
try {
  const agent = await sandbox.load('lib-hello.wasm');
  console.log(JSON.stringify(await agent.run('Lib')));
} finally {
  await sandbox.close();
}
`,
    );
    copyFileSync(join(REPO_ROOT, 'examples', 'hello', 'hello.wat'), join(app, 'hello.wat'));
    const r = sh(process.execPath, ['lib.mjs'], 5 * MINUTE);
    expect(r.status, r.out).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ output: 'Hello, Lib!' });
  }, 10 * MINUTE);

  it('npx agentos builds a JavaScript agent (StarlingMonkey) that runs', () => {
    writeFileSync(join(app, 'agent.js'), 'export function run(task) {\n  return `JS greets ${task}`;\n}\n');
    const build = agentos(['build', 'agent.js', '-o', 'agent.wasm'], 10 * MINUTE);
    expect(build.status, build.out).toBe(0);
    const run = agentos(['run', 'agent.wasm', '--task', 'Ada', '--json']);
    expect(run.status, run.out).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: true, output: 'JS greets Ada' });
  }, 20 * MINUTE);

  it('types resolve for a TypeScript consumer (module: nodenext)', () => {
    writeFileSync(
      join(app, 'consumer.ts'),
      `import { createSandbox, UsageError, type RunResult, type SandboxOptions } from 'agent-os-sandbox';
const options: SandboxOptions = { audit: { dir: '.agentos/ts-audit' } };
const sandbox = createSandbox(options);
const result: RunResult = await (await sandbox.load('hello.wasm')).run('TypeScript');
const output: string = result.output;
console.log(output, new UsageError('x').code);
await sandbox.close();
`,
    );
    // The consumer's own @types/node would be in its node_modules; this one is the repository's.
    const compilerOptions = { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'], typeRoots: [join(REPO_ROOT, 'node_modules', '@types')] };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }));
    const tsc = sh(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], 5 * MINUTE);
    expect(tsc.status, tsc.out).toBe(0);
  }, 10 * MINUTE);

  it('--engine wasmtime without the addon: exit 2 and how to get it', () => {
    copyFileSync(join(REPO_ROOT, 'examples', 'hello', 'hello.wat'), join(app, 'hello.wat'));
    const build = agentos(['build', 'hello.wat', '-o', 'engine.wasm']);
    expect(build.status, build.out).toBe(0);
    const r = agentos(['run', '--engine', 'wasmtime', 'engine.wasm', '--task', 'Ada']);
    expect(r.status, r.out).toBe(2);
    expect(r.stderr).toMatch(/wasmtime engine is not available/);
    expect(r.stderr).toMatch(/Rust toolchain/);
    expect(r.stderr).toContain('npm rebuild agent-os-sandbox');
    expect(r.stderr).toMatch(/@agent-os-sandbox\/wasmtime-/);
  }, 10 * MINUTE);
});
