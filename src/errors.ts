/**
 * Host-side errors of the sandbox. Every error a caller can see carries one of the stable
 * {@link ErrorCode} strings below; the CLI maps each code to an exit status.
 *
 * Guest-visible failures (a denied `open-at`, a refused HTTP request) are NOT these errors:
 * they reach the guest as the WIT error of the interface it called. These errors are for the
 * host: the library caller and the CLI user.
 *
 * @example
 * ```ts
 * try { await agent.run('task') } catch (e) {
 *   if (e instanceof SandboxError && e.code === 'TIMEOUT') retryLater();
 * }
 * ```
 */

/** The stable error codes. Never rename one: scripts and dashboards match on them. */
export const ErrorCodes = [
  'CAPABILITY_DENIED',
  'FUEL_EXHAUSTED',
  'MEMORY_LIMIT',
  'TIMEOUT',
  'QUOTA_EXCEEDED',
  'POLICY_INVALID',
  'COMPONENT_INVALID',
  'SIGNATURE_INVALID',
  'AGENT_ERROR',
  'AUDIT_UNAVAILABLE',
  'USAGE',
  'INTERNAL',
  'CANCELLED',
] as const;

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[number];

/** CLI exit status for each error code (DESIGN.md "Exit status"). */
export const exitCodeFor: Readonly<Record<ErrorCode, number>> = Object.freeze({
  AGENT_ERROR: 1,
  USAGE: 2,
  POLICY_INVALID: 2,
  COMPONENT_INVALID: 2,
  SIGNATURE_INVALID: 2,
  FUEL_EXHAUSTED: 3,
  MEMORY_LIMIT: 3,
  TIMEOUT: 3,
  QUOTA_EXCEEDED: 3,
  CAPABILITY_DENIED: 4,
  AUDIT_UNAVAILABLE: 5,
  INTERNAL: 5,
  // The caller stopped the run (an AbortSignal: an MCP client's cancellation, a framework's abort).
  CANCELLED: 3,
});

/** Optional structured context attached to an error (field path, limit values, …). */
export interface ErrorDetails {
  readonly [key: string]: unknown;
}

/**
 * Base class of every host-side error. `code` is stable; `message` says what happened and
 * what to change.
 */
export class SandboxError extends Error {
  /** The stable code. */
  readonly code: ErrorCode;
  /** Structured context, safe to print as JSON. */
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SandboxError';
    this.code = code;
    this.details = details;
  }

  /** The JSON shape used by `agentos run --json`. */
  toJSON(): { code: ErrorCode; message: string; details?: ErrorDetails } {
    return Object.keys(this.details).length > 0
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }
}

/** A policy file or object failed validation. `details.path` names the offending field. */
export class PolicyError extends SandboxError {
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('POLICY_INVALID', message, details, options);
    this.name = 'PolicyError';
  }
}

/** The bytes given are not a loadable component (not wasm, a core module, too large, malformed). */
export class ComponentError extends SandboxError {
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('COMPONENT_INVALID', message, details, options);
    this.name = 'ComponentError';
  }
}

/** A limit (time, fuel, memory, quota) ended the run. */
export class LimitError extends SandboxError {
  constructor(
    code: 'TIMEOUT' | 'FUEL_EXHAUSTED' | 'MEMORY_LIMIT' | 'QUOTA_EXCEEDED',
    message: string,
    details: ErrorDetails = {},
  ) {
    super(code, message, details);
    this.name = 'LimitError';
  }
}

/** The policy refuses something before the agent runs (e.g. a required import is forbidden). */
export class DeniedError extends SandboxError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('CAPABILITY_DENIED', message, details);
    this.name = 'DeniedError';
  }
}

/** The agent returned `err(...)` from `run`, or trapped. */
export class AgentError extends SandboxError {
  constructor(message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super('AGENT_ERROR', message, details, options);
    this.name = 'AgentError';
  }
}

/** Bad arguments to an API or the CLI. */
export class UsageError extends SandboxError {
  constructor(message: string, details: ErrorDetails = {}) {
    super('USAGE', message, details);
    this.name = 'UsageError';
  }
}

/** True when `value` is a {@link SandboxError} (also across worker boundaries after {@link revive}). */
export function isSandboxError(value: unknown): value is SandboxError {
  return value instanceof SandboxError;
}

/** Serializable form of an error, used to cross worker boundaries. */
export interface SerializedError {
  code: ErrorCode;
  message: string;
  details?: ErrorDetails;
}

/** Turn any thrown value into a {@link SandboxError} (unknown values become `INTERNAL`). */
export function toSandboxError(value: unknown): SandboxError {
  if (value instanceof SandboxError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new SandboxError('INTERNAL', `internal error: ${message}`, {}, { cause: value });
}

/** Rebuild a {@link SandboxError} from its serialized form. */
export function revive(e: SerializedError): SandboxError {
  const code: ErrorCode = (ErrorCodes as readonly string[]).includes(e.code) ? e.code : 'INTERNAL';
  switch (code) {
    case 'POLICY_INVALID':
      return new PolicyError(e.message, e.details);
    case 'COMPONENT_INVALID':
      return new ComponentError(e.message, e.details);
    case 'TIMEOUT':
    case 'FUEL_EXHAUSTED':
    case 'MEMORY_LIMIT':
    case 'QUOTA_EXCEEDED':
      return new LimitError(code, e.message, e.details);
    case 'CAPABILITY_DENIED':
      return new DeniedError(e.message, e.details);
    case 'AGENT_ERROR':
      return new AgentError(e.message, e.details);
    case 'USAGE':
      return new UsageError(e.message, e.details);
    default:
      return new SandboxError(code, e.message, e.details);
  }
}

/**
 * The error of a run its caller stopped (an `AbortSignal`), with the abort reason when it is
 * text or a non-abort error.
 *
 * @example
 * ```ts
 * signal.addEventListener('abort', () => reject(cancelledError(signal)));
 * ```
 */
export function cancelledError(signal: AbortSignal): SandboxError {
  const r: unknown = signal.reason;
  const why = typeof r === 'string' ? `: ${r}` : r instanceof Error && r.name !== 'AbortError' ? `: ${r.message}` : '';
  return new SandboxError('CANCELLED', `the run was cancelled by its caller${why}`);
}
