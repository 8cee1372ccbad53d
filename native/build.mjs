#!/usr/bin/env node
// Build the addon with plain `cargo build --release` and copy the shared library to
// native/agentos-wasmtime.<platform>-<arch>.node (no @napi-rs/cli needed).
//
// Cargo's target directory: $CARGO_TARGET_DIR when set, otherwise a cache directory outside the
// clone ($XDG_CACHE_HOME or ~/.cache, then agentos-native-target), so repeated builds on one
// machine stay incremental and nothing large lands in the working tree.
//
//   node native/build.mjs            # release build + copy
//   node native/build.mjs --debug    # debug build (faster to compile, much slower wasm setup)
//   node native/build.mjs --optional # as npm install runs it: no toolchain or a failed build is not an error
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const debug = process.argv.includes('--debug');
// --optional (npm install): without a Rust toolchain, or when the build fails, say so and
// succeed; the default jco engine needs no addon. `npm run build:native` fails instead.
const optional = process.argv.includes('--optional');
const giveUp = (message) => {
  console.error(message);
  if (optional) console.error('the wasmtime engine stays unavailable (the default jco engine does not need it); build it later with: npm run build:native');
  process.exit(optional ? 0 : 1);
};
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
// Copy then rename: a process that has the old addon loaded keeps its (unlinked) file intact.
const tmp = `${out}.${process.pid}.tmp`;
copyFileSync(built, tmp);
renameSync(tmp, out);
console.log(`built ${out} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
