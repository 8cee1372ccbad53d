/**
 * The library API's options and results: what `createSandbox`, `load`, `run` take and give.
 */
import type { LogEvent } from '../capabilities/context.js';
import type { AuditEvent } from '../gate/types.js';
import type { PolicyInput } from './policy-input.js';
import type { ImportReport } from './imports.js';
import type { AuditSettings } from './audit-bridge.js';
import type { Alert, MonitorOptions } from '../monitor/types.js';
import type { QuarantineEntry } from './monitoring.js';
import type { KeyProvider } from '../identity/types.js';
import type { TokenService } from '../identity/tokens.js';
import type { MessagingSettings } from './comms.js';
import type { KvSettings } from './kv-host.js';

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
   * Agent threads started ahead of time (host code loaded), so that the first instance does
   * not pay for booting a thread (~60 ms). Default 1; 0 starts threads on demand only (what the
   * CLI does).
   */
  readonly prewarmWorkers?: number;
  /**
   * How many agent threads the sandbox's instances share (each new instance goes to the thread
   * hosting the fewest). Default: the machine's cores (`os.availableParallelism()`), at most 64.
   */
  readonly threads?: number;
  /**
   * The cap of each agent thread's V8 heap in MiB: the host code and the JS glue and host
   * objects (handles, buffers) of every instance on the thread; guests' linear memory is capped
   * by `resourceLimits.maxMemory` instead and is not part of it. A thread that reaches it dies:
   * the agent that was running fails with `MEMORY_LIMIT`, the others on the thread are restarted
   * on another and the restart is audited. Default 2048 for shared threads, 512 for an agent on
   * a thread of its own. 16–16384.
   */
  readonly threadHeapMb?: number;
  /**
   * Where an agent's instance runs by default. `'shared'` (the default): on one of the
   * sandbox's agent threads beside other instances, ~100 KiB each; a run that must stop (time,
   * cancellation, a fatal limit) stops at its next check and its neighbours carry on, but a
   * guest blocked in a long host call (a sleep, a slow tool or HTTP request) holds up the
   * thread's other runs until it returns or is stopped. `'thread'`: a thread of its own (~10 MiB,
   * ~60 ms to start), terminated when the instance must stop, as for an agent that blocks a
   * lot. {@link LoadOptions.isolation} overrides it per agent.
   */
  readonly isolation?: Isolation;
  /**
   * The tamper-evident audit log every gate decision is recorded in (one LevelDB chain shared
   * by every agent of this sandbox). Default `{}`: directory `.agentos/audit`, output-commit
   * durability (nothing leaves the sandbox — a file write, a network connection, a tool call, a
   * run's output — before every record up to it is fsynced; reads, stats and denials do not
   * wait), checkpoints every 10,000 records or 5 s. `durability: 'sync'` makes every decision
   * wait for its record; `'async'` acknowledges once the OS has the write (a process kill loses
   * nothing, an OS crash may lose the last batches). `false` records nothing durably
   * (events are still emitted as `audit` events) — for tests and embedding only. Sandboxes in
   * one process that name the same directory share one chain; another process gets
   * `AUDIT_UNAVAILABLE` at load while this one has it open.
   */
  readonly audit?: AuditSettings | false;
  /**
   * The security monitor: detectors over the stream of recorded events, alerts
   * (`security_alert` records, `alert` events) and automatic containment. Default `{}`: the
   * seeds' rules (brute force, suspicious resource access, security policy violations),
   * security policies' `alert`/`quarantine` actions and capability policies' alert thresholds;
   * alerts at `critical` (and `potential_compromise`) quarantine their agent. `false` switches
   * it off. See `MonitorOptions`.
   */
  readonly monitor?: MonitorOptions | false;
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
  /**
   * Messages between agents (`agent-os:sandbox/messaging`): signed with the sender instance's
   * identity key, encrypted to the recipient, verified and checked for replay before the
   * recipient sees them. Default `{}`: agents of this sandbox reach each other in process;
   * `{ nats: 'nats://127.0.0.1:4222' }` also reaches agents of other sandboxes through that
   * NATS server (which sees only ciphertext). `false` switches messaging off. See `MessagingSettings`.
   */
  readonly messaging?: MessagingSettings | false;
  /**
   * The agents' key-value store (`agent-os:sandbox/kv`): one encrypted LevelDB per sandbox
   * (default directory `.agentos/kv`), each agent in a namespace of its own, opened on first
   * use. Default `{}`: the data key is wrapped by a key file beside the store (development);
   * pass `keys` (a key store) to wrap it with a key store key. `false` switches it off. See `KvSettings`.
   */
  readonly kv?: KvSettings | false;
  /**
   * Resolve the names agents connect to (wasi:http, the native agents' egress proxy) through these
   * DNS servers instead of the system resolver: `{ servers: ['10.0.0.53', '127.0.0.1:5353'] }`.
   * Either way a name is resolved once per connection, every address it resolves to must be
   * public, and the connection goes to exactly the addresses checked.
   */
  readonly dns?: { readonly servers: readonly string[] };
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
  /** Where this agent's instance runs (see {@link SandboxOptions.isolation}). Default: the sandbox's. */
  readonly isolation?: Isolation;
}

/** Where an agent instance runs: beside others on a shared agent thread, or on a thread of its own. */
export type Isolation = 'shared' | 'thread';

/** Options of {@link Agent.run}. */
export interface RunOptions {
  /** Wall-clock limit for this run (ms or `30s`). Default: the policy's `resourceLimits.maxExecutionTime`, else the sandbox default. */
  readonly timeout?: number | string;
  /**
   * Aborting ends the run at once with `CANCELLED`: the instance is discarded (its guest is
   * stopped, or the native sandbox's process tree killed) and the next run starts a fresh one. The
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
  /** An alert of the monitor (also a `security_alert` record in the audit chain). */
  alert: [Alert];
  /** The monitor quarantined an agent. */
  quarantine: [QuarantineEntry];
}

/** Result of {@link Sandbox.inspect}. */
export interface InspectReport {
  readonly hash: string;
  readonly imports: readonly ImportReport[];
  readonly exports: readonly (readonly [string, string])[];
}

/** Token settings with durations parsed. */
export interface ResolvedTokens {
  readonly service: TokenService;
  readonly ttlMs?: number;
}
