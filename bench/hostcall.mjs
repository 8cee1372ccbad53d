/**
 * The cost of one gated host call beside the same call through ungated jco output.
 *
 * bench/agents/hostcall.wat calls one WASI import N times in a loop inside a single `run`
 * (task `e<N>`: wasi:cli/environment#get-environment; `s<N>`: wasi:filesystem/types
 * #[method]descriptor.stat-at on a file of the first preopen). Every repetition times one
 * run with N calls and five runs with none (same task shape, same per-run fixed costs) and
 * records (t(N) − median t(0)) / N in ns. Repetitions are short and many, and the variants
 * run back to back in rotating order, so the median of the per-repetition differences
 * ours − jco is robust against a machine whose load drifts.
 *
 * - ours, in-thread: createCoreInstance; every call is decided by the gate and produces an
 *   audit event (delivered to the host in batches of 256).
 * - ours, worker: the same instance inside its worker (WorkerInstance), as Sandbox runs it;
 *   the audit batches cross to the host thread with postMessage.
 * - jco: the component transpiled by plain jco (default options), preview2-shim ambient:
 *   `_setEnv({ BENCH_ENV })` and `_setPreopens({ '/data': dir })` give it the same single
 *   variable and the same directory.
 *
 * A last row calls the two `get-environment` host functions directly from JS (no guest, no
 * jco trampoline): our cli capability with its Gate and audit buffer vs preview2-shim's.
 */
import { Gate } from '../dist/gate/gate.js';
import { cliImports } from '../dist/capabilities/cli.js';
import { DEFAULT_CAPS } from '../dist/capabilities/context.js';
import * as jco from './lib/jco.mjs';
import * as ours from './lib/ours.mjs';
import { median, percentile } from './lib/stats.mjs';

/** The one environment variable the hostcall agent's `e<N>` task reads. */
export const ENV_NAME = 'BENCH_ENV';

/** The policy of the hostcall agent: `dataDir` read-only at /data, ENV_NAME passed through. */
export function hostcallPolicy(dataDir) {
  return {
    version: 1,
    capabilities: { allowed: ['read_files'] },
    mounts: [{ guest: '/data', host: dataDir, mode: 'ro' }],
    fileAccess: { readonly: ['/data/**'] },
    env: { allow: [ENV_NAME] },
  };
}

const stats = (xs) => ({ median: median(xs), p90: percentile(xs, 90) });

/** Row from per-repetition ns samples of ours and jco (paired by index). */
function makeRow(label, n, oursNs, jcoNs, target, auditPerCall) {
  const diffs = stats(oursNs.map((x, i) => x - jcoNs[i]));
  return {
    label,
    n,
    ours: stats(oursNs),
    jco: stats(jcoNs),
    diff: diffs.median,
    diffP90: diffs.p90,
    target: target ? `≤ +${target} ns ${diffs.median <= target ? 'ok' : 'MISSED'}` : '',
    auditPerCall: auditPerCall === undefined ? '' : auditPerCall.toFixed(2),
  };
}

/**
 * Our `get-environment` host function with the same context createCoreInstance builds
 * (Gate + audit buffer flushed every 256 events), and preview2-shim's.
 */
function directHostFunctions(policy, env, shim) {
  let buffer = [];
  let delivered = 0;
  const flush = () => {
    delivered += buffer.length;
    buffer = [];
  };
  const gate = new Gate(policy, 'bench-agent', (event) => {
    buffer.push({ kind: 'audit', event });
    if (buffer.length >= 256) flush();
  });
  const ctx = {
    agentId: 'bench-agent',
    gate,
    caps: DEFAULT_CAPS,
    env,
    rpc: undefined,
    emit(e) {
      buffer.push(e);
      if (buffer.length >= 256) flush();
    },
    flush,
    count() {},
  };
  const oursFn = cliImports(ctx).imports['wasi:cli/environment'].getEnvironment;
  const jcoFn = shim.cli.environment.getEnvironment;
  return { oursFn, jcoFn, delivered: () => delivered + buffer.length };
}

/** Run the host-call benchmark; returns table rows. */
export async function hostCallBench({ wasm, dataDir, engineCache, jcoCache, quick }) {
  const reps = quick ? 5 : 41;
  const calls = [
    { mode: 'e', n: quick ? 1_000 : 3_000, label: 'get-environment (1 variable)', target: 1000 },
    { mode: 's', n: quick ? 300 : 1_000, label: 'descriptor.stat-at (lstat of a file)' },
  ];
  const policyInput = hostcallPolicy(dataDir);

  const source = await ours.readComponent(wasm);
  const prepared = await ours.prepareComponent(source, engineCache);
  const init = await ours.instanceInit(policyInput, { [ENV_NAME]: 'x' });
  const coreEvents = { count: 0 };
  const core = await ours.coreInstance(prepared, init, coreEvents);
  const workerEvents = { count: 0 };
  const worker = await ours.workerInstance(prepared, init, workerEvents);

  const shim = await import('@bytecodealliance/preview2-shim');
  shim.cli._setEnv({ [ENV_NAME]: 'x' });
  shim.filesystem._setPreopens({ '/data': dataDir });
  const t = await jco.transpileCachedJco(source.bytes, source.hash, 'default', jcoCache);
  const mod = await jco.importDefault(t.jsUrl);

  const variants = [
    { key: 'core', run: async (task) => ours.runCore(core, task), events: coreEvents },
    { key: 'worker', run: (task) => worker.run(task, 120_000), events: workerEvents },
    { key: 'jco', run: async (task) => jco.runJco(mod, task) },
  ];

  const rows = [];
  try {
    for (const call of calls) {
      const perRep = { core: [], worker: [], jco: [] };
      const audit = {};
      // Warm-up (JIT tier-up of the loop, jco's trampolines and the host functions: the first
      // thousand calls are ~10× slower) and a correctness check: every call must have
      // succeeded, and every gated call must have been audited.
      for (const v of variants) {
        for (let i = 0; i < 3; i++) await v.run(`${call.mode}${call.n}`);
        const before = v.events?.count ?? 0;
        const out = await v.run(`${call.mode}${call.n}`);
        if (out !== String(call.n)) throw new Error(`hostcall ${call.mode}${call.n} (${v.key}): expected ${call.n}, got ${JSON.stringify(out)}`);
        if (v.events) {
          await new Promise((r) => setTimeout(r, 20)); // let the worker's last batches arrive
          audit[v.key] = (v.events.count - before) / call.n;
        }
      }
      for (let rep = 0; rep < reps; rep++) {
        for (let k = 0; k < variants.length; k++) {
          const v = variants[(k + rep) % variants.length];
          const empty = [];
          for (let i = 0; i < 5; i++) {
            const t0 = performance.now();
            await v.run(`${call.mode}0`);
            empty.push(performance.now() - t0);
          }
          const t0 = performance.now();
          const out = await v.run(`${call.mode}${call.n}`);
          const full = performance.now() - t0;
          if (out !== String(call.n)) throw new Error(`hostcall (${v.key}): expected ${call.n}, got ${out}`);
          perRep[v.key].push(((full - median(empty)) * 1e6) / call.n);
        }
      }
      rows.push(makeRow(`${call.label}, in-thread`, call.n, perRep.core, perRep.jco, call.target, audit.core));
      rows.push(makeRow(`${call.label}, worker`, call.n, perRep.worker, perRep.jco, call.target, audit.worker));
    }
  } finally {
    core.close();
    await worker.close();
  }

  // The host functions alone.
  const direct = directHostFunctions(init.policy, init.env, shim);
  const n = quick ? 20_000 : 100_000;
  const loop = (fn) => {
    const t0 = performance.now();
    let seen = 0;
    for (let i = 0; i < n; i++) seen += fn().length;
    const dt = performance.now() - t0;
    if (seen !== n) throw new Error(`direct get-environment returned ${seen / n} variables per call, expected 1`);
    return (dt * 1e6) / n;
  };
  for (let i = 0; i < 3; i++) {
    loop(direct.oursFn);
    loop(direct.jcoFn);
  }
  const before = direct.delivered();
  const d = { ours: [], jco: [] };
  for (let rep = 0; rep < reps; rep++) {
    if (rep % 2) {
      d.ours.push(loop(direct.oursFn));
      d.jco.push(loop(direct.jcoFn));
    } else {
      d.jco.push(loop(direct.jcoFn));
      d.ours.push(loop(direct.oursFn));
    }
  }
  const auditDirect = (direct.delivered() - before) / (n * reps);
  rows.push(makeRow('get-environment host function alone (JS call)', n, d.ours, d.jco, 1000, auditDirect));
  return { reps, rows };
}
