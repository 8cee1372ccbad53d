import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsFailure } from './errors.js';
import { checkSymlinkTarget, joinGuestPath, type RealMount } from './paths.js';

const root = realpathSync(mkdtempSync(join(tmpdir(), 'agentos-paths-')));
mkdirSync(join(root, 'm', 'sub'), { recursive: true });
afterAll(() => rmSync(root, { recursive: true, force: true }));

const mount: RealMount = { guest: '/w', host: join(root, 'm'), mode: 'rw', real: join(root, 'm'), rootFd: -1 };
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

describe('checkSymlinkTarget', () => {
  it('accepts relative targets inside the mount and refuses absolute or escaping ones', () => {
    expect(checkSymlinkTarget(mount, '/w/sub/link', '../ok')).toBe('/w/ok');
    expect(code(() => checkSymlinkTarget(mount, '/w/link', '/etc/passwd'))).toBe('not-permitted');
    expect(code(() => checkSymlinkTarget(mount, '/w/link', '../out/secret'))).toBe('not-permitted');
  });
});
