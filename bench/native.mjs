/**
 * Section: native agents. Spawn-to-exit of `/bin/true` and of `python3 -c pass` through our
 * bubblewrap path (`sandbox.loadNative` + `agent.run`: bwrap as nobody, the pid hold, a cgroup
 * per run, the audit records), beside bare `bwrap` with the same isolation flags (no cgroup,
 * no hold, no audit) and a plain spawn, measured in the same run, interleaved.
 *
 *   BENCH_ONLY=native npm run bench      (or: npm run build && node bench/native.mjs)
 */
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createSandbox } from '../dist/index.js';
import { baseRootfs, bwrapArgs } from '../dist/container/bwrap.js';
import { NativeFiles } from '../dist/container/native-files.js';
import { fmtMs, fmtRatio, median, table } from './lib/stats.mjs';

const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

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

/** The same isolation flags as our path, without the pid hold (no --info-fd/--block-fd). */
function bareArgs(files, command) {
  const full = bwrapArgs({ rootfs: baseRootfs(files.etc), mounts: [], env: { PATH: '/usr/bin:/bin' }, cwd: '/tmp', tmpBytes: 64 << 20, fds: { info: 3, block: 4 }, command });
  const at = full.indexOf('--info-fd');
  return [...full.slice(0, at), ...full.slice(at + 4)];
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
  try {
    for (const p of programs) {
      progress(`native: ${p.name} × ${n} (ours, bare bwrap, plain spawn, interleaved)`);
      const agent = await sandbox.loadNative({ command: p.command });
      const ours = [];
      const bare = [];
      const plain = [];
      const args = bareArgs(files, p.command);
      for (let i = 0; i < n + 2; i++) {
        const t = performance.now();
        await agent.run('');
        const o = performance.now() - t;
        const b = await timed('bwrap', args, asNobody);
        const s = await timed(p.command[0], p.command.slice(1), { env: { PATH: '/usr/local/bin:/usr/bin:/bin' } });
        if (i < 2) continue; // warm-up
        ours.push(o);
        bare.push(b);
        plain.push(s);
      }
      await agent.close();
      const [mo, mb, ms] = [median(ours), median(bare), median(plain)];
      rows.push([p.name, fmtMs(mo), fmtMs(mb), fmtRatio(mo, mb), fmtMs(ms), fmtRatio(mo, ms)]);
    }
  } finally {
    await sandbox.close();
    await files.remove();
  }
  return [
    `## native agents: spawn-to-exit — medians of ${n}, interleaved; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    table(['program', 'ours (loadNative run)', 'bare bwrap', 'ours/bwrap', 'plain spawn', 'ours/plain'], rows, ['l', 'r', 'r', 'r', 'r', 'r']),
    'ours: agent.run of a loaded native agent — bwrap as uid 65534 with every namespace, the pid hold (--info-fd/--block-fd), a cgroup per run (created, attached, killed, removed), the audit records (durable, sync), stdin/stdout/stderr; bare bwrap: the same isolation flags and rootfs, nothing else; plain spawn: the program without a sandbox. Target: ours ≤ 1.3× bare bwrap.',
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await nativeBench({ quick: process.env.BENCH_QUICK === '1', progress: (l) => process.stderr.write(`  … ${l}\n`) }));
  process.exit(0);
}
