// The optional toolchain checks against this machine, and against a PATH that has nothing on
// it (an empty directory), which is how a host without the toolchain looks to them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { C_TOOLCHAIN_PACKAGES } from '../build/c.js';
import { COMPONENTIZE_PY_INSTALL } from '../build/python-toolchain.js';
import { needs } from '../../test/helpers/requirements.js';
import { skipUnless } from '../../test/helpers/skip.js';
import { ADVISORIES_REVIEWED } from '../engine/advisories.js';
import { addonWasmtimeRelease, checkComponentizePy, checkCToolchain, checkEngineAdvisories, checkWasmtimeAddon } from './checks-native.js';

const tmp = mkdtempSync(join(tmpdir(), 'agentos-doctor-native-'));
const emptyPath = join(tmp, 'empty-bin');
mkdirSync(emptyPath);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => vi.unstubAllEnvs());

describe('C toolchain', () => {
  it('no clang on PATH: missing, with the apt-get line', async () => {
    vi.stubEnv('PATH', emptyPath);
    vi.stubEnv('AGENTOS_CLANG', 'clang-22');
    expect(await checkCToolchain()).toEqual({ status: 'missing', detail: 'clang-22 not found', fix: `apt-get install ${C_TOOLCHAIN_PACKAGES}` });
  });

  it('AGENTOS_CLANG naming a program that does not exist: missing, naming it', async () => {
    const clang = join(tmp, 'no-such-clang');
    vi.stubEnv('AGENTOS_CLANG', clang);
    expect(await checkCToolchain()).toMatchObject({ status: 'missing', detail: `${clang} not found`, fix: expect.stringContaining('apt-get install') });
  });

  it('a sysroot without wasi-libc headers: missing, naming the headers', async () => {
    vi.stubEnv('AGENTOS_WASI_SYSROOT', tmp);
    const r = await checkCToolchain();
    // Without clang at all the headers are not looked at; with it they are reported.
    expect(r.status).toBe('missing');
    if (!/not found$/.test(r.detail)) expect(r.detail).toMatch(/wasi-libc headers/);
  });
});

describe('wasmtime addon', () => {
  // Package resolution starts from a file in the temp directory, where no prebuilt package is.
  const nowhere = { localPath: join(tmp, 'none.node'), resolveFrom: join(tmp, 'from.js') };

  it('not built, in a clone: npm run build:native, and whether cargo is on PATH', async () => {
    vi.stubEnv('PATH', emptyPath);
    expect(await checkWasmtimeAddon({ ...nowhere, installed: false })).toMatchObject({
      status: 'missing',
      detail: expect.stringMatching(/not built for .*; cargo not on PATH$/),
      fix: 'npm run build:native (needs a Rust toolchain: rustup)',
    });
  });

  it('not built, installed: cargo is needed at install, or the prebuilt package', async () => {
    const r = await checkWasmtimeAddon({ ...nowhere, installed: true });
    expect(r).toMatchObject({ status: 'missing', fix: expect.stringMatching(/cargo .*built at install.*or install @agent-os-sandbox\/wasmtime-/) });
  });

  it('a file that is not an addon: unavailable, with the load error, and no crash', async () => {
    const bogus = join(tmp, 'bogus.node');
    writeFileSync(bogus, 'not a shared library');
    const r = await checkWasmtimeAddon({ localPath: bogus, installed: false });
    expect(r).toMatchObject({ status: 'unavailable', detail: expect.stringMatching(/does not load \(.*Error/), fix: 'rebuild it: npm run build:native' });
  });

  it('the addon loads and names its wasmtime release', async (ctx) => {
    skipUnless(ctx, needs.wasmtimeAddon());
    expect(await checkWasmtimeAddon()).toMatchObject({ status: 'ready', detail: expect.stringMatching(/\(wasmtime \d+\.\d+\.\d+\)/) });
  });
});

describe('engine advisories', () => {
  it('current releases, a supported Node line: ready, naming both versions and the table', async () => {
    const r = await checkEngineAdvisories({ node: '24.1.0', wasmtime: '48.0.8', today: '2026-08-21' });
    expect(r.status).toBe('ready');
    expect(r.detail).toContain('node 24.1.0: no known advisory; wasmtime 48.0.8: no known advisory');
    expect(r.detail).toContain(`reviewed ${ADVISORIES_REVIEWED}`);
  });

  it('a Node line past its end of life: warning, with the supported lines', async () => {
    const r = await checkEngineAdvisories({ node: '20.20.2', wasmtime: '48.0.8', today: '2026-08-21' });
    expect(r).toMatchObject({ status: 'warning', detail: expect.stringMatching(/Node 20 line reached end of life on 2026-04-30: no more security fixes$/), fix: 'upgrade to a supported Node line (22 or 24)' });
    // The day before its end of life it is still supported.
    expect((await checkEngineAdvisories({ node: '20.20.2', wasmtime: '48.0.8', today: '2026-04-29' })).status).toBe('ready');
  });

  it('an affected wasmtime: missing, with the advisory ids and the release to rebuild with', async () => {
    const r = await checkEngineAdvisories({ node: '24.1.0', wasmtime: '43.0.0', today: '2026-08-21' });
    expect(r.status).toBe('missing');
    expect(r.detail).toMatch(/wasmtime 43\.0\.0 refused: .*RUSTSEC-2026-0095/);
    expect(r.fix).toMatch(/rebuild the addon with wasmtime \d+\.\d+\.\d+ or later/);
  });

  it('no addon, or a version string that is not one: said, not thrown', async () => {
    expect((await checkEngineAdvisories({ node: '24.1.0', wasmtime: null, today: '2026-08-21' })).detail).toContain('wasmtime: no addon loads (not checked)');
    expect((await checkEngineAdvisories({ node: '24.1.0', wasmtime: 'nonsense', today: '2026-08-21' })).detail).toContain('wasmtime "nonsense" is not a version (not checked)');
  });

  it('no addon found: no release', async () => {
    expect(await addonWasmtimeRelease({ localPath: join(tmp, 'none.node'), resolveFrom: join(tmp, 'from.js') })).toBeUndefined();
  });

  it('this machine: the addon (when built) and this Node are not refused', async (ctx) => {
    skipUnless(ctx, needs.wasmtimeAddon());
    expect(await addonWasmtimeRelease()).toMatch(/^\d+\.\d+\.\d+/);
    expect(['ready', 'warning']).toContain((await checkEngineAdvisories()).status);
  });
});

describe('componentize-py', () => {
  it('nowhere to be found: missing, with the pinned pip command', async () => {
    vi.stubEnv('PATH', emptyPath);
    vi.stubEnv('XDG_CACHE_HOME', tmp);
    vi.stubEnv('AGENTOS_COMPONENTIZE_PY', '');
    expect(await checkComponentizePy()).toMatchObject({ status: 'missing', fix: expect.stringContaining(COMPONENTIZE_PY_INSTALL) });
  });
});
