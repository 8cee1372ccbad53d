/**
 * Shared CLI plumbing: argument parsing with clear usage errors, output, exit codes.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { tryParseDuration } from '../util/units.js';
import { exitCodeFor, SandboxError, toSandboxError, UsageError } from '../errors.js';
import { parseArgsOptions, resolveAliases, type CliOptions } from './flags.js';

/** A command's result: the exit status. */
export type ExitStatus = number;

/**
 * Parse arguments, turning parse failures into a UsageError that names the command's help.
 * Options may carry aliases (`withAliases` in ./flags.ts): an alias's value comes back under
 * the canonical name, and an alias and its flag given different values is a usage error.
 */
export function parse<T extends CliOptions>(
  argv: string[],
  options: T,
  command: string,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  type Parsed = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args: argv, options: parseArgsOptions(options), allowPositionals: true, strict: true }) as Parsed;
  } catch (e) {
    // parseArgs' messages run over several lines ("…is ambiguous.\nDid you forget…"): one line here.
    const message = (e as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/\s*\n\s*/g, ' ').replace(/\.$/, '');
    throw new UsageError(`${message}; see \`agentos ${command} --help\``);
  }
  resolveAliases(parsed.values as Record<string, unknown>, options, command);
  return parsed;
}

/** Characters that could drive a terminal (ANSI escapes, other controls) are shown escaped. */
export function safeText(s: string): string {
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Print an error the way every command does, and return its exit status. */
export function reportError(e: unknown, json: boolean, extra: Record<string, unknown> = {}): ExitStatus {
  const err = toSandboxError(e);
  if (json) {
    process.stdout.write(JSON.stringify({ ok: false, error: { code: err.code, message: err.message }, ...extra }) + '\n');
  } else {
    process.stderr.write(`agentos: ${err.code}: ${safeText(err.message)}\n`);
  }
  return exitCodeFor[err.code];
}

/** Whether a value is a SandboxError. */
/** Print `text` (and a newline) to stdout; exit status 0. */
export function print(text: string): ExitStatus {
  process.stdout.write(text + '\n');
  return 0;
}

/** Print `value` as JSON with `json`, else `text`; exit status 0. */
export function out(json: boolean, value: unknown, text: string): ExitStatus {
  return print(json ? JSON.stringify(value) : text);
}

export const isSandbox = (e: unknown): e is SandboxError => e instanceof SandboxError;

/**
 * A command-line duration (`30d`, `12h`, `90m`, `45s`, `500ms`) in milliseconds, at least
 * `minMs`; a usage error naming the flag otherwise.
 *
 * @example `durationArg(values.valid ?? '90d', '--valid', 1000)`
 */
export function durationArg(value: string, flag: string, minMs = 1000): number {
  const ms = tryParseDuration(value);
  if (ms === undefined || !Number.isSafeInteger(ms) || ms < minMs) {
    const floor = minMs >= 1000 ? `at least ${minMs / 1000}s` : minMs > 0 ? 'above zero' : 'zero or more';
    throw new UsageError(`${flag} ${JSON.stringify(value)}: expected a duration (${floor}) such as 30d, 12h, 90m or 45s`);
  }
  return ms;
}

/**
 * The key passphrase from `--passphrase-file FILE`: its first line (never the command line,
 * which other users can read).
 *
 * @example `KeyStore.open(dir, { passphrase: () => readPassphraseFile(file) })`
 */
export async function readPassphraseFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--passphrase-file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const line = text.split(/\r?\n/, 1)[0] ?? '';
  if (line === '') throw new UsageError(`--passphrase-file ${file}: the first line is empty`);
  return line;
}
