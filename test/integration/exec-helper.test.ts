/**
 * The exec helper `agentos-exec`, the real binary: descriptors it closes and keeps, rlimits,
 * its exit statuses, and Landlock inside real bubblewrap sandboxes — a read-only rule blocks
 * writes to a writable mount, a mounted path outside every rule cannot be read, a read-write
 * rule allows writes, TCP connect/bind only where a port rule allows (ABI ≥ 4), no abstract
 * unix socket outside the sandbox (ABI ≥ 6) — each beside a control run without it.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseRootfs } from '../../src/container/bwrap.js';
import {
  EXEC_EXIT, EXEC_HELPER_ENV, execHelperFileName, findExecHelper, hostExecPrefix, landlockSpecText, SANDBOX_EXEC_PATH, sandboxExecMount, sandboxExecPrefix, stageExecHelper,
  type LandlockSpec,
} from '../../src/container/exec-helper.js';
import { leakedFds } from '../../src/container/fds.js';
import { landlockAbi, landlockRules } from '../../src/container/landlock.js';
import { seccompFilter } from '../../src/container/seccomp/index.js';
import { needs } from '../helpers/requirements.js';
import { describeNeeds, skipWhen } from '../helpers/skip.js';

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

const root = process.getuid?.() === 0;

/**
 * Run argv to its end. `extraFds`: descriptors the child inherits (as pipes) besides 0–2;
 * `feed`: bytes written to one of them. As uid 65534 when this is root (bwrap must not run as root).
 */
function run(argv: readonly string[], opts: { extraFds?: number[]; feed?: { fd: number; bytes: Uint8Array } } = {}): Promise<Ran> {
  const fds = [...(opts.extraFds ?? []), ...(opts.feed ? [opts.feed.fd] : [])];
  const stdio: ('pipe' | 'ignore')[] = ['ignore', 'pipe', 'pipe'];
  for (const fd of fds) {
    while (stdio.length <= fd) stdio.push('ignore');
    stdio[fd] = 'pipe';
  }
  return new Promise((resolve, reject) => {
    // A PATH without directories uid 65534 cannot search (execvp would report EACCES for them).
    const child = spawn(argv[0]!, argv.slice(1), { stdio, env: { PATH: '/usr/bin:/bin' }, ...(root ? { uid: 65534, gid: 65534 } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    if (opts.feed) {
      const pipe = child.stdio[opts.feed.fd] as NodeJS.WritableStream;
      pipe.on('error', () => {});
      pipe.end(Buffer.from(opts.feed.bytes));
    }
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A shell script that runs each check and prints `name=ok` or `name=fail:<its stderr, lines joined by |>`. */
function probe(checks: Record<string, string>): string {
  return Object.entries(checks)
    .map(([name, cmd]) => `if out=$( { ${cmd}; } 2>&1 >/dev/null ); then echo "${name}=ok"; else echo "${name}=fail:$(printf '%s' "$out" | tr '\\n' '|')"; fi`)
    .join('\n');
}

function results(r: Ran): Record<string, string> {
  expect(r.stderr, r.stderr).toBe('');
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

describe('exec helper: argv and discovery (no binary needed)', () => {
  it('builds the host prefix (replacing bash + prlimit) and the sandbox prefix', () => {
    expect(hostExecPrefix('/x/agentos-exec', { keepFds: [6, 0, 1, 2, 3, 4, 1], rlimits: { nofile: 100, core: 0, fsize: 4096, nproc: Infinity } })).toEqual([
      '/x/agentos-exec', '--keep-fds', '0,1,2,3,4,6', '--rlimit', 'nofile=100', '--rlimit', 'core=0', '--rlimit', 'fsize=4096', '--rlimit', 'nproc=unlimited', '--',
    ]);
    expect(() => hostExecPrefix('/x', { keepFds: [-1] })).toThrow(RangeError);
    expect(() => hostExecPrefix('/x', { keepFds: [0], rlimits: { nofile: 1.5 } })).toThrow(RangeError);
    const spec: LandlockSpec = { paths: [{ access: 'rx', path: '/usr' }], connectPorts: [] };
    expect(sandboxExecPrefix({ landlock: spec, landlockOptional: true, seccompFd: 5 })).toEqual([SANDBOX_EXEC_PATH, '--landlock', 'rx /usr\n', '--landlock-optional', '--seccomp-fd', '5', '--']);
    expect(sandboxExecPrefix({})).toEqual([SANDBOX_EXEC_PATH, '--']);
    expect(sandboxExecMount('/h/agentos-exec')).toEqual({ kind: 'bind', host: '/h/agentos-exec', guest: '/run/agentos/exec', readonly: true });
  });

  it('finds AGENTOS_EXEC first (empty: none), else the local build, else nothing', async () => {
    expect(findExecHelper({ env: { [EXEC_HELPER_ENV]: '/opt/agentos-exec' } })).toBe('/opt/agentos-exec');
    expect(findExecHelper({ env: { [EXEC_HELPER_ENV]: '' } })).toBeUndefined();
    expect(findExecHelper({ env: {}, localPath: '/nonexistent/agentos-exec', resolveFrom: '/nonexistent/x.js' })).toBeUndefined();
    const platform = (await import(new URL('../../native/platform.mjs', import.meta.url).href)) as { execHelperFileName: (t: string) => string };
    expect(platform.execHelperFileName('linux-x64-gnu')).toBe(execHelperFileName('linux-x64-gnu'));
  });
});

describeNeeds(needs.execHelper(), 'exec helper (the real binary)', () => {
  // A skipped suite is still collected: make nothing where the helper is missing.
  const found = needs.execHelper().ok ? findExecHelper() : undefined;
  const tmp = found ? mkdtempSync(join(tmpdir(), 'agentos-exec-')) : join(tmpdir(), 'agentos-exec-unavailable');
  if (found) chmodSync(tmp, 0o755);
  // uid 65534 runs it (and bwrap binds it): a copy in tmp when its own path is closed to others.
  const helper = found ? stageExecHelper(found, tmp) : 'agentos-exec';
  const abi = found ? (landlockAbi(helper) ?? 0) : 0;
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** Which of `fds` are open in the shell (a stat of /proc/self/fd/N opens nothing). */
  const fdCheck = (fds: number[]) => `for n in ${fds.join(' ')}; do [ -e /proc/self/fd/$n ] && printf '%s ' $n; done; echo`;

  it('closes every descriptor not kept (a leaked one included) and keeps the kept ones', async () => {
    const leaked = leakedFds(); // fd 251 where the environment leaks it
    const watch = [3, 4, 9, ...leaked];
    const control = await run(['sh', '-c', fdCheck(watch)], { extraFds: [3, 4, 9] });
    expect(control.stdout.trim().split(' ').map(Number)).toEqual(watch);
    const r = await run([helper, '--keep-fds', '0,1,2,4', '--', 'sh', '-c', fdCheck(watch)], { extraFds: [3, 4, 9] });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.trim()).toBe('4');
  });

  it('is staged where uid 65534 can run it when its own directory is closed to others', async () => {
    const closed = join(tmp, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    copyFileSync(helper, join(closed, 'agentos-exec'));
    const staged = stageExecHelper(join(closed, 'agentos-exec'), tmp);
    expect(staged).toBe(join(tmp, 'agentos-exec'));
    expect(statSync(staged).mode & 0o777).toBe(0o555);
    expect(stageExecHelper(staged, tmp)).toBe(staged);
    expect((await run([staged, '--probe-abi'])).stdout).toBe(`${abi}\n`);
  });

  it('sets rlimits, soft = hard', async () => {
    const r = await run([helper, '--rlimit', 'nofile=100', '--rlimit', 'core=0', '--rlimit', 'fsize=65536', '--rlimit', 'rttime=unlimited', '--', 'cat', '/proc/self/limits']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Max open files\s+100\s+100\s+files/m);
    expect(r.stdout).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
    expect(r.stdout).toMatch(/^Max file size\s+65536\s+65536\s+bytes/m);
    expect(r.stdout).toMatch(/^Max realtime timeout\s+unlimited\s+unlimited/m);
    // Raising a hard limit needs privilege: refused, and nothing runs.
    if (root) expect(await run([helper, '--rlimit', 'nofile=unlimited', '--', 'true'])).toMatchObject({ code: EXEC_EXIT.setup, stderr: expect.stringMatching(/cannot set rlimit nofile to \d+: Operation not permitted/) });
  });

  it('exits 125 when it cannot apply what was asked (nothing runs), 126 and 127 when the program cannot be executed', async () => {
    const marker = join(tmp, 'ran');
    const touch = ['--', 'sh', '-c', `echo > ${marker}`];
    const usage = await run([helper, '--rlimit', 'bogus=1', ...touch]);
    expect(usage).toMatchObject({ code: EXEC_EXIT.setup });
    expect(usage.stderr).toMatch(/^agentos-exec: --rlimit: unknown resource "bogus"/);
    const missing = await run([helper, '--landlock', 'rx /usr\nro /no/such/dir', ...touch]);
    expect(missing).toMatchObject({ code: EXEC_EXIT.setup });
    expect(missing.stderr).toMatch(/landlock rule path \/no\/such\/dir cannot be opened: No such file/);
    const floor = await run([helper, '--landlock', 'rx /usr\nabi 99', ...touch]);
    expect(floor.code).toBe(EXEC_EXIT.setup);
    expect(floor.stderr).toMatch(/Landlock ABI 99 is required and this kernel has (ABI \d+|no Landlock)/);
    const closedFd = await run([helper, '--landlock-fd', '7', ...touch]);
    expect(closedFd.stderr).toMatch(/--landlock-fd: descriptor 7 is not open/);
    expect(existsSync(marker)).toBe(false);
    // --landlock-optional: below the floor it runs, without Landlock (so /etc is readable).
    const optional = await run([helper, '--landlock', 'rx /usr\nabi 99', '--landlock-optional', '--', 'cat', '/etc/hostname']);
    expect(optional.code).toBe(0);
    expect((await run([helper, '--', 'no-such-program-here'])).code).toBe(EXEC_EXIT.notFound);
    writeFileSync(join(tmp, 'not-exec'), '#!/bin/sh\n', { mode: 0o644 });
    const noexec = await run([helper, '--', join(tmp, 'not-exec')]);
    expect(noexec.code).toBe(EXEC_EXIT.cannotExecute);
    expect(noexec.stderr).toMatch(/not-exec: cannot execute: Permission denied/);
  });

  it('reads a spec from a descriptor; --probe-abi says the kernel ABI', async (ctx) => {
    const probed = await run([helper, '--probe-abi']);
    expect(probed.stdout).toBe(`${abi}\n`);
    skipWhen(ctx, abi < 1, `needs Landlock: this kernel has ABI ${abi} — enable with: a kernel 5.13 or later with landlock in lsm=`);
    const r = await run([helper, '--landlock-fd', '5', '--', 'sh', '-c', 'cat /etc/hostname'], { feed: { fd: 5, bytes: Buffer.from('rx /usr\n') } });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
  });

  describeNeeds(needs.bwrap(), 'under bubblewrap', () => {
    const data = join(tmp, 'data');
    const out = join(tmp, 'out');
    const scratch = join(tmp, 'scratch');
    const outside = join(tmp, 'outside');
    const base = baseRootfs({ passwd: '/etc/passwd', group: '/etc/group', hosts: '/etc/hosts' });
    const mounts = ['--ro-bind', data, '/data', '--bind', out, '/out', '--bind', scratch, '/scratch', '--ro-bind', outside, '/outside'];
    /** bwrap with the sandbox's root, the helper bound in, and these mounts; `shareNet` keeps the host's network namespace. */
    const bwrap = (inner: readonly string[], opts: { shareNet?: boolean; extra?: string[] } = {}) => [
      'bwrap', '--unshare-all', ...(opts.shareNet ? ['--share-net'] : []), '--unshare-user', '--die-with-parent', '--new-session',
      '--uid', '65534', '--gid', '65534', '--clearenv', '--setenv', 'PATH', '/usr/bin:/bin',
      ...base, '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--ro-bind', helper, SANDBOX_EXEC_PATH, ...mounts, ...(opts.extra ?? []), '--', ...inner,
    ];
    // The policy's view: /data read-only, /out read-write; /scratch is mounted writable but ruled read-only; /outside is in no rule.
    const spec = landlockRules(
      { mounts: [{ kind: 'bind', host: data, guest: '/data', readonly: true }, { kind: 'bind', host: out, guest: '/out', readonly: false }], summary: [] },
      { network: false },
    );
    const withScratch: LandlockSpec = { ...spec, paths: [...spec.paths, { access: 'rx', path: '/scratch' }] };
    const landlocked = (s: LandlockSpec, inner: readonly string[]) => [...sandboxExecPrefix({ landlock: s }), ...inner];

    beforeAll(() => {
      for (const [d, mode] of [[data, 0o755], [out, 0o777], [scratch, 0o777], [outside, 0o755]] as const) {
        mkdirSync(d);
        chmodSync(d, mode);
      }
      writeFileSync(join(data, 'notes.txt'), 'notes\n', { mode: 0o644 });
      writeFileSync(join(scratch, 'existing.txt'), 'scratch\n', { mode: 0o666 });
      writeFileSync(join(outside, 'secret.txt'), 'secret\n', { mode: 0o644 });
    });

    it('the host prefix starts bwrap: the sandbox gets the rlimits and no leaked descriptor', async () => {
      const prefix = hostExecPrefix(helper, { keepFds: [0, 1, 2], rlimits: { nofile: 100, core: 0, fsize: 1 << 20 } });
      const script = `${fdCheck([3, 9, ...leakedFds()])}; grep -E '^Max (open files|core file size|file size) ' /proc/self/limits`;
      const r = await run([...prefix, ...bwrap(['sh', '-c', script])], { extraFds: [3, 9] });
      expect(r).toMatchObject({ code: 0, stderr: '' });
      const [fds, ...limits] = r.stdout.split('\n');
      expect(fds!.trim()).toBe('');
      expect(limits.join('\n')).toMatch(/Max file size\s+1048576\s+1048576[\s\S]*Max core file size\s+0\s+0[\s\S]*Max open files\s+100\s+100/);
    });

    const checks = probe({
      readData: 'cat /data/notes.txt',
      readOutside: 'cat /outside/secret.txt',
      listOutside: 'ls /outside',
      readScratch: 'cat /scratch/existing.txt',
      writeScratch: 'echo x > /scratch/new.txt',
      writeOut: 'echo x > /out/new.txt && rm /out/new.txt && mkdir /out/d && rmdir /out/d',
      tmp: 'echo x > /tmp/t && cat /tmp/t && rm /tmp/t',
      shm: 'echo x > /dev/shm/s && rm /dev/shm/s',
      dev: 'echo x > /dev/null && head -c 4 /dev/urandom',
      etcProc: 'cat /etc/passwd /proc/self/status',
      python: 'python3 -c "import json, os; print(os.getcwd())"',
    });

    it('without Landlock (control), the mounts alone allow reading /outside and writing /scratch', async () => {
      const r = results(await run(bwrap(['sh', '-c', checks])));
      expect(Object.values(r).every((v) => v === 'ok'), JSON.stringify(r)).toBe(true);
      rmSync(join(scratch, 'new.txt'));
    });

    it('with the policy rules: ro blocks writes, a mounted path outside every rule stays closed, rw allows writes, programs still run', async (ctx) => {
      skipWhen(ctx, abi < 1, `needs Landlock: this kernel has ABI ${abi} — enable with: a kernel 5.13 or later with landlock in lsm=`);
      const r = results(await run(bwrap(landlocked(withScratch, ['sh', '-c', checks]))));
      expect(r).toEqual({
        readData: 'ok',
        readOutside: 'fail:cat: /outside/secret.txt: Permission denied',
        listOutside: "fail:ls: cannot open directory '/outside': Permission denied",
        readScratch: 'ok',
        writeScratch: expect.stringMatching(/^fail:sh: \d+: cannot create \/scratch\/new.txt: Permission denied$/),
        writeOut: 'ok',
        tmp: 'ok',
        shm: 'ok',
        dev: 'ok',
        etcProc: 'ok',
        python: 'ok',
      });
      expect(existsSync(join(scratch, 'new.txt'))).toBe(false);
      expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('secret\n');
    });

    describe('network and scopes (the host network namespace shared, so there is something to reach)', () => {
      const servers: Server[] = [];
      const listen = (where: { port: number; host: string } | { path: string }) =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer((c) => c.end()).on('error', reject);
          s.listen(where, () => resolve(s));
          servers.push(s);
        });
      const port = (s: Server) => (s.address() as { port: number }).port;
      afterAll(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

      it('TCP: connect only to the allowed port, no bind (ABI ≥ 4)', async (ctx) => {
        skipWhen(ctx, abi < 4, `needs Landlock ABI 4 (TCP rules): this kernel has ${abi} — enable with: Linux 6.7 or later`);
        const allowed = await listen({ port: 0, host: '127.0.0.1' });
        const other = await listen({ port: 0, host: '127.0.0.1' });
        const net = probe({
          allowed: `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port(allowed)}'`,
          other: `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port(other)}'`,
          bind: `python3 -c 'import socket; socket.socket().bind(("127.0.0.1", 0))'`,
        });
        const control = results(await run(bwrap(['sh', '-c', net], { shareNet: true })));
        expect(control).toEqual({ allowed: 'ok', other: 'ok', bind: 'ok' });
        const r = results(await run(bwrap(landlocked({ ...spec, connectPorts: [port(allowed)] }, ['sh', '-c', net]), { shareNet: true })));
        expect(r.allowed).toBe('ok');
        expect(r.other).toMatch(/^fail:.*connect: Permission denied/);
        expect(r.bind).toMatch(/^fail:.*PermissionError: \[Errno 13\] Permission denied/);
      });

      it('abstract unix sockets outside the sandbox are out of reach (ABI ≥ 6)', async (ctx) => {
        skipWhen(ctx, abi < 6, `needs Landlock ABI 6 (scopes): this kernel has ${abi} — enable with: Linux 6.12 or later`);
        const name = `agentos-exec-test-${process.pid}`;
        await listen({ path: `\0${name}` });
        // Node binds abstract names padded with NULs to the whole sun_path (108 bytes).
        const connect = probe({ abstract: `python3 -c 'import socket; socket.socket(socket.AF_UNIX).connect("\\0${name}".ljust(108, "\\0"))'` });
        expect(results(await run(bwrap(['sh', '-c', connect], { shareNet: true })))).toEqual({ abstract: 'ok' });
        const r = results(await run(bwrap(landlocked(spec, ['sh', '-c', connect]), { shareNet: true })));
        expect(r.abstract).toMatch(/^fail:.*PermissionError: \[Errno 1\] Operation not permitted/);
      });
    });

    it('seccomp: bwrap --seccomp with the default allowlist refuses Landlock; --seccomp-fd loads the same filter after it', async (ctx) => {
      skipWhen(ctx, abi < 1, `needs Landlock: this kernel has ABI ${abi} — enable with: a kernel 5.13 or later with landlock in lsm=`);
      const filter = seccompFilter();
      const inner = ['sh', '-c', probe({ read: 'cat /data/notes.txt', outside: 'cat /outside/secret.txt', unshare: 'unshare -U true' })];
      const viaBwrap = await run(bwrap(landlocked(spec, inner), { extra: ['--seccomp', '5'] }), { feed: { fd: 5, bytes: filter } });
      expect(viaBwrap.code).toBe(EXEC_EXIT.setup);
      expect(viaBwrap.stderr).toMatch(/^agentos-exec: Landlock ABI 1 is required and landlock_create_ruleset failed: Operation not permitted .*refused by a seccomp filter/);
      const viaHelper = await run(bwrap([...sandboxExecPrefix({ landlock: spec, seccompFd: 5 }), ...inner]), { feed: { fd: 5, bytes: filter } });
      const r = results(viaHelper);
      expect(r.read).toBe('ok');
      expect(r.outside).toMatch(/Permission denied/);
      expect(r.unshare).toMatch(/^fail:unshare: unshare failed: Operation not permitted/);
      expect(landlockSpecText(spec)).toContain('rx /data\nrw /out\n');
    });
  });
});
