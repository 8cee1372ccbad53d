/**
 * The agent threads of a sandbox. Instances share threads by default: about one thread per
 * core, each new instance on the thread that hosts the fewest. A thread costs ~10 MiB and
 * ~60 ms to boot, an instance on a running thread ~100 KiB and well under a millisecond (the
 * density benchmark), so a thousand agents fit in one process.
 *
 * `dedicated` instances get a thread of their own that ends with them: the isolation of one
 * thread per agent, for an agent that blocks for long (sleeps, slow tools) and would hold up
 * its neighbours, at the old cost.
 */
import { availableParallelism } from 'node:os';
import { AgentThread } from './agent-thread.js';

/** Threads a pool shares its instances across when not told otherwise: the machine's cores. */
export function defaultThreadCount(): number {
  return Math.max(1, availableParallelism());
}

export class ThreadPool {
  private readonly shared: AgentThread[] = [];
  private readonly dedicated = new Set<AgentThread>();
  private readonly spares: AgentThread[] = [];
  private closed = false;

  /**
   * `threads`: how many shared threads at most. `prewarm`: threads started ahead of time (for
   * shared instances up to `threads`; for dedicated ones, spares kept booted). `heapMb`: the
   * cap of each thread's V8 heap (default: `DEFAULT_THREAD_HEAP_MB` in agent-thread.ts).
   */
  constructor(
    readonly threads: number = defaultThreadCount(),
    private readonly prewarm = 1,
    private readonly heapMb?: number,
  ) {}

  /** Start the threads that are kept ready. */
  fill(): void {
    while (!this.closed && this.shared.length < Math.min(this.prewarm, this.threads)) this.spawnShared();
  }

  private spawnShared(): AgentThread {
    const t = new AgentThread(
      false,
      (gone) => {
        const i = this.shared.indexOf(gone);
        if (i >= 0) this.shared.splice(i, 1);
      },
      this.heapMb,
    );
    this.shared.push(t);
    return t;
  }

  private spawnDedicated(): AgentThread {
    return new AgentThread(
      true,
      (gone) => {
        this.dedicated.delete(gone);
        const i = this.spares.indexOf(gone);
        if (i >= 0) this.spares.splice(i, 1);
      },
      this.heapMb,
    );
  }

  /** The thread for a new instance. */
  acquire(dedicated = false): AgentThread {
    if (dedicated) {
      const t = this.spares.shift() ?? this.spawnDedicated();
      this.dedicated.add(t);
      setImmediate(() => {
        while (!this.closed && this.spares.length < this.prewarm) this.spares.push(this.spawnDedicated());
      });
      return t;
    }
    // The least loaded thread that takes instances; a new thread while there are fewer than
    // `threads`, or when every one is busy stopping a guest (then briefly more).
    let best: AgentThread | undefined;
    for (const t of this.shared) if (t.accepting && (!best || t.size < best.size)) best = t;
    if (!best || (best.size > 0 && this.shared.filter((t) => t.alive).length < this.threads)) best = this.spawnShared();
    return best;
  }

  /** Resolves when every thread started so far has loaded the host code (benchmarks, tests). */
  async ready(): Promise<void> {
    await Promise.all([...this.shared, ...this.spares].map((t) => t.loaded));
  }

  /** Threads alive now (shared and dedicated). */
  get size(): number {
    return this.shared.length + this.dedicated.size + this.spares.length;
  }

  /** Terminate every thread and stop starting new ones. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.shared, ...this.dedicated, ...this.spares];
    this.shared.length = 0;
    this.dedicated.clear();
    this.spares.length = 0;
    await Promise.all(all.map((t) => t.close()));
  }
}
