// The core checks on real directories of this machine. The process may run as root, which
// ignores permission bits, so "not writable" is made with a regular file where a directory
// should be (ENOTDIR / EEXIST), which stops root too.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkAuditDir, checkCacheDir, checkJco, checkMountPaths, checkNode, webAssemblyWorks } from './checks-core.js';

const tmp = mkdtempSync(join(tmpdir(), 'agentos-doctor-core-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const aFile = join(tmp, 'a-file');
writeFileSync(aFile, 'not a directory');

describe('node', () => {
  it('20 and later are ready, older is missing with a fix', () => {
    expect(checkNode('20.0.0').status).toBe('ready');
    expect(checkNode('22.3.1').status).toBe('ready');
    expect(checkNode('18.19.0')).toMatchObject({ status: 'missing', fix: expect.stringMatching(/Node 20/) });
    expect(checkNode().status).toBe('ready');
  });
});

describe('jco engine', () => {
  it('jco resolves and WebAssembly runs here', async () => {
    expect(await webAssemblyWorks()).toBeUndefined();
    expect(await checkJco()).toMatchObject({ status: 'ready', detail: expect.stringMatching(/^jco \d+\.\d+\.\d+, WebAssembly ok$/) });
  });
});

describe('cache directory', () => {
  it('an absent directory is created 0700, written and left without the probe file', async () => {
    const dir = join(tmp, 'cache', 'nested');
    const r = await checkCacheDir(dir);
    expect(r.status).toBe('ready');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an existing directory is ready', async () => {
    expect((await checkCacheDir(tmp)).status).toBe('ready');
  });

  it('a path under a regular file is missing, with the flag to use instead', async () => {
    const r = await checkCacheDir(join(aFile, 'cache'));
    expect(r).toMatchObject({ status: 'missing', detail: expect.stringMatching(/cannot create it \(E/), fix: expect.stringMatching(/--cache-dir DIR/) });
  });

  it('a regular file in place of the directory is missing', async () => {
    expect((await checkCacheDir(aFile)).status).toBe('missing');
  });
});

describe('audit directory', () => {
  it('an absent directory is ready when an ancestor is writable, and nothing is created', async () => {
    const dir = join(tmp, 'audit-parent', 'audit');
    const r = await checkAuditDir(dir);
    expect(r).toMatchObject({ status: 'ready', detail: expect.stringMatching(/will be created in/) });
    expect(existsSync(join(tmp, 'audit-parent'))).toBe(false);
  });

  it('an existing directory is ready', async () => {
    const dir = join(tmp, 'audit-existing');
    mkdirSync(dir);
    expect(await checkAuditDir(dir)).toMatchObject({ status: 'ready', detail: expect.stringMatching(/exists, writable/) });
  });

  it('a regular file on the way is missing, with the flag to use instead', async () => {
    expect(await checkAuditDir(join(aFile, 'audit'))).toMatchObject({ status: 'missing', detail: expect.stringMatching(/is not a directory/), fix: expect.stringMatching(/--audit DIR/) });
    expect((await checkAuditDir(aFile)).status).toBe('missing');
  });

  it('a path no system call accepts is missing, not a crash', async () => {
    expect((await checkAuditDir(join(tmp, 'bad\0name'))).status).toBe('missing');
    expect((await checkCacheDir(join(tmp, 'bad\0name'))).status).toBe('missing');
  });
});

describe('mount path resolution', () => {
  it('is ready on Linux with /proc, and leaves no descriptor or directory behind', () => {
    const fds = readdirSync('/proc/self/fd').length;
    expect(checkMountPaths()).toMatchObject({ status: 'ready', detail: expect.stringContaining('/proc/self/fd') });
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
  });
});
