/**
 * Test helpers: a sandbox with a shared transpile cache, temp directories, event capture.
 * Integration tests use the built package (dist/), exactly as users do: agents run in workers
 * that load compiled JavaScript.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { createSandbox, type Sandbox, type AuditEvent, type LogEvent } from '../../dist/index.js';

/** One transpile cache for the whole test run (transpiling StarlingMonkey takes seconds). */
export const TEST_CACHE_DIR = join(tmpdir(), 'agentos-test-cache');

/**
 * The engine the suite runs on: vitest's `wasmtime` project sets AGENTOS_TEST_ENGINE (see
 * vitest.config.ts); anything else is the default jco engine.
 */
export const TEST_ENGINE: 'jco' | 'wasmtime' = process.env['AGENTOS_TEST_ENGINE'] === 'wasmtime' ? 'wasmtime' : 'jco';

/**
 * A sandbox that records every event, on {@link TEST_ENGINE} unless `options.engine` says otherwise. Its audit chain (real LevelDB, durable commits) lives in
 * a fresh temporary directory unless `options.audit` says otherwise.
 */
export function recordingSandbox(options: Parameters<typeof createSandbox>[0] = {}): {
  sandbox: Sandbox;
  audit: AuditEvent[];
  logs: LogEvent[];
  auditDir: string;
} {
  const auditDir = mkdtempSync(join(tmpdir(), 'agentos-audit-'));
  const sandbox = createSandbox({ cacheDir: TEST_CACHE_DIR, audit: { dir: auditDir }, engine: TEST_ENGINE, ...options });
  const audit: AuditEvent[] = [];
  const logs: LogEvent[] = [];
  sandbox.on('audit', (e) => audit.push(e));
  sandbox.on('log', (e) => logs.push(e));
  return { sandbox, audit, logs, auditDir };
}

/**
 * A factory of recording sandboxes, each closed after the test that made it. Call it once at
 * the top of a test file (it registers the `afterEach`).
 *
 * @example
 * ```ts
 * const sandbox = sandboxPerTest();
 * it('…', async () => { const { sandbox: s, auditDir } = sandbox(); … });
 * ```
 */
export function sandboxPerTest(options: Parameters<typeof createSandbox>[0] = {}): () => ReturnType<typeof recordingSandbox> {
  const open: Sandbox[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });
  return () => {
    const s = recordingSandbox(options);
    open.push(s.sandbox);
    return s;
  };
}

/** A temporary directory removed by the returned cleanup. */
export function tempDir(prefix = 'agentos-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Wait until the event loop has delivered pending worker messages. */
export const settle = () => new Promise((r) => setTimeout(r, 50));
