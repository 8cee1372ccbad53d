/**
 * `agentos dashboard`: serve the security monitor's web page for an audit directory (see
 * `src/monitor/dashboard/server.ts`) until interrupted.
 */
import { readFile } from 'node:fs/promises';
import { DEFAULT_AUDIT_DIR } from '../sandbox/audit-bridge.js';
import { startDashboard } from '../monitor/dashboard/server.js';
import { UsageError } from '../errors.js';
import { parse, reportError, type ExitStatus } from './common.js';
import { FLAGS, flagLine } from './flags.js';

/** The environment variable a token may come from (never the command line: `ps` shows it). */
export const DASHBOARD_TOKEN_ENV = 'AGENTOS_DASHBOARD_TOKEN';

export const DASHBOARD_OPTIONS = {
  audit: FLAGS.audit,
  incidents: { name: 'incidents', type: 'string', arg: 'DIR', help: 'the incident directory (default: incidents/ in the audit directory)' },
  port: { name: 'port', type: 'string', arg: 'PORT', help: 'the port (default 8787; 0 for any free port)' },
  host: { name: 'host', type: 'string', arg: 'ADDR', help: 'the address to listen on (default 127.0.0.1)' },
  'token-file': { name: 'token-file', type: 'string', arg: 'FILE', help: `the token for actions: the first line of FILE (else $${DASHBOARD_TOKEN_ENV}, else a random one printed at start)` },
  json: { ...FLAGS.json, help: 'print the address and token as one JSON object when listening' },
  help: FLAGS.help,
} as const;

export const DASHBOARD_HELP = `Usage: agentos dashboard [--audit DIR] [--port PORT] [--host ADDR] [--token-file FILE] [--json]

Serve the security monitor's web page: agents and their state and risk score, the live stream
of decisions (denials highlighted), alerts and incidents (release a contained one with the
token), the audit chain's verification status and latest checkpoint, denials and alerts per
minute, and Prometheus metrics at /metrics. It reads the audit directory as it grows — the one
a running sandbox writes (agentos run --audit, agentos mcp, your program), or one left behind.

Options:
${flagLine(DASHBOARD_OPTIONS.audit, undefined, 22)}
${flagLine(DASHBOARD_OPTIONS.incidents, undefined, 22)}
${flagLine(DASHBOARD_OPTIONS.port, undefined, 22)}
${flagLine(DASHBOARD_OPTIONS.host, undefined, 22)}
${flagLine(DASHBOARD_OPTIONS['token-file'], undefined, 22)}
${flagLine(DASHBOARD_OPTIONS.json, undefined, 22)}
${flagLine(DASHBOARD_OPTIONS.help, undefined, 22)}

Reading needs nothing; actions need the token (the page asks for it). Only requests addressed
to the dashboard's own host and port are served. Stop it with Ctrl-C.
Exit status: 0 stopped, 2 bad input, 5 internal error.`;

async function tokenFrom(file: string | undefined): Promise<string | undefined> {
  if (file !== undefined) {
    const t = (await readFile(file, 'utf8')).split('\n')[0]!.trim();
    if (t.length < 16) throw new UsageError(`the token in ${file} must be at least 16 characters`);
    return t;
  }
  const env = process.env[DASHBOARD_TOKEN_ENV];
  return env !== undefined && env !== '' ? env : undefined;
}

/** Run `agentos dashboard`; resolves when it is stopped. */
export async function dashboardCommand(argv: string[]): Promise<ExitStatus> {
  const jsonOut = argv.includes('--json');
  try {
    const { values, positionals } = parse(argv, DASHBOARD_OPTIONS, 'dashboard');
    if (values.help) {
      process.stdout.write(DASHBOARD_HELP + '\n');
      return 0;
    }
    if (positionals.length > 0) throw new UsageError('dashboard takes no arguments; see `agentos dashboard --help`');
    const port = values.port === undefined ? 8787 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (0-65535), not ${JSON.stringify(values.port)}`);
    const given = await tokenFrom(values['token-file']);
    const d = await startDashboard({ audit: values.audit ?? DEFAULT_AUDIT_DIR, ...(values.incidents ? { incidents: values.incidents } : {}), port, ...(values.host ? { host: values.host } : {}), ...(given ? { token: given } : {}) });
    if (jsonOut) process.stdout.write(JSON.stringify({ ok: true, url: d.url, port: d.port, ...(given ? {} : { token: d.token }) }) + '\n');
    else process.stdout.write(`agentos dashboard: ${d.url}${given ? '' : `\n  token for actions: ${d.token}`}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await d.close();
    return 0;
  } catch (e) {
    return reportError(e, jsonOut);
  }
}
