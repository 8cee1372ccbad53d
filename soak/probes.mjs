/**
 * The soak's agents: benign work and the hostile probes of the test suite, each with what it
 * must produce and what the audit chain must then hold. Shared by the host (which runs them)
 * and the supervisor (which judges what the host reported and what the log holds), so a probe
 * and its expectations live in one place.
 *
 * A probe: `{ kind, group, component, weight, max?, think?, runOptions?, policy(env), task(ctx),
 * check(res, ctx), records(recs, ctx) }` with `mode` `'run'` (default: `agent.run(task)` on one
 * long-lived agent), `'load'` (every iteration is a `sandbox.load` that must be refused) or
 * `'native'` (`sh -c script` under bubblewrap). `check` and
 * `records` return a violation message or undefined; `records` gets the agent's records between
 * the moment its iteration started and the moment it was acknowledged. `gaps` (optional)
 * names hostile calls that are refused but that the log does not show as refused (reported,
 * not failed, unless SOAK_STRICT=1).
 */
import { createHash } from 'node:crypto';

const FUEL = 5_000_000;
/** A fuel charge is made before its region runs, so the spent count may pass the limit by at most one region. */
const MAX_FUEL_OVERSHOOT = 100_000;
/**
 * The time limit of the timeout probe, given per run (`agent.run(task, { timeout })`): a policy's
 * maxExecutionTime also bounds the agent's first instantiation in `sandbox.load`, and that
 * clock starts while a neighbour's run may still hold the thread, so a short policy limit makes
 * the load itself fail on a busy host (see the soak's report).
 */
const TIMEOUT_MS = 500;

const lines = (res) => (res.ok ? res.output.split('\n') : undefined);
const expectLines = (res, want) => {
  const got = lines(res);
  if (!got) return `failed with ${res.code}: ${res.message}`;
  return JSON.stringify(got) === JSON.stringify(want) ? undefined : `output ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`;
};
const expectCode = (res, code, more = () => undefined) => (res.ok ? `returned ${JSON.stringify(res.output.slice(0, 200))} instead of failing with ${code}` : res.code !== code ? `failed with ${res.code} (${res.message}) instead of ${code}` : more(res));
const fuelHeld = (allowed) => (res) => {
  const d = res.details ?? {};
  if (d.allowed !== allowed) return `FUEL_EXHAUSTED with allowed ${d.allowed}, expected ${allowed}`;
  if (!(d.requested > allowed && d.requested - allowed <= MAX_FUEL_OVERSHOOT)) return `fuel ran to ${d.requested} against a limit of ${allowed}`;
  return undefined;
};

/** A record of `recs` matching every given field, or a message naming what is missing. */
function need(recs, fields, what = JSON.stringify(fields)) {
  return recs.some((r) => Object.entries(fields).every(([k, v]) => (v instanceof RegExp ? v.test(String(r[k])) : r[k] === v))) ? undefined : `no record of ${what}`;
}
const needAll = (recs, list) => list.map((f) => need(recs, f)).find((m) => m !== undefined);
const limitRecord = (code, action = 'run') => (recs) => need(recs, { eventType: 'limit_exceeded', action, resource: code, outcome: 'blocked' }, `the ${code} limit (${action})`);

const sumSquares = (k) => (k * (k - 1) * (2 * k - 1)) / 6;
const computeK = (ctx) => 100 + ((ctx.idx * 7 + ctx.n) % 900);

const workspace = (env, extra = {}) => ({
  version: 1,
  capabilities: { allowed: ['read_files', 'write_files'] },
  mounts: [
    { guest: '/workspace', host: env.ws, mode: 'ro' },
    { guest: '/tmp', host: env.scratch, mode: 'rw' },
  ],
  fileAccess: { readonly: ['/workspace/**/*.ts'], readwrite: ['/tmp/**'], forbidden: ['/workspace/**/.env', '/workspace/.git/**'] },
  ...extra,
});

/** The file a `files` agent writes in one iteration (lifetime, agent and iteration in its name). */
export const scratchFile = (ctx, n = ctx.n) => `/tmp/f${ctx.life}-${ctx.idx}-${n}`;

/** URLs the network probe asks for, in turn; none may be reached (the canary counts). */
const netTargets = (port) => [
  `http://localhost:${port}/allowed-name-loopback`, // allowed name that resolves to loopback
  `http://127.0.0.1:${port}/not-allowed`,
  'http://169.254.169.254/latest/meta-data/',
  `http://[::ffff:127.0.0.1]:${port}/spelled`,
  `http://localhost@127.0.0.1:${port}/userinfo`,
];

const wasm = [
  // ---- benign --------------------------------------------------------------------------------
  {
    kind: 'files', group: 'benign', component: 'fsprobe', weight: 20, think: 1000,
    policy: (env) => workspace(env),
    task: (ctx) => [`read /workspace/src/a.ts`, `write ${scratchFile(ctx)} ${ctx.n}`, ...(ctx.n > 0 ? [`unlink ${scratchFile(ctx, ctx.n - 1)}`] : [])].join('\n'),
    check: (res, ctx) => expectLines(res, ['ok const a = 1;\\n', `ok ${String(ctx.n).length}`, ...(ctx.n > 0 ? ['ok'] : [])]),
    records: (recs, ctx) =>
      needAll(recs, [
        { eventType: 'capability_used', action: 'read', resource: '/workspace/src/a.ts' },
        { eventType: 'capability_used', action: 'write', resource: scratchFile(ctx) },
      ]),
  },
  {
    kind: 'compute', group: 'benign', component: 'hostile', weight: 15,
    policy: () => ({ version: 1, resourceLimits: { maxFuel: FUEL } }),
    task: (ctx) => `C${computeK(ctx)}`,
    check: (res, ctx) => expectLines(res, [`sum ${sumSquares(computeK(ctx))}`]),
    records: () => undefined,
  },
  {
    kind: 'echo', group: 'benign', component: 'echo', weight: 10,
    policy: () => ({ version: 1 }),
    task: (ctx) => `echo ${ctx.idx}-${ctx.n}`,
    check: (res, ctx) => expectLines(res, [`echo ${ctx.idx}-${ctx.n}`]),
    records: () => undefined,
  },
  {
    kind: 'tool', group: 'benign', component: 'fsprobe', weight: 8, think: 500,
    policy: () => ({ version: 1, toolAccess: { allow: ['search'] } }),
    task: (ctx) => `tool search {"q":"${ctx.n}"}`,
    check: (res, ctx) => expectLines(res, [`ok {"found":"${ctx.n}"}`]),
    records: (recs) => need(recs, { eventType: 'capability_used', action: 'invoke', resource: 'search' }),
  },
  // ---- hostile: files, environment, tools, network ---------------------------------------------
  {
    kind: 'fs-escape', group: 'hostile', component: 'fsprobe', weight: 8, think: 1000,
    policy: (env) => workspace(env),
    task: (ctx) =>
      ['read /workspace/.env', 'read /workspace/src/escape.ts', 'write /workspace/src/x.ts y', 'read /workspace/../outside/secret.txt', `symlink /etc/passwd /tmp/l${ctx.life}-${ctx.idx}`, 'read /etc/passwd'].join('\n'),
    check: (res) => expectLines(res, ['err ENOENT', 'err ENOENT', 'err EACCES', 'err EPERM', 'err EPERM', 'err ENOTCAPABLE']),
    records: (recs, ctx) =>
      needAll(recs, [
        { eventType: 'capability_denied', action: 'read', resource: '/workspace/.env', outcome: 'blocked' },
        { eventType: 'capability_denied', action: 'read', resource: '/workspace/src/escape.ts', outcome: 'blocked' },
        { eventType: 'capability_denied', action: 'write', resource: '/workspace/src/x.ts', outcome: 'blocked' },
        // `..` above the mount, and a link whose target leaves it, are refused and recorded.
        { eventType: 'capability_denied', action: 'read', resource: '/workspace/../outside/secret.txt', outcome: 'blocked' },
        { eventType: 'capability_denied', action: 'write', resource: `/tmp/l${ctx.life}-${ctx.idx}`, outcome: 'blocked' },
      ]),
    // `read /etc/passwd` never reaches the host (no preopen: wasi-libc finds no directory to ask).
    forbidden: (r) => /\.env$|escape\.ts$|\/workspace\/src\/x\.ts$|outside|passwd/.test(r.resource),
  },
  {
    kind: 'env-secret', group: 'hostile', component: 'fsprobe', weight: 4,
    policy: () => ({ version: 1, env: { allow: ['LANG'] } }),
    task: () => 'getenv SECRET_TOKEN\ngetenv HOME\ngetenv LANG\nenv',
    check: (res) => expectLines(res, ['err unset', 'err unset', 'ok C.UTF-8', 'ok LANG']),
    // The environment is one call that hands over only the granted names: its record names them.
    records: () => undefined,
    forbidden: (r) => r.resource === 'SECRET_TOKEN' || r.resource === 'HOME',
  },
  {
    kind: 'tool-deny', group: 'hostile', component: 'fsprobe', weight: 4,
    policy: () => ({ version: 1 }),
    task: () => 'tool delete_all {}\ntool search {"q":"x"}',
    check: (res) => (res.ok && /^err denied/.test(lines(res)[0] ?? '') && /^err denied/.test(lines(res)[1] ?? '') ? undefined : `tools not denied: ${JSON.stringify(res.output ?? res.code)}`),
    records: (recs) =>
      needAll(recs, [
        { eventType: 'capability_denied', action: 'invoke', resource: 'delete_all' },
        { eventType: 'capability_denied', action: 'invoke', resource: 'search' },
      ]),
    forbidden: (r) => r.resource === 'delete_all' || r.resource === 'search',
  },
  {
    kind: 'net-deny', group: 'hostile', component: 'fetchprobe', weight: 2, max: 4, think: 500,
    // StarlingMonkey's linear memory grows by about 10 KB a run and is never given back; the cap
    // keeps it (and the soak's RSS) bounded: past it the guest traps out of memory, which ends
    // that run with AGENT_ERROR and the next one starts on a fresh instance.
    policy: (env) => ({
      version: 1,
      capabilities: { allowed: ['network_access'] },
      networkRules: { allowedHosts: ['localhost', 'api.example.com'], allowedPorts: [env.canaryPort, 80], protocols: ['http'] },
      resourceLimits: { maxMemory: '64MiB' },
    }),
    task: (ctx) => JSON.stringify({ url: netTargets(ctx.env.canaryPort)[ctx.n % 5] }),
    check: (res) => {
      if (!res.ok && res.code === 'AGENT_ERROR' && /unreachable/.test(res.message)) return undefined;
      if (!res.ok) return `failed with ${res.code}: ${res.message}`;
      let r;
      try {
        r = JSON.parse(res.output);
      } catch {
        return `output is not JSON: ${res.output.slice(0, 200)}`;
      }
      return r.error ? undefined : `the request went through: ${res.output.slice(0, 200)}`;
    },
    records: (recs) => (recs.some((r) => r.eventType === 'agent_error') ? undefined : need(recs, { eventType: 'capability_denied', action: 'connect', outcome: 'blocked' }, 'a denied connection')),
    // Only the allowed name may be decided "allowed" (its address is refused next); nothing else.
    forbidden: (r) => r.action === 'connect' && !/^http:\/\/localhost:\d+$/.test(r.resource),
  },
  // ---- hostile: limits (the adversarial agents of test/integration/limits.test.ts) -----------
  {
    kind: 'fuel', group: 'hostile', component: 'hostile', weight: 4, think: 500,
    policy: () => ({ version: 1, resourceLimits: { maxFuel: FUEL } }),
    task: () => 'L',
    check: (res) => expectCode(res, 'FUEL_EXHAUSTED', fuelHeld(FUEL)),
    records: limitRecord('FUEL_EXHAUSTED'),
  },
  {
    kind: 'poll-fuel', group: 'hostile', component: 'hostile', weight: 2, think: 500,
    // Every poll is a host call: 20,000 units take about 12 ms (200,000 took 120).
    policy: () => ({ version: 1, resourceLimits: { maxFuel: 20_000 } }),
    task: () => 'P',
    check: (res) => expectCode(res, 'FUEL_EXHAUSTED', fuelHeld(20_000)),
    records: limitRecord('FUEL_EXHAUSTED'),
  },
  {
    kind: 'timeout', group: 'hostile', component: 'hostile', weight: 1, max: 2, think: 5000,
    policy: () => ({ version: 1 }),
    runOptions: { timeout: `${TIMEOUT_MS}ms` },
    task: () => 'L',
    // The budget counts from when the agent's thread starts the run (a neighbour may hold the
    // thread first), so the wall time seen here is only bounded loosely: it must not run on.
    check: (res) => expectCode(res, 'TIMEOUT', (r) => (r.ms > TIMEOUT_MS + 10_000 ? `ran ${Math.round(r.ms)} ms against ${TIMEOUT_MS} ms` : undefined)),
    records: limitRecord('TIMEOUT'),
  },
  {
    kind: 'memory', group: 'hostile', component: 'hostile', weight: 3,
    policy: () => ({ version: 1, resourceLimits: { maxMemory: '16MiB' } }),
    task: () => 'G',
    check: (res) => expectLines(res, ['pages 256']),
    // The refused grow is the guest's out-of-memory, and the host's limit_exceeded record.
    records: limitRecord('MEMORY_LIMIT', 'grow'),
  },
  {
    kind: 'table', group: 'hostile', component: 'hostile', weight: 2,
    policy: () => ({ version: 1 }),
    task: () => 'T',
    check: (res) => {
      const m = res.ok ? /^table (\d+)$/.exec(res.output) : null;
      return m && Number(m[1]) <= 1_000_000 ? undefined : `table grew to ${res.ok ? res.output : res.code}`;
    },
    records: limitRecord('MEMORY_LIMIT', 'grow'),
  },
  {
    kind: 'stack', group: 'hostile', component: 'hostile', weight: 2, think: 1000,
    policy: () => ({ version: 1 }),
    task: () => 'R',
    check: (res) => expectCode(res, 'AGENT_ERROR', (r) => (/stack/i.test(r.message) ? undefined : `AGENT_ERROR without a stack overflow: ${r.message}`)),
    records: (recs) => need(recs, { eventType: 'agent_error', resource: 'AGENT_ERROR' }),
  },
  {
    kind: 'random', group: 'hostile', component: 'hostile', weight: 2,
    policy: () => ({ version: 1 }),
    task: () => 'Z',
    check: (res) => expectCode(res, 'QUOTA_EXCEEDED'),
    records: limitRecord('QUOTA_EXCEEDED'),
  },
  {
    kind: 'output', group: 'hostile', component: 'fsprobe', weight: 2, think: 1000,
    policy: () => ({ version: 1, resourceLimits: { maxOutputBytes: '64KiB' } }),
    task: () => 'printn 10485760',
    check: (res) => expectCode(res, 'QUOTA_EXCEEDED'),
    records: limitRecord('QUOTA_EXCEEDED'),
  },
  {
    kind: 'hoard', group: 'hostile', component: 'hostile', weight: 1, max: 3, think: 1000,
    // Each iteration takes host objects it never drops, until its fuel (about 60 ms) runs out.
    policy: () => ({ version: 1, resourceLimits: { maxFuel: 30_000 } }),
    task: () => 'H',
    check: (res) => expectCode(res, 'FUEL_EXHAUSTED', fuelHeld(30_000)),
    records: limitRecord('FUEL_EXHAUSTED'),
  },
  {
    kind: 'trap', group: 'hostile', component: 'trap', weight: 2,
    policy: () => ({ version: 1 }),
    task: () => 'x',
    check: (res) => expectCode(res, 'AGENT_ERROR'),
    records: (recs) => need(recs, { eventType: 'agent_error', resource: 'AGENT_ERROR' }),
  },
  {
    kind: 'realloc-loop', group: 'hostile', component: 'realloc-loop', weight: 2,
    policy: () => ({ version: 1, resourceLimits: { maxFuel: FUEL } }),
    task: () => 'task',
    check: (res) => expectCode(res, 'FUEL_EXHAUSTED', fuelHeld(FUEL)),
    records: limitRecord('FUEL_EXHAUSTED'),
  },
  {
    kind: 'load-bigmem', group: 'hostile', component: 'bigmem', weight: 2, mode: 'load', think: 300,
    policy: () => ({ version: 1 }),
    check: (res) => expectCode(res, 'MEMORY_LIMIT'),
    records: limitRecord('MEMORY_LIMIT', 'load'),
  },
  {
    kind: 'load-start-loop', group: 'hostile', component: 'start-loop', weight: 2, mode: 'load', think: 1000,
    policy: () => ({ version: 1, resourceLimits: { maxFuel: FUEL } }),
    // Two limits bound the start function: its fuel, and the load's time (maxExecutionTime,
    // 30 s by default, counted from when its thread takes the instance up). On an overloaded
    // host the time can run out first; either way a limit stopped it and must be recorded.
    check: (res) =>
      !res.ok && res.code === 'TIMEOUT' && /instantiating/.test(res.message)
        ? undefined
        : expectCode(res, 'FUEL_EXHAUSTED', (r) => (/start function/.test(r.message) ? undefined : `not stopped in the start function: ${r.message}`)),
    records: (recs) => (limitRecord('TIMEOUT', 'load')(recs) === undefined ? undefined : limitRecord('FUEL_EXHAUSTED', 'load')(recs)),
  },
];

/** Native agents (bubblewrap): `sh -c SCRIPT MARKER`, the marker making them findable in /proc. */
const nativeFiles = (env) => ({ version: 1, capabilities: { allowed: ['read_files'] }, mounts: [{ guest: '/data', host: env.data, mode: 'ro' }], fileAccess: { forbidden: ['/data/secret/**'] } });
const native = [
  {
    kind: 'native-files', group: 'hostile', component: 'native', weight: 1, max: 2, mode: 'native', think: 1000,
    policy: nativeFiles,
    script: 'read t; cat /data/notes.txt; cat /data/secret/key 2>/dev/null || echo masked; (echo x > /data/new) 2>/dev/null || echo ro; echo "$t"',
    task: (ctx) => `t${ctx.n}`,
    check: (res, ctx) => expectLines(res, ['hello native', 'masked', 'ro', `t${ctx.n}`, '']),
    records: (recs) => need(recs, { eventType: 'agent_spawn', action: 'spawn' }),
  },
  {
    kind: 'native-memory', group: 'hostile', component: 'native', weight: 1, max: 1, mode: 'native', think: 2000, cgroups: true,
    policy: () => ({ version: 1, resourceLimits: { maxMemory: '48MiB' } }),
    script: 'head -c 400M /dev/zero | tail > /dev/null; echo survived',
    task: () => '',
    check: (res) => expectCode(res, 'MEMORY_LIMIT'),
    records: limitRecord('MEMORY_LIMIT'),
  },
  {
    kind: 'native-fork', group: 'hostile', component: 'native', weight: 1, max: 1, mode: 'native', think: 1000, cgroups: true,
    policy: () => ({ version: 1, resourceLimits: { maxProcesses: 8 } }),
    script: 'i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; wait',
    task: () => '',
    check: (res) => expectCode(res, 'QUOTA_EXCEEDED', (r) => (r.details?.allowed === 8 ? undefined : `maxProcesses allowed ${r.details?.allowed}`)),
    records: limitRecord('QUOTA_EXCEEDED'),
  },
  {
    kind: 'native-cpu', group: 'hostile', component: 'native', weight: 1, max: 1, mode: 'native', think: 3000, cgroups: true,
    policy: () => ({ version: 1, resourceLimits: { maxCpuTime: '300ms' } }),
    script: 'while :; do :; done',
    task: () => '',
    check: (res) => expectCode(res, 'TIMEOUT', (r) => (r.details?.limit === 'maxCpuTime' ? undefined : `TIMEOUT of ${r.details?.limit}`)),
    records: limitRecord('TIMEOUT'),
  },
];

/** The probes available: every wasm probe, plus the native ones when bubblewrap (and, for limits, cgroups) work here. */
export function probeKinds({ native: withNative = false, cgroups = false } = {}) {
  return [...wasm, ...(withNative ? native.filter((p) => !p.cgroups || cgroups) : [])];
}

/**
 * Which probe each of `count` agents runs: every kind at least once (so every hostile probe is
 * in every soak), capped kinds at most `max`, the rest shared by weight. Deterministic.
 */
export function assignProbes(kinds, count) {
  if (count < kinds.length) throw new Error(`SOAK_AGENTS must be at least ${kinds.length} (one agent per probe kind), got ${count}`);
  const counts = new Map(kinds.map((k) => [k.kind, 1]));
  let left = count - kinds.length;
  const open = () => kinds.filter((k) => k.max === undefined || counts.get(k.kind) < k.max);
  while (left > 0) {
    const pool = open();
    const total = pool.reduce((s, k) => s + k.weight, 0);
    // Largest deficit against its weighted share goes next: a stable, proportional fill.
    let best = pool[0];
    let bestGap = -Infinity;
    for (const k of pool) {
      const gap = (k.weight / total) * count - counts.get(k.kind);
      if (gap > bestGap) [best, bestGap] = [k, gap];
    }
    counts.set(best.kind, counts.get(best.kind) + 1);
    left--;
  }
  const out = [];
  for (const k of kinds) for (let i = 0; i < counts.get(k.kind); i++) out.push(k);
  return out;
}

/**
 * The agent id of agent `idx`, stable across host restarts so its records line up. A `load`
 * probe's attempts use it too, one after another: the monitor keeps a little state (≈1.6 KB) per
 * agent id it saw refused, up to `monitor.maxKeys` (100,000) ids, so a new id per attempt grows
 * the heap for hours before that bound is reached, which would hide a real leak.
 */
export const agentIdOf = (idx, probe) => `soak-${idx}-${probe.kind}`;

/** A record's fingerprint as host and supervisor compare it: its identity and `prevHash`, its link to every record before it. */
export function recordFingerprint(r) {
  return createHash('sha256').update(JSON.stringify([r.seq, r.prevHash, r.timestamp, r.eventType, r.agentId, r.action, r.resource, r.outcome])).digest('hex').slice(0, 32);
}

/** Mulberry32: a small seeded generator, so a soak can be repeated (SOAK_SEED). */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
