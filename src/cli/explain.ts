/**
 * `agentos policy explain`: what the gate would decide for one agent and one request, and the
 * rules that made the decision. The decision is `explainRequest` (src/gate/explain.ts), the same
 * engine the MCP adapter's `agentos_explain` tool uses.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import { explainRequest } from '../gate/explain.js';
import { loadPolicyFile } from '../policy/loader.js';
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
                      env      name (action read)
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
    const attrs = request['attributes'] ?? {};
    const context = request['context'] ?? {};
    if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) throw new UsageError('request.attributes must be an object');
    if (typeof context !== 'object' || context === null || Array.isArray(context)) throw new UsageError('request.context must be an object');
    // The agent as described overrides the policy's own description of it.
    const subject = {
      ...(typeof agent['id'] === 'string' ? { id: agent['id'] } : {}),
      ...(agent['roles'] !== undefined ? { roles: agent['roles'] as string[] } : {}),
      ...(agent['type'] !== undefined ? { type: agent['type'] as string } : {}),
      ...(agent['mfaVerified'] !== undefined ? { mfaVerified: agent['mfaVerified'] as boolean } : {}),
      ...(agent['environment'] !== undefined ? { environment: agent['environment'] as string } : {}),
    };
    const { decision, layer, events } = explainRequest(
      loaded.policy,
      { resource, action, attributes: attrs as Record<string, unknown>, context: context as Record<string, unknown> },
      subject,
    );
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
