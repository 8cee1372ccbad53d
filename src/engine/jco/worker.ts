/**
 * Worker entry: one agent instance per worker. The host thread can terminate this worker at
 * any time (timeout, limit), which is what makes a runaway guest recoverable.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { RpcClient } from './rpc.js';
import { createCoreInstance, classifyThrow } from './instance-core.js';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';

const init = workerData as WorkerInit & { rpcPort: MessagePort };
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

try {
  const instance = await createCoreInstance({
    agentId: init.agentId,
    jsUrl: init.jsUrl,
    modules: init.modules,
    policy: init.policy,
    caps: init.caps,
    env: init.env,
    toolNames: init.toolNames,
    rpc: new RpcClient(init.rpcPort, init.rpcShared),
    deliver: (events) => post({ type: 'events', events }),
  });
  port.on('message', (m: ToWorker) => {
    if (m.type !== 'run') return;
    const r = instance.run(m.task);
    post(r.ok ? { type: 'result', id: m.id, ok: true, output: r.output } : { type: 'result', id: m.id, ok: false, error: r.error, fatal: r.fatal });
  });
  post({ type: 'ready' });
} catch (e) {
  const c = classifyThrow(e);
  post({ type: 'init-error', error: { ...c.error, message: `instantiation failed: ${c.error.message}` } });
}
