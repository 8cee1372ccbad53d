/**
 * The host side of one agent thread: a worker that hosts many instances (slots), with the
 * queue of runs it is working through.
 *
 * One guest runs at a time on a thread, so runs are answered in the order they were posted. A
 * run's time limit counts from when it reaches the head of that queue (the thread starts it),
 * not from when it was posted: an agent's limits measure its own execution, and a neighbour's
 * long run delays it without using up its budget.
 *
 * When a run must stop (its time is up, its caller cancelled, its agent closed) the instance's
 * interrupt cell is set and the guest stops at its next check; only if it has not returned
 * within {@link STOP_GRACE_MS} is the thread terminated. When a thread dies (terminated, or its
 * V8 heap exhausted) the instance that was running is the one that failed; every other
 * instance on it is told it was lost, so that its agent starts it again elsewhere.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort, type TransferListItem } from 'node:worker_threads';
import { LimitError, SandboxError } from '../../errors.js';
import { Bell, SPIN_MS } from './bell.js';
import type { FromWorker, ThreadStart, ToWorker } from './protocol.js';
import { serveRpc, type RpcHandlers } from './rpc.js';
import type { GatePolicy } from '../../gate/gate.js';

/**
 * The default cap of an agent thread's V8 heap (MiB): the host code and the JS glue and host
 * objects of every instance on it. A thread that reaches it dies (the instance running is
 * blamed, the others restarted elsewhere).
 */
export const DEFAULT_THREAD_HEAP_MB = Object.freeze({ shared: 2048, dedicated: 512 });

/** How long a stopped guest has to return before its thread is terminated. */
export const STOP_GRACE_MS = 250;

/** What a slot's owner (an instance) is told by its thread. */
export interface SlotOwner {
  /** `ready`, `init-error` and `events` messages addressed to the slot. */
  onMessage(m: FromWorker): void;
  /** The thread died: `culprit` when this slot was running (or being stopped) at the time. */
  onThreadLost(error: SandboxError, culprit: boolean): void;
  /** The host-call handlers of the slot and the signal that aborts its calls in progress. */
  readonly rpcRoute: { readonly handlers: RpcHandlers; readonly signal: AbortSignal };
}

type ResultMessage = Extract<FromWorker, { type: 'result' }>;

interface Request {
  readonly id: number;
  readonly slot: number;
  readonly timeoutMs: number;
  readonly onTimeout: () => void;
  readonly resolve: (m: ResultMessage) => void;
  timer?: NodeJS.Timeout;
  /** Called once it is answered (see `afterQueued`). */
  after?: (() => void)[];
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

/** One worker and the instances it hosts. */
export class AgentThread {
  private readonly worker: Worker;
  private readonly results: MessagePort;
  private readonly policies: MessagePort;
  private readonly bell: Int32Array;
  /** The counter host-call replies bump (see `rpc.ts`); bumped to wake a stopped guest's waits. */
  readonly rpcCounter: Int32Array;
  private readonly owners = new Map<number, SlotOwner>();
  private readonly closing = new Set<number>();
  private readonly modulesSent = new Set<string>();
  private readonly queue: Request[] = [];
  private nextSlot = 1;
  private nextId = 1;
  private seenResults = 0;
  private stopping: { slot: number; error: SandboxError } | undefined;
  private stopsPending = 0;
  private deadError: SandboxError | undefined;
  /** Resolves once the worker has loaded the host code. */
  readonly loaded: Promise<void>;

  /**
   * `dedicated`: the thread hosts one instance and is terminated as soon as it must stop (the
   * isolation of one thread per agent). `onExit` is told when the thread is gone. `heapMb`:
   * the cap of its V8 heap (default {@link DEFAULT_THREAD_HEAP_MB}).
   */
  constructor(
    readonly dedicated: boolean,
    private readonly onExit: (t: AgentThread) => void,
    heapMb: number = dedicated ? DEFAULT_THREAD_HEAP_MB.dedicated : DEFAULT_THREAD_HEAP_MB.shared,
  ) {
    this.worker = new Worker(WORKER_URL, {
      // The JS heap of the host code and glue of every instance on the thread; guest linear
      // memory is capped inside the modules and is not part of it.
      resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: 8, stackSizeMb: 8 },
      stdout: true,
      stderr: true,
    });
    // Host-side prints from a worker must never mix into the CLI's stdout; guests' stdio is
    // captured by the stdio capability, not here.
    this.worker.stdout.resume();
    this.worker.stderr.resume();
    const channel = new MessageChannel();
    this.results = channel.port1;
    this.bell = new Int32Array(new SharedArrayBuffer(Bell.LENGTH * 4));
    // One channel each for host calls and policy updates, shared by the thread's instances.
    const rpc = new MessageChannel();
    const rpcShared = new SharedArrayBuffer(4);
    this.rpcCounter = new Int32Array(rpcShared);
    serveRpc(rpc.port1, rpcShared, (slot) => this.owners.get(slot)?.rpcRoute);
    rpc.port1.unref();
    const policies = new MessageChannel();
    this.policies = policies.port1;
    const start: ThreadStart = { type: 'start', results: channel.port2, bell: this.bell.buffer as SharedArrayBuffer, rpc: rpc.port2, rpcShared, policies: policies.port2 };
    this.worker.postMessage(start, [channel.port2, rpc.port2, policies.port2]);
    this.results.on('message', (m: FromWorker) => this.dispatch(m));
    this.loaded = new Promise<void>((resolve) => {
      const onLoaded = (m: FromWorker) => {
        if (m.type !== 'loaded') return;
        this.worker.off('message', onLoaded);
        resolve();
      };
      this.worker.on('message', onLoaded);
      this.worker.once('exit', () => resolve());
    });
    this.worker.on('error', (e: Error & { code?: string }) => {
      this.deadError ??=
        e.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new LimitError('MEMORY_LIMIT', `agent instance exhausted its thread's host heap: ${e.message}`, { limit: 'worker heap' })
          : new SandboxError('INTERNAL', `agent thread failed: ${e.message}`);
    });
    this.worker.once('exit', () => this.lost());
    this.idle(true);
  }

  /** Instances hosted now. */
  get size(): number {
    return this.owners.size;
  }

  /** False once the thread has died or is being terminated. */
  get alive(): boolean {
    return this.deadError === undefined && this.stopping === undefined;
  }

  /**
   * Whether new instances may go here: alive, and not waiting to see whether a stopped guest
   * returns (a new instance queued behind a guest that will not stop would die with it).
   */
  get accepting(): boolean {
    return this.alive && this.stopsPending === 0;
  }

  /** Keep the process alive only while the thread hosts instances. */
  private idle(idle: boolean): void {
    if (idle) {
      this.worker.unref();
      this.results.unref();
    } else {
      this.worker.ref();
      this.results.ref();
    }
  }

  /** Reserve a slot for `owner`. */
  attach(owner: SlotOwner): number {
    const slot = this.nextSlot++;
    this.owners.set(slot, owner);
    if (this.owners.size === 1) this.idle(false);
    return slot;
  }

  /**
   * Close a slot. Its owner keeps receiving the slot's events until the thread confirms (the
   * audit records of a stopped run still arrive).
   */
  detach(slot: number): void {
    if (!this.owners.has(slot) || this.closing.has(slot)) return;
    this.closing.add(slot);
    this.post({ type: 'close', slot });
  }

  private closed(slot: number): void {
    this.closing.delete(slot);
    if (!this.owners.delete(slot) || this.owners.size > 0) return;
    // A dedicated thread ends with its instance; a shared one waits for the next.
    if (this.dedicated) void this.close();
    else this.idle(true);
  }

  /** Send a slot its new policy (the slot's policy cell is bumped by the caller). */
  postPolicy(slot: number, policy: GatePolicy): void {
    if (!this.deadError) this.policies.postMessage({ slot, policy });
  }

  /** Post a command and ring the bell (a lingering thread reads it at once). */
  post(m: ToWorker, transfer: TransferListItem[] = []): void {
    if (this.deadError) return;
    this.worker.postMessage(m, transfer);
    Atomics.add(this.bell, Bell.CMD, 1);
    Atomics.notify(this.bell, Bell.CMD);
  }

  /**
   * Post a run or call and resolve with its result message. `onTimeout` runs when it has been
   * at the head of the queue (running) for `timeoutMs`.
   */
  request(slot: number, message: (id: number) => ToWorker, timeoutMs: number, onTimeout: () => void): Promise<ResultMessage> {
    const id = this.nextId++;
    return new Promise<ResultMessage>((resolve) => {
      const r: Request = { id, slot, timeoutMs, onTimeout, resolve };
      this.queue.push(r);
      this.post(message(id));
      if (this.queue.length === 1) {
        this.arm(r);
        this.spinUntil(() => this.queue[0]?.id !== id);
      }
    });
  }

  /** Start the time limit of the run now at the head of the queue. */
  private arm(r: Request): void {
    r.timer = setTimeout(r.onTimeout, r.timeoutMs);
  }

  /**
   * A short run on an idle thread is answered in microseconds: wait for it here, reading the
   * reply off the port synchronously, rather than pay for two event-loop wake-ups.
   */
  spinUntil(done: () => boolean, ms = SPIN_MS): void {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      if (Atomics.load(this.bell, Bell.RESULT) === this.seenResults) continue;
      this.drain();
      if (done()) return;
    }
  }

  /**
   * Call `fn` once the runs and calls queued on the thread now have been answered (at once
   * when there are none): the thread takes up what is posted now only after them. Not called
   * if the thread dies first (its instances are told so).
   */
  afterQueued(fn: () => void): void {
    const last = this.queue[this.queue.length - 1];
    if (last) (last.after ??= []).push(fn);
    else fn();
  }

  /** Whether no run or call is queued or running on the thread (a command is picked up at once). */
  get free(): boolean {
    return this.queue.length === 0;
  }

  /**
   * Whether the thread already has the set of compiled modules named `key` (posted with the
   * first instance that uses them and kept there); records that it will have them now.
   */
  hasModules(key: string): boolean {
    if (this.modulesSent.has(key)) return true;
    this.modulesSent.add(key);
    return false;
  }

  /** Take every posted reply off the port now. */
  private drain(): void {
    this.seenResults = Atomics.load(this.bell, Bell.RESULT);
    for (let m = receiveMessageOnPort(this.results); m; m = receiveMessageOnPort(this.results)) this.dispatch(m.message as FromWorker);
  }

  private dispatch(m: FromWorker): void {
    if (m.type === 'result') {
      const i = this.queue.findIndex((r) => r.id === m.id);
      if (i < 0) return;
      const [r] = this.queue.splice(i, 1);
      clearTimeout(r!.timer);
      if (i === 0 && this.queue.length > 0) this.arm(this.queue[0]!);
      r!.resolve(m);
      for (const f of r!.after ?? []) f();
      return;
    }
    if (m.type === 'loaded') return;
    if (m.type === 'closed') this.closed(m.slot);
    else this.owners.get(m.slot)?.onMessage(m);
  }

  /** True while `slot` is running guest code or has a run at the head of the queue. */
  private isRunning(slot: number): boolean {
    return Atomics.load(this.bell, Bell.RUNNING) === slot || this.queue[0]?.slot === slot;
  }

  /**
   * Make sure a stopped instance's guest has returned: its interrupt cell is already set; if it
   * is still running after the grace period (or at once on a dedicated thread), terminate the
   * thread, blaming `slot`.
   */
  ensureStopped(slot: number, error: SandboxError): void {
    if (this.dedicated) {
      this.terminate(slot, error);
      return;
    }
    if (!this.isRunning(slot)) return;
    this.stopsPending++;
    const check = () => {
      this.stopsPending--;
      if (this.deadError || !this.isRunning(slot)) return;
      this.terminate(slot, error);
    };
    setTimeout(check, STOP_GRACE_MS).unref();
  }

  /** Terminate the worker; `slot` is the instance to blame (-1: none, everyone is lost). */
  terminate(slot: number, error: SandboxError): void {
    if (this.deadError || this.stopping) return;
    this.stopping = { slot, error };
    void this.worker.terminate();
  }

  /** Close the thread for good (its instances are closed first by their owners). */
  async close(): Promise<void> {
    this.stopping ??= { slot: -1, error: new SandboxError('INTERNAL', 'sandbox closed') };
    // Hold the process until the thread has really gone: a terminating worker does not keep
    // the event loop alive by itself (a `close()` awaited at the end of a program would leave
    // its promise unsettled and the process would exit with status 13).
    const keep = setInterval(() => {}, 1000);
    try {
      await this.worker.terminate();
    } finally {
      clearInterval(keep);
    }
  }

  /** The worker is gone: fail the culprit, tell the others, clear the queue. */
  private lost(): void {
    const running = Atomics.load(this.bell, Bell.RUNNING);
    const blamed = this.stopping?.slot ?? (running || -1);
    const error = this.deadError ?? this.stopping?.error ?? new SandboxError('INTERNAL', 'agent thread exited');
    this.deadError = error;
    this.results.close();
    this.policies.close();
    for (const r of this.queue) clearTimeout(r.timer);
    this.queue.length = 0;
    const owners = [...this.owners].filter(([slot]) => !this.closing.has(slot));
    this.owners.clear();
    this.closing.clear();
    for (const [slot, owner] of owners) owner.onThreadLost(slot === blamed ? error : new ThreadLostError(error), slot === blamed);
    this.onExit(this);
  }
}

/**
 * An instance lost because its thread died for another instance: nothing of the agent's own
 * ran wrong, and a run it had queued never started, so its agent starts a new instance and
 * tries again.
 */
export class ThreadLostError extends SandboxError {
  constructor(readonly why: SandboxError) {
    super('INTERNAL', `the agent's thread was lost (another instance on it failed: ${why.message}); the instance is restarted`);
  }
}
