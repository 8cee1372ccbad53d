/**
 * `agentos policy check`: validate policy files.
 */
import { loadPolicyFile } from '../policy/loader.js';
import { UsageError, toSandboxError } from '../errors.js';
import { exitCodeFor } from '../errors.js';
import { parse, reportError, safeText, type ExitStatus } from './common.js';
import { FLAGS, flagLine } from './flags.js';
import { explainCommand } from './explain.js';
import { lintPolicy, type LintFinding } from '../authz/lint.js';

/** The options of `agentos policy check`: the files come as arguments or as --policy FILE (repeatable). */
export const POLICY_CHECK_OPTIONS = { policy: { ...FLAGS.policy, multiple: true }, json: FLAGS.json, help: FLAGS.help } as const;

export const POLICY_HELP = `Usage: agentos policy check <file...> [--policy FILE]... [--json]
       agentos policy explain --policy FILE --request JSON [--agent JSON] [--json]

check: validate policy files (YAML or JSON): schema, field types, unknown or duplicate keys,
globs, network rules, mounts, roles, access/security/data policies; then lint them for
unreachable and shadowed rules and allow-all grants. Errors name the offending field path.
Exit status 0 when every file is valid (lint warnings allowed), 2 otherwise.

explain: decide one request the way the gate would and print the rules that made the
decision; see \`agentos policy explain --help\`.

Options:
${flagLine(POLICY_CHECK_OPTIONS.policy, 'check: a policy file to check, besides the arguments (repeatable)', 17)}
${flagLine(POLICY_CHECK_OPTIONS.json, undefined, 17)}
${flagLine(POLICY_CHECK_OPTIONS.help, undefined, 17)}`;

/** Run the command. */
export async function policyCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  try {
    const [sub, ...rest] = argv;
    if (sub === '--help' || sub === '-h' || sub === undefined) {
      if (sub === undefined) throw new UsageError('agentos policy needs a subcommand: check or explain; see `agentos policy --help`');
      process.stdout.write(POLICY_HELP + '\n');
      return 0;
    }
    if (sub === 'explain') return explainCommand(rest);
    if (sub !== 'check') throw new UsageError(`unknown policy subcommand ${JSON.stringify(sub)}; see \`agentos policy --help\``);
    const { values, positionals: args } = parse(rest, POLICY_CHECK_OPTIONS, 'policy check');
    if (values.help) {
      process.stdout.write(POLICY_HELP + '\n');
      return 0;
    }
    const positionals = [...args, ...(values.policy ?? [])];
    if (positionals.length === 0) throw new UsageError('agentos policy check needs at least one file');
    const results: { file: string; ok: boolean; warnings?: string[]; lint?: LintFinding[]; error?: { code: string; message: string } }[] = [];
    for (const file of positionals) {
      try {
        const loaded = await loadPolicyFile(file);
        const lint = lintPolicy(loaded.policy);
        results.push({ file, ok: !lint.some((f) => f.severity === 'error'), warnings: loaded.warnings, lint });
      } catch (e) {
        const err = toSandboxError(e);
        results.push({ file, ok: false, error: { code: err.code, message: err.message } });
      }
    }
    const allOk = results.every((r) => r.ok);
    if (json) process.stdout.write(JSON.stringify({ ok: allOk, results }) + '\n');
    else {
      for (const r of results) {
        if (r.ok) {
          process.stdout.write(`${safeText(r.file)}: ok\n`);
          for (const w of r.warnings ?? []) process.stdout.write(`  warning: ${safeText(w)}\n`);
          for (const f of r.lint ?? []) process.stdout.write(`  ${f.severity}: ${safeText(f.path)}: ${safeText(f.message)} (${f.code})\n`);
        } else if (r.lint) {
          process.stderr.write(`${safeText(r.file)}: lint errors\n`);
          for (const f of r.lint) process.stderr.write(`  ${f.severity}: ${safeText(f.path)}: ${safeText(f.message)} (${f.code})\n`);
        } else process.stderr.write(`${safeText(r.file)}: ${r.error!.code}: ${safeText(r.error!.message)}\n`);
      }
    }
    return allOk ? 0 : exitCodeFor.POLICY_INVALID;
  } catch (e) {
    return reportError(e, json);
  }
}
