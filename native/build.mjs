#!/usr/bin/env node
// Build the addon with plain `cargo build --release` and copy the shared library to
// native/agentos-wasmtime.<platform>-<arch>.node (no @napi-rs/cli needed). In a clone it also
// lays out the package a release would publish for this platform, napi-rs style:
// native/npm/<triple>/{package.json, agentos-wasmtime.<triple>.node} (generated, gitignored;
// see native/README.md).
//
// Cargo's target directory: $CARGO_TARGET_DIR when set, otherwise a cache directory outside the
// clone ($XDG_CACHE_HOME or ~/.cache, then agentos-native-target), so repeated builds on one
// machine stay incremental and nothing large lands in the working tree.
//
//   node native/build.mjs            # release build + copy
//   node native/build.mjs --debug    # debug build (faster to compile, much slower wasm setup)
//   node native/build.mjs --optional # the package's install script: never fails the install
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { addonFileName, addonPackageName, nativeTriple } from './platform.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const debug = process.argv.includes('--debug');
// --optional (npm install): without a Rust toolchain, or when the build fails, say so and
// succeed; the default jco engine needs no addon. `npm run build:native` fails instead.
const optional = process.argv.includes('--optional');
// Installed as a dependency (under node_modules) rather than in a clone of the repository.
const installed = here.split(sep).includes('node_modules');
const giveUp = (message) => {
  console.error(message);
  if (optional) {
    const how = installed ? 'install a Rust toolchain (cargo) and run `npm rebuild agent-os-sandbox`' : 'npm run build:native';
    console.error(`the wasmtime engine stays unavailable (the default jco engine does not need it); build it later with: ${how}`);
  }
  process.exit(optional ? 0 : 1);
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
function writePlatformPackage(addon, triple) {
  const main = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8'));
  const dir = join(here, 'npm', triple);
  mkdirSync(dir, { recursive: true });
  const file = addonFileName(triple);
  const libc = triple.split('-')[2];
  const pkg = {
    name: addonPackageName(triple),
    version: main.version,
    description: `The wasmtime engine of ${main.name} for ${triple} (a prebuilt Node addon)`,
    license: main.license,
    os: [process.platform],
    cpu: [process.arch],
    ...(libc ? { libc: [libc === 'gnu' ? 'glibc' : 'musl'] } : {}),
    main: file,
    files: [file],
    engines: main.engines,
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  replaceFile(addon, join(dir, file), true);
  return dir;
}

function main() {
  const triple = nativeTriple();
  if (optional && process.env.AGENTOS_SKIP_NATIVE_BUILD === '1') {
    console.error('AGENTOS_SKIP_NATIVE_BUILD=1: the wasmtime addon is not built');
    return;
  }
  if (optional && prebuiltInstalled(triple)) {
    console.error(`${addonPackageName(triple)} is installed: nothing to build`);
    return;
  }
  const targetDir =
    process.env.CARGO_TARGET_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'agentos-native-target');
  mkdirSync(targetDir, { recursive: true });

  const args = ['build', '--manifest-path', join(here, 'Cargo.toml'), ...(debug ? [] : ['--release'])];
  const started = Date.now();
  const r = spawnSync('cargo', args, { stdio: 'inherit', env: { ...process.env, CARGO_TARGET_DIR: targetDir } });
  if (r.error) giveUp(`cannot run cargo (${r.error.message}); install a Rust toolchain (rustup) to build the wasmtime addon`);
  if (r.status !== 0) giveUp(`cargo build failed (exit ${r.status ?? r.signal})`);

  const libName = { linux: 'libagentos_wasmtime.so', darwin: 'libagentos_wasmtime.dylib', win32: 'agentos_wasmtime.dll' }[process.platform];
  if (!libName) giveUp(`unsupported platform ${process.platform}`);
  const built = join(targetDir, debug ? 'debug' : 'release', libName);
  if (!existsSync(built)) giveUp(`cargo succeeded but ${built} is missing`);
  const out = join(here, `agentos-wasmtime.${process.platform}-${process.arch}.node`);
  replaceFile(built, out);
  console.log(`built ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // A dependency's copy needs no release layout (it would only be a second file of the same bytes).
  if (!installed) console.log(`release layout: ${writePlatformPackage(out, triple)}`);
}

try {
  main();
} catch (e) {
  giveUp(`building the wasmtime addon failed: ${e instanceof Error ? e.message : String(e)}`);
}
