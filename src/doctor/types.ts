/**
 * The shapes `agentos doctor` and {@link ../index.js#runDoctor} produce.
 */

/**
 * What a check found:
 * - `ready`: the feature works on this host;
 * - `missing`: something installable is absent or broken (`fix` says what to run);
 * - `unavailable`: the host cannot provide it (kernel, platform, permissions);
 * - `warning`: it works, but should be acted on (`fix` says how), e.g. a Node line past its end of life;
 * - `error`: the check itself failed unexpectedly (`detail` says how); the other checks still ran.
 */
export type DoctorStatus = 'ready' | 'missing' | 'unavailable' | 'warning' | 'error';

/** Stable ids of the checks, in the order they are reported. */
export type DoctorCheckId =
  | 'node'
  | 'jco'
  | 'cache-dir'
  | 'audit-dir'
  | 'mount-paths'
  | 'wasmtime-addon'
  | 'engine-advisories'
  | 'c-toolchain'
  | 'componentize-py'
  | 'bubblewrap'
  | 'runc'
  | 'cgroups'
  | 'userns'
  | 'landlock';

/** One feature's verdict. */
export interface DoctorCheck {
  /** Stable id, for scripts. */
  readonly id: DoctorCheckId;
  /** Human name of the feature (`wasmtime addon`). */
  readonly feature: string;
  readonly status: DoctorStatus;
  /** Part of the core (the default jco engine): when not ready, `agentos doctor` exits 5. */
  readonly core: boolean;
  /** What was found: a version, a path, or why it is not ready. */
  readonly detail: string;
  /** What to do when not ready (a command to run, a flag to pass). */
  readonly fix?: string;
}

/** The whole report (`agentos doctor --json` prints exactly this). */
export interface DoctorReport {
  /** Every check is ready, optional ones included. */
  readonly ok: boolean;
  /** Every core check is ready: the default jco engine can run agents here. */
  readonly core: boolean;
  readonly checks: readonly DoctorCheck[];
}

/** Options of {@link ../index.js#runDoctor}. */
export interface DoctorOptions {
  /** Transpile cache to check (default `defaultCacheDir()`, as `agentos run` uses). */
  readonly cacheDir?: string;
  /** Audit directory to check (default `.agentos/audit` under the working directory). */
  readonly auditDir?: string;
}

/** A check's verdict before the runner adds `id`, `feature` and `core`. */
export type CheckResult = Pick<DoctorCheck, 'status' | 'detail' | 'fix'>;
