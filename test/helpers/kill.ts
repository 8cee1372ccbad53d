/**
 * Crash tests: run a child process until it has printed enough lines of a kind, wait a random
 * moment more, and SIGKILL it; resolve with everything it printed.
 */
import { spawn } from 'node:child_process';

/**
 * Run `node args…` until its stdout has `min` lines matching `line` (a regular expression of
 * one line, e.g. /\nack /g), then SIGKILL it within `maxDelayMs`. Rejects if it exits by itself.
 */
export function runUntilKilled(args: readonly string[], line: RegExp, min: number, maxDelayMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killing = false;
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!killing && (out.match(line)?.length ?? 0) >= min) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * maxDelayMs));
      }
    });
    child.once('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`the child exited with ${code}: ${err}`));
      else resolve(out);
    });
  });
}
