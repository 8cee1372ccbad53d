/**
 * Native agents under bubblewrap and under runc (the same suite on both runtimes), with real
 * shell and Python programs: the run protocol
 * (stdin task, stdout output, stderr logs, exit status), isolation (uid 65534 on the host,
 * only fds 0–2, read-only root, no network, new session), files from the policy (modes,
 * masked forbidden files, refused rules), environment, limits, and the audit records.
 */
import { chmodSync, cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NativeAgent } from '../../dist/index.js';
import { NATIVE_RUNTIMES } from '../../src/container/backends.js';
import { detectCgroups, listRunGroups } from '../../src/container/cgroups/index.js';
import { exampleDir } from '../helpers/fixtures.js';
import { needs } from '../helpers/requirements.js';
import { recordingSandbox, settle, tempDir } from '../helpers/sandbox.js';
import { describeNeeds, skipUnless, skipWhen } from '../helpers/skip.js';

for (const runtime of NATIVE_RUNTIMES) {
  describeNeeds(runtime === 'runc' ? needs.runc() : needs.bwrap(), `native agents (${runtime})`, () => {
    const { sandbox, audit, logs } = recordingSandbox();
    /** Load under this suite's runtime. */
    const load = (options: Parameters<typeof sandbox.loadNative>[0]) => sandbox.loadNative({ ...options, container: { runtime } });
    const tmp = tempDir('agentos-native-');
    const data = join(tmp.dir, 'data');
    const out = join(tmp.dir, 'out');
    const opened: NativeAgent[] = [];

    const sh = async (script: string, policy: Record<string, unknown> = { version: 1 }) => {
      const agent = await load({ command: ['sh', '-c', script], policy });
      opened.push(agent);
      return agent;
    };
    const files = () => ({
      version: 1,
      capabilities: { allowed: ['read_files', 'write_files'] },
      mounts: [
        { guest: '/data', host: data, mode: 'ro' },
        { guest: '/out', host: out, mode: 'rw' },
      ],
      fileAccess: { forbidden: ['/data/secret/**', '/data/**/.env'] },
    });

    beforeAll(() => {
      // The agent is uid 65534 on the host too: its mounts must be usable by others.
      chmodSync(tmp.dir, 0o755);
      mkdirSync(join(data, 'secret'), { recursive: true });
      mkdirSync(join(data, 'sub'), { recursive: true });
      mkdirSync(out, { recursive: true });
      writeFileSync(join(data, 'notes.txt'), 'hello native\n');
      writeFileSync(join(data, 'secret', 'key'), 'top secret\n');
      writeFileSync(join(data, 'sub', '.env'), 'TOKEN=1\n');
      // A secret outside every mount, and links to it from inside one (absolute and relative).
      mkdirSync(join(tmp.dir, 'outside'));
      writeFileSync(join(tmp.dir, 'outside', 'secret.txt'), 'outside secret\n', { mode: 0o644 });
      chmodSync(join(tmp.dir, 'outside'), 0o755);
      symlinkSync(join(tmp.dir, 'outside', 'secret.txt'), join(data, 'escape-abs'));
      symlinkSync('../outside/secret.txt', join(data, 'escape-rel'));
      chmodSync(data, 0o755);
      chmodSync(join(data, 'secret'), 0o755);
      chmodSync(join(data, 'sub'), 0o755);
      chmodSync(out, 0o777);
    });
    afterAll(async () => {
      await Promise.all(opened.map((a) => a.close()));
      await sandbox.close();
      tmp.cleanup();
    });

    it('the task is stdin, stdout the output, stderr lines are log events; exit 0 is ok', async () => {
      const agent = await sh('read t; echo "got $t"; echo "note" >&2');
      const r = await agent.run('hello');
      expect(r).toMatchObject({ output: 'got hello\n', exitCode: 0, fuelUsed: 0, agentId: agent.id });
      await settle();
      expect(logs.some((l) => l.agentId === agent.id && l.stream === 'stderr' && l.message === 'note')).toBe(true);
      expect(audit.filter((e) => e.agentId === agent.id).map((e) => e.type)).toEqual(['agent_spawn', 'agent_terminate']);
      const spawnRecord = audit.find((e) => e.agentId === agent.id && e.type === 'agent_spawn')!;
      expect(spawnRecord.target).toMatch(/^[0-9a-f]{64}$/); // the SHA-256 of /usr/bin/sh as the sandbox resolves it
      expect(spawnRecord.details).toMatchObject({ backend: runtime, command: ['sh', '-c', expect.any(String)] });
    });

    it('another exit status is AGENT_ERROR with the status and the last stderr lines', async () => {
      const agent = await sh('echo "it broke" >&2; exit 3');
      await expect(agent.run('')).rejects.toMatchObject({ code: 'AGENT_ERROR', message: expect.stringContaining('status 3'), details: { exitCode: 3 } });
    });

    it('runs as uid/gid 65534 inside and on the host, with only fds 0-2, in a new session', async () => {
      const agent = await sh('id -u; id -g; ls /proc/self/fd | sort -n | tr "\\n" " "; echo; ps -o sid= -p $$ | tr -d " "; echo $$; touch /out/made-by-agent', files());
      const [uid, gid, fds, sid, pid] = (await agent.run('')).output.trim().split('\n');
      expect([uid, gid]).toEqual(['65534', '65534']);
      // 0, 1, 2 and the descriptor ls itself opens to read the directory.
      expect(fds!.trim().split(' ').filter((fd) => Number(fd) > 3)).toEqual([]);
      // A session made inside the sandbox (bwrap --new-session): its leader is a sandbox process.
      // Without it the leader is the host's, outside the pid namespace, and ps shows 0.
      expect(Number(sid)).toBeGreaterThan(0);
      expect(Number(sid)).toBeLessThanOrEqual(Number(pid));
      expect(statSync(join(out, 'made-by-agent')).uid).toBe(65534);
    });

    it('the root is read-only, the host is not there, /tmp is a private size-capped tmpfs', async () => {
      const agent = await sh('touch /usr/x 2>/dev/null && echo usr-writable; touch /x 2>/dev/null && echo root-writable; ls /root /home /var/run 2>/dev/null | head -1; echo tmp > /tmp/t && cat /tmp/t; df -k /tmp | tail -1 | awk "{print \\$2}"', {
        version: 1,
        resourceLimits: { diskQuota: '8MiB' },
      });
      const lines = (await agent.run('')).output.trim().split('\n');
      expect(lines).toEqual(['tmp', '8192']);
    });

    it('has no network but loopback: the host is unreachable, DNS fails', async () => {
      const agent = await sh('cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "; (exec 3<>/dev/tcp/127.0.0.1/22) 2>/dev/null && echo reached || echo unreachable; getent hosts example.com || echo no-dns', { version: 1 });
      // sh is dash: no /dev/tcp; the loopback list and DNS are what count.
      const lines = (await agent.run('')).output.trim().split('\n');
      expect(lines[0]).toBe('lo');
      expect(lines).toContain('no-dns');
      expect(lines).not.toContain('reached');
    });

    it('symlinks in a mount that lead out of it find nothing: the host is not in the sandbox', async () => {
      const agent = await sh('cat /data/escape-abs 2>/dev/null || echo abs-missing; cat /data/escape-rel 2>/dev/null || echo rel-missing; ln -s /etc/shadow /out/link && cat /out/link 2>/dev/null || echo link-missing', files());
      expect((await agent.run('')).output.trim().split('\n')).toEqual(['abs-missing', 'rel-missing', 'link-missing']);
    });

    it('files come from the policy: ro and rw mounts, forbidden paths masked, nothing else of the host', async () => {
      const agent = await sh(
        'cat /data/notes.txt; cat /data/secret/key | wc -c; ls /data/secret | wc -l; cat /data/sub/.env | wc -c; echo x > /data/new 2>/dev/null || echo ro; echo y > /out/ok && echo rw; ls /etc | tr "\\n" " "',
        files(),
      );
      const lines = (await agent.run('')).output.trim().split('\n');
      expect(lines.slice(0, 6)).toEqual(['hello native', '0', '0', '0', 'ro', 'rw']);
      expect(lines[6]).not.toMatch(/shadow|sudoers|ssh\b/);
      expect(readFileSync(join(out, 'ok'), 'utf8')).toBe('y\n');
    });

    it('refuses, at load, rules that mounts cannot enforce and mounts nobody may use', async () => {
      await expect(load({ command: ['true'], policy: { ...files(), fileAccess: { readonly: ['/data/**/*.txt'] } } })).rejects.toMatchObject({
        code: 'POLICY_INVALID',
        message: expect.stringContaining('fileAccess.readonly[0]'),
      });
      await expect(load({ command: ['true'], policy: { ...files(), fileAccess: { forbidden: ['/out/**/*.key'] } } })).rejects.toMatchObject({
        code: 'POLICY_INVALID',
        message: expect.stringContaining('read-write mount /out'),
      });
      const closed = join(tmp.dir, 'closed');
      mkdirSync(closed, { mode: 0o700 });
      await expect(load({ command: ['true'], policy: { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/c', host: closed, mode: 'ro' }] } })).rejects.toMatchObject({
        code: 'CAPABILITY_DENIED',
        message: expect.stringContaining('uid 65534'),
      });
    });

    it('the environment is only what the policy grants; code-injecting variables are refused', async () => {
      const agent = await sh('env | cut -d= -f1 | sort | tr "\\n" " "', { version: 1, env: { set: { MODE: 'review' } } });
      const names = (await agent.run('')).output.trim().split(' ');
      expect(names.sort()).toEqual(['HOME', 'LANG', 'MODE', 'PATH', 'PWD', 'TMPDIR', 'USER'].sort());
      await expect(load({ command: ['true'], policy: { version: 1, env: { set: { LD_PRELOAD: '/tmp/x.so' } } } })).rejects.toMatchObject({
        code: 'POLICY_INVALID',
        message: expect.stringContaining('LD_PRELOAD'),
      });
    });

    it('the wall clock kills the whole tree (TIMEOUT), output over maxOutputBytes is QUOTA_EXCEEDED', async () => {
      const slow = await sh('sleep 30 & sleep 30; wait');
      const t = Date.now();
      await expect(slow.run('', { timeout: '400ms' })).rejects.toMatchObject({ code: 'TIMEOUT' });
      expect(Date.now() - t).toBeLessThan(5000);
      const loud = await sh('yes', { version: 1, resourceLimits: { maxOutputBytes: '64KiB' } });
      await expect(loud.run('')).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
      await settle();
      expect(audit.filter((e) => e.type === 'limit_exceeded').map((e) => e.target)).toEqual(expect.arrayContaining(['TIMEOUT', 'QUOTA_EXCEEDED']));
    });

    it('the caller can cancel a run (options.signal): CANCELLED at once, the tree killed, recorded', async () => {
      const slow = await sh('sleep 30 & sleep 30; wait');
      const stop = new AbortController();
      const t = Date.now();
      setTimeout(() => stop.abort(), 300);
      await expect(slow.run('', { signal: stop.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
      expect(Date.now() - t).toBeLessThan(5000);
      await settle();
      expect(audit.some((e) => e.agentId === slow.id && e.type === 'agent_error' && e.target === 'CANCELLED')).toBe(true);
      expect((await (await sh('echo after')).run('')).output).toBe('after\n');
    });

    it('cgroups: a memory filler is MEMORY_LIMIT, a fork bomb QUOTA_EXCEEDED, a spinner past maxCpuTime TIMEOUT; no group is left', async (ctx) => {
      skipUnless(ctx, needs.cgroups());
      const hog = await sh('head -c 400M /dev/zero | tail > /dev/null; echo survived', { version: 1, resourceLimits: { maxMemory: '48MiB' } });
      await expect(hog.run('')).rejects.toMatchObject({ code: 'MEMORY_LIMIT', details: { limit: 'maxMemory' } });
      const bomb = await sh('i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; wait', { version: 1, resourceLimits: { maxProcesses: 8 } });
      await expect(bomb.run('', { timeout: '20s' })).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED', details: { limit: 'maxProcesses', allowed: 8 } });
      const spin = await sh('while :; do :; done', { version: 1, resourceLimits: { maxCpuTime: '300ms' } });
      const t = Date.now();
      await expect(spin.run('', { timeout: '20s' })).rejects.toMatchObject({ code: 'TIMEOUT', details: { limit: 'maxCpuTime' } });
      expect(Date.now() - t).toBeLessThan(10_000);
      // The host is fine and every run's cgroup is gone.
      expect((await (await sh('echo ok')).run('')).output).toBe('ok\n');
      const layout = detectCgroups();
      const mine = () => [...listRunGroups(layout).keys()].filter((n) => n.startsWith(`${process.pid}-`));
      // While a run is going its group exists (the sandbox's processes are in it)...
      const running = (await sh('sleep 1')).run('');
      let seen: string[] = [];
      for (let i = 0; i < 40 && seen.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 25));
        seen = mine();
      }
      expect(seen).toHaveLength(1);
      await running;
      // ...and after it, it is gone.
      expect(mine()).toEqual([]);
    }, 60_000);

    it('host tools over the tool channel (shell and Python clients): decided and audited like tools.call', async () => {
      sandbox.registerTool('classify', async (input) => ({ label: `seen ${JSON.stringify(input)}` }));
      const copy = join(tmp.dir, 'tools-agent');
      cpSync(join(exampleDir('native-python'), 'agent'), copy, { recursive: true });
      chmodTree(copy);
      const script = [
        '/agent/tool.sh classify \'{"n":1}\'',
        '/agent/tool.sh delete_everything \'{}\'',
        'python3 -I -c "import sys; sys.path.insert(0, \'/agent\'); import agentos_tools as t; print(t.available_tools(), t.call_tool(\'classify\', [2]))"',
      ].join('; ');
      const agent = await load({
        command: ['sh', '-c', script],
        policy: { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/agent', host: copy, mode: 'ro' }], toolAccess: { allow: ['classify'] } },
      });
      opened.push(agent);
      const r = await agent.run('');
      expect(r.output.trim().split('\n')).toEqual([
        '{"id":1,"ok":true,"result":{"label":"seen {\\"n\\":1}"}}',
        expect.stringMatching(/^\{"id":1,"ok":false,"error":\{"kind":"denied","message":"tool delete_everything is not in toolAccess.allow/),
        "['classify'] {'label': 'seen [2]'}",
      ]);
      await settle();
      const calls = audit.filter((e) => e.agentId === agent.id && e.api === 'agent-os:sandbox/tools#call');
      expect(calls.map((e) => [e.type, e.target])).toEqual([
        ['capability_used', 'classify'],
        ['capability_denied', 'delete_everything'],
        ['capability_used', 'classify'],
      ]);
      // Without a tool grant there is no channel at all.
      const none = await sh('echo "${AGENTOS_TOOLS_FD:-none}"; ls /proc/self/fd | wc -l');
      expect((await none.run('')).output.trim().split('\n')).toEqual(['none', '4']);
    });

    it('the monitor contains a native agent: ten denied tool calls raise suspicious_resource_access, its process tree is killed mid-run, later runs and loads are refused until released', async () => {
      const watched = recordingSandbox({ monitor: { containAt: 'medium' } });
      try {
        const copy = join(tmp.dir, 'tools-agent-watched');
        cpSync(join(exampleDir('native-python'), 'agent'), copy, { recursive: true });
        chmodTree(copy);
        // Ten denied calls, then a sleep the quarantine must cut short.
        const script = `for i in 1 2 3 4 5 6 7 8 9 10; do /agent/tool.sh delete_everything '{}'; done; sleep 30; echo finished`;
        const policy = { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/agent', host: copy, mode: 'ro' }], toolAccess: { allow: ['classify'] } };
        const agent = await watched.sandbox.loadNative({ command: ['sh', '-c', script], policy, container: { runtime } });
        const t0 = performance.now();
        const run = agent.run('');
        await expect(run).rejects.toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'quarantined', alertType: 'suspicious_resource_access' } });
        expect(performance.now() - t0).toBeLessThan(20_000);
        expect(agent.isQuarantined).toBe(true);
        await expect(agent.run('')).rejects.toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'quarantined' } });
        // Its agent id and its executable stay refused until released.
        await expect(watched.sandbox.loadNative({ command: ['sh', '-c', 'true'], policy, agentId: agent.id, container: { runtime } })).rejects.toMatchObject({ code: 'CAPABILITY_DENIED', details: { reason: 'quarantined' } });
        await expect(watched.sandbox.loadNative({ command: ['sh', '-c', 'true'], policy, container: { runtime } })).rejects.toMatchObject({ code: 'CAPABILITY_DENIED' });
        await watched.sandbox.monitor.settle();
        const [incident] = watched.sandbox.monitor.incidents();
        expect(incident).toMatchObject({ agentId: agent.id, state: 'contained', forensics: 'forensics' });
        const manifest = readFileSync(join(watched.auditDir, 'incidents', incident!.id, 'forensics', 'component.json'), 'utf8');
        expect(manifest).toContain(agent.executable.sha256!);
        await watched.sandbox.monitor.release(agent.id, { by: 'test', reason: 'the denials were the test' });
        const again = await watched.sandbox.loadNative({ command: ['sh', '-c', 'echo ok'], policy, container: { runtime } });
        expect((await again.run('')).output.trim()).toBe('ok');
        await again.close();
        await agent.close();
      } finally {
        await watched.sandbox.close();
      }
    }, 60_000);

    it('seccomp: namespace, ptrace, keyring, bpf, mount, io_uring and TIOCSTI calls fail with EPERM; ordinary work runs', async () => {
      const probe = [
        'import ctypes, errno, fcntl, os, termios',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'def nr(n, *a):',
        '    r = libc.syscall(n, *a); return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]',
        // x86_64 numbers: unshare 272, ptrace 101, keyctl 250, bpf 321, mount 165, io_uring_setup 425, clone3 435
        'print(nr(272, 0x10000000), nr(101, 0, 0, 0, 0), nr(250, 0, 0), nr(321, 0, 0, 0), nr(165, 0, 0, 0, 0, 0), nr(425, 1, 0), nr(435, 0, 0))',
        'try:',
        '    fcntl.ioctl(0, termios.TIOCSTI, b"x"); print("tiocsti ok")',
        'except OSError as e:',
        '    print("tiocsti", errno.errorcode[e.errno])',
        'print(os.fork() and os.wait()[1])',
      ].join('\n');
      const agent = await load({ command: ['python3', '-I', '-c', probe] });
      opened.push(agent);
      const [calls, tiocsti, forked] = (await agent.run('')).output.trim().split('\n');
      if (process.arch === 'x64') expect(calls).toBe('EPERM EPERM EPERM EPERM EPERM EPERM ENOSYS');
      expect(tiocsti).toBe('tiocsti EPERM');
      expect(forked).toBe('0');
      await settle();
      const spawnRecord = audit.find((e) => e.agentId === agent.id && e.type === 'agent_spawn')!;
      expect(spawnRecord.details).toMatchObject({ seccomp: { allowed: expect.any(Number) } });
    });

    it('hostile moves fail and the host is unaffected: /proc/self/exe, sysrq, unshare, release_agent, /tmp fill, sockets out', async () => {
      const server = createServer((_req, res) => res.end('host server'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const probe = [
        'import errno, os, socket, subprocess',
        'def attempt(name, fn):',
        '    try:',
        '        fn(); print(name, "ok")',
        '    except OSError as e:',
        '        print(name, errno.errorcode.get(e.errno, e.errno))',
        'attempt("exe", lambda: open("/proc/self/exe", "r+b"))',
        'attempt("sysrq", lambda: open("/proc/sysrq-trigger", "w").write("c"))',
        'attempt("release_agent", lambda: open("/sys/fs/cgroup/release_agent", "w").write("/x"))',
        'print("unshare", subprocess.run(["unshare", "-Urm", "true"], capture_output=True).returncode != 0)',
        'def fill():',
        '    with open("/tmp/fill", "wb") as f:',
        '        for _ in range(64): f.write(b"x" * (1 << 20)); f.flush()',
        'attempt("tmpfill", fill)',
        'def connect(addr):',
        '    s = socket.socket(socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET); s.settimeout(2); s.connect(addr)',
        'attempt("docker", lambda: connect("/var/run/docker.sock"))',
        'attempt("metadata", lambda: connect(("169.254.169.254", 80)))',
        `attempt("host", lambda: connect(("127.0.0.1", ${port})))`,
        'attempt("dns", lambda: socket.getaddrinfo("example.com", 80))',
      ].join('\n');
      try {
        const agent = await load({ command: ['python3', '-I', '-c', probe], policy: { version: 1, resourceLimits: { diskQuota: '16MiB' } } });
        opened.push(agent);
        const lines = Object.fromEntries((await agent.run('')).output.trim().split('\n').map((l) => l.split(' ') as [string, string]));
        // Under Landlock (bwrap with the exec helper) TCP connects are refused before the network is asked.
        expect(lines).toMatchObject({
          exe: expect.stringMatching(/^E(ACCES|TXTBSY|PERM)$/), sysrq: expect.stringMatching(/^E(ACCES|ROFS|PERM|NOENT)$/), release_agent: 'ENOENT', unshare: 'True', tmpfill: 'ENOSPC', docker: 'ENOENT',
          metadata: expect.stringMatching(/^E(NETUNREACH|ACCES)$/), host: expect.stringMatching(/^E(CONNREFUSED|ACCES)$/),
        });
        expect(lines['dns']).not.toBe('ok');
        // The host's server is there and was not reached from inside.
        expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('host server');
      } finally {
        await new Promise((r) => server.close(r));
      }
    });

    // Landlock is applied by the exec helper under bwrap only (runc loads its seccomp profile first).
    if (runtime === 'bwrap') it('Landlock under the mounts (bwrap with the exec helper): only granted paths, no TCP but the proxy port, recorded', async (ctx) => {
      skipUnless(ctx, needs.execHelper());
      const probe = [
        'import errno, os, socket',
        'def attempt(name, fn):',
        '    try:',
        '        fn(); print(name, "ok")',
        '    except OSError as e:',
        '        print(name, errno.errorcode.get(e.errno, e.errno))',
        'attempt("listroot", lambda: os.listdir("/"))',
        'attempt("readdata", lambda: open("/data/notes.txt").read())',
        'attempt("writeout", lambda: open("/out/landlock-ok", "w").write("x"))',
        'attempt("writedata", lambda: open("/data/new", "w"))',
        'def tcp():',
        '    s = socket.socket(); s.settimeout(2); s.connect(("127.0.0.1", 9))',
        'attempt("tcp", tcp)',
        'def bind():',
        '    s = socket.socket(); s.bind(("127.0.0.1", 8080))',
        'attempt("bind", bind)',
      ].join('\n');
      const agent = await load({ command: ['python3', '-I', '-c', probe], policy: files() });
      opened.push(agent);
      const lines = Object.fromEntries((await agent.run('')).output.trim().split('\n').map((l) => l.split(' ') as [string, string]));
      // Without Landlock: listroot ok, tcp ECONNREFUSED, bind ok; writedata is EROFS from the mount either way.
      expect(lines).toEqual({ listroot: 'EACCES', readdata: 'ok', writeout: 'ok', writedata: expect.stringMatching(/^E(ROFS|ACCES)$/), tcp: 'EACCES', bind: 'EACCES' });
      await settle();
      const spawnRecord = audit.find((e) => e.agentId === agent.id && e.type === 'agent_spawn')!;
      expect((spawnRecord.details as { landlock: string[] }).landlock[0]).toMatch(/^landlock ABI \d+: files only as granted: .*rx \/data.*rw \/out/);
    });

    it('rlimits: 100 open files, no core dumps, maxFileSize as the file size limit', async () => {
      const agent = await sh('ulimit -n; ulimit -c; head -c 5000 /dev/zero > /tmp/big 2>/dev/null; wc -c < /tmp/big', { version: 1, resourceLimits: { maxFileSize: '1KiB' } });
      // The write stops at the limit: the file holds exactly maxFileSize bytes.
      expect((await agent.run('')).output.trim().split('\n')).toEqual(['100', '0', '1024']);
    });

    it('network through the egress proxy: an allowed host answers, a denied one and the metadata address get 403, each decision audited', async (ctx) => {
      skipUnless(ctx, needs.wasmtimeAddon());
      skipWhen(ctx, process.getuid?.() !== 0, 'needs root: the proxy listens inside the sandbox network namespace — run the tests as root, as .ci/run does');
      const server = createServer((req, res) => res.end(`host says ${req.url}`));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const probe = [
        'import urllib.request as u',
        `for url in ["http://127.0.0.1:${port}/ok", "http://evil.test:${port}/x", "http://169.254.169.254/latest", "http://127.1:${port}/spelled"]:`,
        '    try:',
        '        print(u.urlopen(url, timeout=5).read().decode())',
        '    except Exception as e:',
        '        print("ERR", getattr(e, "code", type(e).__name__))',
      ].join('\n');
      try {
        const agent = await load({
          command: ['python3', '-I', '-c', probe],
          policy: { version: 1, capabilities: { allowed: ['network_access'] }, networkRules: { allowedHosts: ['127.0.0.1'], allowedPorts: [port], protocols: ['http'] } },
        });
        opened.push(agent);
        expect((await agent.run('')).output.trim().split('\n')).toEqual(['host says /ok', 'ERR 403', 'ERR 403', 'host says /spelled']);
        await settle();
        const net = audit.filter((e) => e.agentId === agent.id && e.resource === 'network');
        expect(net.map((e) => [e.outcome, e.target])).toEqual([
          ['allowed', `http://127.0.0.1:${port}`],
          ['denied', `http://evil.test:${port}`],
          ['denied', 'http://169.254.169.254'],
          ['allowed', `http://127.0.0.1:${port}`],
        ]);
      } finally {
        await new Promise((r) => server.close(r));
      }
    });

    it('runs a Python program from a mount, with the task as JSON on stdin', async () => {
      const agentDir = join(tmp.dir, 'agent');
      mkdirSync(agentDir);
      chmodSync(agentDir, 0o755);
      writeFileSync(join(agentDir, 'main.py'), 'import json, sys\ntask = json.load(sys.stdin)\nprint(json.dumps({"sum": sum(task["n"])}))\n', { mode: 0o644 });
      const agent = await load({
        command: ['python3', '-I', '/agent/main.py'],
        policy: { version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/agent', host: agentDir, mode: 'ro' }] },
      });
      opened.push(agent);
      expect(JSON.parse((await agent.run(JSON.stringify({ n: [1, 2, 3] }))).output)).toEqual({ sum: 6 });
    });

    it('the native-python example runs under its policy file (copied where nobody may read it)', async () => {
      const copy = join(tmp.dir, 'native-python');
      cpSync(exampleDir('native-python'), copy, { recursive: true });
      chmodTree(copy);
      const agent = await load({ command: ['python3', '-I', '/agent/main.py'], policy: join(copy, 'policy.yaml') });
      opened.push(agent);
      const report = JSON.parse((await agent.run('{"word": "TODO"}')).output);
      expect(report).toEqual({
        word: 'TODO',
        counts: { '/data/done.txt': 0, '/data/plan.txt': 2 }, // data/private/ is masked
        total: 2,
        network: expect.stringMatching(/^unreachable/),
        uid: 65534,
      });
    });
  });

}

/** Make a copied tree usable by others (uid 65534), as a checkout with the usual umask is. */
function chmodTree(dir: string): void {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) chmodTree(p);
    else chmodSync(p, statSync(p).mode & 0o111 ? 0o755 : 0o644);
  }
}
