#!/usr/bin/env node
/**
 * The soak with faults (`npm run soak`): many agents on one sandbox — benign work and every
 * hostile probe of the test suite — for minutes, while the host process is SIGKILLed at random
 * moments and restarted on the same audit directory. After every lifetime it checks that the
 * audit chain verifies and holds every acknowledged record, that every hostile call was denied
 * (and recorded), that limits held, that RSS and open descriptors stayed within their bounds,
 * and that nothing was left behind: processes, temporary directories, cgroups.
 *
 *   node soak/run.mjs            (npm run soak builds first)
 *
 * Environment:
 * - SOAK_MINUTES (5), SOAK_AGENTS (200), SOAK_SEED (random, printed: the same seed makes the same
 *   agents and the same kill plan; moments still depend on the machine's speed);
 * - SOAK_ENGINE (jco | wasmtime), SOAK_NATIVE (auto | 1 | 0: native agents under bubblewrap),
 *   SOAK_THINK_MS (400: mean pause between an agent's iterations);
 * - SOAK_RSS_SLACK_MIB (64), SOAK_FD_SLACK (16): the leak bounds, from SOAK_WARMUP_S (30) after
 *   every agent has run once (the heap climbs for about that long) to the end of a lifetime;
 * - SOAK_FINAL_S (the last lifetime, never killed: max(60, a quarter of the soak)), SOAK_MIN_KILLS
 *   (0: kill at least this often before the last lifetime, even past SOAK_MINUTES);
 * - SOAK_CACHE_DIR, SOAK_KEEP=1 (keep the run directory), SOAK_STRICT=1 (known gaps fail),
 *   SOAK_DURABILITY (commit: the host's audit durability; `sync` or `async` to compare — with
 *   `async` a kill may lose records of outputs already returned, which the checks report when a
 *   kill lands in that window of a few milliseconds).
 *
 * The last line printed is `SOAK_RESULT <json>`. Exit status 0 when every check held, 1 on any
 * violation (each named), 2 on bad settings.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkLog, newLogState } from './checks.mjs';
import { resolveComponents } from './components.mjs';
import { runLifetime } from './lifetime.mjs';
import { listTree, waitNoLeftovers } from './proc.mjs';
import { assignProbes, probeKinds, rng } from './probes.mjs';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;

function settings(env) {
  const num = (name, dflt, ok = (v) => v > 0) => {
    const raw = env[name];
    const v = raw === undefined || raw === '' ? dflt : Number(raw);
    if (!Number.isFinite(v) || !ok(v)) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
    return v;
  };
  const engine = env.SOAK_ENGINE || 'jco';
  if (engine !== 'jco' && engine !== 'wasmtime') throw new Error(`SOAK_ENGINE must be jco or wasmtime, got ${JSON.stringify(engine)}`);
  const native = env.SOAK_NATIVE || 'auto';
  if (!['auto', '1', '0'].includes(native)) throw new Error(`SOAK_NATIVE must be auto, 1 or 0, got ${JSON.stringify(native)}`);
  return {
    minutes: num('SOAK_MINUTES', 5),
    agents: Math.floor(num('SOAK_AGENTS', 200)),
    seed: Math.floor(num('SOAK_SEED', Date.now() % 2 ** 31, (v) => v >= 0)),
    engine,
    native,
    thinkMs: num('SOAK_THINK_MS', 400),
    rssSlack: num('SOAK_RSS_SLACK_MIB', 64) * MiB,
    fdSlack: num('SOAK_FD_SLACK', 16, (v) => v >= 0),
    warmupMs: num('SOAK_WARMUP_S', 30, (v) => v >= 0) * 1000,
    cacheDir: env.SOAK_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'agent-os-sandbox'),
    finalMs: env.SOAK_FINAL_S ? num('SOAK_FINAL_S', 0) * 1000 : undefined,
    minKills: Math.floor(num('SOAK_MIN_KILLS', 0, (v) => v >= 0)),
    durability: env.SOAK_DURABILITY || 'commit',
    keep: env.SOAK_KEEP === '1',
    strict: env.SOAK_STRICT === '1',
  };
}

/** Native agents need bubblewrap able to make a sandbox here; their limit probes need writable memory and pids cgroups. */
async function nativeSupport(mode) {
  if (mode === '0') return { native: false, cgroups: false, why: 'SOAK_NATIVE=0' };
  const r = spawnSync('bwrap', ['--unshare-all', '--ro-bind', '/', '/', '--', '/bin/true'], { stdio: 'ignore', timeout: 20_000 });
  const bwrap = r.error === undefined && r.status === 0;
  if (!bwrap) {
    if (mode === '1') throw new Error('SOAK_NATIVE=1 but bubblewrap cannot make a sandbox here (apt-get install bubblewrap)');
    return { native: false, cgroups: false, why: 'bubblewrap is not usable here' };
  }
  const { detectCgroups } = await import(join(REPO, 'dist', 'container', 'cgroups', 'index.js'));
  const layout = detectCgroups();
  const cgroups = ['memory', 'pids'].every((c) => layout.controllers.get(c)?.writable);
  return { native: true, cgroups, layout, why: cgroups ? '' : 'no writable memory and pids cgroups: native limit probes left out' };
}

/** The directory tree the agents work on (mounts), the audit log, the witness and the host's TMPDIR. */
function prepareRun() {
  const dir = mkdtempSync(join(tmpdir(), 'agentos-soak-'));
  chmodSync(dir, 0o755); // native agents run as uid 65534 and must reach their mounts
  const p = (...parts) => join(dir, ...parts);
  for (const d of ['ws/src', 'ws/.git', 'scratch', 'outside', 'data/secret', 'audit', 'witness', 'tmp']) mkdirSync(p(d), { recursive: true });
  writeFileSync(p('ws/src/a.ts'), 'const a = 1;\n');
  writeFileSync(p('ws/.env'), 'SECRET=1\n');
  writeFileSync(p('ws/.git/config'), 'git\n');
  writeFileSync(p('outside/secret.txt'), 'outside secret\n');
  symlinkSync(p('outside/secret.txt'), p('ws/src/escape.ts'));
  writeFileSync(p('data/notes.txt'), 'hello native\n', { mode: 0o644 });
  writeFileSync(p('data/secret/key'), 'top secret\n', { mode: 0o644 });
  for (const d of ['data', 'data/secret']) chmodSync(p(d), 0o755);
  return { dir, ws: p('ws'), scratch: p('scratch'), data: p('data'), audit: p('audit'), witness: p('witness'), tmp: p('tmp') };
}

/** Length of the windows compared (ms). */
const WINDOW_MS = 5_000;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * A lifetime's RSS and descriptors at its start (the first window after warm-up) and end (its
 * last window), as medians; undefined when the lifetime was too short for two separate windows.
 */
function measure(lt, warmupMs) {
  if (lt.readyMs === undefined || lt.samples.length === 0) return undefined;
  const from = lt.readyMs + warmupMs;
  const to = lt.samples.at(-1).t;
  if (to - WINDOW_MS < from + WINDOW_MS) return undefined;
  const first = lt.samples.filter((x) => x.t >= from && x.t < from + WINDOW_MS);
  const last = lt.samples.filter((x) => x.t > to - WINDOW_MS);
  const all = lt.samples.filter((x) => x.t >= from);
  return {
    seconds: Math.round((to - from) / 1000),
    rss: { start: median(first.map((x) => x.rss)), end: median(last.map((x) => x.rss)), max: Math.max(...all.map((x) => x.rss)) },
    fds: { start: median(first.map((x) => x.fds)), end: median(last.map((x) => x.fds)), max: Math.max(...all.map((x) => x.fds)) },
  };
}

/** Run cgroups (`agentos/<host pid>-<run id>`) of this soak's hosts that still exist. */
async function staleGroups(layout, hostPids) {
  const { listRunGroups } = await import(join(REPO, 'dist', 'container', 'cgroups', 'index.js'));
  return [...listRunGroups(layout).keys()].filter((n) => hostPids.includes(Number(n.split('-')[0])));
}

/** A lifetime too short for {@link measure}: its first sample after warm-up and its last, unbounded. */
function rawFigures(lt) {
  const a = lt.readyMs === undefined ? undefined : lt.samples.find((x) => x.t >= lt.readyMs);
  const z = lt.samples.at(-1);
  return a && z ? `RSS ${fmtMiB(a.rss)} at warm-up → ${fmtMiB(z.rss)}, fds ${a.fds} → ${z.fds} (too short to bound)` : 'RSS and fds not measured (killed before warm-up)';
}

const fmtMiB = (b) => (b === undefined ? '-' : `${(b / MiB).toFixed(0)} MiB`);

async function main() {
  let o;
  try {
    o = settings(process.env);
  } catch (e) {
    console.error(`soak: ${e.message}`);
    return 2;
  }
  const say = (line) => console.log(`[soak] ${line}`);
  const violations = [];
  const bad = (msg) => {
    if (violations.length < 200) violations.push(msg);
    if (violations.length <= 20) say(`VIOLATION: ${msg}`);
  };
  const support = await nativeSupport(o.native);
  const kinds = probeKinds(support);
  const agents = assignProbes(kinds, o.agents);
  const run = prepareRun();
  const marker = `agentos-soak-${process.pid}-${o.seed}`;
  const canary = { hits: 0 };
  const server = createServer((req, res) => {
    canary.hits++;
    res.end('canary');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const env = { ws: run.ws, scratch: run.scratch, data: run.data, canaryPort: server.address().port };
  const components = await resolveComponents(REPO, o.cacheDir, say);
  const configPath = join(run.dir, 'config.json');
  writeFileSync(configPath, JSON.stringify({
    repo: REPO, auditDir: run.audit, witnessDir: run.witness, cacheDir: o.cacheDir, engine: o.engine, seed: o.seed, thinkMs: o.thinkMs,
    native: support.native, cgroups: support.cgroups, marker, env, components, durability: o.durability, agents: agents.map((p, idx) => ({ idx, kind: p.kind })),
  }));
  say(`seed ${o.seed}: ${o.agents} agents (${kinds.length} kinds: ${agents.filter((a) => a.group === 'hostile').length} hostile) on ${o.engine} for ${o.minutes} min; native agents: ${support.native ? 'yes' : `no (${support.why})`}${support.native && !support.cgroups ? ` (${support.why})` : ''}; run directory ${run.dir}`);

  // Live judgement of every acknowledged iteration against its probe, and metering that must not drift.
  const fuelByTask = new Map();
  const tally = { iterations: 0, hostile: 0, refused: 0, limits: {}, kinds: {} };
  const judge = (life, m, probe) => {
    tally.iterations++;
    if (probe.group === 'hostile') tally.hostile++;
    if (!m.res.ok) {
      tally.refused++;
      tally.limits[m.res.code] = (tally.limits[m.res.code] ?? 0) + 1;
    }
    const k = (tally.kinds[probe.kind] ??= { agents: agents.filter((a) => a === probe).length, iterations: 0, refused: 0, ms: 0, maxMs: 0 });
    k.iterations++;
    if (!m.res.ok) k.refused++;
    k.ms += m.res.ms;
    k.maxMs = Math.max(k.maxMs, Math.round(m.res.ms));
    const ctx = { life, idx: m.a, n: m.n, env };
    const msg = probe.check(m.res, ctx);
    if (msg) bad(`lifetime ${life}, agent ${m.a} (${probe.kind}) iteration ${m.n}: ${msg}`);
    if (probe.kind === 'compute' && m.res.ok) {
      const task = probe.task(ctx);
      const seen = fuelByTask.get(task);
      if (seen === undefined) fuelByTask.set(task, m.res.fuelUsed);
      else if (seen !== m.res.fuelUsed) bad(`metering drifted: task ${task} used ${m.res.fuelUsed} fuel, earlier ${seen}`);
    }
  };

  const random = rng(o.seed);
  const deadline = Date.now() + o.minutes * 60_000;
  const total = o.minutes * 60_000;
  // Kills come 3–60 s after warm-up (scaled to the soak), some during start-up instead;
  // the last lifetime (at least a quarter of the soak) is never killed: it shows the long-run
  // trend of RSS and descriptors and ends with a clean close.
  const killLo = Math.min(60_000, Math.max(3_000, total / 30));
  const killHi = Math.min(180_000, Math.max(6_000, total / 8));
  const finalMin = o.finalMs ?? Math.max(60_000, total / 4);
  const state = newLogState();
  const lifetimes = [];
  const hostPids = [];
  let startupMs = 5_000;
  const started = Date.now();
  // Interrupted: take the current host down with us.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      for (const pid of hostPids) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  }
  for (let life = 0; ; life++) {
    const left = deadline - Date.now();
    const kills = lifetimes.filter((l) => l.ending === 'killed').length;
    const last = kills >= o.minKills && left < finalMin + startupMs + killHi;
    // The second lifetime always dies during start-up (opening the log, loading), later ones one in five.
    const early = !last && (life === 1 || (life > 1 && random() < 0.2));
    const plan = last ? { end: 'stop', atMs: Math.max(left, finalMin) }
      : early ? { end: 'kill', afterReady: false, atMs: 100 + random() * Math.min(startupMs, 2_500) }
      : { end: 'kill', afterReady: true, atMs: killLo + random() * (killHi - killLo) };
    const lt = await runLifetime({ life, plan, configPath, tmpDir: run.tmp, agents, judge, bad, log: say, onStart: (pid) => hostPids.push(pid) });
    if (lt.readyMs !== undefined) startupMs = Math.max(startupMs * 0.5, lt.readyMs);
    if (lt.startSize !== undefined && lt.startSize !== state.checked) bad(`lifetime ${life}: the host opened the log at ${lt.startSize} records, the check after the kill saw ${state.checked}`);

    // Nothing of the host may outlive it: its process group, and native agents (new sessions, marked).
    const left1 = await waitNoLeftovers({ pgids: [lt.pid], marker }, 2_000);
    if (left1.length > 0) bad(`lifetime ${life}: processes outlived the host: ${left1.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
    const { size, violations: logBad } = await checkLog({ repo: REPO, auditDir: run.audit, witnessDir: run.witness, state, life, acks: lt.acks, fps: lt.fps, agents, env });
    for (const v of logBad) bad(`lifetime ${life}: ${v}`);
    if (lt.closedSize !== undefined && lt.closedSize !== size) bad(`lifetime ${life}: the host closed the log at ${lt.closedSize} records, ${size} are on disk`);

    // RSS and descriptors over the lifetime: the median of the first window after warm-up
    // against the median of the last (single samples catch runs in flight: sockets of a native
    // run, a guest's memory before its instance is dropped).
    const m = measure(lt, o.warmupMs);
    lt.rss = m?.rss;
    lt.fds = m?.fds;
    if (m && lt.rss.end > lt.rss.start + o.rssSlack) bad(`lifetime ${life}: RSS grew from ${fmtMiB(lt.rss.start)} to ${fmtMiB(lt.rss.end)} in ${m.seconds} s (bound: +${fmtMiB(o.rssSlack)})`);
    if (m && lt.fds.end > lt.fds.start + o.fdSlack) bad(`lifetime ${life}: open descriptors grew from ${lt.fds.start} to ${lt.fds.end} in ${m.seconds} s (bound: +${o.fdSlack}); at warm-up ${JSON.stringify(lt.firstFds)}, at the end ${JSON.stringify(lt.lastFds)}`);
    appendFileSync(join(run.dir, 'samples.jsonl'), `${JSON.stringify({ life, readyMs: lt.readyMs, ending: lt.ending, firstFds: lt.firstFds, lastFds: lt.lastFds, samples: lt.samples })}\n`);
    lt.tmpLeft = readdirSync(run.tmp);
    lt.cgroupsLeft = support.layout ? await staleGroups(support.layout, hostPids) : [];
    lt.logSize = size;
    lifetimes.push(lt);
    const ready = lt.readyMs === undefined ? 'before warm-up' : `${((lt.exit.ms - lt.readyMs) / 1000).toFixed(1)} s after warm-up`;
    say(`lifetime ${life}: ${lt.ending} ${(lt.exit.ms / 1000).toFixed(1)} s after start (${ready}); ${lt.iterations} iterations acknowledged (${lt.failedIterations} refused; ${(lt.iterations / (lt.exit.ms / 1000)).toFixed(0)}/s); log ${size} records, verified; ${lt.rss ? `RSS ${fmtMiB(lt.rss.start)} → ${fmtMiB(lt.rss.end)}, fds ${lt.fds.start} → ${lt.fds.end}` : rawFigures(lt)}${lt.tmpLeft.length ? `; TMPDIR holds ${lt.tmpLeft.length} entries` : ''}${lt.cgroupsLeft.length ? `; ${lt.cgroupsLeft.length} run cgroups left (the next host removes them)` : ''}`);
    if (plan.end === 'stop') break;
  }
  server.close();

  // After the run: the CLI verifies the log as a user would; nothing is left behind.
  const cli = spawnSync(process.execPath, [join(REPO, 'dist', 'cli', 'main.js'), 'audit', 'verify', '--audit', run.audit, '--witness', run.witness, '--deep', '--json'], { encoding: 'utf8' });
  let cliReport;
  try {
    cliReport = JSON.parse(cli.stdout);
  } catch {
    cliReport = undefined;
  }
  if (cli.status !== 0 || !cliReport?.ok) bad(`agentos audit verify --deep failed (exit ${cli.status}): ${(cli.stdout || cli.stderr).slice(0, 400)}`);
  if (canary.hits > 0) bad(`the canary server on 127.0.0.1:${env.canaryPort} was reached ${canary.hits} times: a network probe got through`);
  const tmpLeft = listTree(run.tmp);
  if (tmpLeft.length > 0) bad(`the hosts left ${tmpLeft.length} entries in their TMPDIR: ${tmpLeft.slice(0, 8).join(', ')}`);
  const readers = readdirSync(run.audit).filter((n) => n.startsWith('.read-'));
  if (readers.length > 0) bad(`audit read snapshots left in the audit directory: ${readers.join(', ')}`);
  const procs = await waitNoLeftovers({ pgids: hostPids, marker }, 2_000);
  if (procs.length > 0) bad(`processes left behind: ${procs.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`);
  const cgroupsLeft = support.layout ? await staleGroups(support.layout, hostPids) : [];
  if (cgroupsLeft.length > 0) bad(`run cgroups left behind: ${cgroupsLeft.join(', ')}`);
  const gaps = [...state.gaps].map(([what, count]) => ({ what, count }));
  if (o.strict) for (const g of gaps) bad(`known gap (SOAK_STRICT=1): ${g.what} (${g.count} times)`);

  // Across restarts too: the last lifetime must not start from a higher plateau than the first.
  const measured = lifetimes.filter((l) => l.rss);
  if (measured.length >= 2) {
    const [a, z] = [measured[0], measured.at(-1)];
    if (z.rss.end > a.rss.start + o.rssSlack) bad(`RSS across the soak grew from ${fmtMiB(a.rss.start)} (lifetime ${a.life}) to ${fmtMiB(z.rss.end)} (lifetime ${z.life}) (bound: +${fmtMiB(o.rssSlack)})`);
    if (z.fds.end > a.fds.start + o.fdSlack) bad(`open descriptors across the soak grew from ${a.fds.start} to ${z.fds.end} (bound: +${o.fdSlack})`);
  }
  const summary = {
    ok: violations.length === 0,
    seed: o.seed, engine: o.engine, agents: o.agents, kinds: kinds.length, native: support.native,
    minutes: Number(((Date.now() - started) / 60_000).toFixed(2)),
    lifetimes: lifetimes.length, kills: lifetimes.filter((l) => l.ending === 'killed').length,
    killsBeforeWarmup: lifetimes.filter((l) => l.ending === 'killed' && l.readyMs === undefined).length,
    records: state.checked, iterations: tally.iterations, hostileIterations: tally.hostile, refused: tally.refused, refusedByCode: tally.limits,
    alerts: state.alerts, recordTypes: state.types,
    probes: Object.fromEntries(Object.entries(tally.kinds).map(([kind, k]) => [kind, { agents: k.agents, iterations: k.iterations, refused: k.refused, meanMs: Math.round(k.ms / k.iterations), maxMs: k.maxMs }])),
    rss: { start: measured[0]?.rss.start, end: measured.at(-1)?.rss.end, max: Math.max(0, ...measured.map((l) => l.rss.max)), slack: o.rssSlack, worstGrowth: Math.max(0, ...measured.map((l) => l.rss.end - l.rss.start)) },
    fds: { start: measured[0]?.fds.start, end: measured.at(-1)?.fds.end, slack: o.fdSlack, worstGrowth: Math.max(0, ...measured.map((l) => l.fds.end - l.fds.start)) },
    leftovers: { processes: procs.length, tmp: tmpLeft.length, cgroups: support.native ? cgroupsLeft.length : 'not used (no native agents)' },
    perLifetime: lifetimes.map((l) => ({ life: l.life, ending: l.ending, seconds: Number((l.exit.ms / 1000).toFixed(1)), readySeconds: l.readyMs === undefined ? null : Number((l.readyMs / 1000).toFixed(1)), iterations: l.iterations, records: l.logSize, rss: l.rss ?? null, fds: l.fds ?? null })),
    canaryHits: canary.hits, gaps, violations, runDir: run.dir,
  };
  say(`${summary.ok ? 'PASSED' : 'FAILED'}: ${summary.agents} agents, ${summary.minutes} min, ${summary.kills} kills (${summary.killsBeforeWarmup} before warm-up) over ${summary.lifetimes} lifetimes, ${summary.records} records, ${summary.iterations} iterations (${summary.hostileIterations} hostile, ${summary.refused} refused), ${summary.alerts} alerts`);
  say(`RSS start ${fmtMiB(summary.rss.start)}, end ${fmtMiB(summary.rss.end)}, max ${fmtMiB(summary.rss.max)}, worst growth in a lifetime ${fmtMiB(summary.rss.worstGrowth)} (bound +${fmtMiB(o.rssSlack)}); fds start ${summary.fds.start}, end ${summary.fds.end}, worst growth ${summary.fds.worstGrowth} (bound +${o.fdSlack})`);
  for (const [kind, k] of Object.entries(summary.probes)) say(`  ${kind.padEnd(16)} ${String(k.agents).padStart(3)} agents ${String(k.iterations).padStart(7)} iterations ${String(k.refused).padStart(7)} refused, ${k.meanMs} ms mean, ${k.maxMs} ms max`);
  say(`left behind: ${summary.leftovers.processes} processes, ${summary.leftovers.tmp} temporary entries, cgroups: ${summary.leftovers.cgroups}; canary hits ${canary.hits}`);
  for (const g of gaps) say(`known gap (reported, not failed; SOAK_STRICT=1 fails it): ${g.what} — seen ${g.count} times`);
  for (const v of violations.slice(20)) say(`VIOLATION: ${v}`);
  if (summary.ok && !o.keep) rmSync(run.dir, { recursive: true, force: true });
  else say(`run directory kept: ${run.dir}`);
  console.log(`SOAK_RESULT ${JSON.stringify(summary)}`);
  return summary.ok ? 0 : 1;
}

process.exitCode = await main();
