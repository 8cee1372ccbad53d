/**
 * Every system call the seccomp filter denies a native agent lands in the audit chain
 * (SECCOMP_RET_USER_NOTIF: the exec helper inside bwrap hands the filter's listener to the
 * host, the addon answers EPERM and reports each call). Real bwrap, real python and sh agents:
 * the agent sees EPERM exactly as with the EPERM filter, each denied call is one
 * `capability_denied` record with the call's name and the run's correlation id, a flood of
 * denied calls ends (capped records, one summary) while the host stays responsive, ordinary
 * programs run, nothing leaks, and a policy the helper cannot hand the listener under falls
 * back to the EPERM filter and says so. Also the addon's watch and the helper's flag alone.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditEvent, NativeAgent } from '../../dist/index.js';
import type { AuditRecord } from '../../dist/audit/record.js';
import { findExecHelper } from '../../src/container/exec-helper.js';
import { landlockAbi } from '../../src/container/landlock.js';
import { DEFAULT_ALLOWED_SYSCALLS, hostSeccompArch, seccompFilter, SYSCALLS } from '../../src/container/seccomp/index.js';
import type { SeccompNotice, WatchSeccomp } from '../../src/container/syscall-audit.js';
import { wasmtimeAddonPath } from '../../src/engine/wasmtime/addon.js';
import { needs, type Requirement } from '../helpers/requirements.js';
import { recordingSandbox } from '../helpers/sandbox.js';
import { describeNeeds } from '../helpers/skip.js';

const arch = hostSeccompArch();
const table = arch ? SYSCALLS[arch] : {};

/** The addon's watchSeccomp, if the built addon has it. */
function addonWatch(): WatchSeccomp | undefined {
  try {
    const addon = createRequire(import.meta.url)(wasmtimeAddonPath()) as { watchSeccomp?: WatchSeccomp };
    return typeof addon.watchSeccomp === 'function' ? addon.watchSeccomp : undefined;
  } catch {
    return undefined;
  }
}

const watchSeccomp = addonWatch();
const watchReq: Requirement = {
  id: 'seccomp-watch', ok: watchSeccomp !== undefined && arch !== undefined, what: "the addon's watchSeccomp (x86_64 or aarch64)",
  reason: watchSeccomp === undefined ? 'the wasmtime addon is not built, or predates watchSeccomp' : `no seccomp table for ${process.arch}`, enable: 'npm run build:native',
};
const abi = landlockAbi();
const landlockReq: Requirement = {
  id: 'landlock', ok: (abi ?? 0) >= 1, what: 'Landlock (the exec helper runs inside the sandbox only with it)',
  reason: abi === undefined ? 'the exec helper is not built' : 'this kernel has no Landlock', enable: 'a kernel with Landlock enabled (lsm=landlock,…), and npm run build:native',
};

/** A python probe: `nr(n, *args)` prints the errno name of a raw system call (or ok). */
const PY = ['import ctypes, errno, fcntl, os, sys, termios', 'libc = ctypes.CDLL(None, use_errno=True)', 'def nr(n, *a):', '    r = libc.syscall(n, *a); return "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()]'];

const threads = () => readdirSync('/proc/self/task').length;
const fds = () => readdirSync('/proc/self/fd').length;

describeNeeds([needs.bwrap(), needs.execHelper(), watchReq, landlockReq], 'denied system calls in the audit chain (bwrap, SECCOMP_RET_USER_NOTIF)', () => {
  const { sandbox, audit } = recordingSandbox();
  const opened: NativeAgent[] = [];
  const load = async (command: string[], policy: Record<string, unknown> = { version: 1 }) => {
    const agent = await sandbox.loadNative({ command, policy });
    opened.push(agent);
    return agent;
  };
  afterAll(async () => {
    await Promise.all(opened.map((a) => a.close()));
    await sandbox.close();
  });
  const syscallRecords = (agentId: string): AuditEvent[] => audit.filter((e) => e.agentId === agentId && e.api === 'agentos:seccomp#deny');
  /** The chain's records of this run (read back from the store). */
  const chainRecords = async (runId: string): Promise<AuditRecord[]> => {
    const chain = (await sandbox.auditLog())!;
    await chain.drain();
    const out: AuditRecord[] = [];
    for (let s = 0; s < chain.size; s++) {
      const r = await chain.read(s);
      if (r?.provenance?.correlationId === runId) out.push(r);
    }
    return out;
  };

  it('unshare, ptrace, keyctl, bpf, mount and TIOCSTI fail with EPERM as before, and each is one capability_denied record of the run', async () => {
    const probe = [
      ...PY,
      `print(nr(${table['unshare']}, 0x10000000), nr(${table['ptrace']}, 0, 0, 0, 0), nr(${table['keyctl']}, 0, 0), nr(${table['bpf']}, 0, 0, 0), nr(${table['mount']}, 0, 0, 0, 0, 0), nr(${table['clone3']}, 0, 0))`,
      'try:',
      '    fcntl.ioctl(0, termios.TIOCSTI, b"x"); print("tiocsti ok")',
      'except OSError as e:',
      '    print("tiocsti", errno.errorcode[e.errno])',
      'sys.stdout.flush()',
      'print(os.fork() and os.wait()[1])',
    ].join('\n');
    const agent = await load(['python3', '-I', '-c', probe]);
    const run = await agent.run('');
    // The forked child prints its own line too.
    expect(run.output.trim().split('\n')).toEqual(['EPERM EPERM EPERM EPERM EPERM ENOSYS', 'tiocsti EPERM', '0', '0']);
    const spawnRecord = audit.find((e) => e.agentId === agent.id && e.type === 'agent_spawn')!;
    expect(spawnRecord.details).toMatchObject({ seccomp: { recorded: 'per call' } });
    const records = syscallRecords(agent.id);
    // clone3's ENOSYS is libc's fallback signal, not a denial: it stays in the kernel.
    expect(records.map((e) => e.target)).toEqual(['unshare', 'ptrace', 'keyctl', 'bpf', 'mount', 'ioctl']);
    for (const e of records) expect(e).toMatchObject({ type: 'capability_denied', capability: 'syscall', resource: 'system', outcome: 'denied', details: { errno: 'EPERM', arch } });
    expect(records[0]!.details).toMatchObject({ syscall: 'unshare', nr: table['unshare'], rule: 'seccomp:always-denied', args: expect.arrayContaining(['0x10000000']) });
    expect(records[0]!.reason).toMatch(/^seccomp denied unshare: unshare is always denied/);
    expect(records[5]!.details).toMatchObject({ rule: 'seccomp:ioctl-request' });
    expect(records[5]!.reason).toContain('TIOCSTI');
    // In the chain, in the run's correlation, before the run's end.
    const inChain = await chainRecords(run.runId);
    const denied = inChain.filter((r) => r.details?.['api'] === 'agentos:seccomp#deny');
    expect(denied.map((r) => [r.eventType, r.resource])).toEqual(records.map((e) => ['capability_denied', e.target]));
    const types = inChain.map((r) => r.eventType);
    expect(types[0]).toBe('agent_spawn');
    expect(types.at(-1)).toBe('agent_terminate');
  });

  it('an agent that makes 10,000 denied calls finishes, the host stays responsive, the records stop at 100 and one summary counts the rest', async () => {
    const probe = [...PY, 'c = sum(1 for _ in range(10000) if nr(' + table['ptrace'] + ', 0, 0, 0, 0) == "EPERM")', 'print(c)'].join('\n');
    const agent = await load(['python3', '-I', '-c', probe]);
    let maxGap = 0;
    let last = performance.now();
    const tick = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    let run;
    try {
      run = await agent.run('', { timeout: '60s' });
    } finally {
      clearInterval(tick);
    }
    expect(run.output.trim()).toBe('10000');
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(maxGap).toBeLessThan(1000);
    const records = syscallRecords(agent.id);
    const single = records.filter((e) => e.target !== 'syscalls');
    expect(single).toHaveLength(100);
    expect(single.every((e) => e.target === 'ptrace')).toBe(true);
    const summary = records.filter((e) => e.target === 'syscalls');
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatchObject({ type: 'capability_denied', count: 9900, details: { total: 10000, recorded: 100, notRecorded: 9900, bySyscall: { ptrace: 10000 } } });
    const inChain = await chainRecords(run.runId);
    expect(inChain.filter((r) => r.details?.['api'] === 'agentos:seccomp#deny')).toHaveLength(101);
  });

  it('ordinary programs run (sh, python with subprocesses, threads and sockets); each run has its own records; no thread or descriptor is left behind', async () => {
    const sh = await load(['sh', '-c', 'read t; echo "got $t"; ls / | wc -l; cat /etc/passwd | head -1 >/dev/null; echo done']);
    const py = await load(['python3', '-I', '-c', [...PY,
      'import json, subprocess, threading, socket, tempfile',
      't = threading.Thread(target=lambda: None); t.start(); t.join()',
      'a, b = socket.socketpair(); a.send(b"x"); assert b.recv(1) == b"x"',
      'with tempfile.NamedTemporaryFile() as f: f.write(b"y")',
      'print(json.dumps({"sub": subprocess.run(["echo", "sub"], capture_output=True, text=True).stdout.strip(), "ptrace": nr(' + table['ptrace'] + ', 0, 0, 0, 0)}))'].join('\n')]);
    // Warm up (the addon, libuv's threads), then count.
    await sh.run('x');
    await py.run('');
    const before = { threads: threads(), fds: fds() };
    for (let i = 0; i < 3; i++) {
      expect((await sh.run('hi')).output).toMatch(/^got hi\n\d+\ndone\n$/);
      const r = await py.run('');
      expect(JSON.parse(r.output)).toEqual({ sub: 'sub', ptrace: 'EPERM' });
      const mine = (await chainRecords(r.runId)).filter((x) => x.details?.['api'] === 'agentos:seccomp#deny');
      expect(mine.map((x) => x.resource)).toEqual(['ptrace']);
    }
    expect(syscallRecords(sh.id)).toEqual([]);
    // Watch threads end with their sandbox; give the last one a moment.
    for (let i = 0; i < 50 && threads() > before.threads; i++) await new Promise((r) => setTimeout(r, 20));
    expect({ threads: threads(), fds: fds() }).toEqual(before);
  });

  it("a policy whose allowedSyscalls lacks sendmsg keeps the EPERM filter, records nothing per call, and says why", async () => {
    const list = DEFAULT_ALLOWED_SYSCALLS.filter((n) => table[n] !== undefined && n !== 'sendmsg');
    const agent = await load(['python3', '-I', '-c', [...PY, `print(nr(${table['ptrace']}, 0, 0, 0, 0))`].join('\n')], { version: 1, allowedSyscalls: list });
    expect((await agent.run('')).output.trim()).toBe('EPERM');
    const spawnRecord = audit.find((e) => e.agentId === agent.id && e.type === 'agent_spawn')!;
    expect((spawnRecord.details as { seccomp: { recorded: string } }).seccomp.recorded).toMatch(/^not recorded \(.*sendmsg/);
    expect(syscallRecords(agent.id)).toEqual([]);
  });
});

describeNeeds([watchReq, needs.execHelper()], "the addon's watchSeccomp and the helper's --seccomp-notify-fd, without a sandbox", () => {
  /** The helper with the notify filter and a channel; resolves the notices and the exit code. */
  const runHelper = (args: string[], program: string[], filter: Uint8Array | undefined) =>
    new Promise<{ code: number | null; notices: SeccompNotice[]; stderr: string }>((resolve, reject) => {
      const child = spawn(findExecHelper()!, [...args, '--', ...program], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const bytes = child.stdio[3] as NodeJS.WritableStream;
      bytes.on('error', () => {});
      if (filter) bytes.end(Buffer.from(filter));
      else bytes.end();
      const notices: SeccompNotice[] = [];
      let code: number | null | undefined;
      let ended = false;
      const done = () => code !== undefined && ended && resolve({ code, notices, stderr });
      const sock = child.stdio[4] as unknown as { _handle: { fd: number }; destroy(): void };
      watchSeccomp!(sock._handle.fd, (n) => {
        notices.push(n);
        if (n.kind === 'end') {
          ended = true;
          done();
        }
      });
      sock.destroy();
      child.on('error', reject);
      child.on('close', (c) => {
        code = c;
        done();
      });
    });

  it('the helper hands over the listener; denied calls answer EPERM and are reported with their number and arguments', async () => {
    const filter = seccompFilter({ denied: 'notify' });
    const r = await runHelper(['--seccomp-fd', '3', '--seccomp-notify-fd', '4'], ['python3', '-I', '-c', [...PY, `print(nr(${table['keyctl']}, 7, 0))`, 'sys.exit(0 if nr(' + table['keyctl'] + ', 7, 0) == "EPERM" else 3)'].join('\n')], filter);
    expect(r.code).toBe(0);
    const calls = r.notices.filter((n) => n.kind === 'call');
    expect(calls.map((n) => n.nr)).toEqual([table['keyctl'], table['keyctl']]);
    expect(calls[0]!.args![0]).toBe('0x7');
    expect(r.notices.at(-1)).toMatchObject({ kind: 'end', reason: 'exited', total: 2, dropped: 0, counts: [{ nr: table['keyctl'], count: 2 }] });
  });

  it('without a filter to load the helper refuses the flag; a channel that closes without a listener ends the watch', async () => {
    const r = await runHelper(['--seccomp-notify-fd', '4'], ['true'], undefined);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('--seccomp-notify-fd needs --seccomp-fd');
    expect(r.notices).toEqual([expect.objectContaining({ kind: 'end', reason: 'closed', total: 0 })]);
  });

  it('the helper exits 125 before exec when the notify descriptor is not a socket', async () => {
    const child = spawn(findExecHelper()!, ['--seccomp-fd', '3', '--seccomp-notify-fd', '0', '--', 'true'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    (child.stdio[3] as NodeJS.WritableStream).end(Buffer.from(seccompFilter({ denied: 'notify' })));
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await new Promise((r) => child.on('close', r));
    expect(code).toBe(125);
    expect(stderr).toContain('descriptor 0 is not a socket');
  });

  it('watchSeccomp refuses what is not a socket; stop() ends a watch that is still waiting; a stray descriptor is refused', async () => {
    expect(() => watchSeccomp!(-1, () => {})).toThrow();
    const file = openSync('/dev/null', 'r');
    try {
      expect(() => watchSeccomp!(file, () => {})).toThrow(/not a socket/);
    } finally {
      closeSync(file);
    }
    const before = threads();
    const beforeFds = fds();
    const child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    const sock = child.stdio[3] as unknown as { _handle: { fd: number }; destroy(): void };
    const end = new Promise<SeccompNotice>((resolve) => {
      const w = watchSeccomp!(sock._handle.fd, (n) => {
        if (n.kind !== 'end') return;
        w.stop(); // releases its eventfd
        resolve(n);
      });
      setTimeout(() => w.stop(), 50);
    });
    sock.destroy();
    expect(await end).toMatchObject({ kind: 'end', reason: 'stopped', total: 0 });
    child.kill('SIGKILL');
    for (let i = 0; i < 50 && threads() > before; i++) await new Promise((r) => setTimeout(r, 20));
    expect(threads()).toBe(before);
    expect(fds()).toBe(beforeFds);
  });
});

describe('syscall audit naming', () => {
  it('names calls from the tables and says which rule denied them', async () => {
    const { syscallName, deniedRule } = await import('../../src/container/syscall-audit.js');
    const { AUDIT_ARCH, seccompRules } = await import('../../src/container/seccomp/index.js');
    expect(syscallName(AUDIT_ARCH.x86_64, 101)).toBe('ptrace');
    expect(syscallName(AUDIT_ARCH.aarch64, 117)).toBe('ptrace');
    expect(syscallName(AUDIT_ARCH.i386, 26)).toBe('syscall_26');
    const rules = seccompRules({ arch: 'x86_64' });
    expect(deniedRule(rules, 'mount', [], false).id).toBe('seccomp:always-denied');
    expect(deniedRule(rules, 'clone', ['0x10000011'], false).id).toBe('seccomp:clone-namespace');
    expect(deniedRule(rules, 'socket', ['0x10'], false)).toMatchObject({ id: 'seccomp:socket-family', reason: expect.stringContaining('family 16') });
    expect(deniedRule(rules, 'ioctl', ['0x0', '0x541c'], false).reason).toContain('TIOCLINUX');
    expect(deniedRule(rules, 'prctl', [], false).id).toBe('seccomp:not-in-default');
    expect(deniedRule(seccompRules({ arch: 'x86_64', allowedSyscalls: ['read'] }), 'write', [], true).id).toBe('seccomp:not-in-policy');
  });
});
