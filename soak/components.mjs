/**
 * The components the soak's agents run: the test suite's own fixture agents
 * (`test/fixtures/agents/`), so that the soak replays exactly the probes the tests make.
 *
 * Where `npm test` has built them (`test/fixtures/build/`) those files are used as they are.
 * Otherwise: WAT fixtures are built with `buildAgent` (milliseconds), the C probe comes from the
 * committed prebuilt copy (`test/fixtures/prebuilt/`, no clang needed), and the JavaScript
 * network probe is built once (about 25 s) into `<cache>/soak/` keyed by its source's hash.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The fixture agents the probes use (see `probes.mjs`). */
export const COMPONENTS = ['echo', 'trap', 'hostile', 'bigmem', 'start-loop', 'realloc-loop', 'fsprobe', 'fetchprobe'];

/**
 * Paths of every component in {@link COMPONENTS} (`{ name: path }`), building what is missing.
 *
 * @param repo - the repository root.
 * @param cacheDir - where builds the suite did not make are kept between soaks.
 * @param log - progress lines (a build of the JavaScript probe takes a while).
 */
export async function resolveComponents(repo, cacheDir, log = () => {}) {
  const { buildAgent } = await import(join(repo, 'dist', 'index.js'));
  const built = join(repo, 'test', 'fixtures', 'build');
  const sources = join(repo, 'test', 'fixtures', 'agents');
  const out = {};
  for (const name of COMPONENTS) {
    const ready = join(built, `${name}.wasm`);
    if (existsSync(ready)) {
      out[name] = ready;
      continue;
    }
    if (name === 'fsprobe') {
      out[name] = join(repo, 'test', 'fixtures', 'prebuilt', 'fsprobe.wasm');
      continue;
    }
    const source = join(sources, name === 'fetchprobe' ? `${name}.js` : `${name}.wat`);
    const key = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
    const dir = join(cacheDir, 'soak');
    mkdirSync(dir, { recursive: true });
    const target = join(dir, `${name}-${key}.wasm`);
    if (!existsSync(target)) {
      log(`building ${name} from ${source}${name === 'fetchprobe' ? ' (about 25 s, once)' : ''}`);
      await buildAgent(source, target);
    }
    out[name] = target;
  }
  return out;
}
