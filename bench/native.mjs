/**
 * Section: native agents. Spawn-to-exit of `/bin/true` and of `python3 -c pass` through our
 * bubblewrap path (`sandbox.loadNative` + `agent.run`: bwrap as nobody, the pid hold, a cgroup
 * per run, Landlock and seccomp through the exec helper when built, the audit records), beside
 * bare `bwrap` with the same isolation flags and seccomp filter (no cgroup, no hold, no audit,
 * no Landlock) and a plain spawn; as root also our runc path beside a bare `runc run` of the
 * same config (no hook, no cgroup of ours, no audit). Measured in the same run, interleaved.
 *
 *   BENCH_ONLY=native npm run bench      (or: npm run build && node bench/native.mjs)
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSandbox } from '../dist/index.js';
import { baseRootfs, bwrapArgs } from '../dist/container/bwrap.js';
import { NativeFiles } from '../dist/container/native-files.js';
import { ociSpec, writeBundle } from '../dist/container/oci/index.js';
import { RUNC_ROOT } from '../dist/container/runc.js';
import { encodeProgram, programFor, seccompRules } from '../dist/container/seccomp/index.js';
import { validatePolicy } from '../dist/policy/normalize.js';
import { fmtMs, fmtRatio, median, table } from './lib/stats.mjs';

const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

/** Whether a command runs and exits 0. */
function spawnSyncOk(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 });
  return !r.error && r.status === 0;
}

/** Spawn and wait for exit; resolves with the wall time in ms. */
function timed(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'ignore'], ...opts });
    child.stdin.end();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

/** The same isolation flags as our path, with the seccomp filter on fd 3, without the pid hold. */
function bareArgs(files, command) {
  const full = bwrapArgs({ rootfs: baseRootfs(files.etc), mounts: [], env: { PATH: '/usr/bin:/bin' }, cwd: '/tmp', tmpBytes: 64 << 20, fds: { info: 3, block: 4 }, command });
  const at = full.indexOf('--info-fd');
  const args = [...full.slice(0, at), ...full.slice(at + 4)];
  const dash = args.indexOf('--');
  return [...args.slice(0, dash), '--seccomp', '3', ...args.slice(dash)];
}

const FILTER = Buffer.from(encodeProgram(programFor(seccompRules({}))));

/** bare bwrap: the filter goes over a pipe on fd 3, as ours sends it. */
function timedBwrap(args) {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    const child = spawn('bwrap', args, { stdio: ['pipe', 'ignore', 'ignore', 'pipe'], ...asNobody });
    child.stdin.end();
    child.stdio[3].end(FILTER);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`bwrap exited ${code}`))));
  });
}

/** A bare runc bundle of the same policy and command (what `agentos container spec -o` writes). */
async function bareRuncBundle(command) {
  const dir = await mkdtemp(join(tmpdir(), 'agentos-bench-runc-'));
  await chmod(dir, 0o755);
  await writeBundle(join(dir, 'bundle'), ociSpec(validatePolicy({ version: 1 }, { source: 'bench' }).policy, { command, rootfs: 'rootfs' }));
  return { bundle: join(dir, 'bundle'), remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function nativeBench({ quick = false, progress = () => {} } = {}) {
  const n = quick ? 5 : 40;
  const sandbox = createSandbox({ audit: { dir: await mkdtemp(join(tmpdir(), 'agentos-bench-native-')), durability: 'sync' } });
  const files = await NativeFiles.create();
  const programs = [
    { name: '/bin/true', command: ['true'] },
    { name: 'python3 -c pass', command: ['python3', '-I', '-c', 'pass'] },
  ];
  const rows = [];
  const runcRows = [];
  const withRunc = process.getuid?.() === 0 && spawnSyncOk('runc', ['--version']);
  try {
    for (const p of programs) {
      progress(`native: ${p.name} × ${n} (ours, bare bwrap, plain spawn${withRunc ? ', ours on runc, bare runc run' : ''}, interleaved)`);
      const agent = await sandbox.loadNative({ command: p.command });
      const runcAgent = withRunc ? await sandbox.loadNative({ command: p.command, container: { runtime: 'runc' } }) : undefined;
      const bareRunc = withRunc ? await bareRuncBundle(p.command) : undefined;
      const ours = [], bare = [], plain = [], oursRunc = [], bareRuncTimes = [];
      const args = bareArgs(files, p.command);
      for (let i = 0; i < n + 2; i++) {
        const t = performance.now();
        await agent.run('');
        const o = performance.now() - t;
        const b = await timedBwrap(args);
        const s = await timed(p.command[0], p.command.slice(1), { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } });
        let or, br;
        if (runcAgent && bareRunc && i % 4 === 0) {
          const t2 = performance.now();
          await runcAgent.run('');
          or = performance.now() - t2;
          br = await timed('runc', ['--root', RUNC_ROOT, 'run', '--bundle', bareRunc.bundle, `agentos-bench-${process.pid}-${i}`]);
        }
        if (i < 2) continue; // warm-up
        ours.push(o);
        bare.push(b);
        plain.push(s);
        if (or !== undefined) {
          oursRunc.push(or);
          bareRuncTimes.push(br);
        }
      }
      await agent.close();
      await runcAgent?.close();
      await bareRunc?.remove();
      const [mo, mb, ms] = [median(ours), median(bare), median(plain)];
      rows.push([p.name, fmtMs(mo), fmtMs(mb), fmtRatio(mo, mb), fmtMs(ms), fmtRatio(mo, ms)]);
      if (oursRunc.length > 0) {
        const [mor, mbr] = [median(oursRunc), median(bareRuncTimes)];
        runcRows.push([p.name, fmtMs(mor), fmtMs(mbr), fmtRatio(mor, mbr), fmtRatio(mor, mo)]);
      }
    }
  } finally {
    await sandbox.close();
    await files.remove();
  }
  return [
    `## native agents: spawn-to-exit — medians of ${n}, interleaved; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    table(['program', 'ours (loadNative run)', 'bare bwrap', 'ours/bwrap', 'plain spawn', 'ours/plain'], rows, ['l', 'r', 'r', 'r', 'r', 'r']),
    'ours: agent.run of a loaded native agent — bwrap as uid 65534 with every namespace, the pid hold (--info-fd/--block-fd), a cgroup per run (created, attached, killed, removed), the exec helper (rlimits; inside: Landlock, then the seccomp filter) when built, the audit records (durable, sync), stdin/stdout/stderr; bare bwrap: the same isolation flags, rootfs and seccomp filter, nothing else; plain spawn: the program without a sandbox. Target: ours ≤ 1.3× bare bwrap.',
    ...(runcRows.length > 0
      ? [
          '',
          `runc (every 4th iteration: ${Math.ceil(n / 4)} samples):`,
          table(['program', 'ours on runc', 'bare runc run', 'ours/runc', 'ours runc/ours bwrap'], runcRows, ['l', 'r', 'r', 'r', 'r']),
          'ours on runc: agent.run with container: { runtime: "runc" } (the bundle written at load, the createRuntime hold hook, our cgroup, the audit records); bare runc run: the same config (ociSpec of the same policy) run with runc run, no hook.',
        ]
      : ['(runc rows need root and runc)']),
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await nativeBench({ quick: process.env.BENCH_QUICK === '1', progress: (l) => process.stderr.write(`  … ${l}\n`) }));
  process.exit(0);
}
