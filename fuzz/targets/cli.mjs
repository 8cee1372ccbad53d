/**
 * Fuzz target: command-line arguments of `agentos policy`, `agentos kv` and `agentos audit`
 * (the command functions from dist/cli, called in-process with stdout/stderr captured).
 *
 * Every generated argv is a usage error by construction (an unknown subcommand, an unknown
 * flag, or a value-taking flag with no value, placed before any `--`), so nothing is ever
 * read or written. The property: the command returns exit status 2 and prints exactly one
 * line, `agentos: USAGE: …` on stderr (or with `--json`, one JSON line with code USAGE on
 * stdout), never a stack trace, and never throws.
 */
import fc from 'fast-check';
import { AUDIT_OPTIONS, auditCommand } from '../../dist/cli/audit.js';
import { parseArgsOptions } from '../../dist/cli/flags.js';
import { kvCommand } from '../../dist/cli/kv.js';
import { POLICY_CHECK_OPTIONS, policyCommand } from '../../dist/cli/policy.js';

export const name = 'cli';

const COMMANDS = { policy: policyCommand, kv: kvCommand, audit: auditCommand };
const KV_FLAGS = { kv: 'string', 'agent-id': 'string', prefix: 'string', 'key-file': 'string', keys: 'string', 'key-name': 'string', 'passphrase-file': 'string', audit: 'string', by: 'string', json: 'boolean', help: 'boolean' };

function flagsOf(options) {
  return Object.fromEntries(Object.entries(parseArgsOptions(options)).map(([k, v]) => [k, v.type]));
}
const AUDIT_FLAGS = Object.assign({}, ...Object.values(AUDIT_OPTIONS).map(flagsOf));
/** Flags by command and subcommand (the union over subcommands, so some are foreign to the one chosen). */
const FLAGS = { policy: { ...flagsOf(POLICY_CHECK_OPTIONS), agent: 'string', request: 'string' }, kv: KV_FLAGS, audit: AUDIT_FLAGS };
const SUBS = { policy: ['check', 'explain'], kv: ['list', 'get', 'delete'], audit: Object.keys(AUDIT_OPTIONS) };

const value = fc.oneof(
  fc.constantFrom('', '-', '--', '-x', '=', '0', '-1', '1e999', 'NaN', '30d', '/nonexistent-fuzz/x', '{"a":1}', '[]', 'null', '\u0000', '\u001b[31m', 'é😀', '\ud800', ' '),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);

/** One valid-looking token: a known flag (with a value when it takes one), a short flag, or a positional. */
function token(command) {
  const flags = FLAGS[command];
  const names = Object.keys(flags);
  return fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...names), value, fc.boolean()).map(([f, v, eq]) => (flags[f] === 'boolean' ? [`--${f}`] : eq ? [`--${f}=${v}`] : [`--${f}`, v])) },
    { weight: 1, arbitrary: fc.constantFrom(...names).map((f) => [`--${f}=${flags[f] === 'boolean' ? 'yes' : ''}`]) },
    { weight: 1, arbitrary: fc.constantFrom('-n', '-f', '-o', '-h', '-nf').map((f) => [f]) },
    { weight: 2, arbitrary: value.filter((v) => !v.startsWith('-')).map((v) => [v]) },
  );
}

/** Something that makes the argv a usage error, whatever the other tokens. */
function poison(command) {
  const flags = FLAGS[command];
  const stringFlags = Object.keys(flags).filter((f) => flags[f] === 'string');
  return fc.oneof(
    fc.string({ minLength: 1, maxLength: 10 }).map((s) => [`--zz-${s.replace(/[=\s]/g, '_')}`]),
    fc.constantFrom('-Q', '-Z', '--no-such-flag', '---', '--JSON', '--help-me').map((f) => [f]),
  ).chain((p) => (stringFlags.length > 0 ? fc.oneof(fc.constant(p), fc.constantFrom(...stringFlags).map((f) => ({ last: `--${f}` }))) : fc.constant(p)));
}

/** The fast-check arbitrary of inputs: `{ command, argv }`. */
export const arbitrary = fc.constantFrom(...Object.keys(COMMANDS)).chain((command) =>
  fc
    .record({
      sub: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SUBS[command]) }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !['-h', '--help', 'help', ...SUBS[command]].includes(s) && !s.startsWith('--json')) }),
      tokens: fc.array(token(command), { maxLength: 8 }),
      poison: poison(command),
      at: fc.nat(),
    })
    .map(({ sub, tokens, poison: p, at }) => {
      const rest = tokens.flat();
      if (Array.isArray(p)) {
        const i = at % (rest.length + 1);
        const before = rest.slice(0, i).filter((t) => t !== '--');
        rest.splice(0, i, ...before);
        rest.splice(before.length, 0, ...p);
      } else {
        // A value-taking flag with no value must be last, and no "--" before it.
        const kept = rest.filter((t) => t !== '--');
        rest.length = 0;
        rest.push(...kept, p.last);
      }
      return { command, argv: [sub, ...rest] };
    }),
);

async function capture(fn) {
  const out = [];
  const err = [];
  const stdout = process.stdout.write;
  const stderr = process.stderr.write;
  process.stdout.write = (chunk) => (out.push(String(chunk)), true);
  process.stderr.write = (chunk) => (err.push(String(chunk)), true);
  try {
    return { status: await fn(), stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
}

/** The property, for one input; throws when it does not hold. */
export async function check(input) {
  const { command, argv } = input;
  let r;
  try {
    r = await capture(() => COMMANDS[command](argv));
  } catch (e) {
    throw new Error(`agentos ${command} threw: ${e instanceof Error ? e.stack : String(e)}`);
  }
  const show = () => `agentos ${command} ${JSON.stringify(argv)}: status ${r.status}, stdout ${JSON.stringify(r.stdout.slice(0, 300))}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`;
  if (r.status !== 2) throw new Error(`expected exit status 2: ${show()}`);
  if (/\n\s+at /.test(r.stdout + r.stderr)) throw new Error(`a stack trace was printed: ${show()}`);
  if (argv.includes('--json')) {
    const lines = r.stdout.split('\n');
    let parsed;
    try {
      parsed = JSON.parse(lines[0] ?? '');
    } catch {
      parsed = undefined;
    }
    if (lines.length !== 2 || lines[1] !== '' || r.stderr !== '' || parsed?.ok !== false || parsed?.error?.code !== 'USAGE') {
      throw new Error(`expected one JSON line with code USAGE on stdout: ${show()}`);
    }
  } else if (r.stdout !== '' || !/^agentos: USAGE: [^\n]*\n$/.test(r.stderr)) {
    throw new Error(`expected one "agentos: USAGE: …" line on stderr only: ${show()}`);
  }
}
