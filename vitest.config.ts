import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/**
 * One suite, two engines: every test runs on the default jco engine (project `jco`); the
 * integration tests of the runtime, metering, policy, audit and identity run a second time on
 * the wasmtime addon (project `wasmtime`: `recordingSandbox()` picks the engine from
 * AGENTOS_TEST_ENGINE). The second project needs the addon (`npm run build:native`, which
 * `npm install` and `.ci/run` do wherever cargo exists); without it the run says so and
 * skips that project.
 */
const addon = `native/agentos-wasmtime.${process.platform}-${process.arch}.node`;
const wasmtime = existsSync(addon);
if (!wasmtime) process.stderr.write(`vitest: ${addon} is not built (npm run build:native): the wasmtime project is skipped\n`);

/** Integration suites that run on both engines (engines.test.ts parametrizes itself). */
const BOTH_ENGINES = ['audit', 'filesystem', 'identity', 'limits', 'network-env-tools', 'policy-runtime', 'runtime'].map((n) => `test/integration/${n}.test.ts`);

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'jco', include: ['src/**/*.test.ts', 'test/**/*.test.ts'], env: { AGENTOS_TEST_ENGINE: 'jco' } } },
      ...(wasmtime ? [{ extends: true, test: { name: 'wasmtime', include: BOTH_ENGINES, env: { AGENTOS_TEST_ENGINE: 'wasmtime' } } }] : []),
    ],
  },
});
