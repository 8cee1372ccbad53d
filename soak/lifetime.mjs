/**
 * One host lifetime, seen from the supervisor: start `soak/host.mjs` as a process-group
 * leader, read its reports, judge each acknowledged iteration against its probe, sample its
 * memory and descriptors from /proc, and end it — with SIGKILL at the planned moment, or, for
 * the last lifetime, with a `stop` line after which it must close and exit by itself.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fdCountOf, fdKinds, rssOf } from './proc.mjs';

const HOST = fileURLToPath(new URL('./host.mjs', import.meta.url));
/** How often RSS and descriptors are sampled. */
const SAMPLE_MS = 500;
/** How long a stopped host may take to finish its iterations, close the sandbox and exit. */
const STOP_GRACE_MS = 30_000;
/** How long a host may take to load every agent and run each once. */
const READY_WITHIN_MS = 120_000;

/**
 * Run lifetime `life`. `plan`: `{ end: 'kill', afterReady: boolean, atMs }` (SIGKILL `atMs` after
 * start, or after `ready` when `afterReady`) or `{ end: 'stop', atMs }` (stop `atMs` after start).
 * Resolves with what happened; violations seen live are passed to `bad`.
 */
export function runLifetime({ life, plan, configPath, tmpDir, agents, judge, bad, log, onStart = () => {} }) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [HOST, configPath, String(life)], {
      detached: true, // its own process group: whatever it leaves behind is findable by pgid
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: tmpDir },
    });
    onStart(child.pid);
    const out = {
      life, pid: child.pid, plan, startedAt: started, startSize: undefined, readyMs: undefined,
      acks: [], fps: [], samples: [], iterations: 0, failedIterations: 0, closedSize: undefined, exit: undefined, stderr: [],
      firstFds: undefined, lastFds: undefined,
    };
    let timer;
    let ended = false;
    const kill = () => {
      if (ended) return;
      ended = true;
      out.ending = 'killed';
      out.lastFds = fdKinds(child.pid);
      sample();
      out.closing = true; // no samples of a dying process
      process.kill(-child.pid, 'SIGKILL');
    };
    const stop = () => {
      if (ended) return;
      ended = true;
      out.ending = 'stopped';
      sample();
      out.closing = true; // the figures are those of the running host, not of its close
      out.lastFds = fdKinds(child.pid);
      child.stdin.end('stop\n');
      timer = setTimeout(() => {
        bad(`lifetime ${life}: the host did not exit within ${STOP_GRACE_MS / 1000} s of a clean stop (${out.closedSize === undefined ? 'close never finished' : 'a handle keeps it alive after close'}); killed`);
        process.kill(-child.pid, 'SIGKILL');
      }, STOP_GRACE_MS);
    };
    const sample = () => {
      const rss = rssOf(child.pid);
      const fds = fdCountOf(child.pid);
      if (rss !== undefined && fds !== undefined && !out.closing) out.samples.push({ t: Date.now() - started, rss, fds });
    };
    const sampler = setInterval(sample, SAMPLE_MS);
    const schedule = (ms, fn) => {
      timer = setTimeout(fn, Math.max(0, ms));
    };
    if (plan.end === 'kill' && !plan.afterReady) schedule(plan.atMs, kill);
    // A host that never warms up is a failure of its own; end it rather than wait for ever.
    if (plan.end === 'kill' && plan.afterReady) {
      schedule(READY_WITHIN_MS, () => {
        bad(`lifetime ${life}: the host did not warm up (every agent loaded and run once) within ${READY_WITHIN_MS / 1000} s`);
        kill();
      });
    }
    if (plan.end === 'stop') schedule(plan.atMs, stop);

    createInterface({ input: child.stdout }).on('line', (line) => {
      let m;
      try {
        m = JSON.parse(line);
      } catch {
        log(`host ${life}: ${line}`);
        return;
      }
      switch (m.t) {
        case 'start':
          out.startSize = m.size;
          break;
        case 'ready':
          out.readyMs = Date.now() - started;
          out.firstFds = fdKinds(child.pid);
          if (plan.end === 'kill' && plan.afterReady) {
            clearTimeout(timer);
            schedule(plan.atMs, kill);
          }
          break;
        case 'ack':
          out.acks.push({ a: m.a, n: m.n, w0: m.w0, w: m.w, how: m.how });
          out.iterations++;
          if (!m.res.ok) out.failedIterations++;
          judge(life, m, agents[m.a]);
          break;
        case 'fp':
          out.fps.push({ seq: m.seq, h: m.h });
          break;
        case 'bad':
          bad(`lifetime ${life}: ${m.msg}`);
          break;
        case 'closed':
          out.closedSize = m.size;
          break;
      }
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      out.stderr.push(line);
      if (out.stderr.length > 40) out.stderr.shift();
    });
    child.on('exit', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(timer);
      out.exit = { code, signal, ms: Date.now() - started };
      if (!ended) bad(`lifetime ${life}: the host exited by itself (code ${code}, signal ${signal}) after ${out.exit.ms} ms: ${out.stderr.slice(-8).join(' | ')}`);
      else if (out.ending === 'stopped' && (code !== 0 || out.closedSize === undefined)) bad(`lifetime ${life}: the host did not close cleanly (code ${code}, signal ${signal}): ${out.stderr.slice(-8).join(' | ')}`);
      // 'close' follows once stdout and stderr are drained: every line printed has been read.
    });
    child.on('close', () => resolve(out));
  });
}
