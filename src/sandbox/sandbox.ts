/**
 * The library API: a Sandbox loads components under policies and runs them.
 */
import { EventEmitter } from 'node:events';
import { createHash, randomUUID } from 'node:crypto';
import { DEFAULT_CAPS, type HostCaps, type InstanceEvent, type LogEvent } from '../capabilities/context.js';
import { performHttp, type HttpCall } from '../capabilities/http/executor.js';
import type { ToolReply } from '../capabilities/tools.js';
import { readComponent, DEFAULT_MAX_COMPONENT_BYTES } from '../engine/component.js';
import { prepareComponent, WorkerInstance, WorkerPool, type InstanceInit, type LoadedComponent } from '../engine/jco/engine.js';
import { defaultCacheDir } from '../engine/jco/transpile.js';
import { cancelledError, ComponentError, DeniedError, PolicyError, SandboxError, UsageError, toSandboxError } from '../errors.js';
import { statSync, watch, type FSWatcher } from 'node:fs';
import { loadPolicyFile } from '../policy/loader.js';
import type { AuditEvent } from '../gate/types.js';
import { resolvePolicy, type PolicyInput } from './policy-input.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { classifyImports, type ImportReport } from './imports.js';
import { parseDuration } from '../util/units.js';
import { AuditBridge, type AuditSettings } from './audit-bridge.js';
import { DEFAULT_MAX_TABLE_ELEMENTS, meterFor, type Meter } from '../limits/meter.js';
import { QuotaLedger, quotaPolicyOf } from '../limits/quota.js';
import { verifyComponent, type ComponentClaims } from '../identity/signature.js';
import type { AgentIdentity, KeyProvider } from '../identity/types.js';
import type { TokenService } from '../identity/tokens.js';
import { loadWasmtimeAddon } from '../engine/wasmtime/addon.js';
import { prepareNative } from '../engine/wasmtime/prepare.js';
import { join } from 'node:path';
import { DEFAULT_IDENTITY_TTL_MS, InstanceIdentity } from './agent-identity.js';
import type { ComponentSource } from '../engine/component.js';
import type { AuditChain } from '../audit/chain.js';
import { loadNativeAgent, NativeAgent, type NativeLoadOptions } from '../container/native-agent.js';
import { LIMIT_CODES, runFailure } from './run-failure.js';
import { checkProvenance } from './provenance.js';
import { callValue, resolveCall, type CallResult } from './call.js';
import { describeExports, type ExportsDescription } from '../wit-exports/describe.js';
import { argumentsToGuest } from '../wit-exports/values.js';
import type { ExportedFunction } from '../wit-exports/types.js';


/** A host tool: receives the parsed JSON input, returns a JSON-serializable result. */
export type ToolHandler = (input: unknown, context: { readonly agentId: string }) => unknown | Promise<unknown>;

/** Options of {@link createSandbox}. Every field is optional. */
export interface SandboxOptions {
  /** Where transpiled components are cached. Default: `$XDG_CACHE_HOME/agent-os-sandbox` or `~/.cache/agent-os-sandbox`. */
  readonly cacheDir?: string;
  /** Largest component accepted, bytes. Default 128 MiB. */
  readonly maxComponentBytes?: number;
  /** Default wall-clock limit for one run when the policy sets none. Default 30 s. */
  readonly defaultTimeout?: number | string;
  /** Environment the policy's `env.allow` names are read from. Default: `process.env`. */
  readonly hostEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * Workers kept started ahead of time (host code loaded, no agent yet), so that starting an
   * instance does not pay for booting a thread. Each worker still runs exactly one instance and
   * is never reused. Default 1; 0 starts workers on demand only (what the CLI does).
   */
  readonly prewarmWorkers?: number;
  /**
   * The tamper-evident audit log every gate decision is recorded in (one LevelDB chain shared
   * by every agent of this sandbox). Default `{}`: directory `.agentos/audit`, durable commits
   * (a capability call proceeds only once its record is fsynced), checkpoints every 10,000
   * records or 5 s. `durability: 'async'` acknowledges once the OS has the write (a process
   * kill loses nothing, an OS crash may lose the last batches). `false` records nothing durably
   * (events are still emitted as `audit` events) — for tests and embedding only. Sandboxes in
   * one process that name the same directory share one chain; another process gets
   * `AUDIT_UNAVAILABLE` at load while this one has it open.
   */
  readonly audit?: AuditSettings | false;
  /**
   * Which components to trust. When set, a component must carry a valid signature
   * (`agentos sign`) by an issuer key that `keys` trusts (active, or rotated within its
   * overlap; never revoked or expired), and is refused otherwise with `SIGNATURE_INVALID`:
   * unsigned (unless `requireSignature: false`), tampered, expired, or signed by an untrusted or
   * revoked key. A signed component's policy is narrowed to the capabilities its claims ask for.
   * Default: no signature check.
   */
  readonly trust?: TrustSettings;
  /** Lifetime of each agent's instance identity (its key pair); past it, its calls are refused. Default 24 h. */
  readonly identityTtl?: number | string;
  /**
   * Token authentication. Each agent instance is issued a session token (a JWT signed by the
   * service's issuer key, bound to the instance's own key) at load, recorded as
   * `authentication_success`. The host re-validates every live agent's token at each run and
   * every `checkInterval`; once it no longer validates — revoked (here or by another process
   * sharing the revocation list), expired, or its issuer key revoked — the agent's calls are
   * refused and recorded as `authentication_failure`. Tokens are renewed before they expire
   * while the identity holds. `agent.token` hands the token to whoever the agent must prove
   * itself to. Default: identities only, no tokens.
   */
  readonly tokens?: TokenSettings;
  /**
   * The engine: `'jco'` (default; components transpiled to JavaScript, core modules metered by
   * our instrumentation) or `'wasmtime'` (the native addon: wasmtime's own fuel, memory limits
   * and compiled-component cache), behind the same gate. Choosing `'wasmtime'` without an addon
   * (neither built nor a prebuilt package installed) fails with a usage error saying how to get
   * one. Fuel units differ
   * between the engines (wasmtime counts about one unit per wasm operator).
   */
  readonly engine?: 'jco' | 'wasmtime';
}

/** See {@link SandboxOptions.tokens}. */
export interface TokenSettings {
  /** Issues and validates the tokens (`new TokenService({ keys, issuerKey, revocations })`). */
  readonly service: TokenService;
  /** Lifetime of a session token (default: the service's session lifetime, at most the identity's). */
  readonly ttl?: number | string;
  /** How often live agents' tokens are re-validated. Default 1 s. */
  readonly checkInterval?: number | string;
}

/** See {@link SandboxOptions.trust}. */
export interface TrustSettings {
  /** Decides which issuer keys are trusted (the key store: `KeyStore.open(dir)`). */
  readonly keys: Pick<KeyProvider, 'trust'>;
  /** Only these issuer key ids count (default: every key `keys` trusts). */
  readonly issuers?: readonly string[];
  /** Refuse unsigned components. Default true. */
  readonly requireSignature?: boolean;
  /**
   * Revoked signatures: a component whose claims' `jti` this list holds is refused (code
   * `REVOKED`), although its key is still trusted — to withdraw one signed build without
   * revoking the key. For example a `RevocationStore`, with entries added as
   * `add(claims.jti, claims.exp, reason)` so they last as long as the signature would.
   */
  readonly revoked?: { has(jti: string): boolean };
}

/** Options of {@link Sandbox.load}. */
export interface LoadOptions {
  /** A policy object (validated), a path to a YAML/JSON policy file, or a loaded policy. Default: deny everything. */
  readonly policy?: PolicyInput;
  /** Use this agent id instead of a fresh UUID. */
  readonly agentId?: string;
  /**
   * When `policy` is a file path: watch the file and apply each valid new version to the
   * running agent (an invalid version is rejected with a `policy_rejected` audit event and the
   * working policy stays). Default false.
   */
  readonly watchPolicy?: boolean;
  /**
   * The WIT file or directory the component was built from. Only for the doc comments of its
   * exported functions ({@link Agent.exports}, and the tool descriptions the host adapters make
   * of them): built components do not carry their WIT's docs. Types always come from the component.
   */
  readonly wit?: string;
}

/** Options of {@link Agent.run}. */
export interface RunOptions {
  /** Wall-clock limit for this run (ms or `30s`). Default: the policy's `resourceLimits.maxExecutionTime`, else the sandbox default. */
  readonly timeout?: number | string;
  /**
   * Aborting ends the run at once with `CANCELLED`: the instance is discarded (its worker, or
   * the native sandbox's process tree, is killed) and the next run starts a fresh one. The
   * ending is recorded (`agent_error`, target `CANCELLED`).
   */
  readonly signal?: AbortSignal;
  /**
   * Who asked for this run, when the host runs agents for someone else (for example
   * `{ via: 'mcp', session, client: 'name/1.0', tool }`): up to 16 string fields, recorded in
   * `details.provenance` of every audit record of the run, which opens with an
   * `authorization_granted` record (action `run`) saying so. Values over 256 characters are cut.
   * Default: none (no extra record).
   */
  readonly provenance?: Readonly<Record<string, string>>;
}

/** What a successful run returns. */
export interface RunResult {
  readonly output: string;
  readonly durationMs: number;
  readonly agentId: string;
  /** This run's id: the correlation id of its audit records. */
  readonly runId: string;
  /** Fuel this run used: the same program and task on a fresh instance use the same fuel, unless the guest reads clocks or randomness (a first run includes the guest's one-time initialization). */
  readonly fuelUsed: number;
  /** Fuel left of the run's budget; absent when the policy sets no fuel limit. */
  readonly fuelRemaining?: number;
}

/** The events a sandbox emits. */
export interface SandboxEvents {
  /** Every gate decision and lifecycle event. */
  audit: [AuditEvent];
  /** Agent log records and stdout/stderr lines. */
  log: [LogEvent];
}

/** Result of {@link Sandbox.inspect}. */
export interface InspectReport {
  readonly hash: string;
  readonly imports: readonly ImportReport[];
  readonly exports: readonly (readonly [string, string])[];
}

/** A loaded agent: one component under one policy, with one live instance at a time. */
export class Agent {
  private instance: WorkerInstance | undefined;
  private starting: Promise<WorkerInstance> | undefined;
  private closed = false;
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
  private tokenValue: string | undefined;

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
  ) {
    this.currentPolicy = policy;
    this.init = init;
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
    return this.tokenValue;
  }

  /** @internal issue the instance's first session token */
  async issueToken_(settings: ResolvedTokens): Promise<void> {
    this.tokenValue = await this.newToken(settings);
  }

  private async newToken(settings: ResolvedTokens, family?: string): Promise<string | undefined> {
    const id = this.auth_.identity;
    const ttlMs = Math.min(settings.ttlMs ?? Infinity, id.expires - Date.now());
    if (!(ttlMs >= 1000)) return undefined;
    return settings.service.issue(
      { agentId: this.id, agentType: id.agentType, publicKey: this.auth_.keys.publicKey },
      'session',
      { scope: [...this.currentPolicy.capabilities.allowed], ...(Number.isFinite(ttlMs) ? { ttlMs } : {}), ...(family !== undefined ? { family } : {}) },
    );
  }

  /**
   * @internal Re-validate the session token. A token that no longer validates ends the
   * instance's authentication (recorded once); one with less than a quarter of its life left
   * is renewed in its family while the identity holds.
   */
  async checkToken_(settings: ResolvedTokens): Promise<void> {
    const token = this.tokenValue;
    if (token === undefined || this.closed || !this.auth_.authenticated) return;
    const fail = (code: string, reason: string): void => {
      this.auth_.tokenInvalid();
      this.sandbox.audit_({ type: 'authentication_failure', agentId: this.id, capability: 'identity', resource: 'agent', action: 'validate-token', target: this.auth_.identity.fingerprint, outcome: 'denied', reason: `${code}: ${reason}`, api: 'sandbox.tokens', details: { code } }, this.correlation);
    };
    try {
      const v = await settings.service.validate(token, { kind: 'session', agentPublicKey: this.auth_.keys.publicKey, agentId: this.id });
      if (this.tokenValue !== token || !this.auth_.authenticated) return;
      if (!v.ok) return fail(v.code, v.reason);
      const nowSec = Date.now() / 1000;
      if (v.claims.exp - nowSec < (v.claims.exp - v.claims.iat) / 4) {
        const next = await this.newToken(settings, v.claims.fam);
        if (next !== undefined && this.tokenValue === token) this.tokenValue = next;
      }
    } catch (e) {
      // A check that cannot be made denies.
      if (this.auth_.authenticated) fail('CHECK_FAILED', `the token could not be checked: ${(e as Error).message}`);
    }
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
    // The token dies with the identity, for every verifier that shares the revocation list.
    const tokens = this.sandbox.tokens_;
    if (tokens && this.tokenValue !== undefined) {
      tokens.service.revoke(this.tokenValue, options.reason ?? 'identity revoked').catch((e: unknown) => {
        this.sandbox.audit_({ type: 'security_alert', agentId: this.id, capability: 'identity', resource: 'agent', action: 'revoke-token', target: this.auth_.identity.fingerprint, outcome: 'denied', reason: `the revoked identity's token could not be added to the revocation list: ${(e as Error).message}`, api: 'agent.revokeIdentity' }, this.correlation);
      });
    }
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
    this.sandbox.audit_({ type: 'policy_updated', agentId: this.id, capability: 'policy', resource: 'agent', action: 'update', target: this.id, outcome: 'allowed', reason: 'policy replaced', api }, this.correlation);
  }

  /** @internal start watching a policy file */
  watch_(file: string): void {
    let timer: NodeJS.Timeout | undefined;
    const reload = () => {
      loadPolicyFile(file)
        .then((loaded) => {
          checkMounts(loaded.policy);
          if (!this.closed) this.apply(loaded.policy, `watch:${file}`);
        })
        .catch((e: unknown) => {
          const err = toSandboxError(e);
          this.sandbox.audit_({ type: 'policy_rejected', agentId: this.id, capability: 'policy', resource: 'agent', action: 'update', target: file, outcome: 'denied', reason: err.message, api: `watch:${file}` }, this.correlation);
        });
    };
    this.watcher = watch(file, () => {
      clearTimeout(timer);
      timer = setTimeout(reload, 50);
    });
    this.watcher.unref();
  }

  /** The component's imports as the policy sees them. */
  get imports(): readonly ImportReport[] {
    return classifyImports(this.prepared.imports, this.policy);
  }

  /** @internal start (or restart after a trap/limit) the instance */
  async instance_(timeoutMs: number): Promise<WorkerInstance> {
    if (this.instance && !this.instance.isDead) return this.instance;
    if (!this.starting) {
      // A fresh acknowledgement cell per instance: an old instance's counts never leak into a new one.
      this.sandbox.auditBridge.release(this.auditShared);
      const audit = this.sandbox.auditBridge.cell();
      this.auditShared = audit?.shared;
      const init: InstanceInit = audit ? { ...this.init, audit } : this.init;
      this.starting = WorkerInstance.start(this.prepared, init, this.sandbox.hooks_(() => this.correlation, audit?.shared), timeoutMs, this.sandbox.pool).finally(() => {
        this.starting = undefined;
      });
    }
    this.instance = await this.starting;
    this.sandbox.audit_({ type: 'agent_spawn', agentId: this.id, capability: 'compute', resource: 'agent', action: 'instantiate', target: this.prepared.hash, outcome: 'allowed', reason: 'instance started', api: 'sandbox.load' }, this.correlation);
    return this.instance;
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
    invoke: (inst: WorkerInstance, timeLeftMs: number) => Promise<T>,
    describe: (value: T) => string,
  ): Promise<{ value: T } & Omit<RunResult, 'output'>> {
    const timeoutMs = options.timeout !== undefined ? parseDuration(options.timeout, 'timeout') : this.defaultTimeoutMs;
    const started = performance.now();
    const runId = randomUUID();
    const provenance = checkProvenance(options.provenance);
    this.correlation = runId;
    const untag = provenance ? this.sandbox.auditBridge.tagRun(runId, provenance) : undefined;
    try {
      this.sandbox.checkAudit_();
      if (provenance) this.sandbox.auditDeferred_({ type: 'authorization_granted', agentId: this.id, capability: 'compute', resource: 'agent', action, target: fn ?? this.prepared.hash, outcome: 'allowed', reason: `${action} requested`, api: `agent.${action}`, details: { provenance } }, runId);
      const tokens = this.sandbox.tokens_;
      if (tokens) await this.checkToken_(tokens);
      const signal = options.signal;
      if (signal?.aborted) throw cancelledError(signal);
      const inst = await this.instance_(timeoutMs);
      if (signal?.aborted) throw cancelledError(signal);
      const left = Math.max(1, timeoutMs - (performance.now() - started));
      // Cancelling kills the instance's worker: the run rejects with CANCELLED at once.
      const onAbort = () => inst.kill(cancelledError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      let value: T;
      try {
        value = await invoke(inst, left);
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
      const fuelUsed = inst.lastFuelUsed;
      // Calls refused because the log failed mean the run did not do what it was asked, and
      // the host must know its trail is incomplete. What the agent returned is kept in the
      // error's details (it may say what the agent was told).
      const auditErr = this.sandbox.auditError_(describe(value));
      if (auditErr) throw auditErr;
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
    }
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
export class Sandbox extends EventEmitter<SandboxEvents> {
  private readonly cacheDir: string;
  private readonly maxComponentBytes: number;
  private readonly defaultTimeoutMs: number;
  private readonly hostEnv: Readonly<Record<string, string | undefined>>;
  private readonly tools = new Map<string, ToolHandler>();
  private readonly agents = new Set<Agent>();
  private readonly natives = new Set<NativeAgent>();
  /** @internal */
  readonly pool: WorkerPool;
  /** @internal */
  readonly auditBridge: AuditBridge;
  private readonly trust: TrustSettings | undefined;
  private readonly identityTtlMs: number;
  private readonly engine: 'jco' | 'wasmtime';
  /** @internal token settings, resolved */
  readonly tokens_: ResolvedTokens | undefined;
  private readonly tokenTimer: NodeJS.Timeout | undefined;

  constructor(options: SandboxOptions = {}) {
    super();
    const prewarm = options.prewarmWorkers ?? 1;
    if (!Number.isInteger(prewarm) || prewarm < 0 || prewarm > 64) throw new UsageError('prewarmWorkers must be a whole number from 0 to 64');
    this.pool = new WorkerPool(prewarm);
    this.pool.fill();
    this.cacheDir = options.cacheDir ?? defaultCacheDir();
    this.maxComponentBytes = options.maxComponentBytes ?? DEFAULT_MAX_COMPONENT_BYTES;
    this.defaultTimeoutMs = options.defaultTimeout !== undefined ? parseDuration(options.defaultTimeout, 'defaultTimeout') : 30_000;
    this.hostEnv = options.hostEnv ?? process.env;
    this.trust = options.trust;
    this.identityTtlMs = options.identityTtl !== undefined ? parseDuration(options.identityTtl, 'identityTtl') : DEFAULT_IDENTITY_TTL_MS;
    this.engine = options.engine ?? 'jco';
    if (this.engine !== 'jco' && this.engine !== 'wasmtime') throw new UsageError(`engine must be 'jco' or 'wasmtime', not ${JSON.stringify(this.engine)}`);
    if (this.engine === 'wasmtime') loadWasmtimeAddon();
    if (options.tokens !== undefined) {
      const t = options.tokens;
      if (typeof t !== 'object' || t === null || typeof t.service?.validate !== 'function') throw new UsageError('tokens.service must be a TokenService');
      const tokens: ResolvedTokens = { service: t.service, ...(t.ttl !== undefined ? { ttlMs: parseDuration(t.ttl, 'tokens.ttl') } : {}) };
      const every = t.checkInterval !== undefined ? parseDuration(t.checkInterval, 'tokens.checkInterval') : 1000;
      if (every < 10) throw new UsageError('tokens.checkInterval must be at least 10ms');
      this.tokens_ = tokens;
      this.tokenTimer = setInterval(() => {
        for (const a of this.agents) void a.checkToken_(tokens);
      }, every);
      this.tokenTimer.unref();
    }
    const audit = options.audit ?? {};
    if (audit !== false && (typeof audit !== 'object' || audit === null)) throw new UsageError('audit must be an object of audit settings or false');
    this.auditBridge = new AuditBridge(audit);
  }

  /**
   * The sandbox's audit chain (opened on first use), for queries, proofs and checkpoints;
   * undefined when the sandbox was created with `audit: false`. Rejects with
   * `AUDIT_UNAVAILABLE` when it cannot be opened.
   *
   * @example
   * ```ts
   * const chain = await sandbox.auditLog();
   * const cp = await chain?.checkpoint();
   * ```
   */
  auditLog(): Promise<AuditChain | undefined> {
    return this.auditBridge.open();
  }

  /**
   * Record an event a host decided on the sandbox's behalf (for example an MCP server's
   * capability approvals) in the audit chain, and emit it as an `audit` event. Resolves once the
   * record is durable under `durability: 'sync'` (the default), once queued under `'async'`;
   * rejects with `AUDIT_UNAVAILABLE` when it cannot be recorded, so that the host can refuse
   * what it could not record. With `audit: false` the event is only emitted.
   *
   * @param correlationId - groups the record with others (the chain's `provenance.correlationId`).
   * @example
   * ```ts
   * await sandbox.recordEvent({ type: 'authorization_denied', agentId: agent.id, capability: 'policy', resource: 'agent',
   *   action: 'request-capability', target: 'network_access', outcome: 'denied', reason: 'not approved', api: 'my-host' });
   * ```
   */
  async recordEvent(event: Omit<AuditEvent, 'time'>, correlationId?: string): Promise<void> {
    await this.auditBridge.open();
    this.checkAudit_();
    await this.auditDurable_(event, correlationId);
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
      claims = this.checkSignature_({ bytes, origin, hash: createHash('sha256').update(bytes).digest('hex') }, agentId, policyIn);
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
    if (!prepared.exports.some(([name, kind]) => name === 'run' && kind === 'function')) {
      throw new ComponentError(`${source.origin}: the component does not export \`run: func(task: string) -> result<string, string>\` (world agent-os:sandbox/agent)`);
    }
    // Only a component that exports more than `run` pays for describing its exports.
    const exported = prepared.exports.some(([name]) => name !== 'run') ? describeExports(source.bytes, source.hash, options.wit) : undefined;
    const report = classifyImports(prepared.imports, policy);
    const unsupported = report.filter((r) => r.verdict === 'unsupported');
    if (unsupported.length > 0) {
      throw new ComponentError(`${source.origin}: imports ${unsupported.map((r) => r.name).join(', ')}, which the sandbox does not provide; target the world agent-os:sandbox/agent`);
    }
    const refused = report.filter((r) => r.verdict === 'refused');
    if (refused.length > 0) {
      throw new DeniedError(
        `${source.origin}: refused before running: ${refused.map((r) => `${r.name} ${r.reason}`).join('; ')}. Remove the capability from capabilities.forbidden or build the agent without that import`,
        { imports: refused.map((r) => r.name) },
      );
    }
    const limits = policy.resourceLimits;
    const caps: HostCaps = {
      ...DEFAULT_CAPS,
      ...(limits.maxOutputBytes !== undefined ? { maxOutputBytes: limits.maxOutputBytes } : {}),
      ...(limits.maxFileSize !== undefined ? { maxFileSize: limits.maxFileSize } : {}),
      ...(policy.networkRules?.maxResponseBytes !== undefined ? { maxResponseBytes: policy.networkRules.maxResponseBytes } : {}),
    };
    const env: [string, string][] = [];
    for (const name of policy.env.allow) {
      const v = this.hostEnv[name];
      if (v !== undefined && !Object.hasOwn(policy.env.set, name)) env.push([name, v]);
    }
    for (const [k, v] of Object.entries(policy.env.set)) env.push([k, v]);
    // Quotas count per agent across its instances: the ledger lives here, the workers share it.
    const quotaPolicy = quotaPolicyOf(policy, agentId);
    const quota = { policy: quotaPolicy, shared: QuotaLedger.allocate(quotaPolicy) };
    let init: InstanceInit = {
      agentId, policy: structuredClone(policy) as never, caps, env, toolNames: [...this.tools.keys()], fuel: meter.fuel, quota,
    };
    const timeoutMs = limits.maxExecutionTime ?? this.defaultTimeoutMs;
    if (this.engine === 'wasmtime') {
      // One copy onto shared memory: every instance's worker then receives the bytes for free.
      const bytes = new Uint8Array(new SharedArrayBuffer(source.bytes.byteLength));
      bytes.set(source.bytes);
      init = { ...init, native: { bytes, hash: source.hash, cacheDir: this.nativeCacheDir_(), memoryBytes: meter.maxMemory, tableElements: DEFAULT_MAX_TABLE_ELEMENTS, timeoutMs } };
    }
    const identity = InstanceIdentity.create({ agentId, agentType: policy.agent?.type ?? claims?.agentType ?? 'agent', version: policy.agent?.version ?? '0', ttlMs: this.identityTtlMs });
    init = { ...init, auth: { shared: identity.shared, fingerprint: identity.identity.fingerprint } };
    const agent = new Agent(this, agentId, prepared, policy, init, timeoutMs, meter, identity);
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
    const id = identity.identity;
    this.audit_({
      type: 'authentication_success',
      agentId,
      capability: 'identity',
      resource: 'agent',
      action: 'identity',
      target: id.fingerprint,
      outcome: 'allowed',
      reason: `agent instance identity ${id.fingerprint.slice(0, 16)}… (${id.agentType} ${id.version}) valid until ${new Date(id.expires).toISOString()}`,
      api: 'sandbox.load',
      details: { ...id, ...(claims ? { signedBy: claims.kid, issuer: claims.iss } : {}), ...(agent.token !== undefined ? { token: tokenSummary(agent.token) } : {}) },
    });
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
    const agent = await loadNativeAgent(
      {
        hostEnv: this.hostEnv,
        defaultTimeoutMs: this.defaultTimeoutMs,
        checkAudit: () => this.checkAudit_(),
        auditError: (output) => this.auditError_(output),
        audit: (e, c) => this.audit_(e, c),
        auditDurable: (e, c) => this.auditDurable_(e, c),
        tagRun: (c, p) => this.auditBridge.tagRun(c, p),
        log: (e) => this.emit('log', e),
        forget: (a) => this.natives.delete(a),
        toolNames: () => [...this.tools.keys()],
        callTool: (name, input, agentId) => this.callTool({ name, input, agentId }),
      },
      policy,
      options,
    );
    this.natives.add(agent);
    return agent;
  }

  /** @internal where the wasmtime engine keeps compiled artifacts */
  nativeCacheDir_(): string {
    return join(this.cacheDir, 'wasmtime');
  }

  /** @internal verify a component's signature when the sandbox trusts signers; returns its claims */
  checkSignature_(source: ComponentSource, agentId: string, policy: SandboxPolicy): ComponentClaims | undefined {
    if (!this.trust) return undefined;
    const check = verifyComponent(source.bytes, this.trust.keys, this.trust.issuers ? { allowIssuers: this.trust.issuers } : {});
    const refuse = (code: string, reason: string, claims?: ComponentClaims): never => {
      this.audit_({
        type: 'authentication_failure',
        agentId,
        capability: 'identity',
        resource: 'agent',
        action: 'verify-signature',
        target: source.hash,
        outcome: 'denied',
        reason: `${code}: ${reason}`,
        api: 'sandbox.load',
        details: { code, ...(claims ? { issuer: claims.iss, kid: claims.kid, sub: claims.sub } : {}) },
      });
      throw new SandboxError('SIGNATURE_INVALID', `${source.origin}: ${reason}`, { reason: code });
    };
    if (!check.ok) {
      if (check.code === 'UNSIGNED' && this.trust.requireSignature === false) return undefined;
      return refuse(check.code, check.reason, check.claims);
    }
    const c = check.claims;
    if (this.trust.revoked?.has(c.jti)) {
      return refuse('REVOKED', `the signature ${c.jti} of this component was revoked`, c);
    }
    if (policy.agent?.type !== undefined && policy.agent.type !== c.agentType) {
      return refuse('WRONG_AGENT_TYPE', `the component is signed for agent type ${JSON.stringify(c.agentType)} but the policy is for ${JSON.stringify(policy.agent.type)}`, c);
    }
    this.audit_({
      type: 'authentication_success',
      agentId,
      capability: 'identity',
      resource: 'agent',
      action: 'verify-signature',
      target: source.hash,
      outcome: 'allowed',
      reason: `signed by ${c.iss} (key ${c.kid}) for ${c.sub}, valid until ${new Date(c.exp).toISOString()}`,
      api: 'sandbox.load',
      details: { issuer: c.iss, kid: c.kid, sub: c.sub, agentType: c.agentType, capabilities: [...c.capabilities], exp: c.exp },
    });
    return c;
  }

  /** @internal a load that a limit stopped is recorded (which limit, what was allowed) */
  loadRefused_(agentId: string, hash: string, e: unknown): SandboxError {
    const err = toSandboxError(e);
    if (LIMIT_CODES.has(err.code)) {
      this.audit_({
        type: 'limit_exceeded',
        agentId,
        capability: 'compute',
        resource: 'agent',
        action: 'load',
        target: err.code,
        outcome: 'denied',
        reason: err.message,
        api: 'sandbox.load',
        details: { component: hash, ...err.details },
      });
    }
    return err;
  }

  /** Close every agent, then the audit log (writing what is queued and a final checkpoint). */
  async close(): Promise<void> {
    clearInterval(this.tokenTimer);
    await Promise.all([...this.agents, ...this.natives].map((a) => a.close()));
    await this.pool.close();
    await this.auditBridge.close();
  }

  /** @internal the `AUDIT_UNAVAILABLE` error to report when the audit log has failed */
  auditError_(agentOutput?: string): SandboxError | undefined {
    const f = this.auditBridge.failed;
    if (!f) return undefined;
    const details = agentOutput !== undefined ? { ...f.details, agentOutput: agentOutput.slice(0, 64 * 1024) } : f.details;
    return new SandboxError('AUDIT_UNAVAILABLE', `the audit log is unavailable, so agents may not act: ${f.message}`, details, { cause: f });
  }

  /** @internal throw `AUDIT_UNAVAILABLE` when the audit log has failed */
  checkAudit_(): void {
    const e = this.auditError_();
    if (e) throw e;
  }

  /** @internal */
  forget_(agent: Agent): void {
    this.agents.delete(agent);
  }

  /** @internal */
  audit_(e: Omit<AuditEvent, 'time'>, correlationId?: string): void {
    const event: AuditEvent = { time: Date.now(), ...e };
    this.auditBridge.record(event, correlationId);
    this.emit('audit', event);
  }

  /** @internal as audit_, for a run's opening record: written once the run settles or with its next batch (AuditBridge.recordDeferred) */
  auditDeferred_(e: Omit<AuditEvent, 'time'>, correlationId: string): void {
    const event: AuditEvent = { time: Date.now(), ...e };
    this.auditBridge.recordDeferred(event, correlationId);
    this.emit('audit', event);
  }

  /** @internal record a host-side audit event; resolves once durable under `'sync'` commits */
  auditDurable_(e: Omit<AuditEvent, 'time'>, correlationId?: string): Promise<void> {
    const event: AuditEvent = { time: Date.now(), ...e };
    const durable = this.auditBridge.recordDurable(event, correlationId);
    this.emit('audit', event);
    return durable;
  }

  /** @internal hooks an instance uses to reach this sandbox */
  hooks_(correlation: () => string, auditShared: SharedArrayBuffer | undefined) {
    const counter = { n: 0 };
    return {
      onEvents: (events: InstanceEvent[]) => {
        const audit: AuditEvent[] = [];
        for (const e of events) {
          if (e.kind === 'audit') {
            audit.push(e.event);
            this.emit('audit', e.event);
          } else this.emit('log', e.event);
        }
        this.auditBridge.recordBatch(audit, correlation(), auditShared, counter);
      },
      rpc: {
        http: (call: HttpCall, signal: AbortSignal) => performHttp(call, signal),
        tool: (req: { name: string; input: string; agentId: string }) => this.callTool(req),
      },
    };
  }

  private async callTool(req: { name: string; input: string; agentId: string }): Promise<ToolReply> {
    const handler = this.tools.get(req.name);
    if (!handler) return { ok: false, kind: 'not-found', message: `no tool named ${req.name}` };
    try {
      const result = await handler(JSON.parse(req.input), { agentId: req.agentId });
      const output = JSON.stringify(result ?? null);
      if (output.length > 1024 * 1024) return { ok: false, kind: 'failed', message: 'tool result larger than 1 MiB' };
      return { ok: true, output };
    } catch (e) {
      const msg = e instanceof SandboxError ? e.message : e instanceof Error ? e.message : String(e);
      return { ok: false, kind: 'failed', message: msg.slice(0, 4096) };
    }
  }
}

/**
 * The policy with `capabilities.allowed` narrowed to what a signed component's claims ask for:
 * a signed agent never gets more than its claims (forbidden stays as it is).
 */
async function narrowCapabilities(policy: SandboxPolicy, claimed: readonly string[]): Promise<SandboxPolicy> {
  const keep = new Set(claimed);
  if (policy.capabilities.allowed.every((c) => keep.has(c))) return policy;
  const raw = JSON.parse(JSON.stringify(policy)) as Record<string, any>;
  raw['capabilities'] = { allowed: policy.capabilities.allowed.filter((c) => keep.has(c)), forbidden: [...policy.capabilities.forbidden] };
  return resolvePolicy(raw);
}

/** Every mount's host directory must exist when an agent is loaded. */
function checkMounts(policy: SandboxPolicy): void {
  policy.mounts.forEach((m, i) => {
    let ok = false;
    try {
      ok = statSync(m.host).isDirectory();
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new PolicyError(`mounts[${i}].host: ${m.host} is not an existing directory; create it or fix the path (relative paths resolve against the policy file)`, {
        path: `mounts[${i}].host`,
      });
    }
  });
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

/** Token settings with durations parsed. */
interface ResolvedTokens {
  readonly service: TokenService;
  readonly ttlMs?: number;
}

/** What the audit trail keeps of a token: its id, family, key and expiry, never the token itself. */
function tokenSummary(token: string): Record<string, unknown> {
  try {
    const [h, p] = token.split('.');
    const header = JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as { kid?: string };
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) as { jti?: string; fam?: string; exp?: number };
    return { jti: claims.jti, fam: claims.fam, kid: header.kid, exp: claims.exp };
  } catch {
    return {};
  }
}
