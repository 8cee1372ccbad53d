/**
 * `agentos doctor`'s checks of the host: per feature, whether it is ready or what to install.
 * The core (Node, jco, a writable cache and audit directory) is what the default jco engine
 * needs; everything else is optional.
 *
 * @example
 * ```ts
 * import { runDoctor } from 'agent-os-sandbox';
 * const report = await runDoctor();
 * for (const c of report.checks) if (c.status !== 'ready') console.log(c.feature, c.fix);
 * ```
 */
import { defaultCacheDir } from '../engine/jco/transpile.js';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';
import { checkCgroups } from './cgroups.js';
import { checkAuditDir, checkCacheDir, checkJco, checkMountPaths, checkNode } from './checks-core.js';
import { checkBubblewrap, checkLandlock, checkRunc, checkUserNamespaces } from './checks-linux.js';
import { checkComponentizePy, checkCToolchain, checkEngineAdvisories, checkWasmtimeAddon } from './checks-native.js';
import type { CheckResult, DoctorCheck, DoctorCheckId, DoctorOptions, DoctorReport } from './types.js';

export type { DoctorCheck, DoctorCheckId, DoctorOptions, DoctorReport, DoctorStatus } from './types.js';

/** One check as the runner knows it. */
export interface CheckSpec {
  readonly id: DoctorCheckId;
  readonly feature: string;
  readonly core: boolean;
  readonly run: () => CheckResult | Promise<CheckResult>;
  /**
   * It blocks the event loop (spawnSync): run it after the others, or their probes' timers
   * would fire late, before their children's exits were seen, and report false timeouts.
   */
  readonly blocking?: boolean;
}

function specs(opts: DoctorOptions): CheckSpec[] {
  return [
    { id: 'node', feature: 'Node.js', core: true, run: () => checkNode() },
    { id: 'jco', feature: 'jco engine', core: true, run: () => checkJco() },
    { id: 'cache-dir', feature: 'cache directory', core: true, run: () => checkCacheDir(opts.cacheDir ?? defaultCacheDir()) },
    { id: 'audit-dir', feature: 'audit directory', core: true, run: () => checkAuditDir(opts.auditDir ?? DEFAULT_AUDIT_DIR) },
    { id: 'mount-paths', feature: 'mount path resolution', core: true, run: () => checkMountPaths() },
    { id: 'wasmtime-addon', feature: 'wasmtime addon', core: false, run: () => checkWasmtimeAddon() },
    { id: 'engine-advisories', feature: 'engine advisories', core: false, run: () => checkEngineAdvisories() },
    { id: 'c-toolchain', feature: 'C toolchain', core: false, run: () => checkCToolchain() },
    { id: 'componentize-py', feature: 'componentize-py', core: false, run: () => checkComponentizePy(), blocking: true },
    { id: 'bubblewrap', feature: 'bubblewrap', core: false, run: () => checkBubblewrap() },
    { id: 'runc', feature: 'runc', core: false, run: () => checkRunc() },
    { id: 'cgroups', feature: 'cgroups', core: false, run: () => checkCgroups() },
    { id: 'userns', feature: 'user namespaces', core: false, run: () => checkUserNamespaces() },
    { id: 'landlock', feature: 'Landlock', core: false, run: () => checkLandlock() },
  ];
}

/**
 * Run one check. One that throws reports `error` for itself only; the others still run.
 *
 * @internal exported for its test; not part of the public entry.
 */
export async function guarded(spec: CheckSpec): Promise<DoctorCheck> {
  let result: CheckResult;
  try {
    result = await spec.run();
  } catch (e) {
    result = { status: 'error', detail: `the check failed: ${e instanceof Error ? e.message : String(e)}` };
  }
  return { id: spec.id, feature: spec.feature, status: result.status, core: spec.core, detail: result.detail, ...(result.fix !== undefined ? { fix: result.fix } : {}) };
}

/**
 * Check the host. Never rejects: a check that fails unexpectedly has status `error`. Every
 * program it runs has a time limit. It creates the cache directory (mode 0700) when absent,
 * as the jco engine would, and writes nothing else but a removed temporary file there.
 *
 * @param opts.cacheDir default `defaultCacheDir()`; `opts.auditDir` default `.agentos/audit`
 * @returns every check in a fixed order; `core` is true when the jco engine can run agents,
 *   `ok` when every feature, optional ones included, is ready.
 * @example
 * ```ts
 * const { core, checks } = await runDoctor({ auditDir: '/var/lib/agents/audit' });
 * if (!core) throw new Error(checks.filter((c) => c.core && c.status !== 'ready').map((c) => c.fix).join('; '));
 * ```
 */
export async function runDoctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const all = specs(opts);
  const concurrent = await Promise.all(all.map((s) => (s.blocking ? undefined : guarded(s))));
  const checks: DoctorCheck[] = [];
  for (const [i, s] of all.entries()) checks.push(concurrent[i] ?? (await guarded(s)));
  return {
    ok: checks.every((c) => c.status === 'ready'),
    core: checks.filter((c) => c.core).every((c) => c.status === 'ready'),
    checks,
  };
}
