/**
 * One agent instance on an agent thread, as the sandbox drives it: start, run, call, stop,
 * policy updates. The instance owns its slot on the thread and its channels (host calls,
 * policy updates) and cells (interrupt, audit acknowledgements).
 */
import { LimitError, revive, SandboxError, type SerializedError } from '../../errors.js';
import type { InstanceEvent } from '../../capabilities/context.js';
import type { RpcHandlers } from './rpc.js';
import { decodeEvents } from './event-codec.js';
import type { ExportCall, FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { ThreadLostError, type AgentThread, type SlotOwner } from './agent-thread.js';
import { SPIN_MS } from './bell.js';
import type { ThreadPool } from './thread-pool.js';
import type { InstanceInit, LoadedComponent } from './engine.js';

/** Callbacks from an instance to its owner. */
export interface InstanceHooks {
  readonly onEvents: (events: InstanceEvent[]) => void;
  readonly rpc: RpcHandlers;
  /**
   * The instance was lost because its thread died for another instance (a heap exhaustion, a
   * guest that would not stop): the owner should start a new one.
   */
  readonly onLost?: ((error: SandboxError) => void) | undefined;
}

/**
 * How long the host spins for a new instance on a free thread: an instance of a component the
 * thread has instantiated before is ready in 40–100 µs on wasmtime, 200–400 µs on jco.
 */
const START_SPIN_MS = 0.5;

const moduleKeys = new WeakMap<object, string>();
let nextModulesKey = 1;

/** A name for one set of compiled modules (the object `prepareComponent` caches), unique in this process. */
function keyOf(modules: object): string {
  let k = moduleKeys.get(modules);
  if (!k) {
    k = String(nextModulesKey++);
    moduleKeys.set(modules, k);
  }
  return k;
}

/** One agent instance in a slot of an agent thread. */
export class ThreadInstance implements SlotOwner {
  private readonly thread: AgentThread;
  private readonly slot: number;
  private dead: SandboxError | undefined;
  private readonly rejecters = new Set<(e: SandboxError) => void>();
  /** Aborts the host calls (HTTP, tools) this instance still has in progress. */
  private readonly calls = new AbortController();
  /** @internal for the thread: this instance's host-call handlers */
  readonly rpcRoute: { readonly handlers: RpcHandlers; readonly signal: AbortSignal };
  private readonly interrupt: Int32Array;
  private readonly auditCell: Int32Array | undefined;
  private readonly policyCell: Int32Array;
  private readonly ready: Promise<void>;
  private settleReady!: (e?: SandboxError) => void;
  private started = false;
  private settled = false;
  /** Fuel the start functions used. */
  fuelUsedAtStart = 0;
  /** Fuel the last finished run used. */
  lastFuelUsed = 0;

  private constructor(
    prepared: LoadedComponent,
    init: InstanceInit,
    private readonly hooks: InstanceHooks,
    pool: ThreadPool,
    dedicated: boolean,
  ) {
    this.rpcRoute = { handlers: hooks.rpc, signal: this.calls.signal };
    this.policyCell = new Int32Array(new SharedArrayBuffer(4));
    this.interrupt = new Int32Array(new SharedArrayBuffer(4));
    this.auditCell = init.audit ? new Int32Array(init.audit.shared) : undefined;
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (e) => {
        this.settled = true;
        if (e) reject(e);
        else resolve();
      };
    });
    this.ready.catch(() => {});
    this.thread = pool.acquire(dedicated);
    this.slot = this.thread.attach(this);
    const modulesKey = keyOf(prepared.modules);
    const data: WorkerInit = {
      ...init,
      jsUrl: prepared.jsUrl,
      // Posted once per thread and set of compiled modules (a component under one metering:
      // other caps make other modules): the thread keeps them for later instances.
      modulesKey,
      modules: prepared.jsUrl === '' || this.thread.hasModules(modulesKey) ? undefined : prepared.modules,
      policyShared: this.policyCell.buffer as SharedArrayBuffer,
      interrupt: this.interrupt.buffer as SharedArrayBuffer,
    };
    this.thread.post({ type: 'init', slot: this.slot, init: data });
    // A new instance is ready in well under a millisecond: wait for it here rather than pay for
    // event-loop wake-ups, unless the thread is busy with another instance's run.
    this.thread.spinUntil(() => this.settled, this.thread.free ? START_SPIN_MS : SPIN_MS);
  }

  /**
   * Start an instance and wait until the component is instantiated (bounded by `timeoutMs`).
   * `dedicated`: on a thread of its own (see `ThreadPool`).
   */
  static async start(prepared: LoadedComponent, init: InstanceInit, hooks: InstanceHooks, timeoutMs: number, pool: ThreadPool, dedicated = false): Promise<ThreadInstance> {
    const t0 = performance.now();
    try {
      return await ThreadInstance.startOnce(prepared, init, hooks, timeoutMs, pool, dedicated);
    } catch (e) {
      // Its thread died for another instance before this one was ready: once more elsewhere.
      if (!(e instanceof ThreadLostError)) throw e;
      return ThreadInstance.startOnce(prepared, init, hooks, Math.max(1, timeoutMs - (performance.now() - t0)), pool, dedicated);
    }
  }

  private static async startOnce(prepared: LoadedComponent, init: InstanceInit, hooks: InstanceHooks, timeoutMs: number, pool: ThreadPool, dedicated: boolean): Promise<ThreadInstance> {
    const inst = new ThreadInstance(prepared, init, hooks, pool, dedicated);
    // Ready (or refused) while the constructor waited for it: no time limit left to arm.
    if (inst.started) return inst;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        inst.ready,
        new Promise<never>((_, rej) => {
          // The limit counts from when the thread takes the instance up, as a run's does: other
          // instances' runs queued ahead of it delay it without using up its time.
          inst.thread.afterQueued(() => {
            if (inst.settled) return;
            timer = setTimeout(() => {
              const e = new LimitError('TIMEOUT', `agent did not finish instantiating within ${timeoutMs} ms (start function running too long?)`, { limit: 'maxExecutionTime', allowed: timeoutMs });
              inst.kill(e);
              rej(e);
            }, timeoutMs);
          });
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return inst;
  }

  /** @internal from the thread */
  onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        this.fuelUsedAtStart = m.fuelUsed;
        this.started = true;
        this.settleReady();
        break;
      case 'init-error': {
        const e = revive(m.error);
        this.stop(e, false);
        this.settleReady(e);
        break;
      }
      case 'events':
        this.hooks.onEvents(decodeEvents(m.batch));
        break;
    }
  }

  /** @internal from the thread */
  onThreadLost(error: SandboxError, culprit: boolean): void {
    const wasDead = this.dead !== undefined;
    this.fail(error);
    this.settleReady(error);
    // (One still starting is started again by `start`.)
    if (!culprit && !wasDead && this.started) this.hooks.onLost?.(error);
  }

  /** True once the instance can no longer run (trap, limit, timeout, close, lost thread). */
  get isDead(): boolean {
    return this.dead !== undefined;
  }

  /** Mark dead, stop the guest where it is, wake its waits, reject what is pending. */
  private fail(e: SandboxError): void {
    if (this.dead) return;
    this.dead = e;
    Atomics.store(this.interrupt, 0, 1);
    Atomics.notify(this.interrupt, 0);
    Atomics.add(this.thread.rpcCounter, 0, 1);
    Atomics.notify(this.thread.rpcCounter, 0);
    if (this.auditCell) Atomics.notify(this.auditCell, 0);
    this.calls.abort();
    for (const reject of this.rejecters) reject(e);
    this.rejecters.clear();
  }

  /** Fail, free the slot, and make sure the guest returns (`running`: it may still be in it). */
  private stop(e: SandboxError, running: boolean): void {
    this.fail(e);
    this.thread.detach(this.slot);
    if (running) this.thread.ensureStopped(this.slot, e);
  }

  /** Stop the instance: the guest stops at its next check; its thread dies only if it does not. */
  kill(reason: SandboxError): void {
    this.stop(reason, true);
  }

  /** Run one task; `timeoutMs` counts from when the thread starts it. */
  run(task: string, timeoutMs: number): Promise<string> {
    return this.post((id) => ({ type: 'run', slot: this.slot, id, task, timeoutMs }), timeoutMs) as Promise<string>;
  }

  /** Call an exported function (arguments and result in jco's form), as {@link run} runs a task. */
  call(call: ExportCall, timeoutMs: number): Promise<unknown> {
    return this.post((id) => ({ type: 'call', slot: this.slot, id, call, timeoutMs }), timeoutMs);
  }

  private post(message: (id: number) => ToWorker, timeoutMs: number): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise<unknown>((resolve, reject) => {
      this.rejecters.add(reject);
      const onTimeout = () => {
        this.kill(new LimitError('TIMEOUT', `agent run exceeded its time limit (${Math.round(timeoutMs)} ms left of the run's budget); raise resourceLimits.maxExecutionTime or --timeout`, { limit: 'maxExecutionTime', allowed: timeoutMs }));
      };
      void this.thread.request(this.slot, message, timeoutMs, onTimeout).then((m) => {
        this.rejecters.delete(reject);
        this.lastFuelUsed = m.fuelUsed;
        if (this.dead) return reject(this.dead);
        if (m.ok) return resolve('output' in m ? m.output : m.value);
        const e = revive(m.error as SerializedError);
        if (m.fatal) this.stop(e, false);
        reject(e);
      });
    });
  }

  /**
   * Publish a new (validated) policy to the running instance: its very next gate decision uses
   * it, even in the middle of a run.
   */
  updatePolicy(policy: WorkerInit['policy']): void {
    if (this.dead) return;
    this.thread.postPolicy(this.slot, policy);
    Atomics.add(this.policyCell, 0, 1);
  }

  /** Stop the instance and free its slot (a dedicated thread ends with it). */
  async close(): Promise<void> {
    this.stop(new SandboxError('INTERNAL', 'agent closed'), true);
    if (this.thread.dedicated) await this.thread.close();
  }
}
