#!/usr/bin/env node
// Build the `smith` fuzz target's helpers (fuzz/targets/smith.mjs) with cargo:
// - `agentos-smith` (this directory): wasm-smith modules from seed bytes; a small crate with
//   its own target directory, fuzz/smith/target (gitignored);
// - `agentos-smith-wasmtime` (wasmtime/): runs modules on wasmtime, plain and instrumented.
//   It has native/'s dependencies, features and lock file, and builds in the addon's cargo
//   target directory (the one native/build.mjs uses), so it reuses the compiled wasmtime and
//   only links (seconds); in a fresh target directory it compiles wasmtime (many minutes).
// Both binaries are copied to fuzz/smith/target/bin/, where the target looks for them.
//
//   node fuzz/smith/build.mjs             # both; exit 1 when a build fails or cargo is missing
//   node fuzz/smith/build.mjs --optional  # never fails (says what is missing)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const optional = process.argv.includes('--optional');
/** Where the target finds the binaries. */
export const BIN_DIR = join(here, 'target', 'bin');
export const GENERATOR = join(BIN_DIR, 'agentos-smith');
export const RUNNER = join(BIN_DIR, 'agentos-smith-wasmtime');

/** native/build.mjs's choice of target directory (keep in step). */
function nativeTargetDir() {
  return process.env.CARGO_TARGET_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'agentos-native-target');
}

function build(dir, targetDir, binary) {
  const r = spawnSync('cargo', ['build', '--release', '--locked'], { cwd: dir, stdio: 'inherit', env: { ...process.env, CARGO_TARGET_DIR: targetDir } });
  if (r.error) return `cannot run cargo (${r.error.message}); install a Rust toolchain (rustup)`;
  if (r.status !== 0) return `cargo build in ${dir} failed (exit ${r.status})`;
  const built = join(targetDir, 'release', binary);
  if (!existsSync(built)) return `cargo succeeded but ${built} is missing`;
  mkdirSync(BIN_DIR, { recursive: true });
  const tmp = join(BIN_DIR, `${binary}.${process.pid}.tmp`);
  copyFileSync(built, tmp);
  renameSync(tmp, join(BIN_DIR, binary)); // a running fuzz process keeps its old file
  return undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const errors = [build(here, join(here, 'target'), 'agentos-smith'), build(join(here, 'wasmtime'), nativeTargetDir(), 'agentos-smith-wasmtime')].filter(Boolean);
  for (const e of errors) console.error(`fuzz/smith: ${e}`);
  process.exit(errors.length > 0 && !optional ? 1 : 0);
}
