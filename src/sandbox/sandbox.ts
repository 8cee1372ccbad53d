/**
 * The library API: a Sandbox loads components under policies and runs them.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readComponent } from '../engine/component.js';
import { prepareComponent, ThreadPool, type InstanceInit, type LoadedComponent } from '../engine/jco/engine.js';
import { SandboxError, UsageError, toSandboxError } from '../errors.js';
import { resolvePolicy, type PolicyInput } from './policy-input.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { classifyImports } from './imports.js';
import { AuditBridge } from './audit-bridge.js';
import { DEFAULT_MAX_TABLE_ELEMENTS, meterFor } from '../limits/meter.js';
import type { ComponentClaims } from '../identity/signature.js';
import { checkSignature } from './signature-check.js';
import { instanceSettings } from './instance-settings.js';
import { prepareNative } from '../engine/wasmtime/prepare.js';
import { join } from 'node:path';
import { identityEvent, InstanceIdentity } from './agent-identity.js';
import type { ComponentSource } from '../engine/component.js';
import { loadNativeAgent, NativeAgent, type NativeLoadOptions } from '../container/native-agent.js';
import { loadRefusedEvent } from './run-failure.js';
import { describeExports } from '../wit-exports/describe.js';
import { Agent } from './agent.js';
import { checkComponentFits, checkMounts, narrowCapabilities } from './policy-checks.js';
import type { InspectReport, Isolation, LoadOptions, ResolvedTokens, SandboxOptions, ToolHandler, TrustSettings } from './options.js';
import { SandboxMonitoring, type SandboxMonitor } from './monitoring.js';
import { checkIsolation, sandboxSettings } from './sandbox-settings.js';
import { instanceHooks } from './instance-hooks.js';
import { thresholdsOf } from '../monitor/rules.js';
import type { Indicators } from '../monitor/indicators.js';
import type { RunSummary } from '../monitor/anomaly.js';
import { SandboxComms } from './comms.js';
import { SandboxAudit } from './sandbox-audit.js';
import type { NameLookup } from '../util/dns-servers.js';
import { nativeHost } from './native-host.js';

export { Agent } from './agent.js';
export type { InspectReport, Isolation, LoadOptions, RunOptions, RunResult, SandboxEvents, SandboxOptions, TokenSettings, ToolHandler, TrustSettings } from './options.js';

/**
 * Loads and runs agents. Several agents, each with its own policy, run side by side; each
 * instance has its own worker and its own WASI state.
 *
 * @example
 * ```ts
 * const sandbox = createSandbox();
 * sandbox.on('audit', (e) => console.log(e.outcome, e.api, e.target));
 * const agent = await sandbox.load('agent.wasm', { policy: 'policy.yaml' });
 * console.log((await agent.run('hello')).output);
 * await sandbox.close();
 * ```
 */
export class Sandbox extends SandboxAudit {
  private readonly cacheDir: string;
  private readonly maxComponentBytes: number;
  private readonly defaultTimeoutMs: number;
  private readonly hostEnv: Readonly<Record<string, string | undefined>>;
  private readonly tools = new Map<string, ToolHandler>();
  private readonly agents = new Set<Agent>();
  private readonly natives = new Set<NativeAgent>();
  /** @internal */
  readonly pool: ThreadPool;
  private readonly isolation: Isolation;
  /** Component bytes on shared memory by hash, while some agent holds them (wasmtime). */
  private readonly sharedComponents = new Map<string, WeakRef<Uint8Array>>();
  private readonly monitoring: SandboxMonitoring;
  private readonly indicators: Indicators | undefined;
  private readonly trust: TrustSettings | undefined;
  private readonly identityTtlMs: number;
  private readonly engine: 'jco' | 'wasmtime';
  private readonly resolve: NameLookup | undefined;
  /** @internal token settings, resolved */
  readonly tokens_: ResolvedTokens | undefined;
  private readonly tokenTimer: NodeJS.Timeout | undefined;
  /** @internal messaging and key-value state */
  readonly comms_: SandboxComms;

  constructor(options: SandboxOptions = {}) {
    const o = sandboxSettings(options);
    super(new AuditBridge(o.audit));
    this.isolation = o.isolation;
    this.pool = new ThreadPool(o.threads, o.prewarm, o.heapMb);
    this.cacheDir = o.cacheDir;
    this.maxComponentBytes = o.maxComponentBytes;
    this.defaultTimeoutMs = o.defaultTimeoutMs;
    this.hostEnv = o.hostEnv;
    this.trust = options.trust;
    this.identityTtlMs = o.identityTtlMs;
    this.engine = o.engine;
    this.resolve = o.resolve;
    this.indicators = o.indicators;
    if (o.tokens) {
      const tokens = o.tokens.resolved;
      this.tokens_ = tokens;
      this.tokenTimer = setInterval(() => {
        for (const a of this.agents) void a.checkToken_(tokens);
      }, o.tokens.checkEveryMs);
      this.tokenTimer.unref();
    }
    this.comms_ = new SandboxComms(options.messaging ?? {}, options.kv ?? {}, { auditBridge: this.auditBridge, audit_: (e, c) => this.audit_(e, c), agent: (id) => [...this.agents].find((a) => a.id === id) });
    this.monitoring = new SandboxMonitoring(
      {
        audit: (e) => this.audit_(e),
        alert: (a) => this.emit('alert', a),
        quarantined: (q) => this.emit('quarantine', q),
        agent: (id) => [...this.agents].find((a) => a.id === id) ?? [...this.natives].find((a) => a.id === id),
        auditLog: () => {
          const chain = this.auditBridge.current;
          return chain ? { dir: chain.dir, chain } : undefined;
        },
        warn: (message) => process.emitWarning(message, 'AgentOsMonitorWarning'),
        canRecord: () => !this.auditBridge.enabled || this.auditBridge.current !== undefined,
        agentCount: () => this.agents.size + this.natives.size,
        auditBacklog: () => {
          const c = this.auditBridge.current;
          return c ? c.enqueued - c.size : 0;
        },
        openAudit: async () => {
          await this.auditBridge.open();
          this.checkAudit_();
        },
      },
      options.monitor,
      o.incidentDir,
    );
    this.auditBridge.observer = this.monitoring.observe;
    const metrics = this.monitoring.metrics;
    if (metrics) this.auditBridge.ackObserver = (s) => metrics.acknowledged(s);
    this.on('log', (e) => this.monitoring.log(e));
    // Threads start only once every option has been accepted (a refused option leaves nothing running).
    this.pool.fill();
  }

  /**
   * The sandbox's Prometheus metrics in the text format (decisions, decision time, denials,
   * alerts, quarantined agents, runs, limits, fuel, audit acknowledgement latency, queue
   * depths); empty with `monitor: false`.
   */
  metrics(): Promise<string> {
    return this.monitoring.metrics?.text() ?? Promise.resolve('');
  }

  /** The security monitor: its incidents, the agents it quarantined, releases, its counters. */
  get monitor(): SandboxMonitor {
    return this.monitoring;
  }

  /**
   * Register a host tool agents can call through `agent-os:sandbox/tools` (when their policy's
   * `toolAccess.allow` names it). Register tools before loading the agents that use them.
   */
  registerTool(name: string, handler: ToolHandler): this {
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.:-]{1,128}$/.test(name)) {
      throw new UsageError(`tool name ${JSON.stringify(name)} is invalid: use 1-128 letters, digits, _ . : -`);
    }
    if (typeof handler !== 'function') throw new UsageError(`tool ${name}: handler must be a function`);
    this.tools.set(name, handler);
    return this;
  }

  /** Read, check and transpile a component, and report its imports under a policy. */
  async inspect(component: string | Uint8Array, options: { policy?: PolicyInput } = {}): Promise<InspectReport> {
    const policy = await resolvePolicy(options.policy);
    const source = await readComponent(component, this.maxComponentBytes);
    const prepared = this.engine === 'wasmtime' ? await prepareNative(source, this.nativeCacheDir_()) : await prepareComponent(source, this.cacheDir);
    return { hash: prepared.hash, imports: classifyImports(prepared.imports, policy), exports: prepared.exports };
  }

  /**
   * Load a component under a policy and start its instance.
   * Rejects with `COMPONENT_INVALID` (not a component, too big, missing the `run` export, an
   * import the sandbox does not provide), `POLICY_INVALID`, or `CAPABILITY_DENIED` (an import
   * needs a capability the policy forbids).
   */
  async load(component: string | Uint8Array, options: LoadOptions = {}): Promise<Agent> {
    const policyIn = await resolvePolicy(options.policy);
    checkMounts(policyIn);
    // Fail closed: no agent runs unless its decisions can be recorded.
    await this.auditBridge.open();
    this.checkAudit_();
    const agentId = options.agentId ?? randomUUID();
    // Trust before anything else looks at the bytes: the signature, then the policy narrowed
    // to what it claims.
    let claims: ComponentClaims | undefined;
    const source = await readComponent(component, this.maxComponentBytes, (bytes, origin) => {
      const hash = createHash('sha256').update(bytes).digest('hex');
      // A quarantined agent id or component loads again only once released; one on the
      // threat-intelligence list never does.
      this.monitoring.checkLoad(agentId, hash);
      if (this.indicators?.component(hash)) throw this.monitoring.blockedComponent(agentId, hash, this.indicators.data.source);
      claims = this.checkSignature_({ bytes, origin, hash }, agentId, policyIn);
    });
    const policy = claims ? await narrowCapabilities(policyIn, claims.capabilities) : policyIn;
    // Every core module is metered: fuel charges, memory and table caps (src/limits).
    const meter = meterFor(policy.resourceLimits);
    let prepared: LoadedComponent;
    try {
      // jco: transpile, instrument and compile the core modules here; wasmtime meters natively
      // and compiles on a libuv thread into the artifact cache the worker loads from.
      prepared =
        this.engine === 'wasmtime'
          ? { ...(await prepareNative(source, this.nativeCacheDir_())), jsUrl: '', modules: {} }
          : await prepareComponent(source, this.cacheDir, meter.transform);
    } catch (e) {
      throw this.loadRefused_(agentId, source.hash, e);
    }
    checkComponentFits(prepared, policy, source.origin);
    // Only a component that exports more than `run` pays for describing its exports.
    const exported = prepared.exports.some(([name]) => name !== 'run') ? describeExports(source.bytes, source.hash, options.wit) : undefined;
    const limits = policy.resourceLimits;
    let init: InstanceInit = instanceSettings(policy, agentId, this.hostEnv, [...this.tools.keys()], meter.fuel);
    const timeoutMs = limits.maxExecutionTime ?? this.defaultTimeoutMs;
    if (this.engine === 'wasmtime') {
      init = { ...init, native: { bytes: this.sharedBytes(source), hash: source.hash, cacheDir: this.nativeCacheDir_(), memoryBytes: meter.maxMemory, tableElements: DEFAULT_MAX_TABLE_ELEMENTS, timeoutMs } };
    }
    const identity = InstanceIdentity.create({ agentId, agentType: policy.agent?.type ?? claims?.agentType ?? 'agent', version: policy.agent?.version ?? '0', ttlMs: this.identityTtlMs });
    init = { ...init, auth: { shared: identity.shared, fingerprint: identity.identity.fingerprint }, ...(this.indicators && !this.indicators.empty ? { indicators: this.indicators.data } : {}) };
    const dedicated = checkIsolation(options.isolation ?? this.isolation) === 'thread';
    const agent = new Agent(this, agentId, prepared, policy, init, timeoutMs, meter, identity, dedicated);
    agent.claims_ = claims;
    agent.comms_ = this.comms_.forAgent({ id: agentId, identity, quota: init.quota, policy: () => agent.policy, correlation: () => agent.correlation_ });
    this.monitoring.setThresholds(agentId, thresholdsOf(policy.authz?.capabilityPolicies ?? [], agentId, policy.agent?.type));
    if (exported) agent.setExports_(exported);
    if (this.tokens_) {
      try {
        await agent.issueToken_(this.tokens_);
      } catch (e) {
        identity.dispose();
        throw e;
      }
    }
    this.agents.add(agent);
    if (options.watchPolicy) {
      if (typeof options.policy !== 'string') throw new UsageError('watchPolicy needs policy to be a file path');
      agent.watch_(options.policy);
    }
    try {
      await agent.instance_(timeoutMs);
    } catch (e) {
      this.agents.delete(agent);
      identity.dispose();
      throw this.loadRefused_(agentId, prepared.hash, e);
    }
    this.audit_(identityEvent(agentId, identity.identity, claims, agent.token));
    // Only an agent that can receive gets message keys and a mailbox.
    if (prepared.imports.some((i) => i.startsWith('agent-os:sandbox/messaging'))) {
      try {
        await this.comms_.register(agent);
      } catch (e) {
        await agent.close();
        throw e;
      }
    }
    return agent;
  }

  /**
   * Load a native agent: a command run in a bubblewrap sandbox under the same policy, with the
   * same `run`/`close`, events, errors and audit chain as a component (see
   * `src/container/native-agent.ts`). The task is its stdin, its stdout the output.
   *
   * @example
   * ```ts
   * const agent = await sandbox.loadNative({ command: ['python3', '/agent/main.py'], policy: 'policy.yaml' });
   * ```
   */
  async loadNative(options: NativeLoadOptions & { readonly policy?: PolicyInput }): Promise<NativeAgent> {
    const policy = await resolvePolicy(options.policy);
    checkMounts(policy);
    await this.auditBridge.open();
    this.checkAudit_();
    const agent = await loadNativeAgent(nativeHost(this, { hostEnv: this.hostEnv, defaultTimeoutMs: this.defaultTimeoutMs, tools: this.tools, natives: this.natives, checkLoad: (a, h) => this.monitoring.checkLoad(a, h), resolve: this.resolve }), policy, options);
    if (this.indicators) agent.setIndicators_(this.indicators);
    this.natives.add(agent);
    return agent;
  }

  /**
   * Sweep the key-value store now (values past their time to live, and past their data
   * policy's retention with `autoDelete`); resolves with how many were deleted. The sandbox
   * also sweeps every `kv.sweepInterval`.
   */
  sweepKv(): Promise<number> {
    return this.comms_.kv.sweepNow();
  }

  /** @internal where the wasmtime engine keeps compiled artifacts */
  nativeCacheDir_(): string {
    return join(this.cacheDir, 'wasmtime');
  }

  /** @internal verify a component's signature when the sandbox trusts signers; returns its claims */
  checkSignature_(source: ComponentSource, agentId: string, policy: SandboxPolicy): ComponentClaims | undefined {
    return this.trust ? checkSignature(this.trust, source, agentId, policy, (e) => this.audit_(e)) : undefined;
  }

  /** @internal a load that a limit stopped is recorded (which limit, what was allowed) */
  loadRefused_(agentId: string, hash: string, e: unknown): SandboxError {
    const err = toSandboxError(e);
    const event = loadRefusedEvent(agentId, hash, err);
    if (event) this.audit_(event);
    return err;
  }

  /** Close every agent, then the audit log (writing what is queued and a final checkpoint). */
  async close(): Promise<void> {
    clearInterval(this.tokenTimer);
    await Promise.all([...this.agents, ...this.natives].map((a) => a.close()));
    await this.pool.close();
    await this.comms_.close();
    // The last events are examined (their alerts recorded, snapshots written) before the chain closes.
    await this.monitoring.close();
    await this.auditBridge.close();
  }

  /**
   * A component's bytes on shared memory, one copy per component however many agents load it:
   * every instance's thread then receives them for free (a StarlingMonkey agent is 17 MiB).
   */
  private sharedBytes(source: { readonly hash: string; readonly bytes: Uint8Array }): Uint8Array {
    let bytes = this.sharedComponents.get(source.hash)?.deref();
    if (!bytes) {
      bytes = new Uint8Array(new SharedArrayBuffer(source.bytes.byteLength));
      bytes.set(source.bytes);
      this.sharedComponents.set(source.hash, new WeakRef(bytes));
    }
    return bytes;
  }

  /** @internal a run of an agent ended (for the monitor's anomaly detection) */
  runEnded_(agentId: string, run: RunSummary): void {
    this.monitoring.runEnded(agentId, run);
  }

  /** @internal */
  forget_(agent: Agent): void {
    this.agents.delete(agent);
    this.comms_.unregister(agent.id);
    this.monitoring.forget(agent.id);
  }

  /** @internal hooks an instance uses to reach this sandbox */
  hooks_(correlation: () => string, auditShared: SharedArrayBuffer | undefined, agentId: string) {
    return instanceHooks(
      {
        auditBridge: this.auditBridge,
        indicators: this.indicators,
        tools: this.tools,
        resolve: this.resolve,
        emitAudit: (e) => this.emit('audit', e),
        emitLog: (e) => this.emit('log', e),
        audit: (e, c) => this.audit_(e, c),
      },
      correlation,
      auditShared,
      agentId,
    );
  }
}

/**
 * Create a sandbox. See {@link SandboxOptions} for the defaults.
 *
 * @example
 * ```ts
 * import { createSandbox } from 'agent-os-sandbox';
 * const sandbox = createSandbox({ defaultTimeout: '10s' });
 * ```
 */
export function createSandbox(options: SandboxOptions = {}): Sandbox {
  return new Sandbox(options);
}

