// Resolution beneath a mount's root descriptor, on the real filesystem: links inside the
// mount are followed, links out of it are escapes, and a location once resolved stays pinned
// when a directory above it is swapped for a symlink (FS-07).
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EscapeFailure, MAX_SYMLINKS, resolveBeneath, withBeneath, type Anchor } from './beneath.js';
import { FsFailure } from './errors.js';
import type { RealMount } from './paths.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'agentos-beneath-')));
const m = join(root, 'm');
mkdirSync(join(m, 'sub', 'deep'), { recursive: true });
mkdirSync(join(root, 'out'));
writeFileSync(join(m, 'sub', 'f.txt'), 'inside');
writeFileSync(join(root, 'out', 'f.txt'), 'OUTSIDE');
symlinkSync('../out/f.txt', join(m, 'esc'));
symlinkSync('sub/f.txt', join(m, 'ok'));
symlinkSync(join(root, 'out'), join(m, 'dirlink'));
symlinkSync(join(m, 'sub', 'f.txt'), join(m, 'absinside'));
symlinkSync('..', join(m, 'sub', 'up'));
symlinkSync('../..', join(m, 'sub', 'up2'));
symlinkSync('loop', join(m, 'loop'));
const rootFd = openSync(m, constants.O_RDONLY | constants.O_DIRECTORY);
afterAll(() => {
  closeSync(rootFd);
  rmSync(root, { recursive: true, force: true });
});

const mount: RealMount = { guest: '/w', host: m, mode: 'rw', real: m, rootFd };
const held: Anchor[] = [];
afterEach(() => held.splice(0).forEach((a) => a.release()));
const resolve = (guest: string, follow: boolean, descend = false): Anchor => {
  const a = resolveBeneath(mount, guest, { follow, descend });
  held.push(a);
  return a;
};
const code = (fn: () => unknown): string => {
  try {
    held.push(fn() as Anchor);
    return 'ok';
  } catch (e) {
    return e instanceof EscapeFailure ? 'escape' : e instanceof FsFailure ? e.code : String(e);
  }
};
const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('resolveBeneath', () => {
  it('follows links that stay inside the mount and names the real guest path', () => {
    const a = resolve('/w/ok', true);
    expect(a).toMatchObject({ guest: '/w/sub/f.txt', missing: false, selfFd: undefined });
    expect(readFileSync(a.path, 'utf8')).toBe('inside');
    expect(resolve('/w/ok', false).stat!.isSymbolicLink()).toBe(true);
    expect(resolve('/w/absinside', true).guest).toBe('/w/sub/f.txt');
    expect(resolve('/w/sub/up/sub/f.txt', true).guest).toBe('/w/sub/f.txt');
  });

  it('the root and directories walked into are held by their own descriptor', () => {
    expect(resolve('/w', false)).toMatchObject({ guest: '/w', selfFd: rootFd });
    const d = resolve('/w/sub/deep', true, true);
    expect(d.selfFd).toBeGreaterThan(2);
    expect(d.stat!.isDirectory()).toBe(true);
    expect(resolve('/w/sub/up', true)).toMatchObject({ guest: '/w', selfFd: rootFd });
  });

  it('a link out of the mount, relative or absolute, anywhere on the path, is an escape', () => {
    expect(code(() => resolveBeneath(mount, '/w/esc', { follow: true }))).toBe('escape');
    expect(code(() => resolveBeneath(mount, '/w/dirlink/f.txt', { follow: true }))).toBe('escape');
    expect(code(() => resolveBeneath(mount, '/w/dirlink/f.txt', { follow: false }))).toBe('escape');
    expect(code(() => resolveBeneath(mount, '/w/sub/up2', { follow: true }))).toBe('escape');
    // Not followed when asked not to: the link itself is the target.
    expect(code(() => resolveBeneath(mount, '/w/esc', { follow: false }))).toBe('ok');
  });

  it('allows a missing last component but not a missing parent; refuses loops and files used as directories', () => {
    expect(resolve('/w/sub/new.txt', true)).toMatchObject({ guest: '/w/sub/new.txt', missing: true, stat: undefined });
    expect(code(() => resolveBeneath(mount, '/w/nodir/new.txt', { follow: true }))).toBe('no-entry');
    expect(code(() => resolveBeneath(mount, '/w/sub/f.txt/x', { follow: true }))).toBe('not-directory');
    expect(code(() => resolveBeneath(mount, '/w/loop', { follow: true }))).toBe('loop');
    expect(MAX_SYMLINKS).toBe(40);
  });

  it('closes every descriptor it opened, on success and on failure', () => {
    const before = openFds();
    for (let i = 0; i < 50; i++) {
      withBeneath(mount, '/w/sub/deep', { follow: true, descend: true }, () => undefined);
      code(() => resolveBeneath(mount, '/w/sub/up2/x', { follow: true }));
      code(() => resolveBeneath(mount, '/w/loop', { follow: true }));
    }
    held.splice(0).forEach((a) => a.release());
    expect(openFds()).toBe(before);
  });

  it('a resolved location stays pinned when a directory above it is swapped for a link out of the mount', () => {
    mkdirSync(join(m, 'race', 'd'), { recursive: true });
    writeFileSync(join(m, 'race', 'd', 'f.txt'), 'inside');
    const a = resolve('/w/race/d/f.txt', false);
    // What the old realpath-then-open could not survive: the check passed, then the rename.
    renameSync(join(m, 'race'), join(m, 'race.old'));
    symlinkSync(join(root, 'out'), join(m, 'race'));
    try {
      expect(readFileSync(a.path, 'utf8')).toBe('inside');
      // Resolved afresh, the same path is now an escape.
      expect(code(() => resolveBeneath(mount, '/w/race/f.txt', { follow: false }))).toBe('escape');
    } finally {
      rmSync(join(m, 'race'));
      renameSync(join(m, 'race.old'), join(m, 'race'));
    }
  });
});
