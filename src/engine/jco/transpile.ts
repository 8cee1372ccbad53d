/**
 * The transpile cache: one `jco transpile --instantiation async` per component content hash,
 * kept on disk. A cache hit reads the recorded metadata and never transpiles again.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ComponentError } from '../../errors.js';
import type { ComponentSource } from '../component.js';

/** Bump when the transpile options, the patches of the output or the layout of a cache entry change. */
export const TRANSPILE_CACHE_VERSION = 2;

/**
 * jco's generated `_debugLog` reads `process.env.JCO_DEBUG` on every call, and its task
 * bookkeeping calls it a dozen times per export call: a third of an echo run. The patched
 * definition reads the variable once, when the module loads.
 */
const DEBUG_LOG_PER_CALL = `const _debugLog = (...args) => {
    if (!globalThis?.process?.env?.JCO_DEBUG) { return; }
    console.debug(...args);
  };`;
const DEBUG_LOG_ONCE = `const _debugLog = globalThis?.process?.env?.JCO_DEBUG ? (...args) => console.debug(...args) : () => {};`;

/** The generated module with the patches above (each applied only where jco's text matches). */
function patchGenerated(js: string): string {
  return js.replace(DEBUG_LOG_PER_CALL, DEBUG_LOG_ONCE);
}

/** A transpiled component on disk. */
export interface TranspiledComponent {
  readonly hash: string;
  readonly dir: string;
  readonly jsFile: string;
  readonly coreFiles: readonly string[];
  /** Interfaces the component imports, unversioned (`wasi:filesystem/types`). */
  readonly imports: readonly string[];
  /** Exported names and kinds. */
  readonly exports: readonly (readonly [string, 'function' | 'instance'])[];
  /** Whether this call transpiled (false on a cache hit). */
  readonly transpiled: boolean;
}

/** Default cache directory: `$XDG_CACHE_HOME/agent-os-sandbox` or `~/.cache/agent-os-sandbox`. */
export function defaultCacheDir(): string {
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'agent-os-sandbox');
}

interface Meta {
  version: number;
  hash: string;
  jsFile: string;
  coreFiles: string[];
  imports: string[];
  exports: [string, 'function' | 'instance'][];
}

/** Transpile (or find in the cache) a component. */
export async function transpileCached(source: ComponentSource, cacheDir: string): Promise<TranspiledComponent> {
  const dir = join(cacheDir, 'transpiled', `v${TRANSPILE_CACHE_VERSION}`, source.hash);
  try {
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
    if (meta.version === TRANSPILE_CACHE_VERSION && meta.hash === source.hash) {
      return { hash: source.hash, dir, jsFile: join(dir, meta.jsFile), coreFiles: meta.coreFiles, imports: meta.imports, exports: meta.exports, transpiled: false };
    }
  } catch {
    // not cached (or unreadable): transpile below
  }
  const { transpile } = await import('@bytecodealliance/jco');
  let out: Awaited<ReturnType<typeof transpile>>;
  try {
    out = await transpile(source.bytes, {
      name: 'agent',
      instantiation: 'async',
      noTypescript: true,
      quiet: true,
      nodejsCompat: false,
      wasiShim: false,
      base64Cutoff: 0,
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new ComponentError(`${source.origin}: not a valid component: ${msg.split('\n').slice(0, 6).join(' ')}`, { hash: source.hash });
  }
  const tmp = `${dir}.tmp-${randomUUID()}`;
  await mkdir(tmp, { recursive: true });
  const coreFiles: string[] = [];
  let jsFile = 'agent.js';
  for (const [name, data] of Object.entries(out.files)) {
    if (name.includes('/') || name.includes('..')) continue;
    if (name.endsWith('.wasm')) coreFiles.push(name);
    if (name.endsWith('.js')) jsFile = name;
    // The generated module is ESM; name it .mjs so Node never treats it as CommonJS.
    const body = name.endsWith('.js') ? patchGenerated(new TextDecoder().decode(data)) : data;
    await writeFile(join(tmp, name.endsWith('.js') ? name.replace(/\.js$/, '.mjs') : name), body);
  }
  jsFile = jsFile.replace(/\.js$/, '.mjs');
  const meta: Meta = {
    version: TRANSPILE_CACHE_VERSION,
    hash: source.hash,
    jsFile,
    coreFiles,
    imports: out.imports.map((i) => i.replace(/@[^/]*$/, '')),
    exports: out.exports,
  };
  await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta));
  try {
    await rename(tmp, dir);
  } catch {
    // Another process won the race; its entry is equivalent.
    await rm(tmp, { recursive: true, force: true });
  }
  return { hash: source.hash, dir, jsFile: join(dir, jsFile), coreFiles, imports: meta.imports, exports: meta.exports, transpiled: true };
}
