/**
 * How a failed run is reported, for components and native agents alike: a run during which
 * the audit log failed ends with `AUDIT_UNAVAILABLE` whatever else happened; any other failure
 * is recorded (`limit_exceeded` for a limit, else `agent_error`) under the run's id and thrown.
 *
 * @example
 * ```ts
 * } catch (e) {
 *   throw runFailure(e, { agentId, runId, auditError: () => sandbox.auditError_(), audit: (ev, id) => sandbox.audit_(ev, id) });
 * }
 * ```
 */
import { type SandboxError, toSandboxError } from '../errors.js';
import type { AuditEvent } from '../gate/types.js';

/** Codes that mean a limit ended the run. */
export const LIMIT_CODES: ReadonlySet<string> = new Set(['TIMEOUT', 'FUEL_EXHAUSTED', 'MEMORY_LIMIT', 'QUOTA_EXCEEDED']);

/** What {@link runFailure} needs. */
export interface RunFailureContext {
  readonly agentId: string;
  readonly runId: string;
  auditError(): SandboxError | undefined;
  audit(e: Omit<AuditEvent, 'time'>, correlationId?: string): void;
}

/** The error to throw for a failed run, recorded in the audit log. */
export function runFailure(e: unknown, ctx: RunFailureContext): SandboxError {
  const thrown = toSandboxError(e);
  const err = thrown.code === 'AUDIT_UNAVAILABLE' ? thrown : (ctx.auditError() ?? thrown);
  if (err.code !== 'AUDIT_UNAVAILABLE') {
    ctx.audit({
      type: LIMIT_CODES.has(err.code) ? 'limit_exceeded' : 'agent_error',
      agentId: ctx.agentId,
      capability: 'compute',
      resource: 'agent',
      action: 'run',
      target: err.code,
      outcome: 'denied',
      reason: err.message,
      api: 'agent.run',
      ...(Object.keys(err.details).length > 0 ? { details: { ...err.details } } : {}),
    }, ctx.runId);
  }
  return err;
}

/** The record of a load a limit stopped (which limit, what was allowed); undefined for other failures. */
export function loadRefusedEvent(agentId: string, hash: string, err: SandboxError): Omit<AuditEvent, 'time'> | undefined {
  if (!LIMIT_CODES.has(err.code)) return undefined;
  return { type: 'limit_exceeded', agentId, capability: 'compute', resource: 'agent', action: 'load', target: err.code, outcome: 'denied', reason: err.message, api: 'sandbox.load', details: { component: hash, ...err.details } };
}
