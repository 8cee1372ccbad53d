/**
 * Our engine, driven through its internal modules in dist/ (the same calls `Sandbox.load` and
 * `Agent.run` make, minus the option plumbing): prepareComponent (transpile cache + compile),
 * createCoreInstance (in-thread instance) and ThreadInstance (an instance on an agent thread,
 * shared with others by default, or on a dedicated thread).
 */
import { randomUUID } from 'node:crypto';
import { readComponent } from '../../dist/engine/component.js';
import { prepareComponent, ThreadInstance, ThreadPool } from '../../dist/engine/jco/engine.js';
import { transpileCached } from '../../dist/engine/jco/transpile.js';
import { createCoreInstance } from '../../dist/engine/jco/instance-core.js';
import { resolvePolicy } from '../../dist/sandbox/policy-input.js';
import { DEFAULT_CAPS } from '../../dist/capabilities/context.js';

export { readComponent, prepareComponent, transpileCached, ThreadInstance, ThreadPool };

/** A pool of one shared agent thread, `prewarm` of them started ahead (what most sections use). */
export class WorkerPool extends ThreadPool {
  constructor(prewarm = 0) {
    super(1, prewarm);
  }
}

/**
 * Per-instance settings the way `Sandbox.load` derives them from a policy: caps from
 * resourceLimits, the environment from env.allow (values from `hostEnv`) and env.set.
 */
export async function instanceInit(policyInput, hostEnv = {}) {
  const policy = await resolvePolicy(policyInput);
  const limits = policy.resourceLimits ?? {};
  const caps = { ...DEFAULT_CAPS, ...(limits.maxOutputBytes !== undefined ? { maxOutputBytes: limits.maxOutputBytes } : {}) };
  const env = [];
  for (const name of policy.env.allow) if (hostEnv[name] !== undefined && !Object.hasOwn(policy.env.set, name)) env.push([name, hostEnv[name]]);
  for (const [k, v] of Object.entries(policy.env.set)) env.push([k, v]);
  return { agentId: randomUUID(), policy: structuredClone(policy), caps, env, toolNames: [] };
}

/** An in-thread instance; `events.count` counts the audit/log events delivered. */
export async function coreInstance(prepared, init, events = { count: 0 }) {
  return createCoreInstance({
    ...init,
    jsUrl: prepared.jsUrl,
    modules: prepared.modules,
    rpc: undefined,
    deliver: (batch) => {
      events.count += batch.length;
    },
  });
}

const RPC = {
  http: () => Promise.reject(new Error('the benchmark has no network')),
  tool: async () => ({ ok: false, kind: 'not-found', message: 'the benchmark registers no tools' }),
};

/** A worker instance (what `Sandbox.load` starts); `events.count` counts delivered events. */
export function workerInstance(prepared, init, events = { count: 0 }, pool = new WorkerPool(0), dedicated = false) {
  return ThreadInstance.start(
    prepared,
    init,
    {
      onEvents: (batch) => {
        events.count += batch.length;
      },
      rpc: RPC,
    },
    60_000,
    pool,
    dedicated,
  );
}

/** Run a task on an in-thread instance; throws unless it returned ok. */
export function runCore(inst, task) {
  const r = inst.run(task);
  if (!r.ok) throw new Error(`agent run failed: ${r.error.code}: ${r.error.message}`);
  return r.output;
}
