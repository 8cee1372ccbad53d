// Copies the WASI 0.2 WIT packages our world imports out of the installed jco package into
// wit/deps/, so the WASI definitions always match the toolchain that builds and runs agents.
// Run by `npm install` (prepare) and `npm run build`; wit/deps/ is not committed.
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WASI_VERSION = '0.2.12';
const PACKAGES = ['cli', 'clocks', 'filesystem', 'http', 'io', 'random', 'sockets'];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// The package exports only its API entry (dist/api.js); the package root is two levels up.
const jcoDir = dirname(dirname(fileURLToPath(import.meta.resolve('@bytecodealliance/jco'))));
const source = join(jcoDir, 'lib', 'wit', 'builtin', WASI_VERSION);
if (!existsSync(source)) {
  console.error(`wit-deps: ${source} not found; the installed jco does not ship WASI ${WASI_VERSION}`);
  process.exit(1);
}
const target = join(root, 'wit', 'deps');
rmSync(target, { recursive: true, force: true });
for (const pkg of PACKAGES) {
  const from = join(source, `wasi-${pkg}`);
  mkdirSync(join(target, pkg), { recursive: true });
  for (const file of readdirSync(from)) cpSync(join(from, file), join(target, pkg, file));
}
