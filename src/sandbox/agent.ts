/**
 * A loaded component agent: its instance, policy, identity and tokens, and the run/call loop.
 */
import { randomUUID } from 'node:crypto';
import { ThreadInstance, type InstanceInit, type LoadedComponent } from '../engine/jco/engine.js';
import { ThreadLostError } from '../engine/jco/agent-thread.js';
import { cancelledError, DeniedError, UsageError, type SandboxError } from '../errors.js';
import type { FSWatcher } from 'node:fs';
import { resolvePolicy, type PolicyInput } from './policy-input.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { classifyImports, type ImportReport } from './imports.js';
import { parseDuration } from '../util/units.js';
import type { Meter } from '../limits/meter.js';
import type { AgentIdentity } from '../identity/types.js';
import { InstanceIdentity } from './agent-identity.js';
import { runFailure } from './run-failure.js';
import { checkProvenance } from './provenance.js';
import { callValue, resolveCall, type CallResult } from './call.js';
import type { ExportsDescription } from '../wit-exports/describe.js';
import { argumentsToGuest } from '../wit-exports/values.js';
import type { ExportedFunction } from '../wit-exports/types.js';
import type { Sandbox } from './sandbox.js';
import type { RunOptions, RunResult, ResolvedTokens } from './options.js';
import { checkMounts } from './policy-checks.js';
import { AgentToken } from './agent-tokens.js';
import { watchPolicyFile } from './policy-watch.js';
import type { ComponentClaims } from '../identity/signature.js';
import { QuotaLedger } from '../limits/quota.js';
import type { AgentComms } from './comms-host.js';

/** A loaded agent: one component under one policy, with one live instance at a time. */
export class Agent {
  private instance: ThreadInstance | undefined;
  private starting: Promise<ThreadInstance> | undefined;
  private closed = false;
  /** Set when the monitor quarantined the agent: why every run and call is refused. */
  private quarantined: DeniedError | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private watcher: FSWatcher | undefined;
  private currentPolicy: SandboxPolicy;
  private init: InstanceInit;
  /** Correlation id stamped on audit records: the current run's id (or the load's). */
  private correlation: string = randomUUID();
  private auditShared: SharedArrayBuffer | undefined;
  /** The exported functions besides `run` (absent when it exports only `run`). */
  private exported: ExportsDescription | undefined;
  /** The instance's current session token (with `tokens`). */
  private readonly session: AgentToken;

  /** @internal */
  constructor(
    private readonly sandbox: Sandbox,
    /** This agent's id (UUID unless given). */
    readonly id: string,
    private readonly prepared: LoadedComponent,
    policy: SandboxPolicy,
    init: InstanceInit,
    private readonly defaultTimeoutMs: number,
    /** @internal the component's metering (fuel budget, caps) */
    readonly meter: Meter,
    /** @internal this agent's identity and authentication state */
    readonly auth_: InstanceIdentity,
    /** On a thread of its own rather than a shared one (`isolation: 'thread'`). */
    private readonly dedicated = false,
  ) {
    this.currentPolicy = policy;
    this.init = init;
    this.session = new AgentToken({ id, auth: auth_, scope: () => this.currentPolicy.capabilities.allowed, closed: () => this.closed, audit: (e) => this.sandbox.audit_(e, this.correlation) });
  }

  /** The policy the agent runs under now. */
  get policy(): SandboxPolicy {
    return this.currentPolicy;
  }

  /**
   * The agent's identity (the seed's `AgentIdentity`): instance id, type, version, its own
   * Ed25519 public key and fingerprint, created/expires, status.
   */
  get identity(): AgentIdentity {
    return this.auth_.identity;
  }

  /**
   * The agent's current session token, when the sandbox was created with `tokens`: a JWT
   * bound to this instance's key, for whoever the agent must prove itself to. Renewed before
   * it expires, so read it when you need it.
   */
  get token(): string | undefined {
    return this.session.current;
  }

  /** @internal issue the instance's first session token */
  async issueToken_(settings: ResolvedTokens): Promise<void> {
    await this.session.issue(settings);
  }

  /** @internal re-validate (and renew) the session token (see `AgentToken.check`) */
  async checkToken_(settings: ResolvedTokens): Promise<void> {
    await this.session.check(settings);
  }

  /**
   * Revoke the agent's identity (or mark it compromised): its very next call — even mid-run —
   * is refused and recorded as `authentication_failure`.
   *
   * @example
   * ```ts
   * agent.revokeIdentity({ compromised: true, reason: 'key leaked' });
   * ```
   */
  revokeIdentity(options: { compromised?: boolean; reason?: string } = {}): void {
    this.auth_.revoke(options.compromised ?? false);
    this.sandbox.comms_.withdraw(this.id, options.compromised ? 'compromised' : 'revoked');
    // The token dies with the identity, for every verifier that shares the revocation list.
    this.session.revoke(this.sandbox.tokens_, options.reason ?? 'identity revoked', 'agent.revokeIdentity');
    this.sandbox.audit_({ type: 'security_alert', agentId: this.id, capability: 'identity', resource: 'agent', action: 'revoke-identity', target: this.auth_.identity.fingerprint, outcome: 'denied', reason: options.reason ?? (options.compromised ? 'identity marked compromised' : 'identity revoked'), api: 'agent.revokeIdentity' }, this.correlation);
  }

  /**
   * Replace the agent's policy while it runs. The new policy is validated first; if it is
   * invalid this rejects with `POLICY_INVALID` and the working policy stays. Otherwise the very
   * next capability call of the running instance is decided under it (mounts are fixed when
   * an instance starts: a new mount appears at the next instance, a removed one is denied at
   * once).
   *
   * @example
   * ```ts
   * await agent.updatePolicy('policy.v2.yaml');
   * ```
   */
  async updatePolicy(input: PolicyInput): Promise<void> {
    const next = await resolvePolicy(input);
    checkMounts(next);
    this.apply(next, 'agent.updatePolicy');
  }

  /**
   * Revoke a capability (`network_access`, `read_files`, …) or a tool (`{ tool: 'search' }`)
   * from the running agent: its next call that needs it is denied.
   */
  async revoke(grant: string | { readonly tool: string }): Promise<void> {
    const p = this.currentPolicy;
    const raw = JSON.parse(JSON.stringify(p)) as Record<string, any>;
    if (typeof grant === 'string') {
      raw['capabilities'] = { allowed: p.capabilities.allowed.filter((c) => c !== grant), forbidden: [...new Set([...p.capabilities.forbidden, grant])] };
    } else {
      raw['toolAccess'] = { allow: p.toolAccess.allow.filter((t) => t !== grant.tool) };
    }
    await this.updatePolicy(raw);
  }

  private apply(next: SandboxPolicy, api: string): void {
    this.currentPolicy = next;
    this.init = { ...this.init, policy: structuredClone(next) as never };
    this.instance?.updatePolicy(structuredClone(next) as never);
    this.comms_?.policyChanged(next);
    this.sandbox.audit_({ type: 'policy_updated', agentId: this.id, capability: 'policy', resource: 'agent', action: 'update', target: this.id, outcome: 'allowed', reason: 'policy replaced', api }, this.correlation);
  }

  /** @internal start watching a policy file */
  watch_(file: string): void {
    this.watcher = watchPolicyFile(file, {
      apply: (policy) => {
        if (!this.closed) this.apply(policy, `watch:${file}`);
      },
      reject: (err) => this.sandbox.audit_({ type: 'policy_rejected', agentId: this.id, capability: 'policy', resource: 'agent', action: 'update', target: file, outcome: 'denied', reason: err.message, api: `watch:${file}` }, this.correlation),
    });
  }

  /** The component's imports as the policy sees them. */
  get imports(): readonly ImportReport[] {
    return classifyImports(this.prepared.imports, this.policy);
  }

  /** @internal start (or restart after a trap/limit) the instance */
  async instance_(timeoutMs: number): Promise<ThreadInstance> {
    if (this.instance && !this.instance.isDead) return this.instance;
    if (!this.starting) {
      // A fresh acknowledgement cell per instance: an old instance's counts never leak into a new one.
      this.sandbox.auditBridge.release(this.auditShared);
      const audit = this.sandbox.auditBridge.cell();
      this.auditShared = audit?.shared;
      const init: InstanceInit = audit ? { ...this.init, audit } : this.init;
      const base = this.sandbox.hooks_(() => this.correlation, audit?.shared, this.id);
      const hooks = { ...base, rpc: { ...base.rpc, ...this.comms_?.rpc }, onLost: (e: SandboxError) => this.lost_(e) };
      this.starting = ThreadInstance.start(this.prepared, init, hooks, timeoutMs, this.sandbox.pool, this.dedicated).finally(() => {
        this.starting = undefined;
      });
    }
    this.instance = await this.starting;
    this.sandbox.audit_({ type: 'agent_spawn', agentId: this.id, capability: 'compute', resource: 'agent', action: 'instantiate', target: this.prepared.hash, outcome: 'allowed', reason: 'instance started', api: 'sandbox.load' }, this.correlation);
    return this.instance;
  }

  /**
   * The instance was lost with its thread, which died for another instance: record it and start
   * a new one now (quotas live in the agent, so they carry over; the guest's memory does not).
   */
  private lost_(e: SandboxError): void {
    this.sandbox.audit_({ type: 'agent_error', agentId: this.id, capability: 'compute', resource: 'agent', action: 'restart', target: 'THREAD_LOST', outcome: 'denied', reason: `${e.message}; a new instance is started`, api: 'sandbox.thread', details: { hash: this.prepared.hash } }, this.correlation);
    if (this.closed || this.quarantined) return;
    void this.instance_(this.defaultTimeoutMs).catch(() => {
      // The next run tries again and reports what goes wrong.
    });
  }

  /**
   * Run one task. Resolves with the agent's `ok` output; rejects with a {@link SandboxError}:
   * `AGENT_ERROR` (the agent returned `err` or trapped), `TIMEOUT`, `QUOTA_EXCEEDED`, … .
   * After a trap or a limit the instance is discarded; the next run starts a fresh one.
   *
   * @example
   * ```ts
   * const { output } = await agent.run('review src/', { timeout: '10s' });
   * ```
   */
  run(task: string, options: RunOptions = {}): Promise<RunResult> {
    const p = this.queue.then(() => this.runNow(task, options));
    this.queue = p.catch(() => {});
    return p;
  }

  private async runNow(task: string, options: RunOptions): Promise<RunResult> {
    if (this.closed) throw new UsageError('agent is closed');
    if (typeof task !== 'string') throw new UsageError('run(task): task must be a string');
    const { value, ...rest } = await this.perform_(options, 'run', undefined, (inst, left) => inst.run(task, left), (output) => output);
    return { output: value, ...rest };
  }

  /**
   * The functions the component exports, `run` included, with their WIT types (what
   * {@link call} takes). Empty when the component exports only `run`; see
   * {@link exportsUnavailable} when they could not be read.
   */
  exports(): readonly ExportedFunction[] {
    return this.exported?.functions ?? [];
  }

  /** Why {@link exports} is empty although the component exports more than `run` (no wasmtime addon, say); else undefined. */
  get exportsUnavailable(): string | undefined {
    return this.exported && 'unavailable' in this.exported ? this.exported.unavailable : undefined;
  }

  /** @internal set by `Sandbox.load` when the component exports more than `run`. */
  setExports_(description: ExportsDescription): void {
    this.exported = description;
  }

  /**
   * Call an exported function other than `run` (see {@link exports}) under the same policy,
   * limits and audit as a run. `args` is an object with one property per parameter in canonical
   * JSON (see `src/wit-exports/types.ts`: records keyed by WIT field names, variants as
   * `{ tag, val }`, options as `null` or the value, results as `{ ok }`/`{ err }`, flags as
   * arrays of names); it is validated before the call and refused with `USAGE` naming the
   * argument that does not fit. Resolves with the result in the same form; a function returning
   * `result<T, E>` resolves with `T` and rejects with `AGENT_ERROR` carrying `E` in `details.err`.
   *
   * @example
   * ```ts
   * const { value } = await agent.call('test:geo/shapes@0.1.0#move-point', { p: { x: 1, y: 2 }, dx: 3, dy: null });
   * ```
   */
  call(fn: string, args: Readonly<Record<string, unknown>> = {}, options: RunOptions = {}): Promise<CallResult> {
    const p = this.queue.then(() => this.callNow(fn, args, options));
    this.queue = p.catch(() => {});
    return p;
  }

  private async callNow(id: string, args: Readonly<Record<string, unknown>>, options: RunOptions): Promise<CallResult> {
    if (this.closed) throw new UsageError('agent is closed');
    const fn = resolveCall(this.exports(), this.exportsUnavailable, id, args);
    const call = { interface: fn.interface, name: fn.name, args: argumentsToGuest(fn, args), returnsResult: fn.result?.kind === 'result' };
    // The result is converted inside the call, so that an `err` it returns is recorded as the call's failure.
    return this.perform_(options, 'call', fn.id, async (inst, left) => callValue(fn, await inst.call(call, left)), (v) => JSON.stringify(v) ?? 'null');
  }

  /**
   * What a run and a call share: provenance, the token check, the instance, cancellation, the
   * time left of the budget, fuel, and how a failure or an incomplete audit trail is reported.
   */
  private async perform_<T>(
    options: RunOptions,
    action: 'run' | 'call',
    fn: string | undefined,
    invoke: (inst: ThreadInstance, timeLeftMs: number) => Promise<T>,
    describe: (value: T) => string,
  ): Promise<{ value: T } & Omit<RunResult, 'output'>> {
    const timeoutMs = options.timeout !== undefined ? parseDuration(options.timeout, 'timeout') : this.defaultTimeoutMs;
    const started = performance.now();
    if (this.quarantined) throw this.quarantined;
    const runId = randomUUID();
    const provenance = checkProvenance(options.provenance);
    this.correlation = runId;
    const untag = provenance ? this.sandbox.auditBridge.tagRun(runId, provenance) : undefined;
    const outcome = { ok: false, fuelUsed: 0 };
    try {
      this.sandbox.checkAudit_();
      if (provenance) this.sandbox.auditDeferred_({ type: 'authorization_granted', agentId: this.id, capability: 'compute', resource: 'agent', action, target: fn ?? this.prepared.hash, outcome: 'allowed', reason: `${action} requested`, api: `agent.${action}`, details: { provenance } }, runId);
      const tokens = this.sandbox.tokens_;
      if (tokens) await this.checkToken_(tokens);
      const signal = options.signal;
      if (signal?.aborted) throw cancelledError(signal);
      let inst = await this.instance_(timeoutMs);
      if (signal?.aborted) throw cancelledError(signal);
      // Cancelling stops the instance: the run rejects with CANCELLED at once.
      let stopCurrent = () => {};
      const onAbort = () => stopCurrent();
      signal?.addEventListener('abort', onAbort, { once: true });
      let value: T;
      try {
        for (let attempt = 0; ; attempt++) {
          const current = inst;
          stopCurrent = () => current.kill(cancelledError(signal!));
          const left = Math.max(1, timeoutMs - (performance.now() - started));
          try {
            value = await invoke(current, left);
            break;
          } catch (e) {
            // Lost with its thread before it started: run it once more on a new instance.
            if (!(e instanceof ThreadLostError) || attempt > 0 || signal?.aborted) throw e;
            inst = await this.instance_(timeoutMs);
          }
        }
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      const fuelUsed = inst.lastFuelUsed;
      // Output commit: the output leaves the sandbox only once every record up to it is durable
      // (a log that fails here fails the run below, with what the agent returned in its details).
      await this.sandbox.auditBridge.outputBarrier().catch(() => {});
      // Calls refused because the log failed mean the run did not do what it was asked, and
      // the host must know its trail is incomplete. What the agent returned is kept in the
      // error's details (it may say what the agent was told).
      const auditErr = this.sandbox.auditError_(describe(value));
      if (auditErr) throw auditErr;
      outcome.ok = true;
      outcome.fuelUsed = fuelUsed;
      return {
        value,
        durationMs: performance.now() - started,
        agentId: this.id,
        runId,
        fuelUsed,
        ...(this.meter.fuelLimited ? { fuelRemaining: Math.max(0, Number(this.meter.fuel) - fuelUsed) } : {}),
      };
    } catch (e) {
      throw runFailure(e, { agentId: this.id, runId, auditError: () => this.sandbox.auditError_(), audit: (ev, id) => this.sandbox.audit_(ev, id) });
    } finally {
      untag?.();
      // The monitor's anomaly detection judges each finished run against its type's baseline:
      // a type the policy (or the component's signature) declares, never a guess.
      const agentType = this.currentPolicy.agent?.type ?? this.claims_?.agentType;
      this.sandbox.runEnded_(this.id, { agentType, ok: outcome.ok, fuelUsed: outcome.fuelUsed, durationMs: performance.now() - started });
    }
  }

  /** The SHA-256 of the agent's component. */
  get componentHash(): string {
    return this.prepared.hash;
  }

  /**
   * @internal Contain the agent (the monitor's quarantine): its running guest's every further
   * call is refused with reason `quarantined`, its instance is stopped, its token revoked, and
   * every later run or call rejects with `CAPABILITY_DENIED`.
   */
  quarantine_(why: string, details: Readonly<Record<string, unknown>>): void {
    if (this.quarantined || this.closed) return;
    const e = new DeniedError(`agent ${this.id} is quarantined: ${why}; an operator must release it before it may run again`, { reason: 'quarantined', ...details });
    this.quarantined = e;
    // First the identity (the guest's next call is refused, even mid-run), then the instance.
    this.auth_.quarantine();
    this.sandbox.comms_.withdraw(this.id, 'quarantined');
    this.session.revoke(this.sandbox.tokens_, 'quarantined', 'agent.quarantine');
    this.instance?.kill(e);
  }

  /** Whether the monitor quarantined this agent. */
  get isQuarantined(): boolean {
    return this.quarantined !== undefined;
  }

  /** @internal the host side of its kv and messaging calls (set at load) */
  comms_: AgentComms | undefined;

  /** @internal the correlation id its records carry now */
  get correlation_(): string {
    return this.correlation;
  }

  /** @internal the signature claims of its component, set at load when it was signed */
  claims_: ComponentClaims | undefined;

  /** @internal its quota counters now and the fuel of its last run (for a forensic snapshot) */
  usage_(): { readonly quotas: Record<string, unknown>; readonly lastRunFuelUsed: number | null } {
    const q = this.init.quota;
    return { quotas: q ? new QuotaLedger(q.shared, q.policy).snapshot() : {}, lastRunFuelUsed: this.instance?.lastFuelUsed ?? null };
  }

  /** Stop the instance and release its worker. Further runs reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watcher?.close();
    const inst = this.instance ?? (await this.starting?.catch(() => undefined));
    this.instance = undefined;
    await inst?.close();
    this.auth_.dispose();
    this.sandbox.auditBridge.release(this.auditShared);
    this.sandbox.audit_({ type: 'agent_terminate', agentId: this.id, capability: 'compute', resource: 'agent', action: 'close', target: this.prepared.hash, outcome: 'allowed', reason: 'agent closed', api: 'agent.close' }, this.correlation);
    this.sandbox.forget_(this);
  }
}
