/**
 * Worker entry: one agent instance per worker, never reused. A worker may be started ahead of
 * time (pre-warmed, with the host code already loaded) and then waits for its one `init`
 * message. The host thread can terminate this worker at any time (timeout, limit), which is
 * what makes a runaway guest recoverable.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { RpcClient } from './rpc.js';
import { encodeEvents } from './event-codec.js';
import { createCoreInstance, classifyThrow, type CoreInstance } from './instance-core.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);
let instance: CoreInstance | undefined;
let initialized = false;

async function init(data: WorkerInit & { rpcPort: MessagePort; policyPort: MessagePort }): Promise<void> {
  try {
    instance = await createCoreInstance({
      agentId: data.agentId,
      jsUrl: data.jsUrl,
      modules: data.modules,
      policy: data.policy,
      caps: data.caps,
      env: data.env,
      toolNames: data.toolNames,
      rpc: new RpcClient(data.rpcPort, data.rpcShared),
      policyUpdates: data.policyShared ? { shared: data.policyShared, port: data.policyPort } : undefined,
      deliver: (events) => post({ type: 'events', batch: encodeEvents(events) }),
      audit: data.audit,
      fuel: data.fuel,
      quota: data.quota,
      auth: data.auth,
      native: data.native,
    });
    post({ type: 'ready', fuelUsed: instance.fuelUsedAtStart });
  } catch (e) {
    const c = classifyThrow(e);
    post({ type: 'init-error', error: c.error.code === 'AGENT_ERROR' ? { ...c.error, message: `instantiation failed: ${c.error.message}` } : c.error });
  }
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'init') {
    // One instance per worker, ever: a second init is ignored.
    if (initialized) return;
    initialized = true;
    void init(m.init);
    return;
  }
  if (!instance) return;
  if (m.type === 'run') {
    const r = instance.run(m.task, m.timeoutMs);
    post(r.ok ? { type: 'result', id: m.id, ok: true, output: r.output, fuelUsed: r.fuelUsed } : { type: 'result', id: m.id, ok: false, error: r.error, fatal: r.fatal, fuelUsed: r.fuelUsed });
  } else if (m.type === 'call') {
    const r = instance.call(m.call, m.timeoutMs);
    post(r.ok ? { type: 'result', id: m.id, ok: true, value: r.value, fuelUsed: r.fuelUsed } : { type: 'result', id: m.id, ok: false, error: r.error, fatal: r.fatal, fuelUsed: r.fuelUsed });
  }
});
post({ type: 'loaded' });
