#!/usr/bin/env node
/**
 * One host lifetime of the soak (started by `soak/run.mjs`, SIGKILLed by it at random moments):
 *
 *   node soak/host.mjs CONFIG.json LIFE
 *
 * Opens one sandbox on the soak's audit directory (the built package, as users use it), loads
 * every agent, and runs each in a loop of its probe until killed or until a `stop` line arrives
 * on stdin (then it closes the sandbox and must exit by itself: a handle left open is a leak).
 *
 * It reports on stdout, one JSON object per line (writes to a pipe are synchronous on Linux, so
 * a line printed is a line the supervisor will read, even if SIGKILL follows at once):
 * - `{t:'start', pid, size}` once the audit chain is open (`size`: records found on disk);
 * - `{t:'loaded'}` once every agent is loaded (before any runs);
 * - `{t:'ready'}` once every agent has finished one iteration (the warm-up);
 * - `{t:'ack', a, n, w0, w, how, res}` per iteration, only once its records are durable:
 *   `how: 'output'` — a run that returned its output, which output commit releases only after
 *   every record so far is durable (nothing extra is awaited here: that is what is tested);
 *   `how: 'waited'` — a failed run or load, acknowledged after `whenDurable(w - 1)`. `w0`/`w` are
 *   the chain's enqueued counts when the iteration started and when it settled;
 * - `{t:'fp', seq, h}` every half second: a fingerprint of the last durable record, whose
 *   `prevHash` pins every record before it;
 * - `{t:'bad', msg}` for a violation only the host can see (a denied tool's handler ran);
 * - `{t:'closed', size}` after a clean close.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { agentIdOf, probeKinds, recordFingerprint, rng } from './probes.mjs';

const [configPath, lifeArg] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const life = Number(lifeArg);
const { createSandbox } = await import(join(config.repo, 'dist', 'index.js'));

const say = (msg) => process.stdout.write(`${JSON.stringify(msg)}\n`);

const random = rng(config.seed * 7919 + life);

const sandbox = createSandbox({
  audit: { dir: config.auditDir, witness: config.witnessDir, durability: config.durability },
  cacheDir: config.cacheDir,
  engine: config.engine,
  hostEnv: { LANG: 'C.UTF-8', SECRET_TOKEN: 'soak-secret-never-shown', HOME: '/root' },
});
sandbox.registerTool('search', (input) => ({ found: input?.q }));
// No policy grants it: a call reaching the handler would be a gate bypass.
sandbox.registerTool('delete_all', () => {
  say({ t: 'bad', msg: 'the handler of delete_all ran although no policy grants it' });
  return 'never';
});
const chain = await sandbox.auditLog();
say({ t: 'start', pid: process.pid, size: chain.size });

const kinds = new Map(probeKinds({ native: config.native, cgroups: config.cgroups }).map((p) => [p.kind, p]));
const env = config.env;
let stopping = false;

function outcome(e, ms) {
  return { ok: false, code: e?.code ?? 'THROWN', message: String(e?.message ?? e).slice(0, 300), details: e?.details && typeof e.details === 'object' ? pick(e.details) : undefined, ms };
}
/** The few details the checks look at (error details may hold agent output). */
function pick(d) {
  const out = {};
  for (const k of ['limit', 'allowed', 'requested']) if (d[k] !== undefined) out[k] = d[k];
  return out;
}

/** Load agent `idx` (a `load` probe has nothing to load up front: each iteration is a load). */
async function setUp({ idx, kind }) {
  const probe = kinds.get(kind);
  const policy = probe.policy(env);
  if (probe.mode === 'native') return sandbox.loadNative({ command: ['sh', '-c', probe.script, config.marker], policy, agentId: agentIdOf(idx, probe) });
  if (probe.mode !== 'load') return sandbox.load(config.components[probe.component], { policy, agentId: agentIdOf(idx, probe) });
  return undefined;
}

/** One agent's loop: iterate its probe until stopped. */
async function agentLoop({ idx, kind }, agent) {
  const probe = kinds.get(kind);
  const policy = probe.policy(env);
  for (let n = 0; !stopping; n++) {
    const ctx = { life, idx, n, env };
    const w0 = chain.enqueued;
    const started = performance.now();
    let res;
    try {
      if (probe.mode === 'load') {
        const a = await sandbox.load(config.components[probe.component], { policy, agentId: agentIdOf(idx, probe) });
        await a.close();
        res = { ok: true, output: 'loaded', ms: performance.now() - started };
      } else {
        const r = await agent.run(probe.task(ctx), probe.runOptions);
        res = { ok: true, output: r.output.slice(0, 4096), runId: r.runId, fuelUsed: r.fuelUsed, ms: performance.now() - started };
      }
    } catch (e) {
      res = outcome(e, performance.now() - started);
    }
    const w = chain.enqueued;
    let how = 'output';
    if (!res.ok) {
      // A failure is not an output: output commit does not hold it back, so wait for its records.
      await chain.whenDurable(w - 1);
      how = 'waited';
    }
    say({ t: 'ack', a: idx, n, w0, w, how, res });
    if (n === 0) warmed(idx);
    const think = probe.think ?? config.thinkMs;
    await new Promise((r) => setTimeout(r, think * (0.5 + random())));
  }
  await agent?.close();
}

const warmedUp = new Set();
function warmed(idx) {
  warmedUp.add(idx);
  if (warmedUp.size === config.agents.length) say({ t: 'ready' });
}

// Fingerprints of the durable tail: the record at `size - 1` carries the hash of all before it.
const fingerprint = setInterval(async () => {
  const size = chain.size;
  if (size === 0) return;
  const r = await chain.read(size - 1).catch(() => undefined);
  if (r) say({ t: 'fp', seq: r.seq, h: recordFingerprint(r) });
}, 500);

// Every agent is loaded before any starts its loop, a few at a time: 200 loads racing each
// other and the first agents' runs took over 30 s on 2 cores (the default time limit of an
// instantiation), which is a start-up stampede, not what the soak is after.
const loaded = new Array(config.agents.length);
const queue = [...config.agents];
await Promise.all(
  Array.from({ length: 8 }, async () => {
    for (let a = queue.shift(); a !== undefined; a = queue.shift()) {
      try {
        loaded[a.idx] = { agent: await setUp(a) };
      } catch (e) {
        loaded[a.idx] = { error: e };
      }
    }
  }),
);
say({ t: 'loaded', agents: config.agents.length });
const loops = config.agents.map(async (a) => {
  const { agent, error } = loaded[a.idx];
  try {
    if (error) throw error;
    await agentLoop(a, agent);
  } catch (e) {
    if (!warmedUp.has(a.idx)) warmed(a.idx); // the others still warm up; this line fails the soak
    say({ t: 'bad', msg: `agent ${a.idx} (${a.kind}) could not start or stopped: ${e?.code ?? ''} ${e?.message ?? e}` });
  }
});

createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line.trim() !== 'stop' || stopping) return;
  stopping = true;
  clearInterval(fingerprint);
  await Promise.all(loops);
  await sandbox.close();
  say({ t: 'closed', size: chain.size });
  // Nothing else: the process must now exit by itself (stdin is closed by the supervisor).
});
