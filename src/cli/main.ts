#!/usr/bin/env node
/**
 * The `agentos` command.
 */
import { readFileSync } from 'node:fs';
import { auditCommand } from './audit.js';
import { buildCommand } from './build.js';
import { caCommand } from './ca.js';
import { containerCommand } from './container.js';
import { doctorCommand } from './doctor.js';
import { incidentCommand } from './incident.js';
import { dashboardCommand } from './dashboard.js';
import { complianceCommand } from './compliance.js';
import { keysCommand } from './keys.js';
import { kvCommand } from './kv.js';
import { mcpCommand } from './mcp.js';
import { signCommand, verifyCommand } from './sign.js';
import { tokenCommand } from './token.js';
import { inspectCommand } from './inspect.js';
import { policyCommand } from './policy.js';
import { runCommand } from './run.js';
import { reportError } from './common.js';
import { UsageError } from '../errors.js';

const HELP = `Usage: agentos <command> [options]

Run untrusted AI agents compiled to WebAssembly components under a deny-by-default policy.

Commands:
  run <agent.wasm>         run one task in an agent under a policy
  inspect <agent.wasm>     show imports/exports and what a policy would do with each import
  build <src> -o <out>     build a JavaScript, C, Python or WAT agent into a component
  policy check <file...>   validate policy files
  audit <command>          verify, tail, query, export, checkpoint, prove or prune the audit log
  incident <command>       list, show, export, release or resolve the monitor's incidents
  dashboard                serve the security monitor's web page (agents, decisions, alerts, incidents)
  compliance <command>     assess SOC 2, ISO 27001, GDPR, HIPAA or PCI DSS from the audit chain:
                           signed reports with offline-verifiable evidence
  keys <command>           generate, list, rotate, revoke or export Ed25519 keys (encrypted at rest)
  kv <command>             list, read (audited) or delete the agents' encrypted key-value data
  ca <command>             init a local CA, issue, revoke or verify agent certificates
  sign <agent.wasm>        sign a component with a key from the key store
  verify <agent.wasm>      check a component's signature against the trusted keys
  token <command>          issue, verify or revoke an agent's access, refresh or session token
  mcp --config FILE        serve agents as MCP tools (stdio, or Streamable HTTP with --http)
  container spec -- CMD    print the OCI config.json (runc, containerd) of a native agent under a policy
  doctor                   check this host: what is ready, what to install

Run 'agentos <command> --help' for a command's options.
Exit status: 0 ok, 1 agent error, 2 bad input, 3 limit hit, 4 refused by policy, 5 internal error.`;


async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return runCommand(rest);
    case 'inspect':
      return inspectCommand(rest);
    case 'build':
      return buildCommand(rest);
    case 'policy':
      return policyCommand(rest);
    case 'audit':
      return auditCommand(rest);
    case 'incident':
      return incidentCommand(rest);
    case 'dashboard':
      return dashboardCommand(rest);
    case 'compliance':
      return complianceCommand(rest);
    case 'keys':
      return keysCommand(rest);
    case 'kv':
      return kvCommand(rest);
    case 'token':
      return tokenCommand(rest);
    case 'ca':
      return caCommand(rest);
    case 'sign':
      return signCommand(rest);
    case 'verify':
      return verifyCommand(rest);
    case 'container':
      return containerCommand(rest);
    case 'mcp':
      return mcpCommand(rest);
    case 'doctor':
      return doctorCommand(rest);
    case '--version':
    case '-v': {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      process.stdout.write(`agentos ${pkg.version}\n`);
      return 0;
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(HELP + '\n');
      return command === undefined ? 2 : 0;
    default:
      return reportError(new UsageError(`unknown command ${JSON.stringify(command)}; see \`agentos --help\``), argv.includes('--json'));
  }
}

// A reader that goes away (`agentos audit query | head`) is not an error of ours: stop quietly.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.exitCode = reportError(e, process.argv.includes('--json'));
  },
);
