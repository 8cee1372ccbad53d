/**
 * The sandbox's options, checked and resolved once, before anything starts: a refused option
 * throws `USAGE` (or `POLICY_INVALID` for a bad threat-intelligence list) naming it.
 */
import { join } from 'node:path';
import { DEFAULT_MAX_COMPONENT_BYTES } from '../engine/component.js';
import { defaultThreadCount } from '../engine/jco/thread-pool.js';
import { defaultCacheDir } from '../engine/jco/transpile.js';
import { checkEngineVersion } from '../engine/advisories.js';
import { checkDnsServers, serversLookup, type NameLookup } from '../util/dns-servers.js';
import { loadWasmtimeAddon } from '../engine/wasmtime/addon.js';
import { UsageError } from '../errors.js';
import { indicatorData, Indicators, loadIndicators } from '../monitor/indicators.js';
import { parseDuration } from '../util/units.js';
import { DEFAULT_AUDIT_DIR, type AuditSettings } from './audit-bridge.js';
import { DEFAULT_IDENTITY_TTL_MS } from './agent-identity.js';
import type { Isolation, ResolvedTokens, SandboxOptions } from './options.js';

/** What a sandbox runs with. */
export interface SandboxSettings {
  /** Name resolution through `dns.servers`; undefined: the system resolver. */
  readonly resolve: NameLookup | undefined;
  readonly prewarm: number;
  readonly threads: number;
  readonly heapMb: number | undefined;
  readonly isolation: Isolation;
  readonly cacheDir: string;
  readonly maxComponentBytes: number;
  readonly defaultTimeoutMs: number;
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
  readonly identityTtlMs: number;
  readonly engine: 'jco' | 'wasmtime';
  readonly tokens: { readonly resolved: ResolvedTokens; readonly checkEveryMs: number } | undefined;
  readonly audit: AuditSettings | false;
  readonly indicators: Indicators | undefined;
  /** Where the monitor keeps incidents (none without an audit log unless set). */
  readonly incidentDir: string | undefined;
}

export function checkIsolation(v: unknown): Isolation {
  if (v !== 'shared' && v !== 'thread') throw new UsageError(`isolation must be 'shared' or 'thread', not ${JSON.stringify(v)}`);
  return v;
}

/** Check and resolve a sandbox's options. */
export function sandboxSettings(options: SandboxOptions): SandboxSettings {
  const prewarm = options.prewarmWorkers ?? 1;
  if (!Number.isInteger(prewarm) || prewarm < 0 || prewarm > 64) throw new UsageError('prewarmWorkers must be a whole number from 0 to 64');
  const threads = options.threads ?? Math.min(64, defaultThreadCount());
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new UsageError('threads must be a whole number from 1 to 64');
  const isolation = checkIsolation(options.isolation ?? 'shared');
  const heapMb = options.threadHeapMb;
  if (heapMb !== undefined && (!Number.isInteger(heapMb) || heapMb < 16 || heapMb > 16384)) throw new UsageError('threadHeapMb must be a whole number of MiB from 16 to 16384');
  const engine = options.engine ?? 'jco';
  if (engine !== 'jco' && engine !== 'wasmtime') throw new UsageError(`engine must be 'jco' or 'wasmtime', not ${JSON.stringify(engine)}`);
  // Guests run inside this Node process (in V8 on the jco engine): refuse a Node release with a
  // known sandbox-escape advisory (src/engine/advisories.ts); the wasmtime addon checks its own.
  checkEngineVersion('node', process.versions.node);
  if (engine === 'wasmtime') loadWasmtimeAddon();
  let tokens: SandboxSettings['tokens'];
  if (options.tokens !== undefined) {
    const t = options.tokens;
    if (typeof t !== 'object' || t === null || typeof t.service?.validate !== 'function') throw new UsageError('tokens.service must be a TokenService');
    const checkEveryMs = t.checkInterval !== undefined ? parseDuration(t.checkInterval, 'tokens.checkInterval') : 1000;
    if (checkEveryMs < 10) throw new UsageError('tokens.checkInterval must be at least 10ms');
    tokens = { resolved: { service: t.service, ...(t.ttl !== undefined ? { ttlMs: parseDuration(t.ttl, 'tokens.ttl') } : {}) }, checkEveryMs };
  }
  const audit = options.audit ?? {};
  if (audit !== false && (typeof audit !== 'object' || audit === null)) throw new UsageError('audit must be an object of audit settings or false');
  const monitor = options.monitor;
  if (monitor !== undefined && monitor !== false && (typeof monitor !== 'object' || monitor === null)) throw new UsageError('monitor must be an object of monitor settings or false');
  const ind = monitor ? monitor.indicators : undefined;
  const dns = options.dns;
  if (dns !== undefined && (typeof dns !== 'object' || dns === null)) throw new UsageError('dns must be { servers: [...] }');
  const resolve = dns ? serversLookup(checkDnsServers(dns.servers)) : undefined;
  return {
    resolve,
    prewarm,
    threads,
    heapMb,
    isolation,
    cacheDir: options.cacheDir ?? defaultCacheDir(),
    maxComponentBytes: options.maxComponentBytes ?? DEFAULT_MAX_COMPONENT_BYTES,
    defaultTimeoutMs: options.defaultTimeout !== undefined ? parseDuration(options.defaultTimeout, 'defaultTimeout') : 30_000,
    hostEnv: options.hostEnv ?? process.env,
    identityTtlMs: options.identityTtl !== undefined ? parseDuration(options.identityTtl, 'identityTtl') : DEFAULT_IDENTITY_TTL_MS,
    engine,
    tokens,
    audit,
    indicators: ind === undefined ? undefined : new Indicators(typeof ind === 'string' ? loadIndicators(ind) : indicatorData(ind, 'monitor.indicators')),
    incidentDir: (monitor ? monitor.incidentDir : undefined) ?? (audit === false ? undefined : join(audit.dir ?? DEFAULT_AUDIT_DIR, 'incidents')),
  };
}
