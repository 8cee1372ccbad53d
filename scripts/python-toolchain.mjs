#!/usr/bin/env node
// Install componentize-py (pinned, from PyPI) into the toolchain directory the Python agent
// builder looks in: $XDG_CACHE_HOME/agent-os-sandbox/toolchains/componentize-py-<version>
// (or under ~/.cache), as a `pip install --target` tree run with the machine's python3.
// Nothing is installed into the user's Python environment.
//
//   node scripts/python-toolchain.mjs            # install (or check) and fail loudly
//   node scripts/python-toolchain.mjs --optional # as npm install runs it: no python3/pip or no
//                                                # registry is not an error (Python agents just
//                                                # stay unavailable, and the tests say so)
// AGENTOS_SKIP_PYTHON_TOOLCHAIN=1 skips it.
// Runs after `tsc` (npm's prepare builds dist/ first): the version and the directory are the
// builder's own (src/build/python-toolchain.ts), so the two never disagree.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { COMPONENTIZE_PY_VERSION as VERSION, componentizePyToolchainDir, pythonCommand } from '../dist/build/python-toolchain.js';

const optional = process.argv.includes('--optional');
const python = pythonCommand();
const dir = componentizePyToolchainDir();

const giveUp = (message) => {
  console.error(`python toolchain: ${message}`);
  if (optional) console.error(`Python agents stay unavailable until: python3 -m pip install componentize-py==${VERSION} (or node scripts/python-toolchain.mjs)`);
  process.exit(optional ? 0 : 1);
};

if (process.env.AGENTOS_SKIP_PYTHON_TOOLCHAIN === '1') {
  console.error('python toolchain: skipped (AGENTOS_SKIP_PYTHON_TOOLCHAIN=1)');
  process.exit(0);
}
if (existsSync(join(dir, 'componentize_py'))) {
  console.log(`python toolchain: componentize-py ${VERSION} is in ${dir}`);
  process.exit(0);
}
const probe = spawnSync(python, ['-m', 'pip', '--version'], { encoding: 'utf8', timeout: 30_000 });
if (probe.error || probe.status !== 0) giveUp(`${python} with pip is needed to install componentize-py (${probe.error?.message ?? probe.stderr.trim()})`);

// Install into a temporary directory and rename, so an interrupted install never looks complete.
const tmp = `${dir}.tmp-${process.pid}`;
mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
rmSync(tmp, { recursive: true, force: true });
const started = Date.now();
const r = spawnSync(
  python,
  ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-warn-script-location', '--target', tmp, `componentize-py==${VERSION}`],
  { stdio: 'inherit', timeout: 10 * 60_000, env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
);
if (r.error || r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  giveUp(`pip install componentize-py==${VERSION} failed (${r.error?.message ?? `exit ${r.status}`})`);
}
rmSync(dir, { recursive: true, force: true });
renameSync(tmp, dir);
console.log(`python toolchain: installed componentize-py ${VERSION} into ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
