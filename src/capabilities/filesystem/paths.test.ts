import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsFailure } from './errors.js';
import { checkSymlinkTarget, EscapeFailure, joinGuestPath, resolveReal, type RealMount } from './paths.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'agentos-paths-')));
mkdirSync(join(root, 'm', 'sub'), { recursive: true });
mkdirSync(join(root, 'out'));
writeFileSync(join(root, 'm', 'sub', 'f.txt'), 'x');
writeFileSync(join(root, 'out', 'secret'), 's');
symlinkSync('../out/secret', join(root, 'm', 'esc'));
symlinkSync('sub/f.txt', join(root, 'm', 'ok'));
symlinkSync(join(root, 'out'), join(root, 'm', 'dirlink'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mount: RealMount = { guest: '/w', host: join(root, 'm'), mode: 'rw', real: join(root, 'm') };
const code = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return e instanceof FsFailure ? e.code : String(e);
  }
};

describe('joinGuestPath', () => {
  it.each([
    ['a/b', '/w/a/b', false],
    ['./a//b/.', '/w/a/b', false],
    ['a/../b', '/w/b', false],
    ['sub/', '/w/sub', true],
    ['.', '/w', false],
  ])('%s → %s', (rel, path, mustBeDir) => {
    expect(joinGuestPath(mount, '/w', rel)).toEqual({ path, mustBeDir });
  });

  it.each([
    ['', 'no-entry'],
    ['/etc/passwd', 'not-permitted'],
    ['..', 'not-permitted'],
    ['a/../../x', 'not-permitted'],
    ['a\u0000b', 'invalid'],
    ['bad\uFFFDname', 'illegal-byte-sequence'],
    ['x'.repeat(5000), 'name-too-long'],
  ])('rejects %j with %s', (rel, expected) => {
    expect(code(() => joinGuestPath(mount, '/w', rel))).toBe(expected);
  });

  it('never climbs above the mount from a subdirectory', () => {
    expect(joinGuestPath(mount, '/w/sub', '..').path).toBe('/w');
    expect(code(() => joinGuestPath(mount, '/w/sub', '../..'))).toBe('not-permitted');
  });
});

describe('resolveReal', () => {
  it('follows links that stay inside the mount and maps back to the guest path', () => {
    expect(resolveReal(mount, '/w/ok', true)).toMatchObject({ guest: '/w/sub/f.txt', missing: false });
    expect(resolveReal(mount, '/w/ok', false)).toMatchObject({ guest: '/w/ok' });
  });

  it('reports a link leading out of the mount as an escape (seen by the guest as no-entry)', () => {
    expect(() => resolveReal(mount, '/w/esc', true)).toThrow(EscapeFailure);
    expect(() => resolveReal(mount, '/w/dirlink/secret', true)).toThrow(EscapeFailure);
    expect(() => resolveReal(mount, '/w/dirlink/secret', false)).toThrow(EscapeFailure);
  });

  it('allows a missing last component (create) but not a missing parent', () => {
    expect(resolveReal(mount, '/w/sub/new.txt', true)).toMatchObject({ guest: '/w/sub/new.txt', missing: true });
    expect(code(() => resolveReal(mount, '/w/nodir/new.txt', true))).toBe('no-entry');
  });
});

describe('checkSymlinkTarget', () => {
  it('accepts relative targets inside the mount and refuses absolute or escaping ones', () => {
    expect(checkSymlinkTarget(mount, '/w/sub/link', '../ok')).toBe('/w/ok');
    expect(code(() => checkSymlinkTarget(mount, '/w/link', '/etc/passwd'))).toBe('not-permitted');
    expect(code(() => checkSymlinkTarget(mount, '/w/link', '../out/secret'))).toBe('not-permitted');
  });
});
