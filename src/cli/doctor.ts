/**
 * `agentos doctor`: check the host, per feature, and say what to install.
 */
import { runDoctor, type DoctorReport } from '../doctor/index.js';
import { exitCodeFor, UsageError } from '../errors.js';
import { parse, reportError, safeText, type ExitStatus } from './common.js';
import { FLAGS } from './flags.js';

export const DOCTOR_HELP = `Usage: agentos doctor [--json] [--cache-dir DIR] [--audit DIR]

Check this host and print, per feature, "ready" or what to install.

Core (the default jco engine needs all of them):
  Node.js            version 20 or later
  jco engine         the @bytecodealliance/jco package resolves and WebAssembly runs
  cache directory    the transpile cache can be created (mode 0700) and written
  audit directory    the audit directory, or its nearest existing ancestor, is writable
                     (the log itself is not opened or created)
  mount path resolution
                     paths under a mount resolve beneath its directory descriptor
                     (/proc/self/fd); without it every file operation is refused
Optional (reported, never a failure):
  wasmtime addon     built and loads (--engine wasmtime); whether cargo is on PATH
  engine advisories  Node and the addon's wasmtime against the known sandbox-escape
                     advisories (refused: missing), and whether the Node line is past
                     its end of life (warning)
  C toolchain        clang, lld, wasi-libc and compiler-rt for C agents
  componentize-py    the pinned release, for Python agents
  bubblewrap, runc   the native sandbox's runtimes
  cgroups            layout (v1, v2, hybrid), memory/pids/cpu/cpuacct controllers, writable
  user namespaces    kernel switches, and whether one can be created
  Landlock           the kernel's Landlock ABI version

Statuses: ready, missing (install what the line says), unavailable (the host or kernel
cannot provide it), warning (works, but act on what the line says), error (the check
itself failed).

Options:
  --cache-dir DIR   transpile cache to check (default $XDG_CACHE_HOME/agent-os-sandbox
                    or ~/.cache/agent-os-sandbox, as 'agentos run' uses)
  --audit DIR       audit directory to check (default .agentos/audit)
  --json            print one JSON object: {ok, core, checks: [{id, feature, status, core,
                    detail, fix?}]}; ok: every feature ready, core: the core ready
  -h, --help        show this help

Exit status: 0 when the core is ready (optional features may be missing), 5 when it is
not, 2 on bad usage.`;

/**
 * The report as aligned lines: status, feature, detail and, when not ready, the fix; then a
 * summary line. No colours (the output is often pasted into issues).
 *
 * @example `process.stdout.write(formatDoctorReport(await runDoctor()) + '\n')`
 */
export function formatDoctorReport(report: DoctorReport): string {
  const statusWidth = Math.max(...report.checks.map((c) => c.status.length));
  const featureWidth = Math.max(...report.checks.map((c) => c.feature.length));
  const lines = report.checks.map((c) => {
    const text = c.fix !== undefined ? `${c.detail} — ${c.fix}` : c.detail;
    return `${c.status.padEnd(statusWidth)}  ${c.feature.padEnd(featureWidth)}  ${safeText(text)}`;
  });
  const optional = report.checks.filter((c) => !c.core);
  const optionalReady = optional.filter((c) => c.status === 'ready').length;
  lines.push(
    '',
    report.core
      ? `core ready: agents run on the jco engine; ${optionalReady} of ${optional.length} optional features ready`
      : `core not ready: agents cannot run until the lines above marked core are fixed (${report.checks.filter((c) => c.core && c.status !== 'ready').map((c) => c.feature).join(', ')})`,
  );
  return lines.join('\n');
}

/** The options of `agentos doctor` (the shared definitions: same name, same meaning). */
export const DOCTOR_OPTIONS = { 'cache-dir': FLAGS['cache-dir'], audit: FLAGS.audit, json: FLAGS.json, help: FLAGS.help } as const;

/** Run the command. */
export async function doctorCommand(argv: string[]): Promise<ExitStatus> {
  const json = argv.includes('--json');
  try {
    const { values, positionals } = parse(argv, DOCTOR_OPTIONS, 'doctor');
    if (values.help) {
      process.stdout.write(DOCTOR_HELP + '\n');
      return 0;
    }
    if (positionals.length > 0) throw new UsageError('agentos doctor takes no arguments; see `agentos doctor --help`');
    const report = await runDoctor({
      ...(values['cache-dir'] !== undefined ? { cacheDir: values['cache-dir'] } : {}),
      ...(values.audit !== undefined ? { auditDir: values.audit } : {}),
    });
    process.stdout.write((json ? JSON.stringify(report) : formatDoctorReport(report)) + '\n');
    // Not an agent error (1): the host lacks what the runtime needs, as for AUDIT_UNAVAILABLE.
    return report.core ? 0 : exitCodeFor.INTERNAL;
  } catch (e) {
    return reportError(e, json);
  }
}
