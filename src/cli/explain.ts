/**
 * `agentos policy explain`: what the gate would decide for one agent and one request, and the
 * rules that made the decision.
 */
import { readFileSync } from 'node:fs';
import { compileAuthz } from '../authz/engine.js';
import type { AuthzRequest } from '../authz/types.js';
import { UsageError } from '../errors.js';
import { Gate } from '../gate/gate.js';
import type { AuditEvent, Decision } from '../gate/types.js';
import { loadPolicyFile, parsePolicyText } from '../policy/loader.js';
import { parseHttpTarget } from '../policy/network.js';
import { parse, reportError, safeText, type ExitStatus } from './common.js';
import { FLAGS, flagLine } from './flags.js';

/** The options of `agentos policy explain`. */
export const EXPLAIN_OPTIONS = { policy: FLAGS.policy, agent: { type: 'string' }, request: { type: 'string' }, json: FLAGS.json, help: FLAGS.help } as const;

export const EXPLAIN_HELP = `Usage: agentos policy explain --policy FILE --request JSON [--agent JSON] [--json]

Decide one request the way the gate would, and print the decision with the rules that made it.
The sandbox layer (capabilities, mounts, fileAccess, networkRules, toolAccess) and the
authorization model (roles, access, capability, security and data policies) both apply.

${flagLine(EXPLAIN_OPTIONS.policy, undefined, 20)}
  --agent JSON      who asks: {"type": "...", "roles": [...], "mfaVerified": true, "environment": "prod",
                    "id": "..."}; defaults come from the policy's agent and roles. @FILE reads a file.
  --request JSON    what is asked: {"resource": "file|network|tool|data|system|...", "action": "...",
                    "attributes": {...}, "context": {...}}. Attributes by resource:
                      file     path (a guest path), size, classification
                      network  url, or host + port + scheme
                      tool     name
                      data     dataId, classification
                    @FILE reads a file.
${flagLine(EXPLAIN_OPTIONS.json, 'print the decision as one JSON object', 20)}
${flagLine(EXPLAIN_OPTIONS.help, undefined, 20)}

Exit status: 0 allowed, 4 denied, 2 bad input.

Example:
  agentos policy explain --policy policy.yaml --agent '{"roles":["code-reviewer"]}' \\
    --request '{"resource":"file","action":"read","attributes":{"path":"/workspace/src/a.ts"}}'`;

function jsonArg(value: string, flag: string): Record<string, unknown> {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (e) {
      throw new UsageError(`${flag} ${value}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UsageError(`${flag}: not valid JSON`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`${flag}: expected a JSON object`);
  return v as Record<string, unknown>;
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || v === '') throw new UsageError(`${what} must be a non-empty string`);
  return v;
};

/** Run the subcommand. */
export async function explainCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parse(argv, EXPLAIN_OPTIONS, 'policy explain');
    if (values.help) {
      process.stdout.write(EXPLAIN_HELP + '\n');
      return 0;
    }
    if (positionals.length > 0) throw new UsageError('agentos policy explain takes no positional arguments; see --help');
    if (!values.policy || !values.request) throw new UsageError('agentos policy explain needs --policy and --request');
    const loaded = await loadPolicyFile(values.policy);
    const agent = values.agent ? jsonArg(values.agent, '--agent') : {};
    const request = jsonArg(values.request, '--request');
    const resource = str(request['resource'], 'request.resource');
    const action = str(request['action'], 'request.action');
    const attrs = (request['attributes'] ?? {}) as Record<string, unknown>;
    const context = (request['context'] ?? {}) as Record<string, unknown>;
    if (typeof attrs !== 'object' || Array.isArray(attrs)) throw new UsageError('request.attributes must be an object');

    // The agent as described overrides the policy's own description of it.
    const raw = JSON.parse(JSON.stringify(loaded.policy)) as Record<string, any>;
    if (agent['roles'] !== undefined) raw['roles'] = agent['roles'];
    raw['agent'] = {
      ...(raw['agent'] ?? {}),
      ...(agent['type'] !== undefined ? { type: agent['type'] } : {}),
      ...(agent['mfaVerified'] !== undefined ? { mfaVerified: agent['mfaVerified'] } : {}),
      ...(agent['environment'] !== undefined ? { environment: agent['environment'] } : {}),
    };
    const policy = parsePolicyText(JSON.stringify(raw), { format: 'json', source: values.policy }).policy;
    const agentId = typeof agent['id'] === 'string' ? agent['id'] : 'explain';
    const events: AuditEvent[] = [];
    const gate = new Gate(policy, agentId, (e) => {
      events.push(e);
    });
    let decision: Decision;
    let layer: string;
    if (resource === 'file' && (action === 'read' || action === 'write')) {
      const path = str(attrs['path'], 'request.attributes.path');
      decision = gate.file(action, path, 'agentos policy explain', false, typeof attrs['size'] === 'number' ? BigInt(attrs['size']) : undefined);
      layer = 'sandbox + model';
    } else if (resource === 'network' && action === 'connect') {
      const url = typeof attrs['url'] === 'string' ? new URL(attrs['url']) : undefined;
      const scheme = url ? url.protocol.replace(':', '') : str(attrs['scheme'] ?? 'https', 'request.attributes.scheme');
      const authority = url ? url.host : `${str(attrs['host'], 'request.attributes.host')}${attrs['port'] !== undefined ? `:${String(attrs['port'])}` : ''}`;
      const target = parseHttpTarget(scheme, authority, url ? url.pathname + url.search : '/');
      if ('error' in target) throw new UsageError(`request: ${target.error}`);
      decision = gate.http(target, 'agentos policy explain');
      layer = 'sandbox + model';
    } else if (resource === 'tool' && action === 'invoke') {
      decision = gate.tool(str(attrs['name'], 'request.attributes.name'), 'agentos policy explain');
      layer = 'sandbox + model';
    } else {
      // Resources the sandbox has no capability for yet (data, system, tasks): the model alone.
      const areq: AuthzRequest = {
        subject: { id: agentId, roles: policy.roles, ...(policy.agent?.type !== undefined ? { type: policy.agent.type } : {}), mfaVerified: policy.agent?.mfaVerified ?? false },
        resource: { ...attrs, type: resource },
        action,
        context: { environment: policy.agent?.environment ?? 'default', ...context, api: 'agentos policy explain' },
      };
      const d = compileAuthz(policy.authz).decide(areq);
      decision = { allowed: d.allowed, reason: d.reason, matched: d.matched, ...(d.actions.length ? { actions: d.actions } : {}), ...(d.wouldDeny ? { wouldDeny: d.wouldDeny } : {}) };
      layer = 'model';
    }
    if (json) {
      process.stdout.write(JSON.stringify({ ok: true, decision, layer, events }) + '\n');
    } else {
      const lines = [`${decision.allowed ? 'ALLOW' : 'DENY'}  ${resource} ${action}`, `reason:  ${safeText(decision.reason)}`, `layers:  ${layer}`];
      if (decision.matched.length > 0) lines.push(`matched: ${decision.matched.map(safeText).join(', ')}`);
      for (const a of decision.actions ?? []) lines.push(`action:  ${a.type} (${a.policyId}${a.ruleId ? '/' + a.ruleId : ''}${a.severity ? ', ' + a.severity : ''})`);
      if (decision.wouldDeny) lines.push(`advisory: ${decision.wouldDeny.policyId}/${decision.wouldDeny.ruleId} would deny: ${safeText(decision.wouldDeny.reason)}`);
      process.stdout.write(lines.join('\n') + '\n');
    }
    return decision.allowed ? 0 : 4;
  } catch (e) {
    return reportError(e, json);
  }
}
