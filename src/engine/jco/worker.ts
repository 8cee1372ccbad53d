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
import { createCoreInstance, classifyThrow, type CoreInstance, type CoreInstanceOptions } from './instance-core.js';
import { createNativeInstance } from '../wasmtime/instance.js';
import { Bell, LINGER_MS, SPIN_AFTER_START_MS, SPIN_FIRST_MS } from './bell.js';
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

/**
 * Start the instance of `slot`. A wasmtime instance is made synchronously (true: done, the
 * thread may linger for the next command); a jco instance imports its module and instantiates
 * asynchronously (false).
 */
function init(slot: number, data: WorkerInit): boolean {
  starting.add(slot);
  const interrupt = new Int32Array(data.interrupt);
  interrupts.set(slot, interrupt);
  const options: CoreInstanceOptions = {
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
    indicators: data.indicators,
    native: data.native ? { ...data.native, interrupt: data.interrupt } : undefined,
    interrupt,
    onGuest: (inGuest) => Atomics.store(bell!, Bell.RUNNING, inGuest ? slot : 0),
  };
  if (options.native) {
    let instance: CoreInstance;
    try {
      instance = createNativeInstance(options, options.native);
    } catch (e) {
      initFailed(slot, e);
      return true;
    }
    initDone(slot, instance);
    return true;
  }
  createCoreInstance(options).then(
    (instance) => initDone(slot, instance),
    (e: unknown) => initFailed(slot, e),
  );
  return false;
}

function initDone(slot: number, instance: CoreInstance): void {
  starting.delete(slot);
  Atomics.store(bell!, Bell.RUNNING, 0);
  if (closedEarly.delete(slot)) {
    instance.close();
    post({ type: 'closed', slot });
    return;
  }
  instances.set(slot, instance);
  post({ type: 'ready', slot, fuelUsed: instance.fuelUsedAtStart });
}

function initFailed(slot: number, e: unknown): void {
  starting.delete(slot);
  Atomics.store(bell!, Bell.RUNNING, 0);
  const c = classifyThrow(e);
  interrupts.delete(slot);
  if (closedEarly.delete(slot)) post({ type: 'closed', slot });
  post({ type: 'init-error', slot, error: c.error.code === 'AGENT_ERROR' ? { ...c.error, message: `instantiation failed: ${c.error.message}` } : c.error });
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

/**
 * Handle one command; returns how long the thread should then spin for the next one (0: return
 * to the event loop, which an instance being made asynchronously needs). See {@link linger}.
 */
function handle(m: ToWorker): number {
  switch (m.type) {
    case 'init':
      return init(m.slot, m.init) && starting.size === 0 ? SPIN_AFTER_START_MS : 0;
    case 'close': {
      const inst = instances.get(m.slot);
      instances.delete(m.slot);
      interrupts.delete(m.slot);
      policies.delete(m.slot);
      if (starting.has(m.slot)) {
        closedEarly.add(m.slot);
        return 0;
      }
      inst?.close();
      post({ type: 'closed', slot: m.slot });
      return starting.size === 0 ? SPIN_AFTER_START_MS : 0;
    }
    case 'run':
    case 'call': {
      const inst = instances.get(m.slot);
      const stopped = interrupts.get(m.slot);
      // A run the host gave up on while it waited in the queue never starts.
      if (!inst || (stopped && Atomics.load(stopped, 0) !== 0)) {
        post({ type: 'result', slot: m.slot, id: m.id, ok: false, error: GONE, fatal: true, fuelUsed: 0 });
        return 0;
      }
      if (m.type === 'run') {
        const r = inst.run(m.task, m.timeoutMs);
        post(r.ok ? { type: 'result', slot: m.slot, id: m.id, ok: true, output: r.output, fuelUsed: r.fuelUsed } : { type: 'result', slot: m.slot, id: m.id, ok: false, error: r.error, fatal: r.fatal, fuelUsed: r.fuelUsed });
      } else {
        const r = inst.call(m.call, m.timeoutMs);
        post(r.ok ? { type: 'result', slot: m.slot, id: m.id, ok: true, value: r.value, fuelUsed: r.fuelUsed } : { type: 'result', slot: m.slot, id: m.id, ok: false, error: r.error, fatal: r.fatal, fuelUsed: r.fuelUsed });
      }
      return SPIN_FIRST_MS;
    }
  }
}

/**
 * After a command, wait a little for the next without returning to the event loop: a caller
 * issuing runs back to back (or loading agents one after another) gets its next one picked up
 * in microseconds. The wait spins for `spinMs` (what the last command returned), then sleeps on
 * the doorbell (the host notifies it) up to {@link LINGER_MS} in all. Stops at the first command
 * after which the thread needs its event loop (a jco instance being made).
 */
function linger(spinMs: number): void {
  const b = bell!;
  let seen = Atomics.load(b, Bell.CMD);
  let start = performance.now();
  for (;;) {
    const waited = performance.now() - start;
    if (waited >= LINGER_MS) return;
    if (Atomics.load(b, Bell.CMD) === seen) {
      if (waited >= spinMs) Atomics.wait(b, Bell.CMD, seen, LINGER_MS - waited);
      continue;
    }
    seen = Atomics.load(b, Bell.CMD);
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
      spinMs = handle(m.message as ToWorker);
      if (spinMs === 0) return;
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
  const spinMs = handle(m);
  if (spinMs > 0) linger(spinMs);
});
port.postMessage({ type: 'loaded' } satisfies FromWorker);
