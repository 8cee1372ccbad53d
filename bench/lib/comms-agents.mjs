/**
 * Guest-side measurements of section `comms` (bench/comms.mjs), with the StarlingMonkey fixture
 * `commsprobe` (its JSON task language: see the header of test/fixtures/agents/commsprobe.js).
 * A guest cannot time its own steps, so every figure is (time of one run of N steps) / N.
 *
 * - a pair of agents, A and B, in one sandbox or in two sandboxes joined by NATS;
 * - roundTrips: B runs `echo-serve` N while A runs N × (send to B, receive), timed on A's run;
 * - perCall: N × one step (`peers`, a send to an unknown id, kv.set, kv.get, or an unknown op
 *   that the guest answers without a host call) in one run;
 * - natsServer: a nats-server of our own on a free loopback port, when one is on PATH.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { createSandbox } from '../../dist/index.js';
import { REPO } from './agents.mjs';

export const COMMSPROBE = join(REPO, 'test', 'fixtures', 'build', 'commsprobe.wasm');
const SOURCE = join(REPO, 'test', 'fixtures', 'agents', 'commsprobe.js');
const BODY = 'x'.repeat(1024);

/** The fixture's path, built with our CLI when missing. */
export function commsprobe(progress) {
  if (existsSync(COMMSPROBE)) return COMMSPROBE;
  progress('comms: building the commsprobe fixture (StarlingMonkey)');
  const r = spawnSync(process.execPath, [join(REPO, 'dist', 'cli', 'main.js'), 'build', SOURCE, '-o', COMMSPROBE], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building commsprobe failed:\n${r.stderr}`);
  return COMMSPROBE;
}

export const POLICY = { version: 1, agent: { type: 'a' }, capabilities: { allowed: ['messaging', 'storage'] }, messaging: { peers: ['*'] } };

/** Run a task (steps) on an agent; the parsed per-step results. */
async function steps(agent, list) {
  return JSON.parse((await agent.run(JSON.stringify(list), { timeout: 600_000 })).output);
}

/** Load the fixture into `sandbox` with the bench policy on its own thread. */
export function loadProbe(sandbox, wasm) {
  return sandbox.load(wasm, { policy: POLICY, isolation: 'thread' });
}

/**
 * A and B in one sandbox (`shared`), or each in its own (`options` given twice, e.g. NATS).
 * Returns `{ a, b, close }`.
 */
export async function agentPair(wasm, optionsA, optionsB) {
  const sa = createSandbox(optionsA);
  const sb = optionsB ? createSandbox(optionsB) : sa;
  const a = await loadProbe(sa, wasm);
  const b = await loadProbe(sb, wasm);
  const close = async () => {
    await sa.close();
    if (sb !== sa) await sb.close();
  };
  return { a, b, close };
}

/** Wait until A's `peers` lists B (announcements over a broker take a moment). */
export async function waitForPeer(a, b, timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const [list] = await steps(a, [{ op: 'peers' }]);
    if (list.some((p) => p.id === b.id)) return;
    if (Date.now() > until) throw new Error(`agent ${b.id} did not appear among ${a.id}'s peers within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One timed run of n round trips A → B → A; ms per round trip. */
export async function roundTrips(a, b, n) {
  const serving = steps(b, [{ op: 'echo-serve', count: n, timeout: 10_000 }]);
  serving.catch(() => {}); // awaited below; A failing first must not leave it unhandled
  const task = [];
  for (let i = 0; i < n; i++) task.push({ op: 'send', to: b.id, body: BODY }, { op: 'receive', timeout: 10_000 });
  const t0 = performance.now();
  const out = await steps(a, task);
  const ms = (performance.now() - t0) / n;
  const [served] = await serving;
  for (let i = 0; i < out.length; i += 2) {
    if (!out[i].ok) throw new Error(`send ${i / 2} failed: ${JSON.stringify(out[i])}`);
    const m = out[i + 1].ok;
    if (!m || m.body !== `echo:${BODY}` || m.replyTo !== out[i].ok) throw new Error(`receive ${i / 2}: ${JSON.stringify(out[i + 1]).slice(0, 200)}`);
  }
  if (served.ok !== n) throw new Error(`echo-serve served ${JSON.stringify(served)} of ${n}`);
  return ms;
}

/** The C probe (`commsc`, on guest/c/agentos.h): built by the test setup, else the committed one. */
export function commsc() {
  const built = join(REPO, 'test', 'fixtures', 'build', 'commsc.wasm');
  return existsSync(built) ? built : join(REPO, 'test', 'fixtures', 'prebuilt', 'commsc.wasm');
}

/**
 * One timed run of n round trips A → B → A with the C probe (text commands, no JSON: the
 * leanest guest, so the figure is the runtime's); ms per round trip.
 */
export async function roundTripsC(a, b, n) {
  const serving = b.run(Array.from({ length: n }, () => `recv 10000\nreply - ${BODY}`).join('\n'), { timeout: 600_000 });
  serving.catch(() => {});
  const task = Array.from({ length: n }, () => `send ${b.id} ${BODY}\nrecv 10000`).join('\n');
  const t0 = performance.now();
  const out = (await a.run(task, { timeout: 600_000 })).output.trim().split('\n');
  const ms = (performance.now() - t0) / n;
  const served = (await serving).output.trim().split('\n');
  const bad = [...out, ...served].find((l) => !l.startsWith('ok '));
  if (bad !== undefined || out.length !== 2 * n) throw new Error(`C round trips: ${bad ?? `${out.length} lines for ${n}`}`);
  for (let i = 0; i < n; i++) if (!out[2 * i + 1].endsWith(` ${BODY}`)) throw new Error(`C round trip ${i}: ${out[2 * i + 1].slice(0, 120)}`);
  return ms;
}

/** One timed run of n × `peers` with the C probe; ms per call. */
export async function perCallC(agent, n) {
  const t0 = performance.now();
  const out = (await agent.run(Array.from({ length: n }, () => 'peers').join('\n'), { timeout: 600_000 })).output.trim().split('\n');
  const ms = (performance.now() - t0) / n;
  if (out.length !== n || out.some((l) => !l.startsWith('ok'))) throw new Error(`C peers: ${out.find((l) => !l.startsWith('ok'))}`);
  return ms;
}

/** The steps of a per-call run, by name. */
export const STEPS = {
  // An op the probe does not know: parsed and answered inside the guest, no host call.
  guestOnly: () => ({ op: 'bench-none', body: BODY }),
  peers: () => ({ op: 'peers' }),
  sendUnknown: () => ({ op: 'send', to: 'nobody-at-all', body: BODY }),
  kvSet: (i) => ({ op: 'kv.set', key: `key-${i % 1000}`, value: 'v'.repeat(256) }),
  kvGet: (i) => ({ op: 'kv.get', key: `key-${i % 1000}` }),
};

/** Expected outcome of one step of a per-call run (a sanity check on every result). */
const EXPECT = {
  guestOnly: (r) => r.err?.tag === 'usage',
  peers: (r) => Array.isArray(r) && r.length >= 1,
  sendUnknown: (r) => r.err?.tag === 'not-found',
  kvSet: (r) => r.ok === null,
  kvGet: (r) => r.ok === 'v'.repeat(256),
};

/** One timed run of n × one kind of step; ms per step. */
export async function perCall(agent, kind, n) {
  const task = Array.from({ length: n }, (_, i) => STEPS[kind](i));
  const t0 = performance.now();
  const out = await steps(agent, task);
  const ms = (performance.now() - t0) / n;
  const bad = out.findIndex((r) => !EXPECT[kind](r));
  if (bad >= 0) throw new Error(`${kind} step ${bad}: ${JSON.stringify(out[bad]).slice(0, 200)}`);
  return ms;
}

// ---- nats-server ----------------------------------------------------------------------------

/** Whether `nats-server` is on PATH (its version line, or undefined). */
export function natsServerVersion() {
  const r = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const c = tcpConnect(port, '127.0.0.1');
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
}

/** Start nats-server on a free loopback port: `{ url, stop }`. */
export async function natsServer() {
  const port = await freePort();
  const child = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const exited = new Promise((r) => child.once('exit', r));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  const until = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > until) {
      await stop();
      throw new Error(`nats-server did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return { url: `nats://127.0.0.1:${port}`, stop };
}
