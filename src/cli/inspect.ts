/**
 * `agentos inspect`: a component's imports and exports, and what a policy would do with each import.
 */
import { createSandbox } from '../sandbox/sandbox.js';
import { UsageError } from '../errors.js';
import { parse, reportError, safeText, type ExitStatus } from './common.js';
import { FLAGS, flagLine } from './flags.js';

/** The options of `agentos inspect`; all shared (./flags.ts). */
export const INSPECT_OPTIONS = { policy: FLAGS.policy, 'cache-dir': FLAGS['cache-dir'], json: FLAGS.json, help: FLAGS.help } as const;

export const INSPECT_HELP = `Usage: agentos inspect <agent.wasm> [--policy FILE] [--json]

Show a component's imports and exports and, for each import, what the policy does with it:
  allowed      ambient (clocks, random, stdio, log): always available
  gated        available; each call is decided by the policy (mounts, fileAccess, networkRules, ...)
  denied       every call is denied under this policy
  refused      the policy forbids the capability: the sandbox will not load this component
  unsupported  the sandbox does not provide this interface: the component cannot load
Without --policy the empty policy (deny everything) is assumed.

Options:
${flagLine(INSPECT_OPTIONS.policy)}
${flagLine(INSPECT_OPTIONS['cache-dir'])}
${flagLine(INSPECT_OPTIONS.json)}
${flagLine(INSPECT_OPTIONS.help)}`;

/** Run the command. */
export async function inspectCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parse(argv, INSPECT_OPTIONS, 'inspect');
    if (values.help) {
      process.stdout.write(INSPECT_HELP + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('agentos inspect takes exactly one component path; see `agentos inspect --help`');
    const sandbox = createSandbox({ prewarmWorkers: 0, ...(values['cache-dir'] !== undefined ? { cacheDir: values['cache-dir'] } : {}) });
    const report = await sandbox.inspect(positionals[0]!, values.policy !== undefined ? { policy: values.policy } : {});
    if (json) {
      process.stdout.write(JSON.stringify({ ok: true, ...report }) + '\n');
      return 0;
    }
    const lines = [`component ${safeText(positionals[0]!)}`, `sha256 ${report.hash}`, '', 'exports:'];
    for (const [name, kind] of report.exports) lines.push(`  ${name} (${kind})`);
    lines.push('', 'imports:');
    const width = Math.max(...report.imports.map((r) => r.name.length), 10);
    for (const r of report.imports) lines.push(`  ${r.name.padEnd(width)}  ${r.verdict.padEnd(11)}  ${r.reason}`);
    const refused = report.imports.filter((r) => r.verdict === 'refused' || r.verdict === 'unsupported');
    if (refused.length > 0) lines.push('', `this component would be refused: ${refused.map((r) => r.name).join(', ')}`);
    process.stdout.write(lines.join('\n') + '\n');
    return 0;
  } catch (e) {
    return reportError(e, json);
  }
}
