/**
 * The abi target's fixtures: the hostile guest (`abi-guest.wat`) wrapped as a component twice
 * (string-encoding utf8 and utf16), built once per process in-process with the wasm-tools jco
 * ships, and one sandbox per engine (jco, and wasmtime when its addon is built) with a policy
 * that grants what the guest's imports reach (a read-only mount, a tool, an environment
 * variable, storage). Each sandbox runs all its instances on one thread, beside a neighbour
 * agent that must keep answering whatever the hostile ones do.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jco } from '../../dist/build/wat.js';
import { bundleWit, DEFAULT_WORLD } from '../../dist/build/wit.js';
import { wasmtimeAddonPath } from '../../dist/engine/wasmtime/addon.js';
import { createSandbox } from '../../dist/index.js';
import { parsePolicyObject } from '../../dist/policy/loader.js';

const WAT = fileURLToPath(new URL('./abi-guest.wat', import.meta.url));
/** Transpiled components are cached here between runs (jco transpiles each component once). */
const CACHE = join(tmpdir(), 'agentos-fuzz-abi-cache');

/** Memory the guest starts with (2 pages) and may grow to (resourceLimits.maxMemory 64 MiB). */
export const MEMORY_BYTES = 2 * 65536;
export const LIMIT_PAGES = 1024;
/** What the guest's host calls return under the policy below. */
export const TOOL_OUTPUT = '{"echoed":{}}';
export const ENV_NAME = 'FUZZ_A';

/** Engines available here: jco always, wasmtime when its addon exists. */
export const ENGINES = existsSync(wasmtimeAddonPath()) ? ['jco', 'wasmtime'] : ['jco'];

/** The guest's text for one string encoding: SHIFT set and the plain-text data in that encoding. */
function guestText(encoding) {
  const wat = readFileSync(WAT, 'utf8').replace('(i32.const SHIFT)', `(i32.const ${encoding === 'utf16' ? 1 : 0})`);
  if (encoding !== 'utf16') return wat;
  const le16 = (text) => [...text].map((c) => `\\${c.charCodeAt(0).toString(16).padStart(2, '0')}\\00`).join('');
  return wat.replace(/\(data \(i32\.const (\d+)\) "([^"\\]*)"\)/g, (_, at, text) => `(data (i32.const ${at}) "${le16(text)}")`);
}

async function buildComponent(encoding) {
  const api = await jco();
  const core = await api.parse(guestText(encoding));
  const embedded = await api.componentEmbed({ binary: core, witSource: bundleWit(), world: DEFAULT_WORLD, stringEncoding: encoding });
  return api.componentNew(embedded, []);
}

let fixtures;

/** Build the components and start the sandboxes (once per process). */
export function abiFixtures() {
  fixtures ??= (async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'agentos-fuzz-abi-data-'));
    process.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
    const components = { utf8: await buildComponent('utf8'), utf16: await buildComponent('utf16') };
    // Loaded once (validated and normalized), as a host loading many agents under one policy does.
    const { policy } = parsePolicyObject({
      version: 1,
      capabilities: { allowed: ['read_files', 'execute_tools', 'read_env', 'storage'] },
      mounts: [{ guest: '/data', host: dataDir, mode: 'ro' }],
      toolAccess: { allow: ['probe'] },
      env: { allow: [ENV_NAME] },
      resourceLimits: { maxMemory: '64MiB', maxFuel: 200_000_000, maxExecutionTime: '10s' },
    });
    const sandboxes = {};
    for (const engine of ENGINES) {
      const sandbox = createSandbox({ engine, cacheDir: CACHE, audit: false, monitor: false, threads: 1, prewarmWorkers: 0, hostEnv: { [ENV_NAME]: 'é😀 value' } });
      sandbox.registerTool('probe', (input) => ({ echoed: input }));
      sandbox.registerTool('other', () => 'never offered');
      const neighbours = {};
      for (const encoding of ['utf8', 'utf16']) neighbours[encoding] = await sandbox.load(components[encoding], { policy });
      sandboxes[engine] = { sandbox, neighbours };
    }
    return { components, policy, sandboxes };
  })();
  return fixtures;
}

/** Close the sandboxes. */
export async function closeAbiFixtures() {
  if (!fixtures) return;
  const f = await fixtures;
  fixtures = undefined;
  for (const { sandbox } of Object.values(f.sandboxes)) await sandbox.close();
}

/**
 * Run `task` on a fresh agent of `encoding` in `engine`'s sandbox, then a benign task on the
 * same agent (a fresh instance when the first one trapped) and on the neighbour. Returns the
 * first run's outcome (`{ output }` or `{ error }`) and the benign answers.
 */
export async function runHostile(engine, encoding, task) {
  const f = await abiFixtures();
  const { sandbox, neighbours } = f.sandboxes[engine];
  const agent = await sandbox.load(f.components[encoding], { policy: f.policy });
  try {
    let first;
    try {
      first = { output: (await agent.run(task)).output };
    } catch (e) {
      first = { error: e };
    }
    const after = await benign(agent);
    const neighbour = await benign(neighbours[encoding]);
    return { first, after, neighbour };
  } finally {
    await agent.close();
  }
}

let benignNo = 0;
async function benign(agent) {
  const task = `E${'0'.repeat(32)}benign ${benignNo++} é😀`;
  try {
    const { output } = await agent.run(task);
    return output === task ? undefined : `answered ${JSON.stringify(output.slice(0, 200))} to ${JSON.stringify(task)}`;
  } catch (e) {
    return `failed: ${e?.code} ${e instanceof Error ? e.message : String(e)}`;
  }
}
