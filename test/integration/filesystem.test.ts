/**
 * Gated wasi:filesystem through a real C agent (wasi-libc → preview1 adapter → our host).
 */
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../dist/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { recordingSandbox, settle, tempDir } from '../helpers/sandbox.js';
import { workspacePolicy } from '../helpers/workspace.js';

const { sandbox, audit } = recordingSandbox();
const tmp = tempDir('agentos-fs-');
const ws = join(tmp.dir, 'ws');
const scratch = join(tmp.dir, 'scratch');
const outside = join(tmp.dir, 'outside');
let agent: Agent;

const run = async (script: string) => (await agent.run(script)).output.split('\n');

beforeAll(async () => {
  mkdirSync(join(ws, 'src', 'deep'), { recursive: true });
  mkdirSync(join(ws, '.git'), { recursive: true });
  mkdirSync(scratch, { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(ws, 'src', 'a.ts'), 'const a = 1; // TODO\n');
  writeFileSync(join(ws, 'src', 'deep', 'b.ts'), 'b');
  writeFileSync(join(ws, 'README.md'), 'readme');
  writeFileSync(join(ws, '.env'), 'SECRET=1');
  writeFileSync(join(ws, '.git', 'config'), 'git');
  writeFileSync(join(outside, 'secret.txt'), 'top secret');
  symlinkSync(join(outside, 'secret.txt'), join(ws, 'src', 'escape.ts'));
  symlinkSync('../.git/config', join(ws, 'src', 'gitlink.ts'));
  symlinkSync('a.ts', join(ws, 'src', 'alias.ts'));
  agent = await sandbox.load(fixturePath('fsprobe'), {
    policy: workspacePolicy(ws, scratch, { forbidden: ['/tmp/vault/private/**'], resourceLimits: { maxFileSize: '1KiB' } }),
  });
});
afterAll(async () => {
  await sandbox.close();
  tmp.cleanup();
});

describe('filesystem: reads', () => {
  it('reads a permitted file and lists only what the policy lets the agent see', async () => {
    expect(await run('read /workspace/src/a.ts\nls /workspace\nls /workspace/src')).toEqual([
      'ok const a = 1; // TODO\\n',
      'ok src',
      'ok a.ts alias.ts deep escape.ts gitlink.ts',
    ]);
  });

  it('only mounts exist: other absolute paths have no preopen', async () => {
    expect(await run('read /etc/passwd\nls /')).toEqual(['err ENOTCAPABLE', 'err ENOTCAPABLE']);
  });

  it('denies a readable mount path that is not in fileAccess with EACCES', async () => {
    expect(await run('read /workspace/README.md')).toEqual(['err EACCES']);
  });

  it('a forbidden path is indistinguishable from a missing one', async () => {
    const out = await run('read /workspace/.env\nstat /workspace/.env\nread /workspace/src/nope.ts\nstat /workspace/.git/config\nls /workspace/.git\nstat /workspace/missing.ts');
    expect(out).toEqual(['err ENOENT', 'err ENOENT', 'err ENOENT', 'err ENOENT', 'err ENOENT', 'err ENOENT']);
  });

  it('blocks ../ escapes above the mount', async () => {
    expect(await run('read /workspace/../outside/secret.txt\nread /workspace/src/../../outside/secret.txt')).toEqual(['err EPERM', 'err EPERM']);
    await settle();
    // Refused and recorded: a guest probing above its mount is worth a record.
    expect(audit.filter((e) => e.type === 'capability_denied' && e.reason.includes('leaves mount /workspace')).length).toBeGreaterThanOrEqual(2);
  });

  it('re-checks symlink targets: out of the mount, into a forbidden path, and a good alias', async () => {
    expect(await run('read /workspace/src/escape.ts\nread /workspace/src/gitlink.ts\nread /workspace/src/alias.ts')).toEqual([
      'err ENOENT',
      'err ENOENT',
      'ok const a = 1; // TODO\\n',
    ]);
  });

  it('rejects NUL in paths and handles trailing slashes', async () => {
    expect(await run('stat /workspace/src/\nstat /workspace/src/a.ts/')).toEqual([expect.stringMatching(/^ok dir /), 'err ENOTDIR']);
  });
});

describe('filesystem: writes', () => {
  it('writes, reads back, renames and deletes inside the writable mount', async () => {
    expect(await run('write /tmp/out.txt hello\nread /tmp/out.txt\nmkdir /tmp/d\nrename /tmp/out.txt /tmp/d/moved.txt\nls /tmp/d\nunlink /tmp/d/moved.txt\nrmdir /tmp/d')).toEqual([
      'ok 5',
      'ok hello',
      'ok',
      'ok',
      'ok moved.txt',
      'ok',
      'ok',
    ]);
  });

  it('refuses every write to a read-only mount, including open with truncate', async () => {
    expect(await run('trunc /workspace/src/a.ts\nwrite /workspace/src/new.ts x\nunlink /workspace/src/a.ts\nsetsize /workspace/src/a.ts 0\ntouch /workspace/src/a.ts\nmkdir /workspace/src/x')).toEqual([
      'err EACCES',
      'err EACCES',
      'err EACCES',
      'err EACCES',
      'err EACCES',
      'err EACCES',
    ]);
    expect(readFileSync(join(ws, 'src', 'a.ts'), 'utf8')).toBe('const a = 1; // TODO\n');
  });

  it('link-at and rename-at from a read-only path into a writable one are denied', async () => {
    expect(await run('link /workspace/src/a.ts /tmp/hard.ts\nrename /workspace/src/a.ts /tmp/stolen.ts')).toEqual(['err EACCES', 'err EACCES']);
    expect(existsSync(join(scratch, 'hard.ts'))).toBe(false);
    expect(existsSync(join(ws, 'src', 'a.ts'))).toBe(true);
  });

  it('guest-created symlinks cannot point outside the mount, and a link swapped to escape is refused', async () => {
    expect(await run('symlink /etc/passwd /tmp/abs\nsymlink ../workspace/src/a.ts /tmp/up\nsymlink target.txt /tmp/rel\nwrite /tmp/target.txt t\nread /tmp/rel')).toEqual([
      'err EPERM',
      'err EPERM',
      'ok',
      'ok 1',
      'ok t',
    ]);
    expect(lstatSync(join(scratch, 'rel')).isSymbolicLink()).toBe(true);
    await settle();
    expect(audit.filter((e) => e.type === 'capability_denied' && /a link to "(\/etc\/passwd|\.\.\/workspace\/src\/a\.ts)" would point outside mount \/tmp/.test(e.reason)).map((e) => e.target)).toEqual(['/tmp/abs', '/tmp/up']);
    // A link changed behind the agent's back to point out of the mount is not followed.
    symlinkSync(join(outside, 'secret.txt'), join(scratch, 'planted'));
    expect(await run('read /tmp/planted\nwrite /tmp/planted overwrite')).toEqual(['err ENOENT', 'err ENOENT']);
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('top secret');
  });

  it('will not move a directory that may hold forbidden files out from under the forbidden glob', async () => {
    mkdirSync(join(scratch, 'vault', 'private'), { recursive: true });
    writeFileSync(join(scratch, 'vault', 'private', 'key'), 'k');
    expect(await run('read /tmp/vault/private/key\nrename /tmp/vault /tmp/open\nrename /tmp/vault/private /tmp/p2\nmkdir /tmp/plain\nrename /tmp/plain /tmp/plain2')).toEqual([
      'err ENOENT',
      'err EACCES',
      'err ENOENT',
      'ok',
      'ok',
    ]);
    expect(existsSync(join(scratch, 'vault', 'private', 'key'))).toBe(true);
  });

  it('enforces maxFileSize', async () => {
    const out = await run(`write /tmp/big.txt ${'x'.repeat(1500)}\nwrite /tmp/small.txt ${'x'.repeat(500)}`);
    expect(out[0]).toMatch(/^err E(FBIG|IO)$/);
    expect(out[1]).toBe('ok 500');
  });

  it('records every decision as an audit event with the API that asked', async () => {
    await run('read /workspace/.env\nread /workspace/src/a.ts');
    await settle();
    const mine = audit.filter((e) => e.agentId === agent.id && e.resource === 'file');
    expect(mine).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ outcome: 'denied', target: '/workspace/.env', api: 'wasi:filesystem/types#open-at', reason: expect.stringContaining('forbidden') }),
        expect.objectContaining({ outcome: 'allowed', target: '/workspace/src/a.ts', action: 'read', capability: 'read_files' }),
      ]),
    );
  });
});

describe('filesystem: no grant, no files', () => {
  it('without read_files the agent sees no preopens at all', async () => {
    const a = await sandbox.load(fixturePath('fsprobe'), { policy: { version: 1, mounts: [{ guest: '/workspace', host: ws, mode: 'ro' }] } });
    expect((await a.run('read /workspace/src/a.ts')).output).toBe('err ENOTCAPABLE');
    await a.close();
  });
});
