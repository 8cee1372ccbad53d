import { defineConfig } from 'vitest/config';
import { needs, REQUIRE_ALL_ENV } from './test/helpers/requirements.js';
import { LEFT_OUT_ENV } from './test/summary-reporter.js';

/**
 * One suite, two engines: every test runs on the default jco engine (project `jco`); the
 * integration tests of the runtime, metering, policy, audit and identity run a second time on
 * the wasmtime addon (project `wasmtime`: `recordingSandbox()` picks the engine from
 * AGENTOS_TEST_ENGINE). The second project needs the addon (`npm run build:native`, which
 * `npm install` and `.ci/run` do wherever cargo exists); without it the run says so and
 * skips that project.
 */
/** Integration suites that run on both engines (engines.test.ts parametrizes itself). */
const BOTH_ENGINES_LIST = ['audit', 'comms', 'filesystem', 'fs-race', 'guest-helpers', 'identity', 'limits', 'monitor', 'packing', 'network-env-tools', 'policy-runtime', 'python', 'runtime', 'typed-exports'];
/** Host adapter suites whose agents run on both engines (in-process; the CLI suites use the default). */
const BOTH_ENGINES_ADAPTERS = ['ai-sdk', 'langchain', 'mcp', 'mcp-functions'];
const BOTH_ENGINES = [...BOTH_ENGINES_LIST.map((n) => `test/integration/${n}.test.ts`), ...BOTH_ENGINES_ADAPTERS.map((n) => `test/host-adapters/${n}.test.ts`)];
const BOTH_ENGINES_COUNT = BOTH_ENGINES.length;

const addon = needs.wasmtimeAddon();
const wasmtime = addon.ok;
if (!wasmtime) {
  const line = `the wasmtime project (${BOTH_ENGINES_COUNT} integration suites on the second engine): ${addon.reason} — enable with: ${addon.enable}`;
  if (process.env[REQUIRE_ALL_ENV] === '1') throw new Error(`vitest: ${line} (${REQUIRE_ALL_ENV}=1: nothing may be skipped here)`);
  process.stderr.write(`vitest: ${line}\n`);
  process.env[LEFT_OUT_ENV] = JSON.stringify([line]);
}

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/setup-yield.ts'],
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
