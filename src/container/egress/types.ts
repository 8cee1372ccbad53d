/**
 * The egress proxy's public shapes: what the spawner passes in, what it gets back, and the
 * record it receives for every decision.
 */
import type { Socket, TcpNetConnectOpts } from 'node:net';
import type { Gate } from '../../gate/gate.js';
import type { QuotaExceeded, QuotaLedger } from '../../limits/quota.js';

/**
 * The part of a {@link Gate} the proxy uses. Pass the agent's real `Gate` (the one whose audit
 * sink writes the agent's chain and whose `quota` is the agent's shared ledger): then a proxied
 * connection is decided by the very code, and recorded in the very shape, of a `wasi:http`
 * request.
 *
 * - `http(target, api)` decides (capability guard, `networkRules`, the authorization model,
 *   rate limits, `maxConnections`, `dataTransferLimit`) and records one audit event;
 * - `refuse(req, reason)` records a request refused before or after the policy (malformed
 *   targets, a resolved address in a refused range);
 * - `record(event)` records a connection cut by `dataTransferLimit`;
 * - `quota`, the agent's ledger: in-flight connections and transferred bytes.
 */
export type EgressGate = Pick<Gate, 'http' | 'refuse' | 'record'> & Partial<Pick<Gate, 'blockedAddress' | 'privateRanges'>> & { readonly quota?: QuotaLedger | undefined };

/** One resolved address, as `dns.lookup(host, { all: true })` returns it. */
export interface LookupAddress {
  readonly address: string;
  readonly family: number;
}

/** Options of {@link startEgressProxy}. At least one of `socketPath` and `tcpPort` is required. */
export interface EgressProxyOptions {
  /** The agent's gate (or a narrow view of it): decides and records every connection. */
  readonly gate: EgressGate;
  /**
   * Listen on this unix socket path (the spawner bind-mounts it into the sandbox). The path
   * must not exist; it is removed by `close()`.
   */
  readonly socketPath?: string;
  /**
   * Mode of the socket file (a process must be able to write it to connect). Default `0o600`:
   * only the owner. A sandbox running as another uid needs the spawner to chown the file or
   * pass a wider mode inside a private directory.
   */
  readonly socketMode?: number;
  /** Also listen on `127.0.0.1:tcpPort` (`0`: any free port; see `EgressProxy.port`). Default: no TCP listener. */
  readonly tcpPort?: number;
  /**
   * Called once per CONNECT tunnel or forwarded request when it ends (a refusal at once), with
   * the bytes it carried. The audit record itself is written by the gate at decision time; this
   * is for the spawner's own accounting and metrics.
   */
  readonly onDecision?: (decision: EgressDecision) => void;
  /** Resolver; default `dns.lookup(host, { all: true, verbatim: true })`. Tests inject one. */
  readonly lookup?: (hostname: string) => Promise<readonly LookupAddress[]>;
  /**
   * Awaited after every allowed decision, before connecting: resolve `false` when the
   * decision's audit record could not be made durable (then the connection is refused with
   * 503, fail closed). The gate's sink is synchronous; this is where an asynchronous durable
   * append is waited for. Default: not awaited.
   */
  readonly awaitAudit?: () => Promise<boolean>;
  /**
   * How a connection to an origin is opened; default `net.connect(options)`. `options.host` is
   * always the checked address (never a name) and must be used as given. Tests pass one that
   * refuses anything but loopback, so a regression can never reach another address; a spawner
   * could add a `localAddress` here.
   */
  readonly connect?: (options: TcpNetConnectOpts) => Socket;
  /** Connect timeout to the origin, ms. Default 30,000 (as `wasi:http`). */
  readonly connectTimeoutMs?: number;
  /** Largest request head (request line and headers) accepted, bytes. Default 65,536; larger is answered 400. */
  readonly maxHeaderBytes?: number;
}

/**
 * What one tunnel or forwarded request came to. `allowed` is the final outcome: the policy's
 * decision and then the resolved-address check.
 */
export interface EgressDecision {
  /** Canonical host (the raw target, cut to 200 characters, when it could not be parsed). */
  readonly host: string;
  /** 0 when the target could not be parsed. */
  readonly port: number;
  /** `https` for every CONNECT tunnel, `http` for forwarded requests, `''` when unparsed. */
  readonly scheme: string;
  readonly method: string;
  readonly allowed: boolean;
  /** The gate's reason, or why the address check refused. */
  readonly reason: string;
  /** When denied: the rule (`networkRules.allowedHosts`, `networkRules.maxConnections`, `resolved address`, …). */
  readonly rule?: string;
  /** The address connected to (allowed only). */
  readonly address?: string;
  /** Body bytes from the origin to the agent (for a tunnel, every byte). */
  readonly bytesIn: number;
  /** Body bytes from the agent to the origin. */
  readonly bytesOut: number;
  /** HTTP status the agent got from the proxy or the origin (a tunnel: 200 once established). */
  readonly status?: number;
  /** Allowed, but it failed: DNS, connect, reset, timeout. */
  readonly error?: string;
  /** Set when `dataTransferLimit` cut the connection. */
  readonly limit?: QuotaExceeded;
}

/** Counters since the proxy started. */
export interface EgressStats {
  /** Client connections accepted (unix socket and TCP). */
  readonly connections: number;
  /** Decisions: tunnels, forwarded requests and malformed requests. */
  readonly requests: number;
  readonly allowed: number;
  readonly denied: number;
  /** Connections opened to origins (a kept-alive one is reused without a new dial). */
  readonly dials: number;
  readonly openTunnels: number;
  readonly openRequests: number;
  /** Body bytes origin → agent. */
  readonly bytesIn: number;
  /** Body bytes agent → origin. */
  readonly bytesOut: number;
  /** Connections cut by `dataTransferLimit`. */
  readonly cut: number;
}

/** A running proxy. */
export interface EgressProxy {
  /** The unix socket path, when listening on one. */
  readonly socketPath: string | undefined;
  /** The TCP port on 127.0.0.1, when listening on one. */
  readonly port: number | undefined;
  /** A snapshot of the counters. */
  stats(): EgressStats;
  /** Stop listening, close every client connection, tunnel and origin connection, remove the socket file. */
  close(): Promise<void>;
  /**
   * Also serve on a listening descriptor made elsewhere — the native sandbox's 127.0.0.1:3128,
   * created inside its network namespace — until the returned `close()`.
   */
  serveFd(fd: number): Promise<{ close(): Promise<void> }>;
}
