#!/usr/bin/env node
// Build the native parts with plain `cargo build --release` (no @napi-rs/cli needed):
// - the exec helper `agentos-exec` (native/exec/, Linux only, libc only, seconds to build),
//   copied to native/agentos-exec.<platform>-<arch>; native agents start through it;
// - the wasmtime addon, its shared library copied to native/agentos-wasmtime.<platform>-<arch>.node.
// In a clone it also lays out the package a release would publish for this platform, napi-rs
// style: native/npm/<triple>/{package.json, agentos-wasmtime.<triple>.node, agentos-exec.<triple>}
// (generated, gitignored; see native/README.md).
//
// Cargo's target directory: $CARGO_TARGET_DIR when set, otherwise a cache directory outside the
// clone ($XDG_CACHE_HOME or ~/.cache, then agentos-native-target), so repeated builds on one
// machine stay incremental and nothing large lands in the working tree. The helper builds in
// its `exec/` subdirectory.
//
//   node native/build.mjs            # release build + copy
//   node native/build.mjs --debug    # debug build of the addon (faster to compile, much slower wasm setup)
//   node native/build.mjs --exec-only  # only the exec helper
//   node native/build.mjs --optional # the package's install script: never fails the install
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonFileName, addonPackageName, execHelperFileName, nativeTriple } from './platform.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const debug = process.argv.includes('--debug');
const execOnly = process.argv.includes('--exec-only');
// --optional (npm install): without a Rust toolchain, or when a build fails, say so and
// succeed; the default jco engine needs no addon, and native agents start without the helper
// (through bash + prlimit, without Landlock). `npm run build:native` fails instead.
const optional = process.argv.includes('--optional');
// Installed as a dependency (under node_modules) rather than in a clone of the repository.
const installed = here.split(sep).includes('node_modules');
const rebuild = installed ? 'install a Rust toolchain (cargo) and run `npm rebuild agent-os-sandbox`' : 'npm run build:native';
const consequence = {
  addon: 'the wasmtime engine stays unavailable (the default jco engine does not need it)',
  helper: 'native agents start through bash + prlimit instead of agentos-exec, without Landlock',
};
let failed = false;
/** Report a failed part; the other part still builds. `--optional` turns the failure into a note. */
const giveUp = (part, message) => {
  console.error(message);
  if (optional) console.error(`${consequence[part]}; build it later with: ${rebuild}`);
  failed = true;
};

/** Whether the prebuilt addon package of this platform resolves from here (a release's optional dependency). */
function prebuiltInstalled(triple) {
  try {
    createRequire(join(here, 'build.mjs')).resolve(addonPackageName(triple));
    return true;
  } catch {
    return false;
  }
}

/** Copy then rename: a process that has the old file loaded keeps its (unlinked) file intact. */
function replaceFile(from, to, link = false) {
  const tmp = `${to}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  if (link) {
    try {
      linkSync(from, tmp); // the same bytes as the local addon: no second copy on disk
    } catch {
      copyFileSync(from, tmp);
    }
  } else {
    copyFileSync(from, tmp);
  }
  renameSync(tmp, to);
}

/** native/npm/<triple>/: the per-platform package a release publishes (see native/README.md). */
function writePlatformPackage(addon, triple, helper) {
  const main = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8'));
  const dir = join(here, 'npm', triple);
  mkdirSync(dir, { recursive: true });
  const file = addonFileName(triple);
  const helperFile = execHelperFileName(triple);
  const libc = triple.split('-')[2];
  const pkg = {
    name: addonPackageName(triple),
    version: main.version,
    description: `The wasmtime engine of ${main.name} for ${triple} (a prebuilt Node addon${helper ? ', and the exec helper of native agents' : ''})`,
    license: main.license,
    os: [process.platform],
    cpu: [process.arch],
    ...(libc ? { libc: [libc === 'gnu' ? 'glibc' : 'musl'] } : {}),
    main: file,
    files: helper ? [file, helperFile] : [file],
    engines: main.engines,
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  replaceFile(addon, join(dir, file), true);
  if (helper) replaceFile(helper, join(dir, helperFile), true);
  else rmSync(join(dir, helperFile), { force: true });
  return dir;
}

function targetDirectory() {
  const dir = process.env.CARGO_TARGET_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'agentos-native-target');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Run cargo build: 'ok', 'failed' (cargo said why), or 'no-cargo' (reported here). */
function cargoBuild(part, args, env) {
  const r = spawnSync('cargo', ['build', ...args], { stdio: 'inherit', env });
  if (r.error) {
    giveUp(part, `cannot run cargo (${r.error.message}); install a Rust toolchain (rustup) to build the ${part === 'addon' ? 'wasmtime addon' : 'exec helper'}`);
    return 'no-cargo';
  }
  return r.status === 0 ? 'ok' : 'failed';
}

/**
 * The exec helper, always a release build (it is small). Linked statically where the C
 * library allows (glibc's crt-static; musl targets are static already): it then starts without
 * the dynamic loader and runs inside any sandbox root; without a static libc, dynamically.
 * Its own target directory, so the static flags never invalidate the addon's dependencies.
 *
 * @returns the built file, or undefined.
 */
function buildExecHelper(targetDir) {
  if (process.platform !== 'linux') return undefined; // native agents are Linux-only
  const dir = join(targetDir, 'exec');
  const args = ['--release', '--manifest-path', join(here, 'exec', 'Cargo.toml')];
  const env = { ...process.env, CARGO_TARGET_DIR: dir };
  const started = Date.now();
  const staticFlags = `${process.env.RUSTFLAGS ?? ''} -C target-feature=+crt-static`.trim();
  let r = cargoBuild('helper', args, { ...env, RUSTFLAGS: staticFlags });
  if (r === 'failed') {
    console.error('agentos-exec: the static build failed (no static C library?); linking it dynamically');
    r = cargoBuild('helper', args, env);
  }
  if (r !== 'ok') {
    if (r === 'failed') giveUp('helper', 'cargo build of the exec helper (native/exec) failed');
    return undefined;
  }
  const built = join(dir, 'release', 'agentos-exec');
  if (!existsSync(built)) {
    giveUp('helper', `cargo succeeded but ${built} is missing`);
    return undefined;
  }
  const out = join(here, `agentos-exec.${process.platform}-${process.arch}`);
  replaceFile(built, out);
  // uid 65534 runs it (bwrap's user when the host is root): others may read and execute it.
  chmodSync(out, 0o755);
  console.log(`built ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return out;
}

/** The wasmtime addon; the built file, or undefined. */
function buildAddon(targetDir) {
  const args = ['--manifest-path', join(here, 'Cargo.toml'), ...(debug ? [] : ['--release'])];
  const started = Date.now();
  const r = cargoBuild('addon', args, { ...process.env, CARGO_TARGET_DIR: targetDir });
  if (r !== 'ok') {
    if (r === 'failed') giveUp('addon', `cargo build failed (the wasmtime addon)`);
    return undefined;
  }
  const libName = { linux: 'libagentos_wasmtime.so', darwin: 'libagentos_wasmtime.dylib', win32: 'agentos_wasmtime.dll' }[process.platform];
  if (!libName) {
    giveUp('addon', `unsupported platform ${process.platform}`);
    return undefined;
  }
  const built = join(targetDir, debug ? 'debug' : 'release', libName);
  if (!existsSync(built)) {
    giveUp('addon', `cargo succeeded but ${built} is missing`);
    return undefined;
  }
  const out = join(here, `agentos-wasmtime.${process.platform}-${process.arch}.node`);
  replaceFile(built, out);
  console.log(`built ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return out;
}

function main() {
  const triple = nativeTriple();
  if (optional && process.env.AGENTOS_SKIP_NATIVE_BUILD === '1') {
    console.error('AGENTOS_SKIP_NATIVE_BUILD=1: the wasmtime addon is not built, nor the exec helper');
    return;
  }
  const targetDir = targetDirectory();
  if (optional && prebuiltInstalled(triple)) {
    // Older prebuilt packages have no helper: build just that one then.
    const pkgDir = dirname(createRequire(join(here, 'build.mjs')).resolve(`${addonPackageName(triple)}/package.json`));
    const hasHelper = process.platform !== 'linux' || existsSync(join(pkgDir, execHelperFileName(triple)));
    console.error(`${addonPackageName(triple)} is installed: nothing to build${hasHelper ? '' : ' but the exec helper'}`);
    if (!hasHelper) buildExecHelper(targetDir);
    return;
  }
  // The helper first: seconds, and a failed addon build does not take it down.
  const helper = buildExecHelper(targetDir);
  if (execOnly) return;
  const addon = buildAddon(targetDir);
  // A dependency's copy needs no release layout (it would only be a second file of the same bytes).
  if (addon && !installed) console.log(`release layout: ${writePlatformPackage(addon, triple, helper)}`);
}

try {
  main();
} catch (e) {
  giveUp(execOnly ? 'helper' : 'addon', `building the native parts failed: ${e instanceof Error ? e.message : String(e)}`);
}
process.exit(failed && !optional ? 1 : 0);
