/**
 * Agent thread entry: one worker hosts many agent instances, each in its own slot with its own
 * host context (gate, capabilities, ports); they share nothing but the thread. Only one guest
 * runs at a time, so the host can tell from the RUNNING cell which one a dying thread was in.
 *
 * Commands arrive on `parentPort`; results and events leave on the results port given by the
 * `start` message, each followed by a bump of the RESULT doorbell so that a host spinning for a
 * short run can read the reply synchronously. After a run the thread lingers a few tens of
 * microseconds for the next command and reads it synchronously too: back-to-back runs then
 * never wait for an event-loop turn on either side (see `host-thread.ts`).
 */
import { parentPort, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { RpcChannel, RpcClient } from './rpc.js';
import { encodeEvents } from './event-codec.js';
import { createCoreInstance, classifyThrow, type CoreInstance } from './instance-core.js';
import { Bell, LINGER_MS, SPIN_FIRST_MS } from './bell.js';
import type { FromWorker, ThreadStart, ToWorker, WorkerInit } from './protocol.js';
import type { SerializedError } from '../../errors.js';
import type { GatePolicy } from '../../gate/gate.js';

const port = parentPort!;
let results: MessagePort | undefined;
let bell: Int32Array | undefined;
let rpc: RpcChannel | undefined;
let policyPort: MessagePort | undefined;
/** Policies posted for slots that have not read them yet. */
const policies = new Map<number, GatePolicy>();

/** The newest policy posted for `slot`, if any (read synchronously: the guest may be mid-run). */
function takePolicy(slot: number): GatePolicy | undefined {
  for (let m = receiveMessageOnPort(policyPort!); m; m = receiveMessageOnPort(policyPort!)) {
    const { slot: s, policy } = m.message as { slot: number; policy: GatePolicy };
    policies.set(s, policy);
  }
  const p = policies.get(slot);
  policies.delete(slot);
  return p;
}
/** Live instances by slot; a slot closed while instantiating is dropped once it is ready. */
const instances = new Map<number, CoreInstance>();
const starting = new Set<number>();
const closedEarly = new Set<number>();
const interrupts = new Map<number, Int32Array>();

function post(m: FromWorker): void {
  results!.postMessage(m);
  Atomics.add(bell!, Bell.RESULT, 1);
}

async function init(slot: number, data: WorkerInit): Promise<void> {
  starting.add(slot);
  const interrupt = new Int32Array(data.interrupt);
  interrupts.set(slot, interrupt);
  try {
    const instance = await createCoreInstance({
      agentId: data.agentId,
      jsUrl: data.jsUrl,
      modules: componentModules(data),
      policy: data.policy,
      caps: data.caps,
      env: data.env,
      toolNames: data.toolNames,
      rpc: new RpcClient(rpc!, slot, interrupt),
      policyUpdates: data.policyShared ? { shared: data.policyShared, take: () => takePolicy(slot) } : undefined,
      deliver: (events) => post({ type: 'events', slot, batch: encodeEvents(events) }),
      audit: data.audit,
      fuel: data.fuel,
      quota: data.quota,
      auth: data.auth,
      native: data.native ? { ...data.native, interrupt: data.interrupt } : undefined,
      interrupt,
      onGuest: (inGuest) => Atomics.store(bell!, Bell.RUNNING, inGuest ? slot : 0),
    });
    if (closedEarly.delete(slot)) {
      instance.close();
      post({ type: 'closed', slot });
      return;
    }
    instances.set(slot, instance);
    post({ type: 'ready', slot, fuelUsed: instance.fuelUsedAtStart });
  } catch (e) {
    const c = classifyThrow(e);
    interrupts.delete(slot);
    if (closedEarly.delete(slot)) post({ type: 'closed', slot });
    post({ type: 'init-error', slot, error: c.error.code === 'AGENT_ERROR' ? { ...c.error, message: `instantiation failed: ${c.error.message}` } : c.error });
  } finally {
    starting.delete(slot);
    Atomics.store(bell!, Bell.RUNNING, 0);
  }
}

/** Compiled modules by their key (a component under one metering), kept for later instances. */
const modulesByKey = new Map<string, Record<string, WebAssembly.Module>>();

function componentModules(data: WorkerInit): Record<string, WebAssembly.Module> {
  if (data.modules) {
    modulesByKey.set(data.modulesKey, data.modules);
    return data.modules;
  }
  return modulesByKey.get(data.modulesKey) ?? {};
}

const GONE: SerializedError = { code: 'INTERNAL', message: 'agent instance is gone (closed or stopped)' };

/** Handle one command; true when it ran guest code (then the thread lingers for the next). */
function handle(m: ToWorker): boolean {
  switch (m.type) {
    case 'init':
      void init(m.slot, m.init);
      return false;
    case 'close': {
      const inst = instances.get(m.slot);
      instances.delete(m.slot);
      interrupts.delete(m.slot);
      policies.delete(m.slot);
      if (starting.has(m.slot)) {
        closedEarly.add(m.slot);
        return false;
      }
      inst?.close();
      post({ type: 'closed', slot: m.slot });
      return false;
    }
    case 'run':
    case 'call': {
      const inst = instances.get(m.slot);
      const stopped = interrupts.get(m.slot);
      // A run the host gave up on while it waited in the queue never starts.
      if (!inst || (stopped && Atomics.load(stopped, 0) !== 0)) {
        post({ type: 'result', slot: m.slot, id: m.id, ok: false, error: GONE, fatal: true, fuelUsed: 0 });
        return false;
      }
      if (m.type === 'run') {
        const r = inst.run(m.task, m.timeoutMs);
        post(r.ok ? { type: 'result', slot: m.slot, id: m.id, ok: true, output: r.output, fuelUsed: r.fuelUsed } : { type: 'result', slot: m.slot, id: m.id, ok: false, error: r.error, fatal: r.fatal, fuelUsed: r.fuelUsed });
      } else {
        const r = inst.call(m.call, m.timeoutMs);
        post(r.ok ? { type: 'result', slot: m.slot, id: m.id, ok: true, value: r.value, fuelUsed: r.fuelUsed } : { type: 'result', slot: m.slot, id: m.id, ok: false, error: r.error, fatal: r.fatal, fuelUsed: r.fuelUsed });
      }
      return true;
    }
  }
}

/**
 * After a run, wait a little for the next command without returning to the event loop: a
 * caller issuing runs back to back gets its next one picked up in microseconds. The wait spins
 * for {@link SPIN_FIRST_MS}, then sleeps on the doorbell (the host notifies it) up to
 * {@link LINGER_MS} in all. Stops at the first command that does not run guest code (an `init`
 * needs the event loop).
 */
function linger(): void {
  const b = bell!;
  let seen = Atomics.load(b, Bell.CMD);
  let start = performance.now();
  for (;;) {
    const waited = performance.now() - start;
    if (waited >= LINGER_MS) return;
    if (Atomics.load(b, Bell.CMD) === seen) {
      if (waited >= SPIN_FIRST_MS) Atomics.wait(b, Bell.CMD, seen, LINGER_MS - waited);
      continue;
    }
    seen = Atomics.load(b, Bell.CMD);
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      if (!handle(m.message as ToWorker)) return;
    }
    start = performance.now();
  }
}

port.on('message', (m: ThreadStart | ToWorker) => {
  if (m.type === 'start') {
    results = m.results;
    bell = new Int32Array(m.bell);
    rpc = new RpcChannel(m.rpc, m.rpcShared);
    policyPort = m.policies;
    return;
  }
  if (!results) return;
  if (handle(m)) linger();
});
port.postMessage({ type: 'loaded' } satisfies FromWorker);
