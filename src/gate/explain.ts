/**
 * Explaining one decision: what the gate would decide for one request under one policy, and
 * the rules that decided it. `agentos policy explain` and the MCP adapter's `agentos_explain`
 * tool both call {@link explainRequest}, so the two never disagree with each other or with the
 * gate a running agent passes through (it is the same `Gate`, with no quota ledger and no
 * identity layer: what the policy decides, not what a rate limit or a revoked key would add).
 */
import { compileAuthz } from '../authz/engine.js';
import type { AuthzRequest } from '../authz/types.js';
import { UsageError } from '../errors.js';
import { parseHttpTarget } from '../policy/network.js';
import { parsePolicyText } from '../policy/loader.js';
import type { SandboxPolicy } from '../policy/schema.js';
import { Gate } from './gate.js';
import type { AuditEvent, Decision } from './types.js';

/**
 * What is asked, as `agentos policy explain --request` takes it. Attributes by resource:
 * `file` (action `read`|`write`): `path` (a guest path), `size`; `network` (action `connect`):
 * `url`, or `host` + `port` + `scheme`; `env` (action `read`): `name`; `tool` (action `invoke`):
 * `name`; anything else (`data`, `system`, …) goes to the authorization model alone, with its
 * attributes as the resource's (`data`: `dataId`, `classification`).
 */
export interface ExplainRequest {
  readonly resource: string;
  readonly action: string;
  readonly attributes?: Readonly<Record<string, unknown>>;
  readonly context?: Readonly<Record<string, unknown>>;
}

/**
 * Who asks, overriding what the policy says of the agent (`agentos policy explain --agent`).
 * Every field is optional; absent fields come from the policy's `agent` and `roles`.
 */
export interface ExplainSubject {
  readonly id?: string;
  readonly type?: string;
  readonly roles?: readonly string[];
  readonly mfaVerified?: boolean;
  readonly environment?: string;
}

/** The decision and how it was reached. */
export interface Explanation {
  readonly decision: Decision;
  /** Which layers decided: the sandbox rules and the authorization model, or one of them. */
  readonly layer: 'sandbox + model' | 'sandbox' | 'model';
  /** The audit events the gate would have recorded for the request. */
  readonly events: readonly AuditEvent[];
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || v === '') throw new UsageError(`${what} must be a non-empty string`);
  return v;
};

/** The policy with the subject's overrides applied (validated again: a bad override is a policy error). */
function withSubject(policy: SandboxPolicy, subject: ExplainSubject, source: string): SandboxPolicy {
  if (subject.roles === undefined && subject.type === undefined && subject.mfaVerified === undefined && subject.environment === undefined) return policy;
  const raw = JSON.parse(JSON.stringify(policy)) as Record<string, any>;
  if (subject.roles !== undefined) raw['roles'] = subject.roles;
  raw['agent'] = {
    ...(raw['agent'] ?? {}),
    ...(subject.type !== undefined ? { type: subject.type } : {}),
    ...(subject.mfaVerified !== undefined ? { mfaVerified: subject.mfaVerified } : {}),
    ...(subject.environment !== undefined ? { environment: subject.environment } : {}),
  };
  return parsePolicyText(JSON.stringify(raw), { format: 'json', source }).policy;
}

/**
 * Decide `request` under `policy` the way the gate would, with the rules that decided it.
 * Nothing is recorded: the events the gate would have written are returned instead.
 *
 * @param api - what the decision says asked (the gate's `api` field). Default `agentos policy explain`.
 * @throws UsageError for a malformed request (a missing path, a bad URL); PolicyError when a
 *   subject override makes the policy invalid.
 * @example
 * ```ts
 * const { decision } = explainRequest(policy, { resource: 'file', action: 'read', attributes: { path: '/workspace/a.ts' } });
 * decision.allowed; // true or false
 * decision.matched; // e.g. ['capabilities.allowed:read_files', 'fileAccess.readonly:/workspace/**']
 * ```
 */
export function explainRequest(policy: SandboxPolicy, request: ExplainRequest, subject: ExplainSubject = {}, api = 'agentos policy explain'): Explanation {
  const resource = str(request.resource, 'request.resource');
  const action = str(request.action, 'request.action');
  const attrs = request.attributes ?? {};
  const context = request.context ?? {};
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) throw new UsageError('request.attributes must be an object');
  if (typeof context !== 'object' || context === null || Array.isArray(context)) throw new UsageError('request.context must be an object');
  const effective = withSubject(policy, subject, api);
  const agentId = subject.id ?? 'explain';
  const events: AuditEvent[] = [];
  const gate = new Gate(effective, agentId, (e) => {
    events.push(e);
  });
  if (resource === 'file' && (action === 'read' || action === 'write')) {
    const path = str(attrs['path'], 'request.attributes.path');
    const size = typeof attrs['size'] === 'number' && Number.isSafeInteger(attrs['size']) && attrs['size'] >= 0 ? BigInt(attrs['size']) : undefined;
    return { decision: gate.file(action, path, api, false, size), layer: 'sandbox + model', events };
  }
  if (resource === 'network' && action === 'connect') {
    let url: URL | undefined;
    if (attrs['url'] !== undefined) {
      try {
        url = new URL(str(attrs['url'], 'request.attributes.url'));
      } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError(`request.attributes.url: not a URL: ${JSON.stringify(attrs['url'])}`);
      }
    }
    const scheme = url ? url.protocol.replace(':', '') : str(attrs['scheme'] ?? 'https', 'request.attributes.scheme');
    const authority = url ? url.host : `${str(attrs['host'], 'request.attributes.host')}${attrs['port'] !== undefined ? `:${String(attrs['port'])}` : ''}`;
    const target = parseHttpTarget(scheme, authority, url ? url.pathname + url.search : '/');
    if ('error' in target) throw new UsageError(`request: ${target.error}`);
    return { decision: gate.http(target, api), layer: 'sandbox + model', events };
  }
  if (resource === 'env' && action === 'read') {
    // Environment variables are decided by the policy's env lists alone (no model layer).
    return { decision: gate.env(str(attrs['name'], 'request.attributes.name'), api), layer: 'sandbox', events };
  }
  if (resource === 'tool' && action === 'invoke') {
    return { decision: gate.tool(str(attrs['name'], 'request.attributes.name'), api), layer: 'sandbox + model', events };
  }
  // Resources the sandbox has no capability for yet (data, system, tasks): the model alone.
  const areq: AuthzRequest = {
    subject: { id: agentId, roles: effective.roles, ...(effective.agent?.type !== undefined ? { type: effective.agent.type } : {}), mfaVerified: effective.agent?.mfaVerified ?? false },
    resource: { ...attrs, type: resource },
    action,
    context: { environment: effective.agent?.environment ?? 'default', ...context, api },
  };
  const d = compileAuthz(effective.authz).decide(areq);
  const decision: Decision = { allowed: d.allowed, reason: d.reason, matched: d.matched, ...(d.actions.length ? { actions: d.actions } : {}), ...(d.wouldDeny ? { wouldDeny: d.wouldDeny } : {}) };
  return { decision, layer: 'model', events };
}
