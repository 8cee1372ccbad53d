// Where the wasmtime addon is looked for: the local build first, then the prebuilt platform
// package, else a usage error that says how to get one. Fake files only: nothing is loaded.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../errors.js';
import { findWasmtimeAddon, localAddonPath, missingAddonError } from './addon.js';
import { addonFileName, addonPackageName, nativeTriple } from './platform.js';

const tmp = mkdtempSync(join(tmpdir(), 'agentos-addon-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A project directory with a local build and/or the platform package installed. */
function project(name: string, has: { local?: boolean; pkg?: boolean }) {
  const root = join(tmp, name);
  const localPath = join(root, 'native', 'agentos-wasmtime.node');
  mkdirSync(join(root, 'native'), { recursive: true });
  if (has.local) writeFileSync(localPath, 'local');
  const pkgDir = join(root, 'node_modules', addonPackageName());
  if (has.pkg) {
    mkdirSync(pkgDir, { recursive: true });
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: addonPackageName(), version: '0.0.0', main: addonFileName() }));
    writeFileSync(join(pkgDir, addonFileName()), 'prebuilt');
  }
  // Package resolution starts from a module in the project, as it does from dist/ in a real install.
  return { localPath, resolveFrom: join(root, 'dist', 'addon.js'), pkgFile: join(pkgDir, addonFileName()) };
}

describe('wasmtime addon search order', () => {
  it('the local build comes first', () => {
    const p = project('both', { local: true, pkg: true });
    expect(findWasmtimeAddon(p)).toEqual({ path: p.localPath, source: 'local' });
  });

  it('then the installed platform package', () => {
    const p = project('pkg', { pkg: true });
    expect(findWasmtimeAddon(p)).toEqual({ path: p.pkgFile, source: 'package' });
    // A file: URL as the starting point works too (import.meta.url is one).
    expect(findWasmtimeAddon({ ...p, resolveFrom: pathToFileURL(p.resolveFrom).href })?.source).toBe('package');
  });

  it('a package directory without its addon file does not count', () => {
    const p = project('broken', { pkg: true });
    rmSync(p.pkgFile);
    expect(findWasmtimeAddon(p)).toBeUndefined();
  });

  it('none: undefined', () => {
    expect(findWasmtimeAddon(project('none', {}))).toBeUndefined();
  });

  it('the local build is native/agentos-wasmtime.<platform>-<arch>.node', () => {
    expect(localAddonPath()).toMatch(new RegExp(`native[\\\\/]agentos-wasmtime\\.${process.platform}-${process.arch}\\.node$`));
  });
});

describe('without an addon', () => {
  it('in a clone: names npm run build:native', () => {
    const e = missingAddonError(false);
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toMatch(/npm run build:native/);
  });

  it('installed: a Rust toolchain and npm rebuild, or the platform package', () => {
    const e = missingAddonError(true);
    expect(e.code).toBe('USAGE');
    expect(e.message).toMatch(/Rust toolchain/);
    expect(e.message).toContain('npm rebuild agent-os-sandbox');
    expect(e.message).toContain(addonPackageName());
  });
});

describe('platform names', () => {
  it('napi-rs style: <platform>-<arch>[-<libc>]', () => {
    const triple = nativeTriple();
    expect(triple.startsWith(`${process.platform}-${process.arch}`)).toBe(true);
    if (process.platform === 'linux') expect(triple).toMatch(/-(gnu|musl)$/);
    expect(addonPackageName('linux-x64-gnu')).toBe('@agent-os-sandbox/wasmtime-linux-x64-gnu');
  });

  it('native/platform.mjs (used by native/build.mjs at install) gives the same names', async () => {
    const url = new URL('../../../native/platform.mjs', import.meta.url).href;
    const mjs = (await import(url)) as { nativeTriple(): string; addonPackageName(t: string): string; addonFileName(t: string): string };
    expect(mjs.nativeTriple()).toBe(nativeTriple());
    expect(mjs.addonPackageName('darwin-arm64')).toBe(addonPackageName('darwin-arm64'));
    expect(mjs.addonFileName('darwin-arm64')).toBe(addonFileName('darwin-arm64'));
  });
});
