/**
 * The jco engine: transpile once per content hash, compile the core modules once per process
 * (the compile hook where the metering issue instruments them), and run each instance in its
 * own worker.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { ComponentError, LimitError, revive, SandboxError, type SerializedError } from '../../errors.js';
import type { InstanceEvent } from '../../capabilities/context.js';
import type { ComponentSource } from '../component.js';
import { serveRpc, type RpcHandlers } from './rpc.js';
import { decodeEvents } from './event-codec.js';
import { transpileCached, type TranspiledComponent } from './transpile.js';
import type { ExportCall, FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { enableWasmFeatures } from './wasm-features.js';

/** Rewrites a core module's bytes before compilation (fuel charges, memory caps: see src/limits). */
export interface CoreModuleTransform {
  /** Names the rewrite in cache keys: the same key must always give the same bytes. */
  readonly key: string;
  /** Rewrite one core module; throws a `SandboxError` when it must not be loaded. */
  apply(name: string, bytes: Uint8Array): Uint8Array;
}

/** A component ready to instantiate: transpiled, with compiled core modules. */
export interface PreparedComponent extends TranspiledComponent {
  readonly modules: Readonly<Record<string, WebAssembly.Module>>;
  readonly jsUrl: string;
}

/**
 * What an instance is started from: on jco the transpiled glue and compiled core modules; on
 * wasmtime only the hash, imports and exports (`jsUrl` empty, no modules: the worker loads
 * the compiled artifact).
 */
export type LoadedComponent = Pick<PreparedComponent, 'hash' | 'imports' | 'exports' | 'jsUrl' | 'modules'>;

/** Per-instance settings (everything but the component). */
export type InstanceInit = Omit<WorkerInit, 'jsUrl' | 'modules' | 'rpcShared' | 'policyShared'>;

const compiled = new Map<string, Promise<Readonly<Record<string, WebAssembly.Module>>>>();

/**
 * The rewritten bytes of a core module, cached on disk beside the transpiled files (by the
 * component's hash and the transform's key), written atomically.
 */
async function transformed(dir: string, name: string, transform: CoreModuleTransform): Promise<Uint8Array> {
  const cacheFile = join(dir, `metered-${transform.key}`, name);
  try {
    return new Uint8Array(await readFile(cacheFile));
  } catch {
    // Not cached yet.
  }
  const out = transform.apply(name, new Uint8Array(await readFile(join(dir, name))));
  try {
    await mkdir(dirname(cacheFile), { recursive: true });
    const tmp = `${cacheFile}.${randomUUID()}.tmp`;
    await writeFile(tmp, out);
    await rename(tmp, cacheFile);
  } catch {
    // A cache that cannot be written only costs time.
  }
  return out;
}

/** Transpile (cached), rewrite (cached on disk) and compile (cached per process) a component. */
export async function prepareComponent(source: ComponentSource, cacheDir: string, transform?: CoreModuleTransform): Promise<PreparedComponent> {
  enableWasmFeatures();
  const t = await transpileCached(source, cacheDir);
  const key = transform ? `${t.hash}:${transform.key}` : t.hash;
  let modules = compiled.get(key);
  if (!modules) {
    modules = (async () => {
      const out: Record<string, WebAssembly.Module> = {};
      for (const name of t.coreFiles) {
        const bytes = transform ? await transformed(t.dir, name, transform) : new Uint8Array(await readFile(join(t.dir, name)));
        try {
          out[name] = await WebAssembly.compile(bytes);
        } catch (e) {
          throw new ComponentError(`${source.origin}: core module ${name} does not compile: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      return out;
    })();
    compiled.set(key, modules);
    modules.catch(() => compiled.delete(key));
  }
  return { ...t, modules: await modules, jsUrl: pathToFileURL(t.jsFile).href };
}

const WORKER_URL = new URL('./worker.js', import.meta.url);

/**
 * Workers started ahead of time with the host code loaded, each waiting for the one instance it
 * will ever run. Taking a worker from the pool removes it for good: workers are never reused,
 * so no state can pass from one agent to another. `size` 0 disables pre-warming.
 */
export class WorkerPool {
  private readonly idle: Worker[] = [];
  private readonly loaded = new WeakMap<Worker, Promise<void>>();
  private closed = false;

  constructor(private readonly size: number) {}

  private spawn(): Worker {
    const w = new Worker(WORKER_URL, {
      // The JS heap of the glue code; guest linear memory is capped inside the module.
      resourceLimits: { maxOldGenerationSizeMb: 512, stackSizeMb: 8 },
      stdout: true,
      stderr: true,
    });
    // Host-side prints from a worker must never mix into the CLI's stdout; guests' stdio is
    // captured by the stdio capability, not here.
    w.stdout.resume();
    w.stderr.resume();
    this.loaded.set(
      w,
      new Promise<void>((resolve) => {
        const onMessage = (m: FromWorker) => {
          if (m.type !== 'loaded') return;
          w.off('message', onMessage);
          resolve();
        };
        w.on('message', onMessage);
        w.once('exit', () => resolve());
      }),
    );
    return w;
  }

  /** Resolves when every idle worker has loaded the host code (for benchmarks and tests). */
  async ready(): Promise<void> {
    await Promise.all(this.idle.map((w) => this.loaded.get(w)));
  }

  /** Start idle workers up to the pool size. */
  fill(): void {
    while (!this.closed && this.idle.length < this.size) {
      const w = this.spawn();
      w.unref();
      w.once('exit', () => {
        const i = this.idle.indexOf(w);
        if (i >= 0) this.idle.splice(i, 1);
      });
      this.idle.push(w);
    }
  }

  /** A never-used worker (pre-warmed if one is ready), and top the pool up again. */
  take(): Worker {
    const w = this.idle.shift() ?? this.spawn();
    w.ref();
    setImmediate(() => this.fill());
    return w;
  }

  /** Terminate the idle workers and stop refilling. */
  async close(): Promise<void> {
    this.closed = true;
    const idle = this.idle.splice(0);
    await Promise.all(idle.map((w) => w.terminate()));
  }
}

/** Callbacks from an instance to its owner. */
export interface InstanceHooks {
  readonly onEvents: (events: InstanceEvent[]) => void;
  readonly rpc: RpcHandlers;
}

/** One agent instance in its own worker. */
export class WorkerInstance {
  private readonly worker: Worker;
  private nextRun = 1;
  private readonly pending = new Map<number, { resolve: (o: unknown) => void; reject: (e: SandboxError) => void }>();
  private dead: SandboxError | undefined;
  /** Aborts the host calls (HTTP, tools) this instance still has in progress. */
  private readonly abortCalls: () => void;
  /** Fuel the start functions used. */
  fuelUsedAtStart = 0;
  /** Fuel the last finished run used. */
  lastFuelUsed = 0;
  private readonly ready: Promise<void>;
  private readonly policyPort: MessagePort;
  private readonly policyCell: Int32Array;
  /** On wasmtime, the guest's interrupt cell (see `NativeSettings.interrupt`). */
  private readonly interrupt: Int32Array | undefined;

  private constructor(prepared: LoadedComponent, init: InstanceInit, hooks: InstanceHooks, pool: WorkerPool) {
    const rpcShared = new SharedArrayBuffer(4);
    const channel = new MessageChannel();
    this.abortCalls = serveRpc(channel.port1, rpcShared, hooks.rpc);
    channel.port1.unref();
    this.worker = pool.take();
    const policyChannel = new MessageChannel();
    this.policyPort = policyChannel.port1;
    this.policyCell = new Int32Array(new SharedArrayBuffer(4));
    this.interrupt = init.native ? new Int32Array(new SharedArrayBuffer(4)) : undefined;
    const data = {
      ...init,
      ...(init.native && this.interrupt ? { native: { ...init.native, interrupt: this.interrupt.buffer as SharedArrayBuffer } } : {}),
      jsUrl: prepared.jsUrl,
      modules: { ...prepared.modules },
      rpcShared,
      rpcPort: channel.port2,
      policyShared: this.policyCell.buffer as SharedArrayBuffer,
      policyPort: policyChannel.port2,
    };
    this.worker.postMessage({ type: 'init', init: data } satisfies ToWorker, [channel.port2, policyChannel.port2]);
    let readyResolve!: () => void;
    let readyReject!: (e: SandboxError) => void;
    this.ready = new Promise((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => {});
    this.worker.on('message', (m: FromWorker) => {
      switch (m.type) {
        case 'ready':
          this.fuelUsedAtStart = m.fuelUsed;
          readyResolve();
          break;
        case 'init-error':
          // The worker has nothing left to do (and must not keep the process alive).
          this.kill(revive(m.error));
          readyReject(revive(m.error));
          break;
        case 'events':
          hooks.onEvents(decodeEvents(m.batch));
          break;
        case 'result': {
          const p = this.pending.get(m.id);
          if (!p) break;
          this.pending.delete(m.id);
          this.lastFuelUsed = m.fuelUsed;
          if (m.ok) p.resolve('output' in m ? m.output : m.value);
          else {
            const e = revive(m.error as SerializedError);
            if (m.fatal) this.kill(e);
            p.reject(e);
          }
          break;
        }
      }
    });
    this.worker.on('error', (e: Error & { code?: string }) => {
      const err =
        e.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new LimitError('MEMORY_LIMIT', `agent instance exhausted its host heap: ${e.message}`, { limit: 'worker heap' })
          : new SandboxError('INTERNAL', `agent worker failed: ${e.message}`);
      this.fail(err);
      readyReject(err);
    });
    this.worker.on('exit', () => {
      const err = this.dead ?? new SandboxError('INTERNAL', 'agent worker exited');
      this.fail(err);
      readyReject(err);
    });
  }

  /** Spawn a worker and wait until the component is instantiated (bounded by `timeoutMs`). */
  static async start(prepared: LoadedComponent, init: InstanceInit, hooks: InstanceHooks, timeoutMs: number, pool: WorkerPool): Promise<WorkerInstance> {
    const inst = new WorkerInstance(prepared, init, hooks, pool);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        inst.ready,
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => {
            const e = new LimitError('TIMEOUT', `agent did not finish instantiating within ${timeoutMs} ms (start function running too long?)`, { limit: 'maxExecutionTime', allowed: timeoutMs });
            inst.kill(e);
            rej(e);
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    return inst;
  }

  /** True once the instance can no longer run (trap, limit, timeout, close). */
  get isDead(): boolean {
    return this.dead !== undefined;
  }

  private fail(e: SandboxError): void {
    this.dead ??= e;
    // A wasmtime guest runs inside a native call that terminating the worker cannot interrupt:
    // it stops at its next epoch tick once this is set (the instance is done either way).
    if (this.interrupt) Atomics.store(this.interrupt, 0, 1);
    this.abortCalls();
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }

  /** Terminate the worker. */
  kill(reason: SandboxError): void {
    this.fail(reason);
    void this.worker.terminate();
  }

  /** Run one task with a wall-clock timeout; the worker is terminated when it expires. */
  run(task: string, timeoutMs: number): Promise<string> {
    return this.post((id) => ({ type: 'run', id, task, timeoutMs }), timeoutMs) as Promise<string>;
  }

  /** Call an exported function (arguments and result in jco's form), as {@link run} runs a task. */
  call(call: ExportCall, timeoutMs: number): Promise<unknown> {
    return this.post((id) => ({ type: 'call', id, call, timeoutMs }), timeoutMs);
  }

  private post(message: (id: number) => ToWorker, timeoutMs: number): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextRun++;
    return new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.kill(new LimitError('TIMEOUT', `agent run exceeded its time limit (${Math.round(timeoutMs)} ms left of the run's budget); raise resourceLimits.maxExecutionTime or --timeout`, { limit: 'maxExecutionTime', allowed: timeoutMs }));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.worker.postMessage(message(id));
    });
  }

  /**
   * Publish a new (validated) policy to the running instance: its very next gate decision uses
   * it, even in the middle of a run.
   */
  updatePolicy(policy: WorkerInit['policy']): void {
    if (this.dead) return;
    this.policyPort.postMessage(policy);
    Atomics.add(this.policyCell, 0, 1);
  }

  /** Stop the worker. */
  async close(): Promise<void> {
    this.fail(new SandboxError('INTERNAL', 'agent closed'));
    this.policyPort.close();
    await this.worker.terminate();
  }
}
